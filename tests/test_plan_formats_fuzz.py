"""Markdown and spec-kit plans, whatever they hold: a Plan or a PlanError, never a traceback.

Every problem names the file and, but for the whole-file "no task line", a line of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from pytest_delegation.plan import markdown
from pytest_delegation.plan import speckit
from pytest_delegation.plan.formats import read_plan_text
from pytest_delegation.plan.markdown import split_lines
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import build_plan
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.positions import Node
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.waves import compute_waves


FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Reader = Callable[[str, str], "tuple[Node | None, list[PlanProblem]]"]
WHOLE_FILE = {markdown.NO_TASK_LINE, speckit.NO_TASK_LINE}

ANYWHERE = [
    "",
    " ",
    "\t",
    "```",
    "~~~",
    "````markdown",
    "# Heading",
    "## Phase 1: Setup",
    "### Tests",
    "---",
    "Some prose: with a colon",
    "数据 ✓ émoji 🎉",
    "\x00\x0b\x0c\u2028\u0085",
    "(",
    ")",
    "**",
    "[",
    "Shared: shared.py, `lib/`",
    "Max parallel: 2",
    "max_parallel: 0",
    "Max parallel: many",
    "Max parallel: " + "9" * 5000,
]
MARKDOWN = [
    *ANYWHERE,
    "Task 1: Code Writer - Implement User model (models/user.py)",
    "Task 2: Code Writer - Implement Order model (models/order.py, models/_money.py)",
    "Task 3: Test Runner - Test the models",
    "**Task 4: Security Expert** — Scan (carefully) the models",
    "1. Code Reviewer: Review (a.py b.py)",
    "2) code-writer \u2013 Write (../escape.py)",
    "- [ ] Task 5. Research - Look (`docs/`)",
    "Task 1: Code Writer - Implement User model (models/user.py)",
    "Task 6: Chef - Cook",
    "Task 7: Implement without a role (x.py)",
    "3. Reseacher - Near role",
    "Task 99999999999999999999: Research - Big number",
    "Task 8: Documentation - (README.md)",
    "Task 9: Research -",
    "[Wait for completion]",
    "- **[wait]**",
    "  tests: tests/test_a.py, tests/test_b.py",
    "  files: x.py",
    "\tdepends_on: Task 1, 2, task 99, implement-user-model, nowhere",
    "  depends_on: Task " + "1" * 30,
    "  id: explicit-id",
    "  id: Not An Id",
    "  id:",
    "  - resources: database",
    "  no_tests: prose only",
    "  no_tests:",
    "  test: near miss",
    "tests: not indented",
    "  Note: prose under a task",
]
SPECKIT = [
    *ANYWHERE,
    "- [ ] T001 Create the project structure in src/",
    "- [x] T002 [P] Configure linting in pyproject.toml",
    "- [ ] T003 [P] [US1] Contract test POST /api/users in tests/contract/test_users.py",
    "- [ ] T004 [US1] User model in src/models/user.py (depends on T001, T099)",
    "- [X] T005 [P] Review the models",
    "- [ ] T006 [P] Update docs in docs/ and ../outside.md",
    "- [ ] T001 A repeated id",
    "- [ ] T1x A broken id",
    "* [ ] **T007** [p] Bold id in a.py; depends on T007",
    "- [ ] T" + "9" * 40 + " Long id",
    "- [ ] not a task",
    'Task: "Contract test POST /api/users in tests/contract/test_users.py"',
]


def line_soup(fragments: list[str]) -> st.SearchStrategy[str]:
    ending = st.sampled_from(["\n", "\r\n", "\r"])
    return st.tuples(st.lists(st.sampled_from(fragments), max_size=14), ending).map(
        lambda parts: parts[1].join(parts[0])
    )


def check(reader: Reader, text: str, source: str) -> None:
    """The reader, build_plan and the waves: a Plan or problems, each with a line of `text`."""
    count = len(split_lines(text))
    tree, problems = reader(text, source)
    if tree is None:
        assert problems
        found = problems
    else:
        try:
            plan = build_plan(tree, Path(source), problems)
            check_waves(plan, compute_waves(plan))
            found = []
        except PlanError as exc:
            assert exc.problems
            found = exc.problems
    for problem in found:
        assert problem.source == source
        if problem.message in WHOLE_FILE:
            assert tree is None and problem.line is None
        else:
            assert problem.line is not None and 1 <= problem.line <= count, (problem, count)


def check_waves(plan: Plan, waves: tuple[tuple[str, ...], ...]) -> None:
    assert sorted(task for wave in waves for task in wave) == sorted(plan.tasks)
    plan.freeze(waves)
    for task in plan.tasks.values():
        for dep in task.depends_on:
            assert plan.wave_of(dep) < plan.wave_of(task.id)


@FUZZ
@given(text=line_soup(MARKDOWN))
def test_markdown_line_soup(text: str) -> None:
    check(markdown.read_markdown, text, "PLAN.md")


@FUZZ
@given(text=st.text(max_size=300))
def test_markdown_random_text(text: str) -> None:
    check(markdown.read_markdown, text, "PLAN.md")


@FUZZ
@given(text=line_soup(SPECKIT))
def test_speckit_line_soup(text: str) -> None:
    check(speckit.read_speckit, text, "tasks.md")


@FUZZ
@given(text=st.text(max_size=300))
def test_speckit_random_text(text: str) -> None:
    check(speckit.read_speckit, text, "tasks.md")


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("formats") / "PLAN.md"


@FUZZ
@given(text=st.one_of(line_soup(MARKDOWN), line_soup(SPECKIT), st.text(max_size=300)))
def test_load_plan_of_any_text(plan_file: Path, text: str) -> None:
    """load_plan chooses a reader and gives a Plan or a PlanError naming the file."""
    plan_file.write_bytes(text.encode("utf-8"))
    kind = read_plan_text(text, plan_file.name)[2]
    try:
        plan = load_plan(plan_file)
        compute_waves(plan)
    except PlanError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.source == plan_file.name
            if kind != "yaml" and problem.message not in WHOLE_FILE:
                assert problem.line is not None
                assert 1 <= problem.line <= len(split_lines(text))
