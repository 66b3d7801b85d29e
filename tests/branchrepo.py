"""A project whose tasks were done on branches, as a parallel batch of agents leaves it.

Base ``main`` holds the plan, a shared settings module and stubs; each task's branch
(``agents/<task>``) holds its work. Built for the branch-run tests (and runnable as a
script: ``python tests/branchrepo.py DIR``):

- ``alpha``, ``beta``: clean work, merged and accepted;
- ``limit``: lowers ``LIMIT`` in the shared settings; its own tests pass, but ``gamma``'s
  tests, which passed on gamma's branch, fail once it is merged (integration failure);
- ``sneaky``: also edits ``pkg/alpha.py``, alpha's file (out of bounds);
- ``left``, ``right``: both rewrite the first line of the shared ``NOTES.md`` (conflict);
- ``broken``: its own test fails on its branch (retry, with the output);
- ``review``: no branch; checks alpha and beta together on the merged tree.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys


PLAN = """\
max_parallel: 10
branches: agents/{task}
shared: [pkg/__init__.py, pkg/settings.py, NOTES.md, conftest.py, pytest.ini]
tasks:
  alpha: {files: [pkg/alpha.py, tests/test_alpha.py], tests: [tests/test_alpha.py]}
  beta: {files: [pkg/beta.py, tests/test_beta.py], tests: [tests/test_beta.py]}
  limit: {files: [pkg/limit.py, tests/test_limit.py], tests: [tests/test_limit.py]}
  gamma: {files: [pkg/gamma.py, tests/test_gamma.py], tests: [tests/test_gamma.py]}
  sneaky: {files: [pkg/sneaky.py, tests/test_sneaky.py], tests: [tests/test_sneaky.py]}
  left: {files: [pkg/left.py, tests/test_left.py], tests: [tests/test_left.py]}
  right: {files: [pkg/right.py, tests/test_right.py], tests: [tests/test_right.py]}
  broken: {files: [pkg/broken.py, tests/test_broken.py], tests: [tests/test_broken.py]}
  review:
    role: code-reviewer
    depends_on: [alpha, beta]
    files: [tests/test_review.py]
    tests: [tests/test_review.py]
"""

BASE = {
    "delegation.yaml": PLAN,
    "pytest.ini": "[pytest]\n",
    "conftest.py": "",
    "NOTES.md": "notes\n",
    "pkg/__init__.py": "",
    "pkg/settings.py": "LIMIT = 10\n",
    "tests/test_review.py": (
        "from pkg import alpha, beta\n\n\n"
        "def test_together():\n    assert alpha.one() + beta.two() == 3\n"
    ),
    **{f"pkg/{name}.py": "" for name in ("alpha", "beta", "limit", "gamma", "sneaky")},
}


def _test(module: str, body: str) -> str:
    return f"from pkg import {module}\n\n\ndef test_{module}():\n    {body}\n"


#: each task's branch: the files its one commit writes
BRANCHES: dict[str, dict[str, str]] = {
    "alpha": {
        "pkg/alpha.py": "def one():\n    return 1\n",
        "tests/test_alpha.py": _test("alpha", "assert alpha.one() == 1"),
    },
    "beta": {
        "pkg/beta.py": "def two():\n    return 2\n",
        "tests/test_beta.py": _test("beta", "assert beta.two() == 2"),
    },
    "limit": {
        "pkg/settings.py": "LIMIT = 5\n",
        "pkg/limit.py": "from pkg import settings\n\n\ndef limit():\n    return settings.LIMIT\n",
        "tests/test_limit.py": _test("limit", "assert limit.limit() == 5"),
    },
    "gamma": {
        "pkg/gamma.py": "from pkg.settings import LIMIT\n\n\ndef cap(n):\n"
        "    return min(n, LIMIT)\n",
        "tests/test_gamma.py": _test("gamma", "assert gamma.cap(50) == 10"),
    },
    "sneaky": {
        "pkg/sneaky.py": "def sneak():\n    return 's'\n",
        "pkg/alpha.py": "# sneaky was here\n",
        "tests/test_sneaky.py": _test("sneaky", "assert sneaky.sneak() == 's'"),
    },
    "left": {
        "NOTES.md": "left notes\n",
        "pkg/left.py": "def side():\n    return 'left'\n",
        "tests/test_left.py": _test("left", "assert left.side() == 'left'"),
    },
    "right": {
        "NOTES.md": "right notes\n",
        "pkg/right.py": "def side():\n    return 'right'\n",
        "tests/test_right.py": _test("right", "assert right.side() == 'right'"),
    },
    "broken": {
        "pkg/broken.py": "def answer():\n    return 41\n",
        "tests/test_broken.py": _test("broken", "assert broken.answer() == 42"),
    },
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "commit.gpgsign=false", *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "Agent",
            "GIT_AUTHOR_EMAIL": "agent@example.com",
            "GIT_COMMITTER_NAME": "Agent",
            "GIT_COMMITTER_EMAIL": "agent@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def make_branch(root: Path, task: str, files: dict[str, str], start: str = "main") -> str:
    git(root, "switch", "-q", "-c", f"agents/{task}", start)
    write(root, files)
    sha = commit(root, f"{task}: the work")
    git(root, "switch", "-q", "main")
    return sha


def ignore_bytecode(root: Path) -> None:
    """Python's bytecode caches are not work: with bytecode written (no
    PYTHONDONTWRITEBYTECODE), `git add -A` would commit them into the branches. Kept in
    the repository's own exclude file, so no tree holds it."""
    (root / ".git" / "info").mkdir(parents=True, exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("__pycache__/\n")


def build(root: Path, branches: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The repository at `root`, on main; each task -> its branch's head."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    ignore_bytecode(root)
    write(root, BASE)
    commit(root, "base: plan, settings and stubs")
    return {
        task: make_branch(root, task, files)
        for task, files in (BRANCHES if branches is None else branches).items()
    }


if __name__ == "__main__":
    build(Path(sys.argv[1]))
