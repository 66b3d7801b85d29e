"""spec-kit ``tasks.md`` as a plan: its phases and ``[P]`` markers, read into the plan's tree.

spec-kit (github/spec-kit) writes the tasks of a feature as checkboxes under phase
headings::

    ## Phase 1: Setup
    - [ ] T001 Create the project structure
    - [ ] T002 [P] Configure linting in pyproject.toml
    - [ ] T003 [P] Add the CI workflow in .github/workflows/ci.yml

    ## Phase 2: Tests
    - [x] T004 [P] [US1] Contract test for POST /users in tests/contract/test_users.py

How it reads as a plan:

- A task is ``- [ ] TNNN [P] [US1] Description`` (``[x]`` too; ``[P]`` and the story
  label are optional). Its id is the lowercase ``tnnn``; its description the text after
  the markers.
- The tasks run in the order written, in groups: consecutive ``[P]`` tasks form one
  group; a task without ``[P]`` is a group of its own; a heading (a ``Phase`` heading
  or any other) ends a group. Each group depends on the group before it, so phases run
  one after the other and a phase's ``[P]`` tasks form a wave.
- ``depends on T012, T013`` in a description adds those dependencies.
- A task's files are the paths its description names: a word with a known extension
  (``.py``, ``.md``, ``.ts``, ...) or with a ``/`` (``src/models/``); backticks, quotes
  and trailing punctuation are dropped. An endpoint such as ``/users`` (a leading ``/``)
  or ``and/or`` (two words, one ``/``, no extension) is not a path: write ``src/cli/``.
- The role: ``code-reviewer`` when the description, or else the phase heading, speaks
  of a review, ``documentation`` of docs or documentation, ``test-runner`` of tests;
  ``code-writer`` otherwise.
- Fenced code blocks are skipped (spec-kit's "Parallel Example"), unless they hold the
  task lines, as in a pull-request description.
"""

from __future__ import annotations

import re

from pytest_delegation.plan.markdown import Draft
from pytest_delegation.plan.markdown import collapse
from pytest_delegation.plan.markdown import plan_lines
from pytest_delegation.plan.markdown import plan_tree
from pytest_delegation.plan.markdown import settle_ids
from pytest_delegation.plan.markdown import split_lines
from pytest_delegation.plan.positions import Node
from pytest_delegation.plan.problems import PlanProblem


EXAMPLE = "- [ ] T001 [P] Description in path/file.py"
NO_TASK_LINE = f"no spec-kit task line (`{EXAMPLE}`) found"
EXTENSIONS = frozenset(
    "py pyi pyx md rst txt toml yaml yml json ini cfg lock js jsx mjs cjs ts tsx vue svelte "
    "css scss html sql sh go rs java kt rb php c h cc cpp hpp cs swift xml csv proto env "
    "graphql".split()
)
# on collapsed lines (single spaces): a checkbox, then the id
TASK_LINE = re.compile(
    r"^[-*+] \[(?P<done>[ xX])\] [*_]{0,2}(?P<id>T\d+)[*_]{0,2}(?=$|[\s\[:.)])(?P<rest>.*)$"
)
TASK_START = re.compile(r"^[-*+] \[[ xX]\] [*_]{0,2}T\d")
MARKER = re.compile(r"^\s?[:.)-]?\s?\[(?P<marker>[^\]]*)\]")
HEADING = re.compile(r"^#{1,6}\s")
DEPENDS = re.compile(r"\bdepends? on\s?:?\s?((?:T\d+\s?(?:,|and|&)?\s?)+)", re.IGNORECASE)
# a review, documentation, tests: the first rule that matches gives the role
ROLE_RULES = (
    (re.compile(r"\breview", re.IGNORECASE), "code-reviewer"),
    (re.compile(r"\bdoc(?:s|ument\w*)?\b", re.IGNORECASE), "documentation"),
    (re.compile(r"\btest(?:s|ing)?\b", re.IGNORECASE), "test-runner"),
)


def is_task_line(line: str) -> bool:
    return TASK_START.match(collapse(line)) is not None


def has_task_lines(text: str) -> bool:
    lines = split_lines(text)
    return any(is_task_line(lines[i]) for i in plan_lines(lines, is_task_line))


def path_of(word: str) -> str | None:
    """The path a word of a description names, or None."""
    path = word.strip("`'\"(").rstrip(".,;:!?)").strip("`'\"")
    if not path or "://" in path or path.startswith("/"):
        return None
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if "." in name and name.rsplit(".", 1)[1].lower() in EXTENSIONS:
        return path
    if "/" not in path or re.fullmatch(r"[A-Za-z]+/[A-Za-z]+", path):
        return None
    return path


def role_for(description: str, phase: str) -> str:
    for text in (description, phase):
        for pattern, role in ROLE_RULES:
            if pattern.search(text):
                return role
    return "code-writer"


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[PlanProblem] = []
        self.drafts: list[Draft] = []
        self.seen: dict[str, int] = {}
        self.phase = ""
        #: the last group closed, and the [P] run still open
        self.before: list[Draft] = []
        self.run: list[Draft] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(PlanProblem(self.source, line, message))

    def read(self, text: str) -> tuple[Node | None, list[PlanProblem]]:
        lines = split_lines(text)
        first: int | None = None
        for index in plan_lines(lines, is_task_line):
            body = collapse(lines[index])
            number = index + 1
            if HEADING.match(body):
                self.close()
                self.phase = body
            elif TASK_START.match(body):
                first = first or number
                self.task(body, number)
        if first is None:
            return None, [PlanProblem(self.source, None, NO_TASK_LINE)]
        settle_ids(self.drafts, self.problem)
        return plan_tree(self.drafts, first, {}), self.problems

    def close(self) -> None:
        if self.run:
            self.before, self.run = self.run, []

    def task(self, body: str, number: int) -> None:
        match = TASK_LINE.match(body)
        if match is None:
            self.problem(
                number,
                f"cannot read this task's id: write 'T' and digits, as in `{EXAMPLE}`",
            )
            return
        task_id = match.group("id").lower()
        if task_id in self.seen:
            self.problem(
                number,
                f"task {match.group('id')} is listed twice (first on line {self.seen[task_id]}); "
                "give each task its own id",
            )
            return
        self.seen[task_id] = number
        rest = match.group("rest")
        parallel = False
        while marker := MARKER.match(rest):
            parallel = parallel or marker.group("marker").strip().upper() == "P"
            rest = rest[marker.end() :]
        description = rest.strip().lstrip(":-").strip()
        words = description.split()
        files = [path for path in map(path_of, words) if path]
        prose = " ".join(word for word in words if path_of(word) is None)
        draft = Draft(
            line=number,
            role=role_for(prose, self.phase),
            description=description,
            given_id=(task_id, number),
            files=[(path, number) for path in dict.fromkeys(files)],
        )
        if not parallel:
            self.close()
        draft.depends_on = [(d.given_id[0], number) for d in self.before if d.given_id]
        for named in DEPENDS.finditer(description):
            draft.depends_on.extend(
                (dep.lower(), number) for dep in re.findall(r"T\d+", named.group(1))
            )
        self.drafts.append(draft)
        if parallel:
            self.run.append(draft)
        else:
            self.before = [draft]


def read_speckit(text: str, source: str) -> tuple[Node | None, list[PlanProblem]]:
    """Read a spec-kit tasks.md; return the plan's tree (None without tasks) and problems."""
    return _Reader(source).read(text)
