"""The schedule of worker runs: waves or DAG, priorities, retries, blocking. Pure logic."""

from __future__ import annotations

from pathlib import Path

from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves
from pytest_delegation.run.scheduler import Scheduler
from pytest_delegation.vocab import Status


def make(tasks: dict[str, list[str]], **kwargs: object) -> Scheduler:
    plan = plan_from_dict(
        {"tasks": {t: {"depends_on": deps} for t, deps in tasks.items()}}, Path("delegation.yaml")
    )
    plan.freeze(compute_waves(plan))
    runnable = kwargs.pop("runnable", list(tasks))
    return Scheduler(plan, runnable, **kwargs)  # type: ignore[arg-type]


DIAMOND = {"a": [], "b": [], "c": ["a"], "d": ["b", "c"]}


def test_waves_wait_for_the_whole_previous_wave() -> None:
    s = make(DIAMOND)
    assert sorted(s.ready()) == ["a", "b"]
    s.start("a")
    s.start("b")
    assert s.finish("a", Status.PASSED) == (False, [])
    assert s.ready() == []  # b, of wave 1, still runs
    s.finish("b", Status.PASSED)
    assert s.ready() == ["c"]
    s.start("c")
    s.finish("c", Status.PASSED)
    assert s.ready() == ["d"]
    s.start("d")
    s.finish("d", Status.PASSED)
    assert s.done
    assert s.final == {"a": "passed", "b": "passed", "c": "passed", "d": "passed"}


def test_dag_starts_a_task_once_its_own_dependencies_are_done() -> None:
    s = make(DIAMOND, mode="dag")
    s.start("a")
    s.start("b")
    s.finish("a", Status.PASSED)
    assert s.ready() == ["c"]  # b still runs, but c needs only a


def test_longest_chain_starts_first() -> None:
    s = make(
        {"short": [], "long": [], "next": ["long"]},
        estimates={"short": 5.0, "long": 2.0, "next": 4.0},
    )
    assert s.ready() == ["long", "short"]  # 2 + 4 > 5


def test_failure_is_retried_then_blocks_dependents_transitively() -> None:
    s = make(DIAMOND, retries=1)
    s.start("a")
    assert s.finish("a", Status.FAILED) == (True, [])
    assert sorted(s.ready()) == ["a", "b"]
    assert s.start("a") == 2
    retry, blocked = s.finish("a", Status.FAILED)
    assert not retry
    assert blocked == ["c", "d"]
    assert s.blocked_by == {"c": "a", "d": "a"}
    assert s.final["a"] == "failed"
    s.start("b")
    s.finish("b", Status.PASSED)
    assert s.done


def test_pass_on_retry_is_flaky_and_blocks_nothing() -> None:
    s = make(DIAMOND)
    s.start("a")
    s.finish("a", Status.FAILED)
    s.start("a")
    assert s.finish("a", Status.PASSED) == (False, [])
    assert s.final["a"] == "flaky"


def test_no_retries() -> None:
    s = make(DIAMOND, retries=0)
    s.start("b")
    assert s.finish("b", Status.FAILED) == (False, ["d"])


def test_errors_are_not_retried() -> None:
    s = make(DIAMOND, retries=3)
    s.start("a")
    assert s.finish("a", Status.ERROR) == (False, ["c", "d"])


def test_tasks_without_tests_do_not_hold_up_their_dependents() -> None:
    s = make(DIAMOND, runnable=["a", "d"], mode="dag")
    s.start("a")
    s.finish("a", Status.PASSED)
    assert s.ready() == ["d"]


def test_stop_drops_everything_not_started() -> None:
    s = make(DIAMOND)
    s.start("a")
    assert s.stop() == ["b", "c", "d"]
    s.finish("a", Status.PASSED)
    assert s.done


def test_an_upstream_failure_blocks_its_dependents_before_anything_starts() -> None:
    # c (here) needs a, which another CI job ran and failed; d needs c: both blocked,
    # and b, which needs nothing of a, still runs
    s = make(DIAMOND, runnable=["b", "c", "d"], upstream={"a": "a"})
    assert s.upfront == ["c", "d"]
    assert s.blocked_by == {"c": "a", "d": "a"}
    assert s.final == {"c": Status.BLOCKED, "d": Status.BLOCKED}
    assert s.ready() == ["b"]
    assert "depends on 'a', which failed" in s.blocked_reason("c")


def test_an_upstream_task_blocked_further_up_names_the_first_failure() -> None:
    s = make({"z": [], "a": ["z"], "c": ["a"]}, runnable=["c"], upstream={"a": "z"})
    assert s.blocked_by["c"] == "z"
    assert s.upfront == ["c"]
