"""Reading the ``task`` markers of collected tests, and refusing ones that name no task."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.problems import Suggester


#: problems listed before the rest are counted
SHOWN = 50


def item_line(item: pytest.Item) -> int | None:
    """The 1-based line of a test, or None when its plugin cannot say."""
    try:
        line = item.location[1]
    except Exception:
        # a plugin's item with a broken reportinfo must not stop the run
        return None
    return line + 1 if isinstance(line, int) else None


def task_ref(item: pytest.Item) -> tuple[TestRef, list[object]]:
    """The test's reference for mapping, and the task marker arguments that are not ids.

    The closest level (function, class, module) that names a task wins.
    """
    nodeid = item.nodeid
    marked: list[str] = []
    bad: list[object] = []
    closest = None
    for node, mark in item.iter_markers_with_node("task"):
        if closest is None:
            closest = node
        elif node is not closest:
            break
        for arg in mark.args or (None,):
            (marked if isinstance(arg, str) else bad).append(arg)
    return TestRef(nodeid, nodeid.split("::", 1)[0], tuple(marked)), bad


def check_markers(
    refs: Sequence[tuple[TestRef, list[object]]], lines: Sequence[int | None], plan: Plan
) -> None:
    """A usage error listing every marker that is not a task id of the plan."""
    problems = []
    suggest = Suggester(plan.tasks)
    for (ref, bad), line in zip(refs, lines, strict=True):
        where = f"{ref.path}:{line or '?'}: {ref.nodeid}"
        if bad:
            problems.append(
                f'{where}: @pytest.mark.task needs a task id, like @pytest.mark.task("user-model")'
            )
        for task_id in ref.marked:
            if task_id not in plan.tasks:
                # a suggestion only for the problems shown: thousands would cost seconds
                hint = suggest(task_id) if len(problems) < SHOWN else ""
                problems.append(
                    f"{where}: @pytest.mark.task({task_id!r}) names no task of the plan{hint}"
                )
    if problems:
        shown = problems[:SHOWN]
        if len(problems) > SHOWN:
            shown.append(f"... and {len(problems) - SHOWN} more")
        raise pytest.UsageError(
            "tests marked with unknown delegation tasks:\n  " + "\n  ".join(shown)
        )
