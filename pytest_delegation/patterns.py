"""gitignore-style patterns (the plan's `files`, `shared`, `tests`) and the project tree.

Paths here are POSIX and relative to the plan's folder. ``pathspec.GitIgnoreSpec`` does
the matching: ``fnmatch`` and ``PurePath.match`` get anchoring and ``**`` wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from functools import cached_property
import os
from pathlib import Path
import re

import pathspec


GLOB_CHARS = re.compile(r"[*?\[\\]")
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


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern can't be used, or None."""
    body = pattern[1:] if pattern.startswith("!") else pattern
    if not body.strip("/"):
        return "matches nothing; name a file, folder or glob"
    if ".." in body.split("/"):
        return "leaves the plan's folder ('..'); patterns are relative to the plan file"
    try:
        pathspec.GitIgnoreSpec.from_lines([pattern])
    except Exception as exc:  # pathspec raises its own error types across versions
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
        return pathspec.GitIgnoreSpec.from_lines(_for_spec(p) for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str) -> bool:
        if not self.patterns:
            return False
        if self.only_literals:
            return any(path == lit or path.startswith(lit + "/") for lit in self.literals)
        return bool(self.spec.match_file(path))

    def matching(self, tree: Tree) -> set[str]:
        """Files of the tree this set matches; literal-only sets skip the full scan."""
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
        return {path for path in tree.files if self.spec.match_file(path)}


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

    def under(self, folder: str) -> Iterator[str]:
        import bisect

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
