"""Which tests can read a test module's globals: its own, and those of files naming it.

The order check's rounds put back what state changers left and run every test after
them (see `order.check.changer_first`). A test module's globals (a class in it whose
cache its tests fill, a counter) are read by that module's tests and by the tests of
files that import it, which name it; a round for such state needs only them.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
import re

import pytest


_WORD = re.compile(r"\w+")


def state_readers(
    items: Sequence[pytest.Item], conftests: Iterable[Path] = ()
) -> dict[str, frozenset[str]]:
    """Test module name -> the node ids whose code can reach its globals.

    A module that a conftest names is left out: its fixtures may hand the module's
    state to any test, so every test is a reader (the rounds stay whole). A file that
    cannot be read names every module, for the same reason.
    """
    tests_in: dict[Path, list[str]] = {}
    module_file: dict[str, Path] = {}
    for item in items:
        module = getattr(item, "module", None)
        name = getattr(module, "__name__", "")
        tests_in.setdefault(item.path, []).append(item.nodeid)
        if name:
            module_file.setdefault(name, item.path)
    leaves: dict[str, list[str]] = {}
    for name in module_file:
        leaves.setdefault(name.rpartition(".")[2], []).append(name)
    naming: dict[str, set[Path]] = {name: {path} for name, path in module_file.items()}
    everyone: set[str] = set()
    for path in tests_in:
        for leaf in _named(path, leaves):
            for name in leaves[leaf]:
                naming[name].add(path)
    for path in conftests:
        for leaf in _named(path, leaves):
            everyone.update(leaves[leaf])
    return {
        name: frozenset(test for path in files for test in tests_in.get(path, ()))
        for name, files in naming.items()
        if name not in everyone
    }


def _named(path: Path, leaves: dict[str, list[str]]) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set(leaves)
    return set(_WORD.findall(text)).intersection(leaves)
