"""The fork server, started as the plugin configures, before the rest of it is imported.

The server's own start-up (pytest and the installed plugins, 0.3 s to 0.5 s) is the
first workers' wait on a small suite: started here, it overlaps the controller's
imports, the plan's loading and pytest's collection instead of following them. Only
this module and `argv` are imported for it. A run that turns out to start no worker
(a plan with branches, an error in the plan) closes it unused.

The server keeps the environment of this moment; each worker still gets the environment
of its own run (`forkserver._child` replaces it), so what a later ``pytest_configure``
(a conftest's) puts in ``os.environ`` reaches the workers as before.
"""

from __future__ import annotations

import os

import pytest

from pytest_delegation.options import Settings
from pytest_delegation.run.argv import coverage_target
from pytest_delegation.run.argv import measures_processes
from pytest_delegation.run.argv import worker_argv
from pytest_delegation.run.argv import worker_env
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.forkserver import start_server


def server_for(config: pytest.Config, settings: Settings) -> ForkServer | None:
    """A server for this session's workers, or None where none will fork."""
    if settings.start != "fork" or settings.workers == "0" or settings.ci is not None:
        return None
    if config.option.collectonly or settings.branches:
        return None  # nothing runs, or every branch's tree runs its own workers
    if coverage_target(config) is None and measures_processes(os.environ):
        # coverage measured from a process's start-up (COVERAGE_PROCESS_START, with
        # `coverage run`): a forked worker has no start-up, spawn them. pytest-cov's
        # --cov is fine: it starts measuring in the forked child, as in a spawned one
        return None
    # the server itself never measures: its children would inherit the tracer
    return start_server(
        worker_argv(config),
        config.invocation_params.dir,
        worker_env(None, measure=False),
        settings.preload,
    )
