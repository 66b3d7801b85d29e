"""Options, plan errors as usage errors, and a plain run left alone."""

from __future__ import annotations

import json

import pytest


def test_plain_pytest_needs_no_plan_and_knows_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.task("anything")
        def test_a():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", "-W", "error")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*delegation report*")


def test_disabled_with_no_delegation(
    shop: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
    result = shop.runpytest("-p", "no:delegation", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_marker_is_listed(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--markers").stdout.fnmatch_lines(["@pytest.mark.task(id):*delegation*"])


def test_missing_plan_names_the_path_and_suggests_auto(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: no delegation plan: looked for {pytester.path / 'delegation.yaml'}.",
            "*--delegation-plan=auto*",
        ]
    )


def test_every_plan_problem_is_listed_at_once(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        delegation="""\
version: 1
max_paralel: 2
tasks:
  user-model:
    role: code-writer
    depend_on: [x]
  order-model:
    depends_on: [user-modle]
  a:
    depends_on: [b]
  b:
    depends_on: [a]
  a:
    role: dup
""",
    )
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the delegation plan has 5 problems:",
            "  delegation.yaml:2: unknown key 'max_paralel' in the plan; did you mean 'max_parallel'?",
            "  delegation.yaml:6: unknown key 'depend_on' in task 'user-model'; "
            "did you mean 'depends_on'?",
            "  delegation.yaml:8: task 'order-model' depends on unknown task 'user-modle'; "
            "did you mean 'user-model'?",
            "  delegation.yaml:10: dependency cycle: a -> b -> a; *",
            "  delegation.yaml:13: duplicate key 'a' (first defined on line 9)*",
        ]
    )
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  a:\n    depends_on: [b]\n  b:\n    depends_on: [a]\n"
        "  c:\n    depends_on: [user-modle]\n  user-model: {}\n",
    )
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the delegation plan has 2 problems:",
            "  delegation.yaml:3: dependency cycle: a -> b -> a; *",
            "  delegation.yaml:7: task 'c' depends on unknown task 'user-modle'; "
            "did you mean 'user-model'?",
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_unknown_task_in_a_marker(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  user-model: {}\n")
    pytester.makepyfile(
        test_m="""
            import pytest

            @pytest.mark.task("user-modle")
            def test_a():
                pass

            @pytest.mark.task()
            def test_b():
                pass
        """
    )
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: tests marked with unknown delegation tasks:",
            "  test_m.py:3: test_m.py::test_a: @pytest.mark.task('user-modle') names no task "
            "of the plan; did you mean 'user-model'?",
            "  test_m.py:7: test_m.py::test_b: @pytest.mark.task needs a task id*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delegation-workers=many"], "*'many' is not a number of workers or 'auto'*"),
        (["--delegation-workers=-1"], "*can't be negative*"),
        (["--delegation-report=xml"], "*unknown report type 'xml'*"),
        (["--delegation-report=json:"], "*needs a file name*"),
        (["--delegation-report", "tests/"], "*looks like a test path*--delegation-report=term*"),
        (["--delegation-check=isolaton"], "*unknown check 'isolaton'; did you mean 'isolation'?*"),
        (["--delegation-fail-on=errors"], "*did you mean 'error'?*"),
    ],
)
def test_bad_option_values(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest("--delegation-report", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_ini_value(shop: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p pytest_delegation.plugin")  # no --delegation-check
    shop.makeini("[pytest]\ndelegation_check = fast\n")
    result = shop.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini option delegation_check = fast: unknown check 'fast'*"]
    )


def test_plan_option_is_relative_to_the_invocation_folder(shop: pytest.Pytester) -> None:
    (shop.path / "plans").mkdir()
    (shop.path / "delegation.yaml").rename(shop.path / "plans/main.yaml")
    (shop.path / "plans/tests").mkdir()
    for name in ("test_models.py", "test_review.py"):
        (shop.path / "tests" / name).rename(shop.path / "plans/tests" / name)
    result = shop.runpytest("--delegation-report=json:r.json", "--delegation-plan=plans/main.yaml")
    assert result.ret == 0, result.outlines
    data = json.loads((shop.path / "r.json").read_text())
    assert data["plan"]["path"] == "plans/main.yaml"
    # selectors are relative to the plan file
    assert data["tasks"]["review"]["tests"] == {
        "plans/tests/test_review.py::test_review": "passed"
    }


def test_plan_ini_is_relative_to_the_ini_file(shop: pytest.Pytester) -> None:
    (shop.path / "delegation.yaml").rename(shop.path / "plan.yaml")
    shop.makeini("[pytest]\ndelegation_plan = plan.yaml\n")
    sub = shop.path / "tests"
    result = shop.runpytest_subprocess("--delegation-report", "-p", "no:randomly", str(sub))
    assert result.ret == 0, result.outlines
    result.stdout.fnmatch_lines(["plan plan.yaml: 4 tasks in 3 waves*"])


def test_single_task(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report", "--delegation-task=product-model", "-v")
    result.assert_outcomes(passed=2, deselected=3)
    result.stdout.fnmatch_lines(
        ["wave 1", "  product-model * 2 * 2 * 0 * PASSED", "delegation OK*"]
    )
    result.stdout.no_fnmatch_line("*user-model*PASSED*")
    result.stdout.no_fnmatch_line("*unverified-task*")
    bad = shop.runpytest("--delegation-report", "--delegation-task=product")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*no such task in delegation.yaml; did you mean 'product-model'?"])


def test_auto_plan_one_task_per_module(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_alpha="def test_a():\n    pass\n",
        test_beta="def test_b():\n    pass\ndef test_c():\n    pass\n",
    )
    result = pytester.runpytest("--delegation-report=json:r.json", "--delegation-plan=auto")
    assert result.ret == 0
    data = json.loads((pytester.path / "r.json").read_text())
    assert data["plan"]["path"] == "auto"
    assert data["plan"]["waves"] == [["test-alpha", "test-beta"]]
    assert data["tasks"]["test-beta"]["tests"] == {
        "test_beta.py::test_b": "passed",
        "test_beta.py::test_c": "passed",
    }
    assert data["findings"] == []
