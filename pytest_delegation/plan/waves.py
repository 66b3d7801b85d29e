"""Waves: the layers of the task graph. A task runs one wave after its latest dependency."""

from __future__ import annotations

from pytest_delegation.plan.graph import graph_problems
from pytest_delegation.plan.graph import topological
from pytest_delegation.plan.model import MAX_WAVE
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import shown_number


def compute_waves(plan: Plan) -> tuple[tuple[str, ...], ...]:
    """Return the waves (sorted task ids each); raise PlanError on unknown ids or cycles."""
    source = plan.path.name
    problems = graph_problems(plan.tasks, source)
    # a hook's task skips the plan's validation: its wave is checked here
    for task in plan.tasks.values():
        if task.wave is not None and task.wave > MAX_WAVE:
            problems.append(
                PlanProblem(
                    source,
                    task.positions.get("wave", task.line),
                    f"task '{task.id}' asks for wave {shown_number(task.wave)}, but a wave "
                    f"must be at most {MAX_WAVE:,} (empty waves are dropped: a smaller number "
                    "in the same order places the task the same)",
                )
            )
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
                    f"task '{task_id}' asks for wave {shown_number(task.wave)}, but its "
                    f"dependencies put it "
                    f"in wave {earliest} at the earliest; remove 'wave:' or make it "
                    f">= {earliest}",
                )
            )
        number[task_id] = max(earliest, task.wave or 0)
    if problems:
        raise PlanError(problems)
    # an explicit `wave:` can leave a layer empty; keep numbering dense. Only the numbers
    # in use are layered: nothing here is as large as the highest wave number
    layers: dict[int, list[str]] = {}
    for task_id, wave in number.items():
        layers.setdefault(wave, []).append(task_id)
    return tuple(tuple(sorted(layers[wave])) for wave in sorted(layers))
