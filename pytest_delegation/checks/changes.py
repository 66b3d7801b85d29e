"""`--delegation-diff=REF`: check what was changed since a git ref against the plan.

Run-time boundaries see only what the tests execute; the diff sees what the delegated
work actually touched: a changed file no task owns (`unplanned-change`), and a commit of
one task (`Delegation-Task: <id>` trailer) that changed another's files
(`out-of-bounds-change`). This module is the pure rule; ``checks/git.py`` asks git for
the changes (its `ChangesError`, `changed_files` and `task_commits` are importable from
here too).
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.git import TRAILER
from pytest_delegation.checks.git import ChangesError
from pytest_delegation.checks.git import TaskCommit
from pytest_delegation.checks.git import changed_files
from pytest_delegation.checks.git import task_commits
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.ownership import Owners
from pytest_delegation.plan.problems import did_you_mean


__all__ = [
    "ChangesError", "TaskCommit", "branch_findings", "changed_files", "diff_findings",
    "task_commits",
]  # fmt: skip

# files named in an out-of-bounds-change message; the finding's extra lists them all
SHOWN_FILES = 5


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
    owners = Owners(plan, plan_dir)

    def planned(path: str) -> str | None:
        return _planned(plan, owners, path)

    since = f" since {ref}" if ref else ""
    findings: list[Finding] = []
    for path in sorted(set(changed)):
        rel = planned(path)
        if rel is not None and not owners.tasks(rel):
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
                if rel is not None and not owners.owns(task_id, rel):
                    outside.append(path)
                    others.update(dict.fromkeys(owners.tasks(rel)))
            if outside:
                findings.append(_out_of_bounds(commit, task_id, outside, list(others)))
    return findings


def _planned(plan: Plan, owners: Owners, path: str) -> str | None:
    """The plan-relative path when the plan has a say over it, else None."""
    rel = owners.relative(path)
    if rel is None or rel == plan.path.name or owners.shares(rel):
        return None
    return rel


def branch_findings(
    plan: Plan, plan_dir: str, task_id: str, branch: str, changed: Sequence[str]
) -> list[Finding]:
    """`out-of-bounds-change` when a task's branch changed files outside its own.

    `changed` are the rootdir-relative files the branch changed since it left the base;
    its task's ``files:``, the plan's ``shared:`` and the plan file itself are allowed.
    """
    owners = Owners(plan, plan_dir)
    outside: list[str] = []
    others: dict[str, None] = {}
    for path in sorted(set(changed)):
        rel = _planned(plan, owners, path)
        if rel is not None and not owners.owns(task_id, rel):
            outside.append(path)
            others.update(dict.fromkeys(t for t in owners.tasks(rel) if t != task_id))
    if not outside:
        return []
    count = len(outside)
    shown = ", ".join(outside[:SHOWN_FILES])
    more = f" and {count - SHOWN_FILES} more" if count > SHOWN_FILES else ""
    named = ", ".join(f"'{other}'" for other in others)
    fix = (
        f"move these changes to the branch of the task that owns them ({named}), or widen "
        f"the files: of '{task_id}'"
        if others
        else f"no task owns them: widen the files: of '{task_id}', add them to shared:, or "
        "revert them on the branch"
    )
    return [
        Finding(
            "out-of-bounds-change",
            f"branch {branch} of task '{task_id}' changed {count} "
            f"file{'s' if count != 1 else ''} outside its files: {shown}{more}",
            fix=fix,
            task=task_id,
            other_task=next(iter(others), None),
            file=outside[0],
            extra={"branch": branch, "files": outside, "owners": list(others)},
        )
    ]


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
