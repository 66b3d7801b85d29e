"""Markdown task lists as plans: the batch a lead writes, read into the YAML reader's tree.

The tree is the one ``positions.read_yaml`` makes, with the Markdown lines, so
``model.build_plan`` checks a Markdown plan exactly as a YAML one. The syntax::

    Shared: shop/contracts.py
    Max parallel: 3

    Task 1: Code Writer - Implement User model (models/user.py)
    Task 2: Code Writer - Implement Order model (models/order.py, models/_money.py)
    [Wait for completion]
    Task 3: Test Runner - Test the models
      tests: tests/test_models.py
      resources: database
    Task 4: Security Expert - Scan the models for vulnerabilities
      id: security-scan
      no_tests: a scan, not code

- A task line is ``Task N: ROLE - DESCRIPTION (FILES)``. ``Task N.``, ``Task N)``,
  ``N.`` and ``N)`` number it too (a line numbered ``N.`` alone is a task only when its
  role is a role, or close to one); a bullet (``-``, ``*``, ``+``, ``1.``), a checkbox, a
  heading's ``#`` and bold or italic around the number, the role or the whole line are
  allowed; ``-``, an en or em dash or ``:`` separates the role from the description.
  A ``Task N`` line without a role, or with an unknown one, is a problem on its line.
- Roles, in any case: Code Writer, Test Runner, Code Reviewer, Security Expert (or
  Security), Documentation (or Documentation Writer), Research (or Researcher), or the
  plan's own names (``code-writer``).
- FILES is the last parentheses group at the end of the line, paths separated by commas
  or spaces (backticks allowed). A group holding anything that is not a path (no ``/``,
  no ``.ext``) stays in the description: ``(see below)``.
- A ``[Wait ...]`` line (any text, bold or bulleted) starts a new group: the tasks after
  it depend on every task of the group before it (directly on the group before,
  through it on every earlier one).
- Lines indented under a task (two spaces or a tab, bullets allowed) add what prose
  cannot: ``tests:``, ``files:``, ``depends_on:`` (task ids, or ``Task N`` / ``N`` for
  the task numbered N), ``resources:``, ``no_tests: reason`` and ``id:`` (instead of
  the id made from the description). Lists are separated by commas or spaces.
- ``Shared: PATHS`` and ``Max parallel: N`` lines, anywhere, are the plan's ``shared``
  and ``max_parallel``.
- A task's id is its description's first six words (letters and digits, accents
  dropped, ``User's`` one word), lowercase, joined by ``-`` (``implement-user-model``);
  a repeated id gets ``-2``, ``-3``; no words gives ``task-N``. The same text always
  gives the same ids.
- When fenced code blocks (``` or ~~~) hold task lines, only those blocks are read (a
  plan in a pull-request description); otherwise every line outside fenced blocks. Other
  lines are prose, and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
import difflib
import re
import unicodedata

from pytest_delegation.plan.positions import Map
from pytest_delegation.plan.positions import Node
from pytest_delegation.plan.positions import Scalar
from pytest_delegation.plan.positions import Seq
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import did_you_mean


EXAMPLE = "Task 1: Code Writer - Implement User model (models/user.py)"
NO_TASK_LINE = f"no task line (`{EXAMPLE}`) found"
#: how a role is written -> the plan's role; keys are lowercase, words split by one space
ROLES = {
    "code writer": "code-writer",
    "test runner": "test-runner",
    "code reviewer": "code-reviewer",
    "security expert": "security",
    "security": "security",
    "documentation": "documentation",
    "documentation writer": "documentation",
    "research": "research",
    "researcher": "research",
}
ROLE_NAMES = tuple(name.title() for name in ROLES)
#: the keys of a line under a task, as normalized by `_key`
TASK_LINE_KEYS = ("tests", "files", "depends_on", "resources", "no_tests", "id")
ID_WORDS = 6

LINE_BREAK = re.compile(r"\r\n|\r|\n")
OPENING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
CLOSING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*$")
# bold or italic markers, up to three (bold italic)
_E = r"[*_]{0,3}"
# what may come before a task's number: a heading, a bullet or list number, a checkbox
_PREFIX = r"(?:\#{1,6}\s)?(?:(?:[-*+]|\d+[.)])\s)?(?:\[[ xX]\]\s)?"
_TASK_NUMBER = rf"task\s?\#?(?P<task>\d+)\s?{_E}\s?[:.)\-\u2013\u2014]"
_BARE_NUMBER = r"(?P<bare>\d+)[.)]"
# the lines are read with their whitespace collapsed to single spaces: no regex here
# backtracks over a long run of it
TASK_START = re.compile(rf"^{_PREFIX}(?P<lead>{_E})\s?{_TASK_NUMBER}", re.IGNORECASE)
TASK_LINE = re.compile(
    rf"^{_PREFIX}(?P<lead>{_E})\s?(?:{_TASK_NUMBER}|{_BARE_NUMBER})\s?{_E}\s?"
    rf"(?P<role>[A-Za-z][A-Za-z _-]{{0,40}}?)\s?{_E}\s?"
    r"(?:\s[-\u2013\u2014]+\s?|[-\u2013\u2014]+\s|\s?[:\u2013\u2014]\s?|$)"
    rf"{_E}\s?(?P<rest>.*)$",
    re.IGNORECASE,
)
WAIT_LINE = re.compile(rf"^(?:[-*+]\s)?{_E}\s?\[\s?wait\b[^\]]*\]\s?{_E}$", re.IGNORECASE)
PLAN_LINE = re.compile(
    rf"^{_PREFIX}{_E}(?P<key>shared|max[ _-]?parallel){_E}\s?:\s?{_E}\s?(?P<value>.*)$",
    re.IGNORECASE,
)
KEY_LINE = re.compile(
    rf"^(?:[-*+]\s)?{_E}(?P<key>[A-Za-z][A-Za-z _-]{{0,20}}?){_E}\s?:\s?{_E}\s?(?P<value>.*)$"
)
FILES_GROUP = re.compile(r"\(([^()]*)\)[\s*_.]*$")
# the end of a name that has an extension: `.py`, `.md`, `.tar.gz`
EXTENSION = re.compile(r"[^./]\.[A-Za-z][A-Za-z0-9]{0,9}$")
NUMBER_REFERENCE = re.compile(r"^(?:task\s?)?#?(\d+)$", re.IGNORECASE)


def split_lines(text: str) -> list[str]:
    """The text's lines, as an editor numbers them (CRLF, LF or CR; a BOM dropped)."""
    return LINE_BREAK.split(text.removeprefix("\ufeff"))


def fenced_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) indices of the inside of every fenced code block; unclosed: to the end."""
    blocks = []
    at = 0
    while at < len(lines):
        opening = OPENING_FENCE.match(lines[at])
        # CommonMark: a backtick fence's info string holds no backtick
        if opening is None or (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            at += 1
            continue
        fence = opening.group(1)
        end = at + 1
        while end < len(lines):
            closing = CLOSING_FENCE.match(lines[end])
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                break
            end += 1
        blocks.append((at + 1, end))
        at = end + 1
    return blocks


def plan_lines(lines: list[str], is_task: Callable[[str], bool]) -> list[int]:
    """The indices of the lines to read: the fenced blocks with tasks, else all the rest."""
    blocks = fenced_blocks(lines)
    holding = [(a, b) for a, b in blocks if any(is_task(lines[i]) for i in range(a, b))]
    if holding:
        return [i for a, b in holding for i in range(a, b)]
    fenced = {i for a, b in blocks for i in range(a - 1, min(b + 1, len(lines)))}
    return [i for i in range(len(lines)) if i not in fenced]


def collapse(line: str) -> str:
    return " ".join(line.split())


def is_task_line(line: str) -> bool:
    """Whether a line is a task line (or one meant as a task line, to be read or refused)."""
    body = collapse(line)
    if TASK_START.match(body):
        return True
    match = TASK_LINE.match(body)
    return match is not None and _role_is_near(match.group("role"))


def has_task_lines(text: str) -> bool:
    lines = split_lines(text)
    return any(is_task_line(lines[i]) for i in plan_lines(lines, is_task_line))


def role_of(written: str) -> str | None:
    return ROLES.get(" ".join(re.split(r"[\s_-]+", written.strip(" *_").lower())))


def _role_is_near(written: str) -> bool:
    return role_of(written) is not None or bool(_suggest_role(written))


def _suggest_role(written: str) -> str:
    return did_you_mean(" ".join(re.split(r"[\s_-]+", written.strip(" *_"))).title(), ROLE_NAMES)


def task_id_of(description: str) -> str:
    """The id a description gives: its first words, lowercase, ASCII, joined by '-'."""
    ascii_text = unicodedata.normalize("NFKD", description).encode("ascii", "ignore").decode()
    # "User's" is one word; every other character between letters or digits splits words
    words = re.split(r"[^a-z0-9]+", ascii_text.lower().replace("'", ""))
    return "-".join([word for word in words if word][:ID_WORDS])


def path_like(token: str) -> bool:
    return "://" not in token and ("/" in token or EXTENSION.search(token) is not None)


def file_tokens(group: str) -> list[str]:
    """The paths of a parentheses group, or [] when it holds anything but paths."""
    body = re.sub(r"^\s*files?\s?:", "", group, flags=re.IGNORECASE)
    paths = []
    for token in re.split(r"[,;\s]+", body):
        if not token or token.lower() in ("and", "&"):
            continue
        quoted = token.startswith("`") or token.endswith("`")
        path = token.strip("`")
        if not path:
            continue
        if not (quoted or path_like(path)):
            return []
        paths.append(path)
    return paths


def list_entries(value: str) -> list[str]:
    return [entry for entry in (t.strip("`") for t in re.split(r"[,;\s]+", value)) if entry]


@dataclass
class Draft:
    """A task as read, before its id is settled and it joins the tree."""

    line: int
    role: str
    description: str
    number: int | None = None
    id: str = ""
    #: (id, line) given with `id:`
    given_id: tuple[str, int] | None = None
    files: list[tuple[str, int]] = field(default_factory=list)
    tests: list[tuple[str, int]] = field(default_factory=list)
    resources: list[tuple[str, int]] = field(default_factory=list)
    #: dependencies as written: task ids or number references, with their lines
    depends_on: list[tuple[str, int]] = field(default_factory=list)
    no_tests: tuple[str, int] | None = None


def settle_ids(drafts: list[Draft], problem: Callable[[int, str], None]) -> None:
    """Give every draft its id: the one given, else from its description, made unique."""
    given: dict[str, int] = {}
    for draft in drafts:
        if draft.given_id is None:
            continue
        name, line = draft.given_id
        if name in given:
            problem(line, f"task id '{name}' is given twice (first on line {given[name]})")
        given.setdefault(name, line)
        draft.id = name
    taken = set(given)
    for draft in drafts:
        if draft.given_id is not None:
            continue
        base = task_id_of(draft.description) or f"task-{draft.number or draft.line}"
        candidate, count = base, 2
        while candidate in taken:
            candidate, count = f"{base}-{count}", count + 1
        taken.add(candidate)
        draft.id = candidate


def _first_of_each(entries: list[tuple[str, int]]) -> list[tuple[str, int]]:
    first: dict[str, tuple[str, int]] = {}
    for entry in entries:
        first.setdefault(entry[0], entry)
    return list(first.values())


def _seq(entries: list[tuple[str, int]], line: int) -> Seq:
    return Seq([Scalar(text, entry_line) for text, entry_line in entries], line)


def plan_tree(
    drafts: list[Draft], first_line: int, plan_items: dict[str, tuple[int, Node]]
) -> Map:
    """The tree `read_yaml` would make of the same plan in YAML."""
    tasks = Map(line=first_line)
    for draft in drafts:
        if draft.id in tasks.items:
            continue  # a twice-given id: reported by settle_ids
        node = Map(line=draft.line)
        node.items["role"] = (draft.line, Scalar(draft.role, draft.line))
        node.items["description"] = (draft.line, Scalar(draft.description, draft.line))
        for key, entries in (
            ("files", draft.files),
            ("tests", draft.tests),
            ("depends_on", _first_of_each(draft.depends_on)),
            ("resources", draft.resources),
        ):
            if entries:
                node.items[key] = (entries[0][1], _seq(entries, entries[0][1]))
        if draft.no_tests is not None:
            reason, line = draft.no_tests
            node.items["no_tests"] = (line, Scalar(reason, line))
        # the task's line, even with an `id:` line: the report points at the task
        tasks.items[draft.id] = (draft.line, node)
    root = Map(line=first_line)
    root.items["version"] = (None, Scalar(1, None))
    root.items.update(plan_items)
    root.items["tasks"] = (first_line, tasks)
    return root


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[PlanProblem] = []
        self.drafts: list[Draft] = []
        #: the groups between wait lines; an empty one is not kept
        self.groups: list[list[Draft]] = [[]]
        self.shared: list[tuple[str, int]] = []
        self.max_parallel: tuple[object, int] | None = None
        self.first_line: int | None = None
        #: whether the line before (blank lines aside) was a task's
        self.in_task = False

    def problem(self, line: int, message: str) -> None:
        self.problems.append(PlanProblem(self.source, line, message))

    def read(self, text: str) -> tuple[Node | None, list[PlanProblem]]:
        lines = split_lines(text)
        for index in plan_lines(lines, is_task_line):
            self.line(lines[index], index + 1)
        if self.first_line is None:
            return None, [PlanProblem(self.source, None, NO_TASK_LINE)]
        settle_ids(self.drafts, self.problem)
        self.dependencies()
        plan_items: dict[str, tuple[int, Node]] = {}
        if self.max_parallel is not None:
            value, line = self.max_parallel
            plan_items["max_parallel"] = (line, Scalar(value, line))
        if self.shared:
            plan_items["shared"] = (self.shared[0][1], _seq(self.shared, self.shared[0][1]))
        return plan_tree(self.drafts, self.first_line, plan_items), self.problems

    def line(self, raw: str, number: int) -> None:
        body = collapse(raw)
        if not body:
            return
        indented = raw.startswith(("\t", "  "))
        if WAIT_LINE.match(body):
            if self.groups[-1]:
                self.groups.append([])
            self.in_task = False
            return
        plan_line = PLAN_LINE.match(body)
        if plan_line:
            self.plan_line(plan_line.group("key"), plan_line.group("value"), number)
            return
        if is_task_line(body):
            self.first_line = self.first_line or number
            self.task_line(body, number)
            return
        key_line = KEY_LINE.match(body)
        key = _key(key_line.group("key")) if key_line else ""
        was_in_task, self.in_task = self.in_task, False
        if key_line is None or not (indented or was_in_task):
            return
        # the task of the current group the line is under, if any (a wait line ends it)
        task = self.groups[-1][-1] if self.groups[-1] else None
        if key not in TASK_LINE_KEYS:
            # prose such as `  Note: ...` stays prose: only a near miss is a problem
            near = difflib.get_close_matches(key, TASK_LINE_KEYS, n=1, cutoff=0.8)
            if near and indented and task is not None:
                self.problem(
                    number, f"unknown key '{key}' under a task; did you mean '{near[0]}'?"
                )
            self.in_task = was_in_task
            return
        if not indented:
            self.problem(number, f"'{key}:' belongs to the task above it: indent it (two spaces)")
            return
        if task is None:
            self.problem(number, f"'{key}:' must come under a task line ({EXAMPLE})")
            return
        self.in_task = True
        self.task_key(task, key, key_line.group("value").strip(" *"), number)

    def plan_line(self, key: str, value: str, number: int) -> None:
        value = value.strip(" *")
        if key.lower() == "shared":
            self.shared.extend((path, number) for path in list_entries(value))
        elif self.max_parallel is not None:
            self.problem(
                number, f"'Max parallel' is given twice (first on line {self.max_parallel[1]})"
            )
        else:
            # Python reads no integer of over 4,300 digits: a longer one stays text
            digits = value.isascii() and value.isdigit() and len(value) <= 1000
            self.max_parallel = (int(value) if digits else value, number)

    def task_line(self, body: str, number: int) -> None:
        match = TASK_LINE.match(body)
        if match is None:
            self.problem(
                number,
                f"cannot read this task line: it needs a role, then '-' and the description, "
                f"as in `{EXAMPLE}`",
            )
            return
        written = match.group("role").strip(" *_")
        role = role_of(written)
        if role is None:
            near = _suggest_role(written)
            known = "" if near else f" (known: {', '.join(ROLE_NAMES)})"
            self.problem(number, f"unknown role '{written}'{near}{known}")
        rest = match.group("rest").rstrip()
        lead = match.group("lead")
        files: list[str] = []
        group = FILES_GROUP.search(rest)
        # `[text](link)` is a link, not files
        if group and not rest[: group.start()].endswith("]"):
            files = file_tokens(group.group(1))
        if files and group:
            rest = rest[: group.start()]
        elif lead and rest.endswith(lead[::-1]):
            # the whole line in bold or italics
            rest = rest[: -len(lead)]
        task_number = match.group("task") or match.group("bare")
        draft = Draft(
            line=number,
            role=role or written,
            description=rest.strip(),
            number=int(task_number) if task_number and len(task_number) < 10 else None,
            files=[(path, number) for path in files],
        )
        self.drafts.append(draft)
        self.groups[-1].append(draft)
        self.in_task = True

    def task_key(self, draft: Draft, key: str, value: str, number: int) -> None:
        if key in ("id", "no_tests"):
            text = value.strip("`")
            if not text:
                what = "the task's id" if key == "id" else "the reason the task has no tests"
                self.problem(number, f"'{key}:' is empty; give {what}")
            elif (draft.given_id if key == "id" else draft.no_tests) is not None:
                self.problem(number, f"'{key}:' is given twice for this task")
            elif key == "id":
                draft.given_id = (text, number)
            else:
                draft.no_tests = (text, number)
            return
        if key == "depends_on":
            tokens = re.findall(r"task\s?#?\d+|[^\s,;]+", value, re.IGNORECASE)
            entries = [t.strip("`") for t in tokens if t.strip("`") and t.lower() != "and"]
        else:
            entries = list_entries(value)
        getattr(draft, key).extend((entry, number) for entry in entries)

    def dependencies(self) -> None:
        """Each task depends on the group before its own, and on what it names."""
        by_number: dict[int, list[Draft]] = {}
        for draft in self.drafts:
            if draft.number is not None:
                by_number.setdefault(draft.number, []).append(draft)
        groups = [group for group in self.groups if group]
        for index, group in enumerate(groups):
            before = groups[index - 1] if index else []
            for draft in group:
                written = draft.depends_on
                draft.depends_on = [(d.id, draft.line) for d in before]
                for entry, line in written:
                    self.dependency(draft, entry, line, by_number)

    def dependency(
        self, draft: Draft, entry: str, line: int, by_number: dict[int, list[Draft]]
    ) -> None:
        reference = NUMBER_REFERENCE.match(entry)
        if reference is None:
            draft.depends_on.append((entry, line))
            return
        named = by_number.get(int(reference.group(1)), []) if len(entry) < 12 else []
        if len(named) == 1:
            draft.depends_on.append((named[0].id, line))
        elif named:
            lines = ", ".join(str(d.line) for d in named)
            self.problem(
                line,
                f"'{entry}' names several tasks (lines {lines}): several task lines have "
                "that number; name the task by its id",
            )
        else:
            self.problem(line, f"'{entry}' names no task: no task line has that number")


def _key(written: str) -> str:
    return re.sub(r"[\s-]+", "_", written.strip(" *_").lower())


def read_markdown(text: str, source: str) -> tuple[Node | None, list[PlanProblem]]:
    """Read a Markdown task list; return the plan's tree (None without tasks) and problems."""
    return _Reader(source).read(text)
