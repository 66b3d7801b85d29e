"""The delegation plan: what it holds and how a YAML file (or a dict) becomes one.

Validation collects every problem before giving up, because a user fixing a plan one
error per run is a user who stops using the tool.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
import errno
import os
from pathlib import Path
import re
import stat
from typing import Any

from pytest_delegation.plan.formats import read_plan_text
from pytest_delegation.plan.graph import graph_problems
from pytest_delegation.plan.positions import Map
from pytest_delegation.plan.positions import Node
from pytest_delegation.plan.positions import Scalar
from pytest_delegation.plan.positions import Seq
from pytest_delegation.plan.positions import from_python
from pytest_delegation.plan.positions import type_name
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import did_you_mean
from pytest_delegation.plan.problems import shown_number


DEFAULT_MAX_PARALLEL = 4
#: the highest `wave:` a task may ask for. Empty waves are dropped, so only the order of
#: the numbers counts: none needs to be higher than the plan has tasks
MAX_WAVE = 10_000
TASK_ID = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
KNOWN_ROLES = (
    "code-writer",
    "test-runner",
    "documentation",
    "research",
    "code-reviewer",
    "security",
)
#: what an empty entry of a list is, and what to write instead
EMPTY_ENTRY = {
    "files": ("pattern", "name a file, folder or glob"),
    "tests": ("pattern", "name a test file, folder, glob or node id"),
    "shared": ("pattern", "name a file, folder or glob"),
    "depends_on": ("task id", "name a task of the plan"),
    "resources": ("resource", "name the resource (a database, a port)"),
}
VERIFICATION_ROLES = frozenset({"test-runner", "code-reviewer", "security"})
PLAN_KEYS = ("version", "max_parallel", "shared", "branches", "base", "tasks")
TASK_KEYS = (
    "role",
    "description",
    "files",
    "tests",
    "depends_on",
    "resources",
    "wave",
    "no_tests",
    "branch",
)
#: the one placeholder of a ``branches:`` template
TASK_PLACEHOLDER = "{task}"


@dataclass(frozen=True)
class Task:
    """One unit of delegated work: the files it owns and the tests that verify it."""

    id: str
    role: str = ""
    description: str = ""
    files: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    wave: int | None = None
    no_tests: str | None = None
    #: the git branch its work is on, when not the plan's ``branches:`` template's
    branch: str | None = None
    line: int | None = None
    #: line of each dependency entry and of 'wave', so graph errors can point at them
    positions: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def verifies(self) -> bool:
        return self.role in VERIFICATION_ROLES


@dataclass(eq=False)
class Plan:
    """A plan; hooks may amend it until the run starts, then it is frozen."""

    path: Path
    tasks: dict[str, Task] = field(default_factory=dict)
    max_parallel: int = DEFAULT_MAX_PARALLEL
    shared: tuple[str, ...] = ()
    version: int = 1
    lines: dict[str, int] = field(default_factory=dict)
    waves: tuple[tuple[str, ...], ...] = ()
    #: CODEOWNERS' rules, in file order: (CODEOWNERS pattern, owner task ids, line). When
    #: set, the last rule matching a path names its owners (``plan.codeowners``); empty:
    #: the plan's own rule, every task whose ``files:`` match. Plain tuples: no import cycle
    ownership_rules: tuple[tuple[str, tuple[str, ...], int], ...] = ()
    #: ``branches:``: the template naming each task's branch (``agents/{task}``)
    branches: str | None = None
    #: ``base:``: the ref the task branches left from, and are merged onto
    base_ref: str | None = None
    _frozen: bool = field(default=False, repr=False)

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"the delegation plan is read-only once the run starts ({name})")
        super().__setattr__(name, value)

    @property
    def base(self) -> Path:
        """Patterns in the plan are relative to this folder."""
        return self.path.parent

    def add_task(self, task: Task) -> None:
        if self._frozen:
            raise AttributeError("the delegation plan is read-only once the run starts")
        self.tasks[task.id] = task

    def freeze(self, waves: tuple[tuple[str, ...], ...]) -> None:
        self.waves = waves
        object.__setattr__(self, "tasks", _ReadOnlyDict(self.tasks))
        object.__setattr__(self, "_frozen", True)

    def wave_of(self, task_id: str) -> int:
        for number, wave in enumerate(self.waves, start=1):
            if task_id in wave:
                return number
        raise KeyError(task_id)

    def line_of(self, task_id: str | None) -> int | None:
        if task_id is None:
            return None
        task = self.tasks.get(task_id)
        return task.line if task else None


class _ReadOnlyDict(dict[str, Task]):
    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("the delegation plan is read-only once the run starts")

    # `|=` is dict's C-level update: it bypasses `update`, so it is refused by name too
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]


class MissingPlan(PlanError):
    """There is no plan file at the path (a caller may word that its own way)."""


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file; raise PlanError listing every problem."""
    source = path.name
    raw = read_plan_file(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PlanError(
            [PlanProblem(source, line, "is not UTF-8 text; save it as UTF-8")]
        ) from None
    # YAML, a Markdown task list or spec-kit's tasks.md, by what the text holds
    tree, problems, _ = read_plan_text(text, source)
    if tree is None:
        raise PlanError(problems)
    return build_plan(tree, path, problems)


def plan_from_dict(data: Mapping[str, Any], path: Path) -> Plan:
    """Build a plan from plain data (for ``pytest_delegation_load_plan`` implementations)."""
    return build_plan(from_python(data), path, [])


def _missing_hint(path: Path) -> str:
    return (
        f"no delegation plan here (looked for {path}{dangling_link(path)}); write one (see "
        "the README's 'plan format'), point --delegation-plan at it, or set the ini option "
        "delegation_plan"
    )


def dangling_link(path: Path) -> str:
    """', a symbolic link to a missing X' when `path` is one, else ''."""
    try:
        return f", a symbolic link to a missing {os.readlink(path)}"
    except (OSError, ValueError):
        return ""


#: what a path that is not a regular file is, by its stat mode
_NOT_A_FILE = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_OPTION = "--delegation-plan (or the ini option delegation_plan)"


def read_plan_file(path: Path) -> bytes:
    """The plan file's bytes, or a PlanError that names it and says what to do.

    It is opened only once ``os.stat`` says it is a regular file: a named pipe would
    block the run forever, a device could be endless. Opened without blocking and
    checked again, so a pipe put there in the meantime is refused too.
    """

    def refuse(message: str) -> PlanError:
        return PlanError([PlanProblem(str(path), None, message)])

    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_BINARY)
            try:
                mode = os.fstat(fd).st_mode
                if stat.S_ISREG(mode):
                    with open(fd, "rb", closefd=False) as file:
                        return file.read()
            finally:
                os.close(fd)
    except (FileNotFoundError, NotADirectoryError):
        raise MissingPlan([PlanProblem(str(path), None, _missing_hint(path))]) from None
    except PermissionError:
        raise refuse(
            "cannot be read: permission denied (on the file, or on a folder it is in); "
            f"let this user read it (chmod), or give {_OPTION} a readable copy"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(
                "is a symbolic link loop (it never reaches a file); point the link at the "
                f"plan file, or give {_OPTION} the plan's own path"
            ) from None
        raise refuse(
            f"cannot read: {exc.strerror or exc}; give {_OPTION} a readable file"
        ) from None
    except ValueError as exc:
        # a path with a NUL character in it
        raise refuse(f"is not a usable path ({exc}); give {_OPTION} the plan's path") from None
    if stat.S_ISDIR(mode):
        raise refuse(
            f"is a folder, not a plan file; give {_OPTION} the plan file's path, such as "
            f"{path / 'delegation.yaml'}"
        )
    kind = next((name for test, name in _NOT_A_FILE if test(mode)), "a special file")
    raise refuse(
        f"is {kind}, not a regular file, and is not read; save the plan to a file and give "
        f"{_OPTION} its path"
    )


# POSIX: a named pipe opens without waiting for a writer. Windows: bytes as they are
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


def build_plan(tree: Node, path: Path, problems: list[PlanProblem]) -> Plan:
    builder = _Builder(path.name, problems)
    plan = builder.plan(tree, path)
    if builder.problems:
        # the run stops here, so list the graph problems (unknown dependency, cycle) too:
        # a user should see every problem at once, not one kind per run
        builder.problems.extend(graph_problems(plan.tasks, path.name, known=builder.task_ids))
        raise PlanError(builder.problems)
    return plan


class _Builder:
    def __init__(self, source: str, problems: list[PlanProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        #: every id under 'tasks:', valid or not
        self.task_ids: set[str] = set()

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(PlanProblem(self.source, line, message))

    def plan(self, tree: Node, path: Path) -> Plan:
        plan = Plan(path=path)
        if not isinstance(tree, Map):
            self.problem(
                tree.line, f"the plan must be a mapping with 'tasks:', not {type_name(tree)}"
            )
            return plan
        for key, key_line, value in self.known_keys(tree, PLAN_KEYS, "in the plan"):
            plan.lines[key] = value.line or key_line or 0
            if key == "version":
                version = self.integer(value, "version")
                if version is not None and version != 1:
                    self.problem(
                        value.line, f"unsupported plan version {shown_number(version)}; use 1"
                    )
            elif key == "max_parallel":
                number = self.integer(value, "max_parallel", minimum=1)
                if number is not None:
                    plan.max_parallel = number
            elif key == "shared":
                plan.shared = self.patterns(value, "shared")
            elif key == "branches":
                plan.branches = self.template(value)
            elif key == "base":
                plan.base_ref = self.ref(value, "base")
            elif key == "tasks":
                self.tasks(value, plan)
        if "tasks" not in tree.items:
            self.problem(tree.line, "the plan has no 'tasks:'; add a mapping of task ids to tasks")
        return plan

    def known_keys(
        self, node: Map, allowed: tuple[str, ...], where: str
    ) -> Iterator[tuple[str, int | None, Node]]:
        for key, (key_line, value) in node.items.items():
            if key in allowed:
                yield key, key_line, value
            else:
                self.problem(
                    key_line,
                    f"unknown key '{key}' {where}{did_you_mean(key, allowed)}"
                    + ("" if did_you_mean(key, allowed) else f" (known: {', '.join(allowed)})"),
                )

    def integer(
        self, node: Node, name: str, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = node.value if isinstance(node, Scalar) else None
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(node.line, f"'{name}' must be an integer, not {type_name(node)}")
            return None
        if minimum is not None and value < minimum:
            self.problem(
                node.line, f"'{name}' must be at least {minimum}, not {shown_number(value)}"
            )
            return None
        if maximum is not None and value > maximum:
            self.problem(
                node.line,
                f"'{name}' must be at most {maximum:,}, not {shown_number(value)}"
                + (
                    " (empty waves are dropped: a smaller number in the same order places "
                    "the task the same)"
                    if name == "wave"
                    else ""
                ),
            )
            return None
        return value

    def text(self, node: Node, name: str) -> str | None:
        if isinstance(node, Scalar) and isinstance(node.value, str):
            return node.value
        if isinstance(node, Scalar) and isinstance(node.value, (int, float)) and name != "task id":
            return shown_number(node.value) if isinstance(node.value, int) else str(node.value)
        self.problem(node.line, f"'{name}' must be text, not {type_name(node)}")
        return None

    def ref(self, node: Node, name: str) -> str | None:
        """A git ref: text without blanks, not starting with '-'."""
        text = self.text(node, name)
        if text is None:
            return None
        text = text.strip()
        if not text or text.startswith("-") or any(c.isspace() for c in text):
            self.problem(
                node.line,
                f"'{name}' must be a git branch or ref like 'agents/parser' or 'main', "
                f"not {text!r}",
            )
            return None
        return text

    def template(self, node: Node) -> str | None:
        """``branches:``: a ref naming each task's branch through ``{task}``."""
        text = self.ref(node, "branches")
        if text is None:
            return None
        rest = text.replace(TASK_PLACEHOLDER, "")
        if TASK_PLACEHOLDER not in text or "{" in rest or "}" in rest:
            self.problem(
                node.line,
                f"'branches' is a template with {TASK_PLACEHOLDER} where each task's id goes, "
                f"like 'agents/{TASK_PLACEHOLDER}', not {text!r}",
            )
            return None
        return text

    def strings(self, node: Node, name: str) -> list[tuple[str, int | None]]:
        """A list of strings; a single string is accepted as a list of one."""
        if isinstance(node, Scalar) and node.value is None:
            return []
        items = node.items if isinstance(node, Seq) else [node]
        result = []
        for item in items:
            if isinstance(item, Scalar) and isinstance(item.value, str) and item.value.strip():
                result.append((item.value.strip(), item.line))
            elif isinstance(item, Scalar) and isinstance(item.value, str):
                entry, fix = EMPTY_ENTRY.get(name, EMPTY_ENTRY["depends_on"])
                spaces = f" ({item.value!r}: only whitespace)" if item.value else ""
                self.problem(
                    item.line, f"'{name}' has an empty {entry}{spaces}; {fix}, or drop the entry"
                )
            else:
                self.problem(
                    item.line, f"every entry of '{name}' must be text, not {type_name(item)}"
                )
        return result

    def patterns(self, node: Node, name: str) -> tuple[str, ...]:
        from pytest_delegation.plan.patterns import pattern_problem

        result = []
        for pattern, line in self.strings(node, name):
            problem = pattern_problem(pattern)
            if problem:
                self.problem(line, f"'{name}' pattern '{pattern}' {problem}")
            else:
                result.append(pattern)
        return tuple(result)

    def tasks(self, node: Node, plan: Plan) -> None:
        if not isinstance(node, Map):
            self.problem(
                node.line, f"'tasks' must be a mapping of task ids, not {type_name(node)}"
            )
            return
        if not node.items:
            self.problem(node.line, "'tasks' is empty; a plan needs at least one task")
        for task_id, (key_line, value) in node.items.items():
            self.task_ids.add(task_id)
            # fullmatch, not match: match's '$' accepts a final newline
            if not TASK_ID.fullmatch(task_id):
                self.problem(
                    key_line,
                    f"task id '{task_id}' must be lowercase words joined by '-' or '_' "
                    f"(like '{_suggest_id(task_id)}')",
                )
                continue
            task = self.task(task_id, key_line, value)
            if task is not None:
                plan.tasks[task_id] = task

    def task(self, task_id: str, line: int | None, node: Node) -> Task | None:
        if isinstance(node, Scalar) and node.value is None:
            return Task(id=task_id, line=line)
        if not isinstance(node, Map):
            self.problem(
                node.line, f"task '{task_id}' must be a mapping of its keys, not {type_name(node)}"
            )
            return None
        values: dict[str, Any] = {}
        positions: dict[str, int] = {}
        for key, key_line, value in self.known_keys(node, TASK_KEYS, f"in task '{task_id}'"):
            positions[key] = value.line or key_line or 0
            if key in ("role", "description", "no_tests"):
                values[key] = self.text(value, key)
            elif key == "branch":
                values[key] = self.ref(value, "branch")
            elif key in ("files", "tests"):
                values[key] = self.patterns(value, key)
            elif key in ("depends_on", "resources"):
                entries = self.strings(value, key)
                values[key] = tuple(dict.fromkeys(text for text, _ in entries))
                for text, entry_line in entries:
                    positions.setdefault(f"{key}:{text}", entry_line or positions[key])
            elif key == "wave":
                values[key] = self.integer(value, "wave", minimum=1, maximum=MAX_WAVE)
        values = {key: value for key, value in values.items() if value is not None}
        return Task(id=task_id, line=line, positions=positions, **values)


def _suggest_id(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    return "-".join(word.lower() for word in words) or "my-task"
