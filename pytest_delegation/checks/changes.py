"""`--delegation-diff=REF`: check what was changed since a git ref against the plan.

Run-time boundaries see only what the tests execute; the diff sees what the delegated
work actually touched: a changed file no task owns (`unplanned-change`), and a commit of
one task (`Delegation-Task: <id>` trailer) that changed another's files
(`out-of-bounds-change`). Git is asked a constant number of times, never once per file
or per commit, so a long branch costs no more than a short one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
import re
import subprocess

from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.patterns import PatternIndex
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import relative_to
from pytest_delegation.plan.problems import did_you_mean


TRAILER = "Delegation-Task"
# user config must not change what git prints: colours, cwd-relative diffs, quoted names
GIT_CONFIG = ("-c", "core.quotepath=off", "-c", "color.ui=false", "-c", "diff.relative=false")
# each commit of `git log -z` starts with this header (see `task_commits`)
HEADER = re.compile(r"\x1e([0-9a-f]{40,64})\x1f(.*)", re.DOTALL)
SHOWN_FILES = 5


class ChangesError(Exception):
    """The changes cannot be listed; the message says what to do about it."""


@dataclass(frozen=True)
class TaskCommit:
    """A commit since the ref that says, in its trailers, which task(s) it is work of."""

    sha: str
    tasks: tuple[str, ...]
    subject: str
    files: tuple[str, ...]  # root-relative POSIX paths it changed (deletions included)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *GIT_CONFIG, "-C", str(root), *args],
            capture_output=True,
            encoding="utf-8",
            errors="replace",  # a non-UTF-8 name must not crash the report that prints it
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
    if done.returncode == 1 and len(lines) == 1:  # in a repository, but no such commit
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
    since = base.stdout.strip() if base.returncode == 0 else commit  # unrelated histories
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
    found = []
    for match, names in entries:
        values, _, subject = match.group(2).partition("\x1f")
        ids = (i for value in values.split("\x1d") for i in re.split(r"[\s,]+", value) if i)
        tasks = tuple(dict.fromkeys(ids))
        if tasks:
            found.append(TaskCommit(match.group(1), tasks, subject, tuple(_under(prefix, names))))
    return found


def diff_findings(
    plan: Plan,
    plan_dir: str,
    changed: Sequence[str],
    commits: Sequence[TaskCommit],
    *,
    ref: str | None = None,
) -> list[Finding]:
    """`unplanned-change` and `out-of-bounds-change` findings for the listed changes.

    Paths are rootdir-relative; `plan_dir` is the plan's folder as `plan_folder` gives it.
    Paths outside the plan's folder are ignored: the plan cannot own them, so they are
    not its business. The plan file itself is always allowed: every task may amend it.
    `ref`, when given, is named in the messages.
    """
    owners = {task_id: PatternSet(task.files) for task_id, task in plan.tasks.items()}
    index = PatternIndex(owners.items())
    shared = PatternSet(plan.shared)

    def planned(path: str) -> str | None:
        """The plan-relative path when the plan has a say over it, else None."""
        rel = relative_to(path, plan_dir)
        if rel is None or rel == plan.path.name or shared.matches(rel):
            return None
        return rel

    since = f" since {ref}" if ref else ""
    findings = []
    for path in sorted(set(changed)):
        rel = planned(path)
        if rel is not None and not index.matching(rel):
            findings.append(
                Finding(
                    "unplanned-change",
                    f"{path} was changed{since}, but no task owns it and the plan does not "
                    "share it",
                    fix="add it to a task's files: or to shared:, or revert it",
                    file=path,
                )
            )
    for commit in commits:
        short = commit.sha[:12]
        for task_id in commit.tasks:
            if task_id not in plan.tasks:
                findings.append(
                    Finding(
                        "out-of-bounds-change",
                        f"commit {short} ('{commit.subject}') has a {TRAILER} trailer naming "
                        f"'{task_id}', which names no task of the plan"
                        f"{did_you_mean(task_id, plan.tasks)}",
                        fix=f"correct the {TRAILER} trailer (git commit --amend, or a rebase), "
                        "or add the task to the plan",
                        extra={"commit": short, "subject": commit.subject, "trailer": task_id},
                    )
                )
                continue
            outside: list[str] = []
            others: dict[str, None] = {}
            for path in commit.files:
                rel = planned(path)
                if rel is not None and not owners[task_id].matches(rel):
                    outside.append(path)
                    others.update(dict.fromkeys(index.matching(rel)))
            if outside:
                findings.append(_out_of_bounds(commit, task_id, outside, list(others)))
    return findings


def _out_of_bounds(
    commit: TaskCommit, task_id: str, outside: list[str], others: list[str]
) -> Finding:
    count = len(outside)
    shown = ", ".join(outside[:SHOWN_FILES])
    more = f" and {count - SHOWN_FILES} more" if count > SHOWN_FILES else ""
    if others:
        named = ", ".join(f"'{other}'" for other in others)
        fix = (
            f"move these changes to the task that owns them ({named}), or widen the "
            f"files: of '{task_id}'"
        )
    else:
        fix = (
            f"no task owns them: widen the files: of '{task_id}', add them to shared:, "
            "or move these changes out of this commit"
        )
    return Finding(
        "out-of-bounds-change",
        f"commit {commit.sha[:12]} ('{commit.subject}') of task '{task_id}' changed "
        f"{count} file{'s' if count != 1 else ''} outside its files: {shown}{more}",
        fix=fix,
        task=task_id,
        other_task=others[0] if others else None,
        file=outside[0],
        extra={"commit": commit.sha[:12], "subject": commit.subject, "files": outside},
    )
