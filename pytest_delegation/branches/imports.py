"""Making a tree's own code win on ``sys.path`` in the runs started in it.

A project installed in editable mode (``pip install -e .``, src layout or not) imports
from the user's checkout wherever its tests run: a branch's tests would test the
checkout's code and pass for the wrong reason. The roots the checkout's packages import
from are found once (``find_spec``, which imports nothing), and their counterparts in a
tree go first on ``PYTHONPATH``, ahead of site-packages and any editable finder.
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.util
import os
from pathlib import Path
import sys


#: folders no project package lives in
SKIPPED = frozenset(
    {".git", ".tox", ".nox", ".venv", "venv", "env", "node_modules", "build", "dist",
     "site-packages", "__pycache__", "tests", "test", "docs", "benchmarks", "examples"}
)  # fmt: skip
#: how deep under the checkout a package's folder may be (``src/pkg``, ``libs/x/src/pkg``)
DEPTH = 3
NOT_MODULES = frozenset({"setup", "conftest", "noxfile", "fabfile", "tasks"})


def _candidates(checkout: Path) -> Iterator[tuple[str, Path]]:
    """(top-level module name, the folder it imports from) for what the checkout holds."""

    def walk(folder: Path, depth: int) -> Iterator[tuple[str, Path]]:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in SKIPPED:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if (entry / "__init__.py").is_file():
                    yield name, folder
                elif depth < DEPTH:
                    yield from walk(entry, depth + 1)
            elif (
                depth <= 1
                and name.endswith(".py")
                and name[:-3].isidentifier()
                and name[:-3] not in NOT_MODULES
            ):
                yield name[:-3], folder

    yield from walk(checkout, 0)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def import_roots(checkout: Path) -> list[str]:
    """The checkout-relative folders its own packages are imported from, first seen first.

    A package counts when this interpreter can import it at all: from the checkout (an
    editable install, a ``.pth`` file, ``PYTHONPATH``), from another checkout (a copy
    whose editable install points at the original), or installed; the tree holds the
    branch's own copy, and that is the one its tests must run. One not found at all
    needs nothing (pytest's rootdir or ``pythonpath`` finds it inside the tree).
    """
    checkout = checkout.resolve()
    roots: dict[str, None] = {}
    for entry in sys.path:
        path = Path(entry or os.getcwd()).resolve()
        if _inside(path, checkout) and "site-packages" not in path.parts:
            roots[path.relative_to(checkout).as_posix()] = None
    for name, folder in _candidates(checkout):
        if name in sys.modules:
            module_file = getattr(sys.modules[name], "__file__", None)
            origin = Path(module_file).resolve() if module_file else None
        else:
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                continue
            origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin is not None:
            roots[folder.resolve().relative_to(checkout).as_posix()] = None
    return list(roots)


def tree_pythonpath(tree: Path, roots: list[str], current: str | None) -> str:
    """``PYTHONPATH`` for a run in `tree`: its counterparts of `roots`, then `current`."""
    paths = [str(tree / root) if root != "." else str(tree) for root in roots]
    if current:
        paths.append(current)
    return os.pathsep.join(paths)
