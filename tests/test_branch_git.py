"""`--delegation-branches`' git calls, on real repositories: nothing of the user's changes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import os
from pathlib import Path
import shutil
import signal
import stat
import subprocess
import sys
import time
from typing import Any

import pytest
from test_changes import Repo
from test_changes import no_user_git_config as no_user_git_config  # autouse fixture

from pytest_delegation.branches.git import MIN_GIT
from pytest_delegation.branches.git import BranchError
from pytest_delegation.branches.git import Merge
from pytest_delegation.branches.git import Repo as GitRepo
from pytest_delegation.branches.git import branch_heads
from pytest_delegation.branches.git import changed_files
from pytest_delegation.branches.git import commit_of
from pytest_delegation.branches.git import commit_tree
from pytest_delegation.branches.git import export
from pytest_delegation.branches.git import is_shallow
from pytest_delegation.branches.git import merge
from pytest_delegation.branches.git import merge_base
from pytest_delegation.branches.git import missing_message
from pytest_delegation.branches.git import open_repo


@pytest.fixture(autouse=True)
def no_repository_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder outside the test repository is in no repository, wherever tmp_path is."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.write("shared.py", "proj/inner.py", "proj/old.py", text="base\n")
    repo.commit("base")
    return repo


def branch(repo: Repo, name: str, files: dict[str, str | None], start: str = "main") -> str:
    """A branch `name` from `start` with one commit writing (or, for None, deleting) files."""
    repo.git("switch", "-q", "-c", name, start)
    for path, text in files.items():
        if text is None:
            (repo.path / path).unlink()
        else:
            repo.write(path, text=text)
    sha = repo.commit(f"work on {name}")
    repo.git("switch", "-q", "main")
    return sha


def user_state(repo: Repo) -> dict[str, Any]:
    """Everything of the user's that the branch calls must leave as it was."""
    index = repo.path / ".git" / "index"
    return {
        "worktrees": repo.git("worktree", "list", "--porcelain"),
        # --no-optional-locks: status itself must not refresh the index it looks at
        "status": repo.git(
            "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"
        ),
        "head": repo.git("symbolic-ref", "HEAD") + repo.git("rev-parse", "HEAD"),
        "refs": repo.git("for-each-ref", "--format=%(objectname) %(refname)"),
        "index": (index.read_bytes(), index.stat().st_mtime_ns),
        # outside objects/ (which gains the merged trees and commits), nothing new
        "git_dir": sorted(
            str(p.relative_to(repo.path / ".git"))
            for p in (repo.path / ".git").rglob("*")
            if "objects" not in p.parts
        ),
    }


@contextmanager
def untouched(repo: Repo) -> Iterator[None]:
    """Work in progress (staged, unstaged, untracked) that the block must leave as it is."""
    repo.write("shared.py", text="staged\n")
    repo.git("add", "shared.py")
    repo.write("proj/inner.py", text="unstaged\n")
    repo.write("untracked.py")
    before = user_state(repo)
    yield
    assert user_state(repo) == before
    assert "untracked.py" in before["status"] and before["worktrees"].count("worktree ") == 1


# open_repo --------------------------------------------------------------------------


def test_open_repo_at_the_top_and_in_a_subfolder(repo: Repo) -> None:
    top = repo.path.resolve()
    assert open_repo(repo.path) == open_repo(top) == GitRepo(top, "", top / ".git")
    inner = open_repo(repo.path / "proj")
    assert (inner.toplevel, inner.prefix, inner.git_dir) == (top, "proj/", top / ".git")


def test_open_repo_outside_a_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(BranchError) as info:
        open_repo(folder)
    message = str(info.value)
    assert message.startswith(
        f"--delegation-branches checks git branches, but {folder} is not in a git work tree "
        "(fatal: not a git repository"
    )
    assert message.endswith("run it in a git checkout, or leave out --delegation-branches")


def fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    git = folder / "git"
    git.write_text(f"#!/bin/sh\n{script}\n")
    git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_open_repo_with_a_git_too_old(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_git(tmp_path, monkeypatch, "echo 'git version 2.30.0'")
    with pytest.raises(BranchError) as info:
        open_repo(repo.path)
    assert MIN_GIT == (2, 38)
    assert str(info.value) == (
        "--delegation-branches needs git 2.38 or newer (its 'git merge-tree --write-tree' "
        "merges branches without touching the working tree), but found git version 2.30.0; "
        "upgrade git, or leave out --delegation-branches"
    )


def test_open_repo_with_a_new_enough_vendor_git(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("git")
    fake_git(
        tmp_path,
        monkeypatch,
        f'case "$*" in *version) echo "git version 2.39.3 (Apple Git-146)";; *) exec {real} "$@";; esac',
    )
    assert open_repo(repo.path).toplevel == repo.path.resolve()


def test_git_not_installed(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo.path / "no-bin"))
    with pytest.raises(BranchError) as info:
        open_repo(repo.path)
    assert str(info.value) == (
        "--delegation-branches needs git, and git is not installed (or not on PATH)"
    )


# commit_of --------------------------------------------------------------------------


def test_commit_of_branches_tags_and_shas(repo: Repo) -> None:
    head = repo.git("rev-parse", "HEAD")
    repo.git("tag", "-a", "-m", "annotated", "v1")
    found = open_repo(repo.path)
    assert len(head) == 40
    assert commit_of(found, "main") == commit_of(found, "v1") == commit_of(found, head[:7]) == head


def test_commit_of_an_unknown_ref_names_the_nearest_branch(repo: Repo) -> None:
    branch(repo, "agents/alpha", {"shared.py": "a\n"})
    with pytest.raises(BranchError) as info:
        commit_of(open_repo(repo.path), "mian")
    assert str(info.value) == (
        f"--delegation-base: unknown git ref 'mian' in {repo.path.resolve()}; did you mean "
        "'main'?; if it is a remote branch, run 'git fetch' first (a shallow CI clone needs "
        "the history too), or name another ref, like --delegation-base=main"
    )
    with pytest.raises(BranchError) as info:
        commit_of(open_repo(repo.path), "agents/alpa", what="the plan's base:")
    assert str(info.value).startswith(
        f"the plan's base: unknown git ref 'agents/alpa' in {repo.path.resolve()}; did you "
        "mean 'agents/alpha'?"
    )
    assert str(info.value).endswith("or name another ref, like main")


@pytest.mark.parametrize("ref", ["", "--output=x"])
def test_commit_of_refuses_what_is_no_ref(repo: Repo, ref: str) -> None:
    with pytest.raises(BranchError) as info:
        commit_of(open_repo(repo.path), ref)
    assert str(info.value) == (
        f"--delegation-base needs a git ref, like --delegation-base=main, not {ref!r}"
    )


# branch_heads and missing_message ---------------------------------------------------


@pytest.fixture
def remote(repo: Repo, tmp_path: Path) -> Repo:
    """The repo with a remote 'origin' whose branches agents/b and agents/gamma it fetched."""
    origin = Repo(tmp_path / "origin")
    origin.git("pull", "-q", str(repo.path), "main")
    branch(origin, "agents/b", {"shared.py": "b\n"})
    branch(origin, "agents/gamma", {"shared.py": "g\n"})
    repo.git("remote", "add", "origin", str(origin.path))
    repo.git("fetch", "-q", "origin")
    repo.git("remote", "set-head", "origin", "main")
    return repo


def test_branch_heads_local_and_remote_tracking_in_one_call(
    remote: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = branch(remote, "agents/a", {"shared.py": "a\n"})
    b = remote.git("rev-parse", "origin/agents/b")
    found = open_repo(remote.path)
    calls: list[list[str]] = []
    run = subprocess.run

    def counted(command: list[str], **kwargs: Any) -> Any:
        calls.append(command)
        return run(command, **kwargs)

    names = {
        "a": "agents/a",
        "b": "origin/agents/b",
        "full": "refs/heads/agents/a",
        "head": "origin",
        "c": "agents/c",
        "local-b": "agents/b",
        "empty": "",
    }
    main = remote.git("rev-parse", "main")
    monkeypatch.setattr(subprocess, "run", counted)
    heads, missing = branch_heads(found, names)
    assert heads == {"a": a, "b": b, "full": a, "head": main}
    assert missing == {"c": "agents/c", "local-b": "agents/b", "empty": ""}
    assert len(calls) == 1 and "for-each-ref" in calls[0]


def test_missing_message_names_the_nearest_and_the_template_s_branches(remote: Repo) -> None:
    branch(remote, "agents/alpha", {"shared.py": "a\n"})
    branch(remote, "agents/beta", {"shared.py": "b\n"})
    found = open_repo(remote.path)
    _, missing = branch_heads(
        found, {"bta": "agents/bta", "gamma": "agents/gamma", "zz": "agents/zz"}
    )
    assert missing_message(found, missing) == "\n".join(
        [
            f"3 task branches do not exist in {remote.path.resolve()}:",
            "  task bta: no branch 'agents/bta'; did you mean 'agents/beta'?",
            "  task gamma: no branch 'agents/gamma'; did you mean 'origin/agents/gamma'?",
            "  task zz: no branch 'agents/zz'",
            "  branches named 'agents/...': agents/alpha, agents/beta, origin/agents/b, "
            "origin/agents/gamma",
            "push each task's branch (or 'git fetch' it), or name the branches another way: "
            "--delegation-branches=TEMPLATE, or 'branch:' for a task in the plan",
        ]
    )


def test_missing_message_for_one_branch_of_a_prefix_no_branch_has(repo: Repo) -> None:
    found = open_repo(repo.path)
    # task 'a' stands after 'agents/', not at the 'a' that starts it
    message = missing_message(found, {"a": "agents/a"})
    assert message.splitlines()[:3] == [
        f"1 task branch does not exist in {repo.path.resolve()}:",
        "  task a: no branch 'agents/a'",
        "  no branch is named 'agents/...'",
    ]


def test_missing_message_for_a_name_of_no_template(repo: Repo) -> None:
    branch(repo, "feature/login", {"shared.py": "a\n"})
    message = missing_message(open_repo(repo.path), {"api": "featur/login"})
    assert message.splitlines()[1:] == [
        "  task api: no branch 'featur/login'; did you mean 'feature/login'?",
        "push each task's branch (or 'git fetch' it), or name the branches another way: "
        "--delegation-branches=TEMPLATE, or 'branch:' for a task in the plan",
    ]


def test_missing_message_lists_at_most_twenty(repo: Repo) -> None:
    sha = repo.git("rev-parse", "HEAD")
    for n in range(25):
        repo.git("branch", f"agents/t{n:02}", sha)
    message = missing_message(open_repo(repo.path), {"x": "agents/x"})
    listed = [line for line in message.splitlines() if "branches named" in line]
    assert listed == [
        "  branches named 'agents/...': "
        + ", ".join(f"agents/t{n:02}" for n in range(20))
        + " and 5 more"
    ]


# merge_base and is_shallow ----------------------------------------------------------


def test_merge_base_and_unrelated_histories(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    a = branch(repo, "agents/a", {"shared.py": "a\n"})
    b = branch(repo, "agents/b", {"proj/inner.py": "b\n"})
    repo.git("switch", "-q", "--orphan", "other")
    repo.commit("unrelated", paths=("other.py",))
    repo.git("switch", "-q", "-f", "main")
    found = open_repo(repo.path)
    assert merge_base(found, a, b) == base
    assert merge_base(found, "other", a) is None
    assert not is_shallow(found)


def test_merge_base_in_a_shallow_clone_says_to_fetch_the_history(
    repo: Repo, tmp_path: Path
) -> None:
    repo.commit("main moved on", paths=("shared.py",))
    branch(repo, "agents/a", {"proj/inner.py": "a\n"}, start="main~1")
    clone = tmp_path / "clone"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            f"file://{repo.path}",
            str(clone),
        ],
        check=True,
    )
    found = open_repo(clone)
    assert is_shallow(found)
    with pytest.raises(BranchError) as info:
        merge_base(found, "origin/main", "origin/agents/a")
    assert str(info.value) == (
        f"origin/main and origin/agents/a have no merge base in {clone.resolve()}, and the clone "
        "is shallow: its history may stop before they met; fetch the full history ('git fetch "
        "--unshallow', or 'fetch-depth: 0' for actions/checkout) and run it again"
    )


def test_merge_base_of_no_commit(repo: Repo) -> None:
    with pytest.raises(BranchError, match=r"^git merge-base failed in .*nope"):
        merge_base(open_repo(repo.path), "nope", "main")


# changed_files ----------------------------------------------------------------------


def test_changed_files_between_two_commits(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.git("mv", "proj/old.py", "proj/renamed.py")
    tip = branch(
        repo, "agents/a", {"shared.py": "a\n", "ünï/cödé.py": "x\n", "proj/inner.py": None}
    )
    found = open_repo(repo.path)
    assert changed_files(found, base, tip) == [
        "proj/inner.py",
        "proj/old.py",
        "proj/renamed.py",
        "shared.py",
        "ünï/cödé.py",
    ]
    assert changed_files(found, tip, tip) == []
    # rootdir in a subfolder: its paths relative to it, the others left out
    assert changed_files(open_repo(repo.path / "proj"), base, tip) == [
        "inner.py",
        "old.py",
        "renamed.py",
    ]


# merge ------------------------------------------------------------------------------


def test_a_clean_merge_gives_a_tree_with_both_changes(repo: Repo) -> None:
    a = branch(repo, "agents/a", {"shared.py": "a\n", "a.py": "new a\n"})
    b = branch(repo, "agents/b", {"proj/inner.py": "b\n"})
    found = open_repo(repo.path)
    with untouched(repo):
        merged = merge(found, a, b)
    assert merged.conflicts == () and merged.tree is not None
    assert repo.git("show", f"{merged.tree}:shared.py") == "a"
    assert repo.git("show", f"{merged.tree}:proj/inner.py") == "b"
    assert repo.git("show", f"{merged.tree}:a.py") == "new a"


def test_a_conflict_lists_the_files_relative_to_the_rootdir(repo: Repo) -> None:
    a = branch(
        repo, "agents/a", {"shared.py": "a\n", "proj/inner.py": "a\n", "proj/old.py": "a\n"}
    )
    b = branch(repo, "agents/b", {"shared.py": "b\n", "proj/inner.py": "b\n", "proj/old.py": None})
    with untouched(repo):
        at_top = merge(open_repo(repo.path), a, b)
        inside = merge(open_repo(repo.path / "proj"), b, a)
    assert at_top == Merge(None, ("proj/inner.py", "proj/old.py", "shared.py"))
    assert inside == Merge(None, ("inner.py", "old.py"))


def test_a_conflict_outside_the_rootdir_alone_gives_no_tree_and_no_files(repo: Repo) -> None:
    a = branch(repo, "agents/a", {"shared.py": "a\n", "proj/inner.py": "a\n"})
    b = branch(repo, "agents/b", {"shared.py": "b\n"})
    assert merge(open_repo(repo.path / "proj"), a, b) == Merge(None, ())


def test_merging_unrelated_histories_is_an_error(repo: Repo) -> None:
    repo.git("switch", "-q", "--orphan", "other")
    repo.commit("unrelated", paths=("other.py",))
    repo.git("switch", "-q", "-f", "main")
    with pytest.raises(BranchError, match=r"could not merge main and other .*unrelated histories"):
        merge(open_repo(repo.path), "main", "other")


# commit_tree ------------------------------------------------------------------------


def test_commit_tree_is_deterministic_and_creates_no_ref(repo: Repo) -> None:
    a = branch(repo, "agents/a", {"shared.py": "a\n"})
    b = branch(repo, "agents/b", {"proj/inner.py": "b\n"})
    # no identity, and signing asked for with a program that would fail
    repo.git("config", "--unset", "user.name")
    repo.git("config", "--unset", "user.email")
    repo.git("config", "user.useConfigOnly", "true")
    repo.git("config", "commit.gpgsign", "true")
    repo.git("config", "gpg.program", "false")
    unset = subprocess.run(["git", "-C", str(repo.path), "config", "user.name"], check=False)
    assert unset.returncode == 1  # nowhere: the autouse fixture hides the user's config
    found = open_repo(repo.path)
    refs = repo.git("for-each-ref")
    tree = merge(found, a, b).tree
    assert tree is not None
    with untouched(repo):
        first = commit_tree(found, tree, [a, b], "merge wave 1")
        again = commit_tree(found, tree, [a, b], "merge wave 1")
        swapped = commit_tree(found, tree, [b, a], "merge wave 1")
    assert again == first != swapped
    assert repo.git("for-each-ref") == refs
    assert repo.git("rev-list", "--parents", "-n", "1", first) == f"{first} {a} {b}"
    shown = repo.git("show", "-s", "--format=%an <%ae> %aI|%cn <%ce> %cI|%B|%G?", first)
    author = "pytest-delegation <pytest-delegation@example.invalid> 2000-01-01T00:00:00+00:00"
    assert shown == f"{author}|{author}|merge wave 1\n|N"
    assert repo.git("rev-parse", f"{first}^{{tree}}") == tree


def test_commit_tree_of_no_tree_is_an_error(repo: Repo) -> None:
    with pytest.raises(BranchError, match=r"^git commit-tree failed in "):
        commit_tree(open_repo(repo.path), "0" * 40, [], "x")


# export -----------------------------------------------------------------------------


def test_export_writes_the_files_and_leaves_the_repository_alone(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.git("switch", "-q", "-c", "agents/a")
    repo.write("tool.sh", text="#!/bin/sh\necho hi\n")
    (repo.path / "tool.sh").chmod(0o755)
    (repo.path / "link.py").symlink_to("shared.py")
    repo.git("add", "tool.sh", "link.py")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/sub")
    repo.git("commit", "-q", "-m", "tool, link, submodule")
    commit = repo.git("rev-parse", "HEAD")
    repo.git("switch", "-q", "main")
    found = open_repo(repo.path)
    dest = tmp_path / "out" / "a"
    with untouched(repo), monkeypatch.context() as env:
        # as in a git hook, the environment points at the user's index: it must stay out
        env.setenv("GIT_INDEX_FILE", str(repo.path / ".git" / "index"))
        env.setenv("GIT_DIR", str(tmp_path / "nowhere"))
        export(found, commit, dest)

    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert files == [
        "link.py",
        "proj",
        "proj/inner.py",
        "proj/old.py",
        "shared.py",
        "tool.sh",
        "vendor",
        "vendor/sub",
    ]
    assert (dest / "shared.py").read_text() == "base\n"  # the commit's, not the staged text
    assert (dest / "link.py").is_symlink() and os.readlink(dest / "link.py") == "shared.py"
    assert (dest / "tool.sh").stat().st_mode & stat.S_IXUSR
    assert not (dest / "shared.py").stat().st_mode & stat.S_IXUSR
    # the submodule is not checked out: an empty folder, as a plain clone leaves it
    assert not any((dest / "vendor" / "sub").iterdir())


def test_export_of_an_empty_tree_creates_the_folder(repo: Repo, tmp_path: Path) -> None:
    found = open_repo(repo.path)
    empty = repo.git("hash-object", "-t", "tree", "-w", "/dev/null")
    commit = commit_tree(found, empty, [], "nothing")
    export(found, commit, tmp_path / "empty")
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())


def test_export_of_no_commit_is_an_error(repo: Repo, tmp_path: Path) -> None:
    with pytest.raises(BranchError, match=r"^git read-tree failed in "):
        export(open_repo(repo.path), "0" * 40, tmp_path / "out")


def test_export_killed_midway_leaves_nothing_in_the_repository(repo: Repo, tmp_path: Path) -> None:
    """SIGKILL gives no chance to clean up: there must be nothing in the repo to clean."""
    found = open_repo(repo.path)
    commit = repo.git("rev-parse", "HEAD")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from pytest_delegation.branches.git import open_repo, export\n"
        "repo = open_repo(Path(sys.argv[1]))\nprint('ready', flush=True)\n"
        "for n in range(10_000):\n    export(repo, sys.argv[2], Path(sys.argv[3]) / str(n))\n"
    )
    with untouched(repo):
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(found.toplevel), commit, str(tmp_path / "out")],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(scratch)},
        )
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 60
        while not (tmp_path / "out" / "3").exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        child.kill()
        assert child.wait() == -signal.SIGKILL
        child.stdout.close()
    # what a killed run may leave lies in the temporary folder, not in the repository
    assert all(p.name.startswith("pytest-delegation-index-") for p in scratch.iterdir())
