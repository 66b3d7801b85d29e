"""A worker's command line and environment: what of the user's invocation it inherits.

Workers see the user's plugins, ini overrides, ``--tb`` and ``-v``, but never what
selects or distributes tests (``-k``, ``-x``, ``-n``, ``--lf``...): the controller
chose the tests, and a worker must not start workers or shuffle of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import shlex
import sys

import pytest

from pytest_delegation.options import ROLE


# options of the controller's command line a worker must not get, with a value...
DROP_WITH_VALUE = frozenset(
    {
        "-k", "-m", "--maxfail", "--deselect", "--junitxml", "--junit-xml", "--junit-prefix",
        "--junitprefix", "--report-log", "-n", "--numprocesses", "--dist", "--tx",
        "--maxprocesses", "--basetemp", "--durations", "--durations-min", "--rootdir", "-c",
        "--config-file", "--randomly-seed", "--cov-report", "--cov-fail-under",
    }
)  # fmt: skip
# ... and without one
DROP_FLAGS = frozenset(
    {
        "-x", "--exitfirst", "--lf", "--last-failed", "--ff", "--failed-first", "--nf",
        "--new-first", "--sw", "--stepwise", "--sw-skip", "--stepwise-skip", "--co",
        "--collect-only", "--collectonly", "--pdb", "--trace", "--cache-clear",
        "--looponfail", "-f", "--lfnf", "--last-failed-no-failures",
    }
)  # fmt: skip


def forwarded(args: Sequence[str], positional: Sequence[str]) -> list[str]:
    """The user's options a worker should see too: plugins, ini overrides, --tb, -v..."""
    keep: list[str] = []
    paths = set(positional)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        name = arg.split("=", 1)[0]
        if name == "--delegation-report":
            # nargs="?": a following word that is not an option was taken as its value
            if "=" not in arg and index < len(args) and not args[index].startswith("-"):
                index += 1
            continue
        if name.startswith("--delegation-") or name in DROP_WITH_VALUE:
            if "=" not in arg:
                index += 1
            continue
        if name in DROP_FLAGS or arg in paths:
            continue
        if arg[:2] in ("-k", "-m", "-n", "-c") and len(arg) > 2 and not arg.startswith("--"):
            continue  # -kEXPR: the value is attached
        keep.append(arg)
    return keep


def worker_argv(config: pytest.Config) -> list[str]:
    """Everything of a worker's command line but its spec and test files."""
    positional = list(config.option.file_or_dir or [])
    argv = [sys.executable, "-m", "pytest"]
    argv += forwarded(config.invocation_params.args, positional)
    argv += ["--rootdir", str(config.rootpath)]
    if config.inipath is not None:
        argv += ["-c", str(config.inipath)]
    seed = getattr(config.option, "randomly_seed", None)
    if seed is not None and "--randomly-seed" in " ".join(config.invocation_params.args):
        argv += [f"--randomly-seed={seed}"]  # asked for: shuffle inside the task too
    else:
        argv += ["-p", "no:randomly"]
    if config.pluginmanager.hasplugin("xdist"):
        argv += ["-n", "0"]  # a worker never starts workers of its own
    if coverage_target(config) is not None:
        argv += ["--cov-report="]  # workers measure; the controller combines and reports
    if config.pluginmanager.hasplugin("cacheprovider"):
        argv += ["-o", CACHE_DIR]  # filled in per worker: the user's cache stays the controller's
    argv += ["-p", "pytest_delegation.worker.plugin"]
    return argv


CACHE_DIR = "cache_dir={cache}"  # no such ini key without the cache provider: a warning


def coverage_target(config: pytest.Config) -> Path | None:
    """pytest-cov's data file in the controller, when ``--cov`` measures this run.

    Each worker writes its coverage data to a folder of its own (``COVERAGE_FILE``);
    the controller moves it next to this file, where pytest-cov's own combine step
    picks it up, as it does for pytest-xdist workers: one report for the whole run.
    """
    plugin = config.pluginmanager.get_plugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    combining = getattr(controller, "combining_cov", None)
    data_file = getattr(getattr(combining, "config", None), "data_file", None)
    return Path(data_file) if isinstance(data_file, str) else None


def worker_env(task: str | None, coverage_file: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env[ROLE] = "worker"
    if coverage_file is not None:
        env["COVERAGE_FILE"] = str(coverage_file)
    addopts = env.get("PYTEST_ADDOPTS")
    if addopts:
        env["PYTEST_ADDOPTS"] = shlex.join(forwarded(shlex.split(addopts), ()))
    env["PYTEST_DELEGATION_TASK"] = task or ""
    env.pop("PYTEST_CURRENT_TEST", None)
    return env
