"""The verdict of a run and the one RunReport every output format renders."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.findings import fails
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import Results
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TimelineRow


def build_report(
    plan: Plan,
    plan_path: str,
    results: Results,
    findings: list[Finding],
    *,
    duration: float,
    mode: str,
    checks: tuple[str, ...],
    skipped_checks: tuple[str, ...],
    collect_only: bool,
    notes: list[str],
    timeline: list[TimelineRow],
    seed: int | None,
    tests_failed: int,
    fail_on: str,
    interrupted: bool = False,
    unfinished: tuple[str, ...] = (),
    job: str | None = None,
    started_at: float = 0.0,
    tests_of: Mapping[str, list[str]] | None = None,
) -> RunReport:
    """The report, failed when a task did, a test did, or a finding fails the run."""
    report = RunReport(
        plan=plan,
        plan_path=plan_path,
        tasks=results.tasks,
        findings=findings,
        untagged=results.untagged,
        duration=duration,
        mode=mode,
        checks=checks,
        skipped_checks=skipped_checks,
        collect_only=collect_only,
        notes=notes,
        timeline=timeline,
        seed=seed,
        interrupted=interrupted,
        unfinished=unfinished,
        job=job,
        started_at=started_at,
        tests_of=tests_of or {},
    )
    report.failed = results.failed() or tests_failed > 0 or fails(findings, fail_on)
    return report


def exit_status(report: RunReport, current: int | pytest.ExitCode) -> int | pytest.ExitCode:
    """A failed verdict fails a session that pytest alone would call a success."""
    if report.failed and current in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return pytest.ExitCode.TESTS_FAILED
    return current


def write_reports(
    report: RunReport,
    destinations: Sequence[tuple[str, str | None]],
    base: object,
    stdout: list[str] | None = None,
) -> list[str]:
    """Every file report, each written atomically: a complete file or the old one.

    One that cannot be written (a full disk, a folder removed meanwhile) is named in the
    returned problems; the others are still written, and the run goes on to its end. A
    report for standard output (``-``) is appended to `stdout` for the caller to print.
    """
    from pathlib import Path

    from pytest_delegation.report.data import report_data
    from pytest_delegation.report.files import STDOUT
    from pytest_delegation.report.files import write_atomic

    files = [(kind, dest) for kind, dest in destinations if dest]
    if not files:
        return []
    problems = []
    data = report_data(report)
    for kind, dest in files:
        path = Path(str(base)) / dest
        text = render_file(kind, data)
        if dest == STDOUT:
            if stdout is not None:
                stdout.append(text)
            continue
        try:
            write_atomic(path, text)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            problems.append(f"the {kind} report could not be written to {path}: {reason}")
    return problems


def render_file(kind: str, data: dict[str, Any]) -> str:
    """A file report's text from the JSON data: json, markdown or html."""
    if kind == "json":
        import json

        return json.dumps(data, indent=2, default=str) + "\n"
    if kind == "markdown":
        from pytest_delegation.report.markdown import render_markdown

        return render_markdown(data)
    from pytest_delegation.report.html import render_html

    return render_html(data)
