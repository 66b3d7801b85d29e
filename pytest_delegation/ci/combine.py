"""One run report from the reports of many CI jobs, as one machine would have written it.

Every task comes from the report that ran it (``reports.ran_by``), findings from all of
them once each, the timeline with a lane per job on one clock, and the verdict from the
merged tasks and the jobs' verdicts. The result is a JSON report (version 1) that the
Markdown, HTML and terminal renderers take as they take a local run's.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from pytest_delegation.ci.reports import ReportError
from pytest_delegation.ci.reports import digest_of
from pytest_delegation.ci.reports import job_name
from pytest_delegation.ci.reports import ran_by
from pytest_delegation.report.names import plural


#: statuses that fail a run
FAILING = frozenset({"failed", "blocked", "error"})
#: rules recomputed across the whole run, not merely deduplicated
BOUNDARY_RULES = frozenset({"boundary-violation", "unowned-file"})
#: what makes two findings the same one: where they apply, and the keys of the rules
#: that tell two findings of one place apart (a wave, a resource, a commit)
FINDING_KEY = (
    "rule", "task", "other_task", "test", "file", "kind", "culprit_test",
    "wave", "resource", "commit",
)  # fmt: skip
#: tasks in no report named one by one in the notes; beyond, they are counted
SHOWN_MISSING = 5
ORDER_JOB = "order-check"


@dataclass
class Combined:
    """The merged report's data, combine's own notes, and what failed the run because
    a task was in no report (both are in ``data["notes"]`` too)."""

    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: the jobs whose reports were merged (a job's name counts once)
    jobs: int = 0


def combine(reports: Sequence[tuple[Path, dict[str, Any]]], *, skipped: int = 0) -> Combined:
    """Merge job reports (path, data) of one plan; ReportError when they are of two plans.

    `skipped` counts the JSON files the caller passed over (not reports), for the notes.
    Of every report's plan section, only the first is read whole: the others give their
    digest and their tasks' tests (see ``reports.slim_plan``).
    """
    if not reports:
        raise ReportError("there is no report to combine")
    first_path, first = reports[0]
    digest = digest_of(first)
    for path, data in reports[1:]:
        theirs = digest_of(data)
        if theirs != digest:
            raise ReportError(
                f"refused: {path} checked another plan than {first_path} (digest {theirs}, "
                f"not {digest}); combine the reports of one workflow run, or re-run the job "
                "that ran another delegation.yaml"
            )
    datas = [data for _, data in reports]
    jobs = [job_name(path, data) for path, data in reports]
    plan = _plan(datas, digest)
    chosen = ran_by(datas)
    tasks: dict[str, Any] = {}
    missing = []
    for task_id in plan["tasks"]:
        index = chosen.get(task_id)
        if index is None:
            if plan["tasks"][task_id]["tests"]:
                # a task without tests runs in no job, as it runs nowhere on one machine
                missing.append(task_id)
            tasks[task_id] = {
                "status": "not-run", "attempts": 0, "duration": 0.0, "tests": {},
                "executed_files": [],
            }  # fmt: skip
        else:
            tasks[task_id] = datas[index]["tasks"][task_id]
    findings = _findings(datas, chosen)
    starts = [_started_at(data) for data in datas]
    known = [start for start in starts if start is not None]
    origin = min(known) if known else 0.0
    offsets = [start - origin if start is not None else 0.0 for start in starts]
    problems = _missing_notes(missing)
    own = [f"combined {plural(len(datas), 'report')} from {plural(len(set(jobs)), 'job')}"]
    if skipped:
        what = "is not a delegation report" if skipped == 1 else "are not delegation reports"
        own.append(f"skipped {plural(skipped, 'JSON file')} that {what}")
    notes = _unique(note for data in datas for note in data.get("notes") or ())
    notes += [note for note in own + problems if note not in notes]
    summary = _summary(plan, tasks, findings, datas, offsets, origin, failed=bool(missing))
    merged: dict[str, Any] = {
        "version": 1,
        "job": None,
        "plan": plan,
        "tasks": tasks,
        "untagged": _untagged(datas),
        "findings": findings,
        "notes": notes,
        "timeline": _timeline(datas, jobs, offsets),
        "summary": summary,
    }
    return Combined(data=merged, notes=own, problems=problems, jobs=len(set(jobs)))


def durations(data: Mapping[str, Any]) -> dict[str, float]:
    """Each task that ran to a verdict -> its duration, for the next run's packing.

    The same tasks the plugin remembers after a local run (``run.workers``).
    """
    return {
        task_id: round(float(entry.get("duration") or 0.0), 3)
        for task_id, entry in data["tasks"].items()
        if entry.get("attempts") and entry["status"] in ("passed", "flaky", "failed")
    }


def _plan(datas: Sequence[Mapping[str, Any]], digest: str) -> dict[str, Any]:
    """The first report's plan section; each task's tests, those of every report."""
    section = dict(datas[0]["plan"])
    section["digest"] = digest
    tests: dict[str, set[str]] = {}
    for data in datas:
        for task_id, entry in data["plan"]["tasks"].items():
            listed = entry.get("tests") if isinstance(entry, dict) else None
            if listed:
                tests.setdefault(task_id, set()).update(listed)
    section["tasks"] = {
        task_id: {**entry, "tests": sorted(tests.get(task_id, ()))}
        for task_id, entry in section["tasks"].items()
    }
    return section


def _findings(datas: Sequence[Mapping[str, Any]], chosen: Mapping[str, int]) -> list[Any]:
    """Every finding once; the boundary ones as a check of the whole run would give them.

    A boundary violation is one per (task, file), from the report believed for the task
    when it has one; an unowned file is one per file, found by the task that sorts first
    (as ``checks.boundaries`` words it on one machine). Both follow the other findings,
    as in a local run.
    """
    seen: set[tuple[Any, ...]] = set()
    plain: list[Any] = []
    violations: dict[tuple[str, str], tuple[bool, Any]] = {}
    unowned: dict[str, Any] = {}
    for index, data in enumerate(datas):
        for finding in data.get("findings") or ():
            rule = finding.get("rule")
            if rule == "boundary-violation":
                task, file = str(finding.get("task")), str(finding.get("file"))
                believed = chosen.get(task) == index
                if (task, file) not in violations or (believed and not violations[task, file][0]):
                    violations[task, file] = (believed, finding)
            elif rule == "unowned-file":
                file = str(finding.get("file"))
                current = unowned.get(file)
                if current is None or str(finding.get("task")) < str(current.get("task")):
                    unowned[file] = finding
            else:
                key = tuple(_hashable(finding.get(k)) for k in FINDING_KEY)
                if key not in seen:
                    seen.add(key)
                    plain.append(finding)
    plain += [violations[key][1] for key in sorted(violations)]
    plain += [unowned[file] for file in sorted(unowned)]
    return plain


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _untagged(datas: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Untagged tests of every report; an outcome beats a ``not-run``."""
    merged: dict[str, str] = {}
    for data in datas:
        for test, outcome in (data.get("untagged") or {}).items():
            if merged.get(test, "not-run") == "not-run":
                merged[test] = outcome
    return merged


def _timeline(
    datas: Sequence[Mapping[str, Any]], jobs: Sequence[str], offsets: Sequence[float]
) -> list[Any]:
    """One lane per job, every row on the clock of the earliest job's start."""
    rows = []
    for data, job, offset in zip(datas, jobs, offsets, strict=True):
        for row in data.get("timeline") or ():
            shifted = dict(row)
            shifted["job"] = job
            shifted["start"] = round(row["start"] + offset, 3)
            shifted["end"] = round(row["end"] + offset, 3)
            rows.append(shifted)
    rows.sort(key=lambda row: row["start"])
    return rows


def _started_at(data: Mapping[str, Any]) -> float | None:
    value = (data.get("summary") or {}).get("started_at")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _summary(
    plan: Mapping[str, Any],
    tasks: Mapping[str, Any],
    findings: Sequence[Mapping[str, Any]],
    datas: Sequence[Mapping[str, Any]],
    offsets: Sequence[float],
    origin: float,
    *,
    failed: bool,
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for entry in tasks.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    summaries = [data.get("summary") or {} for data in datas]
    end = max(
        (
            offset + float(s.get("duration") or 0.0)
            for offset, s in zip(offsets, summaries, strict=True)
        ),
        default=0.0,
    )
    verdicts = [_verdict(data, s) for data, s in zip(datas, summaries, strict=True)]
    if "interrupted" in verdicts:
        verdict = "interrupted"
    elif failed or "failed" in verdicts or any(counts.get(s) for s in FAILING):
        verdict = "failed"
    else:
        verdict = "ok"
    # after a branch run, the tasks to accept and to retry, in plan order
    acted = [task for task in plan["tasks"] if (tasks.get(task) or {}).get("action")]
    actions = {
        word: [task for task in acted if tasks[task]["action"] == word]
        for word in ("accept", "retry")
    }
    return {
        "tasks": len(tasks),
        "waves": len(plan["waves"]),
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0),
        "blocked": counts.get("blocked", 0),
        "flaky": counts.get("flaky", 0),
        "errors": sum(1 for f in findings if f.get("severity") == "error"),
        "warnings": sum(1 for f in findings if f.get("severity") == "warning"),
        "duration": round(end, 3),
        "seed": _seed(datas),
        "started_at": round(origin, 3),
        **(actions if acted else {}),
        "verdict": verdict,
    }


def _verdict(data: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """A job's verdict; for a report written without one, what its findings and tasks say.

    A job's verdict already applied its ``--delegation-fail-on``: a warning that failed
    it fails the combined run, an error finding under ``never`` does not.
    """
    verdict = summary.get("verdict")
    if isinstance(verdict, str):
        return verdict
    bad = any(f.get("severity") == "error" for f in data.get("findings") or ())
    bad = bad or any(entry["status"] in FAILING for entry in data["tasks"].values())
    return "failed" if bad else "ok"


def _seed(datas: Sequence[Mapping[str, Any]]) -> int | None:
    """The order check's seed: the order-check job's, else the first a report has."""
    seeds = [
        (data.get("job") != ORDER_JOB, index, seed)
        for index, data in enumerate(datas)
        if isinstance(seed := (data.get("summary") or {}).get("seed"), int)
    ]
    return min(seeds)[2] if seeds else None


def _missing_notes(missing: Sequence[str]) -> list[str]:
    notes = [
        f"task '{task}' is in no report: its job did not run or its report was not downloaded"
        for task in missing[:SHOWN_MISSING]
    ]
    if len(missing) > SHOWN_MISSING:
        notes.append(
            f"{len(missing) - SHOWN_MISSING} more tasks are in no report: their jobs did not "
            "run or their reports were not downloaded"
        )
    return notes


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
