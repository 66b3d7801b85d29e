"""spec-kit tasks.md as a plan: phases, [P] waves, the paths named, and the refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_delegation.plan.formats import detect
from pytest_delegation.plan.formats import read_plan_text
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import build_plan
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.positions import plain
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.speckit import NO_TASK_LINE
from pytest_delegation.plan.speckit import path_of
from pytest_delegation.plan.speckit import read_speckit
from pytest_delegation.plan.speckit import role_for
from pytest_delegation.plan.waves import compute_waves


TASKS_MD = """\
# Tasks: User accounts

**Input**: Design documents from `/specs/001-user-accounts/`
**Prerequisites**: plan.md (required), spec.md, data-model.md

## Format: `[ID] [P?] [Story] Description`

- **[P]**: Can run in parallel (different files, no dependencies)
- **[Story]**: Which user story this task belongs to (e.g., US1, US2)

## Phase 1: Setup

- [x] T001 Create the project structure in src/accounts/ and tests/
- [x] T002 [P] Configure linting and formatting in `pyproject.toml`
- [ ] T003 [P] Add the CI workflow in .github/workflows/ci.yml

---

## Phase 2: Tests First (TDD)

**CRITICAL: These tests MUST be written and MUST FAIL before ANY implementation**

- [ ] T004 [P] [US1] Contract test POST /api/users in tests/contract/test_users_post.py
- [ ] T005 [P] [US1] Contract test GET /api/users/{id} in tests/contract/test_users_get.py
- [ ] T006 [P] [US2] Integration test for sign-up in tests/integration/test_signup.py

## Phase 3: Core Implementation

- [ ] T007 [P] [US1] User model in src/accounts/models/user.py
- [ ] T008 [P] [US2] Session model in src/accounts/models/session.py
- [ ] T009 [US1] UserService CRUD in src/accounts/services/user_service.py (depends on T007)
- [ ] T010 [US1] POST /api/users endpoint in src/accounts/api/users.py
- [ ] T011 [P] Review the models and services for input validation
- [ ] T012 [P] Update the API docs in docs/api.md

## Dependencies

- Tests (T004-T006) before implementation (T007-T010)
- T007 blocks T009

## Parallel Example

```
# Launch T004-T006 together:
Task: "Contract test POST /api/users in tests/contract/test_users_post.py"
Task: "Integration test for sign-up in tests/integration/test_signup.py"
```
"""


def plan_of(text: str, source: str = "tasks.md") -> Plan:
    tree, problems = read_speckit(text, source)
    assert tree is not None, problems
    return build_plan(tree, Path(source), problems)


def problems_of(text: str, source: str = "tasks.md") -> list[str]:
    tree, problems = read_speckit(text, source)
    if tree is None:
        return [str(problem) for problem in problems]
    with pytest.raises(PlanError) as caught:
        compute_waves(build_plan(tree, Path(source), problems))
    return [str(problem) for problem in caught.value.problems]


def test_a_realistic_tasks_md() -> None:
    plan = plan_of(TASKS_MD)
    assert list(plan.tasks) == [f"t{n:03}" for n in range(1, 13)]
    assert compute_waves(plan) == (
        ("t001",),
        ("t002", "t003"),
        ("t004", "t005", "t006"),
        ("t007", "t008"),
        ("t009",),
        ("t010",),
        ("t011", "t012"),
    )
    tasks = plan.tasks
    # direct dependencies: the group before
    assert tasks["t002"].depends_on == tasks["t003"].depends_on == ("t001",)
    assert tasks["t004"].depends_on == ("t002", "t003")
    assert tasks["t007"].depends_on == ("t004", "t005", "t006")
    assert tasks["t009"].depends_on == ("t007", "t008")
    assert tasks["t011"].depends_on == tasks["t012"].depends_on == ("t010",)
    assert tasks["t001"].line == 13 and tasks["t012"].line == 34


def test_files_descriptions_and_roles() -> None:
    tasks = plan_of(TASKS_MD).tasks
    assert tasks["t001"].files == ("src/accounts/", "tests/")
    assert tasks["t002"].files == ("pyproject.toml",)
    assert tasks["t003"].files == (".github/workflows/ci.yml",)
    # an endpoint is not a file
    assert tasks["t004"].files == ("tests/contract/test_users_post.py",)
    assert tasks["t005"].files == ("tests/contract/test_users_get.py",)
    assert tasks["t009"].files == ("src/accounts/services/user_service.py",)
    assert tasks["t011"].files == ()
    assert tasks["t004"].description == (
        "Contract test POST /api/users in tests/contract/test_users_post.py"
    )
    assert tasks["t002"].description == "Configure linting and formatting in `pyproject.toml`"
    roles = {task_id: task.role for task_id, task in tasks.items()}
    assert roles == {
        "t001": "code-writer",  # 'tests/' is a path, not the word
        "t002": "code-writer",
        "t003": "code-writer",
        "t004": "test-runner",
        "t005": "test-runner",
        "t006": "test-runner",
        "t007": "code-writer",
        "t008": "code-writer",
        "t009": "code-writer",
        "t010": "code-writer",
        "t011": "code-reviewer",
        "t012": "documentation",
    }


@pytest.mark.parametrize(
    ("word", "path"),
    [
        ("src/models/user.py", "src/models/user.py"),
        ("`src/models/user.py`.", "src/models/user.py"),
        ("(src/models/user.py),", "src/models/user.py"),
        ('"README.md"', "README.md"),
        ("src/cli/", "src/cli/"),
        ("backend/src/models", "backend/src/models"),
        ("frontend/src/App.tsx", "frontend/src/App.tsx"),
        ("/api/users", None),
        ("and/or", None),
        ("https://example.com/a.py", None),
        ("e.g.", None),
        ("v1.2", None),
        ("model", None),
    ],
)
def test_paths(word: str, path: str | None) -> None:
    assert path_of(word) == path


def test_the_role_rule() -> None:
    assert role_for("Write the User model", "## Phase 3: Core") == "code-writer"
    assert role_for("Write the User model", "## Phase 2: Tests") == "test-runner"
    assert role_for("Review the tests", "## Phase 2: Tests") == "code-reviewer"
    assert role_for("Document the API", "## Phase 4") == "documentation"
    assert role_for("Update docs", "") == "documentation"
    # the description decides before the phase
    assert role_for("Review it", "## Phase 5: Documentation") == "code-reviewer"


def test_sequential_tasks_chain_and_a_heading_ends_a_parallel_run() -> None:
    plan = plan_of(
        """\
- [ ] T1 [P] A in a.py
- [ ] T2 [P] B in b.py
### Implementation
- [ ] T3 [P] C in c.py
- [ ] T4 D in d.py
- [ ] T5 E in e.py
- [ ] T6 [p] F in f.py
"""
    )
    assert compute_waves(plan) == (("t1", "t2"), ("t3",), ("t4",), ("t5",), ("t6",))


def test_depends_on_in_the_description_and_a_phase_without_p() -> None:
    plan = plan_of(
        """\
## Phase 1
- [ ] T001 [P] A in a.py
- [ ] T002 [P] B in b.py (depends on T001)
## Phase 2
- [ ] T003 C in c.py; depends on T001 and T002
"""
    )
    assert plan.tasks["t002"].depends_on == ("t001",)
    assert plan.tasks["t003"].depends_on == ("t001", "t002")
    assert compute_waves(plan) == (("t001",), ("t002",), ("t003",))


def test_crlf_checked_boxes_and_other_bullets() -> None:
    text = "## Phase 1\r\n* [X] T001 A in a.py\r\n+ [ ] **T002** [P] B in b.py\r\n"
    plan = plan_of(text)
    assert list(plan.tasks) == ["t001", "t002"]
    assert plan.tasks["t002"].line == 3
    assert plan.tasks["t002"].description == "B in b.py"


def test_a_fenced_tasks_list_in_a_pull_request() -> None:
    text = "This PR implements:\n\n```\n- [ ] T001 [P] A in a.py\n- [ ] T002 [P] B in b.py\n```\n"
    plan = plan_of(text)
    assert compute_waves(plan) == (("t001", "t002"),)
    assert plan.tasks["t001"].line == 4


def test_load_plan_and_detect(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TASKS_MD, encoding="utf-8")
    assert len(load_plan(path).tasks) == 12
    assert detect(TASKS_MD) == "speckit"
    assert read_plan_text(TASKS_MD, "tasks.md")[2] == "speckit"
    tree, problems, _ = read_plan_text(TASKS_MD, "tasks.md")
    assert tree is not None and not problems
    assert plain(tree)["tasks"]["t001"]["role"] == "code-writer"


def test_problems_with_lines() -> None:
    assert problems_of(
        """\
## Phase 1
- [ ] T001 A in a.py
- [ ] T001 Again in b.py
- [ ] T1x Broken
- [ ] T002 C in ../c.py (depends on T099)
"""
    ) == [
        "tasks.md:3: task T001 is listed twice (first on line 2); give each task its own id",
        "tasks.md:4: cannot read this task's id: write 'T' and digits, as in "
        "`- [ ] T001 [P] Description in path/file.py`",
        "tasks.md:5: 'files' pattern '../c.py' leaves the plan's folder ('..'); patterns are "
        "relative to the plan file",
        "tasks.md:5: task 't002' depends on unknown task 't099'",
    ]


def test_no_task_line() -> None:
    assert problems_of("# Tasks\n\n- [ ] write the tasks\n") == [f"tasks.md: {NO_TASK_LINE}"]
