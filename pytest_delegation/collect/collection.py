"""The collected tests mapped to their tasks, with the plan inferred when it is ``auto``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pytest_delegation.collect import markers
from pytest_delegation.collect.loading import finish
from pytest_delegation.collect.loading import infer_plan
from pytest_delegation.collect.mapping import Assignment
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.collect.mapping import assign
from pytest_delegation.collect.mapping import plan_folder
from pytest_delegation.plan.model import Plan


@dataclass(frozen=True)
class Mapped:
    """The plan, each test's task, and where the tests are that findings name.

    ``refs`` holds only the untagged and ambiguous tests, with their lines: the rest
    need no location, and a 100,000-test suite should not pay for one.
    """

    plan: Plan
    assignment: Assignment
    refs: dict[str, TestRef]


def map_collection(
    config: pytest.Config, plan: Plan | None, items: Sequence[pytest.Item]
) -> Mapped:
    checked = [markers.task_ref(item) for item in items]
    refs = [ref for ref, _ in checked]
    if plan is None:
        plan = finish(config, infer_plan((r.path for r in refs), config.rootpath))
    # a line only where a problem needs one: a 100,000-test suite should not pay for all
    lines = [
        markers.item_line(item) if args or _unknown(ref, plan) else None
        for (ref, args), item in zip(checked, items, strict=True)
    ]
    markers.check_markers(checked, lines, plan)
    assignment = assign(refs, plan, plan_folder(plan, config.rootpath))
    wanted = set(assignment.untagged) | set(assignment.ambiguous)
    located = {
        ref.nodeid: TestRef(ref.nodeid, ref.path, ref.marked, markers.item_line(item))
        for ref, item in zip(refs, items, strict=True)
        if ref.nodeid in wanted
    }
    return Mapped(plan, assignment, located)


def map_cached(config: pytest.Config, plan: Plan | None, refs: Sequence[TestRef]) -> Mapped:
    """The same mapping from a cached collection (``collect.cache``): refs with lines."""
    if plan is None:
        plan = finish(config, infer_plan((r.path for r in refs), config.rootpath))
    markers.check_markers([(ref, []) for ref in refs], [ref.line for ref in refs], plan)
    assignment = assign(refs, plan, plan_folder(plan, config.rootpath))
    wanted = set(assignment.untagged) | set(assignment.ambiguous)
    return Mapped(plan, assignment, {ref.nodeid: ref for ref in refs if ref.nodeid in wanted})


def _unknown(ref: TestRef, plan: Plan) -> bool:
    return any(task not in plan.tasks for task in ref.marked)
