"""Which task each test belongs to: markers first, then the plan's `tests:` selectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pathspec

from pytest_delegation.collect.mapping import Selectors
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.collect.mapping import assign
from pytest_delegation.collect.mapping import plan_folder
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.patterns import _for_spec
from pytest_delegation.plan.patterns import relative_to
from pytest_delegation.plan.waves import compute_waves


def make_plan(tasks: dict[str, Any], path: Path = Path("/project/delegation.yaml")) -> Plan:
    plan = plan_from_dict({"tasks": tasks}, path)
    plan.freeze(compute_waves(plan))
    return plan


def ref(nodeid: str, *marked: str) -> TestRef:
    return TestRef(nodeid, nodeid.split("::", 1)[0], tuple(marked))


def test_marker_wins_over_selectors() -> None:
    plan = make_plan({"a": {"tests": ["tests/test_a.py"]}, "b": {}})
    result = assign([ref("tests/test_a.py::test_x", "b")], plan, "")
    assert result.task_of == {"tests/test_a.py::test_x": "b"}
    assert result.by_task == {"a": [], "b": ["tests/test_a.py::test_x"]}
    assert result.ambiguous == {}
    assert result.untagged == []


def test_the_same_task_marked_twice_is_not_ambiguous() -> None:
    plan = make_plan({"a": {}, "b": {}})
    result = assign([ref("t.py::test_x", "a", "a")], plan, "")
    assert result.task_of == {"t.py::test_x": "a"}
    assert result.ambiguous == {}


def test_selector_by_file() -> None:
    plan = make_plan({"a": {"tests": ["tests/test_a.py"]}, "b": {"tests": ["tests/test_b.py"]}})
    result = assign(
        [ref("tests/test_a.py::test_one"), ref("tests/test_b.py::T::test_two")], plan, ""
    )
    assert result.task_of == {
        "tests/test_a.py::test_one": "a",
        "tests/test_b.py::T::test_two": "b",
    }


def test_selector_by_directory_covers_nested_files_only() -> None:
    plan = make_plan({"models": {"tests": ["tests/models/"]}, "api": {"tests": ["tests/api"]}})
    result = assign(
        [
            ref("tests/models/test_user.py::test_create"),
            ref("tests/models/deep/test_x.py::test_y"),
            ref("tests/api/test_get.py::test_get"),
            ref("tests/models_extra/test_z.py::test_z"),
            ref("tests/test_models.py::test_q"),
        ],
        plan,
        "",
    )
    assert result.by_task == {
        "models": [
            "tests/models/test_user.py::test_create",
            "tests/models/deep/test_x.py::test_y",
        ],
        "api": ["tests/api/test_get.py::test_get"],
    }
    assert result.untagged == [
        "tests/models_extra/test_z.py::test_z",
        "tests/test_models.py::test_q",
    ]


def test_selector_by_glob() -> None:
    plan = make_plan(
        {
            "unit": {"tests": ["tests/unit/test_*.py"]},
            "docs": {"tests": ["README.md", "*.rst"]},
        }
    )
    result = assign(
        [
            ref("tests/unit/test_a.py::test_a"),
            ref("tests/unit/sub/test_b.py::test_b"),
            ref("README.md::README.md"),
            ref("pkg/README.md::README.md"),
            ref("docs/guide.rst::guide.rst"),
        ],
        plan,
        "",
    )
    assert result.task_of == {
        "tests/unit/test_a.py::test_a": "unit",
        "README.md::README.md": "docs",
        "pkg/README.md::README.md": "docs",  # a name without a slash matches at any depth
        "docs/guide.rst::guide.rst": "docs",
    }
    assert result.untagged == ["tests/unit/sub/test_b.py::test_b"]


def test_anchored_file_selector_does_not_match_deeper() -> None:
    plan = make_plan({"a": {"tests": ["/test_top.py"]}})
    result = assign([ref("test_top.py::t"), ref("sub/test_top.py::t")], plan, "")
    assert result.task_of == {"test_top.py::t": "a"}
    assert result.untagged == ["sub/test_top.py::t"]


def test_selector_by_node_id_prefix() -> None:
    plan = make_plan(
        {
            "one": {"tests": ["tests/test_x.py::test_x"]},
            "cls": {"tests": ["tests/test_x.py::TestGroup"]},
        }
    )
    result = assign(
        [
            ref("tests/test_x.py::test_x"),
            ref("tests/test_x.py::test_x[1]"),
            ref("tests/test_x.py::test_x[a-b]"),
            ref("tests/test_x.py::test_xy"),
            ref("tests/test_x.py::TestGroup::test_m"),
            ref("tests/test_x.py::TestGroup::test_m[2]"),
            ref("tests/test_x.py::TestGroupTwo::test_m"),
        ],
        plan,
        "",
    )
    assert result.by_task == {
        "one": [
            "tests/test_x.py::test_x",
            "tests/test_x.py::test_x[1]",
            "tests/test_x.py::test_x[a-b]",
        ],
        "cls": ["tests/test_x.py::TestGroup::test_m", "tests/test_x.py::TestGroup::test_m[2]"],
    }
    assert result.untagged == [
        "tests/test_x.py::test_xy",
        "tests/test_x.py::TestGroupTwo::test_m",
    ]


def test_plan_in_a_subfolder_of_rootdir(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    plan = make_plan(
        {
            "a": {"tests": ["tests/test_a.py"]},
            "b": {"tests": ["tests/test_b.py::test_one"]},
            "c": {"tests": ["tests/sub/"]},
            "d": {"tests": ["test_d*.py"]},
        },
        path=tmp_path / "pkg" / "delegation.yaml",
    )
    folder = plan_folder(plan, tmp_path)
    assert folder == "pkg"
    result = assign(
        [
            ref("pkg/tests/test_a.py::test_a"),
            ref("pkg/tests/test_b.py::test_one[x]"),
            ref("pkg/tests/sub/test_c.py::test_c"),
            ref("pkg/test_d1.py::test_d"),
            ref("tests/test_a.py::test_a"),  # rootdir/tests: not the plan's tests/
            ref("test_d1.py::test_d"),  # outside the plan's folder
        ],
        plan,
        folder,
    )
    assert result.task_of == {
        "pkg/tests/test_a.py::test_a": "a",
        "pkg/tests/test_b.py::test_one[x]": "b",
        "pkg/tests/sub/test_c.py::test_c": "c",
        "pkg/test_d1.py::test_d": "d",
    }
    assert result.untagged == ["tests/test_a.py::test_a", "test_d1.py::test_d"]


def test_plan_folder(tmp_path: Path) -> None:
    plan = make_plan({"a": {}}, path=tmp_path / "delegation.yaml")
    assert plan_folder(plan, tmp_path) == ""
    deep = make_plan({"a": {}}, path=tmp_path / "x" / "y" / "delegation.yaml")
    assert plan_folder(deep, tmp_path) == "x/y"
    outside = make_plan({"a": {}}, path=tmp_path.parent / "delegation.yaml")
    folder = plan_folder(outside, tmp_path)
    assert Selectors(outside, folder).tasks_for(ref("a.py::t")) == ()


def test_two_selectors_make_a_test_ambiguous_in_plan_order() -> None:
    plan = make_plan(
        {
            "later": {"tests": ["tests/"], "depends_on": ["first"]},
            "first": {"tests": ["tests/test_a.py::test_a"]},
            "other": {"tests": ["tests/test_b.py"]},
        }
    )
    result = assign([ref("tests/test_a.py::test_a"), ref("tests/test_b.py::test_b")], plan, "")
    # ambiguous tests run with the task of the earliest wave
    assert result.ambiguous == {
        "tests/test_a.py::test_a": ("first", "later"),
        "tests/test_b.py::test_b": ("other", "later"),
    }
    assert result.task_of == {
        "tests/test_a.py::test_a": "first",
        "tests/test_b.py::test_b": "other",
    }
    assert result.by_task["later"] == []


def test_two_markers_make_a_test_ambiguous() -> None:
    plan = make_plan({"a": {}, "b": {}})
    result = assign([ref("t.py::test", "b", "a")], plan, "")
    assert result.ambiguous == {"t.py::test": ("a", "b")}
    assert result.task_of == {"t.py::test": "a"}


def test_one_task_selecting_a_test_twice_is_not_ambiguous() -> None:
    plan = make_plan({"a": {"tests": ["tests/", "tests/test_a.py", "tests/test_a.py::t", "*.py"]}})
    result = assign([ref("tests/test_a.py::t")], plan, "")
    assert result.task_of == {"tests/test_a.py::t": "a"}
    assert result.ambiguous == {}


def test_untagged_tests_keep_their_order() -> None:
    plan = make_plan({"a": {"tests": ["tests/test_a.py"]}})
    refs = [ref("z.py::t"), ref("tests/test_a.py::t"), ref("b.py::t")]
    result = assign(refs, plan, "")
    assert result.untagged == ["z.py::t", "b.py::t"]
    assert result.by_task == {"a": ["tests/test_a.py::t"]}


def test_unfrozen_plan_orders_ambiguity_by_plan_order() -> None:
    plan = plan_from_dict(
        {"tasks": {"zz": {"tests": ["t.py"]}, "aa": {"tests": ["t.py"]}}},
        Path("/p/delegation.yaml"),
    )
    assert assign([ref("t.py::x")], plan, "").ambiguous == {"t.py::x": ("zz", "aa")}


# -- glob selectors: the indexed lookup against asking every task ------------------------

SEGMENTS = ["tests", "unit", "a", "b", "test_a.py", "test_b.py", "*", "**", "test_*.py", "?"]
selector_text = st.builds(
    lambda lead, parts, tail: lead + "/".join(parts) + tail,
    st.sampled_from(["", "", "/", "./", "!", "**/", " "]),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3),
    st.sampled_from(["", "", "/", " "]),
)
test_path = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "", "./", "sub/"]),
    st.lists(st.sampled_from([s for s in SEGMENTS if "*" not in s]), min_size=1, max_size=4),
)


def slow_tasks(selectors: Selectors, path: str) -> tuple[str, ...]:
    """What `Selectors` gave before the index: every glob task asked, in plan order."""
    found: list[str] = []
    parts = path.split("/")
    for end in range(len(parts), 0, -1):
        found.extend(selectors.exact.get("/".join(parts[:end]), ()))
    for task_id, pattern_set in selectors.globs:
        spec = pathspec.GitIgnoreSpec.from_lines(_for_spec(p) for p in pattern_set.patterns)
        if spec.match_file(path):
            found.append(task_id)
    return tuple(dict.fromkeys(found))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(tasks=[["tests/**"], ["test_*.py"], ["/tests/a/"]], paths=["./tests/a/test_a.py"])
@given(
    tasks=st.lists(st.lists(selector_text, min_size=1, max_size=3), max_size=6),
    paths=st.lists(test_path, min_size=1, max_size=8),
)
def test_glob_selectors_match_as_asking_every_task(
    tasks: list[list[str]], paths: list[str]
) -> None:
    plan = Plan(path=Path("/project/delegation.yaml"))
    for number, tests in enumerate(tasks):
        plan.add_task(Task(id=f"t{number}", tests=tuple(tests)))
    for plan_dir in ("", "sub"):
        selectors = Selectors(plan, plan_dir)
        try:
            for path in paths:
                relative = relative_to(path, plan_dir)
                expected = () if relative is None else slow_tasks(selectors, relative)
                assert selectors.tasks_for(TestRef(f"{path}::t", path)) == expected, path
        except ValueError:  # pathspec's pattern errors: no plan gets past its check with one
            assume(False)
