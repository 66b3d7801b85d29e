"""The JSON reports CI jobs leave: finding them, reading them, and which one ran a task.

A job run with ``--delegation-task`` lists under ``tasks`` only the tasks it ran; the
``plan`` section (with its digest) is in every report. `ran_by` is the one rule both
``combine`` and ``--delegation-upstream`` use to pick, of several reports of one task,
the one to believe.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import json
from pathlib import Path
from typing import Any

from pytest_delegation.plan.digest import digest_of_section


#: keys every delegation report has; a JSON file without them is something else
REPORT_KEYS = ("version", "plan", "tasks")
VERSION = 1
#: worst first: of two reports of a task that ran it alike, the worse status is believed
STATUS_ORDER = ("error", "failed", "blocked", "flaky", "passed", "skipped", "not-run")
_RANK = {status: rank for rank, status in enumerate(STATUS_ORDER)}
#: what a job writes, for messages that say which file is expected
WRITTEN_WITH = "written with --delegation-report=json:..."


class ReportError(Exception):
    """A report that cannot be used; the message names the file and what to do."""


class NotAReport(ReportError):
    """A JSON file that is no delegation report: skipped when found in a folder."""


@dataclass
class Found:
    """The reports read (in path order) and the JSON files that were not reports."""

    reports: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def find_reports(paths: Sequence[Path]) -> list[Path]:
    """Each path a JSON file, or a folder searched for ``*.json`` (sorted), in order given."""
    found: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.json") if p.is_file())
        elif path.exists():
            files = [path]
        else:
            raise ReportError(
                f"{path} does not exist; name the folder the jobs' reports were downloaded "
                "to, or report files"
            )
        for file in files:
            if file not in seen:
                seen.add(file)
                found.append(file)
    return found


def read_reports(
    paths: Sequence[Path], *, slim: bool = False, exclude: Collection[Path] = ()
) -> Found:
    """Every report under `paths`; a file named itself must be a report, one in a folder not.

    `slim` keeps, of each report's plan section but the first, only what is compared or
    merged across reports (its digest and the tasks' tests): a thousand jobs' reports each
    repeat the whole plan, and holding them all would take a gigabyte. `exclude` are
    files not to read (resolved paths), like the report a combine is about to write.
    """
    named = {path for path in paths if not path.is_dir()}
    found = Found()
    for path in find_reports(paths):
        if exclude and path.resolve() in exclude:
            continue
        try:
            data = load_report(path)
        except NotAReport:
            if path in named:
                raise
            found.skipped.append(path)
            continue
        if slim and found.reports:
            data["plan"] = slim_plan(data["plan"])
        found.reports.append((path, data))
    return found


def load_report(path: Path) -> dict[str, Any]:
    """A report's data, its ``plan.digest`` computed when it was written without one."""
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); the file is cut short or is no "
            "report: download it again, or remove it"
        ) from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not UTF-8 text, so no JSON report; remove it") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict) or not all(key in data for key in REPORT_KEYS):
        raise NotAReport(
            f"{path} is not a delegation report (it has no 'version', 'plan' and 'tasks'); "
            f"name the JSON report a job wrote ({WRITTEN_WITH})"
        )
    if data["version"] != VERSION:
        raise ReportError(
            f"{path} is a version {data['version']!r} report, written by another version of "
            f"pytest-delegation; this one reads version {VERSION}: install the version the "
            "jobs ran where the reports are read"
        )
    plan, tasks = data["plan"], data["tasks"]
    if not isinstance(plan, dict) or not isinstance(plan.get("tasks"), dict):
        raise ReportError(f"{path}: its 'plan' has no 'tasks' mapping; the file was altered")
    if not isinstance(tasks, dict) or not all(
        isinstance(entry, dict) and entry.get("status") in _RANK for entry in tasks.values()
    ):
        raise ReportError(
            f"{path}: a task in its 'tasks' has no status this version knows "
            f"({', '.join(STATUS_ORDER)}); the file was altered, or another version wrote it"
        )
    if not isinstance(plan.get("digest"), str):
        # written before reports carried the digest: fingerprint what the section holds
        plan["digest"] = digest_of_section(plan)
    return data


def digest_of(data: Mapping[str, Any]) -> str:
    """The digest of the plan a report was written for."""
    plan = data["plan"]
    digest = plan.get("digest")
    return digest if isinstance(digest, str) else digest_of_section(plan)


def slim_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A plan section's digest and the tests of its tasks that list some."""
    return {
        "digest": plan["digest"],
        "tasks": {
            task_id: {"tests": entry["tests"]}
            for task_id, entry in plan["tasks"].items()
            if isinstance(entry, dict) and entry.get("tests")
        },
    }


def job_name(path: Path, data: Mapping[str, Any]) -> str:
    """The CI job that wrote a report: its ``job``, or the file's name without ``.json``."""
    job = data.get("job")
    return job if isinstance(job, str) and job else path.stem


def ran_by(reports: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each task some report lists -> the index of the report to believe for it.

    First a report that ran it (status not ``not-run``), then the one listing fewer
    tasks (the job made for that task, not a run of the whole suite), then the worse
    status (a retried job that failed again is not hidden by an earlier pass), then the
    first in path order.
    """
    best: dict[str, tuple[tuple[bool, int, int], int]] = {}
    for index, data in enumerate(reports):
        tasks = data["tasks"]
        listed = len(tasks)
        for task_id, entry in tasks.items():
            status = entry["status"]
            key = (status == "not-run", listed, _RANK.get(status, len(_RANK)))
            current = best.get(task_id)
            if current is None or key < current[0]:
                best[task_id] = (key, index)
    return {task_id: index for task_id, (_, index) in best.items()}
