"""Outcomes of tests and tasks, and the report of a whole run; independent of output formats."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pytest_delegation.checks.findings import ERROR
from pytest_delegation.checks.findings import WARNING
from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import Plan


@dataclass
class TaskResult:
    status: str = "not-run"
    collected: int = 0  # tests of the task this run selected
    attempts: int = 0
    duration: float = 0.0
    tests: dict[str, str] = field(default_factory=dict)
    executed_files: list[str] = field(default_factory=list)
    blocked_by: str | None = None
    error: str | None = None  # how its worker crashed or timed out

    def count(self, *outcomes: str) -> int:
        return sum(1 for outcome in self.tests.values() if outcome in outcomes)


@dataclass
class RunReport:
    """Everything a run found; every output format renders this one object."""

    plan: Plan
    plan_path: str  # relative to rootdir, POSIX
    tasks: dict[str, TaskResult]
    findings: list[Finding]
    untagged: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0
    seed: int | None = None
    mode: str = "in-process"
    checks: tuple[str, ...] = ()
    skipped_checks: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)  # what the run could not do, and why
    # every worker run: {"kind": "task"|"order", "start", "end" (seconds from the start)...}
    timeline: list[dict[str, object]] = field(default_factory=list)
    collect_only: bool = False
    failed: bool = False  # the session fails because of the plugin's verdict

    def count_status(self, status: str) -> int:
        return sum(1 for result in self.tasks.values() if result.status == status)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    def summary(self) -> dict[str, Any]:
        return {
            "tasks": len(self.tasks),
            "waves": len(self.plan.waves),
            "passed": self.count_status("passed"),
            "failed": self.count_status("failed"),
            "blocked": self.count_status("blocked"),
            "flaky": self.count_status("flaky"),
            "errors": self.errors,
            "warnings": self.warnings,
            "duration": round(self.duration, 3),
            "seed": self.seed,
        }
