"""`--delegation-diff`: changed files and task commits from real git repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import subprocess

import pytest

from pytest_delegation.checks.changes import diff_findings
from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.git import ChangesError
from pytest_delegation.checks.git import TaskCommit
from pytest_delegation.checks.git import changed_files
from pytest_delegation.checks.git import task_commits
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task


class Repo:
    """A throwaway git repository: write files, run git, commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Tester")
        self.git("config", "user.email", "tester@example.com")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def write(self, *paths: str, text: str = "x\n") -> None:
        for path in paths:
            target = self.path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    def commit(self, *messages: str, paths: tuple[str, ...] = ()) -> str:
        """Write `paths` (changed text each time), commit everything; return the sha."""
        for path in paths:
            target = self.path / path
            old = target.read_text(encoding="utf-8") if target.exists() else ""
            self.write(path, text=old + "more\n")
        self.git("add", "-A")
        args = [arg for message in messages for arg in ("-m", message)]
        self.git("commit", "-q", "--allow-empty", *args)
        return self.git("rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def no_user_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own git config (hooks, signing, excludes) must not leak into the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "home" / "gitconfig"))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo")
    repo.write(".gitignore", text="*.log\nbuild/\n")
    repo.commit("base", paths=("keep.py",))
    return repo


def make_plan(root: Path, shared: tuple[str, ...] = (), **files: tuple[str, ...]) -> Plan:
    tasks = {
        name.replace("_", "-"): Task(name.replace("_", "-"), files=f) for name, f in files.items()
    }
    return Plan(path=root / "delegation.yaml", tasks=tasks, shared=shared)


# changed_files ---------------------------------------------------------------------


def test_changed_files_committed_staged_unstaged_untracked_deleted(repo: Repo) -> None:
    files = ("committed.py", "staged.py", "unstaged.py", "gone.py", "gone_committed.py")
    base = repo.commit("more", paths=files)
    repo.commit("edit", paths=("committed.py",))
    repo.git("rm", "-q", "gone_committed.py")
    repo.git("commit", "-q", "-m", "delete")
    repo.write("staged.py", "new_staged.py", text="staged\n")
    repo.git("add", "staged.py", "new_staged.py")
    repo.write("unstaged.py", text="unstaged\n")
    (repo.path / "gone.py").unlink()
    repo.write("untracked.py", "pkg/untracked.py", "debug.log", "build/out.py", "pkg/x.log")

    assert changed_files(repo.path, base) == [
        "committed.py",
        "gone.py",
        "gone_committed.py",
        "new_staged.py",
        "pkg/untracked.py",
        "staged.py",
        "unstaged.py",
        "untracked.py",
    ]


def test_changed_files_none_since_head(repo: Repo) -> None:
    assert changed_files(repo.path, "HEAD") == []


def test_changed_files_plain_non_ascii_names_and_rename_as_two_paths(repo: Repo) -> None:
    base = repo.commit("more", paths=("old name.py",))
    repo.git("mv", "old name.py", "ünï cödé.py")
    repo.git("commit", "-q", "-m", "rename")
    repo.write("naïve.py")

    assert changed_files(repo.path, base) == ["naïve.py", "old name.py", "ünï cödé.py"]


def test_changed_files_root_in_a_subfolder(repo: Repo) -> None:
    base = repo.commit("more", paths=("top.py", "proj/a.py", "project.py"))
    repo.commit("edit", paths=("top.py", "proj/a.py", "proj/sub/b.py", "project.py"))
    repo.write("untracked_top.py", "proj/new.py", "proj/sub/new.py", "proj/sub/x.log")
    nested = Repo(repo.path / "proj" / "nested")  # an untracked repository inside: not a file
    nested.commit("init", paths=("n.py",))
    # config that would change what git prints (cwd-relative paths, colour codes)
    repo.git("config", "diff.relative", "true")
    repo.git("config", "color.ui", "always")

    assert changed_files(repo.path / "proj", base) == ["a.py", "new.py", "sub/b.py", "sub/new.py"]


def test_changed_files_ignores_what_the_ref_gained_since_the_branch_left_it(repo: Repo) -> None:
    repo.git("switch", "-q", "-c", "feature")
    repo.commit("feature work", paths=("mine.py",))
    repo.git("switch", "-q", "main")
    repo.commit("main moved on", paths=("theirs.py", "keep.py"))
    repo.git("switch", "-q", "feature")

    assert changed_files(repo.path, "main") == ["mine.py"]


# task_commits -----------------------------------------------------------------------


def test_task_commits_read_trailers_the_way_git_does(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.commit("no trailer", paths=("plain.py",))
    one = repo.commit("add user", "Delegation-Task: user-model", paths=("shop/user.py",))
    two = repo.commit(
        "shared work",
        "Delegation-Task: user-model\ndelegation-task: order-model, docs",
        paths=("shop/user.py", "shop/order.py"),
    )
    repo.commit(
        "body look-alike",
        "Delegation-Task: user-model\nis quoted in the body, not a trailer",
        "Signed-off-by: Tester <tester@example.com>",
        paths=("body.py",),
    )
    repo.commit("Delegation-Task: user-model", paths=("subject.py",))
    empty = repo.commit("nothing changed", "Delegation-Task: docs")

    assert task_commits(repo.path, base) == [
        TaskCommit(empty, ("docs",), "nothing changed", ()),
        TaskCommit(
            two,
            ("user-model", "order-model", "docs"),
            "shared work",
            ("shop/order.py", "shop/user.py"),
        ),
        TaskCommit(one, ("user-model",), "add user", ("shop/user.py",)),
    ]


def test_task_commits_before_the_ref_do_not_count(repo: Repo) -> None:
    repo.commit("old", "Delegation-Task: a", paths=("a.py",))
    assert task_commits(repo.path, "HEAD") == []


def test_task_commits_root_in_a_subfolder(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    sha = repo.commit(
        "both sides", "Delegation-Task: a", paths=("top.py", "proj/a.py", "proj/ü b.py")
    )
    repo.git("config", "diff.relative", "true")
    repo.git("config", "color.ui", "always")
    assert task_commits(repo.path / "proj", base) == [
        TaskCommit(sha, ("a",), "both sides", ("a.py", "ü b.py"))
    ]


# errors -----------------------------------------------------------------------------


def test_not_a_git_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(ChangesError) as info:
        changed_files(folder, "main")
    message = str(info.value)
    assert message.startswith(
        f"--delegation-diff compares with a git ref, but {folder} is not in a usable git "
        "repository (fatal: not a git repository"
    )
    assert message.endswith("run it in a git checkout, or leave out --delegation-diff")


@pytest.mark.parametrize("call", [changed_files, task_commits])
def test_unknown_ref(repo: Repo, call: Callable[[Path, str], object]) -> None:
    with pytest.raises(ChangesError) as info:
        call(repo.path, "origin/mian")
    assert str(info.value) == (
        f"--delegation-diff: unknown git ref 'origin/mian' in {repo.path}; if it is a remote "
        "branch, run 'git fetch' first (a shallow CI clone needs the history too), or name "
        "another ref, like --delegation-diff=origin/main"
    )


@pytest.mark.parametrize("ref", ["", "--output=x"])
def test_ref_that_is_no_ref(repo: Repo, ref: str) -> None:
    with pytest.raises(ChangesError) as info:
        changed_files(repo.path, ref)
    assert str(info.value) == (
        "--delegation-diff needs a git ref to compare with, like "
        f"--delegation-diff=origin/main, not {ref!r}"
    )


def test_git_not_installed(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo.path / "no-bin"))
    with pytest.raises(ChangesError) as info:
        task_commits(repo.path, "HEAD")
    assert str(info.value) == (
        "--delegation-diff needs git, and git is not installed (or not on PATH)"
    )


# diff_findings ----------------------------------------------------------------------

UNPLANNED_FIX = "add it to a task's files: or to shared:, or revert it"


def unplanned(path: str) -> Finding:
    return Finding(
        "unplanned-change",
        f"{path} was changed since main, but no task owns it and the plan does not share it",
        fix=UNPLANNED_FIX,
        file=path,
    )


def test_unplanned_vs_owned_shared_plan_file_and_outside(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path / "proj",
        shared=("shop/contracts.py",),
        user=("shop/user.py",),
        docs=("docs/**",),
    )
    changed = [
        "outside.py",  # not in the plan's folder: not its business
        "proj/delegation.yaml",
        "proj/docs/guide.md",
        "proj/shop/contracts.py",
        "proj/shop/user.py",
        "proj/shop/cart.py",
        "proj/README.md",
        "proj/README.md",
    ]
    assert diff_findings(plan, "proj", changed, [], ref="main") == [
        unplanned("proj/README.md"),
        unplanned("proj/shop/cart.py"),
    ]


def test_unplanned_message_without_a_ref(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, a=("a.py",))
    assert diff_findings(plan, "", ["b.py"], []) == [
        Finding(
            "unplanned-change",
            "b.py was changed, but no task owns it and the plan does not share it",
            fix=UNPLANNED_FIX,
            file="b.py",
        )
    ]


def test_out_of_bounds_names_the_owner(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path,
        shared=("contracts.py",),
        user_model=("shop/user.py",),
        order_model=("shop/order.py",),
    )
    commit = TaskCommit(
        "0123456789abcdef" * 2 + "01234567",
        ("user-model",),
        "add user",
        ("contracts.py", "delegation.yaml", "shop/order.py", "shop/user.py", "tools/x.py"),
    )
    assert diff_findings(plan, "", [], [commit]) == [
        Finding(
            "out-of-bounds-change",
            "commit 0123456789ab ('add user') of task 'user-model' changed 2 files outside "
            "its files: shop/order.py, tools/x.py",
            fix="move these changes to the task that owns them ('order-model'), or widen the "
            "files: of 'user-model'",
            task="user-model",
            other_task="order-model",
            file="shop/order.py",
            extra={
                "commit": "0123456789ab",
                "subject": "add user",
                "files": ["shop/order.py", "tools/x.py"],
            },
        )
    ]


def test_out_of_bounds_per_task_of_a_two_task_commit_and_no_owner(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, a=("a/**",), b=("b/**",), c=())
    many = tuple(f"a/{n}.py" for n in range(7))
    commit = TaskCommit("f" * 40, ("a", "b", "c"), "fix", (*many, "b/1.py"))
    shown = "a/0.py, a/1.py, a/2.py, a/3.py, a/4.py"
    assert diff_findings(plan, "", [], [commit]) == [
        Finding(
            "out-of-bounds-change",
            "commit ffffffffffff ('fix') of task 'a' changed 1 file outside its files: b/1.py",
            fix="move these changes to the task that owns them ('b'), or widen the files: of 'a'",
            task="a",
            other_task="b",
            file="b/1.py",
            extra={"commit": "ffffffffffff", "subject": "fix", "files": ["b/1.py"]},
        ),
        Finding(
            "out-of-bounds-change",
            f"commit ffffffffffff ('fix') of task 'b' changed 7 files outside its files: "
            f"{shown} and 2 more",
            fix="move these changes to the task that owns them ('a'), or widen the files: of 'b'",
            task="b",
            other_task="a",
            file="a/0.py",
            extra={"commit": "ffffffffffff", "subject": "fix", "files": list(many)},
        ),
        Finding(
            "out-of-bounds-change",
            f"commit ffffffffffff ('fix') of task 'c' changed 8 files outside its files: "
            f"{shown} and 3 more",
            fix="move these changes to the task that owns them ('a', 'b'), or widen the "
            "files: of 'c'",
            task="c",
            other_task="a",
            file="a/0.py",
            extra={"commit": "ffffffffffff", "subject": "fix", "files": [*many, "b/1.py"]},
        ),
    ]


def test_out_of_bounds_unowned_files_and_unknown_task(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, user_model=("shop/user.py",))
    commit = TaskCommit("a" * 40, ("user-modl", "user-model"), "wip", ("notes.txt",))
    assert diff_findings(plan, "", [], [commit]) == [
        Finding(
            "out-of-bounds-change",
            "commit aaaaaaaaaaaa ('wip') has a Delegation-Task trailer naming 'user-modl', "
            "which names no task of the plan; did you mean 'user-model'?",
            fix="correct the Delegation-Task trailer (git commit --amend, or a rebase), or "
            "add the task to the plan",
            extra={"commit": "aaaaaaaaaaaa", "subject": "wip", "trailer": "user-modl"},
        ),
        Finding(
            "out-of-bounds-change",
            "commit aaaaaaaaaaaa ('wip') of task 'user-model' changed 1 file outside its "
            "files: notes.txt",
            fix="no task owns them: widen the files: of 'user-model', add them to shared:, "
            "or move these changes out of this commit",
            task="user-model",
            file="notes.txt",
            extra={"commit": "aaaaaaaaaaaa", "subject": "wip", "files": ["notes.txt"]},
        ),
    ]


def test_in_bounds_commits_and_outside_paths_give_nothing(tmp_path: Path) -> None:
    plan = make_plan(tmp_path / "proj", shared=("lib/**",), a=("a.py",))
    commit = TaskCommit("b" * 40, ("a",), "ok", ("other/x.py", "proj/a.py", "proj/lib/u.py"))
    assert diff_findings(plan, "proj", ["other/x.py", "proj/a.py"], [commit]) == []


def test_end_to_end_from_a_real_repository(repo: Repo) -> None:
    plan = make_plan(
        repo.path, shared=(".gitignore",), user=("shop/user.py",), order=("shop/order.py",)
    )
    base = repo.git("rev-parse", "HEAD")
    repo.commit("user", "Delegation-Task: user", paths=("shop/user.py",))
    sha = repo.commit(
        "order",
        "Refs #12.\n\nDelegation-Task: order",
        paths=("shop/order.py", "shop/user.py"),
    )
    repo.write("shop/cart.py", "delegation.yaml")

    findings = diff_findings(
        plan, "", changed_files(repo.path, base), task_commits(repo.path, base), ref=base
    )
    assert findings == [
        Finding(
            "unplanned-change",
            f"shop/cart.py was changed since {base}, but no task owns it and the plan does "
            "not share it",
            fix=UNPLANNED_FIX,
            file="shop/cart.py",
        ),
        Finding(
            "out-of-bounds-change",
            f"commit {sha[:12]} ('order') of task 'order' changed 1 file outside its files: "
            "shop/user.py",
            fix="move these changes to the task that owns them ('user'), or widen the files: "
            "of 'order'",
            task="order",
            other_task="user",
            file="shop/user.py",
            extra={"commit": sha[:12], "subject": "order", "files": ["shop/user.py"]},
        ),
    ]


@pytest.mark.task("e2e")  # runs the whole plugin: an end-to-end test, not changes.py's
def test_plugin_reports_changes_against_the_plan(pytester: pytest.Pytester) -> None:
    """End to end: --delegation-diff through the plugin, and a bad ref as a usage error."""
    root = pytester.path
    pytester.makefile(
        ".yaml", delegation="tasks:\n  a:\n    files: [a.py]\n    tests: [test_a.py]\n"
    )
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    (root / "a.py").write_text("A = 1\n")
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base"],
    ):
        subprocess.run(["git", *command], cwd=root, check=True)
    # bytecode caches (written unless PYTHONDONTWRITEBYTECODE) are not work
    (root / ".git" / "info" / "exclude").write_text("__pycache__/\n")
    (root / "b.py").write_text("B = 1\n")
    (root / "a.py").write_text("A = 2\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m",
         "work\n\nDelegation-Task: a"],
        cwd=root, check=True,
    )  # fmt: skip
    result = pytester.runpytest(
        "--delegation-report", "--delegation-workers=0", "--delegation-diff=HEAD~1"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["errors (2)", "  unplanned-change: b.py", "  out-of-bounds-change: task a, b.py"]
    )
    bad = pytester.runpytest("--delegation-report", "--delegation-diff=nope")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*unknown git ref 'nope'*"])
