"""The plugin under faults: nothing runaway, nothing lost (issue 10).

Each run is a subprocess (`runpytest_subprocess`): the plugin starts workers, and what
is checked is what is left behind once the run is over: processes, temp folders,
report files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from faultlib import processes_of
from faultlib import temp_folders
import pytest


pytestmark = pytest.mark.usefixtures("own_tmp")


@pytest.fixture
def polluted(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two tasks in one wave: a polluter and its victim (the order check runs a
    reproduce command for it)."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  setup-task: {tests: [test_a.py]}\n  victim-task: {tests: [test_v.py]}\n",
    )
    pytester.makepyfile(shared="FLAGS = {}\n")
    pytester.makepyfile(
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n",
        test_v="import shared\n\ndef test_clean():\n    assert 'dirty' not in shared.FLAGS\n",
    )
    return pytester


def check_one_run(pytester: pytest.Pytester, result: pytest.RunResult, before: set[str]) -> None:
    out = result.stdout.str()
    # one controller: one report, one set of waves; workers and replays stayed workers
    assert out.count("delegation report") == 1, out
    assert out.count("order check: canonical") == 1, out
    data = json.loads((pytester.path / "r.json").read_text())
    [finding] = [f for f in data["findings"] if f["rule"] == "hidden-ordering-dependency"]
    assert finding["culprit_test"] == "test_a.py::test_pollute"
    assert "reproduce_verified" not in finding
    assert processes_of(pytester.path) == []
    assert temp_folders() <= before


def test_addopts_in_the_ini_turns_on_one_controller(polluted: pytest.Pytester) -> None:
    """`addopts = --delegation-report` was a fork bomb: every worker became a controller."""
    polluted.makeini("[pytest]\naddopts = --delegation-report --delegation-report=json:r.json\n")
    before = temp_folders()
    result = polluted.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-check=isolation,order", "--delegation-seed=7",
        timeout=180,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    check_one_run(polluted, result, before)


def test_pytest_addopts_turns_on_one_controller(
    polluted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With PYTEST_ADDOPTS, the reproduce run recursed without end."""
    # added to what the pytester fixture put there (it loads this plugin)
    monkeypatch.setenv(
        "PYTEST_ADDOPTS",
        os.environ["PYTEST_ADDOPTS"] + " --delegation-report --delegation-report=json:r.json"
        " --delegation-check=isolation,order --delegation-seed=7 -p no:randomly",
    )
    polluted.makeini("[pytest]\n")
    before = temp_folders()
    result = polluted.runpytest_subprocess(timeout=180)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    check_one_run(polluted, result, before)


def test_a_pytest_run_inside_a_worker_is_a_plain_run(pytester: pytest.Pytester) -> None:
    """The mark that says "started by the plugin" does not leak into what the tests run."""
    pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n")
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_a="import os\n\ndef test_env():\n"
        "    assert 'PYTEST_DELEGATION_ROLE' not in os.environ\n"
    )
    result = pytester.runpytest_subprocess("--delegation-report", "--delegation-workers=1")
    result.assert_outcomes(passed=1)


def test_reproduce_runs_in_a_sandbox(pytester: pytest.Pytester) -> None:
    """The reproduce run used the real HOME and TMPDIR; now a temporary one, as replays."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  setup-task: {tests: [test_a.py]}\n  victim-task: {tests: [test_v.py]}\n",
    )
    log = pytester.path / "homes.log"
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n",
        test_v=(
            "import os, shared\n\ndef test_clean():\n"
            f"    with open({str(log)!r}, 'a') as f:\n"
            "        f.write(os.environ['HOME'] + ' ' + os.environ.get('TMPDIR', '') + '\\n')\n"
            "    assert 'dirty' not in shared.FLAGS\n"
        ),
    )
    home = os.environ.get("HOME", "")
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-check=isolation,order", "--delegation-seed=7", timeout=180,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = json.loads((pytester.path / "r.json").read_text())
    assert any("reproduce" in f for f in data["findings"])
    homes = log.read_text().split("\n")
    # the task run (a worker: real HOME), then replays and the reproduce run: all sandboxed
    sandboxed = [line for line in homes if line and "pytest-delegation-" in line]
    assert any("pytest-delegation-reproduce-" in line for line in sandboxed), homes
    assert all(not line.startswith(home + " ") for line in sandboxed)


@pytest.mark.parametrize(
    ("dest", "problem"),
    [
        ("folder", "that is a folder"),
        ("afile/r.json", "is a file, not a folder"),
    ],
)
def test_a_bad_report_destination_is_a_usage_error(
    pytester: pytest.Pytester, dest: str, problem: str
) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    (pytester.path / "folder").mkdir()
    (pytester.path / "afile").write_text("")
    result = pytester.runpytest_subprocess(
        "--delegation-report", f"--delegation-report=json:{dest}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--delegation-report=json:{dest}*{problem}*"])
    assert "Traceback" not in result.stderr.str()


def test_two_formats_one_path_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--delegation-report=json:r.out", "--delegation-report=markdown:r.out"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the json report is written there too*"])


def test_a_report_that_fails_at_the_end_loses_nothing_else(pytester: pytest.Pytester) -> None:
    """The folder of one report vanishes during the run: the others are still written."""
    pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n")
    gone = pytester.path / "gone"
    gone.mkdir()
    pytester.makepyfile(
        test_a="import pathlib\n\ndef test_a():\n"
        f"    p = pathlib.Path({str(gone)!r})\n    p.rmdir()\n    p.write_text('now a file')\n"
    )
    result = pytester.runpytest_subprocess(
        "--delegation-report", "--delegation-report=json:gone/r.json",
        "--delegation-report=markdown:r.md", "--junitxml=junit.xml", "--delegation-workers=0",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*delegation: ERROR: the json report could not be written to *gone/r.json*"]
    )
    result.stdout.fnmatch_lines(["delegation OK*"])
    assert (pytester.path / "r.md").exists()
    assert (pytester.path / "junit.xml").exists()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_xdist_n_drives_the_plugins_workers(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makefile(
        ".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n  b: {tests: [test_b.py]}\n"
    )
    pytester.makepyfile(test_a="def test_a():\n    pass\n", test_b="def test_b():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--delegation-report", "--delegation-report=json:r.json"
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(
        ["delegation: delegation.yaml, 2 tasks in 1 wave*2 workers (from -n 2)*"]
    )
    data = json.loads((pytester.path / "r.json").read_text())
    assert {t: r["status"] for t, r in data["tasks"].items()} == {"a": "passed", "b": "passed"}


def test_a_warning_every_worker_raises_is_shown_once(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n" + "".join(f"  t{i}: {{tests: [test_{i}.py]}}\n" for i in range(4)),
    )
    pytester.makeini("[pytest]\nno_such_option = 1\n")
    for i in range(4):
        pytester.makepyfile(**{f"test_{i}": "def test():\n    pass\n"})
    result = pytester.runpytest_subprocess("--delegation-report", "--delegation-workers=2")
    result.assert_outcomes(passed=4)
    assert result.stdout.str().count("Unknown config option: no_such_option") == 1


def start(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture
def slow(pytester: pytest.Pytester) -> pytest.Pytester:
    """A quick task, a slow one (it says when it started) and one that depends on it."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  quick: {tests: [test_q.py]}\n  slow: {tests: [test_s.py]}\n"
        "  later: {tests: [test_l.py], depends_on: [slow]}\n",
    )
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_q="def test_q():\n    pass\n",
        test_l="def test_l():\n    pass\n",
    )
    return pytester


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_the_task_runs_stops_and_reports(
    slow: pytest.Pytester, signum: int
) -> None:
    marker = slow.path / "started"
    slow.makepyfile(
        test_s="import pathlib, time\n\ndef test_s():\n"
        f"    pathlib.Path({str(marker)!r}).write_text('')\n    time.sleep(60)\n"
    )
    before = temp_folders()
    process = start(
        slow, "--delegation-report", "--delegation-report=json:r.json", "--junitxml=j.xml",
        "--delegation-workers=2", "--delegation-check=all",
    )  # fmt: skip
    wait_for(marker)
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(signum)
    out, _ = process.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    data = json.loads((slow.path / "r.json").read_text())
    assert data["summary"]["verdict"] == "interrupted"
    tasks = data["tasks"]
    assert tasks["quick"]["status"] == "passed"
    assert tasks["slow"]["tests"] == {"test_s.py::test_s": "not-run"}
    assert tasks["later"]["tests"] == {"test_l.py::test_l": "not-run"}
    assert any("not finished: isolation, order, boundaries" in n for n in data["notes"])
    assert data["summary"]["seed"] is not None
    assert (slow.path / "j.xml").exists()
    # the header wraps at 80 columns
    text = " ".join(out.decode().split())
    assert "delegation INTERRUPTED:" in text
    assert "not finished: isolation, order, boundaries (interrupted)" in text
    assert "checked:" not in text
    assert processes_of(slow.path) == []
    assert temp_folders() <= before


def test_sigterm_during_the_order_check_keeps_the_task_results(slow: pytest.Pytester) -> None:
    marker = slow.path / "replaying"
    # only the order check's replays get a HOME inside the plugin's work folder
    slow.makepyfile(
        test_s="import os, pathlib, time\n\ndef test_s():\n"
        "    if 'pytest-delegation-order-' in os.environ.get('HOME', ''):\n"
        f"        pathlib.Path({str(marker)!r}).write_text('')\n        time.sleep(60)\n"
    )
    before = temp_folders()
    stale = slow.path / "r.json"
    stale.write_text("{}")
    process = start(
        slow, "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-workers=2", "--delegation-check=all",
    )  # fmt: skip
    wait_for(marker)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    data = json.loads(stale.read_text())
    assert data["summary"]["verdict"] == "interrupted"
    assert {t: r["status"] for t, r in data["tasks"].items()} == {
        "quick": "passed",
        "slow": "passed",
        "later": "passed",
    }
    assert any("not finished: order" in n for n in data["notes"]), data["notes"]
    assert data["summary"]["seed"] is not None
    assert processes_of(slow.path) == []
    assert temp_folders() <= before


def test_a_task_failing_alone_without_the_order_check_gets_a_hint(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  setter: {tests: [test_a.py]}\n  needs: {tests: [test_b.py]}\n",
    )
    pytester.makepyfile(
        shared="READY = []\n",
        test_a="import shared\n\ndef test_set():\n    shared.READY.append(1)\n",
        test_b="import shared\n\ndef test_needs():\n    assert shared.READY\n",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-check=isolation",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = json.loads((pytester.path / "r.json").read_text())
    [hint] = [n for n in data["notes"] if "--delegation-check=order finds which" in n]
    assert hint.startswith("needs failed in its own worker")


def test_an_interrupt_in_process_reports_too(slow: pytest.Pytester) -> None:
    marker = slow.path / "started"
    slow.makepyfile(
        test_s="import pathlib, time\n\ndef test_s():\n"
        f"    pathlib.Path({str(marker)!r}).write_text('')\n    time.sleep(60)\n"
    )
    process = start(
        slow, "--delegation-report", "--delegation-report=json:r.json", "--delegation-workers=0"
    )
    wait_for(marker)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    data = json.loads((slow.path / "r.json").read_text())
    assert data["summary"]["verdict"] == "interrupted"
    assert data["tasks"]["later"]["tests"] == {"test_l.py::test_l": "not-run"}
    assert "delegation INTERRUPTED:" in out.decode()


def test_ids_built_at_collection_time_are_matched_by_position(pytester: pytest.Pytester) -> None:
    """A green suite failed when parametrize ids changed between two collections."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  stamp: {tests: [test_stamp.py]}\n  other: {tests: [test_o.py]}\n",
    )
    # every collection (the controller's, each worker's) sees other ids
    pytester.makepyfile(
        test_stamp="import itertools, time, pytest\n\n"
        "STAMP = time.time_ns()\n\n"
        "@pytest.mark.parametrize('n', [1, 2, 3], ids=lambda n: f'{n}-{STAMP}')\n"
        "def test_stamped(n):\n    assert n < 4\n\n"
        "def test_plain():\n    pass\n",
        test_o="def test_o():\n    pass\n",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--junitxml=j.xml", "--delegation-check=isolation,order",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=5)
    data = json.loads((pytester.path / "r.json").read_text())
    outcomes = data["tasks"]["stamp"]["tests"]
    assert sorted(outcomes.values()) == ["passed"] * 4
    assert data["findings"] == []
    [note] = [n for n in data["notes"] if "test ids differ between two collections" in n]
    assert "test_stamp.py::test_stamped[1-" in note
    # the order check's replays matched them too: no test changed outcome
    assert "no test changed outcome" in result.stdout.str()


def test_a_second_interrupt_exits_at_once(slow: pytest.Pytester, own_tmp: Path) -> None:
    """The first Ctrl-C stops cleanly; a second one, while that is going on, exits now."""
    marker = slow.path / "started"
    slow.makepyfile(
        test_s="import pathlib, signal, time\n\n"
        "def test_s():\n"
        f"    pathlib.Path({str(marker)!r}).write_text('')\n    time.sleep(60)\n"
    )
    process = start(
        slow, "--delegation-report", "--delegation-report=json:r.json", "--delegation-workers=2"
    )
    wait_for(marker)
    process.send_signal(signal.SIGINT)
    # two at once would be one to Python: the second comes while the first is handled
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    assert "delegation: interrupted again: exiting now" in out.decode()
    time.sleep(0.5)
    assert processes_of(slow.path) == []
    assert not [n for n in os.listdir(own_tmp) if n.startswith("pytest-delegation-")]


def test_a_worker_killed_in_its_temp_folder_probe_leaves_no_file(
    pytester: pytest.Pytester, own_tmp: Path
) -> None:
    """CI, py310: a branch run SIGTERMed at start-up left `pvlk3qge` in TMPDIR.

    A fresh interpreter's first tempfile call proves the folder writable with a file
    of eight random letters, removed at once; a process killed in between leaves it.
    Here the test's worker dies exactly there, every time it runs (retries too), with
    the user's TMPDIR as a branch run has it (`--delegation-real-home`).
    """
    pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n")
    pytester.makepyfile(
        test_a="import os, signal, tempfile\n\n"
        "def test_dies_in_the_probe():\n"
        "    tempfile.tempdir = None  # the next call probes, as at start-up\n"
        "    write = os.write\n"
        "    def dying(fd, data):\n"
        "        if data == b'blat':\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return write(fd, data)\n"
        "    os.write = dying\n"
        "    tempfile.gettempdir()\n"
    )
    before = set(os.listdir(own_tmp))
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-workers=2",
        "--delegation-real-home",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["*worker killed by signal 9 (SIGKILL)*"])
    left = {n for n in set(os.listdir(own_tmp)) - before if not n.startswith("pytest-of-")}
    assert left == set()
    assert processes_of(pytester.path) == []
