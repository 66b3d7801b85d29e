"""Changes to a plan: applied to the user's YAML text, or written out as a fresh plan.

PyYAML cannot write a document back with its comments, so `apply_to_yaml` edits the
text: the plan is composed (nodes know where they start and end) and only the spans a
change needs are rewritten, in the style already there (block or flow lists, a flow
mapping task, CRLF). Whatever it writes is read back and compared with the plan the
changes describe (`apply_changes`): a text it cannot edit so is an `EditError`, never a
wrong plan. `render_plan` writes plans that were not YAML (Markdown, spec-kit,
CODEOWNERS, inferred), with the reason of every change beside its line.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import build_plan
from pytest_delegation.plan.patterns import GLOB_CHARS
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import literal
from pytest_delegation.plan.positions import read_yaml
from pytest_delegation.plan.problems import PlanError


#: what a change does: `task` gets a dependency, a file, loses a file (`unclaim`), a
#: `wave:`; the plan's `shared:` gets a path; `task` is a new task (`value`: its role)
KINDS = ("depends_on", "shared", "files", "unclaim", "wave", "task")
#: an inserted flow list longer than this is written as a block list
FLOW_WIDTH = 88
_WIDE = 2**31 - 1
_BREAKS = "\r\n\x85\u2028\u2029"


@dataclass(frozen=True)
class Change:
    """One edit of the plan and the reason a person reads for it (one line).

    `value` is a task id (`depends_on`), a pattern (`files`, `shared`), a plan-relative
    path (`unclaim`: the task's `files:` stop matching it), a wave number (`wave`) or a
    role (`task`). `rule` is the finding's rule the change answers.
    """

    kind: str
    task: str | None
    value: str | int
    reason: str
    rule: str


class EditError(ValueError):
    """The plan's text cannot be edited in place (aliases, a shape not handled)."""


def path_pattern(path: str) -> str:
    """The pattern that names exactly one plan-relative path (anchored, globs escaped)."""
    escaped = "".join("\\" + char if GLOB_CHARS.match(char) else char for char in path)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    # gitignore: a pattern without a slash before its end matches at any depth
    return escaped if "/" in escaped.rstrip("/") else "/" + escaped


def apply_changes(plan: Plan, changes: Iterable[Change]) -> Plan:
    """A new (unfrozen) plan: `plan` with the changes applied, in order."""
    tasks = dict(plan.tasks)
    shared = list(plan.shared)
    for change in changes:
        if change.kind == "shared":
            if change.value not in shared:
                shared.append(str(change.value))
            continue
        if change.task is None:
            raise ValueError(f"a '{change.kind}' change names no task")
        if change.kind == "task":
            tasks.setdefault(change.task, Task(id=change.task, role=str(change.value)))
            continue
        task = tasks.get(change.task)
        if task is None:
            raise ValueError(f"a '{change.kind}' change names the unknown task '{change.task}'")
        tasks[change.task] = _changed(task, change)
    result = Plan(path=plan.path, tasks=tasks, shared=tuple(shared), lines=dict(plan.lines))
    # the rest as it was (max_parallel, version, what other readers add)
    for name in (f.name for f in fields(plan)):
        if name not in ("path", "tasks", "shared", "lines", "waves", "_frozen"):
            setattr(result, name, getattr(plan, name))
    return result


def _changed(task: Task, change: Change) -> Task:
    value = change.value
    if change.kind == "depends_on":
        if value in task.depends_on or value == task.id:
            return task
        return replace(task, depends_on=(*task.depends_on, str(value)))
    if change.kind == "files":
        return task if value in task.files else replace(task, files=(*task.files, str(value)))
    if change.kind == "unclaim":
        path = str(value)
        files = tuple(p for p in task.files if literal(p) != path)
        if PatternSet(files).matches(path):
            files = (*files, "!" + path_pattern(path))
        return replace(task, files=files)
    if change.kind == "wave":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"a 'wave' change needs a number, not {value!r}")
        return replace(task, wave=value)
    raise ValueError(f"unknown change kind '{change.kind}' (known: {', '.join(KINDS)})")


def plan_content(plan: Plan) -> dict[str, Any]:
    """What a plan says, as plain data: two plans saying the same compare equal."""
    return {
        "version": plan.version,
        "max_parallel": plan.max_parallel,
        "shared": plan.shared,
        "tasks": [
            (
                t.id,
                t.role,
                t.description,
                t.files,
                t.tests,
                t.depends_on,
                t.resources,
                t.wave,
                t.no_tests,
            )
            for t in plan.tasks.values()
        ],
    }


def load_text(text: str, source: str = "delegation.yaml") -> Plan:
    """The plan a YAML text holds; PlanError when it holds none."""
    tree, problems = read_yaml(text, source)
    if tree is None:
        raise PlanError(problems)
    return build_plan(tree, Path(source), problems)


def scalar_text(value: str, flow: bool = True) -> str:
    """`value` as YAML writes it: plain where it can be, else double-quoted.

    `flow`: also inside a flow list (`[a, b]`), where `,` and brackets need quotes; else
    only in block context (`- value`, `key: value`).
    """
    if flow:
        dumped = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=_WIDE)
        inner = dumped.strip()[1:-1]
    else:
        dumped = yaml.safe_dump(
            {"k": value}, default_flow_style=False, allow_unicode=True, width=_WIDE
        )
        inner = dumped[3:].rstrip("\n")
    if inner and inner[0] not in "'\"" and not any(char in inner for char in _BREAKS):
        return inner
    quoted = yaml.safe_dump(value, default_style='"', allow_unicode=True, width=_WIDE)
    return quoted.split("\n", 1)[0]


def _flow(values: Iterable[str]) -> str:
    return "[" + ", ".join(scalar_text(value) for value in values) + "]"


# -- editing the text ------------------------------------------------------------------


def apply_to_yaml(text: str, changes: Sequence[Change]) -> str:
    """The YAML plan `text` with the changes applied, every other byte as it was.

    Raises PlanError when `text` is no valid plan, EditError when it cannot be edited in
    place (say, a value behind a YAML alias); the result is checked to load as the plan
    the changes describe.
    """
    before = load_text(text)
    after = apply_changes(before, changes)
    if plan_content(after) == plan_content(before):
        return text
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:  # pragma: no cover - load_text read it
        raise EditError(f"cannot read the plan again: {exc}") from None
    if not isinstance(root, yaml.MappingNode):  # pragma: no cover - load_text refuses
        raise EditError("the plan is not a mapping")
    editor = _Editor(text, root)
    editor.plan(before, after)
    result = editor.result()
    try:
        edited = load_text(result)
    except PlanError as exc:
        raise EditError(f"editing the plan in place failed ({exc}); edit it by hand") from None
    if plan_content(edited) != plan_content(after):
        raise EditError("editing the plan in place did not give the plan wanted; edit it by hand")
    return result


class _Editor:
    """Spans of the text to replace, applied at once, last first."""

    def __init__(self, text: str, root: yaml.MappingNode) -> None:
        self.text = text
        self.root = root
        self.nl = "\r\n" if "\r\n" in text else "\n"
        #: (start, end, order, replacement)
        self.ops: list[tuple[int, int, int, str]] = []
        self.seen: dict[int, int] = {}
        _count(root, self.seen)

    def put(self, start: int, end: int, new: str) -> None:
        self.ops.append((start, end, len(self.ops), new))

    def result(self) -> str:
        text = self.text
        ops = sorted(self.ops)
        for before, after in pairwise(ops):
            if after[0] < before[1]:
                raise EditError("overlapping edits of the plan; edit it by hand")
        for start, end, _, new in reversed(ops):
            text = text[:start] + new + text[end:]
        return text

    # -- positions

    def line_end(self, at: int) -> int:
        while at < len(self.text) and self.text[at] not in "\r\n":
            at += 1
        return at

    def line_start(self, at: int) -> int:
        while at > 0 and self.text[at - 1] not in "\r\n":
            at -= 1
        return at

    def content_end(self, node: yaml.Node) -> int:
        """Where a node's own text ends (block collections end at the next token)."""
        if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
            return self.content_end(node.value[-1][1])
        if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
            return self.content_end(node.value[-1])
        end = node.end_mark.index
        if isinstance(node, yaml.ScalarNode):
            while end > node.start_mark.index and self.text[end - 1] in " \t\r\n":
                end -= 1
        return end

    def after_colon(self, key: yaml.Node) -> int:
        at = self.text.index(":", key.end_mark.index)
        return at + 1

    def checked(self, key: yaml.Node, node: yaml.Node) -> yaml.Node | None:
        """`node` if it may be edited in place; None when it is an alias (`*name`)."""
        if self.seen.get(id(node), 0) < 2:
            return node
        at = self.after_colon(key)
        while self.text.startswith((" ", "\t"), at):
            at += 1
        if self.text.startswith("*", at):
            return None
        raise EditError(
            f"line {node.start_mark.line + 1}: a value other places use through a YAML alias "
            "cannot be edited in place; write it out, or edit the plan by hand"
        )

    def alias_span(self, key: yaml.Node) -> tuple[int, int]:
        start = self.after_colon(key)
        while self.text.startswith((" ", "\t"), start):
            start += 1
        end = start
        while end < len(self.text) and self.text[end] not in " \t\r\n,]}":
            end += 1
        return start, end

    # -- the plan

    def plan(self, before: Plan, after: Plan) -> None:
        pairs = _pairs(self.root)
        tasks_key, tasks_node = pairs["tasks"]
        if self.seen.get(id(tasks_node), 0) > 1 or not isinstance(tasks_node, yaml.MappingNode):
            raise EditError("the plan's tasks: cannot be edited in place; edit it by hand")
        if after.shared != before.shared:
            if "shared" in pairs:
                self.list_value(*pairs["shared"], before.shared, after.shared)
            elif self.root.flow_style:
                at = tasks_key.start_mark.index
                self.put(at, at, f"shared: {_flow(after.shared)}, ")
            else:
                start = self.line_start(tasks_key.start_mark.index)
                lines = self.key_lines("shared", after.shared, tasks_key.start_mark.column)
                self.put(start, start, "".join(line + self.nl for line in lines))
        task_pairs = _pairs(tasks_node)
        step = _step(tasks_node)
        for task_id, task in after.tasks.items():
            old = before.tasks.get(task_id)
            if old is None:
                self.new_task(tasks_node, task, step)
            elif _content(old) != _content(task):
                key, node = task_pairs[task_id]
                if self.seen.get(id(node), 0) > 1:
                    raise EditError(
                        f"task '{task_id}' is a YAML alias; write it out, or edit the plan by hand"
                    )
                self.task(key, node, old, task, step)

    def new_task(self, tasks: yaml.MappingNode, task: Task, step: int) -> None:
        entries: list[tuple[str, Sequence[str] | int]] = [
            (name, getattr(task, name))
            for name in ("files", "depends_on", "wave")
            if getattr(task, name) not in ((), None)
        ]
        if tasks.flow_style:
            body = [f"role: {scalar_text(task.role)}"] if task.role else []
            body += [f"{name}: {_value_text(value)}" for name, value in entries]
            self.put(*self.flow_insert(tasks, f"{task.id}: {{{', '.join(body)}}}"))
            return
        column = tasks.value[0][0].start_mark.column
        at = self.line_end(self.content_end(tasks))
        # the last task's closing comments (indented under it) stay with it
        while True:
            start = at + (2 if self.text.startswith("\r\n", at) else 1)
            end = self.line_end(start)
            line = self.text[start:end]
            if start > len(self.text) or not line.lstrip().startswith("#"):
                break
            if len(line) - len(line.lstrip()) <= column:
                break
            at = end
        inner = " " * (column + step)
        lines = [f"{inner}role: {scalar_text(task.role, flow=False)}"] if task.role else []
        lines += [
            line for name, value in entries for line in self.key_lines(name, value, column + step)
        ]
        head = f"{' ' * column}{task.id}:" + ("" if lines else " {}")
        self.put(at, at, "".join(self.nl + line for line in [head, *lines]))

    def flow_insert(self, node: yaml.Node, entry: str) -> tuple[int, int, str]:
        """Where and what to insert to add `entry` to a flow mapping or list."""
        if node.value:
            last = node.value[-1]
            at = self.content_end(last[1] if isinstance(last, tuple) else last)
            return at, at, ", " + entry
        at = node.end_mark.index - 1
        return at, at, entry

    def task(self, key: yaml.Node, node: yaml.Node, old: Task, new: Task, step: int) -> None:
        pairs = _pairs(node) if isinstance(node, yaml.MappingNode) else {}
        missing: list[tuple[str, Sequence[str] | int]] = []
        for name in ("files", "depends_on", "wave"):
            before, after = getattr(old, name), getattr(new, name)
            if before == after:
                continue
            if name in pairs:
                if name == "wave":
                    self.wave_value(*pairs[name], after)
                else:
                    self.list_value(*pairs[name], before, after)
            else:
                missing.append((name, after))
        if not missing:
            return
        if isinstance(node, yaml.MappingNode) and node.flow_style:
            entries = [f"{name}: {_value_text(value)}" for name, value in missing]
            self.put(*self.flow_insert(node, ", ".join(entries)))
        elif isinstance(node, yaml.MappingNode):
            column = node.value[0][0].start_mark.column
            self.insert_lines(self.content_end(node), missing, column)
        elif node.start_mark.index == node.end_mark.index:
            # `id:` with nothing after it: the keys go on the lines below
            self.insert_lines(key.end_mark.index, missing, key.start_mark.column + step)
        else:
            # `id: ~`
            entries = [f"{name}: {_value_text(value)}" for name, value in missing]
            self.put(node.start_mark.index, node.end_mark.index, "{" + ", ".join(entries) + "}")

    def insert_lines(
        self, after: int, entries: Sequence[tuple[str, Sequence[str] | int]], column: int
    ) -> None:
        at = self.line_end(after)
        lines = [line for name, value in entries for line in self.key_lines(name, value, column)]
        self.put(at, at, "".join(self.nl + line for line in lines))

    def key_lines(self, name: str, value: Sequence[str] | int, column: int) -> list[str]:
        indent = " " * column
        text = _value_text(value)
        if isinstance(value, int) or column + len(name) + 2 + len(text) <= FLOW_WIDTH:
            return [f"{indent}{name}: {text}"]
        return [f"{indent}{name}:"] + [
            f"{indent}  - {scalar_text(item, flow=False)}" for item in value
        ]

    def wave_value(self, key: yaml.Node, node: yaml.Node, wave: int | None) -> None:
        checked = self.checked(key, node)
        if checked is None:
            self.put(*self.alias_span(key), str(wave))
        elif checked.start_mark.index == checked.end_mark.index:
            self.put(checked.start_mark.index, checked.start_mark.index, f" {wave}")
        else:
            self.put(checked.start_mark.index, self.content_end(checked), str(wave))

    def list_value(
        self, key: yaml.Node, node: yaml.Node, old: Sequence[str], new: Sequence[str]
    ) -> None:
        kept = [value for value in old if value in new]
        removed = {value for value in old if value not in new}
        added = list(new[len(kept) :])
        checked = self.checked(key, node)
        if list(new[: len(kept)]) != kept or checked is None:
            # not a removal and an addition at the end: write the list out
            if checked is None:
                self.put(*self.alias_span(key), _flow(new))
            else:
                self.rewrite(key, checked, new)
            return
        if isinstance(checked, yaml.SequenceNode) and checked.flow_style:
            if removed:
                texts = [self.source(item) for item in checked.value if _text(item) not in removed]
                texts += [scalar_text(value) for value in added]
                self.put(checked.start_mark.index, checked.end_mark.index, f"[{', '.join(texts)}]")
            else:
                self.put(*self.flow_insert(checked, ", ".join(map(scalar_text, added))))
        elif isinstance(checked, yaml.SequenceNode):
            self.block_list(key, checked, removed, added, new)
        elif isinstance(checked, yaml.ScalarNode):
            self.scalar_list(checked, removed, added, new)
        else:  # pragma: no cover - a mapping is no valid list
            raise EditError(f"line {checked.start_mark.line + 1}: not a list")

    def source(self, node: yaml.Node) -> str:
        text = self.text[node.start_mark.index : self.content_end(node)]
        if isinstance(node, yaml.ScalarNode) and node.style not in ("|", ">"):
            if not any(char in text for char in _BREAKS):
                return text
        return scalar_text(_text(node))

    def rewrite(self, key: yaml.Node, node: yaml.Node, values: Sequence[str]) -> None:
        """Replace the whole value with a flow list (comments inside it are lost)."""
        if isinstance(node, yaml.SequenceNode) and not node.flow_style:
            self.put(self.after_colon(key), self.content_end(node), " " + _flow(values))
        elif node.start_mark.index == node.end_mark.index:
            self.put(node.start_mark.index, node.start_mark.index, " " + _flow(values))
        else:
            self.put(node.start_mark.index, self.content_end(node), _flow(values))

    def block_list(
        self,
        key: yaml.Node,
        node: yaml.SequenceNode,
        removed: set[str],
        added: Sequence[str],
        new: Sequence[str],
    ) -> None:
        items = node.value
        spans = []
        for item in items:
            if _text(item) not in removed:
                continue
            start = self.line_start(item.start_mark.index)
            end = self.line_end(self.content_end(item))
            rest = self.text[self.content_end(item) : end].strip()
            if self.text[start : item.start_mark.index].strip() != "-" or (
                rest and not rest.startswith("#")
            ):
                self.rewrite(key, node, new)
                return
            # the line with the break before it: the break after it stays
            if start == 0:
                end = end + 2 if self.text.startswith("\r\n", end) else end + 1
                spans.append((0, min(end, len(self.text))))
            else:
                spans.append(
                    (start - 2 if self.text[start - 2 : start] == "\r\n" else start - 1, end)
                )
        for start, end in spans:
            self.put(start, end, "")
        if not new:
            # no item left: an empty flow list on the key's line, comments kept
            at = self.after_colon(key)
            self.put(at, at, " []")
        if added:
            last = items[-1]
            start = self.line_start(last.start_mark.index)
            prefix = self.text[start : last.start_mark.index]
            if prefix.strip() != "-":
                prefix = " " * node.start_mark.column + "- "
            at = self.line_end(self.content_end(last))
            self.put(
                at,
                at,
                "".join(self.nl + prefix + scalar_text(value, flow=False) for value in added),
            )

    def scalar_list(
        self, node: yaml.ScalarNode, removed: set[str], added: Sequence[str], new: Sequence[str]
    ) -> None:
        start = node.start_mark.index
        if start == node.end_mark.index:
            # `files:` with nothing after it
            self.put(start, start, " " + _flow(new))
            return
        end = self.content_end(node)
        if node.tag != "tag:yaml.org,2002:str" or removed:
            self.put(start, end, _flow(new))
            return
        texts = [self.source(node), *(scalar_text(value) for value in added)]
        self.put(start, end, f"[{', '.join(texts)}]")


def _count(node: yaml.Node, seen: dict[int, int]) -> None:
    """How often each node is met in the tree (more than once: an alias)."""
    stack = [node]
    while stack:
        current = stack.pop()
        seen[id(current)] = seen.get(id(current), 0) + 1
        if seen[id(current)] > 1:
            continue
        if isinstance(current, yaml.MappingNode):
            stack.extend(child for pair in current.value for child in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def _pairs(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Key text -> (key node, value node); the first of duplicates (a valid plan has none)."""
    result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            result.setdefault(str(key.value), (key, value))
    return result


def _step(tasks: yaml.MappingNode) -> int:
    """How much deeper than their task the keys of a task are written (2 if none says)."""
    for key, value in tasks.value:
        if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
            inner: int = value.value[0][0].start_mark.column
            outer: int = key.start_mark.column
            return max(inner - outer, 1)
    return 2


def _text(node: yaml.Node) -> str:
    return str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""


def _value_text(value: Sequence[str] | int) -> str:
    return str(value) if isinstance(value, int) else _flow(value)


def _content(task: Task) -> tuple[object, ...]:
    return (task.files, task.depends_on, task.wave, task.role)


# -- a fresh plan ----------------------------------------------------------------------


def render_plan(
    plan: Plan,
    changes: Sequence[Change],
    tests_of: Mapping[str, Sequence[str]] | None = None,
    header: str = "",
) -> str:
    """A YAML plan: `plan` with the changes, each changed line saying why.

    `tests_of` gives tests (selectors or node ids) to write as `tests:` of the tasks
    that have none: plans whose format cannot name them. `header` lines come first, as
    comments.
    """
    after = apply_changes(plan, changes)
    notes = _Notes(changes, plan)
    lines = [("# " + line).rstrip() for line in header.splitlines()]
    lines += [f"version: {after.version}", f"max_parallel: {after.max_parallel}"]
    if after.shared:
        lines.append("shared:")
        lines += [notes.item("  ", value, notes.shared.get(value)) for value in after.shared]
    lines.append("tasks:")
    for task in after.tasks.values():
        tests = task.tests or tuple((tests_of or {}).get(task.id, ()))
        lines.append(notes.line(f"  {task.id}:", notes.tasks.get(task.id)))
        body = []
        for name in ("role", "description"):
            if getattr(task, name):
                body.append(f"    {name}: {scalar_text(getattr(task, name), flow=False)}")
        for name, values in (
            ("files", task.files),
            ("tests", tests),
            ("depends_on", task.depends_on),
            ("resources", task.resources),
        ):
            dropped = notes.dropped.get(task.id, []) if name == "files" else []
            if not values and not dropped:
                continue
            if not values:
                body.append(notes.line("    files: []", dropped[0][1]))
                continue
            body.append(f"    {name}:")
            body += [f"      # suggested: dropped {path}: {why}" for path, why in dropped]
            body += [
                notes.item("      ", value, notes.items.get((task.id, name, value)))
                for value in values
            ]
        if task.wave is not None:
            body.append(notes.line(f"    wave: {task.wave}", notes.waves.get(task.id)))
        if task.no_tests:
            body.append(f"    no_tests: {scalar_text(task.no_tests, flow=False)}")
        if not body:
            lines[-1] = notes.line(f"  {task.id}: {{}}", notes.tasks.get(task.id))
        lines += body
    return "\n".join(lines) + "\n"


class _Notes:
    """The reason of each change, by the line it shows on."""

    def __init__(self, changes: Sequence[Change], plan: Plan) -> None:
        self.shared: dict[str, str] = {}
        self.tasks: dict[str, str] = {}
        self.waves: dict[str, str] = {}
        self.items: dict[tuple[str, str, str], str] = {}
        self.dropped: dict[str, list[tuple[str, str]]] = {}
        for change in changes:
            reason = " ".join(change.reason.split())
            value = str(change.value)
            if change.kind == "shared":
                self.shared.setdefault(value, reason)
            elif change.task is None:
                continue
            elif change.kind == "task":
                self.tasks.setdefault(change.task, reason)
            elif change.kind == "wave":
                self.waves[change.task] = reason
            elif change.kind == "unclaim":
                self.items.setdefault((change.task, "files", "!" + path_pattern(value)), reason)
                task = plan.tasks.get(change.task)
                if task and any(literal(pattern) == value for pattern in task.files):
                    self.dropped.setdefault(change.task, []).append((value, reason))
            else:
                self.items.setdefault((change.task, change.kind, value), reason)

    def line(self, text: str, reason: str | None) -> str:
        return f"{text}  # suggested: {reason}" if reason else text

    def item(self, indent: str, value: str, reason: str | None) -> str:
        return self.line(f"{indent}- {scalar_text(value, flow=False)}", reason)
