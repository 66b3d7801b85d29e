"""What a CI job's tasks need from the jobs before it: the statuses of their dependencies.

Pure glue between the plan and `ci.upstream`: which dependencies another job ran (a
dependency without tests ran nowhere, so its own dependencies stand in for it), and
which of them block this job's tasks.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from pathlib import Path

from pytest_delegation.ci.upstream import Upstream
from pytest_delegation.ci.upstream import read_upstream
from pytest_delegation.plan.digest import plan_digest
from pytest_delegation.plan.model import Plan


#: statuses of a dependency that block the tasks that need it (as on one machine)
BLOCKS = ("failed", "blocked", "error")


def needed(plan: Plan, selected: Collection[str], with_tests: Collection[str]) -> list[str]:
    """The dependencies outside `selected` whose reports the selected tasks need."""
    found: list[str] = []
    seen: set[str] = set()
    todo = [dep for task in selected for dep in plan.tasks[task].depends_on]
    while todo:
        dep = todo.pop(0)
        if dep in seen or dep in selected:
            continue
        seen.add(dep)
        if dep in with_tests:
            found.append(dep)
        else:
            todo.extend(plan.tasks[dep].depends_on)
    return sorted(found)


def blocking(statuses: Mapping[str, Upstream]) -> dict[str, str]:
    """Dependency -> the task that failed first, for every dependency that did not pass."""
    return {
        task: upstream.blocked_by or task
        for task, upstream in statuses.items()
        if upstream.status in BLOCKS
    }


def upstream_blocks(
    plan: Plan, selected: Collection[str], with_tests: Collection[str], folder: Path
) -> dict[str, str]:
    """Read the upstream reports (`ci.upstream.ReportError` on bad or missing ones)."""
    wanted = needed(plan, selected, with_tests)
    if not wanted:
        return {}
    return blocking(read_upstream(folder, plan_digest(plan), wanted))
