"""File boundaries measured at run time in the workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.boundaries import boundary_findings
from pytest_delegation.collect.loading import infer_plan
from pytest_delegation.plan.waves import compute_waves


PLAN = """\
shared: [pkg/contracts.py, pkg/__init__.py]
tasks:
  low:
    files: [pkg/low.py]
    tests: [tests/test_low.py]
  mid:
    files: [pkg/mid.py]
    depends_on: [low]
    tests: [tests/test_mid.py]
  other:
    files: [pkg/other.py]
    tests: [tests/test_other.py]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", delegation=PLAN)
    pytester.makeini("[pytest]\npythonpath = .\n")
    pkg = pytester.path / "pkg"
    pkg.mkdir()
    # an __init__ that imports every module must not make every task touch every file
    (pkg / "__init__.py").write_text("from pkg import contracts, low, mid, other, loose\n")
    (pkg / "contracts.py").write_text("def shape(x):\n    return {'value': x}\n")
    (pkg / "low.py").write_text(
        "from pkg.contracts import shape\n\ndef low(x):\n    return shape(x)\n"
    )
    (pkg / "mid.py").write_text("from pkg.low import low\n\ndef mid(x):\n    return low(x + 1)\n")
    (pkg / "other.py").write_text("def other():\n    return 'other'\n")
    (pkg / "loose.py").write_text("def loose():\n    return 'loose'\n")
    tests = pytester.path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef helper():\n    return lambda: 1\n"
    )
    (tests / "test_low.py").write_text(
        "from pkg.low import low\n\ndef test_low(helper):\n    assert low(1) == {'value': 1}\n"
    )
    (tests / "test_mid.py").write_text(
        "from pkg.mid import mid\n\ndef test_mid():\n    assert mid(1)['value'] == 2\n"
    )
    (tests / "test_other.py").write_text(
        "def test_other():\n    from pkg.other import other\n    assert other() == 'other'\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json", *args
    )
    return result, json.loads((pytester.path / "r.json").read_text())


def test_dependencies_shared_files_conftest_and_init_are_allowed(project: pytest.Pytester) -> None:
    result, data = run(project)
    assert result.ret == 0, result.outlines
    assert data["findings"] == []
    # mid's tests run low's code through mid (a declared dependency): allowed, and listed
    assert data["tasks"]["mid"]["executed_files"] == [
        "pkg/contracts.py",
        "pkg/low.py",
        "pkg/mid.py",
    ]
    assert data["tasks"]["other"]["executed_files"] == ["pkg/other.py"]
    result.stdout.fnmatch_lines(["mode: *; checked: isolation, boundaries"])


def test_direct_call_into_another_tasks_file(project: pytest.Pytester) -> None:
    (project.path / "tests/test_other.py").write_text(
        "from pkg.low import low\n\ndef test_other():\n    assert low(2)\n"
    )
    result, data = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = data["findings"]
    assert finding == {
        "rule": "boundary-violation",
        "severity": "error",
        "task": "other",
        "other_task": "low",
        "test": "tests/test_other.py::test_other",
        "file": "pkg/low.py",
        "line": 3,
        "via": "run",
        "function": "low",
        "owner_wave": 1,
        "declared_dependencies": [],
        "message": finding["message"],
        "fix": "declare the dependency (depends_on: [low]) or move that code into the plan's "
        "shared: files",
    }
    result.stdout.fnmatch_lines(["  boundary-violation: task other, with low, pkg/low.py:3"])


def test_transitive_reach_through_a_dependency(project: pytest.Pytester) -> None:
    # mid may run low's code; a task depending only on mid may too (transitively)
    plan = (
        PLAN
        + "  top:\n    files: [pkg/top.py]\n    depends_on: [mid]\n    tests: [tests/test_top.py]\n"
    )
    project.makefile(".yaml", delegation=plan)
    (project.path / "pkg/top.py").write_text(
        "from pkg.mid import mid\n\ndef top():\n    return mid(0)\n"
    )
    (project.path / "tests/test_top.py").write_text(
        "from pkg.top import top\n\ndef test_top():\n    assert top()\n"
    )
    # other calls mid, which calls low onward: both are violations of 'other'
    (project.path / "tests/test_other.py").write_text(
        "from pkg.mid import mid\n\ndef test_other():\n    assert mid(0)\n"
    )
    _, data = run(project)
    found = sorted((f["task"], f["other_task"], f["file"]) for f in data["findings"])
    assert found == [("other", "low", "pkg/low.py"), ("other", "mid", "pkg/mid.py")]


def test_unowned_file(project: pytest.Pytester) -> None:
    (project.path / "tests/test_other.py").write_text(
        "from pkg.loose import loose\n\ndef test_other():\n    assert loose()\n"
    )
    result, data = run(project)
    assert result.ret == 0  # a warning
    assert [(f["rule"], f["task"], f["file"]) for f in data["findings"]] == [
        ("unowned-file", "other", "pkg/loose.py")
    ]


def test_importlib_reach_is_caught_at_run_time(project: pytest.Pytester) -> None:
    (project.path / "tests/test_other.py").write_text(
        "import importlib\n\ndef test_other():\n"
        "    module = importlib.import_module('pkg.' + 'low')\n    assert module.low(0)\n"
    )
    _, data = run(project)
    assert [(f["rule"], f["other_task"]) for f in data["findings"]] == [
        ("boundary-violation", "low")
    ]


def test_code_a_conftest_imported_before_the_workers_plugin_is_watched(
    project: pytest.Pytester,
) -> None:
    # the rootdir conftest imports pkg.low before the worker's plugin is configured:
    # before 3.12 its functions get their probes through __code__, not the import hook
    (project.path / "conftest.py").write_text("import pkg.low\n")
    (project.path / "tests/test_other.py").write_text(
        "import pkg.low\n\ndef test_other():\n    assert pkg.low.low(2)\n"
    )
    result, data = run(project)
    assert [(f["rule"], f["task"], f["other_task"], f["function"]) for f in data["findings"]] == [
        ("boundary-violation", "other", "low", "low")
    ], result.outlines
    # no probed bytecode was cached: a plain run afterwards, writing bytecode, passes
    plain = project.runpytest_subprocess("-p", "no:randomly", "-p", "no:delegation")
    assert plain.ret == 0, plain.outlines
    probed = [
        p for p in project.path.rglob("*.pyc") if b"__pytest_delegation_probe__" in p.read_bytes()
    ]
    assert probed == []


def test_boundaries_can_be_switched_off(project: pytest.Pytester) -> None:
    (project.path / "tests/test_other.py").write_text(
        "from pkg.low import low\n\ndef test_other():\n    assert low(2)\n"
    )
    result, data = run(project, "--delegation-check=isolation")
    assert result.ret == 0
    assert data["findings"] == []
    assert data["tasks"]["other"]["executed_files"] == []


def test_coverage_of_the_workers_is_combined(project: pytest.Pytester) -> None:
    pytest.importorskip("pytest_cov")
    result = project.runpytest_subprocess(
        "-p", "pytest_cov.plugin", "--delegation-report=json:r.json", "--cov=pkg",
        "--cov-report=term-missing",
    )  # fmt: skip
    assert result.ret == 0, result.outlines
    # every function body ran in a worker only; combined, the package is fully covered
    result.stdout.fnmatch_lines(
        [
            "pkg/low.py * 3 * 0 * 100%*",
            "pkg/mid.py * 3 * 0 * 100%*",
            "pkg/other.py * 2 * 0 * 100%*",
        ]
    )
    leftovers = [p.name for p in project.path.iterdir() if p.name.startswith(".coverage.")]
    assert leftovers == []
    data = json.loads((project.path / "r.json").read_text())
    # measured beside coverage's tracer on every Python: before 3.12 by probes, not a
    # second tracer (which coverage's would have shut out)
    assert data["notes"] == []
    assert data["tasks"]["mid"]["executed_files"] == [
        "pkg/contracts.py",
        "pkg/low.py",
        "pkg/mid.py",
    ]


def test_an_import_no_test_runs_is_caught_statically(project: pytest.Pytester) -> None:
    (project.path / "pkg/other.py").write_text(
        "from pkg import low\n\ndef other():\n    return 'other'\n\ndef unused():\n    return low.low(1)\n"
    )
    result, data = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert [
        (f["rule"], f["via"], f["task"], f["other_task"], f["file"], f["line"])
        for f in data["findings"]
    ] == [("boundary-violation", "import", "other", "low", "pkg/other.py", 1)]
    assert data["findings"][0]["imported_file"] == "pkg/low.py"


def test_an_inferred_plan_owns_no_file_and_gets_no_unowned_file(tmp_path: Path) -> None:
    # --delegation-plan=auto: one task per test module, none with files:
    plan = infer_plan(["tests/test_a.py", "tests/test_b.py"], tmp_path)
    plan.freeze(compute_waves(plan))
    ran = {
        "tests-test-a": {"pkg/a.py": Execution("a", 1, "tests/test_a.py::test_a")},
        "tests-test-b": {"pkg/b.py": Execution("b", 1, "tests/test_b.py::test_b")},
    }
    assert [f.file for f in boundary_findings(plan, "", ran)] == ["pkg/a.py", "pkg/b.py"]
    assert boundary_findings(plan, "", ran, unowned=False) == []


def test_delegation_plan_auto_reports_no_unowned_file(project: pytest.Pytester) -> None:
    # needs run/workers.py to pass unowned=settings.plan != "auto" to boundary_findings
    (project.path / "delegation.yaml").unlink()
    result, data = run(project, "--delegation-plan=auto")
    assert result.ret == 0, result.outlines
    assert data["tasks"]["tests-test-low"]["executed_files"]  # measured, all the same
    assert [f["rule"] for f in data["findings"]] == []
    result.stdout.no_fnmatch_line("*unowned-file*")
