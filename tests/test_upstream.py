"""`--delegation-upstream`: a job's dependencies, read from the earlier jobs' reports."""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_delegation.ci.reports import ReportError
from pytest_delegation.ci.upstream import Upstream
from pytest_delegation.ci.upstream import read_upstream
from pytest_delegation.plan.digest import plan_digest
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves
from pytest_delegation.report.data import report_data
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskResult
from pytest_delegation.vocab import Status


PLAN: dict[str, Any] = {
    "version": 1,
    "tasks": {
        "alpha": {"files": ["pkg/alpha.py"]},
        "beta": {"files": ["pkg/beta.py"], "depends_on": ["alpha"]},
        "gamma": {"files": ["pkg/gamma.py"]},
        "delta": {"files": ["pkg/delta.py"], "depends_on": ["beta", "gamma"]},
    },
}


def make_plan(data: Mapping[str, Any] = PLAN) -> Plan:
    plan = plan_from_dict(data, Path("delegation.yaml"))
    plan.freeze(compute_waves(plan))
    return plan


def write(
    folder: Path,
    name: str,
    statuses: Mapping[str, str],
    *,
    plan: Plan | None = None,
    job: str | None = None,
    blocked_by: Mapping[str, str] | None = None,
) -> Path:
    """A job's report in `folder`, its tasks ending as `statuses` say."""
    tasks = {
        task: TaskResult(
            status=Status(status), attempts=1, blocked_by=(blocked_by or {}).get(task)
        )
        for task, status in statuses.items()
    }
    report = RunReport(
        plan=plan or make_plan(), plan_path="delegation.yaml", tasks=tasks, findings=[], job=job
    )
    path = folder / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_data(report), indent=2))
    return path


DIGEST = plan_digest(make_plan())


def test_each_dependency_from_the_job_that_ran_it(tmp_path: Path) -> None:
    a = write(tmp_path, "job-alpha", {"alpha": "failed"}, job="wave-1-alpha")
    write(tmp_path, "job-gamma", {"gamma": "passed"})
    b = write(tmp_path, "sub/job-beta", {"beta": "blocked"}, blocked_by={"beta": "alpha"})
    # the order check runs the whole suite: the jobs made for the tasks are believed
    write(tmp_path, "order-check", dict.fromkeys(("alpha", "beta", "gamma", "delta"), "passed"))
    (tmp_path / "package.json").write_text('{"name": "not a report"}')
    found = read_upstream(tmp_path, DIGEST, ["alpha", "beta", "gamma"])
    assert found["alpha"] == Upstream("alpha", "failed", None, "wave-1-alpha", a)
    assert found["beta"] == Upstream("beta", "blocked", "alpha", "job-beta", b)
    assert found["gamma"].status == "passed" and found["gamma"].job == "job-gamma"


def test_a_report_that_ran_the_task_beats_one_that_did_not(tmp_path: Path) -> None:
    write(tmp_path, "a", {"alpha": "not-run"})
    write(tmp_path, "b", {"alpha": "passed", "gamma": "passed"})
    assert read_upstream(tmp_path, DIGEST, ["alpha"])["alpha"].status == "passed"


def test_of_two_runs_of_a_task_the_worse(tmp_path: Path) -> None:
    write(tmp_path, "a", {"alpha": "passed"})
    write(tmp_path, "b", {"alpha": "error"})
    assert read_upstream(tmp_path, DIGEST, ["alpha"])["alpha"].status == "error"


def test_nothing_needed_reads_nothing_wrong(tmp_path: Path) -> None:
    assert read_upstream(tmp_path, DIGEST, []) == {}


def test_a_missing_folder_says_to_download_there(tmp_path: Path) -> None:
    with pytest.raises(ReportError) as info:
        read_upstream(tmp_path / "delegation-upstream", DIGEST, ["alpha"])
    message = str(info.value)
    assert message.startswith(f"the upstream folder {tmp_path / 'delegation-upstream'} does not")
    assert "download the reports of the jobs this job needs there" in message


def test_a_missing_task_names_the_files_and_what_is_expected(tmp_path: Path) -> None:
    write(tmp_path, "job-gamma", {"gamma": "passed"})
    write(tmp_path, "order-check", dict.fromkeys(("gamma", "delta", "alpha"), "not-run"))
    (tmp_path / "package.json").write_text("{}")
    with pytest.raises(ReportError) as info:
        read_upstream(tmp_path, DIGEST, ["beta", "gamma"])
    message = str(info.value)
    assert message.startswith(f"no report in {tmp_path} ran task 'beta': expected the JSON ")
    assert (
        "expected the JSON report of the job that ran task 'beta' (written with "
        "--delegation-report=json:...)"
    ) in message
    assert "found job-gamma.json (task gamma), order-check.json (tasks gamma, delta, alpha)" in (
        message
    )
    assert "(1 other JSON file skipped: not reports)" in message


def test_several_missing_tasks_and_long_lists_are_shortened(tmp_path: Path) -> None:
    tasks = {f"t{i}": {"files": [f"pkg/t{i}.py"]} for i in range(8)}
    plan = make_plan({"version": 1, "tasks": tasks})
    write(tmp_path, "all", {f"t{i}": "passed" for i in range(6)}, plan=plan)
    with pytest.raises(ReportError) as info:
        read_upstream(tmp_path, plan_digest(plan), ["t7", "t6", "t0"])
    message = str(info.value)
    assert "ran tasks 't6', 't7': expected the JSON reports of the jobs that ran them" in message
    assert "all.json (tasks t0, t1, t2, t3 and 2 more)" in message


def test_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="found no report there"):
        read_upstream(tmp_path, DIGEST, ["alpha"])


def test_a_report_of_another_plan_is_refused(tmp_path: Path) -> None:
    other = make_plan({**PLAN, "max_parallel": 1})
    write(tmp_path, "job-alpha", {"alpha": "passed"})
    stale = write(tmp_path, "job-beta", {"beta": "passed"}, plan=other)
    with pytest.raises(ReportError) as info:
        read_upstream(tmp_path, DIGEST, ["alpha"])
    assert str(info.value) == (
        f"{stale} was written for another plan (digest {plan_digest(other)}, this run's plan "
        f"is {DIGEST}): its job ran another delegation.yaml; re-run that job or remove the file"
    )


def test_a_broken_report_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text('{"version": 1,\n"plan": }')
    with pytest.raises(ReportError, match=r"job\.json:2: not valid JSON"):
        read_upstream(tmp_path, DIGEST, ["alpha"])
