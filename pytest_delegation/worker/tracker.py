"""Which project files a worker's tests run code in, for the run-time boundaries check."""

from __future__ import annotations

import inspect
import os
import sys
import threading
from types import FrameType
from typing import Any


# the worker's own hooks run around every test: they are not the task's code
_OWN_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Tracker:
    """Which project files the tests run code in: the first function, line and test of each.

    Python 3.12+: a ``sys.monitoring`` PY_START callback, switched on at the first test
    and left on, that turns itself off for each code object once seen, so each function
    costs one call, then nothing; between tests it records nothing. Before 3.12:
    a ``sys.settrace`` function that answers only 'call' events and never traces lines.
    A module's own code object (``<module>``) is its import, which does not count.
    """

    def __init__(self, rootdir: str) -> None:
        self.prefix = rootdir.rstrip(os.sep) + os.sep
        self.files: dict[str, tuple[str, int, str]] = {}
        self.seen: set[object] = set()
        self.test = ""
        self.measured = True
        self.monitoring: Any = getattr(sys, "monitoring", None)
        self.tool: int | None = None
        if self.monitoring is not None:
            for tool in (2, 3, 4, 5):  # PROFILER_ID, then the free ids
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
        filename = code.co_filename
        return bool(
            filename.startswith(self.prefix)
            and not filename.startswith(_OWN_FOLDER)
            and code.co_flags & inspect.CO_OPTIMIZED  # functions: not module or class bodies
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
            return None  # project code between tests: not counted, but watched still
        self._record(code)
        return self.monitoring.DISABLE

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> None:
        # keyed on the file: code objects with the same source compare equal across files
        filename = frame.f_code.co_filename
        if filename not in self.seen:
            self._record(frame.f_code)
        return None  # no line tracing

    def start(self, test: str) -> None:
        self.test = test
        if self.tool is not None:
            # switched on once and left on: each switch re-instruments all code (1.14x)
            if not self.monitoring.get_events(self.tool):
                self.monitoring.set_events(self.tool, self.monitoring.events.PY_START)
        elif self.monitoring is None:
            if sys.gettrace() is not None:  # coverage or a debugger: never a second tracer
                self.measured = False
                return
            threading.settrace(self._on_call)
            sys.settrace(self._on_call)

    def stop(self) -> None:
        self.test = ""  # 3.12+: between tests the callback records nothing
        if self.monitoring is None and sys.gettrace() == self._on_call:
            sys.settrace(None)
            threading.settrace(None)  # type: ignore[arg-type,unused-ignore]
