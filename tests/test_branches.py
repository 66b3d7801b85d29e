"""Branch runs end to end: a batch of task branches checked, merged, and given actions.

The repository is `branchrepo`'s: two clean branches, one whose merge breaks another
task's test, one that edits another task's file, two that conflict, one that fails on
its own, and a review task without a branch. Each run is a real ``python -m pytest``
in its own process (it starts runs of its own), as a user starts it.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import branchrepo
import pytest


pytestmark = pytest.mark.task("e2e")


def user_state(root: Path) -> dict[str, Any]:
    """What of the user's a run must leave alone: refs, HEAD, index, worktrees, status."""

    def git(*args: str) -> str:
        return branchrepo.git(root, *args)

    return {
        "refs": git("for-each-ref", "--format=%(objectname) %(refname)"),
        "head": git("rev-parse", "HEAD"),
        "symbolic": git("symbolic-ref", "HEAD"),
        "worktrees": git("worktree", "list", "--porcelain"),
        "status": git("status", "--porcelain", "--untracked-files=no"),
        "index": (root / ".git" / "index").read_bytes(),
    }


@dataclass
class Done:
    returncode: int
    out: str
    data: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    tmp: Path

    def action(self, task: str) -> str:
        return str(self.data["tasks"][task].get("action"))

    def findings(self, rule: str) -> list[dict[str, Any]]:
        return [f for f in self.data["findings"] if f["rule"] == rule]


def run(root: Path, *args: str, tmp: Path | None = None) -> Done:
    tmp = tmp or root.parent / f"tmp-{os.urandom(3).hex()}"
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GIT_"))}
    env["TMPDIR"] = str(tmp)
    before = user_state(root)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--delegation-report",
         "--delegation-report=json:report.json", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = root / "report.json"
    data = json.loads(report.read_text()) if report.exists() else {}
    report.unlink(missing_ok=True)
    return Done(done.returncode, done.stdout + done.stderr, data, before, user_state(root), tmp)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch") / "project"
    branchrepo.build(root)
    return root


@pytest.fixture(scope="module")
def batch(project: Path) -> Done:
    return run(project)


def test_each_task_gets_its_action(batch: Done) -> None:
    actions = {task: batch.action(task) for task in batch.data["tasks"]}
    assert actions == {
        "alpha": "accept",
        "beta": "accept",
        "limit": "conflict",
        "gamma": "accept",
        "sneaky": "retry",
        "left": "accept",
        "right": "conflict",
        "broken": "retry",
        "review": "accept",
    }, batch.out
    assert batch.data["summary"]["accept"] == ["alpha", "beta", "gamma", "left", "review"]
    assert batch.data["summary"]["retry"] == ["sneaky", "broken"]
    assert batch.returncode == 1
    assert "accept: alpha, beta, gamma, left, review" in batch.out


def test_each_branch_is_named_with_its_head(batch: Done, project: Path) -> None:
    for task in ("alpha", "broken"):
        branch = batch.data["tasks"][task]["branch"]
        assert branch["name"] == f"agents/{task}"
        assert branch["head"] == branchrepo.git(project, "rev-parse", f"agents/{task}")
        assert branch["cached"] is False
    assert "branch" not in batch.data["tasks"]["review"]


def test_a_retry_carries_the_failing_test_and_its_output(batch: Done) -> None:
    (failure,) = batch.data["tasks"]["broken"]["failures"]
    assert failure["test"] == "tests/test_broken.py::test_broken"
    assert "assert 41 == 42" in failure["output"]
    # the scratch copy's folder is cut out: paths read as the repository's
    assert "pytest-delegation-branches" not in failure["output"]
    assert "tests/test_broken.py:5" in failure["output"]


def test_a_change_outside_its_files_names_them_and_their_owner(batch: Done) -> None:
    (finding,) = batch.findings("out-of-bounds-change")
    assert finding["task"] == "sneaky" and finding["other_task"] == "alpha"
    assert finding["files"] == ["pkg/alpha.py"] and finding["branch"] == "agents/sneaky"


def test_a_textual_conflict_names_both_tasks_and_the_file(batch: Done) -> None:
    (finding,) = batch.findings("merge-conflict")
    assert (finding["task"], finding["other_task"]) == ("right", "left")
    assert finding["files"] == ["NOTES.md"]


def test_the_merge_that_breaks_another_task_is_pinned(batch: Done) -> None:
    (finding,) = batch.findings("integration-failure")
    assert finding["task"] == "limit" and finding["other_task"] == "gamma"
    assert finding["test"] == "tests/test_gamma.py::test_gamma"
    assert batch.data["tasks"]["limit"]["action_with"] == ["gamma"]


def test_the_review_without_branch_ran_on_the_merged_work(batch: Done) -> None:
    review = batch.data["tasks"]["review"]
    assert review["status"] == "passed"
    assert review["tests"] == {"tests/test_review.py::test_together": "passed"}


def test_pytest_sees_each_test_once(batch: Done) -> None:
    """The believed reports are replayed: the merge's word for the broken test."""
    assert "2 failed, 7 passed" in batch.out
    assert "FAILED tests/test_gamma.py::test_gamma - assert 5 == 10" in batch.out


def test_the_report_matches_the_schema(batch: Done) -> None:
    from conftest import SCHEMA
    import jsonschema

    jsonschema.validate(batch.data, SCHEMA)


def test_nothing_of_the_user_is_touched(batch: Done) -> None:
    assert batch.after == batch.before
    assert list(batch.tmp.iterdir()) == []


def test_a_second_batch_reruns_only_what_moved(project: Path, batch: Done) -> None:
    branchrepo.make_branch(
        project, "broken-fix", {"pkg/broken.py": "def answer():\n    return 42\n"},
        start="agents/broken",
    )  # fmt: skip
    branchrepo.git(project, "branch", "-f", "agents/broken", "agents/broken-fix")
    again = run(project)
    cached = {t: e["branch"]["cached"] for t, e in again.data["tasks"].items() if "branch" in e}
    assert cached["broken"] is False
    assert cached["alpha"] and cached["beta"] and cached["sneaky"], again.out
    assert again.action("broken") == "accept"
    assert "retry" not in again.data["summary"] or again.data["summary"]["retry"] == ["sneaky"]
    cleared = run(project, "--cache-clear")
    assert not any(e.get("branch", {}).get("cached") for e in cleared.data["tasks"].values())
    # what --cache-clear ran is kept like any other run
    after = run(project)
    assert after.data["tasks"]["alpha"]["branch"]["cached"] is True


def test_a_template_that_names_no_branch_is_a_usage_error(project: Path) -> None:
    done = run(project, "--delegation-branches=nobody/{task}")
    assert done.returncode == 4
    assert "task alpha: no branch 'nobody/alpha'" in done.out
    assert "look named like --delegation-branches='agents/{task}'" in done.out


SRC_PLAN = """\
branches: agents/{task}
shared: [src/pkg/__init__.py, conftest.py]
tasks:
  mod: {files: [src/pkg/mod.py, tests/test_mod.py], tests: [tests/test_mod.py]}
"""


def src_project(root: Path, conftest: str = "", installed: Path | None = None) -> dict[str, str]:
    """A src layout whose package imports from the checkout, as an editable install does.

    ``sitecustomize`` adds a site folder whose ``.pth`` puts the checkout's ``src`` on
    ``sys.path`` (what ``pip install -e .`` leaves behind); the branch's own code differs.
    """
    root.mkdir(parents=True)
    branchrepo.git(root, "init", "-q", "-b", "main")
    branchrepo.ignore_bytecode(root)
    branchrepo.write(
        root,
        {
            "delegation.yaml": SRC_PLAN,
            "conftest.py": conftest,
            "src/pkg/__init__.py": "",
            "src/pkg/mod.py": "def value():\n    return 1\n",
        },
    )
    branchrepo.commit(root, "base")
    site = root.parent / "site"
    (site / "installed").mkdir(parents=True)
    (site / "installed" / "__editable__.pkg.pth").write_text(f"{installed or root / 'src'}\n")
    (site / "sitecustomize.py").write_text(
        f"import site\nsite.addsitedir({str(site / 'installed')!r})\n"
    )
    test = "from pkg import mod\n\n\ndef test_value():\n    assert mod.value() == 2\n"
    head = branchrepo.make_branch(
        root, "mod", {"src/pkg/mod.py": "def value():\n    return 2\n", "tests/test_mod.py": test}
    )
    return {"PYTHONPATH": str(site), "head": head}


def run_src(root: Path, env: dict[str, str], *args: str) -> Done:
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]
    try:
        return run(root, *args)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def test_an_editable_src_layout_tests_the_branch_s_code(tmp_path: Path) -> None:
    root = tmp_path / "project"
    env = src_project(root)
    done = run_src(root, env)
    mod = done.data["tasks"]["mod"]
    assert mod["status"] == "passed" and mod["action"] == "accept", done.out
    assert not done.findings("code-outside-worktree")


def test_a_copy_installed_from_another_checkout_tests_its_own_code(tmp_path: Path) -> None:
    """Found on cachetools: a clone whose editable install points at the original."""
    original = tmp_path / "original" / "src"
    (original / "pkg").mkdir(parents=True)
    (original / "pkg" / "__init__.py").write_text("")
    (original / "pkg" / "mod.py").write_text("def value():\n    return 1\n")
    root = tmp_path / "project"
    env = src_project(root, installed=original)
    done = run_src(root, env)
    assert done.data["tasks"]["mod"]["action"] == "accept", done.out


def test_code_run_from_the_checkout_is_a_finding(tmp_path: Path) -> None:
    """A conftest that puts the checkout's own src first: the branch's code never ran."""
    root = tmp_path / "project"
    conftest = f"import sys\nsys.path.insert(0, {str(tmp_path / 'project' / 'src')!r})\n"
    env = src_project(root, conftest)
    done = run_src(root, env)
    (finding,) = done.findings("code-outside-worktree")
    assert finding["task"] == "mod" and "src/pkg/mod.py" in finding["files"]
    assert done.data["tasks"]["mod"]["action"] == "retry"


def test_sigterm_stops_every_run_and_leaves_nothing(tmp_path: Path) -> None:
    import signal
    import time

    root = tmp_path / "project"
    branchrepo.build(root)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = user_state(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GIT_"))}
    env["TMPDIR"] = str(tmp)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--delegation-report"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp.glob("pytest-delegation-branches-*/runs/*/output.txt")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "interrupted" in out
    assert list(tmp.iterdir()) == []
    assert user_state(root) == before
    leftovers = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(tmp).encode() in status.read_bytes():
                leftovers.append(status.parent.name)
        except OSError:
            pass
    assert leftovers == []


def test_a_branch_s_tests_are_held_to_their_files_at_run_time(tmp_path: Path) -> None:
    """Measured in the branch run's own process, as a worker measures it."""
    root = tmp_path / "project"
    branchrepo.build(root, {"alpha": branchrepo.BRANCHES["alpha"]})
    branchrepo.git(root, "merge", "-q", "--ff-only", "agents/alpha")
    peek = "from pkg import alpha, beta\n\n\ndef test_beta():\n    assert alpha.one() == 1\n"
    branchrepo.make_branch(
        root, "beta", {"pkg/beta.py": "def two():\n    return 2\n", "tests/test_beta.py": peek}
    )
    done = run(root)
    (finding,) = done.findings("boundary-violation")
    assert finding["task"] == "beta" and finding["file"] == "pkg/alpha.py", done.out
    assert "pkg/alpha.py" in done.data["tasks"]["beta"]["executed_files"]


def test_a_clean_batch_is_merged_and_run_once(tmp_path: Path) -> None:
    """The happy path, as a merge queue tests a batch: every branch merged, one run."""
    root = tmp_path / "project"
    branchrepo.build(root, {t: branchrepo.BRANCHES[t] for t in ("alpha", "beta", "left")})
    done = run(root)
    assert done.returncode == 1  # tasks without a branch or tests are unverified
    actions = {t: e.get("action") for t, e in done.data["tasks"].items()}
    assert actions["alpha"] == actions["beta"] == actions["left"] == "accept", done.out
    assert actions["review"] == "accept"
    assert not any("wave by wave" in note for note in done.data["notes"])
    lanes = {row.get("job") for row in done.data["timeline"]}
    assert "merge" in lanes and not any(str(lane).startswith("merge wave") for lane in lanes)
    again = run(root)
    assert all(e["branch"]["cached"] for e in again.data["tasks"].values() if "branch" in e)
    assert again.data["timeline"] == []


def test_the_readme_walkthrough_on_the_example_shop(tmp_path: Path) -> None:
    """example_project/make_branches.py, then the command the README gives."""
    script = Path(__file__).parent.parent / "example_project" / "make_branches.py"
    shop = tmp_path / "shop"
    subprocess.run([sys.executable, str(script), str(shop)], check=True, capture_output=True)
    done = run(shop, "--delegation-branches=agents/{task}", "--delegation-base=main")
    assert done.data["summary"]["accept"] == ["user-model", "order-model", "research"], done.out
    assert done.data["summary"]["retry"] == ["product-model", "api"]
    assert {t for t, e in done.data["tasks"].items() if e.get("action") == "blocked"} == {
        "docs", "review", "security",
    }  # fmt: skip
    (bounds,) = done.findings("out-of-bounds-change")
    assert bounds["task"] == "api" and bounds["files"] == ["shop/models/order.py"]
    assert done.after == done.before


def test_outside_a_git_checkout_it_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(pytester.path.parent))
    pytester.makefile(".yaml", delegation="branches: agents/{task}\ntasks:\n  a: {}\n")
    pytester.makepyfile(
        test_a="import pytest\n\n@pytest.mark.task('a')\ndef test_a():\n    pass\n"
    )
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is not in a git work tree*run it in a git checkout*"])


def test_an_unknown_base_names_the_nearest(project: Path) -> None:
    done = run(project, "--delegation-base=mian")
    assert done.returncode == 4
    assert "--delegation-base: unknown git ref 'mian'" in done.out
    assert "did you mean 'main'?" in done.out


def test_a_shallow_clone_says_to_fetch_the_history(project: Path, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{project}",
         str(shallow)],
        check=True, capture_output=True,
    )  # fmt: skip
    done = run(shallow, "--delegation-branches=origin/agents/{task}")
    assert done.returncode == 4, done.out
    assert "shallow" in done.out and "fetch-depth: 0" in done.out


def test_collect_only_runs_no_branch(project: Path) -> None:
    """A pre-dispatch verdict: the plan checked against the checkout, nothing run."""
    done = run(project, "--collect-only", "-q")
    assert "what to do" not in done.out
    assert "action" not in json.dumps(done.data["tasks"])
    assert list(done.tmp.iterdir()) == []
