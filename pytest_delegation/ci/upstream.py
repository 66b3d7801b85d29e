"""A job's dependencies, as the reports of earlier jobs say they ended (``--delegation-upstream``).

The CI system downloads the earlier jobs' JSON reports into a folder; a task whose
dependency failed there is blocked here, as on one machine. A dependency in no report is
an error, not a guess: it names the task, the folder, and what it found there.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_delegation.ci.reports import WRITTEN_WITH
from pytest_delegation.ci.reports import ReportError
from pytest_delegation.ci.reports import digest_of
from pytest_delegation.ci.reports import job_name
from pytest_delegation.ci.reports import ran_by
from pytest_delegation.ci.reports import read_reports


#: files and tasks an error lists before it counts the rest
SHOWN_FILES = 8
SHOWN_TASKS = 4


@dataclass(frozen=True)
class Upstream:
    """How a task ended in the job that ran it.

    `blocked_by` is the failed task that blocked it, when it was blocked; `job` the job
    that ran it and `path` the report that says so.
    """

    task: str
    status: str
    blocked_by: str | None
    job: str | None
    path: Path


def read_upstream(folder: Path, digest: str, needed: Collection[str]) -> dict[str, Upstream]:
    """Each needed task's result in the reports under `folder`, of the plan `digest`."""
    if not folder.exists():
        raise ReportError(
            f"the upstream folder {folder} does not exist: download the reports of the jobs "
            "this job needs there before pytest runs (each earlier job's <job>.json)"
        )
    if not folder.is_dir():
        raise ReportError(
            f"the upstream folder {folder} is a file; name the folder the earlier jobs' "
            "reports were downloaded to"
        )
    found = read_reports([folder], slim=True)
    for path, data in found.reports:
        theirs = digest_of(data)
        if theirs != digest:
            raise ReportError(
                f"{path} was written for another plan (digest {theirs}, this run's plan is "
                f"{digest}): its job ran another delegation.yaml; re-run that job or remove "
                "the file"
            )
    datas = [data for _, data in found.reports]
    chosen = ran_by(datas)
    missing = sorted(task for task in needed if task not in chosen)
    if missing:
        raise ReportError(_missing(folder, missing, found.reports, len(found.skipped)))
    result = {}
    for task in needed:
        path, data = found.reports[chosen[task]]
        entry = data["tasks"][task]
        blocked_by = entry.get("blocked_by")
        result[task] = Upstream(
            task=task,
            status=entry["status"],
            blocked_by=blocked_by if isinstance(blocked_by, str) else None,
            job=job_name(path, data),
            path=path,
        )
    return result


def _missing(
    folder: Path, tasks: Sequence[str], reports: Sequence[tuple[Path, Any]], skipped: int
) -> str:
    names = ", ".join(f"'{t}'" for t in tasks)
    if len(tasks) == 1:
        head = f"no report in {folder} ran task {names}"
        expected = f"the JSON report of the job that ran task {names} ({WRITTEN_WITH})"
    else:
        head = f"no report in {folder} ran tasks {names}"
        expected = f"the JSON reports of the jobs that ran them ({WRITTEN_WITH})"
    if reports:
        listed = [
            f"{_relative(path, folder)} ({_tasks(data['tasks'])})"
            for path, data in reports[:SHOWN_FILES]
        ]
        if len(reports) > SHOWN_FILES:
            listed.append(f"and {len(reports) - SHOWN_FILES} more")
        seen = f"found {', '.join(listed)}"
    else:
        seen = "found no report there"
    if skipped:
        seen += f" ({skipped} other JSON file{'s' * (skipped != 1)} skipped: not reports)"
    return (
        f"{head}: expected {expected}; {seen}. Download that job's report there (does "
        "this job need it?), or re-run the job if it wrote none"
    )


def _tasks(tasks: Any) -> str:
    ids = list(tasks)
    if not ids:
        return "no task"
    shown = ", ".join(ids[:SHOWN_TASKS])
    if len(ids) > SHOWN_TASKS:
        shown += f" and {len(ids) - SHOWN_TASKS} more"
    return f"task{'s' * (len(ids) != 1)} {shown}"


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)
