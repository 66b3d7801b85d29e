"""The CI options in a real session: a job's share of the tasks, the reports of the jobs
before it, and the jobs written from the plan (pytester, end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


pytestmark = pytest.mark.task("e2e")


def job_report(
    shop: pytest.Pytester, *args: str, job: str = "job"
) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTEST_DELEGATION_JOB", job)
        result = shop.runpytest_subprocess(
            *args, f"--delegation-report=json:reports/{job}.json", "--delegation-workers=1"
        )
    path = shop.path / "reports" / f"{job}.json"
    return result, json.loads(path.read_text()) if path.exists() else {}


def test_a_job_runs_its_share_of_the_tasks_and_names_itself(shop: pytest.Pytester) -> None:
    result, data = job_report(shop, "--delegation-task=user-model,product-model", job="wave-1-1")
    result.assert_outcomes(passed=3, deselected=2)
    assert data["job"] == "wave-1-1"
    assert sorted(data["tasks"]) == ["product-model", "user-model"]
    # the plan section still lists every task's tests: combine tells a task without
    # tests from one whose job is missing by it
    assert data["plan"]["tasks"]["order-model"]["tests"] == ["tests/test_models.py::test_order"]
    assert data["plan"]["digest"].startswith("sha256:")


def test_repeated_and_unknown_task_options(shop: pytest.Pytester) -> None:
    result = shop.runpytest(
        "--delegation-report", "--delegation-task=user-model", "--delegation-task=revue,odrer"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--delegation-task=revue: no such task*did you mean 'review'*",
            "*--delegation-task=odrer: no such task*",
        ]
    )


def test_a_failed_dependency_in_an_earlier_job_blocks_the_task(shop: pytest.Pytester) -> None:
    test = shop.path / "tests/test_models.py"
    test.write_text(
        test.read_text().replace(
            "def test_user():\n    pass", "def test_user():\n    assert False"
        )
    )
    first, _ = job_report(shop, "--delegation-task=user-model", job="wave-1-1")
    assert first.ret == 1
    job_report(shop, "--delegation-task=product-model", job="wave-1-2")
    test.write_text(test.read_text().replace("assert False", "pass"))

    result, data = job_report(
        shop,
        "--delegation-task=order-model",
        "--delegation-upstream=reports",
        "-rs",
        job="wave-2-1",
    )
    assert result.ret == 1
    result.assert_outcomes(skipped=1, deselected=4)
    result.stdout.fnmatch_lines(
        ["*blocked: task 'order-model' depends on 'user-model', which failed*"]
    )
    assert data["tasks"]["order-model"]["status"] == "blocked"
    assert data["tasks"]["order-model"]["blocked_by"] == "user-model"


def test_a_dependency_that_passed_upstream_lets_the_task_run(shop: pytest.Pytester) -> None:
    job_report(shop, "--delegation-task=user-model,product-model", job="wave-1-1")
    result, data = job_report(
        shop, "--delegation-task=order-model", "--delegation-upstream=reports", job="wave-2-1"
    )
    assert result.ret == 0
    assert data["tasks"]["order-model"]["status"] == "passed"


def test_upstream_problems_are_usage_errors_naming_the_fix(shop: pytest.Pytester) -> None:
    missing = shop.runpytest_subprocess(
        "--delegation-report", "--delegation-task=order-model", "--delegation-upstream=nowhere"
    )
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in missing.stderr.str() + missing.stdout.str()
    assert "nowhere" in missing.stderr.str()

    job_report(shop, "--delegation-task=user-model", job="wave-1-1")
    lacking = shop.runpytest_subprocess(
        "--delegation-report", "--delegation-task=order-model", "--delegation-upstream=reports"
    )
    assert lacking.ret == pytest.ExitCode.USAGE_ERROR
    err = " ".join(lacking.stderr.str().split())
    assert "product-model" in err and "wave-1-1.json" in err

    # a report of another plan is refused, not believed
    job_report(shop, "--delegation-task=product-model", job="wave-1-2")
    plan = shop.path / "delegation.yaml"
    plan.write_text(plan.read_text().replace("files: [shop/user.py]", "files: [shop/users.py]"))
    other = shop.runpytest_subprocess(
        "--delegation-report", "--delegation-task=order-model", "--delegation-upstream=reports"
    )
    assert other.ret == pytest.ExitCode.USAGE_ERROR
    assert "another plan" in " ".join(other.stderr.str().split())


def test_the_jobs_are_written_and_nothing_runs(shop: pytest.Pytester) -> None:
    result = shop.runpytest_subprocess("--delegation-ci=github", "-p", "no:randomly")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*wrote github jobs to *delegation.yml: 4 jobs for 4 tasks in 3 waves*"]
    )
    result.stdout.no_fnmatch_line("*passed*")
    text = (shop.path / ".github/workflows/delegation.yml").read_text()
    assert "--delegation-task=" in text and "-p no:randomly" in text
    # the plugin's own file is regenerated in place
    again = shop.runpytest_subprocess("--delegation-ci=github", "--delegation-ci-jobs=1")
    assert again.ret == 0
    assert (shop.path / ".github/workflows/delegation.yml").read_text() != text


def test_a_file_the_plugin_did_not_write_is_left_alone(shop: pytest.Pytester) -> None:
    mine = shop.path / ".gitlab/delegation.yml"
    mine.parent.mkdir()
    mine.write_text("stages: [build]\n")
    result = shop.runpytest_subprocess("--delegation-ci=gitlab")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "was not written by pytest-delegation" in " ".join(result.stderr.str().split())
    assert mine.read_text() == "stages: [build]\n"
    written = shop.runpytest_subprocess("--delegation-ci=gitlab:ci/delegation.yml")
    assert written.ret == 0
    assert "delegation-wave-1" in (shop.path / "ci/delegation.yml").read_text()


def test_the_matrix_is_the_last_line_of_standard_output(shop: pytest.Pytester) -> None:
    result = shop.runpytest_subprocess("--delegation-ci=matrix", "--delegation-ci-jobs=1", "-q")
    assert result.ret == 0
    matrix = json.loads(result.stdout.lines[-1])
    # at most one job a wave: wave 1's two tasks share one
    assert [set(entry["tasks"].split(",")) for entry in matrix["include"]] == [
        {"product-model", "user-model"},
        {"order-model"},
        {"review"},
    ]


def test_the_plans_findings_still_show_with_a_report(shop: pytest.Pytester) -> None:
    plan = shop.path / "delegation.yaml"
    plan.write_text(plan.read_text().replace("files: [shop/product.py]", "files: [shop/user.py]"))
    alone = shop.runpytest_subprocess("--delegation-ci=matrix:m.json")
    assert alone.ret == 0
    reported = shop.runpytest_subprocess("--delegation-ci=matrix:m.json", "--delegation-report")
    assert reported.ret == 1
    reported.stdout.fnmatch_lines(["*file-conflict*"])


def test_a_broken_template_names_its_file_and_line(shop: pytest.Pytester) -> None:
    shop.makeini("[pytest]\ndelegation_ci_template = ci/template.yml\n")
    template = shop.path / "ci/template.yml"
    template.parent.mkdir()
    template.write_text("jobs:\n  setup:\n    steps: [\n")
    result = shop.runpytest_subprocess("--delegation-ci=github")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = " ".join(result.stderr.str().split())
    assert "template.yml" in err and "line" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "bad", ["--delegation-ci=jenkins", "--delegation-ci-jobs=0", "--delegation-ci=github:"]
)
def test_bad_ci_options_are_usage_errors(shop: pytest.Pytester, bad: str) -> None:
    result = shop.runpytest(bad)
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_template_sets_up_every_job(shop: pytest.Pytester) -> None:
    shop.makeini("[pytest]\ndelegation_ci_template = ci/template.yml\n")
    template = shop.path / "ci/template.yml"
    template.parent.mkdir()
    template.write_text(
        "on: [push]\njobs:\n  setup:\n    runs-on: ubuntu-22.04\n    steps:\n"
        "      - uses: actions/checkout@v6\n      - run: pip install -e .[test]\n"
    )
    result = shop.runpytest_subprocess("--delegation-ci=github:wf.yml")
    assert result.ret == 0
    text = Path(shop.path / "wf.yml").read_text()
    assert text.count("pip install -e .[test]") == 4  # three waves and combine
    assert "ubuntu-22.04" in text
