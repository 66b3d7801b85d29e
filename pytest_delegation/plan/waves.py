"""Waves: the layers of the task graph. A task runs one wave after its latest dependency."""

from __future__ import annotations

from pytest_delegation.plan.graph import graph_problems
from pytest_delegation.plan.graph import topological
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem


def compute_waves(plan: Plan) -> tuple[tuple[str, ...], ...]:
    """Return the waves (sorted task ids each); raise PlanError on unknown ids or cycles."""
    source = plan.path.name
    problems = graph_problems(plan.tasks, source)
    if problems:
        raise PlanError(problems)
    number: dict[str, int] = {}
    for task_id in topological(plan.tasks):
        task = plan.tasks[task_id]
        earliest = 1 + max((number[dep] for dep in task.depends_on), default=0)
        if task.wave is not None and task.wave < earliest:
            problems.append(
                PlanProblem(
                    source,
                    task.positions.get("wave", task.line),
                    f"task '{task_id}' asks for wave {task.wave}, but its dependencies put it "
                    f"in wave {earliest} at the earliest; remove 'wave:' or make it "
                    f">= {earliest}",
                )
            )
        number[task_id] = max(earliest, task.wave or 0)
    if problems:
        raise PlanError(problems)
    count = max(number.values(), default=0)
    layers: list[list[str]] = [[] for _ in range(count)]
    for task_id, wave in number.items():
        layers[wave - 1].append(task_id)
    # an explicit `wave:` can leave a layer empty; keep numbering dense
    return tuple(tuple(sorted(layer)) for layer in layers if layer)
