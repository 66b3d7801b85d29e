"""Who owns a path: the tasks whose ``files:`` match it, or the plan's ``shared:``.

One answer for every check (run-time boundaries, imports, the diff, file conflicts), so
that they cannot disagree. Paths are POSIX; `of` and `relative` take them relative to
rootdir, everything else relative to the plan's folder (as the plan's patterns are).
Matching goes through a `PatternIndex`, which asks only the tasks whose patterns can
reach a path, and each path's owners are worked out once.

A plan with ``ownership_rules`` (CODEOWNERS) answers with CODEOWNERS' rule instead: the
owners of a path are those of the last rule matching it, none when that rule names none.
Where no rule matches, the ``files:`` of the tasks no rule names decide (a YAML plan's
tasks beside a CODEOWNERS map); ``shared:`` holds as ever.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from pytest_delegation.plan.codeowners import plan_patterns
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
        order = {task_id: number for number, task_id in enumerate(plan.tasks)}
        #: CODEOWNERS' rules, in file order: each one's patterns and owners (in plan order)
        self.rules: list[tuple[PatternSet, tuple[str, ...]]] = [
            (
                PatternSet(plan_patterns(pattern)),
                tuple(sorted((t for t in set(owners) if t in order), key=order.__getitem__)),
            )
            for pattern, owners, _ in plan.ownership_rules
        ]
        # plan-relative path -> the position of the last rule matching it, or None
        self._rule_of: dict[str, int | None] = {}

    @cached_property
    def _rule_index(self) -> PatternIndex[int]:
        return PatternIndex((number, patterns) for number, (patterns, _) in enumerate(self.rules))

    @cached_property
    def _unnamed(self) -> PatternIndex[str]:
        """The sets of the tasks no rule names, which decide where no rule matches."""
        named = {task_id for _, owners in self.rules for task_id in owners}
        return PatternIndex((t, s) for t, s in self.sets.items() if t not in named)

    def rule(self, rel: str) -> int | None:
        """The position in ``plan.ownership_rules`` of the last rule matching a path."""
        if rel in self._rule_of:
            return self._rule_of[rel]
        index = self._rule_index
        found = next(
            (n for n in reversed(index.candidates(rel)) if index.items[n][1].matches(rel)),
            None,
        )
        self._rule_of[rel] = found
        return found

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
        """Whether a task's ``files:`` hold a plan-relative path (CODEOWNERS: it owns it)."""
        if self.rules:
            return task_id in self._answer(rel)[1]
        return self.sets[task_id].matches(rel)

    def _answer(self, rel: str) -> tuple[bool, tuple[str, ...]]:
        found = self._answers.get(rel)
        if found is None:
            found = (self.shared.matches(rel), self._owners(rel))
            self._answers[rel] = found
        return found

    def _owners(self, rel: str) -> tuple[str, ...]:
        if not self.rules:
            return tuple(self.index.matching(rel))
        number = self.rule(rel)
        if number is None:
            return tuple(self._unnamed.matching(rel))
        return self.rules[number][1]

    def shares(self, rel: str) -> bool:
        """Whether the plan's ``shared:`` holds a plan-relative path."""
        return self._answer(rel)[0]

    def tasks(self, rel: str) -> tuple[str, ...]:
        """The tasks whose ``files:`` hold a plan-relative path, in plan order.

        Shared or not: a shared file a task also claims is still that task's code. With
        CODEOWNERS' rules: the owners of the last rule matching it.
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
