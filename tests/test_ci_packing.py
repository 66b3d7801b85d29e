"""Packing tasks into CI jobs (LPT) and the jobs of a plan: names, waves, needs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from pytest_delegation.ci.jobs import Job
from pytest_delegation.ci.jobs import job_id
from pytest_delegation.ci.jobs import plan_jobs
from pytest_delegation.ci.jobs import task_durations
from pytest_delegation.ci.packing import bound
from pytest_delegation.ci.packing import makespan
from pytest_delegation.ci.packing import pack
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves


def make_plan(tasks: dict[str, dict[str, Any]]) -> Plan:
    plan = plan_from_dict({"version": 1, "tasks": tasks}, Path("delegation.yaml"))
    plan.freeze(compute_waves(plan))
    return plan


durations_st = st.dictionaries(
    st.text("abcdefghij", min_size=1, max_size=4),
    st.floats(0, 1000, allow_nan=False),
    max_size=40,
)


# -- pack --------------------------------------------------------------------------------


@given(durations_st, st.integers(1, 30))
def test_every_task_once_in_at_most_jobs_bins(durations: dict[str, float], jobs: int) -> None:
    bins = pack(durations, jobs)
    assert sorted(t for b in bins for t in b) == sorted(durations)
    assert len(bins) <= jobs
    assert all(bins)
    order = list(durations)
    for tasks in bins:
        assert tasks == sorted(tasks, key=order.index)
    firsts = [order.index(tasks[0]) for tasks in bins]
    assert firsts == sorted(firsts)
    assert pack(durations, jobs) == bins


@given(durations_st, st.integers(1, 30))
def test_makespan_within_list_scheduling_bound(durations: dict[str, float], jobs: int) -> None:
    span = makespan(pack(durations, jobs), durations)
    low = bound(durations, jobs)
    assert span >= low - 1e-9
    # Graham: the last task to finish started by total / jobs
    total = sum(durations.values())
    longest = max(durations.values(), default=0.0)
    assert span <= total / jobs + (1 - 1 / jobs) * longest + 1e-6


def best_makespan(durations: dict[str, float], jobs: int) -> float:
    tasks = list(durations)
    best = float("inf")
    for assignment in itertools.product(range(jobs), repeat=len(tasks)):
        loads = [0.0] * jobs
        for task, where in zip(tasks, assignment, strict=True):
            loads[where] += durations[task]
        best = min(best, max(loads))
    return best


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=2),
        st.floats(0.01, 100, allow_nan=False),
        min_size=1,
        max_size=7,
    ),
    st.integers(1, 3),
)
def test_lpt_within_four_thirds_of_the_best(durations: dict[str, float], jobs: int) -> None:
    span = makespan(pack(durations, jobs), durations)
    assert span <= (4 / 3 - 1 / (3 * jobs)) * best_makespan(durations, jobs) + 1e-6


def test_empty_one_and_equal() -> None:
    assert pack({}, 3) == []
    assert bound({}, 3) == 0.0
    assert makespan([], {}) == 0.0
    assert pack({"a": 5.0}, 4) == [["a"]]
    assert bound({"a": 5.0}, 4) == 5.0
    equal = {f"t{i}": 2.0 for i in range(10)}
    bins = pack(equal, 4)
    assert sorted(len(b) for b in bins) == [2, 2, 3, 3]
    assert makespan(bins, equal) == 6.0


def test_zero_durations_spread_over_the_jobs() -> None:
    bins = pack({f"t{i}": 0.0 for i in range(6)}, 3)
    assert [len(b) for b in bins] == [2, 2, 2]


def test_longest_first() -> None:
    durations = {"a": 1.0, "b": 5.0, "c": 4.0, "d": 3.0, "e": 3.0}
    # b, c, d open the three jobs; e joins d (3 s, the least loaded), then a joins c (4 s)
    assert pack(durations, 3) == [["a", "c"], ["b"], ["d", "e"]]
    assert bound(durations, 3) == 16 / 3


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        pack({"a": 1.0}, 0)
    with pytest.raises(ValueError, match="task 'a'"):
        pack({"a": -1.0}, 2)
    with pytest.raises(ValueError, match="task 'a'"):
        pack({"a": float("nan")}, 2)


# -- durations -----------------------------------------------------------------------------


def test_fallback_durations() -> None:
    assert task_durations(["a", "b"], {}) == {"a": 1.0, "b": 1.0}
    recorded = {"a": 2, "b": 10.0, "c": 4.0, "x": 1000.0, "d": "slow", "e": True, "f": -3}
    seconds = task_durations(["a", "b", "c", "d", "e", "f", "g"], recorded)
    assert seconds == {"a": 2.0, "b": 10.0, "c": 4.0, "d": 4.0, "e": 4.0, "f": 4.0, "g": 4.0}


# -- plan_jobs -----------------------------------------------------------------------------

GRAPH: dict[str, dict[str, Any]] = {
    "a": {},
    "b": {},
    "c": {"depends_on": ["a"]},
    "d": {"depends_on": ["c"], "no_tests": "docs only"},
    "e": {"depends_on": ["d", "b"]},
}


def test_waves_one_job_per_task() -> None:
    plan = make_plan(GRAPH)
    jobs = plan_jobs(plan, ["a", "b", "c", "e"])
    assert jobs == [
        Job("wave-1-1", 1, ("a",), ()),
        Job("wave-1-2", 1, ("b",), ()),
        Job("wave-2-1", 2, ("c",), ("wave-1-1", "wave-1-2")),
        # wave 3 holds only d, which has no tests: wave 4 waits for wave 2
        Job("wave-4-1", 4, ("e",), ("wave-2-1",)),
    ]


def test_dag_needs_through_tasks_without_tests() -> None:
    plan = make_plan(GRAPH)
    jobs = plan_jobs(plan, ["a", "b", "c", "e"], schedule="dag")
    assert jobs == [
        Job("task-a", 1, ("a",), ()),
        Job("task-b", 1, ("b",), ()),
        Job("task-c", 2, ("c",), ("task-a",)),
        Job("task-e", 4, ("e",), ("task-b", "task-c")),
    ]


def test_dag_chain_of_tasks_without_tests() -> None:
    plan = make_plan(
        {
            "a": {},
            "b": {"depends_on": ["a"], "no_tests": "x"},
            "c": {"depends_on": ["b"], "no_tests": "x"},
            "d": {"depends_on": ["c", "b"]},
        }
    )
    jobs = plan_jobs(plan, ["a", "d"], schedule="dag")
    assert [job.needs for job in jobs] == [(), ("task-a",)]


def wide_plan(waves: int, per_wave: int) -> Plan:
    tasks: dict[str, dict[str, Any]] = {}
    for w in range(waves):
        for i in range(per_wave):
            deps = [f"w{w - 1}-{i}"] if w else []
            tasks[f"w{w}-{i}"] = {"depends_on": deps}
    return make_plan(tasks)


def test_packing_never_across_waves() -> None:
    plan = wide_plan(3, 7)
    tasks = [t for wave in plan.waves for t in wave]
    durations = {t: float(1 + i % 5) for i, t in enumerate(tasks)}
    for schedule in ("waves", "dag"):
        jobs = plan_jobs(plan, tasks, schedule=schedule, durations=durations, limit=3)
        assert sorted(t for job in jobs for t in job.tasks) == sorted(tasks)
        for job in jobs:
            assert {plan.wave_of(t) for t in job.tasks} == {job.wave}
        for wave in (1, 2, 3):
            assert len([job for job in jobs if job.wave == wave]) == 3


def test_names_of_packed_jobs() -> None:
    plan = wide_plan(2, 4)
    tasks = [t for wave in plan.waves for t in wave]
    durations = {"w0-0": 10.0, "w0-1": 1.0, "w0-2": 1.0, "w0-3": 1.0}
    waves = plan_jobs(plan, tasks, durations=durations, limit=2)
    assert [job.name for job in waves] == ["wave-1-1", "wave-1-2", "wave-2-1", "wave-2-2"]
    assert waves[0].tasks == ("w0-0",)
    assert waves[1].tasks == ("w0-1", "w0-2", "w0-3")
    assert waves[2].needs == ("wave-1-1", "wave-1-2")
    dag = plan_jobs(plan, tasks, schedule="dag", durations=durations, limit=2)
    # a job of one task is named after it; a packed group after its wave
    assert [job.name for job in dag][:2] == ["task-w0-0", "wave-1-1"]
    for job in dag:
        assert job.name not in job.needs
        assert list(job.needs) == sorted(job.needs)


def test_a_wave_within_the_limit_gets_a_job_per_task() -> None:
    plan = wide_plan(1, 3)
    assert len(plan_jobs(plan, list(plan.waves[0]), limit=3)) == 3
    assert len(plan_jobs(plan, list(plan.waves[0]), limit=2)) == 2


def test_unknown_durations_get_the_median() -> None:
    plan = wide_plan(1, 4)
    tasks = list(plan.waves[0])
    # two known at 9 s and 1 s: the others count 5 s each, so 9 | 5 + 1 | 5
    jobs = plan_jobs(plan, tasks, durations={"w0-0": 9.0, "w0-1": 1.0}, limit=3)
    assert [job.tasks for job in jobs] == [("w0-0",), ("w0-1", "w0-2"), ("w0-3",)]


def test_odd_task_ids_give_valid_unique_names() -> None:
    plan = Plan(path=Path("delegation.yaml"))
    for task_id in ("Odd.Name", "odd-name", "a b"):
        plan.add_task(Task(id=task_id))
    plan.freeze(compute_waves(plan))
    names = [job.name for job in plan_jobs(plan, ["Odd.Name", "odd-name", "a b"], schedule="dag")]
    assert names == ["task-odd-name", "task-odd-name-2", "task-a-b"]
    assert job_id("!!!") == "task"


def test_bad_arguments() -> None:
    plan = make_plan(GRAPH)
    with pytest.raises(ValueError, match="unknown schedule 'x'"):
        plan_jobs(plan, ["a"], schedule="x")
    with pytest.raises(ValueError, match="at least 1"):
        plan_jobs(plan, ["a"], limit=0)
    with pytest.raises(ValueError, match="zzz"):
        plan_jobs(plan, ["a", "zzz"])
