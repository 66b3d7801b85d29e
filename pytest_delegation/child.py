"""The worker side: loaded with ``-p pytest_delegation.child`` in each worker process.

It runs an explicit, ordered list of node ids and streams every report, serialized with
pytest's own ``pytest_report_to_serializable``, as JSON lines to a pipe the controller
reads. It imports nothing else from the package, so a worker starts as cheaply as pytest.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Mapping
import copy
import inspect
import json
import os
import signal
import sys
import threading
import types
from types import FrameType
from typing import Any

import pytest


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
            and filename != __file__  # the worker's own hooks are not the task's code
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


# -- shared state around a test (for the order check) ---------------------------------

_SKIP_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def _fingerprint(value: object) -> object:
    """Cheap and good enough to see a change: values for scalars, bounded reprs else."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value if not isinstance(value, (str, bytes)) or len(value) < 500 else hash(value)
    try:
        if isinstance(value, (list, tuple, set, frozenset, dict)):
            if len(value) > 200:
                return (type(value).__name__, id(value), len(value))
            return (type(value).__name__, id(value), repr(value)[:1000])
        attrs = getattr(value, "__dict__", None)
        if isinstance(attrs, dict):
            return ("object", id(value), repr(sorted(attrs.items()))[:1000])
        return ("other", id(value), repr(value)[:200])
    except Exception:  # a repr that raises tells nothing
        return ("unreprable", id(value))


# a module or a class defined in one, its namespace, and the names in it that hold data
Holder = tuple[str, object, Mapping[str, Any], list[str]]


class _DataNames:
    """Which project modules exist and which of their globals hold data, cached.

    A test module's namespace is mostly test functions: walking all of it around every
    test made the canonical replay seven times slower at 10,000 tests. The module list
    is kept until `sys.modules` changes size, a module's data names until its set of
    names does (a set comparison in C); the values themselves are read every time.
    Classes defined in a project module count too: a class attribute (a registry, a
    setting, a singleton) is shared state as much as a global is.
    """

    def __init__(self) -> None:
        self.prefix = ""
        self.seen = -1
        self.modules: list[tuple[str, object, dict[str, Any]]] = []
        # id of a module or class: its names, its data names, the classes defined in it
        self.names: dict[int, tuple[frozenset[str], list[str], list[type]]] = {}

    def items(self, prefix: str) -> list[Holder]:
        if prefix != self.prefix or len(sys.modules) != self.seen:
            self.prefix, self.seen = prefix, len(sys.modules)
            self.modules = []
            for name, module in list(sys.modules.items()):
                file = getattr(module, "__file__", None)
                if not isinstance(file, str) or not file.startswith(prefix):
                    continue
                if "site-packages" in file:
                    continue
                namespace = getattr(module, "__dict__", None)
                if isinstance(namespace, dict):
                    self.modules.append((name, module, namespace))
        result: list[Holder] = []
        for name, holder, namespace in self.modules:
            cached = self.names.get(id(holder))
            if cached is None or namespace.keys() != cached[0]:  # a set compare, in C
                cached = self.names[id(holder)] = _module_names(name, namespace)
            result.append((name, holder, namespace, cached[1]))
            for cls in cached[2]:
                space = cls.__dict__
                known = self.names.get(id(cls))
                if known is None or space.keys() != known[0]:
                    known = self.names[id(cls)] = (frozenset(space), _class_names(space), [])
                if known[1]:
                    result.append((f"{name}.{cls.__qualname__}", cls, space, known[1]))
        return result


def _module_names(
    name: str, namespace: dict[str, Any]
) -> tuple[frozenset[str], list[str], list[type]]:
    names, classes = [], []
    for attr, value in list(namespace.items()):
        if attr.startswith("__"):
            continue
        if isinstance(value, type):
            if getattr(value, "__module__", None) == name:
                classes.append(value)
        elif not _skipped(value):
            names.append(attr)
    return frozenset(namespace), names, classes


def _class_names(space: Mapping[str, Any]) -> list[str]:
    # methods, properties, classmethods and slots are descriptors: not data
    return [
        attr
        for attr, value in list(space.items())
        if not attr.startswith("__") and not hasattr(value, "__get__") and not _skipped(value)
    ]


def _skipped(value: object) -> bool:
    return isinstance(value, _SKIP_TYPES) or callable(value)


_DATA_NAMES = _DataNames()


def state(prefix: str) -> dict[str, object]:
    """Module globals of project modules, the environment, the cwd and the files at its
    top and rootdir's, sys.path, the decimal context, the root logger's handlers."""
    snapshot: dict[str, object] = {}
    missing = object()
    for name, _, namespace, names in _DATA_NAMES.items(prefix):
        for attr in names:
            value = namespace.get(attr, missing)
            if value is missing or _skipped(value):
                continue
            snapshot[f"global {name}.{attr}"] = _fingerprint(value)
    for key, value in os.environ.items():
        if key != "PYTEST_CURRENT_TEST":
            snapshot[f"environment variable {key}"] = value
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    snapshot["working directory"] = cwd
    for folder in {prefix.rstrip(os.sep), cwd}:
        if folder is not None:
            _files(folder, prefix, snapshot)
    snapshot["sys.path"] = tuple(sys.path)
    decimal = sys.modules.get("decimal")
    if decimal is not None:
        snapshot["decimal context"] = repr(decimal.getcontext())
    logging = sys.modules.get("logging")
    if logging is not None:
        snapshot["logging handlers of the root logger"] = tuple(
            id(h) for h in logging.getLogger().handlers
        )
    return snapshot


# written by pytest, coverage and tools around every run, not by the tests
_TOOL_FILES = (".pytest_cache", "__pycache__", ".hypothesis", ".git", ".coverage", ".tox")


def _files(folder: str, prefix: str, snapshot: dict[str, object]) -> None:
    """The files a test leaves behind at the top of rootdir or of the working directory.

    One folder level only: a scan of the whole tree around every test would cost more
    than the tests. Folders count by their existence, files by size and mtime.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(_TOOL_FILES):
            continue
        path = entry.path.removeprefix(prefix)
        try:
            if entry.is_dir():
                snapshot[f"file {path}/"] = True
            else:
                info = entry.stat()
                snapshot[f"file {path}"] = (info.st_size, info.st_mtime_ns)
        except OSError:
            continue


def diff_state(before: dict[str, object], after: dict[str, object]) -> list[str]:
    changed = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changed.append(f"{key} (set)")
        elif key not in after:
            changed.append(f"{key} (removed)")
        elif before[key] != after[key]:
            changed.append(key)
    return changed


class Keeper:
    """Puts back, before every later test, the shared state a polluter left changed.

    A victim hidden behind cleaners (tests that undo the pollution, some only when there
    is something to undo) never fails in an order that runs a cleaner in between: with
    the pollution kept, it fails wherever it runs after its polluter. Module globals are
    rebound to the polluted object and containers and plain objects refilled in place
    (other modules may hold the same object); environment variables, the working
    directory and sys.path are set back. Runs made this way only find suspects: each is
    then confirmed by a plain run.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.kept: list[Callable[[], bool]] = []

    def keep(self, changed: list[str]) -> None:
        for change in changed:
            removed = change.endswith(" (removed)")
            key = change.removesuffix(" (set)").removesuffix(" (removed)")
            restore = self._restorer(key, removed)
            if restore is not None:
                self.kept.append(restore)

    def apply(self) -> bool:
        """Put the kept state back; True when anything had to be put back."""
        changed = False
        for restore in self.kept:
            try:
                changed = restore() or changed
            except Exception:  # a value that cannot be compared or set back: leave it
                changed = True
        return changed

    def _restorer(self, key: str, removed: bool) -> Callable[[], bool] | None:
        if key.startswith("environment variable "):
            return _keep_environment(key.removeprefix("environment variable "))
        if key == "working directory":
            return _keep_cwd(os.getcwd())
        if key == "sys.path":
            return _keep_sys_path(list(sys.path))
        if key.startswith("global "):
            # the longest module name that fits: 'global a.b.X' is X of a.b, not b.X of a
            owners = [
                (name, owner, namespace)
                for name, owner, namespace, _ in _DATA_NAMES.items(self.prefix)
                if key.startswith(f"global {name}.")
            ]
            if owners:
                name, owner, namespace = max(owners, key=lambda found: len(found[0]))
                attr = key.removeprefix(f"global {name}.")
                if attr in namespace or removed:
                    return _keep_global(owner, attr, removed)
        return None


def _keep_environment(name: str) -> Callable[[], bool]:
    value = os.environ.get(name)

    def restore() -> bool:
        if os.environ.get(name) == value:
            return False
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value
        return True

    return restore


def _keep_cwd(path: str) -> Callable[[], bool]:
    def restore() -> bool:
        if os.getcwd() == path:
            return False
        os.chdir(path)
        return True

    return restore


def _keep_sys_path(saved: list[str]) -> Callable[[], bool]:
    def restore() -> bool:
        if sys.path == saved:
            return False
        sys.path[:] = saved
        return True

    return restore


def _keep_global(owner: object, attr: str, removed: bool) -> Callable[[], bool]:
    """Keep a module global or class attribute: its binding, and its content in place."""
    if removed:

        def restore_removed() -> bool:
            if attr not in vars(owner):
                return False
            delattr(owner, attr)
            return True

        return restore_removed
    value = vars(owner)[attr]
    try:
        content = copy.deepcopy(_content(value))
    except Exception:  # not copyable: keep the binding only
        content = None

    def restore() -> bool:
        changed = vars(owner).get(attr, _MISSING) is not value
        if changed:
            setattr(owner, attr, value)
        if content is not None and _content(value) != content:
            _refill(value, copy.deepcopy(content))
            changed = True
        return changed

    return restore


_MISSING = object()


def _content(value: object) -> object:
    """What a refill puts back: a container's items or a plain object's attributes."""
    if isinstance(value, (dict, list, set)):
        return value
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict) and not isinstance(value, type):
        return attrs
    return None


def _refill(value: object, content: Any) -> None:
    if isinstance(value, list):
        value[:] = content
    elif isinstance(value, (dict, set)):
        value.clear()
        value.update(content)
    else:
        attrs = vars(value)
        attrs.clear()
        attrs.update(content)
