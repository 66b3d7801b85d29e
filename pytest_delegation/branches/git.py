"""The git calls of `--delegation-branches`: task branches, their merges, their files.

Each task's work is checked on its own branch, and the branches are merged wave by wave,
without touching anything of the user's: no branch or ref is created, moved or deleted,
the index and the working tree stay as they are, and no worktree is registered. Merges
are `git merge-tree --write-tree` (objects only), merge commits `git commit-tree` (a
commit no ref points at), and a commit's files come out through a temporary index file
outside the repository: `git worktree add` would register the worktree in
``$GIT_DIR/worktrees``, and a run killed with SIGKILL could never remove it. Here a killed
run leaves nothing in the repository but unreferenced objects, which `git gc` prunes.

As in ``checks/git.py``, git is asked a constant number of times, never once per branch
or file, its output is read as ``-z`` (or NUL-separated) text, and a failure is a
`BranchError` whose message says what to do. Paths come back POSIX and relative to the
rootdir (`Repo.prefix` stripped; those outside it dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import difflib
import os
from pathlib import Path
import re
import subprocess
import tempfile

from pytest_delegation.checks.git import GIT_CONFIG
from pytest_delegation.checks.git import _names
from pytest_delegation.checks.git import _under
from pytest_delegation.plan.problems import Suggester
from pytest_delegation.plan.problems import did_you_mean


#: `git merge-tree --write-tree` (a merge with no working tree) came with git 2.38
MIN_GIT = (2, 38)
#: set in the environment (a git hook sets some), these point git at another repository
#: or index than the one `open_repo` found; every call here drops them
REDIRECTS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
)
#: who made a merge commit, and when: fixed, so the same merge gives the same sha
IDENTITY = {
    f"GIT_{role}_{key}": value
    for role in ("AUTHOR", "COMMITTER")
    for key, value in (
        ("NAME", "pytest-delegation"),
        ("EMAIL", "pytest-delegation@example.invalid"),
        ("DATE", "@946684800 +0000"),  # 2000-01-01T00:00:00Z
    )
}
#: where a ref name is looked for, in `git rev-parse`'s order (tags are no branches)
BRANCH_RULES = ("{}", "refs/heads/{}", "refs/remotes/{}", "refs/remotes/{}/HEAD")
#: at most this many existing branches are listed in `missing_message`
LISTED = 20
FIX_MISSING = (
    "push each task's branch (or 'git fetch' it), or name the branches another way: "
    "--delegation-branches=TEMPLATE, or 'branch:' for a task in the plan"
)


class BranchError(Exception):
    """Task branches cannot be read or merged; the message says what to do about it."""


@dataclass(frozen=True)
class Repo:
    """The git repository the rootdir is in."""

    #: the top of the work tree
    toplevel: Path
    #: the rootdir's folder inside the repository: '' or 'sub/dir/'
    prefix: str
    #: the (absolute) git directory of this work tree
    git_dir: Path


@dataclass(frozen=True)
class Merge:
    """What `git merge-tree` made of two commits.

    `tree` is None when they conflict; the conflicting files outside the rootdir are not
    in `conflicts`, so a conflict there alone gives no tree and no files.
    """

    #: the merged tree, when the merge is clean
    tree: str | None
    #: the rootdir-relative files that conflict, sorted, each once
    conflicts: tuple[str, ...] = ()


def _git(
    where: Path | None, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git (in `where`, when given) with the user's redirects dropped from the env."""
    environ = {name: value for name, value in os.environ.items() if name not in REDIRECTS}
    environ.update(env or {})
    place = ("-C", str(where)) if where is not None else ()
    try:
        return subprocess.run(
            ["git", *GIT_CONFIG, *place, *args],
            capture_output=True,
            encoding="utf-8",
            # a non-UTF-8 name must not crash the report that prints it
            errors="replace",
            check=False,
            env=environ,
        )
    except FileNotFoundError:
        raise BranchError(
            "--delegation-branches needs git, and git is not installed (or not on PATH)"
        ) from None


def _run(repo: Repo, *args: str, env: Mapping[str, str] | None = None) -> str:
    done = _git(repo.toplevel, *args, env=env)
    if done.returncode != 0:
        raise BranchError(f"git {args[0]} failed in {repo.toplevel}: {done.stderr.strip()}")
    return done.stdout


def open_repo(root: Path) -> Repo:
    """The repository `root` is in, once git is known to be new enough."""
    version = _git(None, "version").stdout.strip()
    found = re.search(r"(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < MIN_GIT:
        raise BranchError(
            f"--delegation-branches needs git {MIN_GIT[0]}.{MIN_GIT[1]} or newer (its "
            "'git merge-tree --write-tree' merges branches without touching the working "
            f"tree), but found {version or 'no git version'}; upgrade git, or leave out "
            "--delegation-branches"
        )
    done = _git(root, "rev-parse", "--show-toplevel", "--show-prefix", "--absolute-git-dir")
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 3:
        raise BranchError(
            f"--delegation-branches checks git branches, but {root} is not in a git work "
            f"tree ({done.stderr.strip() or 'git rev-parse failed'}); run it in a git "
            "checkout, or leave out --delegation-branches"
        )
    return Repo(toplevel=Path(lines[0]), prefix=lines[1], git_dir=Path(lines[2]))


def _branches(repo: Repo) -> dict[str, str]:
    """Every local and remote-tracking branch: full ref name -> commit (symrefs too)."""
    # ref names hold no blank and no newline (git check-ref-format): lines split safely
    output = _run(
        repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/remotes"
    )
    pairs = (line.partition(" ") for line in output.splitlines())
    return {refname: sha for sha, _, refname in pairs if refname}


def _branch_names(refs: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The local and the remote-tracking branch names, as written ('origin/main'), sorted.

    Symrefs like origin/HEAD are left out: no one names a task's branch so.
    """
    names: tuple[list[str], list[str]] = ([], [])
    for refname in sorted(refs):
        for kind, space in enumerate(("refs/heads/", "refs/remotes/")):
            if refname.startswith(space) and not refname.endswith("/HEAD"):
                names[kind].append(refname[len(space) :])
    return names


def commit_of(repo: Repo, ref: str, what: str = "--delegation-base") -> str:
    """The full sha of the commit `ref` names; `what` names where the ref was written.

    `what` is an option ('--delegation-base') or a plan key ("the plan's base:").
    """
    label = what.rstrip(":")
    example = f"{label}=main" if label.startswith("--") else "main"
    if not ref or ref.startswith("-"):
        raise BranchError(f"{label} needs a git ref, like {example}, not {ref!r}")
    done = _git(repo.toplevel, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    local, tracking = _branch_names(_branches(repo))
    hint = did_you_mean(ref, [*local, *tracking])
    raise BranchError(
        f"{label}: unknown git ref '{ref}' in {repo.toplevel}{hint}; if it is a remote "
        "branch, run 'git fetch' first (a shallow CI clone needs the history too), or name "
        f"another ref, like {example}"
    )


def branch_heads(repo: Repo, names: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Task id -> branch name, split into (task -> head sha) and (task -> missing name).

    A name is a local branch ('agents/a') or a remote-tracking one ('origin/agents/a'),
    looked up as `git rev-parse` does; all of them in one `git for-each-ref`.
    """
    refs = _branches(repo)
    heads: dict[str, str] = {}
    missing: dict[str, str] = {}
    for task, name in names.items():
        full = (rule.format(name) for rule in BRANCH_RULES)
        sha = next((refs[ref] for ref in full if ref in refs), None) if name else None
        if sha is None:
            missing[task] = name
        else:
            heads[task] = sha
    return heads, missing


def _template_prefix(task: str, name: str) -> str:
    """What `name` puts before the task id: 'agents/' for 'agents/{task}', or ''.

    The id counts where it stands between separators, not inside a word: task 'a' in
    'agents/a' is the last 'a', not the first.
    """
    spots = list(re.finditer(rf"(?<![^\W_]){re.escape(task)}(?![^\W_])", name)) if task else []
    return name[: spots[-1].start()] if spots else ""


def _named(prefix: str, local: Sequence[str], tracking: Sequence[str]) -> dict[str, str]:
    """What follows `prefix` -> branch, for the branches named so; a remote-tracking one
    after its remote's name ('origin/agents/x'), a local one winning over it."""
    found = {}
    for name in [*tracking, *local]:
        for start in (name, name.partition("/")[2]) if name in tracking else (name,):
            if start.startswith(prefix) and len(start) > len(prefix):
                found[start[len(prefix) :]] = name
    return found


def _hint(branch: str | None) -> str:
    return f"; did you mean '{branch}'?" if branch else ""


def missing_message(repo: Repo, missing: Mapping[str, str]) -> str:
    """The error text for task branches that do not exist, with the nearest that do.

    Under a template's prefix ('agents/'), the nearest is the branch whose rest is
    nearest the task id, so the prefix they share does not make every branch near.
    """
    local, tracking = _branch_names(_branches(repo))
    nearest = Suggester([*local, *tracking])
    # a branch pushed but never checked out here has a remote-tracking name: that one
    pushed = {name.partition("/")[2]: name for name in reversed(tracking)}
    head = "1 task branch does" if len(missing) == 1 else f"{len(missing)} task branches do"
    lines = [f"{head} not exist in {repo.toplevel}:"]
    prefixes: dict[str, dict[str, str]] = {}
    for task, name in sorted(missing.items()):
        prefix = _template_prefix(task, name)
        under = prefixes.setdefault(prefix, _named(prefix, local, tracking)) if prefix else {}
        if name in pushed:
            hint = _hint(pushed[name])
        elif under:
            close = difflib.get_close_matches(name[len(prefix) :], sorted(under), n=1)
            hint = _hint(under[close[0]] if close else None)
        else:
            hint = nearest(name)
        lines.append(f"  task {task}: no branch '{name}'{hint}")
    for prefix, under in sorted(prefixes.items()):
        near = sorted(set(under.values()))
        if near:
            more = f" and {len(near) - LISTED} more" if len(near) > LISTED else ""
            lines.append(f"  branches named '{prefix}...': {', '.join(near[:LISTED])}{more}")
        else:
            lines.append(f"  no branch is named '{prefix}...'")
    # a pushed branch counts under its local name: 'origin/agents/x' is 'agents/x'
    guessed = _guess_template(missing, [*local, *(n.partition("/")[2] for n in tracking)])
    if guessed:
        lines.append(f"  the branches look named like --delegation-branches='{guessed}'")
    lines.append(FIX_MISSING)
    return "\n".join(lines)


def _guess_template(missing: Mapping[str, str], names: Sequence[str]) -> str | None:
    """The template most existing branches fit ('agents/{task}'), when it is another's.

    A branch whose name ends in a task id (as its last part) suggests a template: the
    name with the id replaced; the one that fits the most missing tasks wins.
    """
    counts: dict[str, int] = {}
    for task in missing:
        for name in names:
            head, sep, last = name.rpartition("/")
            if last == task:
                template = f"{head}{sep}{{task}}"
                counts[template] = counts.get(template, 0) + 1
    if not counts:
        return None
    best = max(sorted(counts), key=lambda t: counts[t])
    return best if best not in {_template_of(t, n) for t, n in missing.items()} else None


def _template_of(task: str, name: str) -> str:
    head, sep, last = name.rpartition("/")
    return f"{head}{sep}{{task}}" if last == task else name


def is_shallow(repo: Repo) -> bool:
    """Whether the clone is shallow (its history cut short, as CI checkouts often are)."""
    return _run(repo, "rev-parse", "--is-shallow-repository").strip() == "true"


def merge_base(repo: Repo, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None for unrelated histories.

    A shallow clone may miss the ancestor it has not fetched: that is an error that says
    to fetch the history, not a None.
    """
    done = _git(repo.toplevel, "merge-base", a, b)
    if done.returncode == 0:
        return done.stdout.strip()
    if done.returncode != 1 or done.stderr.strip():
        raise BranchError(f"git merge-base failed in {repo.toplevel}: {done.stderr.strip()}")
    if is_shallow(repo):
        raise BranchError(
            f"{a} and {b} have no merge base in {repo.toplevel}, and the clone is shallow: "
            "its history may stop before they met; fetch the full history ('git fetch "
            "--unshallow', or 'fetch-depth: 0' for actions/checkout) and run it again"
        )
    return None


def changed_files(repo: Repo, since: str, until: str) -> list[str]:
    """Files changed between two commits, rootdir-relative, sorted; a rename is two paths."""
    output = _run(
        repo, "diff", "--name-only", "--no-renames", "--no-color", "-z", since, until, "--"
    )
    return sorted(set(_under(repo.prefix, _names(output))))


def merge(repo: Repo, ours: str, theirs: str) -> Merge:
    """Merge two commits into a tree (objects only): no index, working tree or ref changes."""
    args = ("merge-tree", "--write-tree", "--name-only", "-z", "--no-messages", ours, theirs)
    done = _git(repo.toplevel, *args)
    # -z, --name-only, --no-messages: the tree, then each conflicting path, NUL-ended
    tree, *conflicts = _names(done.stdout) or [""]
    if done.returncode == 0 and tree:
        return Merge(tree)
    if done.returncode == 1 and tree:
        return Merge(None, tuple(sorted(set(_under(repo.prefix, conflicts)))))
    raise BranchError(
        f"git merge-tree could not merge {ours} and {theirs} in {repo.toplevel}: "
        f"{done.stderr.strip() or f'exit status {done.returncode}'}"
    )


def commit_tree(repo: Repo, tree: str, parents: Sequence[str], message: str) -> str:
    """A commit of `tree` no ref points at, by a fixed author at a fixed date.

    The same tree, parents and message give the same sha, whoever runs it; no user.name
    is needed, and no signing is asked for (commit.gpgsign does not apply).
    """
    args = [arg for parent in parents for arg in ("-p", parent)]
    output = _run(repo, "commit-tree", "--no-gpg-sign", *args, "-m", message, tree, env=IDENTITY)
    return output.strip()


def export(repo: Repo, commit: str, dest: Path) -> None:
    """Write the commit's files into `dest` (created), registering no worktree.

    Through a temporary index file outside the repository: the user's index is never
    read or written. Symlinks and executable bits are kept; a submodule (gitlink) comes
    out as an empty folder, as in a clone without --recurse-submodules.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pytest-delegation-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _run(repo, "read-tree", commit, env=env)
        # the trailing slash makes the prefix a folder; absolute, so not under toplevel
        _run(repo, "checkout-index", "-a", "-f", f"--prefix={dest.absolute()}/", env=env)


def tree_of(repo: Repo, commit: str) -> str:
    """The tree a commit holds: two commits of one tree hold the same files."""
    return _run(repo, "rev-parse", "--verify", f"{commit}^{{tree}}").strip()
