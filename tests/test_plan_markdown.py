"""Markdown task lists as plans: the issue's example, the variants people write, the refusals."""

from __future__ import annotations

from pathlib import Path
import textwrap

import pytest

from pytest_delegation.plan.formats import detect
from pytest_delegation.plan.formats import read_plan_text
from pytest_delegation.plan.markdown import NO_TASK_LINE
from pytest_delegation.plan.markdown import ROLES
from pytest_delegation.plan.markdown import read_markdown
from pytest_delegation.plan.markdown import task_id_of
from pytest_delegation.plan.model import KNOWN_ROLES
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import build_plan
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.positions import plain
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.waves import compute_waves


ISSUE_EXAMPLE = """\
Task 1: Code Writer - Implement User model (models/user.py)
Task 2: Code Writer - Implement Order model (models/order.py, models/_money.py)
[Wait for completion]
Task 3: Test Runner - Test the models
Task 4: Security Expert - Scan the models for vulnerabilities
"""


def plan_of(text: str, source: str = "PLAN.md") -> Plan:
    tree, problems = read_markdown(textwrap.dedent(text), source)
    assert tree is not None, problems
    return build_plan(tree, Path(source), problems)


def problems_of(text: str, source: str = "PLAN.md") -> list[str]:
    """Every problem, as the user reads it: from the reader, build_plan and the waves."""
    tree, problems = read_markdown(textwrap.dedent(text), source)
    if tree is None:
        return [str(problem) for problem in problems]
    with pytest.raises(PlanError) as caught:
        # build_plan checks the graph only when it stops anyway; the waves always do
        compute_waves(build_plan(tree, Path(source), problems))
    return [str(problem) for problem in caught.value.problems]


def one_task(line: str) -> dict[str, object]:
    tree, problems = read_markdown(line, "PLAN.md")
    assert tree is not None and not problems, problems
    tasks = plain(tree)["tasks"]
    assert len(tasks) == 1, tasks
    (task_id, task), *_ = tasks.items()
    return {"id": task_id, **task}


# -- the issue's example -----------------------------------------------------------------


def test_the_issue_example() -> None:
    plan = plan_of(ISSUE_EXAMPLE)
    assert list(plan.tasks) == [
        "implement-user-model",
        "implement-order-model",
        "test-the-models",
        "scan-the-models-for-vulnerabilities",
    ]
    user, order, test, scan = plan.tasks.values()
    assert (user.role, user.description, user.files) == (
        "code-writer",
        "Implement User model",
        ("models/user.py",),
    )
    assert order.files == ("models/order.py", "models/_money.py")
    assert (test.role, test.files, test.description) == ("test-runner", (), "Test the models")
    assert scan.role == "security"
    assert test.depends_on == scan.depends_on == ("implement-user-model", "implement-order-model")
    assert not user.depends_on and not order.depends_on
    assert [task.line for task in plan.tasks.values()] == [1, 2, 4, 5]
    assert compute_waves(plan) == (
        ("implement-order-model", "implement-user-model"),
        ("scan-the-models-for-vulnerabilities", "test-the-models"),
    )


def test_load_plan_reads_a_markdown_file(tmp_path: Path) -> None:
    path = tmp_path / "PLAN.md"
    path.write_text(ISSUE_EXAMPLE, encoding="utf-8")
    plan = load_plan(path)
    assert plan.path == path
    assert len(compute_waves(plan)) == 2
    # the format is the text's, not the name's
    other = tmp_path / "delegation.yaml"
    other.write_bytes(b"\xef\xbb\xbf" + ISSUE_EXAMPLE.replace("\n", "\r\n").encode())
    assert list(load_plan(other).tasks) == list(plan.tasks)


def test_the_roles_are_the_plans() -> None:
    assert set(ROLES.values()) == set(KNOWN_ROLES)
    for written, role in [
        ("code writer", "code-writer"),
        ("CODE WRITER", "code-writer"),
        ("code-writer", "code-writer"),
        ("Test Runner", "test-runner"),
        ("Code Reviewer", "code-reviewer"),
        ("Security Expert", "security"),
        ("Security", "security"),
        ("Documentation", "documentation"),
        ("Documentation Writer", "documentation"),
        ("Research", "research"),
        ("Researcher", "research"),
    ]:
        assert one_task(f"Task 1: {written} - Do it")["role"] == role, written


# -- the variants people write -----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Task 1: Code Writer - Implement User model (models/user.py)",
        "Task 1. Code Writer - Implement User model (models/user.py)",
        "Task 1) Code Writer - Implement User model (models/user.py)",
        "1. Code Writer - Implement User model (models/user.py)",
        "1) Code Writer - Implement User model (models/user.py)",
        "- Task 1: Code Writer - Implement User model (models/user.py)",
        "* Task 1: Code Writer - Implement User model (models/user.py)",
        "+ 1. Code Writer - Implement User model (models/user.py)",
        "- [ ] Task 1: Code Writer - Implement User model (models/user.py)",
        "1. Task 1: Code Writer - Implement User model (models/user.py)",
        "### Task 1: Code Writer - Implement User model (models/user.py)",
        "**Task 1: Code Writer** - Implement User model (models/user.py)",
        "**Task 1:** Code Writer - Implement User model (models/user.py)",
        "Task 1: **Code Writer** - Implement User model (models/user.py)",
        "Task 1: *Code Writer* - Implement User model (models/user.py)",
        "Task 1: _Code Writer_ - Implement User model (models/user.py)",
        "**Task 1: Code Writer - Implement User model (models/user.py)**",
        "1. **Code Writer** - Implement User model (models/user.py)",
        "Task 1: Code Writer \u2013 Implement User model (models/user.py)",
        "Task 1: Code Writer — Implement User model (models/user.py)",
        "Task 1: Code Writer—Implement User model (models/user.py)",
        "Task 1: Code Writer: Implement User model (models/user.py)",
        "Task 1 - Code Writer - Implement User model (models/user.py)",
        "Task 1: code-writer - Implement User model (models/user.py)",
        "   Task 1:   Code Writer  -  Implement User model   (models/user.py)   ",
        "\tTask 1: Code Writer - Implement User model (models/user.py)\t",
        "Task 1: Code Writer - Implement User model (`models/user.py`)",
        "Task 1: Code Writer - Implement User model (files: models/user.py)",
        "Task 1: Code Writer - Implement User model (models/user.py).",
    ],
)
def test_variants(line: str) -> None:
    assert one_task(line) == {
        "id": "implement-user-model",
        "role": "code-writer",
        "description": "Implement User model",
        "files": ["models/user.py"],
    }


def test_crlf_and_cr_line_endings() -> None:
    for ending in ("\r\n", "\r"):
        plan = plan_of(ISSUE_EXAMPLE.replace("\n", ending))
        assert plan.tasks["test-the-models"].depends_on == (
            "implement-user-model",
            "implement-order-model",
        )
        assert plan.tasks["test-the-models"].line == 4


@pytest.mark.parametrize(
    ("group", "files"),
    [
        ("(models/user.py, models/order.py)", ["models/user.py", "models/order.py"]),
        ("(models/user.py models/order.py)", ["models/user.py", "models/order.py"]),
        ("(models/user.py and models/order.py)", ["models/user.py", "models/order.py"]),
        ("(`models/user.py`, `Makefile`)", ["models/user.py", "Makefile"]),
        ("(docs/**, *.md)", ["docs/**", "*.md"]),
        ("(README.md)", ["README.md"]),
        ("(models/)", ["models/"]),
    ],
)
def test_files_are_the_last_group(group: str, files: list[str]) -> None:
    assert one_task(f"Task 1: Code Writer - Write it {group}")["files"] == files


@pytest.mark.parametrize(
    "description",
    [
        "Implement the model (carefully)",
        "Implement the model (see below)",
        "Implement the model (e.g. the user)",
        "Implement the model (v1.2)",
        "Implement the model (see https://example.com/spec)",
        "Implement the model [spec](docs/spec.md)",
    ],
)
def test_a_group_without_paths_is_description(description: str) -> None:
    task = one_task(f"Task 1: Code Writer - {description}")
    assert task["description"] == description
    assert "files" not in task


def test_only_the_last_group_is_files() -> None:
    task = one_task("Task 1: Code Writer - Implement (the hard part) User model (models/user.py)")
    assert task["description"] == "Implement (the hard part) User model"
    assert task["files"] == ["models/user.py"]


def test_wait_lines() -> None:
    plan = plan_of(
        """\
        Task 1: Code Writer - A (a.py)
        - [Wait for completion]
        **[wait until the models are merged]**
        Task 2: Code Writer - B (b.py)
        Task 3: Code Writer - C (c.py)
        [WAIT]
        Task 4: Code Reviewer - Review
        """
    )
    assert plan.tasks["b"].depends_on == plan.tasks["c"].depends_on == ("a",)
    # the direct dependencies are the group before: the rest follows transitively
    assert plan.tasks["review"].depends_on == ("b", "c")
    assert compute_waves(plan) == (("a",), ("b", "c"), ("review",))


def test_a_wait_line_first_or_twice_adds_no_wave() -> None:
    plan = plan_of("[Wait]\nTask 1: Research - Look\n[Wait]\n[Wait]\nTask 2: Research - Think\n")
    assert plan.tasks["think"].depends_on == ("look",)
    assert compute_waves(plan) == (("look",), ("think",))


# -- prose and fenced blocks ---------------------------------------------------------------


def test_prose_lines_are_ignored() -> None:
    plan = plan_of(
        """\
        # The plan for the models

        We split the work as follows; tasks 1 and 2 can run at once.

        1. Install the dependencies first.
        Task 1: Code Writer - Implement User model (models/user.py)
        Some words about task 1: it is small.
        Task 2: Code Writer - Implement Order model (models/order.py)
        """
    )
    assert list(plan.tasks) == ["implement-user-model", "implement-order-model"]


def test_a_fenced_plan_inside_a_pull_request_description() -> None:
    text = (
        "## What this PR does\n"
        "\n"
        "Task 9: Code Writer - Not this one, it is prose outside the plan\n"
        "\n"
        "```python\n"
        "print('Task 8: Code Writer - not a plan either')\n"
        "```\n"
        "\n"
        "The plan:\n"
        "\n"
        "```markdown\n" + ISSUE_EXAMPLE + "```\n"
        "\n"
        "~~~\n"
        "Shared: models/base.py\n"
        "~~~\n"
    )
    plan = plan_of(text)
    assert list(plan.tasks) == [
        "implement-user-model",
        "implement-order-model",
        "test-the-models",
        "scan-the-models-for-vulnerabilities",
    ]
    assert plan.tasks["implement-user-model"].line == 12
    # a block without task lines is not read: its Shared: line does not count
    assert plan.shared == ()


def test_without_fenced_tasks_the_fenced_blocks_are_skipped() -> None:
    plan = plan_of(
        "Task 1: Code Writer - Write it (a.py)\n"
        "```\n"
        "Shared: b.py\n"
        "Task 2 is described here: no\n"
        "```\n"
    )
    assert list(plan.tasks) == ["write-it"]
    assert plan.shared == ()


def test_an_unclosed_fence_runs_to_the_end() -> None:
    plan = plan_of("Intro\n````\nTask 1: Research - Look\n```\nTask 2: Research - Think\n")
    assert list(plan.tasks) == ["look", "think"]


# -- lines under a task, and the plan's own lines -------------------------------------------


def test_lines_under_a_task() -> None:
    plan = plan_of(
        """\
        Task 1: Code Writer - Implement User model (models/user.py)
          tests: tests/test_user.py, tests/test_auth.py
          - resources: database
        Task 2: Code Writer - Implement Order model
        \tfiles: models/order.py models/_money.py
        \tid: orders
          depends_on: implement-user-model

          no_tests: covered by the review
        Task 3: Code Reviewer - Review the models
          **depends on:** Task 1, 2
        """
    )
    user, orders, review = plan.tasks.values()
    assert user.tests == ("tests/test_user.py", "tests/test_auth.py")
    assert user.resources == ("database",)
    assert orders.id == "orders"
    assert orders.files == ("models/order.py", "models/_money.py")
    assert orders.depends_on == ("implement-user-model",)
    assert orders.no_tests == "covered by the review"
    assert orders.line == 4
    assert review.depends_on == ("implement-user-model", "orders")
    assert review.positions["depends_on:orders"] == 11


def test_task_number_references_and_a_wait_together() -> None:
    plan = plan_of(
        """\
        Task 1: Code Writer - A (a.py)
        Task 2: Code Writer - B (b.py)
          depends_on: Task 1
        [Wait for completion]
        Task 3: Test Runner - Check
          depends_on: #1, task 2
        """
    )
    assert plan.tasks["b"].depends_on == ("a",)
    # the wait's and the named dependencies, each once
    assert plan.tasks["check"].depends_on == ("a", "b")
    assert compute_waves(plan) == (("a",), ("b",), ("check",))


def test_plan_level_lines() -> None:
    plan = plan_of(
        """\
        Shared: shop/contracts.py, `shop/types.py`
        **Max parallel:** 2
        Task 1: Code Writer - A (a.py)
        - shared: shop/base.py
        """
    )
    assert plan.shared == ("shop/contracts.py", "shop/types.py", "shop/base.py")
    assert plan.max_parallel == 2
    assert plan.lines["max_parallel"] == 2


def test_ids() -> None:
    assert task_id_of("Implement User model") == "implement-user-model"
    assert (
        task_id_of("Fix the user's __init__.py, then *re-test*!") == "fix-the-users-init-py-then"
    )
    assert task_id_of("Déjà vu: ça marche") == "deja-vu-ca-marche"
    assert task_id_of("数据") == ""
    plan = plan_of(
        """\
        Task 1: Code Writer - Implement the model (a.py)
        Task 2: Code Writer - Implement the model (b.py)
        Task 3: Code Writer - Implement the model (c.py)
        Task 4: Research - 数据
        Task 5: Research - Implement the model
          id: implement-the-model-2
        """
    )
    # an id given wins; the ones made from descriptions step around it
    assert list(plan.tasks) == [
        "implement-the-model",
        "implement-the-model-3",
        "implement-the-model-4",
        "task-4",
        "implement-the-model-2",
    ]
    # the same text, the same ids
    again = plan_of(
        """\
        Task 1: Code Writer - Implement the model (a.py)
        Task 2: Code Writer - Implement the model (b.py)
        Task 3: Code Writer - Implement the model (c.py)
        Task 4: Research - 数据
        Task 5: Research - Implement the model
          id: implement-the-model-2
        """
    )
    assert list(again.tasks) == list(plan.tasks)


# -- refusals, each with its line --------------------------------------------------------


def test_no_task_line() -> None:
    assert problems_of("# Just a README\n\nNothing to see.\n") == [f"PLAN.md: {NO_TASK_LINE}"]
    assert problems_of("") == [f"PLAN.md: {NO_TASK_LINE}"]


def test_a_markdown_file_that_is_not_yaml_says_no_task_line(tmp_path: Path) -> None:
    path = tmp_path / "PLAN.md"
    path.write_text("# Plan\n\n- one: [\n- two\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert [str(p) for p in caught.value.problems] == [f"PLAN.md: {NO_TASK_LINE}"]
    assert detect("# Plan\n", "PLAN.md") == "markdown"
    assert detect("# Plan\n", "delegation.yaml") == "yaml"
    # a YAML plan in a .md file is still YAML
    assert read_plan_text("tasks:\n  a: {role: research}\n", "PLAN.md")[2] == "yaml"
    assert read_plan_text('{"tasks": {"a": {}}}', "PLAN.md")[2] == "yaml"


def test_an_unknown_role() -> None:
    assert problems_of("Task 1: Code Writer - A\nTask 2: Code Writr - B\n") == [
        "PLAN.md:2: unknown role 'Code Writr'; did you mean 'Code Writer'?"
    ]
    [problem] = problems_of("Task 1: Chef - Cook\n")
    assert problem.startswith("PLAN.md:1: unknown role 'Chef' (known: Code Writer, ")
    # a numbered line with a near role is a task with a problem; without one, prose
    assert problems_of("Task 1: Research - A\n2. Reseacher - B\n3. Cook - C\n") == [
        "PLAN.md:2: unknown role 'Reseacher'; did you mean 'Researcher'?"
    ]


def test_a_task_line_without_a_role() -> None:
    [problem] = problems_of("Task 1: Research - A\nTask 2: Implement it (b.py)\n")
    assert problem.startswith("PLAN.md:2: cannot read this task line: it needs a role")


def test_a_dependency_on_an_unknown_task() -> None:
    assert problems_of(
        "Task 1: Code Writer - User model\nTask 2: Code Writer - Orders\n  depends_on: user-modle\n"
    ) == [
        "PLAN.md:3: task 'orders' depends on unknown task 'user-modle'; did you mean 'user-model'?"
    ]


def test_references_that_name_no_task_or_several() -> None:
    assert problems_of(
        """\
        Task 1: Research - A
        Task 1: Research - B
        Task 2: Research - C
          depends_on: Task 1, Task 7
        """
    ) == [
        "PLAN.md:4: 'Task 1' names several tasks (lines 1, 2): several task lines have that "
        "number; name the task by its id",
        "PLAN.md:4: 'Task 7' names no task: no task line has that number",
    ]


def test_a_cycle_points_at_the_dependency() -> None:
    assert problems_of(
        """\
        Task 1: Research - A
          depends_on: Task 2
        [Wait]
        Task 2: Research - B
        """
    ) == ["PLAN.md:2: dependency cycle: a -> b -> a; remove one of these dependencies"]


def test_problems_of_lines_under_a_task() -> None:
    assert problems_of(
        """\
          tests: early.py
        Task 1: Research - A
          test: a.py
          Note: this is prose, and stays prose
          id: First Task
          no_tests:
        tests: b.py
        Max parallel: many
        Max parallel: 3
        Task 2: Research - B (../outside.py)
          id: same
        Task 3: Research - C
          id: same
        """
    ) == [
        "PLAN.md:1: 'tests:' must come under a task line "
        "(Task 1: Code Writer - Implement User model (models/user.py))",
        "PLAN.md:2: task id 'First Task' must be lowercase words joined by '-' or '_' "
        "(like 'first-task')",
        "PLAN.md:3: unknown key 'test' under a task; did you mean 'tests'?",
        "PLAN.md:6: 'no_tests:' is empty; give the reason the task has no tests",
        "PLAN.md:7: 'tests:' belongs to the task above it: indent it (two spaces)",
        "PLAN.md:8: 'max_parallel' must be an integer, not a string",
        "PLAN.md:9: 'Max parallel' is given twice (first on line 8)",
        "PLAN.md:10: 'files' pattern '../outside.py' leaves the plan's folder ('..'); "
        "patterns are relative to the plan file",
        "PLAN.md:13: task id 'same' is given twice (first on line 11)",
    ]


def test_a_line_under_no_task_after_a_wait() -> None:
    assert problems_of("Task 1: Research - A\n[Wait]\n  tests: t.py\nTask 2: Research - B\n") == [
        "PLAN.md:3: 'tests:' must come under a task line "
        "(Task 1: Code Writer - Implement User model (models/user.py))"
    ]


def test_a_bold_line_with_a_description_group() -> None:
    task = one_task("**Task 1: Research - Look around (see below)**")
    assert task["description"] == "Look around (see below)"
