"""A JSON report back into a RunReport, for the renderers that take one (the terminal's).

The inverse of ``report.data.report_data`` for what the report holds: the plan (frozen,
with the waves as written, not recomputed), each task's result (with its branch and
action after a branch run), the findings, notes, timeline and summary. A rule this
version does not know keeps its severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_delegation.checks.findings import RULES
from pytest_delegation.checks.findings import WARNING
from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.report.model import BranchInfo
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.model import TaskResult
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status


#: the keys `Finding` has fields for; every other key of a finding is its `extra`
FINDING_FIELDS = frozenset(
    {"rule", "severity", "message", "fix", "task", "other_task", "test", "file", "line"}
)
ORDER_RULES = frozenset({"hidden-ordering-dependency", "wave-order-dependency"})
BOUNDARY_RULES = frozenset({"boundary-violation", "unowned-file"})


def report_from_data(
    data: Mapping[str, Any], mode: str = "combined", checks: tuple[str, ...] | None = None
) -> RunReport:
    """The RunReport a JSON report stands for; `checks` None: the checks its data shows."""
    summary = data.get("summary") or {}
    tasks = {task_id: _result(entry) for task_id, entry in data["tasks"].items()}
    findings = [_finding(entry) for entry in data.get("findings") or ()]
    verdict = summary.get("verdict")
    seed = summary.get("seed")
    return RunReport(
        plan=plan_from_section(data["plan"]),
        plan_path=str(data["plan"].get("path", "")),
        tasks=tasks,
        findings=findings,
        untagged=dict(data.get("untagged") or {}),
        duration=float(summary.get("duration") or 0.0),
        seed=seed if isinstance(seed, int) else None,
        mode=mode,
        checks=checks if checks is not None else seen_checks(data),
        notes=list(data.get("notes") or ()),
        timeline=list(data.get("timeline") or ()),
        failed=verdict == "failed",
        interrupted=verdict == "interrupted",
        job=data.get("job"),
        started_at=float(summary.get("started_at") or 0.0),
    )


def plan_from_section(section: Mapping[str, Any]) -> Plan:
    """A frozen plan from a report's ``plan`` section, its waves as the section has them.

    Built from `Task`s directly, as a hook's plan is: the report was written from a plan
    that passed validation, so what it holds needs none (and an id a hook gave, outside
    the YAML's rules, still reads).
    """
    plan = Plan(
        path=Path(str(section.get("path", "delegation.yaml"))),
        max_parallel=int(section.get("max_parallel") or 1),
        shared=tuple(section.get("shared") or ()),
    )
    for task_id, entry in section["tasks"].items():
        plan.add_task(
            Task(
                id=task_id,
                role=entry.get("role") or "",
                description=entry.get("description") or "",
                files=tuple(entry.get("files") or ()),
                depends_on=tuple(entry.get("depends_on") or ()),
                resources=tuple(entry.get("resources") or ()),
            )
        )
    plan.freeze(tuple(tuple(wave) for wave in section.get("waves") or ()))
    return plan


def seen_checks(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The checks whose traces the report holds: runs of tasks, executed files, orders."""
    tasks = data["tasks"].values()
    rules = {f.get("rule") for f in data.get("findings") or ()}
    seen = []
    if any(entry.get("attempts") for entry in tasks):
        seen.append("isolation")
    timeline = data.get("timeline") or ()
    if (
        (data.get("summary") or {}).get("seed") is not None
        or rules & ORDER_RULES
        or any(row.get("kind") == "order" for row in timeline)
    ):
        seen.append("order")
    if rules & BOUNDARY_RULES or any(entry.get("executed_files") for entry in tasks):
        seen.append("boundaries")
    return tuple(seen)


def _result(entry: Mapping[str, Any]) -> TaskResult:
    tests = {test: Outcome(outcome) for test, outcome in (entry.get("tests") or {}).items()}
    return TaskResult(
        status=Status(entry["status"]),
        collected=len(tests),
        attempts=int(entry.get("attempts") or 0),
        duration=float(entry.get("duration") or 0.0),
        tests=tests,
        executed_files=list(entry.get("executed_files") or ()),
        blocked_by=entry.get("blocked_by"),
        error=entry.get("error"),
        branch=BranchInfo.from_json(entry["branch"]) if entry.get("branch") else None,
        action=TaskAction.from_json(entry) if entry.get("action") else None,
    )


def _finding(entry: Mapping[str, Any]) -> Finding:
    rule = str(entry.get("rule"))
    severity = entry.get("severity") or RULES.get(rule, WARNING)
    line = entry.get("line")
    return Finding(
        rule=rule,
        message=str(entry.get("message", "")),
        fix=str(entry.get("fix") or ""),
        severity=str(severity),
        task=entry.get("task"),
        other_task=entry.get("other_task"),
        test=entry.get("test"),
        file=entry.get("file"),
        line=line if isinstance(line, int) else None,
        extra={key: value for key, value in entry.items() if key not in FINDING_FIELDS},
    )
