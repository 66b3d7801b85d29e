"""The worker side: loaded with ``-p pytest_delegation.worker.plugin`` in each worker process.

It runs an explicit, ordered list of node ids and streams every report, serialized with
pytest's own ``pytest_report_to_serializable``, as JSON lines to a pipe the controller
reads. It imports nothing but the ``worker`` package, so a worker starts as cheaply as pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

import pytest

from pytest_delegation.worker.keeper import Keeper
from pytest_delegation.worker.snapshot import diff_state
from pytest_delegation.worker.snapshot import state
from pytest_delegation.worker.tracker import Tracker


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--delegation-child", dest="delegation_child", help=argparse.SUPPRESS)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    spec_path = config.getoption("delegation_child", None)
    if spec_path:
        with open(spec_path, encoding="utf-8") as handle:
            spec = json.load(handle)
        _die_with_controller(spec.get("controller"))
        config.pluginmanager.register(Child(config, spec), "delegation-child")


def _die_with_controller(controller: int | None) -> None:
    """On Linux, ask the kernel to kill this worker if the controller dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux") or controller is None:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != controller:  # it died before the request took effect
        os._exit(1)


class Child:
    def __init__(self, config: pytest.Config, spec: dict[str, Any]) -> None:
        self.config = config
        # a forked worker got the report pipe under another number (see forkserver.py)
        forked = os.environ.pop("PYTEST_DELEGATION_FD", None)
        self.fd: int = int(forked) if forked else spec["fd"]
        self.ids: list[str] = spec["ids"]
        self.tracker = Tracker(str(config.rootpath)) if spec.get("boundaries") else None
        # order-check runs want outcomes only, not full reports, and maybe state diffs
        self.brief: bool = bool(spec.get("brief"))
        snap = spec.get("snapshot")
        self.snapshot: set[str] | bool = set(snap) if isinstance(snap, list) else bool(snap)
        self.prefix = str(config.rootpath).rstrip(os.sep) + os.sep
        self.last: dict[str, object] | None = None  # the snapshot after the last test
        # the order check's "sticky" runs keep what these tests change for every later test
        self.sticky = set(spec.get("sticky") or ())
        self.keeper = Keeper(self.prefix)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        # only code run by a test's setup, call and teardown counts, never module import
        watch = self.snapshot is True or (
            isinstance(self.snapshot, set) and item.nodeid in self.snapshot
        )
        if self.keeper.apply():
            self.last = None  # the kept state came back: the last snapshot is stale
        # the state after one watched test is the state before the next one
        before = (self.last or state(self.prefix)) if watch else None
        self.last = None
        if self.tracker is not None:
            self.tracker.start(item.nodeid)
        try:
            return (yield)
        finally:
            if self.tracker is not None:
                self.tracker.stop()
            if before is not None:
                self.last = state(self.prefix)
                changed = diff_state(before, self.last)
                if changed:
                    self.send("state", nodeid=item.nodeid, changed=changed)
                    if item.nodeid in self.sticky:
                        self.keeper.keep(changed)

    def send(self, event: str, **data: object) -> None:
        line = json.dumps({"event": event, **data}, default=str).encode() + b"\n"
        view = memoryview(line)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        by_id = {item.nodeid: item for item in items}
        wanted = [by_id[nodeid] for nodeid in self.ids if nodeid in by_id]
        chosen = {id(item) for item in wanted}
        dropped = [item for item in items if id(item) not in chosen]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = wanted
        self.send("collected", missing=[nodeid for nodeid in self.ids if nodeid not in by_id])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            data = self.config.hook.pytest_report_to_serializable(
                config=self.config, report=report
            )
            self.send("collectreport", data=data)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send("logstart", nodeid=nodeid, location=location)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.brief:
            self.send(
                "outcome",
                nodeid=report.nodeid,
                when=report.when,
                outcome=report.outcome,
                wasxfail=hasattr(report, "wasxfail"),
            )
            return
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        self.send("report", data=data)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send("logfinish", nodeid=nodeid)

    def pytest_warning_recorded(self, warning_message: Any, when: str, nodeid: str) -> None:
        self.send(
            "warning",
            nodeid=nodeid,
            when=when,
            message=str(warning_message.message),
            category=warning_message.category.__name__,
            filename=warning_message.filename,
            lineno=warning_message.lineno,
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        if self.tracker is not None:
            self.send("executed", files=self.tracker.files, measured=self.tracker.measured)
        self.send("finished", exitstatus=int(exitstatus))
