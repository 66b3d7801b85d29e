"""pytest-cov's ``--cov`` beside the order check: replays never feed the coverage data.

Only the task runs measure (forked from the fork server, as without coverage); the
order check's runs and the reproduce commands run with ``--no-cov`` and without what
starts coverage in a fresh process (COVERAGE_PROCESS_START, pytest-cov's COV_CORE_*).
A replay that measured took in and erased the task workers' data in the rootdir: the
total fell from 96% to what the last replay ran.
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace
from typing import Any
from typing import cast

import pytest
import pytest_cov  # type: ignore[import-untyped]  # noqa: F401  (in the test extra)

from pytest_delegation.run.argv import measures_processes
from pytest_delegation.run.argv import unmeasured
from pytest_delegation.run.argv import unmeasured_reproduce
from pytest_delegation.run.argv import worker_env


pytestmark = pytest.mark.task("e2e")

PLAN = """\
version: 1
shared: [pkg/__init__.py]
tasks:
  alpha:
    files: [pkg/alpha.py, tests/test_alpha.py]
  beta:
    files: [pkg/beta.py, tests/test_beta.py, tests/test_zeta.py]
  gamma:
    files: [pkg/gamma.py, tests/test_gamma.py]
"""

MODULE = """\
STATE = {"mode": "normal"}


def double(x):
    if x > 0:
        return x * 2
    return -x


def total(items):
    result = 0
    for item in items:
        result += item
    return result


def shout(name):
    return "_".join(part.upper() for part in name.split("-"))


def mode():
    return STATE["mode"]
"""

TESTS = """\
import os

import pytest

from pkg import {name}

pytestmark = pytest.mark.task("{name}")


def test_double():
    assert {name}.double(2) == 4
    assert {name}.double(-3) == 3


def test_total():
    assert {name}.total([1, 2, 3]) == 6


def test_shout():
    assert {name}.shout("a-b") == "A_B"


def test_parent():
    # which process started this task run: the fork server, or the controller
    if os.environ.get("PYTEST_DELEGATION_TASK"):
        with open(f"/proc/{{os.getppid()}}/cmdline", "rb") as handle:
            parent = handle.read().replace(b"\\0", b" ").decode()
        folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "parents")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "{name}"), "w") as handle:
            handle.write(parent)
"""

# the planted order dependency: gamma's test fails once beta's test_zeta ran before it
# (never in the plain order, where test_gamma.py comes first)
POLLUTER = """\
import pytest

pytestmark = pytest.mark.task("beta")


def test_pollute():
    from pkg import gamma

    gamma.STATE["mode"] = "broken"
"""

VICTIM = """\


def test_mode():
    assert gamma.mode() == "normal"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", delegation=PLAN)
    pytester.makeini("[pytest]\npythonpath = .\n")
    pkg = pytester.path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    tests = pytester.path / "tests"
    tests.mkdir()
    for name in ("alpha", "beta", "gamma"):
        (pkg / f"{name}.py").write_text(MODULE)
        (tests / f"test_{name}.py").write_text(TESTS.format(name=name))
    (tests / "test_gamma.py").write_text((tests / "test_gamma.py").read_text() + VICTIM)
    (tests / "test_zeta.py").write_text(POLLUTER)
    return pytester


Lines = dict[str, list[int]]


def measured(
    pytester: pytest.Pytester, *args: str, cov: tuple[str, ...] | None = None
) -> tuple[pytest.RunResult, float, Lines]:
    """A run's result, pytest-cov's total percentage and the lines it saw executed."""
    report = pytester.path / "cov.json"
    report.unlink(missing_ok=True)
    shutil.rmtree(pytester.path / "parents", ignore_errors=True)
    if cov is None:
        cov = ("-p", "pytest_cov.plugin", "--cov=pkg", "--cov-report=json:cov.json")
    result = pytester.runpytest_subprocess("-p", "no:randomly", *cov, *args)
    data = json.loads(report.read_text())
    lines = {name: sorted(f["executed_lines"]) for name, f in data["files"].items()}
    leftovers = [p.name for p in pytester.path.iterdir() if p.name.startswith(".coverage.")]
    assert leftovers == [], result.outlines
    return result, float(data["totals"]["percent_covered"]), lines


def delegation_report(pytester: pytest.Pytester) -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads((pytester.path / "r.json").read_text()))


def assert_forked(pytester: pytest.Pytester) -> None:
    """Every task run was forked from the fork server, measuring all the same."""
    parents = {p.name: p.read_text() for p in (pytester.path / "parents").iterdir()}
    assert sorted(parents) == ["alpha", "beta", "gamma"]
    assert all("forkserver.py" in parent for parent in parents.values()), parents


def assert_order_finding(pytester: pytest.Pytester) -> None:
    findings = delegation_report(pytester)["findings"]
    ordering = [f for f in findings if f["rule"] == "hidden-ordering-dependency"]
    assert [(f["task"], f["test"]) for f in ordering] == [
        ("gamma", "tests/test_gamma.py::test_mode")
    ], findings
    # the reproduce command ran without coverage, and failed as it should
    assert "reproduce" in ordering[0]
    assert ordering[0].get("reproduce_verified") is not False


def test_the_order_check_leaves_the_coverage_as_isolation_measures_it(
    project: pytest.Pytester,
) -> None:
    plain, plain_total, plain_lines = measured(project)
    assert plain.ret == 0, plain.outlines
    report = ("--delegation-report", "--delegation-report=json:r.json")
    isolated, isolated_total, isolated_lines = measured(
        project, *report, "--delegation-check=isolation,boundaries"
    )
    assert isolated.ret == 0, isolated.outlines
    assert_forked(project)
    full, full_total, full_lines = measured(
        project, *report, "--delegation-check=all", "--delegation-seed=3"
    )
    assert full.ret == 1, full.outlines  # the planted dependency is an error
    assert_order_finding(project)
    assert_forked(project)
    assert plain_total > 90
    assert full_lines == isolated_lines == plain_lines
    assert full_total == isolated_total == plain_total
    full.stdout.fnmatch_lines(["Coverage JSON written to file cov.json"])
    # one report, the controller's: the workers and replays write none
    assert full.stdout.str().count("Coverage JSON written") == 1


def test_cov_in_the_ini_forks_and_measures_only_the_task_runs(project: pytest.Pytester) -> None:
    project.makeini(
        "[pytest]\npythonpath = .\n"
        "addopts = -p pytest_cov.plugin --cov=pkg --cov-report=json:cov.json\n"
    )
    plain, plain_total, plain_lines = measured(project, cov=())
    assert plain.ret == 0, plain.outlines
    full, full_total, full_lines = measured(
        project,
        "--delegation-report",
        "--delegation-report=json:r.json",
        "--delegation-check=all",
        "--delegation-seed=3",
        cov=(),
    )
    assert full.ret == 1, full.outlines
    assert_order_finding(project)
    assert_forked(project)
    assert full_lines == plain_lines
    assert full_total == plain_total > 90


def test_replays_leave_out_what_starts_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVERAGE_PROCESS_START", ".coveragerc")
    monkeypatch.setenv("COVERAGE_PROCESS_CONFIG", ":data:{}")
    monkeypatch.setenv("COV_CORE_SOURCE", "pkg")
    monkeypatch.setenv("COV_CORE_DATAFILE", ".coverage")
    monkeypatch.setenv("COVERAGE_RCFILE", "setup.cfg")  # configures, starts nothing
    task = worker_env("alpha")
    assert measures_processes(task)
    assert task["COVERAGE_PROCESS_START"] == ".coveragerc"  # a task's subprocesses measure
    replay = worker_env(None, measure=False)
    assert not measures_processes(replay)
    assert replay["COVERAGE_RCFILE"] == "setup.cfg"
    assert not any(name.startswith(("COV_CORE_", "COVERAGE_PROCESS_")) for name in replay)


def test_no_cov_only_where_pytest_cov_is_loaded() -> None:
    with_cov = SimpleNamespace(option=SimpleNamespace(no_cov=False))
    without = SimpleNamespace(option=SimpleNamespace())
    assert unmeasured(cast("pytest.Config", with_cov)) == ["--no-cov"]
    assert unmeasured(cast("pytest.Config", without)) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["--no-cov"]),  # pytest-cov from the ini, the environment or an entry point
        (("-p", "pytest_cov.plugin", "--cov=pkg"), []),  # not in a reproduce command
        (("-ppytest_cov",), []),
        (("-p", "xdist"), ["--no-cov"]),
    ],
)
def test_no_cov_in_reproduce_commands_only_where_it_is_known(
    args: tuple[str, ...], expected: list[str]
) -> None:
    config = SimpleNamespace(
        option=SimpleNamespace(no_cov=False), invocation_params=SimpleNamespace(args=args)
    )
    assert unmeasured_reproduce(cast("pytest.Config", config)) == expected


NEEDS_MULTIPROCESSING = """\
import sys


def test_process_name():
    # what structlog's processors read: logging names the process only once
    # multiprocessing was imported, by someone
    assert "multiprocessing" in sys.modules
"""


def test_a_test_that_passes_in_its_task_only_under_coverage_is_brittle_not_flaky(
    pytester: pytest.Pytester,
) -> None:
    """structlog: `tests/test_utils.py` imports multiprocessing at collection, and 15
    tests of another module need it. Under ``--cov`` their task run passes (coverage
    imports multiprocessing), the unmeasured order runs without test_utils.py fail: the
    plugin called all 15 flaky ("make the test deterministic")."""
    import sys

    import coverage  # noqa: F401

    assert "multiprocessing" in sys.modules, "coverage no longer imports it: pick another"
    changer = "import os\n\n\ndef test_change():\n    os.environ['LEFT_BEHIND'] = '{}'\n"
    pytester.makepyfile(
        # a changer before it in every order: it runs without them, and without the setter
        test_a=changer.format("a"),
        test_needs=NEEDS_MULTIPROCESSING,
        test_z=changer.format("z"),
        test_0setter="import multiprocessing\n\n\ndef test_current():\n"
        "    assert multiprocessing.current_process().name\n",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "pytest_cov.plugin", "--cov", "--cov-report=",
        "--delegation-report", "--delegation-report=json:r.json", "--delegation-plan=auto",
        "--delegation-check=all", "--delegation-seed=1", "--delegation-shuffles=0",
    )  # fmt: skip
    data = json.loads((pytester.path / "r.json").read_text())
    rules = [(f["rule"], f.get("kind"), f.get("test")) for f in data["findings"]]
    assert ("flaky", None, "test_needs.py::test_process_name") not in rules, rules
    [finding] = [f for f in data["findings"] if f["rule"] == "hidden-ordering-dependency"]
    assert (finding["kind"], finding["test"]) == ("brittle", "test_needs.py::test_process_name")
    assert finding["culprit_test"] == "test_0setter.py::test_current", finding
    assert result.ret == 1, result.stdout.str()
