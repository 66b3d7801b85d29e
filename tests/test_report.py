"""The run with --delegation-report: waves, the terminal report, the JSON report, exit status."""

from __future__ import annotations

import json
import re
import time

import pytest

from pytest_delegation.report.markdown import render_markdown


def test_reports_waves_tasks_and_verdict(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report")
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*= delegation report =*",
            "plan delegation.yaml: 4 tasks in 3 waves, max_parallel 4",
            "wave 1",
            "  task * role * tests * pass * fail * time  status",
            "  product-model * code-writer * 2 * 2 * 0 * PASSED",
            "  user-model * code-writer * 1 * 1 * 0 * PASSED",
            "wave 2",
            "  order-model * code-writer * 1 * 1 * 0 * PASSED",
            "wave 3",
            "  review * code-reviewer * 1 * 1 * 0 * PASSED",
            "delegation OK: tasks 4 passed; 0 errors, 0 warnings",
        ]
    )


def test_tests_run_in_wave_order(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report", "--delegation-workers=0", "-v")
    order = [
        line.split(" ")[0].split("::")[-1]
        for line in result.outlines
        if "::" in line and "PASSED" in line
    ]
    assert order == ["test_price", "test_stock", "test_user", "test_order", "test_review"]


def test_plain_run_keeps_file_order(shop: pytest.Pytester) -> None:
    result = shop.runpytest("-v")
    order = [line.split(" ")[0].split("::")[-1] for line in result.outlines if " PASSED" in line]
    assert order == ["test_order", "test_user", "test_price", "test_stock", "test_review"]
    result.stdout.no_fnmatch_line("*delegation report*")
    result.stdout.no_fnmatch_line("delegation OK*")


def test_json_report(shop: pytest.Pytester) -> None:
    shop.makepyfile(
        **{
            "tests/test_models.py": """
                import pytest
                pytestmark = pytest.mark.task("user-model")

                def test_user():
                    pass

                @pytest.mark.task("product-model")
                def test_product():
                    assert False

                @pytest.mark.task("order-model")
                def test_order():
                    pass

                def test_skip():
                    pytest.skip("no")

                @pytest.mark.xfail(reason="known")
                def test_xfail():
                    assert False
            """,
            "tests/test_loose.py": "def test_loose():\n    pass\n",
        }
    )
    result = shop.runpytest("--delegation-report=json:out/report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = json.loads((shop.path / "out/report.json").read_text())
    assert data["version"] == 1
    assert data["plan"]["path"] == "delegation.yaml"
    assert data["plan"]["waves"] == [["product-model", "user-model"], ["order-model"], ["review"]]
    assert data["plan"]["tasks"]["order-model"]["depends_on"] == ["user-model", "product-model"]
    assert data["plan"]["tasks"]["review"]["wave"] == 3
    tasks = data["tasks"]
    assert tasks["product-model"]["status"] == "failed"
    assert tasks["product-model"]["tests"] == {"tests/test_models.py::test_product": "failed"}
    assert tasks["user-model"]["status"] == "passed"
    assert tasks["user-model"]["tests"] == {
        "tests/test_models.py::test_user": "passed",
        "tests/test_models.py::test_skip": "skipped",
        "tests/test_models.py::test_xfail": "xfailed",
    }
    assert tasks["order-model"]["status"] == "blocked"
    assert tasks["order-model"]["blocked_by"] == "product-model"
    assert tasks["order-model"]["tests"] == {"tests/test_models.py::test_order": "skipped"}
    assert tasks["review"]["status"] == "blocked"
    assert data["untagged"] == {"tests/test_loose.py::test_loose": "passed"}
    rules = sorted(f["rule"] for f in data["findings"])
    assert rules == ["untagged-test"]
    assert data["summary"] == {
        "tasks": 4,
        "waves": 3,
        "passed": 1,
        "failed": 1,
        "blocked": 2,
        "flaky": 0,
        "errors": 0,
        "warnings": 1,
        "duration": data["summary"]["duration"],
        "seed": None,
        "started_at": pytest.approx(time.time(), abs=120),
        "verdict": "failed",
    }
    assert data["job"] is None
    assert data["plan"]["digest"].startswith("sha256:")
    assert list((shop.path / "out").iterdir()) == [shop.path / "out/report.json"]


def test_json_default_destination(shop: pytest.Pytester) -> None:
    shop.runpytest("--delegation-report=json")
    assert json.loads((shop.path / "delegation-report.json").read_text())["version"] == 1


def test_blocked_dependents_are_skipped_with_the_reason(shop: pytest.Pytester) -> None:
    shop.makepyfile(**{"tests/test_review.py": "import pytest\n\ndef test_review():\n    pass\n"})
    (shop.path / "tests/test_models.py").write_text(
        (shop.path / "tests/test_models.py")
        .read_text()
        .replace("def test_user():\n    pass", "def test_user():\n    assert 0")
    )
    result = shop.runpytest("--delegation-report", "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "  order-model * BLOCKED",
            "delegation FAILED: tasks 1 passed, 1 failed, 2 blocked; 0 errors, 0 warnings",
            "*blocked: task 'order-model' depends on 'user-model', which failed*",
            "*blocked: task 'review' depends on 'user-model', which failed*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_error_finding_fails_an_otherwise_green_session(shop: pytest.Pytester) -> None:
    plan = (shop.path / "delegation.yaml").read_text()
    (shop.path / "delegation.yaml").write_text(
        plan.replace("files: [shop/product.py]", "files: [shop/product.py, shop/user.py]")
    )
    result = shop.runpytest("--delegation-report")
    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "errors (1)",
            "  file-conflict: task product-model, with user-model*",
            "    tasks 'product-model' and 'user-model' of wave 1 both claim shop/user.py",
            "    fix: *",
        ]
    )
    assert shop.runpytest("--delegation-report", "--delegation-fail-on=never").ret == 0


def test_fail_on_warning(shop: pytest.Pytester) -> None:
    shop.makepyfile(**{"tests/test_loose.py": "def test_loose():\n    pass\n"})
    assert shop.runpytest("--delegation-report").ret == pytest.ExitCode.OK
    result = shop.runpytest("--delegation-report", "--delegation-fail-on=warning")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    shop.makeini("[pytest]\ndelegation_fail_on = warning\n")
    assert shop.runpytest("--delegation-report").ret == pytest.ExitCode.TESTS_FAILED


def test_ignore_rules_by_ini(shop: pytest.Pytester) -> None:
    shop.makepyfile(**{"tests/test_loose.py": "def test_loose():\n    pass\n"})
    shop.makeini("[pytest]\ndelegation_ignore =\n    untagged-test\n")
    result = shop.runpytest("--delegation-report", "--delegation-fail-on=warning")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*untagged-test*")


def test_ignore_a_rule_for_one_task(shop: pytest.Pytester) -> None:
    shop.makefile(
        ".yaml",
        delegation="tasks:\n  a:\n    role: x\n  b:\n    role: y\n",
    )
    shop.makepyfile(**{"tests/test_review.py": "def test_x():\n    pass\n"})
    shop.makeini("[pytest]\ndelegation_ignore = unverified-task:a\n")
    result = shop.runpytest(
        "--delegation-report", "tests/test_review.py", "-p", "no:cacheprovider"
    )
    result.stdout.no_fnmatch_line("*unverified-task: task a*")


def test_unknown_ignored_rule_is_a_usage_error(shop: pytest.Pytester) -> None:
    shop.makeini("[pytest]\ndelegation_ignore = untagged-tests\n")
    result = shop.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown rule 'untagged-tests'; did you mean 'untagged-test'?"])


def test_quiet_prints_one_verdict_line(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report", "-q")
    lines = [line for line in result.outlines if "delegation" in line]
    assert lines == ["delegation OK: tasks 4 passed; 0 errors, 0 warnings"]


def test_verbose_shows_files_and_dependencies(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report", "-v")
    result.stdout.fnmatch_lines(
        [
            "  order-model * PASSED",
            "      files: shop/order.py",
            "      depends on: user-model, product-model",
        ]
    )


def test_report_fits_80_columns(shop: pytest.Pytester) -> None:
    long_plan = "tasks:\n" + "".join(
        f"  a-very-long-task-name-that-keeps-going-{n}:\n    role: a-long-role-name-too\n"
        f"    files: [{'deep/' * 12}file{n}.py]\n    depends_on: "
        f"[{', '.join(f'a-very-long-task-name-that-keeps-going-{m}' for m in range(n))}]\n"
        for n in range(4)
    )
    shop.makefile(".yaml", delegation=long_plan)
    result = shop.runpytest("--delegation-report", "-v", "tests/test_review.py")
    start = result.outlines.index(
        next(line for line in result.outlines if "delegation report" in line)
    )
    report = result.outlines[start + 1 :]
    report = report[: next(i for i, line in enumerate(report) if line.startswith("delegation "))]
    assert report, result.outlines
    assert max(len(line) for line in report) <= 80, "\n".join(report)


def test_color_follows_pytest(shop: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    colored = shop.runpytest("--delegation-report", "--color=yes")
    verdict = [line for line in colored.outlines if "delegation OK" in line]
    assert verdict and "\x1b[" in verdict[0]
    plain = shop.runpytest("--delegation-report", "--color=no")
    assert not any("\x1b[" in line for line in plain.outlines)
    monkeypatch.setenv("NO_COLOR", "1")
    no_color = shop.runpytest("--delegation-report")
    assert not any("\x1b[" in line for line in no_color.outlines)


def test_collect_only_shows_waves_and_findings_and_runs_nothing(shop: pytest.Pytester) -> None:
    shop.makepyfile(
        **{
            "tests/test_review.py": """
                import pathlib
                def test_review():
                    pathlib.Path("ran").write_text("yes")
            """
        }
    )
    plan = shop.path / "delegation.yaml"
    plan.write_text(plan.read_text().rstrip() + "\n  idle:\n    role: research\n")
    result = shop.runpytest("--delegation-report", "--collect-only")
    assert not (shop.path / "ran").exists()
    result.stdout.fnmatch_lines(
        [
            "collect only: the waves and the static findings; nothing ran",
            "wave 1",
            "  task * role * tests",
            "  idle * research * 0",
            "  product-model * code-writer * 2",
            "*unverified-task: task idle*",
            "delegation FAILED: 5 tasks in 3 waves, nothing run; 1 error, 0 warnings",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_no_tests_collected_keeps_pytest_status(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  a:\n    no_tests: planning only\n")
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*unverified-task: task a*", "*no tests: planning only*"])


def test_untagged_tests_run_after_the_last_wave(shop: pytest.Pytester) -> None:
    shop.makepyfile(**{"tests/test_aaa.py": "def test_first_in_file_order():\n    pass\n"})
    result = shop.runpytest("--delegation-report", "-v")
    ran = [line for line in result.outlines if " PASSED" in line and "::" in line]
    assert "test_first_in_file_order" in ran[-1]
    result.stdout.fnmatch_lines(
        [
            "untagged: 1 test (1 passed), run after the last wave",
            "warnings (1)",
            "  untagged-test: tests/test_aaa.py::test_first_in_file_order",
        ]
    )


def test_ambiguous_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  a:\n    tests: [test_x.py]\n  b:\n    tests: ['test_*.py']\n",
    )
    pytester.makepyfile(test_x="def test_one():\n    pass\n")
    result = pytester.runpytest("--delegation-report=json:r.json")
    findings = json.loads((pytester.path / "r.json").read_text())["findings"]
    assert [(f["rule"], f["task"], f["other_task"]) for f in findings] == [
        ("ambiguous-test", "a", "b")
    ]
    assert findings[0]["line"] == 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_doctest_items_select_like_tests(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml", delegation="tasks:\n  docs:\n    role: documentation\n    tests: [guide.md]\n"
    )
    pytester.makefile(".md", guide=">>> 1 + 1\n2\n")
    pytester.makeini("[pytest]\naddopts = --doctest-glob=*.md\n")
    result = pytester.runpytest("--delegation-report")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["  docs * documentation * 1 * 1 * 0 * PASSED"])


def test_duration_is_reported(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report")
    rows = [line for line in result.outlines if line.startswith("  user-model")]
    assert re.search(r"\d+\.\d\ds", rows[0])


# what a new user sees (issue 10): --delegation-plan=auto on a suite without a plan
NEW_USER_TESTS = {
    "tests/test_utils/test_email.py": "def test_send():\n    pass\n",
    "tests/test_utils/test_encoding.py": "def test_utf8():\n    pass\n",
    "tests/test_utils/test_escape.py": "def test_html():\n    pass\n",
}


def test_task_names_that_would_cut_alike_stay_apart(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**NEW_USER_TESTS)
    result = pytester.runpytest(
        "--delegation-plan=auto", "--delegation-report", "--delegation-workers=0"
    )
    result.stdout.fnmatch_lines(
        [
            "wave 1",
            "  task * role * tests * pass * fail * time  status",
            "  tests-test-ut…test-email test-module * 1 * 1 * 0 * PASSED",
            "  tests-test-util…encoding test-module * 1 * 1 * 0 * PASSED",
            "  tests-test-u…test-escape test-module * 1 * 1 * 0 * PASSED",
        ]
    )


def test_an_xpass_counts_as_passed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_one="""
            import pytest

            def test_plain():
                pass

            @pytest.mark.xfail(reason="fixed upstream since")
            def test_known_bug():
                pass
        """
    )
    result = pytester.runpytest(
        "--delegation-plan=auto", "--delegation-report", "--delegation-workers=0"
    )
    result.assert_outcomes(passed=1, xpassed=1)
    # a non-strict xpass passed (pytest reports a strict one as failed)
    result.stdout.fnmatch_lines(["  test-one * test-module * 2 * 2 * 0 * PASSED"])


def test_one_task_in_one_wave_is_singular(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_x():\n    pass\n")
    result = pytester.runpytest("--delegation-plan=auto", "--delegation-report", "--collect-only")
    result.stdout.fnmatch_lines(
        [
            "plan auto: 1 task in 1 wave, max_parallel *",
            "delegation OK: 1 task in 1 wave, nothing run; 0 errors, 0 warnings",
        ]
    )
    result.stdout.no_fnmatch_line("*1 tasks*")
    result.stdout.no_fnmatch_line("*1 waves*")


def test_the_session_header_is_singular_for_one_task(pytester: pytest.Pytester) -> None:
    # needs session.py's pytest_report_header to say it with report.names.plural
    pytester.makefile(".yaml", delegation="tasks:\n  only:\n    tests: [test_one.py]\n")
    pytester.makepyfile(test_one="def test_x():\n    pass\n")
    result = pytester.runpytest("--delegation-report", "--collect-only")
    result.stdout.fnmatch_lines(["delegation: delegation.yaml, 1 task in 1 wave, *"])


def test_markdown_counts_an_xpass_as_passed_and_pluralises() -> None:
    outcomes = {"t.py::a": "passed", "t.py::b": "xpassed", "t.py::c": "failed"}
    data = {
        "plan": {
            "path": "delegation.yaml",
            "waves": [["only"]],
            "tasks": {"only": {"role": "code-writer", "depends_on": [], "tests": sorted(outcomes)}},
        },
        "tasks": {"only": {"status": "failed", "duration": 0.5, "tests": outcomes}},
        "findings": [
            {"rule": "untagged-test", "severity": "warning", "test": "t.py::d", "message": "m"}
        ],
        "summary": {"tasks": 1, "waves": 1, "passed": 0, "failed": 1, "blocked": 0, "flaky": 0,
                    "errors": 1, "warnings": 1, "verdict": "failed"},
    }  # fmt: skip
    text = render_markdown(data)
    assert "`delegation.yaml`: 1 task in 1 wave; 0 passed, 1 failed" in text
    assert "; 1 error, 1 warning." in text
    assert "| `only` | code-writer | 3 | 2 | 1 | 0.50s |" in text
