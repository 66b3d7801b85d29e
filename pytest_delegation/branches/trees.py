"""Scratch copies of commits to run tests in, all under one temporary folder.

A commit is written out once (``branches.git.export``: no worktree is registered, so a
killed run leaves nothing in the repository), with the plan of this run written over
the tree's own: every branch is checked against the one plan the user runs with.
"""

from __future__ import annotations

from pathlib import Path
import shutil
import tempfile

from pytest_delegation.branches.git import Repo
from pytest_delegation.branches.git import export


class Trees:
    def __init__(self, repo: Repo, plan_file: tuple[str, bytes] | None) -> None:
        self.repo = repo
        #: (toplevel-relative path, bytes) of the plan this run uses
        self.plan_file = plan_file
        self.root = Path(tempfile.mkdtemp(prefix="pytest-delegation-branches-"))
        self._trees: dict[str, Path] = {}
        self._scratch = 0

    def tree(self, commit: str) -> Path:
        """The commit's files in a folder of their own (the toplevel of that copy)."""
        found = self._trees.get(commit)
        if found is None:
            found = self.root / "trees" / commit[:16]
            export(self.repo, commit, found)
            if self.plan_file is not None:
                relative, data = self.plan_file
                target = found / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self._trees[commit] = found
        return found

    def scratch(self, name: str) -> Path:
        """A fresh folder for one run's report, logs and findings."""
        self._scratch += 1
        folder = self.root / "runs" / f"{self._scratch:03d}-{name}"
        folder.mkdir(parents=True)
        return folder

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
