"""gitignore-style patterns (the plan's `files`, `shared`, `tests`) and the project tree.

Paths here are POSIX and relative to the plan's folder. ``pathspec.GitIgnoreSpec`` does
the matching: ``fnmatch`` and ``PurePath.match`` get anchoring and ``**`` wrong.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from functools import cached_property
import os
from pathlib import Path
import re
from typing import Generic
from typing import TypeVar

import pathspec
from pathspec.util import normalize_file


GLOB_CHARS = re.compile(r"[*?\[\\]")
NOT_LITERAL = re.compile(r"[*?/]+")
PRUNED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".eggs",
    }
)
MAX_TREE_FILES = 500_000
K = TypeVar("K")


@cache
def _compiled(line: str) -> pathspec.GitIgnoreSpec:
    """pathspec's compiled form of one pattern line: compiled once per text and process.

    Checking a plan compiles each pattern on its own, and every task's set compiles its
    patterns again; regex compilation is most of the cost of building a plan.
    """
    return pathspec.GitIgnoreSpec.from_lines([line])


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern can't be used, or None."""
    body = pattern[1:] if pattern.startswith("!") else pattern
    if not body.strip("/"):
        return "matches nothing; name a file, folder or glob"
    if ".." in body.split("/"):
        return "leaves the plan's folder ('..'); patterns are relative to the plan file"
    try:
        _compiled(pattern)
    # pathspec raises its own error types across versions
    except Exception as exc:
        return f"is not a valid gitignore pattern ({exc})"
    return None


def literal(pattern: str) -> str | None:
    """The path a pattern names when it is a plain path (no glob, no negation)."""
    if pattern.startswith("!") or GLOB_CHARS.search(pattern):
        return None
    path = pattern.strip("/")
    while path.startswith("./"):
        path = path[2:]
    return path or None


def _for_spec(pattern: str) -> str:
    """gitignore has no './': `./x` means the plan's folder, as the anchored `/x` does.

    `literal` already reads it so; without this, `./a.py` matched `a.py` alone but
    nothing once the same task also had a glob.
    """
    bang = "!" if pattern.startswith("!") else ""
    body = pattern[len(bang) :]
    if not body.startswith("./"):
        return pattern
    while body.startswith("./"):
        body = body[2:]
    return f"{bang}/{body}"


@dataclass(frozen=True)
class Reach:
    """Where the files a pattern set can match lie: these paths, and below these folders.

    Only an including pattern anchored to the plan's folder has a reach: `pkg/a/*.py` can
    match nothing outside `pkg/a/`. A negation only takes files away, so it adds none.
    """

    exact: frozenset[str] = frozenset()
    #: folders, each ending with '/'
    dirs: tuple[str, ...] = ()

    def holds(self, path: str) -> bool:
        # pathspec matches `/x` and `./x` as `x` (and `\\` as `/` on Windows): such a
        # path may lie anywhere as far as its text goes
        return path in self.exact or path.startswith(self.dirs) or normalize_file(path) != path


def _reach(pattern: str) -> Reach | None:
    """The reach of one including pattern (as given to pathspec), or None for anywhere."""
    # pathspec strips a pattern's trailing whitespace (and 0.12 the leading one too),
    # which may move a slash to the end; such a pattern, and `//`, are not worth the risk
    if pattern != pattern.strip() or "//" in pattern:
        return None
    segments = pattern.split("/")
    # gitignore: a slash at the start or in the middle anchors a pattern to the folder
    anchored = not segments[0] or len(segments) > 2 or (len(segments) == 2 and segments[1])
    if not anchored:
        return None
    body = pattern[1:] if pattern.startswith("/") else pattern
    glob = GLOB_CHARS.search(body)
    # a plain path: that file, or everything in that folder
    if glob is None:
        path = body.rstrip("/")
        return Reach(frozenset({path}), (path + "/",)) if path else None
    fixed = body[: glob.start()]
    cut = fixed.rfind("/")
    return Reach(dirs=(fixed[: cut + 1],)) if cut >= 0 else None


def _needle(pattern: str) -> str | None:
    """Text that every path an including pattern matches holds, or None.

    Outside `[...]` and `\\`, a glob's characters other than `*`, `?` and `/` are matched
    as they are, so the longest run of them is in every path the pattern matches (`*.py`:
    `.py`; `task_7_*.py`: `task_7_`). A pattern pathspec may rewrite (padded with blanks)
    gets none.
    """
    if pattern != pattern.strip() or "\\" in pattern or "[" in pattern:
        return None
    return max(NOT_LITERAL.split(pattern), key=len) or None


class PatternSet:
    """The patterns of one task (or of `shared`), in order, so negation works."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.literals = tuple(p for p in (literal(x) for x in self.patterns) if p is not None)
        # a slash before the end anchors a gitignore pattern to the plan's folder; only
        # then does a plain path mean exactly that path (`user.py` matches at any depth)
        self.only_literals = len(self.literals) == len(self.patterns) and all(
            "/" in p.rstrip("/") for p in self.patterns
        )

    @cached_property
    def spec(self) -> pathspec.GitIgnoreSpec:
        # the same as GitIgnoreSpec.from_lines(...), from the patterns compiled once
        return pathspec.GitIgnoreSpec(
            [compiled for p in self.patterns for compiled in _compiled(_for_spec(p)).patterns]
        )

    @cached_property
    def reach(self) -> Reach | None:
        """Where the files this set can match lie; None when they may lie anywhere."""
        if self.only_literals:
            return Reach(frozenset(self.literals), tuple(lit + "/" for lit in self.literals))
        exact: set[str] = set()
        dirs: list[str] = []
        for pattern in self.patterns:
            if pattern.startswith("!"):
                continue
            reach = _reach(_for_spec(pattern))
            if reach is None:
                return None
            exact.update(reach.exact)
            dirs.extend(reach.dirs)
        return Reach(frozenset(exact), tuple(dict.fromkeys(dirs)))

    @cached_property
    def needles(self) -> tuple[str, ...] | None:
        """A text of each including pattern that a path it matches holds (see `_needle`).

        A path holding none of them is not matched; None when some pattern has none.
        """
        found = []
        for pattern in self.patterns:
            if pattern.startswith("!"):
                continue
            needle = _needle(_for_spec(pattern))
            if needle is None:
                return None
            found.append(needle)
        return tuple(dict.fromkeys(found))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str) -> bool:
        if not self.patterns:
            return False
        if self.only_literals:
            return any(path == lit or path.startswith(lit + "/") for lit in self.literals)
        reach = self.reach
        if reach is not None and not reach.holds(path):
            return False
        needles = self.needles
        if needles is not None and not any(needle in path for needle in needles):
            return False
        return bool(self.spec.match_file(path))

    def matching(self, tree: Tree) -> set[str]:
        """Files of the tree this set matches.

        Literal-only sets and sets anchored to folders (`pkg/a/**`) look only there. A
        pattern that can match at any depth (`*.py`) needs the full scan, where a substring
        test (`.py`) spares pathspec most files; `*` or `[ab]*` leave pathspec every file.
        """
        if not self.patterns:
            return set()
        if self.only_literals:
            found = set()
            for lit in self.literals:
                if lit in tree.files:
                    found.add(lit)
                else:
                    found.update(tree.under(lit))
            return found
        reach = self.reach
        needles = self.needles
        candidates: Iterable[str]
        if reach is not None:
            candidates = set(tree.unnormalized)
            candidates.update(path for path in reach.exact if path in tree.files)
            for folder in reach.dirs:
                candidates.update(tree.under(folder))
        elif needles is not None:
            # the full scan, but a substring test first: far cheaper than pathspec
            candidates = set(tree.unnormalized)
            for needle in needles:
                candidates.update(path for path in tree.files if needle in path)
        else:
            candidates = tree.files
        match = self.spec.match_file
        return {path for path in candidates if match(path)}


class PatternIndex(Generic[K]):
    """Many keyed pattern sets (tasks), indexed by reach: which can match a path?

    `matching(path)` gives the keys, in the order given, of the sets that match it, asking
    only the sets whose reach holds the path and those that may match anywhere.
    """

    def __init__(self, items: Iterable[tuple[K, PatternSet]]) -> None:
        self.items = list(items)
        self.anywhere: list[int] = []
        self.exact: dict[str, list[int]] = {}
        self.dirs: dict[str, list[int]] = {}
        for number, (_, patterns) in enumerate(self.items):
            reach = patterns.reach
            if reach is None:
                self.anywhere.append(number)
                continue
            for path in reach.exact:
                self.exact.setdefault(path, []).append(number)
            for folder in reach.dirs:
                self.dirs.setdefault(folder, []).append(number)

    def candidates(self, path: str) -> Sequence[int]:
        """Positions of the sets that may match `path`, in order."""
        if normalize_file(path) != path:
            return range(len(self.items))
        found = set(self.anywhere)
        found.update(self.exact.get(path, ()))
        if self.dirs:
            slash = path.find("/")
            while slash >= 0:
                found.update(self.dirs.get(path[: slash + 1], ()))
                slash = path.find("/", slash + 1)
        return sorted(found)

    def matching(self, path: str) -> list[K]:
        items = self.items
        return [
            items[number][0] for number in self.candidates(path) if items[number][1].matches(path)
        ]


class Tree:
    """The files under the plan's folder, listed once, lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @cached_property
    def files(self) -> frozenset[str]:
        return frozenset(walk(self.root))

    @cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.files)

    @cached_property
    def unnormalized(self) -> tuple[str, ...]:
        """Files pathspec reads as another path (`./x` as `x`); none from `walk`."""
        return tuple(path for path in self.files if normalize_file(path) != path)

    def under(self, folder: str) -> Iterator[str]:
        prefix = folder.rstrip("/") + "/"
        start = bisect.bisect_left(self._sorted, prefix)
        for path in self._sorted[start:]:
            if not path.startswith(prefix):
                break
            yield path


def walk(root: Path) -> Iterator[str]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if d not in PRUNED_DIRS
            and not d.endswith(".egg-info")
            and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
        ]
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for name in filenames:
            yield prefix + name
            count += 1
            if count >= MAX_TREE_FILES:
                return


def relative_to(path: str, folder: str) -> str | None:
    """`path` (relative to rootdir) relative to `folder` (also rootdir-relative), or None."""
    if not folder:
        return path
    if path.startswith(folder + "/"):
        return path[len(folder) + 1 :]
    return None
