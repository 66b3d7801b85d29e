"""Which project files a worker's tests run code in, for the run-time boundaries check.

The controller holds a task's tests to the files the plan lets them run: their task's,
its dependencies' and the shared ones (``checks/boundaries.py`` decides). The `Tracker`
measures: per project file, the first function the tests ran there, that function's
first line and the test; the worker sends that as the ``executed`` event at the end of
its session. It has to be nearly free: one callback per function, the first time it
runs, then nothing (``sys.monitoring`` on 3.12+, a call-only ``sys.settrace`` before).
Only functions count: a module's or a class's body is its import, and the worker's own
hooks and installed packages are not the task's code.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
from types import FrameType
from typing import Any


#: the worker's own hooks run around every test: they are not the task's code
_OWN_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Tracker:
    """Which project files the tests run code in: the first function, line and test of each.

    Python 3.12+: a ``sys.monitoring`` PY_START callback, switched on at the first test
    and left on, that turns itself off for each code object once seen, so each function
    costs one call, then nothing; between tests it records nothing. Before 3.12:
    a ``sys.settrace`` function that answers only 'call' events and never traces lines.
    A module's own code object (``<module>``) is its import, which does not count.

    `files` maps a project file (relative to rootdir, ``/``-separated) to the first
    function run in it: its qualified name, its first line and the test that ran it.
    `measured` is False when the tracker could not watch: no free ``sys.monitoring``
    tool, or another tracer (coverage, a debugger) already set with ``sys.settrace``.
    """

    def __init__(self, rootdir: str) -> None:
        #: rootdir with a trailing separator: the project's files start with it
        self.prefix = rootdir.rstrip(os.sep) + os.sep
        self.files: dict[str, tuple[str, int, str]] = {}
        #: the project files already recorded: the settrace callback skips them quickly
        self.seen: set[object] = set()
        #: the node id of the running test; empty between tests
        self.test = ""
        self.measured = True
        #: ``sys.monitoring`` (3.12+), or None: then ``sys.settrace`` does the watching
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

    def _counts(self, code: Any) -> bool:
        """A function in a project file; CO_OPTIMIZED leaves out module and class bodies."""
        filename = code.co_filename
        return bool(
            filename.startswith(self.prefix)
            and not filename.startswith(_OWN_FOLDER)
            and code.co_flags & inspect.CO_OPTIMIZED
            and "site-packages" not in filename
        )

    def _record(self, code: Any) -> None:
        if self._counts(code):
            self.seen.add(code.co_filename)
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

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> None:
        # keyed on the file: code objects with the same source compare equal across files
        filename = frame.f_code.co_filename
        if filename not in self.seen:
            self._record(frame.f_code)
        # no line tracing
        return None

    def start(self, test: str) -> None:
        self.test = test
        if self.tool is not None:
            # switched on once and left on: each switch re-instruments all code (1.14x)
            if not self.monitoring.get_events(self.tool):
                self.monitoring.set_events(self.tool, self.monitoring.events.PY_START)
        elif self.monitoring is None:
            # coverage or a debugger: never a second tracer
            if sys.gettrace() is not None:
                self.measured = False
                return
            threading.settrace(self._on_call)
            sys.settrace(self._on_call)

    def reset(self) -> dict[str, tuple[str, int, str]]:
        """What was recorded so far, then a clean slate: the next task's tests count anew.

        3.12+: every code object turned off since is turned back on for this tool.
        """
        files, self.files, self.seen = self.files, {}, set()
        if self.tool is not None:
            self.monitoring.restart_events()
        return files

    def stop(self) -> None:
        # 3.12+: between tests the callback records nothing
        self.test = ""
        if self.monitoring is None and sys.gettrace() == self._on_call:
            sys.settrace(None)
            threading.settrace(None)  # type: ignore[arg-type,unused-ignore]
