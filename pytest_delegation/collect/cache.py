"""The collection of a ``--collect-only`` run, kept in pytest's cache for the next one.

An orchestrator asks for a pre-dispatch verdict (``pytest --collect-only
--delegation-report=json:-``) before every batch; collecting a large suite takes pytest
seconds, and nothing in it changes between two batches unless a file does. So a
collect-only run keeps each test's id, task markers and line, under a fingerprint of
everything that can change what pytest collects: the stat of every file under rootdir
(outside virtual environments and tool caches), the arguments, ``PYTEST_ADDOPTS``, the
plugins, pytest's and Python's versions. The next collect-only run with the same
fingerprint maps those tests without collecting; any change collects again. Runs that
select tests (``-k``, ``-m``, ``--lf``, ``--deselect``) always collect.
"""

from __future__ import annotations

from collections.abc import Sequence
import hashlib
import json
import os
import sys
from typing import Any

import pytest

from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.vocab import DURATIONS_KEY


KEY = "delegation/collection"
#: folders whose files cannot change what pytest collects from the project
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "env", "node_modules",
        "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
        "site-packages", ".eggs", "htmlcov",
    }
)  # fmt: skip


def usable(config: pytest.Config) -> bool:
    """Only a collect-only run that selects nothing, with pytest's cache on."""
    option = config.option
    if not getattr(option, "collectonly", False) or getattr(config, "cache", None) is None:
        return False
    selecting = (
        getattr(option, "keyword", ""),
        getattr(option, "markexpr", ""),
        getattr(option, "lf", False),
        getattr(option, "failedfirst", False),
        getattr(option, "deselect", None),
        getattr(option, "stepwise", False),
    )
    return not any(selecting)


def fingerprint(config: pytest.Config) -> str:
    digest = hashlib.sha256()
    # plugins registered without a name are named by their id(), new in every process
    plugins = sorted(
        name for name, _ in config.pluginmanager.list_name_plugin() if name and not name.isdigit()
    )
    head = [
        sys.version,
        pytest.__version__,
        plugins,
        list(config.invocation_params.args),
        os.environ.get("PYTEST_ADDOPTS", ""),
        str(config.rootpath),
    ]
    digest.update(json.dumps(head).encode())
    root = str(config.rootpath)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


def load(config: pytest.Config, print_: str) -> list[TestRef] | None:
    """The cached tests when the fingerprint matches, else None."""
    cached: Any = config.cache.get(KEY, None)
    if not isinstance(cached, dict) or cached.get("fingerprint") != print_:
        return None
    try:
        return [
            TestRef(str(nodeid), str(nodeid).split("::", 1)[0], tuple(marked), line)
            for nodeid, marked, line in cached["tests"]
        ]
    except (KeyError, TypeError, ValueError):
        return None


def store(config: pytest.Config, print_: str, refs: Sequence[TestRef]) -> None:
    tests = [[ref.nodeid, list(ref.marked), ref.line] for ref in refs]
    config.cache.set(KEY, {"fingerprint": print_, "tests": tests})


def durations(config: pytest.Config) -> dict[str, float]:
    """Each task's last duration (``vocab.DURATIONS_KEY``), {} without pytest's cache.

    Read by the scheduler (longest first), ``--delegation-ci`` (packing) and
    ``--delegation-suggest`` (which tasks a split wave keeps).
    """
    cache = getattr(config, "cache", None)
    known = cache.get(DURATIONS_KEY, {}) if cache is not None else {}
    return known if isinstance(known, dict) else {}
