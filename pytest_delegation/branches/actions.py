"""What an orchestrator does with each task after a parallel batch: the pure rule.

A task that failed on its own branch, or changed files outside its own, is retried with
what it broke; one whose dependency was not accepted waits (blocked); one whose branch
conflicts with another's, or whose merge breaks another task's tests, is a conflict
between the two; the rest are accepted. Tasks without a branch are judged by how their
tests did where they ran (the base with the accepted work merged).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import Failure
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.names import plural
from pytest_delegation.vocab import Action
from pytest_delegation.vocab import Status


#: statuses a task's tests passed with
PASSING = frozenset({Status.PASSED, Status.FLAKY, Status.SKIPPED, Status.NOT_RUN})


@dataclass
class TaskState:
    """What the batch learned of one task; the input of `decide`."""

    status: Status = Status.NOT_RUN
    #: it ran on a branch of its own (else on the base)
    has_branch: bool = False
    #: files its branch changed outside its files: and the plan's shared:
    out_of_bounds: tuple[str, ...] = ()
    #: tasks whose branches conflict textually with this one's, and the files
    conflicts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: tasks whose tests this branch's merge broke -> those tests
    breaks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: tasks whose merge broke this task's tests -> those tests
    broken_by: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: tests that failed on the merge with no single branch to blame
    merge_failures: tuple[str, ...] = ()
    #: its failing tests and their output, for a retry
    failures: tuple[Failure, ...] = ()
    #: its tests ran the checkout's code, not its branch's (``code-outside-worktree``)
    outside: tuple[str, ...] = ()


def decide(plan: Plan, states: Mapping[str, TaskState]) -> dict[str, TaskAction]:
    """Each task's action, in plan order; a dependency is judged before its dependents."""
    actions: dict[str, TaskAction] = {}
    for task_id in _dependency_order(plan, states):
        actions[task_id] = _action(plan, task_id, states[task_id], actions)
    return {task_id: actions[task_id] for task_id in plan.tasks if task_id in actions}


def _dependency_order(plan: Plan, states: Mapping[str, TaskState]) -> list[str]:
    order = [t for wave in plan.waves for t in wave if t in states]
    return order + [t for t in states if t not in order]


def _action(
    plan: Plan, task_id: str, state: TaskState, earlier: Mapping[str, TaskAction]
) -> TaskAction:
    where = "on its branch" if state.has_branch else "on the base"
    if state.status not in PASSING:
        failing = len(state.failures)
        what = f"{plural(failing, 'test')} failed" if failing else f"it ended {state.status}"
        return TaskAction(Action.RETRY, f"{what} {where}", failures=state.failures, with_tasks=())
    if state.out_of_bounds:
        shown = ", ".join(state.out_of_bounds[:3])
        more = len(state.out_of_bounds) - 3
        extra = f" and {more} more" if more > 0 else ""
        return TaskAction(
            Action.RETRY, f"its branch changed files outside its own: {shown}{extra}"
        )
    if state.outside:
        return TaskAction(
            Action.RETRY,
            "its tests ran code from your checkout, not its branch: "
            + ", ".join(state.outside[:3]),
        )
    task = plan.tasks.get(task_id)
    waiting = [
        dep
        for dep in (task.depends_on if task else ())
        if dep in earlier and earlier[dep].action != Action.ACCEPT
    ]
    if waiting:
        return TaskAction(
            Action.BLOCKED,
            "a dependency was not accepted",
            with_tasks=tuple(waiting),
        )
    if state.conflicts:
        others = list(state.conflicts)
        files = sorted({f for fs in state.conflicts.values() for f in fs})
        return TaskAction(
            Action.CONFLICT,
            f"its branch conflicts with {_names(others)}'s in {', '.join(files[:3])}",
            with_tasks=tuple(others),
        )
    if state.breaks:
        # the task whose tests broke keeps its accept: this branch's merge was left out
        tests = sum(len(t) for t in state.breaks.values())
        return TaskAction(
            Action.CONFLICT,
            f"its merge breaks {plural(tests, 'test')} of {_names(list(state.breaks))}",
            with_tasks=tuple(state.breaks),
        )
    if state.merge_failures:
        return TaskAction(
            Action.CONFLICT,
            f"{plural(len(state.merge_failures), 'test')} passed {where} and failed on the "
            "merge, with no single branch to blame",
        )
    if state.has_branch:
        return TaskAction(Action.ACCEPT, "passed on its branch, in its files, merged cleanly")
    return TaskAction(Action.ACCEPT, "passed on the base with the accepted work merged")


def _names(tasks: Sequence[str]) -> str:
    return ", ".join(f"'{t}'" for t in tasks)
