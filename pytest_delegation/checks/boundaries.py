"""File boundaries at run time: the project files a task's tests executed, against the plan.

Pure: the workers measure (see ``worker.tracker.Tracker``); this module decides what is a
`boundary-violation` (another task's file, not a dependency's, not shared) and what is an
`unowned-file` (a project file no task owns and the plan does not share).
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.ownership import Owners


@dataclass(frozen=True)
class Execution:
    """The first time a task's tests ran code in a file.

    `function` is the first function run there, `line` that function's first line and
    `test` the nodeid of the test that ran it.
    """

    function: str
    line: int
    test: str


def project_files(
    executed: Mapping[str, Execution], test_files: Collection[str]
) -> dict[str, Execution]:
    """Drop test modules and conftests: they are how a task is verified, not its code."""
    return {
        path: where
        for path, where in executed.items()
        if path not in test_files
        and path.rsplit("/", 1)[-1] != "conftest.py"
        and not _in_environment(path)
    }


def _in_environment(path: str) -> bool:
    """Whether a path lies in a virtual environment or installed packages."""
    parts = path.split("/")
    return any(p in (".venv", "venv", ".tox", ".nox", "site-packages") for p in parts)


def boundary_findings(
    plan: Plan,
    plan_dir: str,
    executed: Mapping[str, Mapping[str, Execution]],
    *,
    unowned: bool = True,
) -> list[Finding]:
    """Findings for every task's executed project files (task -> file -> first execution).

    `unowned=False` leaves out `unowned-file`: for a plan inferred from the tests
    (``--delegation-plan=auto``), which owns no file, it would list every source file the
    suite runs and ask to add it to a plan that does not exist.
    """
    owners = Owners(plan, plan_dir)
    findings: list[Finding] = []
    # file -> the first task (and execution) that ran it: one finding per unowned file
    unowned_files: dict[str, tuple[str, Execution]] = {}
    for task_id in sorted(executed):
        allowed = {task_id} | transitive_dependencies(plan.tasks, task_id)
        for path, where in sorted(executed[task_id].items()):
            owned = owners.of(path)
            if owned is None:
                continue
            shared, tasks = owned
            if shared or allowed.intersection(tasks):
                continue
            if not tasks:
                if unowned:
                    unowned_files.setdefault(path, (task_id, where))
                continue
            owner = tasks[0]
            deps = list(plan.tasks[task_id].depends_on)
            findings.append(
                Finding(
                    "boundary-violation",
                    f"{where.test} (task '{task_id}') ran {where.function}() in {path}:"
                    f"{where.line}, owned by '{owner}' (wave {plan.wave_of(owner)}); "
                    f"'{task_id}' depends on: {', '.join(deps) or 'nothing'}",
                    fix=f"declare the dependency (depends_on: [{owner}]) or move that code "
                    "into the plan's shared: files",
                    task=task_id,
                    other_task=owner,
                    test=where.test,
                    file=path,
                    line=where.line,
                    extra={
                        "via": "run",
                        "function": where.function,
                        "owner_wave": plan.wave_of(owner),
                        "declared_dependencies": deps,
                    },
                )
            )
    for path, (task_id, where) in sorted(unowned_files.items()):
        findings.append(
            Finding(
                "unowned-file",
                f"{where.test} (task '{task_id}') ran {where.function}() in {path}:{where.line}, "
                "a project file no task owns and the plan does not share",
                fix="add it to the files: of the task that writes it, or to shared:",
                task=task_id,
                test=where.test,
                file=path,
                line=where.line,
                extra={"function": where.function},
            )
        )
    return findings
