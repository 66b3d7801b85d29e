"""The task graph: unknown dependencies, cycles, topological order, transitive dependencies.

It knows tasks only as a mapping of ids to objects with ``depends_on``: the plan model
imports it to report graph problems with every other problem, never the other way.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pytest_delegation.plan.problems import SHOWN
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import Suggester


if TYPE_CHECKING:
    from pytest_delegation.plan.model import Task


def graph_problems(
    tasks: Mapping[str, Task], source: str, known: Collection[str] = ()
) -> list[PlanProblem]:
    """Unknown dependencies and cycles; `known` ids exist but were dropped as invalid.

    Unknown dependencies are listed up to `SHOWN`, by line, and the rest counted: a plan
    generated wrong can name thousands, and each suggestion is a search of the ids.
    """
    unknown = [
        (task.positions.get(f"depends_on:{dep}", task.line), task.id, dep)
        for task in tasks.values()
        for dep in task.depends_on
        if dep not in tasks and dep not in known
    ]
    unknown.sort(key=lambda entry: entry[0] or 0)
    problems = []
    if unknown:
        suggest = Suggester(tasks)
        for line, task_id, dep in unknown[:SHOWN]:
            problems.append(
                PlanProblem(
                    source,
                    line,
                    f"task '{task_id}' depends on unknown task '{dep}'" + suggest(dep),
                )
            )
    if len(unknown) > SHOWN:
        hidden = len(unknown) - SHOWN
        what = "dependency on an unknown task" if hidden == 1 else "dependencies on unknown tasks"
        problems.append(
            PlanProblem(
                source,
                unknown[SHOWN][0],
                f"... and {hidden} more {what}, from here on (not listed); fix the ones above "
                "and run again",
                count=hidden,
            )
        )
    for cycle in find_cycles(tasks):
        first = tasks[cycle[0]]
        problems.append(
            PlanProblem(
                source,
                first.positions.get(f"depends_on:{cycle[1]}", first.line),
                "dependency cycle: " + " -> ".join(cycle) + "; remove one of these dependencies",
            )
        )
    return problems


def find_cycles(tasks: Mapping[str, Task]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, each as a closed path."""
    graph = {t: [d for d in task.depends_on if d in tasks] for t, task in tasks.items()}
    cycles = []
    for component in _components(graph):
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in graph[start]:
            continue
        cycles.append(_cycle_through(start, graph, members))
    return sorted(cycles)


def _cycle_through(start: str, graph: Mapping[str, list[str]], members: set[str]) -> list[str]:
    # breadth-first search for the shortest way back to `start` inside its component
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    # unreachable for a real component
    return [start, start]


def _components(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative so deep plans can't overflow."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
    return result


def topological(tasks: Mapping[str, Task]) -> list[str]:
    """Kahn's order; only called once the graph is known to be acyclic."""
    pending = {t: sum(1 for d in task.depends_on if d in tasks) for t, task in tasks.items()}
    dependents: dict[str, list[str]] = {t: [] for t in tasks}
    for t, task in tasks.items():
        for dep in task.depends_on:
            dependents[dep].append(t)
    ready = sorted(t for t, n in pending.items() if n == 0)
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for child in dependents[node]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    return order


def transitive_dependencies(tasks: Mapping[str, Task], task_id: str) -> set[str]:
    seen: set[str] = set()
    todo = list(tasks[task_id].depends_on)
    while todo:
        dep = todo.pop()
        if dep in seen or dep not in tasks:
            continue
        seen.add(dep)
        todo.extend(tasks[dep].depends_on)
    return seen
