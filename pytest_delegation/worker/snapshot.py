"""Shared state around a test, for the order check: what a test left changed behind it.

Module globals and class attributes of project modules, the environment, the working
directory and the files at its top and rootdir's, ``sys.path``, the decimal context and
the root logger's handlers, fingerprinted cheaply enough to take around every test.
`state` takes a snapshot, a flat dict from a readable key (``"global pkg.mod.NAME"``,
``"environment variable HOME"``, ``"file out.txt"``) to a fingerprint; `diff_state`
names the keys that differ between two. The worker takes one before and after each
watched test and sends the differences as a ``state`` event; the `keeper` reads the same
keys back. A fingerprint can only tell that a value changed, never restore it.
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
    setting, a singleton) is shared state as much as a global is.
    """

    def __init__(self) -> None:
        #: the rootdir prefix the module list is for
        self.prefix = ""
        #: ``len(sys.modules)`` when the module list was made; -1 before the first
        self.seen = -1
        #: the project modules: name, module, namespace
        self.modules: list[tuple[str, object, dict[str, Any]]] = []
        #: id of a module or class: its names, its data names, the classes defined in it
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
            # a set compare, in C
            if cached is None or namespace.keys() != cached[0]:
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


def _class_names(space: Mapping[str, Any]) -> list[str]:
    # methods, properties, classmethods and slots are descriptors: not data; a class
    # held by a class attribute (`Config.backend = Sqlite`) is a binding that can change
    return [
        attr
        for attr, value in list(space.items())
        if not attr.startswith("__")
        and (
            (not hasattr(value, "__get__") and not _skipped(value))
            or (
                isinstance(value, type)
                and not getattr(value, "__qualname__", "").endswith(f".{attr}")
            )
        )
    ]


def _skipped(value: object) -> bool:
    return isinstance(value, _SKIP_TYPES) or callable(value)


#: the one cache, shared by `state` and the `keeper`
DATA_NAMES = _DataNames()


def state(prefix: str) -> dict[str, object]:
    """Module globals of project modules, the environment, the cwd and the files at its
    top and rootdir's, sys.path, the decimal context, the root logger's handlers."""
    snapshot: dict[str, object] = {}
    missing = object()
    for name, _, namespace, names in DATA_NAMES.items(prefix):
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
    """The keys that differ, sorted; `` (set)`` or `` (removed)`` added when one side lacks it."""
    changed = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changed.append(f"{key} (set)")
        elif key not in after:
            changed.append(f"{key} (removed)")
        elif before[key] != after[key]:
            changed.append(key)
    return changed
