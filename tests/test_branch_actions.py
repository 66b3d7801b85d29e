"""Each task's action after a batch, and which branch each task has: the pure rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_delegation.branches.actions import TaskState
from pytest_delegation.branches.actions import decide
from pytest_delegation.branches.targets import base_ref
from pytest_delegation.branches.targets import branch_names
from pytest_delegation.branches.targets import enabled
from pytest_delegation.branches.targets import template_problem
from pytest_delegation.options import Settings
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.report.model import Failure
from pytest_delegation.vocab import Action
from pytest_delegation.vocab import Status


def make_plan(**depends: tuple[str, ...]) -> Plan:
    plan = Plan(path=Path("delegation.yaml"))
    for task_id, deps in depends.items():
        plan.add_task(Task(task_id, depends_on=deps))
    waves: list[tuple[str, ...]] = []
    placed: set[str] = set()
    while len(placed) < len(plan.tasks):
        wave = tuple(
            t
            for t, task in plan.tasks.items()
            if t not in placed and set(task.depends_on) <= placed
        )
        waves.append(wave)
        placed.update(wave)
    plan.freeze(tuple(waves))
    return plan


def passed(**kw: object) -> TaskState:
    return TaskState(status=Status.PASSED, has_branch=True, **kw)  # type: ignore[arg-type]


def test_clean_work_is_accepted() -> None:
    actions = decide(make_plan(a=(), b=()), {"a": passed(), "b": passed()})
    assert {t: a.action for t, a in actions.items()} == {"a": Action.ACCEPT, "b": Action.ACCEPT}
    assert "merged cleanly" in actions["a"].reason


def test_a_failure_on_its_branch_is_a_retry_with_its_output() -> None:
    failure = Failure("tests/test_a.py::test_x", "failed", "assert 41 == 42")
    state = TaskState(status=Status.FAILED, has_branch=True, failures=(failure,))
    (action,) = decide(make_plan(a=()), {"a": state}).values()
    assert action.action == Action.RETRY
    assert action.failures == (failure,)
    assert action.reason == "1 test failed on its branch"


def test_a_crash_is_a_retry_too() -> None:
    state = TaskState(status=Status.ERROR, has_branch=True)
    (action,) = decide(make_plan(a=()), {"a": state}).values()
    assert action.action == Action.RETRY and "ended error" in action.reason


def test_out_of_bounds_is_a_retry_naming_the_files() -> None:
    state = passed(out_of_bounds=("pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"))
    (action,) = decide(make_plan(s=()), {"s": state}).values()
    assert action.action == Action.RETRY
    assert "pkg/a.py, pkg/b.py, pkg/c.py and 1 more" in action.reason


def test_a_dependent_of_a_task_not_accepted_is_blocked_transitively() -> None:
    plan = make_plan(a=(), b=("a",), c=("b",))
    failed = TaskState(status=Status.FAILED, has_branch=True)
    actions = decide(plan, {"a": failed, "b": passed(), "c": passed()})
    assert actions["a"].action == Action.RETRY
    assert actions["b"].action == Action.BLOCKED and actions["b"].with_tasks == ("a",)
    assert actions["c"].action == Action.BLOCKED and actions["c"].with_tasks == ("b",)


def test_its_own_failure_beats_a_blocked_dependency() -> None:
    """A retry is needed anyway: the orchestrator should know now, not after the wait."""
    plan = make_plan(a=(), b=("a",))
    failed = TaskState(status=Status.FAILED, has_branch=True)
    actions = decide(plan, {"a": failed, "b": TaskState(status=Status.FAILED, has_branch=True)})
    assert actions["b"].action == Action.RETRY


def test_a_textual_conflict_names_the_other_task_and_files() -> None:
    state = passed(conflicts={"left": ("NOTES.md",)})
    actions = decide(make_plan(left=(), right=()), {"left": passed(), "right": state})
    assert actions["left"].action == Action.ACCEPT
    assert actions["right"].action == Action.CONFLICT
    assert actions["right"].with_tasks == ("left",)
    assert "NOTES.md" in actions["right"].reason


def test_the_branch_whose_merge_breaks_another_is_the_conflict() -> None:
    """The task whose tests broke keeps its accept: the culprit's merge was left out."""
    states = {
        "limit": passed(breaks={"gamma": ("tests/test_gamma.py::test_gamma",)}),
        "gamma": passed(broken_by={"limit": ("tests/test_gamma.py::test_gamma",)}),
    }
    actions = decide(make_plan(limit=(), gamma=()), states)
    assert actions["limit"].action == Action.CONFLICT
    assert actions["limit"].with_tasks == ("gamma",)
    assert "breaks 1 test of 'gamma'" in actions["limit"].reason


def test_a_merge_failure_without_culprit_is_a_conflict_with_nobody() -> None:
    state = passed(merge_failures=("t::x", "t::y"))
    (action,) = decide(make_plan(a=()), {"a": state}).values()
    assert action.action == Action.CONFLICT and action.with_tasks == ()
    assert "2 tests" in action.reason


def test_code_from_the_checkout_is_a_retry() -> None:
    (action,) = decide(make_plan(a=()), {"a": passed(outside=("src/pkg/m.py",))}).values()
    assert action.action == Action.RETRY and "src/pkg/m.py" in action.reason


def test_a_task_without_branch_is_judged_on_the_base() -> None:
    plan = make_plan(a=(), review=("a",))
    states = {"a": passed(), "review": TaskState(status=Status.PASSED)}
    actions = decide(plan, states)
    assert actions["review"].action == Action.ACCEPT
    assert "on the base" in actions["review"].reason
    states["review"] = TaskState(status=Status.FAILED)
    assert decide(plan, states)["review"].reason == "it ended failed on the base"


def test_actions_come_in_plan_order() -> None:
    plan = make_plan(z=(), a=("z",))
    assert list(decide(plan, {"a": passed(), "z": passed()})) == ["z", "a"]


def settings(**kw: object) -> Settings:
    base: dict[str, object] = dict(
        reports=(), plan=None, plan_from_ini=False, workers="auto", retries=1, timeout=None,
        schedule="waves", checks=(), fail_on="error", tasks=(), ignore=(),
    )  # fmt: skip
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def test_a_task_branch_beats_the_template() -> None:
    plan = plan_from_dict(
        {
            "branches": "agents/{task}",
            "base": "develop",
            "tasks": {"a": {}, "b": {"branch": "feature/b-work"}},
        },
        Path("delegation.yaml"),
    )
    assert branch_names(settings(), plan) == {"a": "agents/a", "b": "feature/b-work"}
    assert branch_names(settings(branches="bots/{task}"), plan)["a"] == "bots/a"
    assert base_ref(settings(), plan) == "develop"
    assert base_ref(settings(base="origin/main"), plan) == "origin/main"
    assert enabled(settings(), plan)


def test_without_branches_nothing_changes() -> None:
    plan = plan_from_dict({"tasks": {"a": {}}}, Path("delegation.yaml"))
    assert not enabled(settings(), plan)
    assert base_ref(settings(), plan) == "HEAD"
    assert branch_names(settings(), plan) == {}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"branches": "agents/"}, "a template with {task}"),
        ({"branches": "agents/{id}"}, "a template with {task}"),
        ({"base": "-main"}, "'base' must be a git branch or ref"),
        ({"base": "my main"}, "'base' must be a git branch or ref"),
    ],
)
def test_bad_branch_keys_are_plan_errors(data: dict[str, object], expected: str) -> None:
    with pytest.raises(PlanError) as info:
        plan_from_dict({**data, "tasks": {"a": {}}}, Path("delegation.yaml"))
    assert expected in str(info.value)


def test_a_bad_branch_key_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "delegation.yaml"
    path.write_text("tasks:\n  a:\n    branch: two words\n", encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert "delegation.yaml:3" in str(info.value) and "'branch' must be" in str(info.value)


def test_bad_template_option() -> None:
    assert template_problem("agents/{task}") is None
    problem = template_problem("agents/x")
    assert problem is not None and "--delegation-branches='agents/{task}'" in problem
