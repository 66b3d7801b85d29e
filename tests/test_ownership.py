"""`Owners`: the one answer to "who owns this file" that every check asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.ownership import Owners


def make_plan(shared: tuple[str, ...] = (), **files: tuple[str, ...]) -> Plan:
    tasks = {name: Task(name, files=patterns) for name, patterns in files.items()}
    return Plan(path=Path("delegation.yaml"), tasks=tasks, shared=shared)


PLAN = make_plan(
    shared=("pkg/common/**", "pkg/both.py"),
    api=("pkg/api/**", "pkg/both.py", "*.cfg"),
    models=("pkg/models/", "!pkg/models/legacy.py", "*.cfg"),
    docs=("docs/*.md",),
    nothing=(),
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pkg/api/views.py", (False, ("api",))),
        ("pkg/models/user.py", (False, ("models",))),
        ("pkg/models/legacy.py", (False, ())),
        ("setup.cfg", (False, ("api", "models"))),
        ("pkg/api/deep/setup.cfg", (False, ("api", "models"))),
        ("pkg/common/util.py", (True, ())),
        ("pkg/both.py", (True, ())),
        ("docs/index.md", (False, ("docs",))),
        ("docs/deep/index.md", (False, ())),
        ("README.md", (False, ())),
    ],
)
def test_of_a_path_in_the_plans_folder(path: str, expected: tuple[bool, tuple[str, ...]]) -> None:
    assert Owners(PLAN).of(path) == expected


def test_of_takes_rootdir_relative_paths() -> None:
    owners = Owners(PLAN, "sub/project")
    assert owners.of("sub/project/pkg/api/views.py") == (False, ("api",))
    assert owners.of("sub/project/pkg/common/util.py") == (True, ())
    assert owners.of("pkg/api/views.py") is None
    assert owners.of("sub/projectile/pkg/api/views.py") is None
    assert owners.relative("sub/project/docs/a.md") == "docs/a.md"
    assert owners.relative("elsewhere/docs/a.md") is None


def test_a_plan_outside_rootdir_holds_no_rootdir_relative_path() -> None:
    # `plan_folder` gives a NUL-led folder for a plan outside rootdir
    owners = Owners(PLAN, "\0outside")
    assert owners.of("pkg/api/views.py") is None
    assert owners.of("\0outside") is None


def test_tasks_ignore_shared_and_owning_does_not() -> None:
    owners = Owners(PLAN)
    # a shared file a task also claims is still that task's code (it may import)
    assert owners.tasks("pkg/both.py") == ("api",)
    assert owners.shares("pkg/both.py")
    assert owners.owning("pkg/both.py") == ()
    assert owners.owning("pkg/api/views.py") == ("api",)
    assert owners.tasks("pkg/common/util.py") == ()


def test_owns_asks_one_task() -> None:
    owners = Owners(PLAN)
    assert owners.owns("api", "pkg/api/views.py")
    assert not owners.owns("models", "pkg/api/views.py")
    assert not owners.owns("models", "pkg/models/legacy.py")
    assert not owners.owns("nothing", "pkg/api/views.py")


def test_sets_and_index_in_plan_order() -> None:
    owners = Owners(PLAN)
    assert list(owners.sets) == ["api", "models", "docs", "nothing"]
    assert owners.sets["models"].patterns == ("pkg/models/", "!pkg/models/legacy.py", "*.cfg")
    paths = ["setup.cfg", "pkg/api/a.py", "pkg/models/b.py", "docs/c.md", "pkg/both.py", "x"]
    for path in paths:
        expected = [t for t, patterns in owners.sets.items() if patterns.matches(path)]
        assert owners.index.matching(path) == expected


def test_among_indexes_some_tasks_in_the_order_given() -> None:
    owners = Owners(PLAN)
    index = owners.among(["models", "api"])
    assert index.matching("setup.cfg") == ["models", "api"]
    assert index.matching("docs/a.md") == []
