"""Shared state around a test, for the order check: what a test left changed behind it.

Module globals and class attributes of project modules, which project modules are
imported, the environment, the working directory and the files at its top and rootdir's,
``sys.path``, the decimal context and the root logger's handlers, fingerprinted cheaply
enough to take around every test. `state` takes a snapshot, a flat dict from a readable
key (``"global pkg.mod.NAME"``, ``"environment variable HOME"``, ``"file out.txt"``) to a
fingerprint; `diff_state` names the keys that differ between two, and the project modules
imported in between (``"module pkg._impl imported"``). The worker takes one before and
after each watched test and sends the differences as a ``state`` event; the `keeper`
reads the same keys back. A fingerprint can only tell that a value changed, never restore it.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
import sys
import types
from typing import Any
from typing import TypeAlias


#: never data: modules, functions and classes (a project module's classes are walked apart)
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
    except Exception:
        # a repr that raises tells nothing
        return ("unreprable", id(value))


#: a module or a class defined in one: its dotted name, the object, its namespace, and
#: the names in it that hold data
Holder: TypeAlias = tuple[str, object, Mapping[str, Any], list[str]]


class _DataNames:
    """Which project modules exist and which of their globals hold data, cached.

    A test module's namespace is mostly test functions: walking all of it around every
    test made the canonical replay seven times slower at 10,000 tests. The module list
    is kept until `sys.modules` changes size, a module's data names until its set of
    names does (a set comparison in C); the values themselves are read every time.
    Classes defined in a project module count too: a class attribute (a registry, a
    setting, a singleton) is shared state as much as a global is, except the ones the
    test framework keeps on test classes (`_framework_names`).
    """

    def __init__(self) -> None:
        #: the rootdir prefix the module list is for
        self.prefix = ""
        #: ``len(sys.modules)`` when the module list was made; -1 before the first
        self.seen = -1
        #: the project modules: name, module, namespace
        self.modules: list[tuple[str, object, dict[str, Any]]] = []
        #: the project modules' names: one frozenset per module list, so that two
        #: snapshots with the same list compare by identity
        self.imported: frozenset[str] = frozenset()
        #: id of a module or class: its names, its data names, the classes defined in it
        self.names: dict[int, tuple[frozenset[str], list[str], list[type]]] = {}

    def items(
        self, prefix: str, tests: frozenset[str] = frozenset(), own: str = ""
    ) -> list[Holder]:
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
            imported = frozenset(name for name, _, _ in self.modules)
            if imported != self.imported:
                self.imported = imported
        result: list[Holder] = []
        for name, holder, namespace in self.modules:
            if name in tests and name != own:
                continue
            cached = self.names.get(id(holder))
            # a set compare, in C
            if cached is None or namespace.keys() != cached[0]:
                cached = self.names[id(holder)] = _module_names(name, namespace)
            result.append((name, holder, namespace, cached[1]))
            for cls in cached[2]:
                space = cls.__dict__
                known = self.names.get(id(cls))
                if known is None or space.keys() != known[0]:
                    known = self.names[id(cls)] = (frozenset(space), _class_names(cls), [])
                if known[1]:
                    result.append((f"{name}.{cls.__qualname__}", cls, space, known[1]))
        return result


def _module_names(
    name: str, namespace: dict[str, Any]
) -> tuple[frozenset[str], list[str], list[type]]:
    names, classes = [], []
    for attr, value in list(namespace.items()):
        if attr.startswith("__") or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type) and getattr(value, "__module__", None) == name:
            classes.append(value)
        if not _skipped(value) or not _defined_here(value, name, attr):
            # data, or a class or function bound under another name than its own
            # definition's (`pkg.network = Mainnet`): rebinding it is a change too
            names.append(attr)
    return frozenset(namespace), names, classes


def _defined_here(value: object, module: str, attr: str) -> bool:
    """Is this the module's own `def` or `class` of that name (not a selection of one)?"""
    return (
        getattr(value, "__module__", None) == module
        and getattr(value, "__qualname__", None) == attr
    )


def _class_names(cls: type) -> list[str]:
    # methods, properties, classmethods and slots are descriptors: not data; a class
    # held by a class attribute (`Config.backend = Sqlite`) is a binding that can change
    framework = _framework_names(cls)
    return [
        attr
        for attr, value in list(vars(cls).items())
        if not attr.startswith(("__", "_pytest"))
        and attr not in framework
        and (
            (not hasattr(value, "__get__") and not _skipped(value))
            or (
                isinstance(value, type)
                and not getattr(value, "__qualname__", "").endswith(f".{attr}")
            )
        )
    ]


#: `unittest.TestCase` -> the names its machinery keeps on a subclass (see `_framework_names`)
_UNITTEST_NAMES: dict[type, frozenset[str]] = {}


def _framework_names(cls: type) -> frozenset[str]:
    """The attributes unittest sets on a TestCase subclass while running it: not state.

    ``tearDown_exceptions`` is a new list at every class teardown (`doClassCleanups`,
    which pytest's unittest plugin calls too), ``_class_cleanups`` fills in setUpClass
    and empties at teardown, ``_classSetupFailed`` is unittest's suite's: each would name
    the first or last test of every TestCase class as a polluter. Which names these are
    differs between Python versions, so they are found by letting the machinery run on a
    probe class, once: what it leaves in a bare subclass's namespace is its own, plus the
    private data TestCase itself defines. (pytest keeps its own on classes under names
    starting with ``_pytest``, dropped by `_class_names`; a test instance is never walked,
    and pytest makes a new one for every test.) A test's own class attribute
    (``TestCase.shared = 1``) is still state.
    """
    case = sys.modules.get("unittest.case")
    base = getattr(case, "TestCase", None)
    if not isinstance(base, type):
        return frozenset()
    try:
        if not issubclass(cls, base):
            return frozenset()
    except TypeError:
        return frozenset()
    names = _UNITTEST_NAMES.get(base)
    if names is None:
        found = {"tearDown_exceptions", "_classSetupFailed", "_class_cleanups"}
        try:
            probe: Any = type("_Probe", (base,), {"__module__": __name__})
            probe.doClassCleanups()
            found.update(vars(probe))
        except Exception:
            # a TestCase that cannot be probed: the names above, known from CPython
            pass
        found.update(
            attr
            for attr, value in vars(base).items()
            if attr.startswith("_") and not hasattr(value, "__get__") and not callable(value)
        )
        names = _UNITTEST_NAMES[base] = frozenset(found)
    return names


def _skipped(value: object) -> bool:
    return isinstance(value, _SKIP_TYPES) or callable(value)


#: the one cache, shared by `state` and the `keeper`
DATA_NAMES = _DataNames()


#: the snapshot's key for the project modules imported; `diff_state` names each one
MODULES = "project modules"


def state(prefix: str, tests: frozenset[str] = frozenset(), own: str = "") -> dict[str, object]:
    """Module globals of project modules, which are imported, the environment, the cwd
    and the files at its top and rootdir's, sys.path, the decimal context, the root
    logger's handlers.

    ``tests`` are the test modules, left out but for the current test's ``own``:
    walking a thousand test modules around each of 10,000 tests made the canonical
    replay 6.5 times slower than a plain order (135 s against 21 s), for state a test
    rarely touches (a test module's globals are changed by its own tests).
    """
    snapshot: dict[str, object] = {}
    missing = object()
    holders = DATA_NAMES.items(prefix, tests, own)
    # one frozenset, the cache's own: compared by identity while no module comes or goes
    snapshot[MODULES] = DATA_NAMES.imported
    for name, _, namespace, names in holders:
        for attr in names:
            value = namespace.get(attr, missing)
            if value is missing or isinstance(value, types.ModuleType):
                continue
            # a class or function is its identity: what matters is which one is bound
            snapshot[f"global {name}.{attr}"] = (
                ("binding", id(value)) if _skipped(value) else _fingerprint(value)
            )
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
    # the folders on it, not their order: pytest's prepend import mode puts a folder that
    # is on it already first again as it imports a doctest module (sortedcontainers: two
    # rounds of its whole suite for tests that changed no import)
    snapshot["sys.path"] = tuple(sorted(set(sys.path)))
    decimal = sys.modules.get("decimal")
    if decimal is not None:
        snapshot["decimal context"] = repr(decimal.getcontext())
    logging = sys.modules.get("logging")
    if logging is not None:
        snapshot["logging handlers of the root logger"] = tuple(
            id(h) for h in logging.getLogger().handlers
        )
    return snapshot


#: written by pytest, coverage and tools around every run, not by the tests
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
    """The keys that differ, sorted; `` (set)`` or `` (removed)`` added when one side lacks it.

    A project module imported in between is one change, ``module pkg._impl imported``
    (``... imported (removed)`` when it left `sys.modules`): its globals come and go with
    it, and naming them would bury the import under them, as would the parent package's
    new attribute (a module, never a global here).
    """
    old = before.get(MODULES, frozenset())
    new = after.get(MODULES, frozenset())
    imported: frozenset[str] = frozenset()
    gone: frozenset[str] = frozenset()
    if old is not new and isinstance(old, frozenset) and isinstance(new, frozenset):
        imported, gone = new - old, old - new
    # the globals of a module that came or went with it
    came = tuple(f"global {name}." for name in imported)
    went = tuple(f"global {name}." for name in gone)
    changed = []
    for key in sorted(set(before) | set(after)):
        if key == MODULES:
            continue
        if key not in before:
            if not came or not key.startswith(came):
                changed.append(f"{key} (set)")
        elif key not in after:
            if not went or not key.startswith(went):
                changed.append(f"{key} (removed)")
        elif before[key] != after[key]:
            changed.append(key)
    if imported or gone:
        changed += [f"module {name} imported" for name in imported]
        changed += [f"module {name} imported (removed)" for name in gone]
        changed.sort(key=lambda change: change.removesuffix(" (set)").removesuffix(" (removed)"))
    return changed


def left_values(after: Mapping[str, object], changed: list[str]) -> dict[str, str]:
    """A digest of the value each changed key holds now, per key without its suffix.

    The order check groups the tests that changed one piece of state by the value they
    left: a hundred tests that switch it back to the default are one candidate, not a
    hundred rounds. Digests compare within one process (`hash` is salted per process).
    """
    values = {}
    for change in changed:
        key = change.removesuffix(" (set)").removesuffix(" (removed)")
        if key.startswith("module "):
            values[key] = "imported"
        elif key not in after:
            values[key] = "removed"
        else:
            try:
                values[key] = format(hash(repr(after[key])) & 0xFFFFFFFFFFFF, "x")
            except Exception:
                values[key] = "unknown"
    return values
