"""YAML (or plain Python data) to a small tree that remembers the line of every node.

PyYAML's ``safe_load`` forgets positions and silently keeps the last of two duplicate
keys, so the plan is read with ``yaml.compose`` and walked here: errors point at a line
and duplicates are reported. libyaml (``yaml.CSafeLoader``) composes about ten times
faster and reads the plan when installed, but the answer must not depend on it. A plan it
does not read cleanly (its errors are worded otherwise; it gives up on nesting over
1,000) is read again with the pure-Python loader, so a broken plan gets PyYAML's messages
and lines; text the two read differently goes to that loader directly (`pyyaml_only`,
and the comment above ``PYYAML_ONLY_CHARS``). A plan past ``MAX_NODES`` or ``MAX_DEPTH``
is not read again: the answer is the same, and PyYAML would take ten times as long. Where
this fits in a run: the README's "How it works".
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
import gc
from typing import Any
from typing import Union
from typing import cast

import yaml

from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import shown_number


MAX_NODES = 200_000
MAX_DEPTH = 64

STR_TAG = "tag:yaml.org,2002:str"

# None without libyaml (PyYAML built without it): then only the pure-Python loader
FAST_LOADER = cast("type[yaml.CSafeLoader] | None", getattr(yaml, "CSafeLoader", None))
# text libyaml reads otherwise than PyYAML: tabs, BOMs and Unicode line breaks anywhere
# (libyaml accepts some PyYAML refuses), a tag at a token's start (a bare `!` is '' to
# libyaml, None to PyYAML), a directive; and text without a final newline (libyaml marks
# the end of the stream a line later). A plan rarely holds any of them. The fuzz tests
# (tests/test_plan_fuzz.py) compare what the two loaders make of the rest.
PYYAML_ONLY_CHARS = "\t\ufeff\x85\u2028\u2029"
# what may come just before a tag's `!`: one of these, whitespace, or nothing
BEFORE_A_TAG = "[{,?:"


def pyyaml_only(text: str) -> bool:
    """Whether only the pure-Python loader may read `text` (see the module's docstring)."""
    return (
        not text.endswith("\n")
        or any(char in text for char in PYYAML_ONLY_CHARS)
        or text.startswith("%")
        or "\n%" in text
        or "\r%" in text
        or _has_tag(text)
    )


def _has_tag(text: str) -> bool:
    """A `!` where a token starts (not inside a word such as `a!b`, nor after a quote)."""
    at = text.find("!")
    while at >= 0:
        if at == 0 or text[at - 1] in BEFORE_A_TAG or text[at - 1].isspace():
            return True
        at = text.find("!", at + 1)
    return False


@dataclass
class Scalar:
    value: object
    line: int | None


@dataclass
class Seq:
    items: list[Node]
    line: int | None


@dataclass
class Map:
    #: key text -> (key line, value node); insertion order is the document's order
    items: dict[str, tuple[int | None, Node]] = field(default_factory=dict)
    line: int | None = None


# a runtime alias: 3.10 has no | on classes here
Node = Union[Scalar, Seq, Map]  # noqa: UP007


def type_name(node: Node) -> str:
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    value = node.value
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[PlanProblem] = []
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append(PlanProblem(self.source, line, message))

    def walk(self, node: yaml.Node, depth: int) -> Node:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _TooBig(line, deep=depth > MAX_DEPTH)
        if isinstance(node, yaml.MappingNode):
            return self.walk_map(node, line, depth)
        if isinstance(node, yaml.SequenceNode):
            return Seq([self.walk(child, depth + 1) for child in node.value], line)
        if node.tag == STR_TAG:
            # what SafeConstructor.construct_yaml_str returns, without its bookkeeping:
            # most values of a plan are strings
            return Scalar(node.value, line)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(line, f"cannot read this value: {_describe(exc)}")
            value = None
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            # PyYAML's scalar constructors raise plain errors for values their resolver or
            # an explicit tag sent them: `2020-13-45` (a date), `!!int x`, `!!bool maybe`
            self.problem(line, f"cannot read this value: {type(exc).__name__}: {exc}")
            value = None
        return Scalar(value, line)

    def walk_map(self, node: yaml.MappingNode, line: int, depth: int) -> Map:
        result = Map(line=line)
        merged: dict[str, tuple[int | None, Node]] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.merge(merged, value_node, depth)
                continue
            key = self.walk(key_node, depth + 1)
            if not isinstance(key, Scalar) or key.value is None:
                self.problem(key_line, "a key must be a plain name")
                continue
            text = str(key.value)
            if isinstance(key.value, bool):
                # `yes:`/`no:`/`on:` are booleans in YAML 1.1; the user meant the word
                text = key_node.value if isinstance(key_node.value, str) else text
            if text in result.items:
                first = result.items[text][0]
                self.problem(
                    key_line,
                    f"duplicate key '{text}' (first defined on line {first}); "
                    "YAML keeps only one of them: merge the two entries",
                )
                continue
            result.items[text] = (key_line, self.walk(value_node, depth + 1))
        for name, entry in merged.items():
            result.items.setdefault(name, entry)
        return result

    def merge(self, into: dict[str, tuple[int | None, Node]], node: yaml.Node, depth: int) -> None:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            walked = self.walk(source, depth + 1)
            if not isinstance(walked, Map):
                self.problem(walked.line, "'<<' can only merge mappings")
                continue
            for key, entry in walked.items.items():
                into.setdefault(key, entry)


class _TooBig(Exception):
    """The walk passed MAX_DEPTH (`deep`) or MAX_NODES, at `line`."""

    def __init__(self, line: int, deep: bool) -> None:
        self.line = line
        self.deep = deep


def _too_big(root: yaml.Node, deep: bool) -> str:
    """Why the walk from `root` stopped, for the user: what the plan holds decides.

    An alias is the node of its anchor, met again: a node met on its own path is a
    recursive alias, one met twice elsewhere a repeated one. The composed graph is walked
    once per distinct node, at most MAX_NODES of them, so this costs less than the walk.
    """
    seen: set[int] = set()
    repeated = False
    # (node, whether its children are done); `path` holds the ids on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    path: set[int] = set()
    while stack and len(seen) <= MAX_NODES:
        node, done = stack.pop()
        if done:
            path.discard(id(node))
            continue
        if id(node) in path:
            return (
                "the plan is recursive: an alias (*name) stands for a value that contains "
                "it, so the plan never ends; write the values out instead"
            )
        if id(node) in seen:
            repeated = True
            continue
        seen.add(id(node))
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            path.add(id(node))
            stack.append((node, True))
            children = (
                node.value
                if isinstance(node, yaml.SequenceNode)
                else [child for pair in node.value for child in pair]
            )
            stack.extend((child, False) for child in reversed(children))
    if deep and not repeated:
        return (
            f"the plan is nested too deeply: more than {MAX_DEPTH} levels, where a plan "
            "needs 4; write it flatter"
        )
    if deep:
        return (
            f"the plan is nested too deeply through aliases: more than {MAX_DEPTH} levels "
            "once they are expanded; write the values out"
        )
    if repeated and len(seen) <= MAX_NODES:
        return (
            f"the plan expands too far: its aliases repeat values to more than "
            f"{MAX_NODES:,} in all, the most a plan may hold; write the values out"
        )
    return (
        f"the plan is too big: it holds more than {MAX_NODES:,} values, the most a plan "
        "may hold; split the work into several plans"
    )


def _describe(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    text = " ".join(str(part) for part in (context, problem) if part) or str(exc)
    return text.replace("\n", " ")


def read_yaml(text: str, source: str) -> tuple[Node | None, list[PlanProblem]]:
    """Parse one YAML document; return its tree (or None) and every problem found."""
    with _collector_paused():
        return _read_either(text, source)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a plan is composed and walked.

    Both allocate a node object per value and free none: the collector would scan them
    again and again, for nothing (three times the time of a 1,000-task plan, five
    times at the node limit). A recursive alias leaves cycles: collected afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_either(text: str, source: str) -> tuple[Node | None, list[PlanProblem]]:
    if FAST_LOADER is not None and not pyyaml_only(text):
        try:
            tree, problems = _read(text, source, FAST_LOADER)
        except _PlanTooBig as exc:
            # the same words with either loader, and PyYAML would take ten times as long
            return None, [exc.problem]
        # libyaml failing in a way PyYAML does not: PyYAML decides
        except Exception:
            tree, problems = None, []
        if tree is not None and not problems:
            return tree, problems
        # something is wrong with the plan: say it in PyYAML's words (see the docstring)
    return _read_yaml(text, source, yaml.SafeLoader)


class _PlanTooBig(Exception):
    """The plan passed MAX_NODES or MAX_DEPTH: a final answer, whatever the loader."""

    def __init__(self, problem: PlanProblem) -> None:
        self.problem = problem


def _read_yaml(
    text: str, source: str, loader: type[yaml.SafeLoader | yaml.CSafeLoader]
) -> tuple[Node | None, list[PlanProblem]]:
    try:
        return _read(text, source, loader)
    except _PlanTooBig as exc:
        return None, [exc.problem]


def _read(
    text: str, source: str, loader: type[yaml.SafeLoader | yaml.CSafeLoader]
) -> tuple[Node | None, list[PlanProblem]]:
    """`_read_yaml`, but a plan past the limits raises _PlanTooBig."""
    reader = _Reader(source)
    try:
        nodes = list(yaml.compose_all(text, Loader=loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, [PlanProblem(source, line, f"invalid YAML: {_describe(exc)}")]
    except yaml.YAMLError as exc:
        return None, [PlanProblem(source, None, f"invalid YAML: {_describe(exc)}")]
    except RecursionError:
        return None, [PlanProblem(source, None, "invalid YAML: nested too deeply")]
    documents = [node for node in nodes if node is not None]
    if not documents:
        return None, [PlanProblem(source, None, "the plan is empty; it needs at least 'tasks:'")]
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        return None, [
            PlanProblem(
                source, line, "the plan holds several YAML documents; keep one (drop '---')"
            )
        ]
    try:
        tree = reader.walk(documents[0], 0)
    except _TooBig as exc:
        problem = PlanProblem(source, exc.line, _too_big(documents[0], exc.deep))
        raise _PlanTooBig(problem) from None
    return tree, reader.problems


def from_python(data: object) -> Node:
    """Wrap plain Python data (from a hook) in the same tree, without line numbers."""
    return _from_python(data, 0)


def _from_python(data: object, depth: int) -> Node:
    if depth > MAX_DEPTH:
        return Scalar("<nested too deeply>", None)
    if isinstance(data, Mapping):
        result = Map()
        for key, value in data.items():
            name = shown_number(key) if isinstance(key, int) else str(key)
            result.items[name] = (None, _from_python(value, depth + 1))
        return result
    if isinstance(data, (list, tuple)):
        return Seq([_from_python(item, depth + 1) for item in data], None)
    return Scalar(data, None)


def plain(node: Node) -> Any:
    """The tree back as plain Python data (for messages and tests)."""
    if isinstance(node, Map):
        return {key: plain(value) for key, (_, value) in node.items.items()}
    if isinstance(node, Seq):
        return [plain(item) for item in node.items]
    return node.value
