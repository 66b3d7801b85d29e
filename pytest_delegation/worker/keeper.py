"""Keeping a polluter's changes in place, for the order check's "sticky" runs.

The order check looks for tests that pass or fail depending on what ran before them.
A snapshot run (see `snapshot`) tells which tests leave shared state changed: the
polluters. A "sticky" run names some of them in the spec; after each one, the `Keeper`
takes what its ``state`` event reported as changed and, before every later test of the
run, puts that state back the way the polluter left it, whatever ran in between. Of the
changes a snapshot names, these can be kept: environment variables, the working
directory, ``sys.path``, module globals and class attributes of project modules, and
project modules imported. Anything that cannot be copied or set back is kept as far as it
can be, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import os
import sys
from typing import Any

from pytest_delegation.worker.snapshot import DATA_NAMES


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
        #: rootdir with a trailing separator: the project's modules' files start with it
        self.prefix = prefix
        #: one function per kept change, putting it back; True when it had to
        self.kept: list[Callable[[], bool]] = []

    def keep(self, changed: list[str]) -> None:
        """Keep these changes, as `snapshot.diff_state` names them, from now on."""
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
            except Exception:
                # a value that cannot be compared or set back: leave it
                changed = True
        return changed

    def _restorer(self, key: str, removed: bool) -> Callable[[], bool] | None:
        if key.startswith("environment variable "):
            return _keep_environment(key.removeprefix("environment variable "))
        if key == "working directory":
            return _keep_cwd(os.getcwd())
        if key == "sys.path":
            return _keep_sys_path(list(sys.path))
        if key.startswith("module ") and key.endswith(" imported"):
            name = key.removeprefix("module ").removesuffix(" imported")
            # a module un-imported is not kept: taking it out of sys.modules before every
            # later test would import it anew in each that needs it (new classes, new
            # globals), far more than the polluter did
            return None if removed else _keep_import(name)
        if key.startswith("global "):
            # the longest module name that fits: 'global a.b.X' is X of a.b, not b.X of a
            owners = [
                (name, owner, namespace)
                for name, owner, namespace, _ in DATA_NAMES.items(self.prefix)
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


def _keep_import(name: str) -> Callable[[], bool] | None:
    """Keep a module imported: in `sys.modules`, and as its parent package's attribute.

    What stays anyway unless a test un-imports it (a cleaner deleting it from
    `sys.modules` and from its package): then this module object, not a fresh import,
    comes back, as other modules may hold it. Its globals are not kept apart.
    """
    module = sys.modules.get(name)
    if module is None:
        return None
    parent, _, child = name.rpartition(".")

    def restore() -> bool:
        changed = sys.modules.get(name) is not module
        if changed:
            sys.modules[name] = module
        package = sys.modules.get(parent) if parent else None
        if package is not None and getattr(package, child, None) is not module:
            setattr(package, child, module)
            changed = True
        return changed

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
    except Exception:
        # not copyable: keep the binding only
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


#: what ``vars(owner).get`` gives for an attribute that is gone
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
    """Put `_content` back into the same object, for the other modules that hold it."""
    if isinstance(value, list):
        value[:] = content
    elif isinstance(value, (dict, set)):
        value.clear()
        value.update(content)
    else:
        attrs = vars(value)
        attrs.clear()
        attrs.update(content)
