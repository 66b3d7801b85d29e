"""Plan loading: the YAML file (or a dict) to a validated Plan, and every plan problem."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
import textwrap
import time
from typing import Any

import pytest
import yaml

from pytest_delegation.plan import positions as source
from pytest_delegation.plan.model import DEFAULT_MAX_PARALLEL
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import did_you_mean
from pytest_delegation.plan.waves import compute_waves


SPEC_EXAMPLE = """\
version: 1
max_parallel: 4              # most tasks at once in a wave (the default)
shared:                      # files every task may execute
  - shop/contracts.py
tasks:
  user-model:
    role: code-writer
    description: Implement the User model
    files: [shop/models/user.py]          # gitignore-style patterns
    tests: [tests/models/test_user.py]    # optional selectors, besides markers
  product-model:
    role: code-writer
    files: [shop/models/product.py]
  order-model:
    role: code-writer
    files: [shop/models/order.py]
    depends_on: [user-model, product-model]
  docs:
    role: documentation
    files: [README.md, docs/**]
    tests: [README.md]
  review:
    role: code-reviewer
    depends_on: [user-model, product-model, order-model]
    resources: [database]
"""


def write(tmp_path: Path, text: str, name: str = "delegation.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> PlanError:
    path = write(tmp_path, text)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value


def wave_error(tmp_path: Path, text: str) -> PlanError:
    """A plan that loads but whose task graph is wrong: compute_waves must refuse it."""
    plan = load_plan(write(tmp_path, text))
    with pytest.raises(PlanError) as info:
        compute_waves(plan)
    return info.value


def lines(error: PlanError) -> list[str]:
    return [str(problem) for problem in error.problems]


def only(error: PlanError) -> PlanProblem:
    assert len(error.problems) == 1, lines(error)
    return error.problems[0]


# -- valid plans -------------------------------------------------------------------------


def test_spec_example_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, SPEC_EXAMPLE)
    plan = load_plan(path)

    assert plan.path == path
    assert plan.base == tmp_path
    assert plan.version == 1
    assert plan.max_parallel == 4
    assert plan.shared == ("shop/contracts.py",)
    assert list(plan.tasks) == ["user-model", "product-model", "order-model", "docs", "review"]
    user = plan.tasks["user-model"]
    assert user == Task(
        id="user-model",
        role="code-writer",
        description="Implement the User model",
        files=("shop/models/user.py",),
        tests=("tests/models/test_user.py",),
        line=6,
    )
    assert plan.tasks["order-model"].depends_on == ("user-model", "product-model")
    assert plan.tasks["docs"].files == ("README.md", "docs/**")
    assert plan.tasks["docs"].tests == ("README.md",)
    review = plan.tasks["review"]
    assert review.resources == ("database",)
    assert review.verifies is True
    assert user.verifies is False
    # lines of the plan's keys and of the task keys/entries, for findings and graph errors
    assert plan.lines["max_parallel"] == 2
    assert plan.lines["tasks"] == 6
    assert plan.tasks["order-model"].positions["depends_on:product-model"] == 17
    assert review.positions["resources"] == 25
    assert plan.line_of("review") == 22
    assert plan.line_of("nope") is None
    assert plan.line_of(None) is None

    assert compute_waves(plan) == (
        ("docs", "product-model", "user-model"),
        ("order-model",),
        ("review",),
    )


def test_defaults_for_a_minimal_plan(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "tasks:\n  only: {}\n"))
    assert plan.version == 1
    assert plan.max_parallel == DEFAULT_MAX_PARALLEL == 4
    assert plan.shared == ()
    assert plan.waves == ()
    task = plan.tasks["only"]
    assert (task.role, task.description, task.files, task.tests) == ("", "", (), ())
    assert (task.depends_on, task.resources, task.wave, task.no_tests) == ((), (), None, None)
    assert task.line == 2


def test_a_single_string_is_accepted_for_a_list_field(tmp_path: Path) -> None:
    plan = load_plan(
        write(
            tmp_path,
            """
            shared: lib/contracts.py
            tasks:
              a:
                files: src/a.py
                tests: tests/test_a.py
                resources: database
              b:
                depends_on: a
            """,
        )
    )
    assert plan.shared == ("lib/contracts.py",)
    assert plan.tasks["a"].files == ("src/a.py",)
    assert plan.tasks["a"].tests == ("tests/test_a.py",)
    assert plan.tasks["a"].resources == ("database",)
    assert plan.tasks["b"].depends_on == ("a",)


def test_null_task_body_and_null_list_fields(tmp_path: Path) -> None:
    plan = load_plan(
        write(
            tmp_path,
            """
            tasks:
              bare:
              other:
                files:
                depends_on:
            """,
        )
    )
    assert plan.tasks["bare"] == Task(id="bare", line=2)
    assert plan.tasks["other"].files == ()
    assert plan.tasks["other"].depends_on == ()


def test_entries_are_stripped_and_duplicate_dependencies_collapse(tmp_path: Path) -> None:
    plan = load_plan(
        write(
            tmp_path,
            """
            tasks:
              a: {}
              b:
                depends_on: [a, " a ", a]
                files: ["  src/b.py  "]
                wave: 3
                no_tests: generated code
            """,
        )
    )
    b = plan.tasks["b"]
    assert b.depends_on == ("a",)
    assert b.files == ("src/b.py",)
    assert b.wave == 3
    assert b.no_tests == "generated code"
    assert b.positions["wave"] == 6


def test_numbers_are_accepted_as_text(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "tasks:\n  a:\n    description: 42\n    role: 1.5\n"))
    assert plan.tasks["a"].description == "42"
    assert plan.tasks["a"].role == "1.5"


def test_utf8_with_bom_and_non_ascii_text(tmp_path: Path) -> None:
    path = tmp_path / "delegation.yaml"
    path.write_bytes("\ufefftasks:\n  a:\n    description: café ☕\n".encode())
    assert load_plan(path).tasks["a"].description == "café ☕"


def test_yes_and_no_keys_are_words_not_booleans(tmp_path: Path) -> None:
    plan = load_plan(
        write(tmp_path, "tasks:\n  yes: {}\n  no: {}\n  on:\n    depends_on: 'yes'\n")
    )
    assert list(plan.tasks) == ["yes", "no", "on"]
    assert plan.tasks["on"].depends_on == ("yes",)
    # `[yes]` as a value is the boolean True: an entry of depends_on must be text
    error = load_error(tmp_path, "tasks:\n  yes: {}\n  on:\n    depends_on: [yes]\n")
    assert "delegation.yaml:4: every entry of 'depends_on' must be text, not a boolean" in lines(
        error
    )


def test_yaml_merge_keys(tmp_path: Path) -> None:
    plan = load_plan(
        write(
            tmp_path,
            """
            tasks:
              a: &writer
                role: code-writer
                resources: [database]
              b:
                <<: *writer
                files: [b.py]
              c:
                <<: *writer
                role: documentation
              d:
                <<: [{description: first}, {description: second, role: research}]
            """,
        )
    )
    assert plan.tasks["b"].role == "code-writer"
    assert plan.tasks["b"].resources == ("database",)
    assert plan.tasks["b"].files == ("b.py",)
    # an explicit key beats the merged one, whatever the order
    assert plan.tasks["c"].role == "documentation"
    assert plan.tasks["c"].resources == ("database",)
    # in a list of merged mappings, the first one wins
    assert plan.tasks["d"].description == "first"
    assert plan.tasks["d"].role == "research"


def test_merge_of_a_non_mapping_is_a_problem(tmp_path: Path) -> None:
    error = load_error(tmp_path, "tasks:\n  a:\n    <<: 1\n")
    assert str(only(error)) == "delegation.yaml:3: '<<' can only merge mappings"


# -- file problems -----------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "delegation.yaml"
    with pytest.raises(PlanError) as info:
        load_plan(path)
    problem = only(info.value)
    assert problem.source == str(path)
    assert problem.line is None
    assert f"looked for {path}" in problem.message
    assert "--delegation-plan" in problem.message
    assert str(info.value).startswith("the delegation plan has 1 problem:\n")


def test_unreadable_file_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "tasks:\n  a: {}\n")
    real_open = os.open

    def refuse(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(name) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, flags, *args, **kwargs)

    # as root, chmod would not stop the read: the refusal is the system's answer, faked
    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert str(only(info.value)) == (
        f"{path}: cannot be read: permission denied (on the file, or on a folder it is in); "
        "let this user read it (chmod), or give --delegation-plan (or the ini option "
        "delegation_plan) a readable copy"
    )


def test_a_folder_is_not_a_plan(tmp_path: Path) -> None:
    folder = tmp_path / "delegation.yaml"
    folder.mkdir()
    with pytest.raises(PlanError) as info:
        load_plan(folder)
    assert str(only(info.value)) == (
        f"{folder}: is a folder, not a plan file; give --delegation-plan (or the ini option "
        f"delegation_plan) the plan file's path, such as {folder / 'delegation.yaml'}"
    )


def test_non_utf8_bytes_point_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "delegation.yaml"
    path.write_bytes(b"tasks:\n  a:\n    description: caf\xe9\n")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert str(only(info.value)) == ("delegation.yaml:3: is not UTF-8 text; save it as UTF-8")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("tasks:\n  a: [1, 2\n  b: {}\n", 3, "expected ',' or ']', but got ':'"),
        ("tasks:\n  a:\n    role: x\n   bad: y\n", 4, "expected <block end>"),
        ("tasks:\n  a: {}\n\tb: {}\n", 3, "found character '\\t' that cannot start any token"),
        ("tasks:\n  a:\n    role: 'x\n", 4, "found unexpected end of stream"),
        ("tasks:\n  a:\n    <<: *nowhere\n", 3, "found undefined alias 'nowhere'"),
    ],
)
def test_invalid_yaml_syntax_points_at_the_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    problem = only(load_error(tmp_path, text))
    assert problem.line == line
    assert str(problem).startswith(f"delegation.yaml:{line}: invalid YAML: ")
    assert fragment in problem.message


def test_control_characters_are_invalid_yaml(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "tasks:\x00\n"))
    assert problem.message.startswith("invalid YAML: ")
    assert "#x0000" in problem.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    problem = only(load_error(tmp_path, text))
    assert str(problem) == "delegation.yaml: the plan is empty; it needs at least 'tasks:'"


def test_several_documents(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "tasks: {a: {}}\n---\ntasks: {b: {}}\n"))
    assert str(problem) == (
        "delegation.yaml:3: the plan holds several YAML documents; keep one (drop '---')"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("- a\n- b\n", "a list"),
        ("just words\n", "a string"),
        ("42\n", "an integer"),
        ("~\n", "empty"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, shown: str) -> None:
    problem = only(load_error(tmp_path, text))
    assert (
        str(problem) == f"delegation.yaml:1: the plan must be a mapping with 'tasks:', not {shown}"
    )


# -- keys --------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_nearest(tmp_path: Path) -> None:
    error = load_error(tmp_path, "max_paralel: 2\ntasks:\n  a: {}\n")
    assert lines(error) == [
        "delegation.yaml:1: unknown key 'max_paralel' in the plan; did you mean 'max_parallel'?"
    ]


def test_misspelled_tasks_is_unknown_and_tasks_is_missing(tmp_path: Path) -> None:
    error = load_error(tmp_path, "version: 1\ntask:\n  a: {}\n")
    assert lines(error) == [
        "delegation.yaml:1: the plan has no 'tasks:'; add a mapping of task ids to tasks",
        "delegation.yaml:2: unknown key 'task' in the plan; did you mean 'tasks'?",
    ]


def test_unknown_key_far_from_any_lists_the_known_ones(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "tasks:\n  a:\n    zzzz: 1\n"))
    assert problem.line == 3
    assert problem.message == (
        "unknown key 'zzzz' in task 'a' (known: role, description, files, tests, "
        "depends_on, resources, wave, no_tests, branch)"
    )


def test_unknown_task_key_suggests_depends_on(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        tasks:
          a: {}
          b:
            role: code-writer
            depend_on: [a]
        """,
    )
    assert lines(error) == [
        "delegation.yaml:5: unknown key 'depend_on' in task 'b'; did you mean 'depends_on'?"
    ]


def test_key_must_be_a_plain_name(tmp_path: Path) -> None:
    error = load_error(tmp_path, "tasks:\n  a: {}\n  ? [x, y]\n  : {}\n")
    assert lines(error) == ["delegation.yaml:3: a key must be a plain name"]


def test_duplicate_task_id_names_both_lines(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        tasks:
          a:
            role: code-writer
          b: {}
          a:
            role: documentation
        """,
    )
    problem = only(error)
    assert problem.line == 5
    assert "duplicate key 'a' (first defined on line 2)" in problem.message


def test_duplicate_key_inside_a_task(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        tasks:
          a:
            files: [a.py]
            role: code-writer
            files: [b.py]
        """,
    )
    assert str(only(error)).startswith(
        "delegation.yaml:5: duplicate key 'files' (first defined on line 3)"
    )


# -- types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "max_parallel: x\ntasks:\n  a: {}\n",
            "delegation.yaml:1: 'max_parallel' must be an integer, not a string",
        ),
        (
            "max_parallel: 0\ntasks:\n  a: {}\n",
            "delegation.yaml:1: 'max_parallel' must be at least 1, not 0",
        ),
        (
            "max_parallel: true\ntasks:\n  a: {}\n",
            "delegation.yaml:1: 'max_parallel' must be an integer, not a boolean",
        ),
        (
            "max_parallel: 2.5\ntasks:\n  a: {}\n",
            "delegation.yaml:1: 'max_parallel' must be an integer, not a number",
        ),
        (
            "tasks:\n  a:\n    wave: 0\n",
            "delegation.yaml:3: 'wave' must be at least 1, not 0",
        ),
        (
            "tasks:\n  a:\n    wave: [1]\n",
            "delegation.yaml:3: 'wave' must be an integer, not a list",
        ),
        (
            "tasks:\n  a:\n    files: {a: b}\n",
            "delegation.yaml:3: every entry of 'files' must be text, not a mapping",
        ),
        (
            "tasks:\n  a:\n    files:\n      - ok.py\n      - [nested]\n",
            "delegation.yaml:5: every entry of 'files' must be text, not a list",
        ),
        (
            "tasks:\n  a:\n    tests: ['']\n",
            "delegation.yaml:3: 'tests' has an empty pattern; name a test file, folder, glob "
            "or node id, or drop the entry",
        ),
        (
            "tasks:\n  a:\n    resources: [1]\n",
            "delegation.yaml:3: every entry of 'resources' must be text, not an integer",
        ),
        (
            "tasks:\n  a:\n    role: [1]\n",
            "delegation.yaml:3: 'role' must be text, not a list",
        ),
        (
            "tasks:\n  a:\n    description: {x: 1}\n",
            "delegation.yaml:3: 'description' must be text, not a mapping",
        ),
        (
            "tasks:\n  a:\n    no_tests:\n",
            "delegation.yaml:3: 'no_tests' must be text, not empty",
        ),
        (
            "shared: {x: 1}\ntasks:\n  a: {}\n",
            "delegation.yaml:1: every entry of 'shared' must be text, not a mapping",
        ),
        (
            "tasks: [a, b]\n",
            "delegation.yaml:1: 'tasks' must be a mapping of task ids, not a list",
        ),
        (
            "tasks:\n",
            "delegation.yaml:1: 'tasks' must be a mapping of task ids, not empty",
        ),
        (
            "tasks:\n  a: just text\n",
            "delegation.yaml:2: task 'a' must be a mapping of its keys, not a string",
        ),
        (
            "tasks:\n  a:\n    - role\n",
            "delegation.yaml:3: task 'a' must be a mapping of its keys, not a list",
        ),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, expected: str) -> None:
    assert lines(load_error(tmp_path, text)) == [expected]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("tasks:\n  a:\n    wave: 2020-13-45\n", 3),  # resolved as a date, an impossible one
        ("tasks:\n  a:\n    role: !!bool maybe\n", 3),
        ("tasks:\n  a:\n    role: !!int abc\n", 3),
        ("tasks:\n  a:\n    role: !!float abc\n", 3),
        ("tasks:\n  a:\n    role: !custom x\n", 3),
        ("tasks:\n  a:\n    role: !!python/name:os.system x\n", 3),
    ],
)
def test_values_yaml_cannot_construct_are_plan_problems(
    tmp_path: Path, text: str, line: int
) -> None:
    error = load_error(tmp_path, text)
    assert any(
        p.line == line and p.message.startswith("cannot read this value") for p in error.problems
    ), lines(error)


@pytest.mark.parametrize(
    ("task_id", "suggestion"),
    [
        ("User_Model", "user-model"),
        ("user model", "user-model"),
        ("a--b", "a-b"),
        ("-lead", "lead"),
        ("trail_", "trail"),
        ("ünï", "n"),
        ("!!!", "my-task"),
    ],
)
def test_bad_task_id_format(tmp_path: Path, task_id: str, suggestion: str) -> None:
    error = load_error(tmp_path, f'tasks:\n  ok: {{}}\n  "{task_id}":\n    role: x\n')
    assert lines(error) == [
        f"delegation.yaml:3: task id '{task_id}' must be lowercase words joined by '-' or '_' "
        f"(like '{suggestion}')"
    ]


def test_task_id_with_a_final_newline_is_refused(tmp_path: Path) -> None:
    # `re.match` with `$` accepts "abc\n"; a task id must match entirely
    problem = only(load_error(tmp_path, 'tasks:\n  "abc\\n": {}\n'))
    assert problem.line == 2
    assert "must be lowercase words" in problem.message


@pytest.mark.parametrize("task_id", ["a", "user-model", "user_model", "v2", "a1-b2_c3", "7"])
def test_good_task_ids(tmp_path: Path, task_id: str) -> None:
    assert list(load_plan(write(tmp_path, f"tasks:\n  {task_id}: {{}}\n")).tasks) == [task_id]


@pytest.mark.parametrize(
    ("key", "pattern", "fragment"),
    [
        ("files", "../outside.py", "leaves the plan's folder ('..')"),
        ("files", "src/../../x.py", "leaves the plan's folder ('..')"),
        ("tests", "!../x", "leaves the plan's folder ('..')"),
        ("files", "/", "matches nothing; name a file, folder or glob"),
        ("files", "!", "matches nothing; name a file, folder or glob"),
    ],
)
def test_bad_patterns(tmp_path: Path, key: str, pattern: str, fragment: str) -> None:
    problem = only(load_error(tmp_path, f"tasks:\n  a:\n    {key}:\n      - '{pattern}'\n"))
    assert str(problem).startswith(f"delegation.yaml:4: '{key}' pattern '{pattern}' {fragment}")


def test_bad_shared_pattern(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "shared: [ok.py, ../up.py]\ntasks:\n  a: {}\n"))
    assert str(problem) == (
        "delegation.yaml:1: 'shared' pattern '../up.py' leaves the plan's folder ('..'); "
        "patterns are relative to the plan file"
    )


def test_dots_inside_a_name_are_fine(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "tasks:\n  a:\n    files: [a..b.py, .hidden/x]\n"))
    assert plan.tasks["a"].files == ("a..b.py", ".hidden/x")


def test_empty_tasks(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "version: 1\ntasks: {}\n"))
    assert str(problem) == "delegation.yaml:2: 'tasks' is empty; a plan needs at least one task"


def test_missing_tasks(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "version: 1\nmax_parallel: 2\n"))
    assert str(problem) == (
        "delegation.yaml:1: the plan has no 'tasks:'; add a mapping of task ids to tasks"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", "unsupported plan version 2; use 1"),
        ("0", "unsupported plan version 0; use 1"),
        ("'1'", "'version' must be an integer, not a string"),
    ],
)
def test_unsupported_version(tmp_path: Path, value: str, expected: str) -> None:
    assert lines(load_error(tmp_path, f"version: {value}\ntasks:\n  a: {{}}\n")) == [
        f"delegation.yaml:1: {expected}"
    ]


# -- graph problems (found when the waves are computed) ------------------------------------


def test_unknown_dependency_suggests_the_nearest_id(tmp_path: Path) -> None:
    error = wave_error(
        tmp_path,
        """
        tasks:
          user-model: {}
          order-model:
            depends_on:
              - user-modle
              - zzz
        """,
    )
    assert lines(error) == [
        "delegation.yaml:5: task 'order-model' depends on unknown task 'user-modle'; "
        "did you mean 'user-model'?",
        "delegation.yaml:6: task 'order-model' depends on unknown task 'zzz'",
    ]


def test_cycle_is_printed_as_a_path(tmp_path: Path) -> None:
    error = wave_error(
        tmp_path,
        """
        tasks:
          a:
            depends_on: [b]
          b:
            depends_on: [a]
        """,
    )
    assert lines(error) == [
        "delegation.yaml:3: dependency cycle: a -> b -> a; remove one of these dependencies"
    ]


def test_self_cycle(tmp_path: Path) -> None:
    error = wave_error(tmp_path, "tasks:\n  solo: {}\n  a:\n    depends_on: [solo, a]\n")
    assert lines(error) == [
        "delegation.yaml:4: dependency cycle: a -> a; remove one of these dependencies"
    ]


def test_longer_cycles_each_reported_once(tmp_path: Path) -> None:
    error = wave_error(
        tmp_path,
        """
        tasks:
          a:
            depends_on: [b]
          b:
            depends_on: [c]
          c:
            depends_on: [a]
          x:
            depends_on: [y]
          y:
            depends_on: [x]
          free:
            depends_on: [a]
        """,
    )
    messages = [p.message for p in error.problems]
    assert messages == [
        "dependency cycle: a -> b -> c -> a; remove one of these dependencies",
        "dependency cycle: x -> y -> x; remove one of these dependencies",
    ]
    assert [p.line for p in error.problems] == [3, 9]


def test_wave_earlier_than_dependencies_allow(tmp_path: Path) -> None:
    error = wave_error(
        tmp_path,
        """
        tasks:
          a: {}
          b:
            depends_on: [a]
          c:
            role: code-reviewer
            depends_on: [b]
            wave: 2
        """,
    )
    assert lines(error) == [
        "delegation.yaml:8: task 'c' asks for wave 2, but its dependencies put it in wave 3 "
        "at the earliest; remove 'wave:' or make it >= 3"
    ]


# -- everything at once --------------------------------------------------------------------


def test_many_problems_are_reported_together(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """
        version: 3
        max_parallel: many
        shared: [../up.py]
        colour: blue
        tasks:
          Bad_Id: {}
          a:
            role: [code-writer]
            wave: 0
            depend_on: [b]
            files: ["../x.py"]
          b:
            depends_on: [a, nowhere]
          a:
            role: duplicate
          c:
            depends_on: [Bad_Id, c]
        """,
    )
    assert len(error.problems) == 12, lines(error)
    assert lines(error) == [
        "delegation.yaml:1: unsupported plan version 3; use 1",
        "delegation.yaml:2: 'max_parallel' must be an integer, not a string",
        "delegation.yaml:3: 'shared' pattern '../up.py' leaves the plan's folder ('..'); "
        "patterns are relative to the plan file",
        "delegation.yaml:4: unknown key 'colour' in the plan "
        "(known: version, max_parallel, shared, branches, base, tasks)",
        "delegation.yaml:6: task id 'Bad_Id' must be lowercase words joined by '-' or '_' "
        "(like 'bad-id')",
        "delegation.yaml:8: 'role' must be text, not a list",
        "delegation.yaml:9: 'wave' must be at least 1, not 0",
        "delegation.yaml:10: unknown key 'depend_on' in task 'a'; did you mean 'depends_on'?",
        "delegation.yaml:11: 'files' pattern '../x.py' leaves the plan's folder ('..'); "
        "patterns are relative to the plan file",
        # graph problems join in, since the run stops anyway
        "delegation.yaml:13: task 'b' depends on unknown task 'nowhere'",
        "delegation.yaml:14: duplicate key 'a' (first defined on line 7); "
        "YAML keeps only one of them: merge the two entries",
        "delegation.yaml:17: dependency cycle: c -> c; remove one of these dependencies",
    ]
    rendered = str(error)
    assert rendered.startswith("the delegation plan has 12 problems:\n  delegation.yaml:1: ")
    # a dependency on a task dropped for a bad id is not "unknown": its id problem says it all
    assert "unknown task 'Bad_Id'" not in rendered


def test_problems_are_sorted_by_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, "tasks:\n  a:\n    wave: 0\n    role: [x]\nmax_parallel: 0\n")
    assert [p.line for p in error.problems] == [3, 4, 5]


# -- aliases that expand forever -----------------------------------------------------------


def test_recursive_alias_is_a_plan_error(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "tasks: &loop\n  a:\n    depends_on: *loop\n"))
    assert problem.message.startswith("the plan is recursive: an alias (*name) stands for")
    assert problem.line is not None


def test_recursive_sequence_alias_is_a_plan_error(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "tasks:\n  a:\n    files: &x [a, *x]\n"))
    assert "the plan is recursive" in problem.message


def test_alias_bomb_is_a_plan_error_and_quick(tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    start = time.perf_counter()
    problem = only(load_error(tmp_path, "\n".join(levels) + "\n"))
    assert time.perf_counter() - start < 10
    assert problem.message.startswith("the plan expands too far: its aliases repeat values")
    assert "200,000" in problem.message


def test_deep_nesting_is_a_plan_error(tmp_path: Path) -> None:
    problem = only(load_error(tmp_path, "tasks:\n  a:\n    files: " + "[" * 100 + "]" * 100))
    assert problem.message.startswith("the plan is nested too deeply: more than 64 levels")
    very_deep = load_error(tmp_path, "[" * 3000 + "]" * 3000)
    assert "nested too deeply" in str(very_deep)


# -- plan_from_dict ------------------------------------------------------------------------


def test_plan_from_dict_valid(tmp_path: Path) -> None:
    path = tmp_path / "delegation.yaml"
    plan = plan_from_dict(
        {
            "max_parallel": 2,
            "shared": ["lib/*.py"],
            "tasks": {
                "a": {"role": "code-writer", "files": ["a.py"]},
                "b": {"depends_on": "a", "tests": ("tests/test_b.py",)},
                "c": None,
            },
        },
        path,
    )
    assert plan.path == path
    assert plan.max_parallel == 2
    assert plan.shared == ("lib/*.py",)
    assert plan.tasks["a"].files == ("a.py",)
    assert plan.tasks["b"].depends_on == ("a",)
    assert plan.tasks["b"].tests == ("tests/test_b.py",)
    assert plan.tasks["c"] == Task(id="c")
    assert compute_waves(plan) == (("a", "c"), ("b",))


def test_plan_from_dict_validates_the_same_way(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        plan_from_dict(
            {
                "max_parallel": 0,
                "tsks": {},
                "tasks": {"A B": {}, "a": {"wave": "2", "depend_on": ["x"], "files": ["../x"]}},
            },
            tmp_path / "delegation.yaml",
        )
    assert lines(info.value) == [
        "delegation.yaml: 'files' pattern '../x' leaves the plan's folder ('..'); "
        "patterns are relative to the plan file",
        "delegation.yaml: 'max_parallel' must be at least 1, not 0",
        "delegation.yaml: 'wave' must be an integer, not a string",
        "delegation.yaml: task id 'A B' must be lowercase words joined by '-' or '_' (like 'a-b')",
        "delegation.yaml: unknown key 'depend_on' in task 'a'; did you mean 'depends_on'?",
        "delegation.yaml: unknown key 'tsks' in the plan; did you mean 'tasks'?",
    ]


def test_plan_from_dict_graph_problems(tmp_path: Path) -> None:
    plan = plan_from_dict(
        {"tasks": {"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a", "c"]}}},
        tmp_path / "plan.yaml",
    )
    with pytest.raises(PlanError) as info:
        compute_waves(plan)
    assert lines(info.value) == [
        "plan.yaml: dependency cycle: a -> b -> a; remove one of these dependencies",
        "plan.yaml: task 'b' depends on unknown task 'c'",
    ]


def test_plan_from_dict_survives_self_containing_data(tmp_path: Path) -> None:
    files: list[object] = ["a.py"]
    files.append(files)
    with pytest.raises(PlanError) as info:
        plan_from_dict({"tasks": {"a": {"files": files}}}, tmp_path / "delegation.yaml")
    assert "every entry of 'files' must be text, not a list" in str(info.value)


# -- the plan object -----------------------------------------------------------------------


def test_freeze_makes_the_plan_read_only(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "tasks:\n  a: {}\n  b:\n    depends_on: [a]\n"))
    plan.add_task(Task(id="c"))  # hooks may amend the plan before the run
    plan.max_parallel = 7
    waves = compute_waves(plan)
    plan.freeze(waves)

    assert plan.waves == (("a", "c"), ("b",))
    assert plan.wave_of("b") == 2
    with pytest.raises(KeyError):
        plan.wave_of("zzz")
    with pytest.raises(AttributeError, match="read-only"):
        plan.max_parallel = 1
    with pytest.raises(AttributeError, match="read-only"):
        plan.tasks = {}
    with pytest.raises(AttributeError, match="read-only"):
        plan.add_task(Task(id="d"))
    with pytest.raises(TypeError, match="read-only"):
        plan.tasks["d"] = Task(id="d")
    with pytest.raises(TypeError, match="read-only"):
        del plan.tasks["a"]
    with pytest.raises(TypeError, match="read-only"):
        plan.tasks.update({"d": Task(id="d")})
    with pytest.raises(TypeError, match="read-only"):
        plan.tasks.pop("a")
    with pytest.raises(TypeError, match="read-only"):
        plan.tasks.setdefault("d", Task(id="d"))
    with pytest.raises(TypeError, match="read-only"):
        plan.tasks.clear()
    with pytest.raises(TypeError, match="read-only"):
        plan.tasks.popitem()
    tasks = plan.tasks
    with pytest.raises(TypeError, match="read-only"):
        tasks |= {"d": Task(id="d")}
    with pytest.raises(AttributeError):
        plan.tasks["a"].role = "x"  # type: ignore[misc]
    assert list(plan.tasks) == ["a", "b", "c"]
    assert plan.max_parallel == 7
    assert isinstance(plan.tasks, dict)


def test_plan_before_freeze_is_editable(tmp_path: Path) -> None:
    plan = Plan(path=tmp_path / "delegation.yaml")
    plan.add_task(Task(id="x"))
    plan.tasks["y"] = Task(id="y")
    plan.shared = ("s.py",)
    assert list(plan.tasks) == ["x", "y"]
    assert plan.shared == ("s.py",)


# -- errors module -------------------------------------------------------------------------


def test_plan_problem_and_error_rendering() -> None:
    with_line = PlanProblem("delegation.yaml", 7, "boom")
    without = PlanProblem("/abs/delegation.yaml", None, "gone")
    assert str(with_line) == "delegation.yaml:7: boom"
    assert str(without) == "/abs/delegation.yaml: gone"
    error = PlanError([with_line, PlanProblem("delegation.yaml", 2, "first")])
    assert str(error) == (
        "the delegation plan has 2 problems:\n"
        "  delegation.yaml:2: first\n"
        "  delegation.yaml:7: boom"
    )
    assert (
        str(PlanError([without]))
        == "the delegation plan has 1 problem:\n  /abs/delegation.yaml: gone"
    )


def test_did_you_mean() -> None:
    assert did_you_mean("depend_on", ["role", "depends_on"]) == "; did you mean 'depends_on'?"
    assert did_you_mean("qqq", ["role", "depends_on"]) == ""
    assert did_you_mean("x", []) == ""


# -- libyaml and PyYAML read a plan alike ----------------------------------------------------
# libyaml (yaml.CSafeLoader) reads a plan when it is installed; whatever it says, the plan
# and its problems must be what the pure-Python loader makes of it


def tree_of(node: source.Node | None) -> object:
    """The tree with every line, for comparing two reads."""
    if isinstance(node, source.Map):
        return {key: (line, tree_of(value)) for key, (line, value) in node.items.items()}
    if isinstance(node, source.Seq):
        return (node.line, [tree_of(item) for item in node.items])
    if isinstance(node, source.Scalar):
        return (node.line, type(node.value).__name__, node.value)
    return None


def read_both(text: str) -> tuple[object, object]:
    """`read_yaml` as it runs here, and with the pure-Python loader only."""
    tree, problems = source.read_yaml(text, "delegation.yaml")
    slow_tree, slow_problems = source._read_yaml(text, "delegation.yaml", yaml.SafeLoader)
    return (tree_of(tree), problems), (tree_of(slow_tree), slow_problems)


needs_libyaml = pytest.mark.skipif(source.FAST_LOADER is None, reason="PyYAML without libyaml")


@needs_libyaml
def test_libyaml_reads_a_clean_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    loaders = []
    real = source._read

    def spy(text: str, name: str, loader: type[yaml.SafeLoader | yaml.CSafeLoader]) -> Any:
        loaders.append(loader)
        return real(text, name, loader)

    # every read, with either loader, goes through `_read`
    monkeypatch.setattr(source, "_read", spy)
    fast, slow = read_both(SPEC_EXAMPLE)
    assert fast == slow
    assert loaders == [yaml.CSafeLoader, yaml.SafeLoader]  # the second from read_both


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [
        "tasks:\n  a: [1, 2\n  b: {}\n",  # libyaml: "did not find expected ',' or ']'"
        "tasks:\n  a:\n    <<: *nowhere\n",  # libyaml leaves the alias' name out
        "a: &x 1\nb: &x 2\n",
        "tasks:\n  a:\n    role: x\n   bad: y\n",
        "tasks:\n  a:\n    role: x\n    role: y\n",  # read cleanly, then a duplicate key
    ],
)
def test_problems_are_in_pyyaml_words(text: str) -> None:
    # and test_deep_nesting_is_a_plan_error: libyaml stops at 1,000 levels
    fast, slow = read_both(text)
    assert fast == slow


@pytest.mark.parametrize(
    ("text", "pyyaml_only"),
    [
        ("tasks:\n  a:\n    files: ['!x.py', a!b]\n", False),
        ("tasks: {}\n", False),
        ("tasks: {}", True),  # no final newline: libyaml ends the stream a line later
        ("tasks:\n  a:\n    description: a\tb\n", True),
        ("tasks:\n  a:\n    description: a\ufeffb\n", True),
        ("tasks:\n  a:\u2028", True),
        ("tasks:\n  a:\n    role: !\n", True),  # libyaml '' and PyYAML None
        ("tasks:\n  a:\n    wave: !!int 2\n", True),
        ("tasks: [!x]\n", True),
        ("%YAML 1.1\n---\ntasks: {}\n", True),
    ],
)
def test_what_only_pyyaml_reads(text: str, pyyaml_only: bool) -> None:
    assert source.pyyaml_only(text) is pyyaml_only
    fast, slow = read_both(text)
    assert fast == slow


def test_the_plan_is_the_same_without_libyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, SPEC_EXAMPLE + "  later:\n    wave: 2020-13-45\n    role: yes\n")
    fast = str(load_error(tmp_path, path.read_text()))
    monkeypatch.setattr(source, "FAST_LOADER", None)
    assert str(load_error(tmp_path, path.read_text())) == fast
    assert "delegation.yaml:27: cannot read this value" in fast


@pytest.mark.parametrize("loader", [yaml.SafeLoader, source.FAST_LOADER])
def test_scalars_are_constructed_with_either_loader(
    loader: type[yaml.SafeLoader | yaml.CSafeLoader] | None,
) -> None:
    if loader is None:
        pytest.skip("PyYAML without libyaml")
    text = (
        "a: text\nb: '2'\nc: 2\nd: 1.5\ne: true\nf: ~\ng:\nh: 2001-02-03\n"
        "i: !!str 3\nj: 0x10\nk: [yes, No]\n"
    )
    tree, problems = source._read_yaml(text, "delegation.yaml", loader)
    assert problems == []
    assert tree is not None
    assert source.plain(tree) == {
        "a": "text",
        "b": "2",
        "c": 2,
        "d": 1.5,
        "e": True,
        "f": None,
        "g": None,
        "h": datetime.date(2001, 2, 3),
        "i": "3",
        "j": 16,
        "k": [True, False],
    }
