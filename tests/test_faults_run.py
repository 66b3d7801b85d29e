"""The run layer under faults: a fork server that dies, tests that never ran, daemons
(issue 10, items 4, 5 and 6).

Each run is a subprocess (`runpytest_subprocess`), and what is checked is what is left
once it is over: no process of the test's folder, no temporary folder of the plugin,
a JSON report that names every selected test. The launcher's notes are checked on the
run layer itself (`Launcher`, `Pool`), below the session.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import re
import shutil
import signal
import sys
import tempfile
import time
from typing import Any
import xml.etree.ElementTree as ET

from faultlib import processes_of
from faultlib import temp_folders
import pytest

from pytest_delegation.run.argv import worker_env
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.forkserver import start_server
from pytest_delegation.run.pool import Handle
from pytest_delegation.run.pool import Pool
from pytest_delegation.run.process import Launcher
from pytest_delegation.run.spec import RunSpec


pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.usefixtures("own_tmp"),
]


def run(pytester: pytest.Pytester, *args: str, timeout: float = 120) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-workers=2", *args, timeout=timeout,
    )  # fmt: skip


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    return data


def check_left_nothing(pytester: pytest.Pytester, tests: set[str]) -> dict[str, Any]:
    """No process, no temporary folder left; the JSON report names each of `tests` once."""
    deadline = time.monotonic() + 5  # a killed process may take a moment to go
    while processes_of(pytester.path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of(pytester.path) == []
    assert temp_folders() == set()
    data = report(pytester)
    named = [nodeid for task in data["tasks"].values() for nodeid in task["tests"]]
    named += list(data["untagged"])
    assert sorted(named) == sorted(tests)
    return data


def junit_cases(pytester: pytest.Pytester) -> dict[str, list[ET.Element]]:
    """Each testcase's name, and the elements under it (failure, skipped...) by name."""
    root = ET.parse(pytester.path / "junit.xml").getroot()
    cases: dict[str, list[ET.Element]] = {}
    for case in root.iter("testcase"):
        name = case.get("name", "")
        assert name not in cases, f"{name} twice in junit"
        cases[name] = [child for child in case if child.tag != "properties"]
    return cases


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


# -- 4. a fork server that dies ------------------------------------------------------------

KILLS_THE_SERVER = """
import os, signal, time
from pathlib import Path

def test_kill_server():
    parent = os.getppid()
    if ("run/forkserver.py" in Path(f"/proc/{parent}/cmdline").read_text()
            and os.environ["PYTEST_DELEGATION_TASK"] == WHERE):
        Path("killed").write_text(str(parent))
        os.kill(parent, signal.SIGKILL)
        time.sleep(30)  # the worker dies with its parent

def test_after():
    pass
"""


@pytest.mark.parametrize(
    ("where", "checks"),
    [
        pytest.param("a", "isolation", id="in-a-task-run"),
        pytest.param("", "isolation,order", id="in-an-order-run"),
    ],
)
def test_a_dead_fork_server_leaves_every_run_to_be_run(
    pytester: pytest.Pytester, where: str, checks: str
) -> None:
    """The server killed mid-run: the runs it took down run again, spawned from then on.

    It was: the running task killed by SIGKILL, every later worker exiting with status 1
    (its spec named the dead server as the parent to die with), and an order check
    that ran nothing.
    """
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  a: {tests: [test_a.py]}\n  c: {tests: [test_c.py]}\n"
        "  b: {tests: [test_b.py], depends_on: [a]}\n",
    )
    pytester.makepyfile(
        test_a=KILLS_THE_SERVER.replace("WHERE", repr(where)),
        test_b="def test_b():\n    pass\n",
        test_c="import time\n\ndef test_c():\n    time.sleep(0.5)\n",
    )
    result = run(pytester, f"--delegation-check={checks}", "--delegation-seed=3")
    assert (pytester.path / "killed").exists(), "the fork server was not killed"
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)
    # no run is judged killed: only the note names the signal the server died of
    assert "while running" not in result.stdout.str()
    data = check_left_nothing(
        pytester, {"test_a.py::test_kill_server", "test_a.py::test_after", "test_b.py::test_b",
                   "test_c.py::test_c"},
    )  # fmt: skip
    tasks = data["tasks"]
    assert {t: (r["status"], r["attempts"]) for t, r in tasks.items()} == {
        "a": ("passed", 1),
        "b": ("passed", 1),
        "c": ("passed", 1),
    }
    assert all("error" not in r for r in tasks.values())
    rows = [(row["task"], row["attempt"]) for row in data["timeline"] if row["kind"] == "task"]
    assert sorted(rows) == [("a", 1), ("b", 1), ("c", 1)]  # a lost run leaves no row
    assert data["findings"] == []
    assert any("fork server" in n and "spawned from then on" in n for n in data["notes"]), data[
        "notes"
    ]
    if "order" in checks:
        [note] = [n for n in data["notes"] if n.startswith("order check:")]
        executed = int(re.search(r"(\d+) tests executed", note).group(1))  # type: ignore[union-attr]
        assert executed >= 16, note  # 4 orders of 4 tests, none lost
        assert "no test changed outcome in 4 orders" in result.stdout.str()


SERVER_BEFORE_SESSION = """
import os
from pathlib import Path


def pytest_sessionstart(session):
    if session.config.getoption("delegation_child", None):
        return  # a worker
    # the fork server is the controller's child from its configure on (run/early.py)
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    commands = [Path(f"/proc/{pid}/cmdline").read_text() for pid in children]
    Path("servers").write_text(str(sum("run/forkserver.py" in c for c in commands)))
"""


def test_the_fork_server_starts_before_the_session(pytester: pytest.Pytester) -> None:
    """Started at configure, its imports overlap the session's start and the collection:
    started as pytest collected, it was the first workers' wait on a small suite."""
    pytester.makeconftest(SERVER_BEFORE_SESSION)
    pytester.makepyfile(test_a="def test_a():\n    pass\n", test_b="def test_b():\n    pass\n")
    result = run(pytester, "--delegation-plan=auto")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert (pytester.path / "servers").read_text() == "1"
    check_left_nothing(pytester, {"test_a.py::test_a", "test_b.py::test_b"})


def test_what_a_conftest_configure_puts_in_the_environment_reaches_the_workers(
    pytester: pytest.Pytester,
) -> None:
    """The server starts before the conftests configure; each worker's environment is
    still its run's own, taken as it starts."""
    pytester.makeconftest(
        "import os\n\n"
        "def pytest_configure(config):\n"
        "    if not config.getoption('delegation_child', None):  # the controller only\n"
        "        os.environ['SET_AT_CONFIGURE'] = 'yes'\n"
    )
    pytester.makepyfile(
        test_a="import os\n\ndef test_a():\n    assert os.environ['SET_AT_CONFIGURE'] == 'yes'\n"
    )
    result = run(pytester, "--delegation-plan=auto")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("failure", ["plan", "later-plugin"])
def test_a_session_that_never_starts_leaves_no_fork_server(
    pytester: pytest.Pytester, failure: str
) -> None:
    """The server starts before the plan is read and before the other plugins configure:
    a plan with an error, or a plugin whose configure fails after ours, closes it."""
    if failure == "plan":
        pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py], oops: 1}\n")
    else:
        pytester.makeconftest("def pytest_configure(config):\n    raise RuntimeError('boom')\n")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    # in this process: a controller that exits takes its server along whatever it did,
    # so only a controller that lives on shows whether the session closed it
    result = pytester.runpytest_inprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-workers=2",
        *(() if failure == "plan" else ("--delegation-plan=auto",)),
    )  # fmt: skip
    assert result.ret != pytest.ExitCode.OK
    output = result.stdout.str() + result.stderr.str()
    assert ("oops" in output) if failure == "plan" else ("boom" in output), output
    assert processes_of(pytester.path) == []  # closed and waited for, not left to exit
    assert temp_folders() == set()


# -- 5. tests that never ran ------------------------------------------------------------


def test_tests_that_never_ran_are_shown_skipped_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests after a crash, and those of a worker that failed to load a conftest.

    They were in the JSON only: missing from the terminal and junit, and the conftest's
    error was shown nowhere ("worker exited with status 4").
    """
    # this test may itself run in a worker (the self-check): the inner controller is not
    monkeypatch.delenv("PYTEST_DELEGATION_TASK", raising=False)
    pytester.makefile(
        ".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n  b: {tests: [sub/test_b.py]}\n"
    )
    pytester.makepyfile(
        test_a="import os\n\ndef test_one():\n    pass\n\ndef test_crash():\n    os._exit(3)\n\n"
        "def test_never():\n    pass\n",
    )
    sub = pytester.mkpydir("sub")
    # the controller collects it fine; in a worker it fails to import
    (sub / "conftest.py").write_text(
        "import os\n\nif os.environ.get('PYTEST_DELEGATION_TASK'):\n    import not_in_workers\n"
    )
    (sub / "test_b.py").write_text("def test_b1():\n    pass\n\ndef test_b2():\n    pass\n")
    result = run(pytester, "--delegation-check=isolation", "--junitxml=junit.xml", "-rs")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1, skipped=3)
    out = result.stdout.str()
    assert "No module named 'not_in_workers'" in out
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] test_a.py:*: not run: the worker crashed before it: worker exited "
         "with status 3 while running test_a.py::test_crash"]
    )  # fmt: skip
    cases = junit_cases(pytester)
    assert sorted(cases) == ["test_b1", "test_b2", "test_crash", "test_never", "test_one"]
    assert cases["test_one"] == []
    assert [e.tag for e in cases["test_crash"]] == ["failure"]
    for name in ("test_never", "test_b1", "test_b2"):
        (skipped,) = cases[name]
        assert skipped.tag == "skipped"
        assert "not run: the worker" in skipped.get("message", "")
    for name in ("test_b1", "test_b2"):
        message = cases[name][0].get("message", "")
        assert "worker exited with status 4" in message
        assert "No module named 'not_in_workers'" in message
    data = check_left_nothing(pytester, {
        "test_a.py::test_one", "test_a.py::test_crash", "test_a.py::test_never",
        "sub/test_b.py::test_b1", "sub/test_b.py::test_b2",
    })  # fmt: skip
    a, b = data["tasks"]["a"], data["tasks"]["b"]
    assert a["tests"]["test_a.py::test_never"] == "not-run"
    assert b["status"] == "error"
    assert b["error"].startswith("worker exited with status 4\n\nlast output of the worker:\n")
    assert "No module named 'not_in_workers'" in b["error"]
    assert set(b["tests"].values()) == {"not-run"}


# -- 6. a test that leaves a process running ------------------------------------------------

LEAVES_DAEMONS = """
import subprocess, sys

def test_daemons():
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    # one holds the report pipe (it inherits every fd), one only outlives the worker
    holding = subprocess.Popen(sleep, close_fds=False)
    loose = subprocess.Popen(sleep)
    with open("daemons", "a") as f:
        f.write(f"{holding.pid} {loose.pid}\\n")

def test_after():
    pass
"""


@pytest.mark.parametrize(
    ("option", "checks"),
    [
        pytest.param("--delegation-start=fork", "isolation", id="fork"),
        pytest.param("--delegation-start=spawn", "isolation", id="spawn"),
        pytest.param("--delegation-timeout=5", "isolation", id="timeout"),
        pytest.param("--delegation-timeout=5", "isolation,order", id="timeout-order"),
    ],
)
def test_a_test_that_leaves_a_daemon_does_not_keep_the_run_waiting(
    pytester: pytest.Pytester, option: str, checks: str
) -> None:
    """The run is over when the worker exits, and what it left running is killed.

    It was: a run that never ended (the daemon held the pipe open), or with a timeout a
    task whose tests all passed reported as an error; and the daemons outlived the run.
    """
    pytester.makefile(".yaml", delegation="tasks:\n  a: {tests: [test_a.py]}\n")
    pytester.makepyfile(test_a=LEAVES_DAEMONS)
    started = time.monotonic()
    result = run(pytester, f"--delegation-check={checks}", option, timeout=60)
    assert time.monotonic() - started < 30
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)
    data = check_left_nothing(pytester, {"test_a.py::test_daemons", "test_a.py::test_after"})
    assert (data["tasks"]["a"]["status"], data["tasks"]["a"].get("error")) == ("passed", None)
    daemons = [int(pid) for pid in (pytester.path / "daemons").read_text().split()]
    assert len(daemons) >= 2
    assert [pid for pid in daemons if alive(pid)] == []


# -- the run layer's notes (the session shows them) ----------------------------------------


class Recorder:
    """A `pool.PoolClient` that runs the given specs and records how each ended."""

    def __init__(self, *specs: RunSpec) -> None:
        self.specs = list(specs)
        self.events: list[str] = []
        self.exits: list[tuple[int | None, str | None, bool]] = []

    def next_runs(self, free: int, running: int) -> list[RunSpec]:
        specs, self.specs = self.specs[:free], self.specs[free:]
        return specs

    def on_event(self, worker: Handle, event: dict[str, Any]) -> bool:
        self.events.append(str(event["event"]))
        return False

    def on_exit(self, worker: Handle, code: int | None, killed: str | None) -> bool:
        self.exits.append((code, killed, worker.lost()))
        return False

    def on_stopped(self, worker: Handle) -> None:
        pass


WORKER_ARGV = [
    sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
    "-p", "pytest_delegation.worker.plugin",
]  # fmt: skip


def spec(name: str, *ids: str) -> RunSpec:
    return RunSpec(
        name=name, task="a", attempt=1, ids=ids, files=tuple({i.split("::")[0]: 0 for i in ids})
    )


@pytest.fixture
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pytest-delegation-"))
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def server(pytester: pytest.Pytester) -> Iterator[ForkServer]:
    started = start_server(WORKER_ARGV, pytester.path, worker_env(None))
    if started is None or not started.ready:
        pytest.skip("no fork server here")
    yield started
    started.close()


def test_a_lost_fork_server_is_named_once_and_workers_spawn_with_our_pid(
    pytester: pytest.Pytester, server: ForkServer, workdir: Path
) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    notes: list[str] = []
    launcher = Launcher(WORKER_ARGV, pytester.path, workdir, server=server, notes=notes)
    forked = launcher.start(spec("a-1", "test_a.py::test_a"))
    assert json.loads(forked.spec_path.read_text())["controller"] == server.pid
    Pool(1, lambda s: forked).run(Recorder(spec("a-1")))
    assert notes == []

    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    spawned = launcher.start(spec("a-2", "test_a.py::test_a"))
    # the worker dies with its parent: this process now, not the dead server
    assert json.loads(spawned.spec_path.read_text())["controller"] == os.getpid()
    assert launcher.server is None
    recorder = Recorder(spec("a-2"))
    Pool(1, lambda s: spawned).run(recorder)
    assert recorder.exits == [(0, None, False)]
    assert recorder.events[-1] == "finished"
    assert notes == [
        "the fork server killed by signal 9 (SIGKILL) during the run: the runs it took "
        "down ran again, and workers were spawned from then on"
    ]
    # another launcher of the session (the order check's) spawns too, and says nothing
    other = Launcher(WORKER_ARGV, pytester.path, workdir, server=server, notes=notes)
    third = other.start(spec("a-3", "test_a.py::test_a"))
    assert json.loads(third.spec_path.read_text())["controller"] == os.getpid()
    Pool(1, lambda s: third).run(Recorder(spec("a-3")))
    assert len(notes) == 1
    assert processes_of(pytester.path) == []


def test_a_run_killed_with_its_fork_server_is_lost(
    pytester: pytest.Pytester, server: ForkServer, workdir: Path
) -> None:
    pytester.makepyfile(
        test_a="import os, signal, time\n\ndef test_a():\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n    time.sleep(30)\n"
    )
    launcher = Launcher(WORKER_ARGV, pytester.path, workdir, server=server)
    recorder = Recorder(spec("a-1", "test_a.py::test_a"))
    started = time.monotonic()
    Pool(1, launcher.start, timeout=20).run(recorder)
    assert time.monotonic() - started < 15
    assert recorder.exits == [(-signal.SIGKILL, None, True)]
    assert processes_of(pytester.path) == []


@pytest.mark.parametrize("fork", [True, False], ids=["fork", "spawn"])
def test_a_test_that_left_processes_is_named_and_they_are_killed(
    pytester: pytest.Pytester, workdir: Path, request: pytest.FixtureRequest, fork: bool
) -> None:
    pytester.makepyfile(test_a=LEAVES_DAEMONS)
    server = request.getfixturevalue("server") if fork else None
    notes: list[str] = []
    launcher = Launcher(WORKER_ARGV, pytester.path, workdir, server=server, notes=notes)
    recorder = Recorder(spec("a-1", "test_a.py::test_daemons", "test_a.py::test_after"))
    started = time.monotonic()
    Pool(1, launcher.start, timeout=30).run(recorder)
    assert time.monotonic() - started < 20
    assert recorder.exits == [(0, None, False)]  # not timed out
    assert recorder.events.count("logfinish") == 2
    assert recorder.events[-1] == "finished"
    assert notes == ["a test of task a left processes running: killed"]
    daemons = [int(pid) for pid in (pytester.path / "daemons").read_text().split()]
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in daemons) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in daemons if alive(pid)] == []
