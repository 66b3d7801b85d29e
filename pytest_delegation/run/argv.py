"""A worker's command line and environment: what of the user's invocation it inherits.

Workers see the user's plugins, ini overrides, ``--tb`` and ``-v``, but never what
selects or distributes tests (``-k``, ``-x``, ``-n``, ``--lf``...): the controller
chose the tests, and a worker must not start workers or shuffle of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from fnmatch import fnmatch
import os
from pathlib import Path
import shlex
import site
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

# the plugin's own options that take no value (every other one takes one)
DELEGATION_FLAGS = frozenset({"--delegation-real-home"})


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
        if name in DELEGATION_FLAGS:
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


def worker_argv(config: pytest.Config, measure: bool = True) -> list[str]:
    """Everything of a worker's command line but its spec and test files.

    ``measure=False`` is for the order check's replays: they never measure coverage
    (see `unmeasured`).
    """
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
    if measure and coverage_target(config) is not None:
        argv += ["--cov-report="]  # workers measure; the controller combines and reports
    if config.pluginmanager.hasplugin("cacheprovider"):
        argv += ["-o", CACHE_DIR]  # filled in per worker: the user's cache stays the controller's
    argv += ["-p", "pytest_delegation.worker.plugin"]
    if not measure:
        argv += unmeasured(config)
    return argv


def unmeasured(config: pytest.Config) -> list[str]:
    """The options that keep a replay (an order-check run, a reproduce command) from
    measuring coverage: ``--no-cov`` wherever pytest-cov is loaded.

    A replay that measured would start pytest-cov's controller in the rootdir, whose
    combine step takes in (and deletes) the task workers' data handed over next to the
    controller's data file, and whose next start erases the result: the session's
    total dropped to what the last replay ran. ``--no-cov`` beats ``--cov`` from the
    ini's addopts or PYTEST_ADDOPTS, and comes last, so pytest-cov does not warn that
    a ``--cov`` after it is ignored. (``-p no:pytest_cov`` would not do: the ``--cov``
    of an ini would be an unknown option then.)
    """
    return ["--no-cov"] if hasattr(config.option, "no_cov") else []


def unmeasured_reproduce(config: pytest.Config) -> list[str]:
    """`unmeasured` for a reproduce command, which has none of the user's command line.

    A pytest-cov loaded by ``-p`` on the command line only is not in the reproduce run:
    ``--no-cov`` would be an unknown option there (its data goes to the run's own
    COVERAGE_FILE anyway, see `reproduce.Reproducer`).
    """
    args = [str(arg) for arg in config.invocation_params.args]
    for index, arg in enumerate(args):
        if arg == "-p" and index + 1 < len(args):
            named = args[index + 1]
        elif arg.startswith("-p") and not arg.startswith("--"):
            named = arg[2:]
        else:
            continue
        if named.split(".")[0] == "pytest_cov":
            return []
    return unmeasured(config)


def collection_args(
    files: Sequence[str], python_files: Sequence[str]
) -> tuple[list[str], list[str]]:
    """A worker's test paths, and the files it must keep while it walks them (`only`).

    Given files as arguments, pytest walks each file's folder again for every one of
    them: a task of 50 modules in a folder of 1,000 took longer to collect than the
    whole folder (O(arguments x files in the folder)). So the worker gets the topmost
    folders instead, and its plugin ignores every other file and folder on the way
    (``pytest_ignore_collect``): one walk, nothing imported outside the task. Files a
    folder's walk would not collect (not ``.py``, or outside ``python_files``: passed by
    name, doctest modules) go by name, as before, with all the others.
    """
    if not files or not all(_collected_in_walk(file, python_files) for file in files):
        return list(files), []
    folders = sorted({os.path.dirname(file) for file in files})
    topmost = [
        folder
        for folder in folders
        if not any(folder.startswith(other.rstrip(os.sep) + os.sep) for other in folders)
    ]
    return topmost, list(files)


def _collected_in_walk(file: str, python_files: Sequence[str]) -> bool:
    name = os.path.basename(file)
    return (
        os.path.isabs(file)
        and name.endswith(".py")
        and name != "__init__.py"
        and any("/" not in p and os.sep not in p and fnmatch(name, p) for p in python_files)
    )


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


# what starts coverage in a fresh process before pytest does: coverage's own .pth
# (COVERAGE_PROCESS_START, and COVERAGE_PROCESS_CONFIG set by ``patch = subprocess``)
# and pytest-cov before 7.0's (its COV_CORE_* variables)
PROCESS_COVERAGE = ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")
PROCESS_COVERAGE_PREFIX = "COV_CORE_"


def measures_processes(env: Mapping[str, str]) -> bool:
    """Whether a process started with `env` starts measuring coverage on its own."""
    return any(env.get(name) for name in PROCESS_COVERAGE) or any(
        name.startswith(PROCESS_COVERAGE_PREFIX) for name in env
    )


def worker_env(
    task: str | None, coverage_file: Path | None = None, measure: bool = True
) -> dict[str, str]:
    """A worker's environment; ``measure=False`` (the order check's runs, the reproduce
    commands, the fork server itself) leaves out what would start coverage in it."""
    env = dict(os.environ)
    env[ROLE] = "worker"
    if not measure:
        for name in list(env):
            if name in PROCESS_COVERAGE or name.startswith(PROCESS_COVERAGE_PREFIX):
                del env[name]
    if coverage_file is not None:
        env["COVERAGE_FILE"] = str(coverage_file)
    addopts = env.get("PYTEST_ADDOPTS")
    if addopts:
        env["PYTEST_ADDOPTS"] = shlex.join(forwarded(shlex.split(addopts), ()))
    env["PYTEST_DELEGATION_TASK"] = task or ""
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def keep_user_site(env: dict[str, str]) -> None:
    """A worker with a HOME of its own still imports the user's site-packages.

    Python finds them from HOME (``pip install --user``: pytest itself, maybe): a
    spawned worker would lose them, a forked one would not (the server found them).
    """
    replaced = env.get("HOME") != os.environ.get("HOME")
    if replaced and site.ENABLE_USER_SITE and "PYTHONUSERBASE" not in env:
        env["PYTHONUSERBASE"] = site.getuserbase()
