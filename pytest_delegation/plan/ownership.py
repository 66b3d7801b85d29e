"""Who owns a path: the tasks whose ``files:`` match it, or the plan's ``shared:``."""

from __future__ import annotations

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import relative_to


class Owners:
    """Which tasks own a file, and whether the plan shares it."""

    def __init__(self, plan: Plan, plan_dir: str) -> None:
        self.plan = plan
        self.plan_dir = plan_dir
        self.shared = PatternSet(plan.shared)
        self.sets = {task_id: PatternSet(task.files) for task_id, task in plan.tasks.items()}

    def of(self, path: str) -> tuple[bool, list[str]] | None:
        """(shared?, owners) for a rootdir-relative path, None outside the plan's folder."""
        rel = relative_to(path, self.plan_dir)
        if rel is None:
            return None
        if self.shared.matches(rel):
            return True, []
        return False, [t for t, patterns in self.sets.items() if patterns.matches(rel)]
