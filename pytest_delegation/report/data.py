"""The JSON report (SPEC "JSON report, version 1"), written atomically."""

from __future__ import annotations

from typing import Any

from pytest_delegation.plan.digest import plan_digest
from pytest_delegation.report.model import RunReport


def report_data(report: RunReport) -> dict[str, Any]:
    plan = report.plan
    tasks_plan = {}
    for task_id, task in plan.tasks.items():
        result = report.tasks.get(task_id)
        tasks_plan[task_id] = {
            "role": task.role,
            "description": task.description,
            "files": list(task.files),
            "depends_on": list(task.depends_on),
            "resources": list(task.resources),
            "wave": plan.wave_of(task_id),
            "tests": sorted(report.tests_of.get(task_id) or (result.tests if result else [])),
        }
    tasks = {}
    for task_id, result in report.tasks.items():
        entry: dict[str, Any] = {
            "status": result.status,
            "attempts": result.attempts,
            "duration": round(result.duration, 3),
            "tests": dict(result.tests),
            "executed_files": list(result.executed_files),
        }
        if result.blocked_by:
            entry["blocked_by"] = result.blocked_by
        if result.error:
            entry["error"] = result.error
        if result.branch is not None:
            entry["branch"] = result.branch.to_json()
        if result.action is not None:
            entry.update(result.action.to_json())
        tasks[task_id] = entry
    data: dict[str, Any] = {
        "version": 1,
        "job": report.job,
        "plan": {
            "path": report.plan_path,
            "digest": plan_digest(plan),
            "max_parallel": plan.max_parallel,
            "shared": list(plan.shared),
            "waves": [list(wave) for wave in plan.waves],
            "tasks": tasks_plan,
        },
        "tasks": tasks,
        "untagged": dict(report.untagged),
        "findings": [finding.to_json() for finding in report.findings],
        "notes": list(report.notes),
        "timeline": list(report.timeline),
        "summary": {**report.summary(), "verdict": report.verdict},
    }
    return data
