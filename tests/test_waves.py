"""Waves: layering the task graph, explicit waves, cycles, and deep chains."""

from __future__ import annotations

from pathlib import Path
import sys
import tracemalloc

import pytest

from pytest_delegation.plan.graph import find_cycles
from pytest_delegation.plan.graph import graph_problems
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.waves import compute_waves


def make_plan(*tasks: Task) -> Plan:
    plan = Plan(path=Path("/project/delegation.yaml"))
    for task in tasks:
        plan.add_task(task)
    return plan


def graph(**deps: str) -> dict[str, Task]:
    """`graph(a="b c", b="")`: task a depends on b and c."""
    return {name: Task(id=name, depends_on=tuple(value.split())) for name, value in deps.items()}


def test_layers_follow_the_longest_dependency_chain() -> None:
    plan = make_plan(
        Task(id="user"),
        Task(id="product"),
        Task(id="order", depends_on=("user", "product")),
        Task(id="docs"),
        Task(id="review", depends_on=("user", "order")),
    )
    assert compute_waves(plan) == (
        ("docs", "product", "user"),
        ("order",),
        ("review",),
    )


def test_tasks_in_a_wave_are_sorted_whatever_the_plan_order() -> None:
    plan = make_plan(Task(id="zeta"), Task(id="alpha"), Task(id="mid"))
    assert compute_waves(plan) == (("alpha", "mid", "zeta"),)


def test_an_empty_plan_has_no_waves() -> None:
    assert compute_waves(make_plan()) == ()


def test_explicit_wave_delays_the_task_and_its_dependents() -> None:
    plan = make_plan(
        Task(id="a"),
        Task(id="late", wave=2),
        Task(id="after-late", depends_on=("late",)),
        Task(id="after-a", depends_on=("a",)),
    )
    assert compute_waves(plan) == (
        ("a",),
        ("after-a", "late"),
        ("after-late",),
    )


def test_explicit_wave_equal_to_the_earliest_is_fine() -> None:
    plan = make_plan(Task(id="a"), Task(id="b", depends_on=("a",), wave=2))
    assert compute_waves(plan) == (("a",), ("b",))


def test_empty_layers_are_compacted() -> None:
    plan = make_plan(
        Task(id="a"),
        Task(id="far", wave=5),
        Task(id="after-far", depends_on=("far",)),
    )
    # waves 2-4 would be empty: the numbering stays dense, the order stays
    assert compute_waves(plan) == (("a",), ("far",), ("after-far",))


def test_only_explicit_waves_still_start_at_one() -> None:
    plan = make_plan(Task(id="a", wave=3), Task(id="b", wave=7))
    assert compute_waves(plan) == (("a",), ("b",))


def test_a_hook_task_with_a_huge_wave_is_refused_before_any_layer() -> None:
    # a hook's Task skips the plan's validation, and compute_waves made a list per wave
    # number: a MemoryError at 10**9, seven gigabytes at 10**8
    plan = make_plan(
        Task(id="a"),
        Task(id="b", wave=10**9, line=3, positions={"wave": 4}),
        Task(id="c", wave=10**5000),
    )
    with pytest.raises(PlanError) as info:
        compute_waves(plan)
    assert [str(p) for p in info.value.problems] == [
        "delegation.yaml: task 'c' asks for wave a number of 5001 digits, but a wave must be "
        "at most 10,000 (empty waves are dropped: a smaller number in the same order places "
        "the task the same)",
        "delegation.yaml:4: task 'b' asks for wave 1000000000, but a wave must be at most "
        "10,000 (empty waves are dropped: a smaller number in the same order places the task "
        "the same)",
    ]


def test_far_apart_waves_take_no_memory_per_wave_number() -> None:
    plan = make_plan(Task(id="a", wave=10_000), Task(id="b", wave=9_999), Task(id="c"))
    tracemalloc.start()
    try:
        waves = compute_waves(plan)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert waves == (("c",), ("b",), ("a",))
    # a list per wave number up to 10,000 was over 600 kB
    assert peak < 100_000


def test_wave_too_early_is_a_problem_with_the_wave_line() -> None:
    plan = make_plan(
        Task(id="a"),
        Task(id="b", depends_on=("a",), wave=1, line=4, positions={"wave": 6}),
        Task(id="c", depends_on=("b",), wave=2, line=8),
    )
    with pytest.raises(PlanError) as info:
        compute_waves(plan)
    assert [str(p) for p in info.value.problems] == [
        "delegation.yaml:6: task 'b' asks for wave 1, but its dependencies put it in wave 2 "
        "at the earliest; remove 'wave:' or make it >= 2",
        "delegation.yaml:8: task 'c' asks for wave 2, but its dependencies put it in wave 3 "
        "at the earliest; remove 'wave:' or make it >= 3",
    ]


def test_unknown_dependencies_are_all_reported() -> None:
    plan = make_plan(
        Task(id="alpha", depends_on=("betta", "gamma"), line=2, positions={"depends_on:gamma": 5}),
        Task(id="beta"),
    )
    with pytest.raises(PlanError) as info:
        compute_waves(plan)
    assert [str(p) for p in info.value.problems] == [
        "delegation.yaml:2: task 'alpha' depends on unknown task 'betta'; did you mean 'beta'?",
        "delegation.yaml:5: task 'alpha' depends on unknown task 'gamma'",
    ]


def test_graph_problems_skips_known_but_dropped_ids() -> None:
    tasks = graph(a="gone nowhere")
    problems = graph_problems(tasks, "delegation.yaml", known={"gone"})
    assert [p.message for p in problems] == ["task 'a' depends on unknown task 'nowhere'"]


def test_find_cycles_one_per_component() -> None:
    tasks = graph(a="b", b="c", c="a", x="y", y="x", s="s", free="a", leaf="")
    assert find_cycles(tasks) == [["a", "b", "c", "a"], ["s", "s"], ["x", "y", "x"]]


def test_find_cycles_shortest_way_back_inside_a_component() -> None:
    # one component {a, b, c, d}: a -> b -> a is the shortest cycle through 'a'
    tasks = graph(a="c b", b="a d", c="d", d="a")
    assert find_cycles(tasks) == [["a", "b", "a"]]


def test_find_cycles_ignores_unknown_ids_and_acyclic_graphs() -> None:
    assert find_cycles(graph(a="b zzz", b="", c="a b")) == []


def test_cycles_stop_compute_waves() -> None:
    plan = make_plan(*graph(a="b", b="a", c="c", d="").values())
    with pytest.raises(PlanError) as info:
        compute_waves(plan)
    assert [p.message for p in info.value.problems] == [
        "dependency cycle: a -> b -> a; remove one of these dependencies",
        "dependency cycle: c -> c; remove one of these dependencies",
    ]


def test_transitive_dependencies() -> None:
    tasks = graph(a="", b="a", c="b", d="c a", e="", loop="loop", odd="missing b")
    assert transitive_dependencies(tasks, "a") == set()
    assert transitive_dependencies(tasks, "d") == {"a", "b", "c"}
    assert transitive_dependencies(tasks, "loop") == {"loop"}
    assert transitive_dependencies(tasks, "odd") == {"a", "b"}
    with pytest.raises(KeyError):
        transitive_dependencies(tasks, "nope")


def test_a_long_chain_does_not_hit_the_recursion_limit() -> None:
    count = max(1000, sys.getrecursionlimit() + 100)
    names = [f"t{n}" for n in range(count)]
    plan = make_plan(
        *(Task(id=name, depends_on=(names[n - 1],) if n else ()) for n, name in enumerate(names))
    )
    waves = compute_waves(plan)
    assert len(waves) == count
    assert waves[0] == ("t0",)
    assert waves[-1] == (names[-1],)
    assert len(transitive_dependencies(plan.tasks, names[-1])) == count - 1


def test_a_long_cycle_does_not_hit_the_recursion_limit() -> None:
    count = max(1000, sys.getrecursionlimit() + 100)
    names = [f"t{n:04d}" for n in range(count)]
    tasks = {
        name: Task(id=name, depends_on=(names[(n + 1) % count],)) for n, name in enumerate(names)
    }
    cycles = find_cycles(tasks)
    assert len(cycles) == 1
    assert cycles[0][0] == cycles[0][-1] == "t0000"
    assert len(cycles[0]) == count + 1
