"""`pytest-delegation combine`: job reports merged into one run report, and its CLI."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from importlib import resources
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from pytest_delegation import cli
from pytest_delegation.checks.findings import Finding
from pytest_delegation.ci.combine import combine
from pytest_delegation.ci.combine import durations
from pytest_delegation.ci.junit import merge_junit
from pytest_delegation.ci.reports import ReportError
from pytest_delegation.ci.reports import load_report
from pytest_delegation.ci.reports import ran_by
from pytest_delegation.ci.reports import read_reports
from pytest_delegation.plan.digest import plan_digest
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves
from pytest_delegation.report.data import report_data
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskResult
from pytest_delegation.report.read import report_from_data
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status


SCHEMA = json.loads((resources.files("pytest_delegation") / "report.schema.json").read_text())
PLAN: dict[str, Any] = {
    "version": 1,
    "tasks": {
        "alpha": {"role": "code-writer", "files": ["pkg/alpha.py"]},
        "beta": {"role": "code-writer", "files": ["pkg/beta.py"]},
        "gamma": {"role": "code-writer", "files": ["pkg/gamma.py"], "depends_on": ["alpha"]},
    },
}


def make_plan(data: Mapping[str, Any] = PLAN) -> Plan:
    plan = plan_from_dict(data, Path("delegation.yaml"))
    plan.freeze(compute_waves(plan))
    return plan


def result(
    status: str = "passed",
    tests: Mapping[str, str] | None = None,
    *,
    duration: float = 1.0,
    executed: Iterable[str] = (),
    blocked_by: str | None = None,
) -> TaskResult:
    outcomes = {t: Outcome(o) for t, o in (tests or {}).items()}
    ran = status not in ("blocked", "not-run")
    return TaskResult(
        status=Status(status),
        collected=len(outcomes),
        attempts=1 if ran else 0,
        duration=duration if ran else 0.0,
        tests=outcomes,
        executed_files=list(executed),
        blocked_by=blocked_by,
    )


def job(
    plan: Plan,
    tasks: Mapping[str, TaskResult],
    *,
    findings: Iterable[Finding] = (),
    name: str | None = None,
    started_at: float = 0.0,
    duration: float = 2.0,
    timeline: Iterable[Any] = (),
    seed: int | None = None,
    interrupted: bool = False,
    untagged: Mapping[str, str] | None = None,
    notes: Iterable[str] = (),
    tests_of: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A job's JSON report, as the plugin writes it (``report_data``): its plan section
    lists every task's tests of the collection, also those of tasks it did not run."""
    bad = (Status.FAILED, Status.BLOCKED, Status.ERROR)
    report = RunReport(
        plan=plan,
        plan_path="delegation.yaml",
        tasks=tasks,
        findings=list(findings),
        untagged=dict(untagged or {}),
        duration=duration,
        seed=seed,
        notes=list(notes),
        timeline=list(timeline),
        failed=any(r.status in bad for r in tasks.values()),
        interrupted=interrupted,
        job=name,
        started_at=started_at,
        tests_of=tests_of if tests_of is not None else _collected(plan),
    )
    return report_data(report)


def _collected(plan: Plan) -> dict[str, list[str]]:
    known = {"alpha": ALPHA, "beta": BETA, "gamma": GAMMA}
    return {
        task: sorted(known[task]) if task in known else [f"tests/test_{task}.py::t"]
        for task in plan.tasks
    }


def write(folder: Path, name: str, data: Mapping[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def combined(folder: Path) -> dict[str, Any]:
    found = read_reports([folder], slim=True)
    return combine(found.reports, skipped=len(found.skipped)).data


def row(task: str, start: float, end: float) -> dict[str, Any]:
    return {"kind": "task", "task": task, "attempt": 1, "start": start, "end": end,
            "tests": 1, "outcome": "passed"}  # fmt: skip


ALPHA = {"tests/test_a.py::test_alpha": "passed"}
BETA = {"tests/test_b.py::test_beta": "passed"}
GAMMA = {"tests/test_g.py::test_gamma": "passed"}


def three_jobs(folder: Path, **gamma: Any) -> None:
    plan = make_plan()
    write(folder, "job-a", job(plan, {"alpha": result("passed", ALPHA)}, name="job-a"))
    write(folder, "job-b", job(plan, {"beta": result("passed", BETA)}, name="job-b"))
    write(
        folder,
        "job-g",
        job(plan, {"gamma": result(gamma.get("status", "passed"), GAMMA)}, name="job-g"),
    )


# --- merging ------------------------------------------------------------------------


def test_tasks_each_from_their_job_and_the_plan_tests_merged(tmp_path: Path) -> None:
    three_jobs(tmp_path, status="failed")
    data = combined(tmp_path)
    assert {t: e["status"] for t, e in data["tasks"].items()} == {
        "alpha": "passed", "beta": "passed", "gamma": "failed",
    }  # fmt: skip
    assert data["plan"]["tasks"]["alpha"]["tests"] == ["tests/test_a.py::test_alpha"]
    assert data["plan"]["tasks"]["gamma"]["tests"] == ["tests/test_g.py::test_gamma"]
    assert data["plan"]["digest"] == plan_digest(make_plan())
    assert data["job"] is None
    assert data["summary"]["verdict"] == "failed"
    assert data["summary"]["passed"] == 2 and data["summary"]["failed"] == 1
    assert "combined 3 reports from 3 jobs" in data["notes"]
    jsonschema.validate(data, SCHEMA)


def test_all_passed_is_ok(tmp_path: Path) -> None:
    three_jobs(tmp_path)
    data = combined(tmp_path)
    assert data["summary"]["verdict"] == "ok"
    assert data["summary"]["tasks"] == 3 and data["summary"]["waves"] == 2


def test_another_plan_is_refused(tmp_path: Path) -> None:
    plan = make_plan()
    other = make_plan({**PLAN, "max_parallel": 2})
    write(tmp_path, "a", job(plan, {"alpha": result("passed", ALPHA)}))
    write(tmp_path, "b", job(other, {"beta": result("passed", BETA)}))
    found = read_reports([tmp_path], slim=True)
    with pytest.raises(ReportError) as info:
        combine(found.reports)
    message = str(info.value)
    assert message.startswith(f"refused: {tmp_path / 'b.json'} checked another plan than ")
    assert str(tmp_path / "a.json") in message
    assert plan_digest(plan) in message and plan_digest(other) in message


def test_old_report_without_digest_job_or_start_is_read(tmp_path: Path) -> None:
    plan = make_plan()
    old = job(plan, {"alpha": result("passed", ALPHA)}, started_at=50.0)
    del old["plan"]["digest"], old["job"], old["summary"]["started_at"]
    del old["summary"]["verdict"]
    path = write(tmp_path, "old", old)
    assert load_report(path)["plan"]["digest"] == plan_digest(plan)
    new = job(plan, {"beta": result("passed", BETA)}, name="new", started_at=1000.0)
    write(tmp_path, "new", new)
    data = combined(tmp_path)
    assert data["tasks"]["alpha"]["status"] == "passed"
    assert data["summary"]["started_at"] == 1000.0
    assert "gamma" in data["tasks"] and data["tasks"]["gamma"]["status"] == "not-run"
    jsonschema.validate(data, SCHEMA)


def test_a_task_in_no_report_is_not_run_and_fails_the_run(tmp_path: Path) -> None:
    plan = make_plan()
    write(tmp_path, "a", job(plan, {"alpha": result("passed", ALPHA)}))
    write(tmp_path, "b", job(plan, {"beta": result("passed", BETA)}))
    found = read_reports([tmp_path], slim=True)
    merged = combine(found.reports)
    assert merged.data["tasks"]["gamma"] == {
        "status": "not-run", "attempts": 0, "duration": 0.0, "tests": {},
        "executed_files": [],
    }  # fmt: skip
    note = "task 'gamma' is in no report: its job did not run or its report was not downloaded"
    assert merged.problems == [note]
    assert note in merged.data["notes"]
    assert merged.data["summary"]["verdict"] == "failed"


def test_many_missing_tasks_are_counted(tmp_path: Path) -> None:
    tasks = {f"t{i}": {"files": [f"pkg/t{i}.py"]} for i in range(9)}
    plan = make_plan({"version": 1, "tasks": tasks})
    write(tmp_path, "a", job(plan, {"t0": result("passed", ALPHA)}))
    merged = combine(read_reports([tmp_path]).reports)
    assert len(merged.problems) == 6
    assert merged.problems[-1].startswith("3 more tasks are in no report")


def test_which_report_is_believed() -> None:
    plan = make_plan()
    whole = job(
        plan,
        {
            "alpha": result("failed", ALPHA),
            "beta": result("passed", BETA),
            "gamma": result("not-run"),
        },
    )
    own_alpha = job(plan, {"alpha": result("passed", ALPHA)})
    retried_gamma = job(plan, {"gamma": result("passed", GAMMA)})
    failed_gamma = job(plan, {"gamma": result("failed", GAMMA)})
    chosen = ran_by([whole, own_alpha, retried_gamma, failed_gamma])
    # the job made for the task beats the whole suite's run; a run beats a not-run;
    # of two alike the worse status
    assert chosen == {"alpha": 1, "beta": 0, "gamma": 3}


def test_static_findings_once_each(tmp_path: Path) -> None:
    plan = make_plan()
    static = [
        Finding("wave-overload", "wave 1 holds 2 tasks", extra={"wave": 1}),
        Finding("wave-overload", "wave 2 holds 1 task", extra={"wave": 2}),
        Finding("file-conflict", "both claim x", task="alpha", other_task="beta", file="x.py"),
    ]
    write(tmp_path, "a", job(plan, {"alpha": result("passed", ALPHA)}, findings=static))
    write(tmp_path, "b", job(plan, {"beta": result("passed", BETA)}, findings=static))
    data = combined(tmp_path)
    assert [(f["rule"], f.get("wave")) for f in data["findings"]] == [
        ("wave-overload", 1), ("wave-overload", 2), ("file-conflict", None),
    ]  # fmt: skip
    assert data["summary"]["errors"] == 1 and data["summary"]["warnings"] == 2


def unowned(task: str, test: str) -> Finding:
    return Finding(
        "unowned-file",
        f"{test} (task '{task}') ran h() in pkg/util.py:1, a project file no task owns",
        task=task,
        test=test,
        file="pkg/util.py",
        line=1,
        extra={"function": "h"},
    )


def violation(task: str, owner: str, file: str) -> Finding:
    return Finding(
        "boundary-violation",
        f"task '{task}' ran code in {file}, owned by '{owner}'",
        task=task,
        other_task=owner,
        test=f"tests/test_{task}.py::test_{task}",
        file=file,
        line=1,
        extra={"via": "run", "function": "f"},
    )


def test_boundary_findings_across_jobs(tmp_path: Path) -> None:
    plan = make_plan()
    a = {"alpha": result("passed", ALPHA, executed=["pkg/alpha.py", "pkg/util.py"])}
    b = {"beta": result("passed", BETA, executed=["pkg/alpha.py", "pkg/util.py"])}
    # file names sort b before a: the finding kept is still the one of task alpha
    write(
        tmp_path,
        "2-a",
        job(plan, a, findings=[unowned("alpha", "tests/test_a.py::test_alpha")]),
    )
    write(
        tmp_path,
        "1-b",
        job(
            plan,
            b,
            findings=[
                violation("beta", "alpha", "pkg/alpha.py"),
                unowned("beta", "tests/test_b.py::test_beta"),
            ],
        ),
    )
    # a re-run of beta's job reports its violation again
    write(tmp_path, "3-b", job(plan, b, findings=[violation("beta", "alpha", "pkg/alpha.py")]))
    data = combined(tmp_path)
    rules = [(f["rule"], f["task"], f["file"]) for f in data["findings"]]
    assert rules == [
        ("boundary-violation", "beta", "pkg/alpha.py"),
        ("unowned-file", "alpha", "pkg/util.py"),
    ]


def test_timeline_has_a_lane_per_job_on_one_clock(tmp_path: Path) -> None:
    plan = make_plan()
    write(
        tmp_path,
        "a",
        job(plan, {"alpha": result()}, name="wave-1", started_at=1000.0, duration=5.0,
            timeline=[row("alpha", 1.0, 4.0)]),
    )  # fmt: skip
    write(
        tmp_path,
        "g",
        job(plan, {"gamma": result()}, started_at=1010.0, duration=3.0,
            timeline=[row("gamma", 0.5, 2.0)]),
    )  # fmt: skip
    write(
        tmp_path,
        "b",
        job(plan, {"beta": result()}, name="wave-1b", started_at=1002.0, duration=2.0,
            timeline=[row("beta", 0.25, 1.0)]),
    )  # fmt: skip
    data = combined(tmp_path)
    lanes = [(r["job"], r["task"], r["start"], r["end"]) for r in data["timeline"]]
    assert lanes == [
        ("wave-1", "alpha", 1.0, 4.0),
        ("wave-1b", "beta", 2.25, 3.0),
        ("g", "gamma", 10.5, 12.0),
    ]
    assert data["summary"]["started_at"] == 1000.0
    assert data["summary"]["duration"] == 13.0  # from the first start to the last end
    jsonschema.validate(data, SCHEMA)


def test_summary_seed_untagged_notes_and_interrupted(tmp_path: Path) -> None:
    plan = make_plan()
    write(
        tmp_path,
        "a",
        job(plan, {"alpha": result()}, untagged={"tests/t.py::u": "not-run"}, notes=["n1"]),
    )
    write(
        tmp_path,
        "order-check",
        job(plan, {}, name="order-check", seed=42, untagged={"tests/t.py::u": "passed"},
            notes=["n1", "n2"]),
    )  # fmt: skip
    write(tmp_path, "z", job(plan, {"beta": result(), "gamma": result()}, interrupted=True))
    data = combined(tmp_path)
    assert data["summary"]["seed"] == 42
    assert data["untagged"] == {"tests/t.py::u": "passed"}
    assert data["notes"][:2] == ["n1", "n2"]
    assert data["summary"]["verdict"] == "interrupted"


def test_a_failed_job_verdict_fails_the_run(tmp_path: Path) -> None:
    """A job that failed on a finding (its --delegation-fail-on) fails the whole run."""
    three_jobs(tmp_path)
    path = tmp_path / "job-b.json"
    data = json.loads(path.read_text())
    data["summary"]["verdict"] = "failed"
    path.write_text(json.dumps(data))
    assert combined(tmp_path)["summary"]["verdict"] == "failed"


def test_durations_of_the_tasks_that_ran(tmp_path: Path) -> None:
    plan = make_plan()
    write(tmp_path, "a", job(plan, {"alpha": result(duration=1.25)}))
    write(tmp_path, "b", job(plan, {"beta": result("failed", duration=2.5)}))
    write(tmp_path, "g", job(plan, {"gamma": result("blocked", blocked_by="alpha")}))
    assert durations(combined(tmp_path)) == {"alpha": 1.25, "beta": 2.5}


def test_folders_skip_json_that_is_no_report_but_a_named_file_must_be_one(
    tmp_path: Path,
) -> None:
    three_jobs(tmp_path / "reports")
    (tmp_path / "reports/nested").mkdir()
    (tmp_path / "reports/nested/package.json").write_text('{"name": "x"}')
    found = read_reports([tmp_path / "reports"])
    assert len(found.reports) == 3
    assert found.skipped == [tmp_path / "reports/nested/package.json"]
    merged = combine(found.reports, skipped=len(found.skipped))
    assert "skipped 1 JSON file that is not a delegation report" in merged.data["notes"]
    with pytest.raises(ReportError, match=r"package\.json is not a delegation report"):
        read_reports([tmp_path / "reports/nested/package.json"])
    with pytest.raises(ReportError, match="missing does not exist"):
        read_reports([tmp_path / "missing"])


def test_bad_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "version": 1,\n  "plan": {,\n}\n')
    with pytest.raises(ReportError, match=r"bad\.json:3: not valid JSON"):
        load_report(path)


def test_another_report_version_is_refused(tmp_path: Path) -> None:
    data = job(make_plan(), {"alpha": result()})
    path = write(tmp_path, "v2", {**data, "version": 2})
    with pytest.raises(ReportError, match="written by another version of pytest-delegation"):
        load_report(path)


# --- the report read back --------------------------------------------------------------


def test_report_from_data_round_trips() -> None:
    plan = make_plan({**PLAN, "shared": ["pkg/__init__.py"], "max_parallel": 2})
    tasks = {
        "alpha": result("failed", {"t.py::a": "failed", "t.py::b": "xfailed"}, executed=["x"]),
        "beta": result("flaky", {"t.py::c": "passed"}),
        "gamma": result("blocked", {"t.py::d": "not-run"}, blocked_by="alpha"),
    }
    tasks["beta"].error = "worker crashed once"
    findings = [
        Finding("wave-overload", "wave 1 holds 2", extra={"wave": 1}),
        Finding(
            "hidden-ordering-dependency",
            "fails after x",
            fix="restore",
            task="alpha",
            test="t.py::a",
            extra={
                "kind": "victim",
                "culprit_test": ["t.py::c"],
                "culprit_task": "beta",
                "declared_dependency": False,
                "bisect_runs": 3,
                "reproduce": "python -m pytest",
            },
        ),
        Finding("a-rule-of-a-newer-version", "something", severity="warning", file="f.py"),
    ]
    report = RunReport(
        plan=plan,
        plan_path="delegation.yaml",
        tasks=tasks,
        findings=findings,
        untagged={"t.py::u": "passed"},
        duration=12.5,
        seed=7,
        notes=["a note"],
        timeline=[row("alpha", 0.0, 1.0)],  # type: ignore[list-item]
        failed=True,
        job="wave-1",
        started_at=1234.5,
    )
    data = report_data(report)
    back = report_from_data(data, mode="combined from 1 job")
    assert back.plan.waves == plan.waves and back.plan.max_parallel == 2
    assert back.mode == "combined from 1 job"
    assert back.checks == ("isolation", "order", "boundaries")
    again = report_data(back)
    for key in ("plan", "tasks", "findings", "summary", "untagged", "notes", "timeline", "job"):
        assert again[key] == data[key], key


def test_report_from_data_keeps_the_waves_as_written() -> None:
    data = job(make_plan(), {"alpha": result()})
    data["plan"]["waves"] = [["alpha", "beta", "gamma"]]
    assert report_from_data(data).plan.waves == (("alpha", "beta", "gamma"),)


# --- junit -----------------------------------------------------------------------------


def test_junit_files_merged(tmp_path: Path) -> None:
    one = tmp_path / "a.xml"
    one.write_text(
        '<?xml version="1.0"?><testsuites name="pytest tests"><testsuite name="pytest" '
        'tests="2" failures="1" errors="0" skipped="0" time="1.5">'
        '<testcase name="a"/><testcase name="b"><failure message="x"/></testcase>'
        "</testsuite></testsuites>"
    )
    two = tmp_path / "b.xml"
    two.write_text(
        '<testsuite name="other" time="0.5"><testcase name="c"><skipped/></testcase>'
        '<testcase name="d"><error/></testcase><testcase name="e"/></testsuite>'
    )
    coverage = tmp_path / "coverage.xml"
    coverage.write_text('<coverage version="7"/>')
    skipped: list[Path] = []
    dest = tmp_path / "out/junit.xml"
    assert merge_junit([one, two, coverage], dest, skipped=skipped) == 5
    assert skipped == [coverage]
    import xml.etree.ElementTree as ET

    root = ET.parse(dest).getroot()
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root] == ["pytest", "other"]
    attrs = {k: root.get(k) for k in ("tests", "failures", "errors", "skipped", "time")}
    assert attrs == {"tests": "5", "failures": "1", "errors": "1", "skipped": "1", "time": "2.000"}


def test_malformed_junit_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuite>\n<testcase>\n</testsuite>\n")
    with pytest.raises(ReportError, match=r"bad\.xml:3: not well-formed XML"):
        merge_junit([bad], tmp_path / "out.xml")
    assert not (tmp_path / "out.xml").exists()


# --- the command line ------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return tmp_path


def test_cli_writes_every_format_and_exits_with_the_verdict(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three_jobs(in_tmp / "up", status="failed")
    status = cli.main(
        ["combine", "up", "--report=json:out/r.json", "--report=markdown:out/r.md",
         "--report=html:out/r.html", "--report=term"]
    )  # fmt: skip
    assert status == 1
    out = capsys.readouterr().out
    assert "json report: out/r.json" in out
    assert "mode: combined from 3 jobs; checked: isolation" in out
    assert "delegation FAILED: tasks 2 passed, 1 failed; 0 errors, 0 warnings" in out
    assert "\x1b[" not in out
    data = json.loads((in_tmp / "out/r.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert (in_tmp / "out/r.md").read_text().startswith("## Delegation report: ❌ FAILED")
    assert "<html" in (in_tmp / "out/r.html").read_text()
    assert not (in_tmp / ".pytest_cache").exists()


def test_cli_ok_quiet_colour_and_an_output_is_not_an_input(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three_jobs(in_tmp)
    assert cli.main(["combine", ".", "--report=json:merged.json"]) == 0
    assert "json report: merged.json" in capsys.readouterr().out
    # the merged report is not read as a fourth job's
    assert cli.main(["combine", ".", "-q", "--color=yes", "--report=json:merged.json",
                     "--report=term"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "\x1b[" in out
    assert "combined 3 reports" in json.loads((in_tmp / "merged.json").read_text())["notes"][0]
    assert out.splitlines()[-1].endswith(
        "delegation OK: tasks 3 passed; 0 errors, 0 warnings\x1b[0m"
    )


def test_cli_interrupted_exits_2(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = make_plan()
    write(in_tmp, "a", job(plan, {"alpha": result(), "beta": result()}, interrupted=True))
    write(in_tmp, "b", job(plan, {"gamma": result()}))
    assert cli.main(["combine", "a.json", "b.json", "-q"]) == 2
    assert "delegation INTERRUPTED" in capsys.readouterr().out


def test_cli_merges_junit_and_saves_durations(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three_jobs(in_tmp / "up")
    (in_tmp / "up/job-a.xml").write_text('<testsuite tests="1"><testcase name="a"/></testsuite>')
    (in_tmp / "up/job-b.xml").write_text('<testsuite tests="1"><testcase name="b"/></testsuite>')
    cache = in_tmp / ".pytest_cache/v/delegation/durations"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"old-task": 9.0, "alpha": 5.0}))
    assert cli.main(["combine", "up", "--junitxml=junit.xml", "-q"]) == 0
    out = capsys.readouterr().out
    assert "junit XML: 2 test cases from 2 files in junit.xml" in out
    assert "durations of 3 tasks saved in .pytest_cache" in out
    assert json.loads(cache.read_text()) == {"old-task": 9.0, "alpha": 1.0, "beta": 1.0,
                                             "gamma": 1.0}  # fmt: skip
    assert (in_tmp / "junit.xml").read_text().count("<testcase") == 2


def test_cli_usage_errors_exit_4(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    three_jobs(in_tmp)
    assert cli.main(["combine", ".", "--report=pdf"]) == 4
    assert "argument --report: unknown report type 'pdf'" in capsys.readouterr().err
    assert cli.main(["combine", ".", "--report=json:x.json", "--report=markdown:x.json"]) == 4
    assert "give each format its own file" in capsys.readouterr().err
    assert cli.main(["combine"]) == 4
    assert cli.main(["frobnicate"]) == 4
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert cli.main(["combine", "--help"]) == 0
    assert "--junitxml PATH" in capsys.readouterr().out
    (in_tmp / "empty").mkdir()
    assert cli.main(["combine", "empty"]) == 4
    assert "error: no delegation report in empty" in capsys.readouterr().err


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_delegation", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_refused_reports_say_why_without_a_traceback(tmp_path: Path) -> None:
    plan = make_plan()
    write(tmp_path / "up", "a", job(plan, {"alpha": result()}))
    (tmp_path / "up/b.json").write_text('{\n  "version": 1,\n  "plan": [\n')
    done = run_cli("combine", "up", cwd=tmp_path)
    assert done.returncode == 4
    assert done.stderr.startswith("pytest-delegation combine: error: up/b.json:4: not valid JSON")
    assert "Traceback" not in done.stderr and done.stdout == ""

    (tmp_path / "up/b.json").unlink()
    write(tmp_path / "up", "b", job(make_plan({**PLAN, "shared": ["x"]}), {"beta": result()}))
    done = run_cli("combine", "up", cwd=tmp_path)
    assert done.returncode == 4
    assert "error: refused: up/b.json checked another plan than up/a.json" in done.stderr
    assert "Traceback" not in done.stderr

    done = run_cli("combine", "nowhere", cwd=tmp_path)
    assert (done.returncode, "Traceback" in done.stderr) == (4, False)
    assert "error: nowhere does not exist" in done.stderr

    done = run_cli("--help", cwd=tmp_path)
    assert done.returncode == 0 and "combine" in done.stdout


# --- end to end ------------------------------------------------------------------------

E2E_PLAN = """\
version: 1
tasks:
  alpha:
    role: code-writer
    files: [pkg/alpha.py]
  beta:
    role: code-writer
    files: [pkg/beta.py]
"""

E2E_TESTS = """\
import pytest
from pkg import alpha, beta, util

@pytest.mark.task("alpha")
def test_alpha():
    assert alpha.f() == util.h() == 1

@pytest.mark.task("beta")
def test_beta():
    assert beta.g() == alpha.f() + util.h() + 1
"""


@pytest.fixture
def tiny(pytester: pytest.Pytester) -> pytest.Pytester:
    """Two tasks; beta's test runs alpha's code and a file no task owns."""
    pytester.makefile(".yaml", delegation=E2E_PLAN)
    pytester.makeini("[pytest]\n")
    pkg = pytester.mkpydir("pkg")
    (pkg / "alpha.py").write_text("def f():\n    return 1\n")
    (pkg / "beta.py").write_text("def g():\n    return 3\n")
    (pkg / "util.py").write_text("def h():\n    return 1\n")
    pytester.makepyfile(test_tiny=E2E_TESTS)
    return pytester


def test_combine_of_one_real_report_is_that_report(
    tiny: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny.runpytest_subprocess("--delegation-report=json:r.json")
    original = json.loads((tiny.path / "r.json").read_text())
    status = cli.main(["combine", "r.json", "--report=json:combined.json", "-q"])
    capsys.readouterr()
    assert original["summary"]["verdict"] == "failed"  # the boundary violation
    assert status == 1
    data = json.loads((tiny.path / "combined.json").read_text())
    assert data["tasks"] == original["tasks"]
    assert data["findings"] == original["findings"]
    assert {f["rule"] for f in data["findings"]} == {"boundary-violation", "unowned-file"}
    assert data["summary"]["verdict"] == original["summary"]["verdict"]


def test_combine_of_a_job_per_task_equals_one_run(
    tiny: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny.runpytest_subprocess("--delegation-report=json:whole.json")
    for task in ("alpha", "beta"):
        monkeypatch.setenv("PYTEST_DELEGATION_JOB", f"job-{task}")
        tiny.runpytest_subprocess(
            f"--delegation-task={task}",
            f"--delegation-report=json:jobs/job-{task}.json",
            f"--junitxml=jobs/job-{task}.xml",
        )
    status = cli.main(["combine", "jobs", "--report=json:combined.json", "--junitxml=j.xml"])
    out = capsys.readouterr().out
    whole = json.loads((tiny.path / "whole.json").read_text())
    data = json.loads((tiny.path / "combined.json").read_text())
    assert status == (1 if whole["summary"]["verdict"] == "failed" else 0)
    assert {t: e["status"] for t, e in data["tasks"].items()} == {
        t: e["status"] for t, e in whole["tasks"].items()
    }
    assert {t: e["tests"] for t, e in data["tasks"].items()} == {
        t: e["tests"] for t, e in whole["tasks"].items()
    }

    def where(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((f["rule"], f.get("task"), f.get("file")) for f in findings)

    assert where(data["findings"]) == where(whole["findings"])
    assert {r["job"] for r in data["timeline"]} == {"job-alpha", "job-beta"}
    assert "junit XML: 2 test cases from 2 files in j.xml" in out


def test_a_task_without_tests_ran_in_no_job_and_is_not_missing(tmp_path: Path) -> None:
    # gamma has no tests in the whole collection: no job runs it, as no worker runs it on
    # one machine; only a task with tests and no report is missing
    collected = {"alpha": sorted(ALPHA), "beta": sorted(BETA), "gamma": []}
    plan = make_plan()
    write(tmp_path, "a", job(plan, {"alpha": result("passed", ALPHA)}, tests_of=collected))
    write(tmp_path, "b", job(plan, {"beta": result("passed", BETA)}, tests_of=collected))
    merged = combine(read_reports([tmp_path]).reports)
    assert merged.problems == []
    assert merged.data["tasks"]["gamma"]["status"] == "not-run"
    assert merged.data["summary"]["verdict"] == "ok"
