"""The wave runner: isolated workers per task, crashes, timeouts, retries, Ctrl-C."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import time
import xml.etree.ElementTree as ET

import pytest


TWO_TASKS = "tasks:\n  a:\n    tests: [test_a.py]\n  b:\n    tests: [test_b.py]\n"


def report(pytester: pytest.Pytester) -> dict:  # type: ignore[type-arg]
    return json.loads((pytester.path / "r.json").read_text())  # type: ignore[no-any-return]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-workers=2", *args,
    )  # fmt: skip


def test_each_task_runs_in_a_fresh_interpreter(pytester: pytest.Pytester) -> None:
    # passes in one process (test_a leaves state behind), fails when b stands alone
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        state="SEEN = []\n",
        test_a="import state\n\ndef test_a():\n    state.SEEN.append('a')\n",
        test_b="import state\n\ndef test_b():\n    assert state.SEEN == ['a']\n",
    )
    in_process = run(pytester, "--delegation-workers=0")
    in_process.assert_outcomes(passed=2)
    isolated = run(pytester)
    isolated.assert_outcomes(passed=1, failed=1)
    assert isolated.ret == pytest.ExitCode.TESTS_FAILED
    data = report(pytester)
    assert data["tasks"]["b"]["status"] == "failed"
    assert data["tasks"]["b"]["attempts"] == 2  # retried once in a fresh worker
    assert data["tasks"]["a"]["status"] == "passed"


def test_worker_pids_and_task_environment(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    probe = (
        "import os\n\ndef test_{0}():\n"
        "    with open('pids.txt', 'a') as f:\n"
        "        f.write(f\"{{os.environ['PYTEST_DELEGATION_TASK'] or '-'}} {{os.getpid()}}\\n\")\n"
    )
    pytester.makepyfile(
        test_a=probe.format("a"), test_b=probe.format("b"), test_c=probe.format("c")
    )
    result = run(pytester)
    result.assert_outcomes(passed=3)
    pids = dict(line.split() for line in (pytester.path / "pids.txt").read_text().splitlines())
    assert set(pids) == {"a", "b", "-"}  # the untagged test runs in a worker of its own
    assert len(set(pids.values())) == 3
    result.stdout.fnmatch_lines(["wave 1: a, b", "  a: passed, 1 test in *s"])


def test_a_worker_collects_only_its_task_files(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    log = (
        "import os, sys\n"
        "who = os.environ['PYTEST_DELEGATION_TASK'] if 'pytest_delegation.worker.plugin' in sys.modules"
        " else 'controller'\n"
        "with open('imports.txt', 'a') as f:\n"
        "    f.write(f'{{__name__}} {{who}}\\n')\n"
        "def test_{0}():\n    pass\n"
    )
    pytester.makepyfile(test_a=log.format("a"), test_b=log.format("b"))
    run(pytester).assert_outcomes(passed=2)
    imports = sorted((pytester.path / "imports.txt").read_text().splitlines())
    assert imports == ["test_a a", "test_a controller", "test_b b", "test_b controller"]


def test_crash_mid_test_keeps_what_ran_and_names_the_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="""
            import os

            def test_first():
                pass

            def test_crash():
                os._exit(3)

            def test_never():
                pass
        """,
        test_b="def test_b():\n    pass\n",
    )
    result = run(pytester)
    # test_never did not run: shown once, as skipped with the reason
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*worker exited with status 3 while running test_a.py::test_crash*"]
    )
    tasks = report(pytester)["tasks"]
    assert tasks["a"]["status"] == "error"
    assert tasks["a"]["tests"] == {
        "test_a.py::test_first": "passed",
        "test_a.py::test_crash": "failed",
        "test_a.py::test_never": "not-run",
    }
    assert tasks["a"]["attempts"] == 1  # a crash is not retried
    assert "while running test_a.py::test_crash" in tasks["a"]["error"]
    assert tasks["b"]["status"] == "passed"


def test_segfault(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="""
            import ctypes, faulthandler

            def test_segv():
                faulthandler.disable()
                ctypes.string_at(0)
        """,
        test_b="def test_b():\n    pass\n",
    )
    result = run(pytester)
    result.stdout.fnmatch_lines(
        ["*worker killed by signal 11 (SIGSEGV) while running test_a.py::test_segv*"]
    )
    assert report(pytester)["tasks"]["a"]["status"] == "error"
    assert report(pytester)["tasks"]["b"]["status"] == "passed"


def test_timeout_kills_the_worker(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="import time\n\ndef test_ok():\n    pass\n\ndef test_hang():\n    time.sleep(60)\n",
        test_b="def test_b():\n    pass\n",
    )
    started = time.monotonic()
    result = run(pytester, "--delegation-timeout=3")
    assert time.monotonic() - started < 30
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*worker timed out after 3s while running test_a.py::test_hang*"])
    assert report(pytester)["tasks"]["a"]["status"] == "error"


def test_retry_that_passes_is_flaky(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="""
            from pathlib import Path

            def test_flaky():
                marker = Path("tried")
                if not marker.exists():
                    marker.write_text("1")
                    assert False, "first time"
        """,
        test_b="def test_b():\n    pass\n",
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)  # the held-back failure is never shown
    assert result.ret == pytest.ExitCode.OK  # flaky is a warning
    data = report(pytester)
    assert data["tasks"]["a"]["status"] == "flaky"
    assert data["tasks"]["a"]["attempts"] == 2
    assert [(f["rule"], f["task"], f["test"]) for f in data["findings"]] == [
        ("flaky", "a", "test_a.py::test_flaky")
    ]
    assert data["summary"]["flaky"] == 1
    (pytester.path / "tried").unlink()
    no_retry = run(pytester, "--delegation-retries=0")
    no_retry.assert_outcomes(passed=1, failed=1)
    assert report(pytester)["tasks"]["a"]["status"] == "failed"


def test_failed_task_blocks_dependents_only(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  a: {tests: [test_a.py]}\n  b: {tests: [test_b.py]}\n"
        "  c: {tests: [test_c.py], depends_on: [a]}\n  d: {tests: [test_d.py], depends_on: [c]}\n",
    )
    pytester.makepyfile(
        test_a="def test_a():\n    assert 0\n",
        test_b="def test_b():\n    pass\n",
        test_c="def test_c():\n    pass\n",
        test_d="def test_d():\n    pass\n",
    )
    result = run(pytester, "-rs")
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*blocked: task 'c' depends on 'a', which failed",
            "*blocked: task 'd' depends on 'a', which failed",
        ]
    )
    tasks = report(pytester)["tasks"]
    assert {t: tasks[t]["status"] for t in "abcd"} == {
        "a": "failed", "b": "passed", "c": "blocked", "d": "blocked",
    }  # fmt: skip
    assert tasks["d"]["blocked_by"] == "a"


def test_junitxml_sees_every_test_once(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="""
            import pytest

            def test_pass():
                print("out")

            def test_fail():
                assert 1 == 2

            def test_skip():
                pytest.skip("why")

            @pytest.mark.xfail
            def test_xfail():
                assert 0
        """,
        test_b="def test_b():\n    pass\n",
    )
    result = run(pytester, "--junitxml=junit.xml", "--delegation-retries=0")
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "2")
    names = sorted(case.get("name", "") for case in suite.iter("testcase"))
    assert names == ["test_b", "test_fail", "test_pass", "test_skip", "test_xfail"]


def test_exitfirst_stops_every_worker(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="def test_a():\n    assert 0\n",
        test_b="import time\n\ndef test_b():\n    time.sleep(20)\n",
    )
    started = time.monotonic()
    result = run(pytester, "-x", "--delegation-retries=0")
    assert time.monotonic() - started < 15
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    assert report(pytester)["tasks"]["b"]["status"] == "not-run"


def test_one_task_alone(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(test_a="def test_a():\n    pass\n", test_b="def test_b():\n    assert 0\n")
    result = run(pytester, "--delegation-task=a")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == pytest.ExitCode.OK
    assert list(report(pytester)["tasks"]) == ["a"]


def test_workers_see_conftest_ini_and_pythonpath(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makeini("[pytest]\npythonpath = src\nmarkers =\n    special: a marker from the ini\n")
    (pytester.path / "src").mkdir()
    (pytester.path / "src/helper.py").write_text("VALUE = 42\n")
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef answer():\n    return 42\n")
    pytester.makepyfile(
        test_a="""
            import pytest
            import helper

            @pytest.mark.special
            def test_a(answer, pytestconfig):
                assert helper.VALUE == answer
                assert pytestconfig.getini("pythonpath")
        """,
        test_b="def test_b(answer):\n    assert answer == 42\n",
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=2)


def test_warnings_from_workers_are_summarised(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="import warnings\n\ndef test_a():\n    warnings.warn('careful now')\n",
        test_b="def test_b():\n    pass\n",
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*UserWarning: careful now*"])


def test_workers_keep_their_cache_away_from_the_users(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        test_a="def test_a():\n    assert False\n", test_b="def test_b():\n    pass\n"
    )
    run(pytester).assert_outcomes(passed=1, failed=1)
    lastfailed = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    assert list(json.loads(lastfailed.read_text())) == ["test_a.py::test_a"]  # the controller's
    # without the cache provider there is no cache_dir to point workers at: no warning
    quiet = run(pytester, "-p", "no:cacheprovider", "-W", "error::pytest.PytestConfigWarning")
    quiet.assert_outcomes(passed=1, failed=1)
    assert "cache_dir" not in quiet.stdout.str() + quiet.stderr.str()


def test_dag_schedule_starts_a_task_when_its_own_dependencies_passed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  fast: {tests: [test_fast.py]}\n  slow: {tests: [test_slow.py]}\n"
        "  after-fast: {tests: [test_after.py], depends_on: [fast]}\n",
    )
    stamp = (
        "import time\n\ndef test_{0}():\n    start = time.time()\n    time.sleep({1})\n"
        "    with open('{0}.txt', 'w') as f:\n        f.write(f'{{start}} {{time.time()}}')\n"
    )
    pytester.makepyfile(
        test_fast=stamp.format("fast", 0), test_slow=stamp.format("slow", 6),
        test_after=stamp.format("after", 0),
    )  # fmt: skip

    def times(name: str) -> list[float]:
        return [float(x) for x in (pytester.path / f"{name}.txt").read_text().split()]

    run(pytester, "--delegation-schedule=dag", "--delegation-workers=2").assert_outcomes(passed=3)
    assert times("after")[0] < times("slow")[1]  # started while wave 1 was still running
    run(pytester, "--delegation-schedule=waves", "--delegation-workers=2").assert_outcomes(
        passed=3
    )
    assert times("after")[0] >= times("slow")[1]


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_workers_fork_from_a_server_or_spawn(pytester: pytest.Pytester, start: str) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    probe = (
        "import gc, os\nfrom pathlib import Path\n\ndef test_{0}():\n"
        "    assert gc.isenabled()\n"
        "    parent = Path(f'/proc/{{os.getppid()}}/cmdline').read_text().replace('\\0', ' ')\n"
        "    Path('{0}.txt').write_text(f'{{os.getppid()}}\\n{{parent}}')\n"
        "    Path('{0}.frozen').write_text(str(gc.get_freeze_count()))\n"
    )
    pytester.makepyfile(test_a=probe.format("a"), test_b=probe.format("b"))
    result = run(pytester, f"--delegation-start={start}", "-W", "error")
    result.assert_outcomes(passed=2)
    assert "cannot be rewritten" not in result.stdout.str()
    lines = [(pytester.path / f"{t}.txt").read_text().split("\n", 1) for t in "ab"]
    parents = {int(pid) for pid, _ in lines}
    if start == "fork":
        assert len(parents) == 1  # one server for the session
        assert all("pytest_delegation/run/forkserver.py" in cmd for _, cmd in lines)
        assert not _alive(parents.pop()), "the fork server outlived the session"
        # what the server imported is frozen: the child's collections skip it
        assert all(int((pytester.path / f"{t}.frozen").read_text()) > 10_000 for t in "ab")
    else:
        assert not any("forkserver" in cmd for _, cmd in lines)
        assert {(pytester.path / f"{t}.frozen").read_text() for t in "ab"} == {"0"}


def test_preloaded_modules_are_imported_once_by_the_fork_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makeini("[pytest]\ndelegation_preload = heavy\n")
    pytester.makepyfile(
        heavy="import os\nwith open('imported.txt', 'a') as f:\n    f.write(f'{os.getpid()}\\n')\n",
        test_a="import heavy\n\ndef test_a():\n    pass\n",
        test_b="import heavy\n\ndef test_b():\n    pass\n",
    )
    # the controller imports it too, when it collects the test files
    run(pytester).assert_outcomes(passed=2)
    assert len((pytester.path / "imported.txt").read_text().split()) == 2  # + the server
    (pytester.path / "imported.txt").unlink()
    run(pytester, "--delegation-start=spawn").assert_outcomes(passed=2)
    assert len((pytester.path / "imported.txt").read_text().split()) == 3  # + each worker


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_workers_leave_out_installed_plugins_terminal_summaries(
    pytester: pytest.Pytester, start: str
) -> None:
    # nobody reads a worker's summary; hypothesis' imported hypothesis in every worker
    summary = (
        "import os\n\ndef pytest_terminal_summary(terminalreporter, config):\n"
        "    who = 'worker' if config.getoption('delegation_child', None) else 'controller'\n"
        "    with open('{0}.txt', 'a') as f:\n"
        "        f.write(who + '\\n')\n"
    )
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    pytester.makepyfile(
        installed=summary.format("installed"),
        conftest=summary.format("conftest"),
        test_a="def test_a():\n    assert 0\n",
        test_b="def test_b():\n    pass\n",
    )
    result = run(pytester, "-p", "installed", f"--delegation-start={start}")
    result.assert_outcomes(passed=1, failed=1)
    assert (pytester.path / "installed.txt").read_text().split() == ["controller"]
    # the project's own conftest summaries still run in the workers
    assert sorted((pytester.path / "conftest.txt").read_text().split()) == [
        "controller", "worker", "worker", "worker",  # a, b, and a run again
    ]  # fmt: skip
    # the failure is still shown whole, from the worker's report of it
    result.stdout.fnmatch_lines(["*def test_a():*", "E       assert 0"])


def test_start_method_is_checked(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    result = run(pytester, "--delegation-start=frok")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'frok' is not a start method; did you mean 'fork'?*"])


def test_ctrl_c_stops_workers_and_writes_the_report(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation=TWO_TASKS)
    sleeper = (
        "import os, time\n\ndef test_{0}():\n"
        "    open(f'pid-{0}', 'w').write(f'{{os.getpid()}} {{os.getppid()}}')\n"
        "    time.sleep(60)\n"
    )
    pytester.makepyfile(test_a=sleeper.format("a"), test_b=sleeper.format("b"))
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    env.pop("PYTEST_ADDOPTS", None)
    proc = pytester.popen(
        [
            *pytester._getpytestargs(),
            "-p", "no:randomly", "--delegation-report=json:r.json", "--delegation-workers=2",
        ],
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    pid_files = [pytester.path / "pid-a", pytester.path / "pid-b"]
    while not all(p.exists() and p.read_text() for p in pid_files):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.1)
    # the workers, and their parent: the fork server (or the controller itself)
    pids = [int(pid) for p in pid_files for pid in p.read_text().split()]
    proc.send_signal(signal.SIGINT)
    with proc:
        proc.wait(timeout=30)
        assert proc.stdout is not None
        out = proc.stdout.read()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    for pid in pids:
        assert not _alive(pid), f"worker {pid} survived"
    assert report(pytester)["tasks"]["a"]["status"] == "not-run"
    assert not [p for p in tmp.iterdir() if p.name.startswith("pytest-delegation-")]


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if Path(f"/proc/{pid}/stat").exists():
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
            if state == "Z":
                return False
        time.sleep(0.1)
    return True


# the controller's import is told apart by the worker plugin, not by the environment: run
# by the plugin's self-check, the controller itself runs in a task's worker
IMPORT_PROBE = (
    "import os, sys\n"
    "who = os.environ['PYTEST_DELEGATION_TASK'] if 'pytest_delegation.worker.plugin' in sys.modules"
    " else '-'\n"
    "with open({log!r}, 'a') as f:\n"
    '    f.write(f"{{who}} {name}\\n")\n\n'
    "def test_{name}():\n    pass\n"
)


def test_a_worker_imports_only_its_tasks_files_from_a_shared_folder(
    pytester: pytest.Pytester,
) -> None:
    # the worker walks tests/ once (not once per file) and skips the other task's files
    log = str(pytester.path / "imports.log")
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  a:\n    tests: [tests/test_a.py, tests/sub/test_d.py]\n"
        "  b:\n    tests: [tests/test_b.py, tests/test_c.py]\n",
    )
    for path in ("tests/test_a.py", "tests/test_b.py", "tests/test_c.py", "tests/sub/test_d.py"):
        name = path.rsplit("_", 1)[1].removesuffix(".py")
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(IMPORT_PROBE.format(log=log, name=name))
    result = run(pytester, "--delegation-check=isolation")
    result.assert_outcomes(passed=4)
    imported = (pytester.path / "imports.log").read_text().split("\n")
    by_workers = sorted(line for line in imported if line and not line.startswith("-"))
    assert by_workers == ["a a", "a d", "b b", "b c"]


def test_a_file_outside_python_files_named_on_the_command_line_runs_in_its_task(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a:\n    tests: [check_x.py, test_a.py]\n")
    pytester.makepyfile(check_x="def test_x():\n    pass\n", test_a="def test_a():\n    pass\n")
    result = run(pytester, "--delegation-check=isolation", "check_x.py", "test_a.py")
    result.assert_outcomes(passed=2)
    assert report(pytester)["tasks"]["a"]["status"] == "passed"
