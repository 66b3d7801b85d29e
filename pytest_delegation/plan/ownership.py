"""Who owns a path: the tasks whose ``files:`` match it, or the plan's ``shared:``.

One answer for every check (run-time boundaries, imports, the diff, file conflicts), so
that they cannot disagree. Paths are POSIX; `of` and `relative` take them relative to
rootdir, everything else relative to the plan's folder (as the plan's patterns are).
Matching goes through a `PatternIndex`, which asks only the tasks whose patterns can
reach a path, and each path's owners are worked out once.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.patterns import PatternIndex
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import relative_to


class Owners:
    """Which tasks own a file, and whether the plan shares it.

    Build one per check from a frozen plan: answers are remembered per path.
    """

    #: The plan whose ``files:`` and ``shared:`` decide.
    plan: Plan
    #: The plan's folder relative to rootdir, as ``collect.mapping.plan_folder`` gives it:
    #: '' when it is rootdir; a value starting with NUL (outside rootdir) holds no path.
    plan_dir: str
    #: The plan's ``shared:`` patterns.
    shared: PatternSet
    #: Each task's ``files:`` patterns, by task id, in plan order.
    sets: dict[str, PatternSet]

    def __init__(self, plan: Plan, plan_dir: str = "") -> None:
        self.plan = plan
        self.plan_dir = plan_dir
        self.shared = PatternSet(plan.shared)
        self.sets = {task_id: PatternSet(task.files) for task_id, task in plan.tasks.items()}
        # plan-relative path -> (shared?, the tasks whose files: hold it)
        self._answers: dict[str, tuple[bool, tuple[str, ...]]] = {}

    @cached_property
    def index(self) -> PatternIndex[str]:
        """Every task's set, indexed by reach, in plan order."""
        return PatternIndex(self.sets.items())

    def among(self, task_ids: Iterable[str]) -> PatternIndex[str]:
        """An index of some tasks' sets (a wave's, say), in the order given."""
        return PatternIndex((task_id, self.sets[task_id]) for task_id in task_ids)

    def relative(self, path: str) -> str | None:
        """A rootdir-relative path relative to the plan's folder; None outside it."""
        return relative_to(path, self.plan_dir)

    def owns(self, task_id: str, rel: str) -> bool:
        """Whether a task's ``files:`` hold a plan-relative path."""
        return self.sets[task_id].matches(rel)

    def _answer(self, rel: str) -> tuple[bool, tuple[str, ...]]:
        found = self._answers.get(rel)
        if found is None:
            found = (self.shared.matches(rel), tuple(self.index.matching(rel)))
            self._answers[rel] = found
        return found

    def shares(self, rel: str) -> bool:
        """Whether the plan's ``shared:`` holds a plan-relative path."""
        return self._answer(rel)[0]

    def tasks(self, rel: str) -> tuple[str, ...]:
        """The tasks whose ``files:`` hold a plan-relative path, in plan order.

        Shared or not: a shared file a task also claims is still that task's code.
        """
        return self._answer(rel)[1]

    def owning(self, rel: str) -> tuple[str, ...]:
        """The tasks owning a plan-relative path, in plan order; () when it is shared."""
        shared, tasks = self._answer(rel)
        return () if shared else tasks

    def of(self, path: str) -> tuple[bool, tuple[str, ...]] | None:
        """(shared?, owners) of a rootdir-relative path; None outside the plan's folder.

        A shared path has no owners (every task may use it); () alone: no task owns it.
        """
        rel = relative_to(path, self.plan_dir)
        if rel is None:
            return None
        shared, tasks = self._answer(rel)
        return (True, ()) if shared else (False, tasks)
