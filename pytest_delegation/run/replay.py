"""Worker reports back through pytest's hooks, and reports for tests no worker ran.

A test's reports are replayed once, when its task's last attempt has told its outcome,
so the terminal, junitxml and every other plugin see each test exactly once, live.

JSON loses tuples: ``location``, a skip's ``longrepr`` and ``sections`` must be tuples
again before ``pytest_report_from_serializable``, or junitxml and the terminal trip over
them (pytest-xdist gets tuples for free from execnet).
"""

from __future__ import annotations

from typing import Any
import warnings

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


class Replayer:
    """The controller's pytest side of the worker runs: reports, warnings, -x."""

    def __init__(self, session: pytest.Session) -> None:
        self.session = session
        self.config = session.config
        self.replayed: set[str] = set()
        #: warnings already shown: every worker reads the same ini and conftests, and
        #: a warning they all raise (an unknown ini key) is shown once
        self.warned: set[tuple[str, ...]] = set()

    def report(self, data: dict[str, Any]) -> pytest.TestReport | pytest.CollectReport:
        return from_worker(self.config, data)

    def replay(self, nodeid: str, location: Location, reports: list[pytest.TestReport]) -> None:
        if nodeid in self.replayed:
            return
        self.replayed.add(nodeid)
        replay_test(self.config, nodeid, location, reports)

    def warning(self, event: dict[str, Any]) -> None:
        key = tuple(
            str(event.get(k)) for k in ("category", "message", "filename", "lineno", "nodeid")
        )
        if key in self.warned:
            return
        self.warned.add(key)
        category = _warning_category(str(event.get("category")))
        message = warnings.WarningMessage(
            category(str(event.get("message"))),
            category,
            str(event.get("filename")),
            int(event.get("lineno") or 0),
        )
        self.config.hook.pytest_warning_recorded.call_historic(
            kwargs=dict(
                warning_message=message,
                when=event.get("when", "runtest"),
                nodeid=event.get("nodeid", ""),
                location=None,
            )
        )

    def stopping(self) -> bool:
        """-x or --maxfail was reached by a replayed report (pytest's own counting)."""
        return bool(self.session.shouldfail or self.session.shouldstop)


def _warning_category(name: str) -> type[Warning]:
    import builtins

    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    if name == "PytestWarning" or name.startswith("Pytest"):
        found = getattr(pytest, name, None)
        if isinstance(found, type) and issubclass(found, Warning):
            return found
    return UserWarning
