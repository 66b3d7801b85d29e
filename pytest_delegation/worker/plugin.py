"""The worker side: loaded with ``-p pytest_delegation.worker.plugin`` in each worker process.

The controller starts every worker as ``python -m pytest`` with ``--delegation-child=PATH``,
a JSON `protocol.WorkerSpec`: the pipe to write to, the node ids to run, and what to
measure. The worker runs exactly those ids, in that order (the others are deselected),
and streams everything that happens as `protocol` events through a `channel.Channel`:
every report, serialized with pytest's own ``pytest_report_to_serializable``, or in the
order check's brief runs only each phase's outcome, plus warnings, shared-state changes
(`snapshot`), kept pollution (`keeper`) and where the tests ran project code (`tracker`).
It imports nothing but the ``worker`` package, the standard library and pytest, so a
worker starts as cheaply as pytest does.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import signal
import sys
import time
from typing import Any
from typing import Literal
import warnings

import pytest

from pytest_delegation.worker import foreign
from pytest_delegation.worker import protocol
from pytest_delegation.worker.channel import Channel
from pytest_delegation.worker.keeper import Keeper
from pytest_delegation.worker.snapshot import diff_state
from pytest_delegation.worker.snapshot import left_values
from pytest_delegation.worker.snapshot import state
from pytest_delegation.worker.tracker import Tracker


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--delegation-child", dest="delegation_child", help=argparse.SUPPRESS)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    spec_path = config.getoption("delegation_child", None)
    if spec_path:
        with open(spec_path, encoding="utf-8") as handle:
            spec: protocol.WorkerSpec = json.load(handle)
        _die_with_controller(spec.get("controller"))
        config.pluginmanager.register(Child(config, spec), "delegation-child")


def _die_with_controller(controller: int | None) -> None:
    """On Linux, ask the kernel to kill this worker if the controller dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux") or controller is None:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        # PR_SET_PDEATHSIG
        libc.prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    # the controller died before the request took effect
    if os.getppid() != controller:
        os._exit(1)


class Child:
    """The worker's plugin: runs the spec's ids and reports on them through the channel."""

    def __init__(self, config: pytest.Config, spec: protocol.WorkerSpec) -> None:
        self.config = config
        #: where every event goes: the pipe to the controller
        self.channel = Channel.from_spec(spec)
        #: the node ids to run, in this order
        self.ids: list[str] = spec["ids"]
        #: records where the tests run project code; None unless the run checks boundaries
        self.tracker = (
            Tracker(str(config.rootpath), spec.get("probe_cache"))
            if spec.get("boundaries")
            else None
        )
        #: the order check's runs want outcomes only, not full reports
        self.brief: bool = bool(spec.get("brief"))
        snap = spec.get("snapshot")
        #: the tests to snapshot shared state around, or True for every test
        self.snapshot: set[str] | bool = set(snap) if isinstance(snap, list) else bool(snap)
        #: rootdir with a trailing separator: the project's files start with it
        self.prefix = str(config.rootpath).rstrip(os.sep) + os.sep
        #: the snapshot taken after the last test, while it is still the current state
        self.last: dict[str, object] | None = None
        #: the order check's "sticky" runs keep what these tests change for every later test
        self.sticky = set(spec.get("sticky") or ())
        self.keeper = Keeper(self.prefix)
        #: parametrized spec ids -> their position among their function's tests
        self.positions: dict[str, int] = dict(spec.get("positions") or {})
        #: this worker's id -> the spec's, for tests whose ids differ between collections
        self.theirs: dict[str, str] = {}
        #: the second items of tests run twice (`protocol.AGAIN`), and whether one runs
        self.twins: set[int] = set()
        self.again = False
        only = spec.get("only") or ()
        #: the files to collect, and every folder above them; None: collect what is given
        self.only: frozenset[str] | None = frozenset(only) if only else None
        self.above: frozenset[str] = frozenset(
            str(parent) for file in only for parent in Path(file).parents
        )
        #: the modules of the collected tests (a snapshot leaves out all but the test's
        #: own), and the module of the test `last` was taken after
        self.test_modules: frozenset[str] = frozenset()
        self.last_module = ""
        #: test files being collected -> the modules imported before, in snapshot runs
        self.collecting: dict[str, set[str]] = {}
        #: collectors being collected -> when they started; test file -> seconds spent
        self.collect_started: dict[str, float] = {}
        self.collect_seconds: dict[str, float] = {}
        #: test file -> the project modules importing it imported, told with its first
        #: watched test: a victim may lean on what a test module imports (a submodule it
        #: reaches as an attribute), and the tests of that module are where it comes from
        self.imported_by: dict[str, list[str]] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        """Snapshot and track around the test's setup, call and teardown, not its import."""
        self.again = id(item) in self.twins
        theirs = self._id(item.nodeid)
        watch = self.snapshot is True or (
            isinstance(self.snapshot, set) and theirs in self.snapshot
        )
        if self.keeper.apply():
            # the kept state came back: the last snapshot is stale
            self.last = None
        # the state after one watched test is the state before the next one, when it
        # is of the same module (the snapshot leaves out the other test modules)
        module = getattr(getattr(item, "module", None), "__name__", "") if watch else ""
        if module != self.last_module:
            self.last = None
        before = (self.last or state(self.prefix, self.test_modules, module)) if watch else None
        self.last = None
        self.last_module = module
        if self.tracker is not None:
            self.tracker.start(theirs)
        try:
            return (yield)
        finally:
            if self.tracker is not None:
                self.tracker.stop()
            if before is not None:
                self.last = state(self.prefix, self.test_modules, module)
                changed = diff_state(before, self.last)
                changed = self.imported_by.pop(item.nodeid.split("::", 1)[0], []) + changed
                if changed:
                    self.channel.send(
                        protocol.State(
                            event=protocol.STATE,
                            nodeid=theirs,
                            changed=changed,
                            values=left_values(self.last, changed),
                            before=left_values(before, changed),
                        )
                    )
                    if theirs in self.sticky:
                        self.keeper.keep(changed)
            self.again = False

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        by_id = {item.nodeid: item for item in items}
        self.test_modules = frozenset(
            name
            for name in {getattr(getattr(item, "module", None), "__name__", "") for item in items}
            if name
        )
        found = self._renamed(items, by_id)
        for nodeid in self.ids:
            if nodeid.endswith(protocol.AGAIN):
                first = nodeid.removesuffix(protocol.AGAIN)
                twin = _twin(by_id.get(first) or found.get(first))
                if twin is not None:
                    by_id[nodeid] = twin
                    self.twins.add(id(twin))
        wanted = [
            by_id.get(nodeid) or found[nodeid]
            for nodeid in self.ids
            if nodeid in by_id or nodeid in found
        ]
        chosen = {id(item) for item in wanted}
        dropped = [item for item in items if id(item) not in chosen]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = wanted
        missing = [nodeid for nodeid in self.ids if nodeid not in by_id and nodeid not in found]
        self.theirs = {item.nodeid: nodeid for nodeid, item in found.items()}
        self.channel.send(
            protocol.Collected(
                event=protocol.COLLECTED,
                missing=missing,
                renamed={nodeid: item.nodeid for nodeid, item in found.items()},
                seconds={f: round(s, 4) for f, s in self.collect_seconds.items()},
            )
        )

    def _renamed(
        self, items: list[pytest.Item], by_id: dict[str, pytest.Item]
    ) -> dict[str, pytest.Item]:
        """Spec ids this collection lacks, found by their position among their function's
        parametrized tests: ids built at collection time (a date) differ, positions not."""
        lost = [n for n in self.ids if n not in by_id and n in self.positions]
        if not lost:
            return {}
        taken = set(self.ids)
        siblings: dict[str, list[pytest.Item]] = {}
        for item in items:
            base, bracket, _ = item.nodeid.partition("[")
            if bracket:
                siblings.setdefault(base, []).append(item)
        found = {}
        for nodeid in lost:
            family = siblings.get(nodeid.partition("[")[0], [])
            position = self.positions[nodeid]
            if position < len(family) and family[position].nodeid not in taken:
                found[nodeid] = family[position]
        return found

    def _id(self, nodeid: str) -> str:
        """The id the controller knows this test by."""
        known = self.theirs.get(nodeid, nodeid)
        return known + protocol.AGAIN if self.again else known

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Walking a task's folders, skip what holds none of its files (see `only`)."""
        if self.only is None:
            return None
        path = str(collection_path)
        if path in self.only or path in self.above:
            return None
        return True

    def pytest_collectstart(self, collector: pytest.Collector) -> None:
        if isinstance(collector, (pytest.Module, pytest.Class)):
            self.collect_started[collector.nodeid] = time.perf_counter()
        if self.snapshot and isinstance(collector, pytest.Module):
            self.collecting[collector.nodeid] = set(sys.modules)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        started = self.collect_started.pop(report.nodeid, None)
        if started is not None:
            # a class's collection is not within its module's: they add up
            file = report.nodeid.split("::", 1)[0]
            spent = time.perf_counter() - started
            self.collect_seconds[file] = self.collect_seconds.get(file, 0.0) + spent
        before = self.collecting.pop(report.nodeid, None)
        if before is not None:
            found = sorted(
                f"module {name} imported when {report.nodeid} was collected"
                for name in set(sys.modules) - before
                # a submodule: what another module can reach as an attribute of its
                # package without importing it (a top-level module it must import)
                if "." in name
                and _project_module(sys.modules.get(name), self.prefix, report.nodeid)
            )
            if found:
                self.imported_by[report.nodeid] = found
        if report.failed:
            data = self._serializable(report)
            self.channel.send(protocol.CollectReport(event=protocol.COLLECTREPORT, data=data))

    def pytest_runtest_logstart(self, nodeid: str, location: protocol.Location) -> None:
        self.channel.send(
            protocol.LogStart(event=protocol.LOGSTART, nodeid=self._id(nodeid), location=location)
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.brief:
            self.channel.send(
                protocol.Outcome(
                    event=protocol.OUTCOME,
                    nodeid=self._id(report.nodeid),
                    when=report.when,
                    outcome=report.outcome,
                    wasxfail=hasattr(report, "wasxfail"),
                )
            )
            return
        data = self._serializable(report)
        data["nodeid"] = self._id(report.nodeid)
        self.channel.send(protocol.Report(event=protocol.REPORT, data=data))

    def pytest_runtest_logfinish(self, nodeid: str, location: protocol.Location) -> None:
        self.channel.send(protocol.LogFinish(event=protocol.LOGFINISH, nodeid=self._id(nodeid)))

    def pytest_warning_recorded(
        self,
        warning_message: warnings.WarningMessage,
        when: Literal["config", "collect", "runtest"],
        nodeid: str,
    ) -> None:
        self.channel.send(
            protocol.RecordedWarning(
                event=protocol.WARNING,
                nodeid=nodeid,
                when=when,
                message=str(warning_message.message),
                category=warning_message.category.__name__,
                filename=warning_message.filename,
                lineno=warning_message.lineno,
            )
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        _own_summary_only(self.config)
        foreign.record()
        if self.tracker is not None:
            self.channel.send(
                protocol.Executed(
                    event=protocol.EXECUTED,
                    files=self.tracker.files,
                    measured=self.tracker.measured,
                )
            )
        self.channel.send(protocol.Finished(event=protocol.FINISHED, exitstatus=int(exitstatus)))

    def _serializable(self, report: pytest.CollectReport | pytest.TestReport) -> dict[str, Any]:
        data: dict[str, Any] = self.config.hook.pytest_report_to_serializable(
            config=self.config, report=report
        )
        return data


def _own_summary_only(config: pytest.Config) -> None:
    """Leave out the installed plugins' terminal summaries, which the terminal reporter
    calls once this hook is over.

    A worker's output is read only for a run that dies or ends before its first test,
    never for its summary, and a plugin's summary can cost more than the worker's tests:
    hypothesis' imports hypothesis itself, 45% of the task workers' CPU on a generated
    suite that never uses it. pytest's own summary (the failures) and those of the
    project's conftest files still run.
    """
    manager = config.pluginmanager
    reporter = manager.get_plugin("terminalreporter")
    installed = [
        impl.plugin
        for impl in manager.hook.pytest_terminal_summary.get_hookimpls()
        if impl.plugin is not reporter and not _is_conftest(impl.plugin)
    ]
    if installed:
        subset = manager.subset_hook_caller("pytest_terminal_summary", installed)
        # pytest 8's config.hook is a proxy that keeps what it looked up
        for relay in {id(manager.hook): manager.hook, id(config.hook): config.hook}.values():
            setattr(relay, "pytest_terminal_summary", subset)  # noqa: B010 (not a declared attribute)


def _is_conftest(plugin: object) -> bool:
    return Path(getattr(plugin, "__file__", None) or "-").name == "conftest.py"


def _twin(item: pytest.Item | None) -> pytest.Item | None:
    """A second item of the same test function (its events carry the `AGAIN` id).

    The same item twice in a row would not run its setup again (pytest's setup state
    keeps an item that the next one shares); a twin of a plain function test does. Other
    kinds of items (unittest, doctests, plugins' own) are not run twice.
    """
    if item is None or type(item) is not pytest.Function:
        return None
    twin = pytest.Function.from_parent(
        item.parent,
        name=item.name,
        callspec=getattr(item, "callspec", None),
        callobj=item.obj,
        fixtureinfo=item._fixtureinfo,
        keywords=item.keywords,
        originalname=item.originalname,
    )
    return twin


def _project_module(module: object, prefix: str, test_file: str) -> bool:
    """A module of the project that is neither the collected test file nor a conftest."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.startswith(prefix) or "site-packages" in path:
        return False
    relative = path[len(prefix) :].replace(os.sep, "/")
    return relative != test_file and not relative.endswith("conftest.py")
