"""Whatever a plan file holds, loading it gives a Plan or a PlanError: never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest
import yaml

from pytest_delegation.plan import positions as source
from pytest_delegation.plan.model import PLAN_KEYS
from pytest_delegation.plan.model import TASK_KEYS
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.waves import compute_waves


FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID = """\
version: 1
max_parallel: 3
shared:
  - lib/contracts.py
tasks:
  user-model:
    role: code-writer
    description: Implement the User model
    files: [shop/models/user.py]
    tests: [tests/models/test_user.py]
  product-model:
    role: code-writer
    files: [shop/models/product.py]
  order-model:
    role: code-writer
    files: [shop/models/order.py]
    depends_on: [user-model, product-model]
    wave: 3
  docs:
    role: documentation
    files: [README.md, docs/**]
    no_tests: prose only
  review:
    role: code-reviewer
    depends_on:
      - order-model
    resources: [database]
"""
VALID_DATA: dict[str, Any] = yaml.safe_load(VALID)
TASK_IDS = list(VALID_DATA["tasks"])


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "delegation.yaml"


def check(load: Any) -> None:
    """`load()` gives a Plan or a PlanError; a Plan gives waves or a PlanError."""
    try:
        plan = load()
    except PlanError as exc:
        assert exc.problems, "a PlanError must carry at least one problem"
        assert str(exc).startswith("the delegation plan has ")
        return
    assert isinstance(plan, Plan)
    try:
        waves = compute_waves(plan)
    except PlanError as exc:
        assert exc.problems
        return
    check_waves(plan, waves)


def check_waves(plan: Plan, waves: tuple[tuple[str, ...], ...]) -> None:
    placed = [task_id for wave in waves for task_id in wave]
    assert sorted(placed) == sorted(plan.tasks), "every task in exactly one wave"
    assert all(waves), "no empty wave"
    plan.freeze(waves)
    for task in plan.tasks.values():
        for dep in task.depends_on:
            assert plan.wave_of(dep) < plan.wave_of(task.id)


def load_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    check(lambda: load_plan(path))


def load_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    check(lambda: load_plan(path))


# -- (a) arbitrary input -----------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from([*TASK_IDS, *PLAN_KEYS, *TASK_KEYS, "..", "../x", "/", "!", "*", "yes"]),
)
keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from([*PLAN_KEYS, *TASK_KEYS, *TASK_IDS, "<<"]),
    st.integers(min_value=-5, max_value=5),
    st.booleans(),
)
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=25,
)
plan_like = st.fixed_dictionaries(
    {},
    optional={
        "version": nested,
        "max_parallel": nested,
        "shared": nested,
        "tasks": st.one_of(
            nested,
            st.dictionaries(
                st.one_of(st.sampled_from(TASK_IDS), st.text(max_size=8)),
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {},
                        optional={
                            key: st.one_of(
                                nested,
                                st.lists(st.sampled_from(TASK_IDS), max_size=3),
                                st.integers(min_value=-1, max_value=6),
                            )
                            for key in TASK_KEYS
                        },
                    ),
                ),
                max_size=6,
            ),
        ),
    },
)


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text(plan_file: Path, text: str) -> None:
    load_text(plan_file, text)


@FUZZ
@given(
    text=st.lists(
        st.sampled_from(
            [
                "tasks:",
                "  a:",
                "  b:",
                "    depends_on: [a]",
                "    depends_on: [b]",
                "    wave: 2",
                "    files: [x.py]",
                "- x",
                "  - y",
                "&a",
                "*a",
                "<<: *a",
                "? x",
                ": y",
                "---",
                "...",
                "!!int x",
                "%YAML 1.1",
                "{",
                "[",
                "'",
                '"',
                "#",
                "\t",
                "yes: no",
                "a: &a {b: *a}",
                "    <<: [*a]",
                "  c: &a",
            ]
        ),
        max_size=12,
    ).map("\n".join)
)
def test_yamlish_text(plan_file: Path, text: str) -> None:
    load_text(plan_file, text)


@FUZZ
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes(plan_file: Path, data: bytes) -> None:
    load_bytes(plan_file, data)


@FUZZ
@given(data=st.one_of(nested, plan_like), flow=st.booleans())
def test_arbitrary_yaml_data(plan_file: Path, data: object, flow: bool) -> None:
    load_text(plan_file, yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True))


@FUZZ
@given(data=plan_like)
def test_arbitrary_dicts(plan_file: Path, data: dict[str, Any]) -> None:
    check(lambda: plan_from_dict(data, plan_file))


# -- (b) mutations of a valid plan ---------------------------------------------------------


def test_the_valid_plan_is_valid(plan_file: Path) -> None:
    plan_file.write_text(VALID, encoding="utf-8")
    plan = load_plan(plan_file)
    waves = compute_waves(plan)
    assert waves == (
        ("docs", "product-model", "user-model"),
        ("order-model",),
        ("review",),
    )


def places(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every container entry in `data`."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from places(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from places(value, (*prefix, index))


def parent(data: Any, place: tuple[Any, ...]) -> Any:
    for step in place[:-1]:
        data = data[step]
    return data


def copy_of(data: Any) -> Any:
    loaded = yaml.safe_load(yaml.safe_dump(data))
    return loaded


@st.composite
def mutated_data(draw: st.DrawFn) -> Any:
    data = copy_of(VALID_DATA)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        spots = list(places(data))
        if not spots:
            break
        place = draw(st.sampled_from(spots))
        holder = parent(data, place)
        key = place[-1]
        action = draw(
            st.sampled_from(["delete", "rename", "retype", "depends", "wave", "duplicate"])
        )
        if action == "delete":
            del holder[key]
        elif action == "rename" and isinstance(holder, dict):
            new = draw(st.one_of(st.sampled_from([*PLAN_KEYS, *TASK_KEYS, *TASK_IDS]), keys))
            holder[new] = holder.pop(key)
        elif action == "retype":
            holder[key] = draw(nested)
        elif action == "depends":
            tasks = data.get("tasks") if isinstance(data, dict) else None
            if isinstance(tasks, dict) and tasks:
                victim = draw(st.sampled_from(sorted(tasks, key=str)))
                body = tasks[victim]
                if isinstance(body, dict):
                    body["depends_on"] = draw(
                        st.lists(
                            st.one_of(st.sampled_from(TASK_IDS), st.text(max_size=6)),
                            max_size=4,
                        )
                    )
        elif action == "wave":
            tasks = data.get("tasks") if isinstance(data, dict) else None
            if isinstance(tasks, dict) and tasks:
                victim = draw(st.sampled_from(sorted(tasks, key=str)))
                if isinstance(tasks[victim], dict):
                    tasks[victim]["wave"] = draw(st.integers(min_value=-1, max_value=6))
        elif action == "duplicate" and isinstance(holder, list):
            holder.append(holder[key])
    return data


@FUZZ
@given(data=mutated_data())
def test_mutated_data(plan_file: Path, data: Any) -> None:
    load_text(plan_file, yaml.safe_dump(data, sort_keys=False))
    if isinstance(data, dict):
        check(lambda: plan_from_dict(data, plan_file))


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        if not lines:
            break
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(
            st.sampled_from(["remove", "duplicate", "indent", "dedent", "swap", "replace", "id"])
        )
        line = lines[index]
        if action == "remove":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)  # duplicate keys, duplicate task ids
        elif action == "indent":
            lines[index] = " " * draw(st.integers(min_value=1, max_value=4)) + line
        elif action == "dedent":
            lines[index] = line.lstrip()
        elif action == "swap":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], line
        elif action == "replace":
            value = draw(
                st.sampled_from(["", "[]", "{}", "x", "0", "~", "*a", "&a x", "[a", "yes"])
            )
            lines[index] = line.split(":", 1)[0] + ": " + value
        elif action == "id":
            lines[index] = line.replace(
                draw(st.sampled_from(TASK_IDS)), draw(st.sampled_from([*TASK_IDS, "X Y", ""]))
            )
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=mutated_text())
def test_mutated_text(plan_file: Path, text: str) -> None:
    load_text(plan_file, text)


@FUZZ
@given(
    edges=st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from("abcdefg")), max_size=12),
    waves=st.dictionaries(st.sampled_from("abcdef"), st.integers(min_value=1, max_value=8)),
)
def test_random_graphs(
    plan_file: Path, edges: list[tuple[str, str]], waves: dict[str, int]
) -> None:
    """Random dependencies, incl. unknown ids and cycles: waves or a PlanError that says so."""
    bodies: dict[str, dict[str, Any]] = {name: {} for name in "abcdef"}
    for name, dep in edges:
        bodies[name].setdefault("depends_on", []).append(dep)
    for name, wave in waves.items():
        bodies[name]["wave"] = wave
    plan = plan_from_dict({"tasks": bodies}, plan_file)
    try:
        result = compute_waves(plan)
    except PlanError as exc:
        text = str(exc)
        has_unknown = any(dep == "g" for _, dep in edges)
        assert ("unknown task 'g'" in text) == has_unknown
        assert has_unknown or "dependency cycle" in text or "asks for wave" in text
        return
    check_waves(plan, result)
    first_is_taken = any(not t.depends_on and (t.wave or 1) == 1 for t in plan.tasks.values())
    for task_id, task in plan.tasks.items():
        if not task.depends_on:
            # a root sits where it asks to be, relative to the other roots
            assert plan.wave_of(task_id) == 1 or task.wave is not None
        if task.wave is not None and task.wave > 1 and first_is_taken:
            assert plan.wave_of(task_id) > 1, "an explicit wave delays a task"
        for other_id, other in plan.tasks.items():
            if not other.depends_on and task.wave and (other.wave or 1) < task.wave:
                assert plan.wave_of(other_id) < plan.wave_of(task_id)


# -- (c) libyaml reads what PyYAML reads -------------------------------------------------------
# pytest_delegation.plan.positions lets libyaml read a plan, outside a few features, and PyYAML
# word every problem: the plan, its lines and its problems must not depend on the loader


def tree_of(node: source.Node | None) -> object:
    if isinstance(node, source.Map):
        return {key: (line, tree_of(value)) for key, (line, value) in node.items.items()}
    if isinstance(node, source.Seq):
        return (node.line, [tree_of(item) for item in node.items])
    if isinstance(node, source.Scalar):
        return (node.line, type(node.value).__name__, node.value)
    return None


YAML_BITS = [
    *("tasks:", "  a:", "  b:", "    depends_on: [a]", "    wave: 2", "    files: [x.py]"),
    *("- x", "  - y", "&a", "*a", "<<: *a", "? x", ": y", "---", "...", "!!int x", "!"),
    *("%YAML 1.1", "{", "[", "'", '"', "#", "\t", "yes: no", "a: &a {b: *a}", "  c: &a"),
    *("a: b: c", "a:b", "[a:b]", "{a:b}", "- - a", "? - a", "a: |", "  text", "a: >-"),
    *("\u2028", "\x85", "\ufeff", "a: 'x", " y'", 'a: "x\\', ' y"', "a: 2001-01-01"),
    *("a: 0o17", "a: .inf", "a: ~", "a:", "-", "  -", "", "a: [b,", " c]", "a: x # y"),
    *("[a, b]: c", "a: @", "a: `", "a: b\r", "\r", "on: off", "a: 1_000", "a: !!str"),
]
yaml_texts = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda lines, end: "\n".join(lines) + end,
        st.lists(st.sampled_from(YAML_BITS), max_size=12),
        st.sampled_from(["", "\n", "\n\n", "\r\n"]),
    ),
    st.lists(st.sampled_from([*YAML_BITS, *" -?:,[]{}#&*!|>'\"%\n\tab"]), max_size=30).map(
        "".join
    ),
    st.builds(
        lambda data, flow, width: yaml.safe_dump(
            data, default_flow_style=flow, allow_unicode=True, width=width
        ),
        st.one_of(nested, plan_like),
        st.booleans(),
        st.sampled_from([None, 20]),
    ),
)


@pytest.mark.skipif(source.FAST_LOADER is None, reason="PyYAML without libyaml")
@settings(FUZZ, max_examples=400)
@given(text=yaml_texts)
def test_libyaml_reads_as_pyyaml(text: str) -> None:
    tree, problems = source.read_yaml(text, "delegation.yaml")
    slow_tree, slow_problems = source._read_yaml(text, "delegation.yaml", yaml.SafeLoader)
    assert (tree_of(tree), problems) == (tree_of(slow_tree), slow_problems)


# -- (d) what issue 10 found: numbers too big to layer, thousands of unknown ids, blanks --------
# each a PlanError with its problems, never another exception, and in well under a second
# (the deadlines): `wave: 1000000000` was a MemoryError, 5,000 unknown ids took over 300 s

QUICK = settings(
    max_examples=100,
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
huge_integers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=9_990, max_value=10_010),
    st.sampled_from([10**8, 10**9, 2**63 - 1, 2**63, 2**64 + 1, 10**4000, -(10**4000)]),
)


def expect_problems(load: Any, fragment: str) -> PlanError:
    """`load()` (and the waves of its plan) must raise a PlanError mentioning `fragment`."""
    try:
        plan = load()
        compute_waves(plan)
    except PlanError as exc:
        assert exc.problems
        assert fragment in str(exc), str(exc)
        return exc
    raise AssertionError(f"no PlanError about {fragment!r}")


@QUICK
@given(wave=huge_integers, max_parallel=huge_integers, flow=st.booleans())
def test_huge_wave_and_max_parallel(
    plan_file: Path, wave: int, max_parallel: int, flow: bool
) -> None:
    data = {
        "max_parallel": max_parallel,
        "tasks": {"a": {"wave": wave}, "b": {"depends_on": ["a"]}},
    }
    plan_file.write_text(yaml.safe_dump(data, default_flow_style=flow), encoding="utf-8")
    for load in (lambda: load_plan(plan_file), lambda: plan_from_dict(data, plan_file)):
        if not 1 <= wave <= 10_000:
            expect_problems(load, "'wave' must be at ")
        elif max_parallel < 1:
            expect_problems(load, "'max_parallel' must be at least 1")
        else:
            check(load)


@QUICK
@given(
    wave=st.one_of(huge_integers, st.sampled_from([10**5000, -(10**5000)])),
    number=st.sampled_from(["wave", "max_parallel", "version", "role", "files"]),
)
def test_integers_python_cannot_print(plan_file: Path, wave: int, number: str) -> None:
    """From a hook, past what YAML reads: 10**5000 has more digits than str() prints."""
    data: dict[str, Any] = {"tasks": {"a": {"wave": 1}}}
    if number in ("max_parallel", "version"):
        data[number] = wave
    else:
        data["tasks"]["a"][number] = wave
    check(lambda: plan_from_dict(data, plan_file))
    plan = Plan(path=plan_file)
    plan.add_task(Task(id="a", wave=wave))
    check(lambda: plan)


@settings(QUICK, max_examples=20, deadline=timedelta(seconds=2))
@given(
    tasks=st.one_of(st.integers(min_value=1, max_value=60), st.integers(2000, 3000)),
    unknown=st.one_of(st.integers(min_value=0, max_value=120), st.integers(4000, 6000)),
    suffix=st.sampled_from(["x", "-x", "", "-model", "zz"]),
    with_text=st.booleans(),
)
def test_many_unknown_dependencies(
    plan_file: Path, tasks: int, unknown: int, suffix: str, with_text: bool
) -> None:
    """Each task depends on misspellings of the ids: at most 50 listed, every one counted."""
    ids = [f"task-{i}" for i in range(tasks)]
    depends: dict[str, list[str]] = {task_id: [] for task_id in ids}
    for n in range(unknown):
        depends[ids[n % tasks]].append(f"task-{n}{suffix}" if suffix else f"gone-{n}")
    # a misspelling that is an id is a dependency, maybe a cycle: not counted as unknown
    missing = sum(1 for deps in depends.values() for dep in deps if dep not in depends)
    if with_text:
        lines = [
            f"  {task_id}: {{depends_on: [{', '.join(deps)}]}}"
            for task_id, deps in depends.items()
        ]
        plan_file.write_text("tasks:\n" + "\n".join(lines) + "\n", encoding="utf-8")
        load: Any = lambda: load_plan(plan_file)  # noqa: E731
    else:
        data = {"tasks": {task_id: {"depends_on": deps} for task_id, deps in depends.items()}}
        load = lambda: plan_from_dict(data, plan_file)  # noqa: E731
    if not missing:
        check(load)
        return
    error = expect_problems(load, "depends on unknown task")
    listed = [p for p in error.problems if "depends on unknown task" in p.message]
    assert len(listed) == min(missing, 50)
    more = [p for p in error.problems if p.message.startswith("... and ")]
    assert [p.count for p in more] == ([missing - 50] if missing > 50 else [])
    assert sum(p.count for p in error.problems) == len(error.problems) + sum(
        p.count - 1 for p in more
    )


blanks = st.text(alphabet=" \u3000\xa0", max_size=4)


@QUICK
@given(
    key=st.sampled_from(["files", "tests", "shared", "depends_on", "resources"]),
    blank=blanks,
    others=st.lists(st.sampled_from(["a.py", "docs/**", "!old.md"]), max_size=2),
    single=st.booleans(),
)
def test_blank_entries(
    plan_file: Path, key: str, blank: str, others: list[str], single: bool
) -> None:
    """A pattern (or id, or resource) of nothing but whitespace: an empty one, on its line."""
    value: Any = blank if single else [*others, blank]
    data: dict[str, Any] = {"tasks": {"a": {}}}
    if key == "shared":
        data["shared"] = value
    else:
        data["tasks"]["a"][key] = value
    plan_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    error = expect_problems(lambda: load_plan(plan_file), f"'{key}' has an empty ")
    empty = [p for p in error.problems if "has an empty" in p.message]
    assert empty and all(p.line is not None for p in empty)
    expect_problems(lambda: plan_from_dict(data, plan_file), f"'{key}' has an empty ")
