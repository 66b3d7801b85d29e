"""Task workers' own HOME and TMPDIR (issue 11, item 5).

Two tasks side by side shared the user's HOME and temp folder: two tests writing
``~/.app/config`` failed each other, and the report called them flaky. Each worker run
(every attempt) now gets a fresh HOME and TMPDIR in the launcher's work folder, removed
after it, as the order check's runs already did; ``--delegation-real-home`` (ini
``delegation_real_home``) keeps the user's. Every run is a subprocess: workers start.
HOME and TMPDIR of the inner runs are folders of the test's own, never the user's.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys
from typing import Any

import pytest

from pytest_delegation.run.argv import forwarded
from pytest_delegation.run.process import Worker
from pytest_delegation.run.spec import RunSpec


pytestmark = pytest.mark.task("e2e")

TWO_TASKS = "tasks:\n  a:\n    tests: [test_a.py]\n  b:\n    tests: [test_b.py]\n"

# writes ~/.app/config, waits until the other task's test wrote too, reads it back: with
# one HOME for both, the first writer reads the other's content (the last write wins)
WRITES_CONFIG = """
import time
from pathlib import Path


def test_config():
    config = Path.home() / ".app" / "config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("{me}")
    Path("wrote-{me}").touch()
    deadline = time.monotonic() + 15
    while not Path("wrote-{other}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert config.read_text() == "{me}"
"""

# what the test saw, one JSON line per run (an attempt each) in the project folder
RECORDS = """
import json
import os
import sys
import tempfile
from pathlib import Path


def record(**extra):
    home, tmp = Path.home(), Path(os.environ["TMPDIR"])
    seen = {{
        "home": str(home),
        "tmp": str(tmp),
        "gettempdir": tempfile.gettempdir(),
        "home_files": sorted(p.name for p in home.iterdir()),
        "forked": "warm" in sys.modules,
        **extra,
    }}
    with open("{log}", "a") as log:
        log.write(json.dumps(seen) + "\\n")
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-workers=2", *args, timeout=120,
    )  # fmt: skip


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    return data


def rules(pytester: pytest.Pytester) -> list[str]:
    return [finding["rule"] for finding in report(pytester)["findings"]]


def records(pytester: pytest.Pytester, log: str = "seen.jsonl") -> list[dict[str, Any]]:
    lines = (pytester.path / log).read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def user(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The inner runs' user: a HOME and a TMPDIR of this test's own (the real ones stay
    untouched), each empty."""
    home = pytester.path / "home"
    tmp = pytester.path / "tmp"
    home.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp))
    return home, tmp


@pytest.fixture
def two_writers(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two tasks in one wave, each test writing ~/.app/config and reading it back."""
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a=WRITES_CONFIG.format(me="a", other="b"),
        test_b=WRITES_CONFIG.format(me="b", other="a"),
    )
    return pytester


# -- the collision, gone -----------------------------------------------------------------


def test_two_tasks_writing_one_home_file_side_by_side_are_not_flaky(
    two_writers: pytest.Pytester, user: tuple[Path, Path]
) -> None:
    result = run(two_writers, "--delegation-retries=1")
    result.assert_outcomes(passed=2)
    assert "flaky" not in rules(two_writers)
    tasks = report(two_writers)["tasks"]
    assert [(tasks[t]["status"], tasks[t]["attempts"]) for t in "ab"] == [("passed", 1)] * 2
    home, _ = user
    assert list(home.iterdir()) == []  # neither wrote into the user's HOME


def test_with_the_real_home_the_same_tasks_collide(
    two_writers: pytest.Pytester, user: tuple[Path, Path]
) -> None:
    """The test above, opted out: the collision of issue 11 is back (the test is able to
    see it), and the user's HOME holds what the tests wrote."""
    result = run(two_writers, "--delegation-retries=1", "--delegation-real-home")
    result.assert_outcomes(passed=2)  # the first writer passed on its retry
    assert rules(two_writers).count("flaky") == 1
    home, _ = user
    assert (home / ".app" / "config").read_text() in ("a", "b")


# -- what a test sees ----------------------------------------------------------------------


def test_every_attempt_has_a_fresh_home_and_tmpdir_gone_after_the_run(
    pytester: pytest.Pytester, user: tuple[Path, Path]
) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a:\n    tests: [test_a.py]\n")
    pytester.makepyfile(
        records=RECORDS.format(log="seen.jsonl"),
        test_a="""
            from pathlib import Path

            import records


            def test_a():
                records.record()
                (Path.home() / "written").write_text("x")
                first = not Path("tried").exists()
                Path("tried").touch()
                assert not first, "fails on its first attempt"
        """,
    )
    result = run(pytester, "--delegation-retries=1")
    result.assert_outcomes(passed=1)
    assert report(pytester)["tasks"]["a"]["status"] == "flaky"  # as it should be
    first, second = records(pytester)
    home, tmp = user
    assert first["home"] != second["home"] and first["tmp"] != second["tmp"]
    for seen in (first, second):
        own_home, own_tmp = Path(seen["home"]), Path(seen["tmp"])
        assert own_home != home and own_tmp != tmp
        # in the launcher's work folder, itself in the user's temp folder
        assert own_home.parent == own_tmp.parent
        assert own_home.parent.name.startswith("pytest-delegation-")
        assert own_home.parent.parent == tmp
        assert not own_home.exists() and not own_tmp.exists()
    # fresh: the retry does not see what the first attempt wrote
    assert (first["home_files"], second["home_files"]) == ([], [])
    assert list(home.iterdir()) == []
    assert not [p for p in tmp.iterdir() if p.name.startswith("pytest-delegation-")]


@pytest.mark.parametrize("how", ["option", "ini"])
def test_the_real_home_kept_on_request(
    pytester: pytest.Pytester, user: tuple[Path, Path], how: str
) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a:\n    tests: [test_a.py]\n")
    pytester.makeini("[pytest]\n" + ("delegation_real_home = true\n" if how == "ini" else ""))
    pytester.makepyfile(
        records=RECORDS.format(log="seen.jsonl"),
        test_a="import records\n\ndef test_a():\n    records.record()\n",
    )
    result = run(pytester, *(["--delegation-real-home"] if how == "option" else []))
    result.assert_outcomes(passed=1)
    (seen,) = records(pytester)
    home, tmp = user
    assert (seen["home"], seen["tmp"], seen["gettempdir"]) == (str(home), str(tmp), str(tmp))


def test_a_real_home_ini_value_that_is_no_bool_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a:\n    tests: [test_a.py]\n")
    pytester.makeini("[pytest]\ndelegation_real_home = maybe\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option delegation_real_home*maybe*use true or false*"])


def test_in_process_mode_keeps_the_real_home(
    pytester: pytest.Pytester, user: tuple[Path, Path]
) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a:\n    tests: [test_a.py]\n")
    pytester.makepyfile(
        records=RECORDS.format(log="seen.jsonl"),
        test_a="import records\n\ndef test_a():\n    records.record()\n",
    )
    result = run(pytester, "--delegation-workers=0", "--delegation-check=none")
    result.assert_outcomes(passed=1)
    (seen,) = records(pytester)
    home, tmp = user
    assert (seen["home"], seen["tmp"]) == (str(home), str(tmp))


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_tempfile_in_a_worker_is_inside_the_runs_own_tmpdir(
    pytester: pytest.Pytester, user: tuple[Path, Path], start: str
) -> None:
    """A forked worker too: the fork server asked tempfile before forking (a preloaded
    module did), and tempfile keeps the first answer."""
    if start == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("the fork server is Linux only")
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makeini("[pytest]\ndelegation_preload = warm\n")
    body = (
        "import os, sys, tempfile\nfrom pathlib import Path\n\nimport records\n\n"
        "def test_{0}():\n"
        "    forked = 'warm' in sys.modules  # the server preloaded it\n"
        "    folder = Path(tempfile.mkdtemp())\n"
        "    warm = __import__('warm').SEEN\n"
        "    records.record(mkdtemp=str(folder), warm=warm, forked=forked)\n"
        "    assert tempfile.gettempdir() == os.environ['TMPDIR']\n"
    )
    pytester.makepyfile(
        warm="import tempfile\n\nSEEN = tempfile.gettempdir()\n",
        records=RECORDS.format(log="seen.jsonl"),
        test_a=body.format("a"),
        test_b=body.format("b"),
    )
    result = run(pytester, f"--delegation-start={start}", "--delegation-check=none")
    result.assert_outcomes(passed=2)
    seen = records(pytester)
    _, tmp = user
    assert [s["forked"] for s in seen] == [start == "fork"] * 2
    assert len({s["tmp"] for s in seen}) == 2  # one each
    for one in seen:
        own = Path(one["tmp"])
        assert one["gettempdir"] == str(own) and own.name.endswith(".tmp")
        assert Path(one["mkdtemp"]).parent == own
        assert not own.exists()
        if start == "fork":
            # the server's answer, before the fork: the case this is about
            assert one["warm"] == str(tmp)


# -- the parts ---------------------------------------------------------------------------


def test_a_spec_that_brings_its_own_home_keeps_it(tmp_path: Path) -> None:
    """The order check's runs make their HOME and TMPDIR themselves (run/sequences.py)."""
    spec = RunSpec(name="order-1", task=None, attempt=1, ids=(), files=(), label="forward")
    worker = Worker(spec, tmp_path)
    assert worker.own_folders({"HOME": "/theirs"}) == {"TMPDIR": str(tmp_path / "order-1.tmp")}
    assert [p.name for p in tmp_path.iterdir()] == ["order-1.tmp"]
    worker.close()
    assert list(tmp_path.iterdir()) == []


def test_a_run_started_again_gets_fresh_folders(tmp_path: Path) -> None:
    """A run lost with the fork server starts again under the same name."""
    spec = RunSpec(name="a-1", task="a", attempt=1, ids=(), files=())
    lost = Worker(spec, tmp_path)
    env = lost.own_folders({})
    (Path(env["HOME"]) / "left").write_text("x")
    again = Worker(spec, tmp_path)
    assert again.own_folders({}) == env
    assert list(Path(env["HOME"]).iterdir()) == []


def test_the_option_reaches_no_worker_and_takes_no_value() -> None:
    args = ["--delegation-report", "--delegation-real-home", "-p", "myplugin", "-v"]
    assert forwarded(args, ()) == ["-p", "myplugin", "-v"]
