"""Which project files a worker's tests run code in, for the run-time boundaries check.

The controller holds a task's tests to the files the plan lets them run: their task's,
its dependencies' and the shared ones (``checks/boundaries.py`` decides). The `Tracker`
measures: per project file, the first function the tests ran there, that function's
first line and the test; the worker sends that as the ``executed`` event at the end of
its session. It has to be nearly free: one callback per function, the first time it
runs, then nothing, on 3.12+ (``sys.monitoring``); before, a probe in each function of
the project's own modules (``worker/probes.py``), where a ``sys.settrace`` callback on
every call cost a task run 2.5x to 7x. Only functions count: a module's or a class's
body is its import, and the worker's own hooks and installed packages are not the
task's code.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

from pytest_delegation.worker.probes import Probes


#: the worker's own hooks run around every test: they are not the task's code
_OWN_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Tracker:
    """Which project files the tests run code in: the first function, line and test of each.

    Python 3.12+: a ``sys.monitoring`` PY_START callback, switched on at the first test
    and left on, that turns itself off for each code object once seen, so each function
    costs one call, then nothing; between tests it records nothing. Before 3.12:
    `Probes`, placed when the tracker is made, read at the end of each test. A module's
    own code object (``<module>``) is its import, which does not count.

    `files` maps a project file (relative to rootdir, ``/``-separated) to the first
    function run in it: its qualified name, its first line and the test that ran it.
    `measured` is False when the tracker could not watch: no free ``sys.monitoring``
    tool. Coverage or a debugger beside it are no hindrance: neither way is a tracer.
    ``cache`` is a folder the session's workers share for probed code (see `Probes`).
    """

    def __init__(self, rootdir: str, cache: str | None = None) -> None:
        #: rootdir with a trailing separator: the project's files start with it
        self.prefix = rootdir.rstrip(os.sep) + os.sep
        self.files: dict[str, tuple[str, int, str]] = {}
        #: the node id of the running test; empty between tests
        self.test = ""
        self.measured = True
        #: ``sys.monitoring`` (3.12+), or None: then the probes do the watching
        self.monitoring: Any = getattr(sys, "monitoring", None)
        #: the monitoring tool id this tracker holds; None without one
        self.tool: int | None = None
        if self.monitoring is not None:
            # PROFILER_ID, then the free ids
            for tool in (2, 3, 4, 5):
                if self.monitoring.get_tool(tool) is None:
                    self.monitoring.use_tool_id(tool, "pytest-delegation")
                    self.monitoring.register_callback(
                        tool, self.monitoring.events.PY_START, self._on_start
                    )
                    self.tool = tool
                    break
            else:
                self.measured = False
        #: before 3.12: the probes
        self.probes: Probes | None = None
        #: functions of modules imported before the tracker that no probe could reach
        self.missed = 0
        if self.monitoring is None:
            self.probes = Probes(self._watches, cache)
            self.probes.install()
            self.missed = self.probes.instrument_loaded()

    def _watches(self, filename: str) -> bool:
        return (
            filename.startswith(self.prefix)
            and not filename.startswith(_OWN_FOLDER)
            and "site-packages" not in filename
        )

    def _counts(self, code: Any) -> bool:
        """A function in a project file; CO_OPTIMIZED leaves out module and class bodies."""
        return bool(code.co_flags & inspect.CO_OPTIMIZED and self._watches(code.co_filename))

    def _record(self, code: Any) -> None:
        if self._counts(code):
            rel = code.co_filename[len(self.prefix) :].replace(os.sep, "/")
            if rel not in self.files:
                name = getattr(code, "co_qualname", code.co_name)
                self.files[rel] = (name, code.co_firstlineno, self.test)

    def _on_start(self, code: Any, offset: int) -> Any:
        if not self.test and self._counts(code):
            # project code between tests: not counted, but watched still
            return None
        self._record(code)
        return self.monitoring.DISABLE

    def _read(self) -> None:
        """The probes that first ran since the last read, as files of the running test."""
        if self.probes is None:
            return
        for filename, name, line in self.probes.firsts():
            rel = filename[len(self.prefix) :].replace(os.sep, "/")
            if rel not in self.files:
                self.files[rel] = (name, line, self.test)

    def start(self, test: str) -> None:
        if self.probes is not None:
            # project code between tests: not counted, but watched still
            self.probes.forget_unread()
        self.test = test
        if self.tool is not None:
            # switched on once and left on: each switch re-instruments all code (1.14x)
            if not self.monitoring.get_events(self.tool):
                self.monitoring.set_events(self.tool, self.monitoring.events.PY_START)

    def reset(self) -> dict[str, tuple[str, int, str]]:
        """What was recorded so far, then a clean slate: the next task's tests count anew.

        3.12+: every code object turned off since is turned back on for this tool.
        """
        self._read()
        files, self.files = self.files, {}
        if self.tool is not None:
            self.monitoring.restart_events()
        if self.probes is not None:
            self.probes.clear()
        return files

    def stop(self) -> None:
        # 3.12+: between tests the callback records nothing
        self._read()
        self.test = ""
