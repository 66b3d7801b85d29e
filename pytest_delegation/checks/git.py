"""The git calls of `--delegation-diff`: files changed since a ref, and the task commits.

`changed_files` lists what changed since the ref's merge base, committed or not;
`task_commits` the commits since the ref whose ``Delegation-Task: <id>`` trailer names the
task(s) they are work of. Git is asked a constant number of times, never once per file
or per commit, so a long branch costs no more than a short one. Paths come back POSIX
and relative to the folder git was asked in; a failure is a `ChangesError` whose message
says what to do. ``checks/changes.py`` holds the rule that judges them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
import re
import subprocess


TRAILER = "Delegation-Task"
# user config must not change what git prints: colours, cwd-relative diffs, quoted names
GIT_CONFIG = ("-c", "core.quotepath=off", "-c", "color.ui=false", "-c", "diff.relative=false")
# each commit of `git log -z` starts with this header (see `task_commits`)
HEADER = re.compile(r"\x1e([0-9a-f]{40,64})\x1f(.*)", re.DOTALL)


class ChangesError(Exception):
    """The changes cannot be listed; the message says what to do about it."""


@dataclass(frozen=True)
class TaskCommit:
    """A commit since the ref that says, in its trailers, which task(s) it is work of."""

    sha: str
    tasks: tuple[str, ...]
    subject: str
    #: The root-relative POSIX paths it changed, deletions included.
    files: tuple[str, ...]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *GIT_CONFIG, "-C", str(root), *args],
            capture_output=True,
            encoding="utf-8",
            # a non-UTF-8 name must not crash the report that prints it
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise ChangesError(
            "--delegation-diff needs git, and git is not installed (or not on PATH)"
        ) from None


def _run(root: Path, *args: str) -> str:
    done = _git(root, *args)
    if done.returncode != 0:
        raise ChangesError(f"git {args[0]} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def _resolve(root: Path, ref: str) -> tuple[str, str]:
    """`root`'s folder inside the repository ('' or 'sub/dir/') and the ref's commit.

    The commit, not the ref's text, goes to the later git calls: a ref that is also a
    file name, or that starts with '-', cannot be misread there.
    """
    if not ref or ref.startswith("-"):
        raise ChangesError(
            "--delegation-diff needs a git ref to compare with, like "
            f"--delegation-diff=origin/main, not {ref!r}"
        )
    done = _git(root, "rev-parse", "--show-prefix", "--verify", "--quiet", f"{ref}^{{commit}}")
    lines = done.stdout.splitlines()
    if done.returncode == 0 and len(lines) == 2:
        return lines[0], lines[1]
    # in a repository, but no such commit
    if done.returncode == 1 and len(lines) == 1:
        raise ChangesError(
            f"--delegation-diff: unknown git ref '{ref}' in {root}; if it is a remote "
            "branch, run 'git fetch' first (a shallow CI clone needs the history too), or "
            "name another ref, like --delegation-diff=origin/main"
        )
    raise ChangesError(
        f"--delegation-diff compares with a git ref, but {root} is not in a usable git "
        f"repository ({done.stderr.strip() or 'git rev-parse failed'}); run it in a git "
        "checkout, or leave out --delegation-diff"
    )


def _under(prefix: str, paths: Sequence[str]) -> list[str]:
    """Toplevel-relative paths made root-relative; paths outside root are dropped."""
    return [path[len(prefix) :] for path in paths if path.startswith(prefix) and path != prefix]


def _names(output: str) -> list[str]:
    return [name for name in output.split("\0") if name]


def changed_files(root: Path, ref: str) -> list[str]:
    """Files changed since `ref`, committed or not, relative to `root`, sorted.

    That is the working tree against the ref's merge base with HEAD (commits, staged and
    unstaged edits, deletions) plus the untracked files git does not ignore: work not yet
    committed is work all the same. An untracked nested repository is not a file: left out.
    """
    prefix, commit = _resolve(root, ref)
    # from where this branch left the ref, as `REF..HEAD` counts commits: when the ref
    # moved on since (main gained commits), its new changes are not this branch's
    base = _git(root, "merge-base", commit, "HEAD")
    # unrelated histories have no merge base: the ref's commit itself, then
    since = base.stdout.strip() if base.returncode == 0 else commit
    diff = _run(root, "diff", "--name-only", "--no-renames", "--no-color", "-z", since, "--")
    # --full-name: toplevel-relative like diff's; git lists only those under root anyway
    others = _run(root, "ls-files", "-z", "--others", "--exclude-standard", "--full-name")
    found = _under(prefix, _names(diff)) + [
        name for name in _under(prefix, _names(others)) if not name.endswith("/")
    ]
    return sorted(set(found))


def task_commits(root: Path, ref: str) -> list[TaskCommit]:
    """Commits in `ref..HEAD` with a `Delegation-Task: <id>` trailer, newest first.

    Git decides what a trailer is (only the message's last paragraph, as
    `git interpret-trailers` reads it), so a look-alike line in the body is no claim.
    One trailer may name several ids, separated by commas or blanks: ids hold neither.
    Merge commits list no files (git log shows no diff for them), so they blame no one.
    """
    prefix, commit = _resolve(root, ref)
    trailers = f"%(trailers:key={TRAILER},valueonly,unfold,separator=%x1d)"
    options = ("-z", "--name-only", "--no-renames", "--no-color", "--no-show-signature")
    output = _run(
        root, "log", *options, f"--format=%x1e%H%x1f{trailers}%x1f%s", f"{commit}..HEAD", "--"
    )
    # -z output: per commit, the header, NUL, then (if it changed files) a newline and
    # each file name NUL-terminated; a header is told apart from a name by its shape
    entries: list[tuple[re.Match[str], list[str]]] = []
    for token in output.split("\0"):
        match = HEADER.fullmatch(token)
        if match is not None:
            entries.append((match, []))
        elif token and entries:
            names = entries[-1][1]
            names.append(token[1:] if not names and token.startswith("\n") else token)
    found: list[TaskCommit] = []
    for match, names in entries:
        values, _, subject = match.group(2).partition("\x1f")
        ids = (i for value in values.split("\x1d") for i in re.split(r"[\s,]+", value) if i)
        tasks = tuple(dict.fromkeys(ids))
        if tasks:
            found.append(TaskCommit(match.group(1), tasks, subject, tuple(_under(prefix, names))))
    return found
