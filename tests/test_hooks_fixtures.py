"""The plugin's fixtures and hooks, as conftests use them."""

from __future__ import annotations

import pytest


def test_fixtures_with_and_without_the_report(shop: pytest.Pytester) -> None:
    shop.makepyfile(
        **{
            "tests/test_review.py": """
                def test_review(delegation_plan, delegation_task):
                    assert delegation_task.id == "review"
                    assert delegation_task.depends_on == ("order-model",)
                    assert delegation_plan.waves == (
                        ("product-model", "user-model"), ("order-model",), ("review",)
                    )
                    assert delegation_plan.shared == ("shop/contracts.py",)
            """,
            "tests/test_marked.py": """
                import pytest

                @pytest.mark.task("user-model")
                def test_marked(delegation_task):
                    assert delegation_task.id == "user-model"

                def test_read_only(delegation_plan):
                    with pytest.raises(TypeError):
                        delegation_plan.tasks["x"] = None
                    with pytest.raises(AttributeError):
                        delegation_plan.max_parallel = 9
            """,
        }
    )
    shop.runpytest(
        "tests/test_review.py", "tests/test_marked.py", "--delegation-report"
    ).assert_outcomes(passed=3)
    shop.runpytest("tests/test_review.py", "tests/test_marked.py").assert_outcomes(passed=3)


def test_delegation_task_of_an_untagged_test_is_a_clear_error(shop: pytest.Pytester) -> None:
    shop.makepyfile(**{"tests/test_loose.py": "def test_loose(delegation_task):\n    pass\n"})
    result = shop.runpytest("tests/test_loose.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*delegation_task: tests/test_loose.py::test_loose belongs to no task*"]
    )


def test_delegation_plan_without_a_plan_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(delegation_plan):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*delegation_plan: no delegation plan: looked for*"])


def test_conftest_supplies_the_plan(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_delegation.plan.model import plan_from_dict

        def pytest_delegation_load_plan(config, path):
            return plan_from_dict(
                {"tasks": {"core": {"files": ["core.py"]}, "api": {"depends_on": ["core"]}}},
                path,
            )
        """
    )
    pytester.makepyfile(
        test_x="""
            import pytest

            @pytest.mark.task("api")
            def test_api():
                pass

            @pytest.mark.task("core")
            def test_core():
                pass
        """
    )
    result = pytester.runpytest("--delegation-report", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_core PASSED*", "*test_api PASSED*", "plan delegation.yaml: 2 tasks in 2 waves*"]
    )


def test_supplied_plan_is_validated(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_delegation.plan.model import plan_from_dict

        def pytest_delegation_load_plan(config, path):
            return plan_from_dict({"tasks": {"a": {"depends_on": ["b"], "rol": "x"}}}, path)
        """
    )
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key 'rol' in task 'a'; did you mean 'role'?*"])


def test_load_plan_hook_returning_garbage(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("def pytest_delegation_load_plan(config, path):\n    return {}\n")
    result = pytester.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytest_delegation_load_plan returned dict*"])


def test_conftest_amends_the_plan(shop: pytest.Pytester) -> None:
    shop.makeconftest(
        """
        from pytest_delegation.plan.model import Task

        def pytest_delegation_modify_plan(config, plan):
            plan.add_task(Task(id="security", role="security", depends_on=("review",)))
        """
    )
    shop.makepyfile(
        **{
            "tests/test_security.py": """
                import pytest

                @pytest.mark.task("security")
                def test_secure():
                    pass
            """
        }
    )
    result = shop.runpytest("--delegation-report")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        ["plan delegation.yaml: 5 tasks in 4 waves*", "wave 4", "  security * PASSED"]
    )


def test_modified_plan_is_checked_again(shop: pytest.Pytester) -> None:
    shop.makeconftest(
        """
        from dataclasses import replace

        def pytest_delegation_modify_plan(config, plan):
            plan.tasks["user-model"] = replace(plan.tasks["user-model"], depends_on=("review",))
        """
    )
    result = shop.runpytest("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*dependency cycle: order-model -> user-model -> review -> order-model*"]
    )


def test_wave_finding_and_report_hooks(shop: pytest.Pytester) -> None:
    shop.makepyfile(**{"tests/test_loose.py": "def test_loose():\n    pass\n"})
    shop.makeconftest(
        """
        events = []

        def pytest_delegation_wave_started(config, wave):
            events.append(f"start {wave}")

        def pytest_delegation_wave_finished(config, wave, results):
            events.append(f"end {wave}: " + ",".join(f"{t}={r.status}" for t, r in sorted(results.items())))

        def pytest_delegation_finding(config, finding):
            events.append(f"finding {finding.rule}")

        def pytest_delegation_report(config, report):
            events.append(f"report {report.summary()['passed']}")
            for event in events:
                print("EVENT", event)
        """
    )
    result = shop.runpytest("--delegation-report", "-s")
    events = [line.split("EVENT ", 1)[1] for line in result.outlines if "EVENT " in line]
    assert events == [
        "finding untagged-test",
        "start 1",
        "end 1: product-model=passed,user-model=passed",
        "start 2",
        "end 2: order-model=passed",
        "start 3",
        "end 3: review=passed",
        "report 4",
    ]
