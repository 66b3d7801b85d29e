"""Which task each collected test belongs to: its `task` marker first, else the plan's selectors.

Pure: works on `TestRef`s, so 100,000 tests map without pytest in the loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cached_property
from pathlib import Path

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.patterns import PatternIndex
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import literal
from pytest_delegation.plan.patterns import relative_to


@dataclass(frozen=True)
class TestRef:
    """What mapping needs to know of a collected test."""

    # not a pytest test class
    __test__ = False

    nodeid: str
    #: rootdir-relative POSIX path of the test's file
    path: str
    #: task ids named by the closest `task` marker(s)
    marked: tuple[str, ...] = ()
    line: int | None = None


@dataclass
class Assignment:
    """The result of mapping: a task per test, plus the tests that have none or several."""

    task_of: dict[str, str] = field(default_factory=dict)
    by_task: dict[str, list[str]] = field(default_factory=dict)
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    untagged: list[str] = field(default_factory=list)


class Selectors:
    """Every task's `tests:` selectors, indexed so a test is matched in O(depth)."""

    def __init__(self, plan: Plan, plan_dir: str) -> None:
        #: the plan's folder, relative to rootdir ('' if the same)
        self.plan_dir = plan_dir
        #: anchored path or folder -> tasks
        self.exact: dict[str, list[str]] = {}
        #: file -> (node-id prefix, task)
        self.nodeids: dict[str, list[tuple[str, str]]] = {}
        self.globs: list[tuple[str, PatternSet]] = []
        self._cache: dict[str, tuple[str, ...]] = {}
        for task in plan.tasks.values():
            globs = []
            for selector in task.tests:
                if "::" in selector:
                    file = selector.split("::", 1)[0].strip("/")
                    self.nodeids.setdefault(file, []).append((selector.strip("/"), task.id))
                    continue
                path = literal(selector)
                if path is not None and "/" in selector.rstrip("/"):
                    self.exact.setdefault(path, []).append(task.id)
                else:
                    globs.append(selector)
            if globs:
                self.globs.append((task.id, PatternSet(globs)))

    @cached_property
    def glob_index(self) -> PatternIndex[str]:
        # a glob anchored to a folder (`tests/glob/test_a_*.py`) is only tried on the
        # paths in that folder; one that matches at any depth, on every path
        return PatternIndex(self.globs)

    def tasks_for(self, ref: TestRef) -> tuple[str, ...]:
        path = relative_to(ref.path, self.plan_dir)
        if path is None:
            return ()
        found = self._by_path(path)
        prefixes = self.nodeids.get(path)
        if prefixes:
            nodeid = (
                path + ref.nodeid[len(ref.path) :]
                if ref.nodeid.startswith(ref.path)
                else (ref.nodeid)
            )
            extra = [
                task
                for prefix, task in prefixes
                if nodeid == prefix or nodeid.startswith((prefix + "::", prefix + "["))
            ]
            found = tuple(dict.fromkeys((*found, *extra)))
        return found

    def _by_path(self, path: str) -> tuple[str, ...]:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        found: list[str] = []
        parts = path.split("/")
        for end in range(len(parts), 0, -1):
            found.extend(self.exact.get("/".join(parts[:end]), ()))
        found.extend(self.glob_index.matching(path))
        result = tuple(dict.fromkeys(found))
        self._cache[path] = result
        return result


def plan_folder(plan: Plan, rootdir: Path) -> str:
    """The plan's folder relative to rootdir ('' when the same), for rootdir-relative paths."""
    try:
        rel = plan.base.resolve().relative_to(rootdir.resolve())
    except ValueError:
        # matches no rootdir-relative path
        return "\0outside"
    return "" if str(rel) == "." else rel.as_posix()


def assign(refs: Iterable[TestRef], plan: Plan, plan_dir: str) -> Assignment:
    """Map every test to its task; the marker is explicit and wins over selectors."""
    selectors = Selectors(plan, plan_dir)
    order = {task_id: n for n, task_id in enumerate(_plan_order(plan))}
    result = Assignment(by_task={task_id: [] for task_id in plan.tasks})
    for ref in refs:
        # one id marked twice on a test (two decorators, or task("a", "a")) is one task
        claims: Sequence[str] = tuple(dict.fromkeys(ref.marked)) or selectors.tasks_for(ref)
        if not claims:
            result.untagged.append(ref.nodeid)
            continue
        if len(claims) > 1:
            claims = sorted(claims, key=lambda t: order.get(t, len(order)))
            result.ambiguous[ref.nodeid] = tuple(claims)
        task_id = claims[0]
        result.task_of[ref.nodeid] = task_id
        result.by_task.setdefault(task_id, []).append(ref.nodeid)
    return result


def _plan_order(plan: Plan) -> list[str]:
    if plan.waves:
        return [task_id for wave in plan.waves for task_id in wave]
    return list(plan.tasks)
