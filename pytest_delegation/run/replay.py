"""Turning a worker's JSON lines back into pytest reports, and reports for tests no worker ran.

JSON loses tuples: ``location``, a skip's ``longrepr`` and ``sections`` must be tuples
again before ``pytest_report_from_serializable``, or junitxml and the terminal trip over
them (pytest-xdist gets tuples for free from execnet).
"""

from __future__ import annotations

from typing import Any

import pytest


Location = tuple[str, "int | None", str]


def detuple(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if isinstance(data.get("location"), list):
        data["location"] = tuple(data["location"])
    if isinstance(data.get("longrepr"), list):
        data["longrepr"] = tuple(data["longrepr"])
    if isinstance(data.get("sections"), list):
        data["sections"] = [tuple(section) for section in data["sections"]]
    if isinstance(data.get("user_properties"), list):
        data["user_properties"] = [tuple(p) for p in data["user_properties"]]
    return data


def from_worker(
    config: pytest.Config, data: dict[str, Any]
) -> pytest.TestReport | pytest.CollectReport:
    report = config.hook.pytest_report_from_serializable(config=config, data=detuple(data))
    if report is None:  # pragma: no cover - pytest's own implementation always answers
        raise ValueError(f"unreadable report from a worker: {data.get('$report_type')}")
    return report  # type: ignore[no-any-return]


def synthetic(
    nodeid: str,
    location: Location,
    outcome: str,
    message: str,
    when: str = "setup",
) -> pytest.TestReport:
    """A report for a test no worker could report on: blocked, or lost in a crash."""
    longrepr: object
    if outcome == "skipped":
        longrepr = (location[0], (location[1] or 0) + 1, f"Skipped: {message}")
    else:
        longrepr = message
    return pytest.TestReport(
        nodeid=nodeid,
        location=location,
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,  # type: ignore[arg-type,unused-ignore]
        when=when,  # type: ignore[arg-type]
        sections=[],
        duration=0.0,
    )


def replay_test(
    config: pytest.Config,
    nodeid: str,
    location: Location,
    reports: list[pytest.TestReport],
) -> None:
    """Feed one test's reports through the hooks a plain run calls, exactly once."""
    config.hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
    for report in reports:
        config.hook.pytest_runtest_logreport(report=report)
    config.hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
