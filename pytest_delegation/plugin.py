"""pytest entry point: options, hooks, marker and fixtures. The work is in DelegationSession."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from pytest_delegation import options


if TYPE_CHECKING:
    from pytest_delegation.plan.model import Plan
    from pytest_delegation.plan.model import Task


@pytest.hookimpl
def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_delegation import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("delegation", "delegation plan and wave execution")
    group.addoption(
        "--delegation-report",
        action="append",
        nargs="?",
        const=("term", None),
        type=options.report_type,
        dest="delegation_report",
        metavar="TYPE[:DEST]",
        help="Check the delegation plan against this run and report: term (default), "
        "json[:PATH]. Repeatable.",
    )
    group.addoption(
        "--delegation-plan",
        dest="delegation_plan",
        metavar="PATH",
        help="The plan file (default: delegation.yaml in rootdir).",
    )
    group.addoption(
        "--delegation-workers",
        dest="delegation_workers",
        type=options.workers_type,
        metavar="N|auto",
        help="Task workers at once (default auto: CPUs, at most max_parallel); "
        "0 runs the tests in this process in wave order, without isolation.",
    )
    group.addoption(
        "--delegation-retries",
        dest="delegation_retries",
        type=options.retries_type,
        metavar="N",
        help="Fresh-worker retries of a failed task (default 1); a pass on retry is flaky.",
    )
    group.addoption(
        "--delegation-timeout",
        dest="delegation_timeout",
        type=options.timeout_type,
        metavar="SECONDS",
        help="Wall-clock limit of one worker run; past it the worker is killed (0: none).",
    )
    group.addoption(
        "--delegation-schedule",
        dest="delegation_schedule",
        type=options.schedule_type,
        metavar="waves|dag",
        help="waves (default): a wave starts when the previous one is done. "
        "dag: a task starts as soon as its own dependencies have passed.",
    )
    group.addoption(
        "--delegation-start",
        dest="delegation_start",
        type=options.start_type,
        metavar="fork|spawn",
        help="fork (default, Linux): workers fork from a server that imported pytest and "
        "the plugins once. spawn: every worker is a new `python -m pytest` process.",
    )
    group.addoption(
        "--delegation-real-home",
        action="store_true",
        dest="delegation_real_home",
        help="Task workers keep your HOME and TMPDIR (default: each worker run gets its "
        "own, removed after it; the order check's runs always do).",
    )
    group.addoption(
        "--delegation-check",
        dest="delegation_check",
        type=options.checks_type,
        metavar="LIST",
        help="Comma list of isolation, order, boundaries (default: isolation,boundaries; "
        "the order check replays the suite several times); all or none.",
    )
    group.addoption(
        "--delegation-fail-on",
        dest="delegation_fail_on",
        type=options.fail_on_type,
        metavar="LEVEL",
        help="Which findings fail the session: error (default), warning or never.",
    )
    group.addoption(
        "--delegation-seed",
        dest="delegation_seed",
        type=int,
        metavar="N",
        help="Seed of the shuffled orders of the order check (printed, to repeat a run).",
    )
    group.addoption(
        "--delegation-shuffles",
        dest="delegation_shuffles",
        type=options.retries_type,
        metavar="K",
        help="Seeded shuffled orders the order check runs besides forward and reverse "
        "(default 2).",
    )
    group.addoption(
        "--delegation-diff",
        dest="delegation_diff",
        metavar="REF",
        help="Also check the files changed since the git ref REF against the plan.",
    )
    group.addoption(
        "--delegation-branches",
        dest="delegation_branches",
        metavar="TEMPLATE",
        help="Check each task on its own git branch, named by TEMPLATE ('agents/{task}'), "
        "then merge the branches wave by wave and say what to accept and what to retry.",
    )
    group.addoption(
        "--delegation-base",
        dest="delegation_base",
        metavar="REF",
        help="The ref the task branches are merged onto (default: the plan's base:, else HEAD).",
    )
    group.addoption(
        "--delegation-task",
        dest="delegation_task",
        action="append",
        type=options.tasks_type,
        metavar="ID[,ID...]",
        help="Run and report only these tasks (a CI job's share). Repeatable.",
    )
    group.addoption(
        "--delegation-suggest",
        dest="delegation_suggest",
        metavar="PATH",
        help="Write the plan this run says you should have (YAML: your plan with the fixes, "
        "comments kept) and print each change and why.",
    )
    group.addoption(
        "--delegation-upstream",
        dest="delegation_upstream",
        metavar="DIR",
        help="A CI job's dependencies' JSON reports (downloaded artifacts): a failed or "
        "blocked dependency blocks the tasks that need it.",
    )
    group.addoption(
        "--delegation-ci",
        dest="delegation_ci",
        type=options.ci_type,
        metavar="github|gitlab|matrix[:PATH]",
        help="Write CI jobs for the plan (a GitHub Actions workflow, a GitLab CI file, or "
        "the matrix JSON, - for standard output); runs no test.",
    )
    group.addoption(
        "--delegation-ci-jobs",
        dest="delegation_ci_jobs",
        type=options.jobs_type,
        metavar="N",
        help="At most N jobs per wave in --delegation-ci: a wave's tasks are packed by "
        "their recorded durations, longest first.",
    )
    parser.addini("delegation_plan", "The delegation plan file, relative to the ini file.")
    parser.addini(
        "delegation_codeowners",
        "A CODEOWNERS file as the ownership map (relative to the ini file): each owner is a "
        "task owning what its patterns match, the last matching pattern winning.",
    )
    parser.addini(
        "delegation_ci_template",
        "The YAML file that says how a generated CI job installs the project "
        "(--delegation-ci), relative to the ini file.",
    )
    parser.addini("delegation_workers", "Task workers at once (N, auto or 0).")
    parser.addini("delegation_retries", "Fresh-worker retries of a failed task (default 1).")
    parser.addini("delegation_timeout", "Wall-clock limit of one worker run, in seconds.")
    parser.addini("delegation_schedule", "Worker schedule: waves (default) or dag.")
    parser.addini("delegation_start", "How workers start: fork (default) or spawn.")
    parser.addini(
        "delegation_real_home",
        "Task workers keep the user's HOME and TMPDIR (default false).",
        type="bool",
        default=False,
    )
    parser.addini("delegation_shuffles", "Shuffled orders of the order check (default 2).")
    parser.addini("delegation_check", "Checks to run: isolation, order, boundaries, all, none.")
    parser.addini("delegation_fail_on", "Which findings fail the session: error, warning, never.")
    parser.addini(
        "delegation_preload",
        "Modules the fork server imports for every worker (heavy libraries all tasks use).",
        type="args",
    )
    parser.addini(
        "delegation_ignore",
        "Findings to silence: rule ids, or rule:task.",
        type="linelist",
    )


# tryfirst: before pytest-xdist's configure decides to start its own workers
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "task(id): the delegation task this test verifies (pytest-delegation)"
    )
    # a process the plugin started (a worker, an order-check run, a reproduce run) never
    # acts as a controller, whatever its ini, PYTEST_ADDOPTS or command line say: that
    # was a fork bomb with `addopts = --delegation-report`. The mark is taken out of the
    # environment, so pytest runs the tests themselves start behave as anywhere else.
    started_by_us = os.environ.pop(options.ROLE, None)
    if not config.option.delegation_report and not config.option.delegation_ci:
        return
    if started_by_us or config.getoption("delegation_child", None):
        return
    from pytest_delegation.run.early import server_for

    settings = options.take_over_xdist(config, options.resolve(config))
    # first: the server imports while the rest of the plugin does (run/early.py)
    server = server_for(config, settings)
    try:
        from pytest_delegation.session import DelegationSession

        session = DelegationSession(config, settings, server)
    except BaseException:
        if server is not None:
            server.close()
        raise
    config.pluginmanager.register(session, DelegationSession.name)


@pytest.fixture(scope="session")
def delegation_plan(pytestconfig: pytest.Config) -> Plan:
    """The loaded plan, read-only: tasks, waves, shared files."""
    from pytest_delegation.fixtures import plan_for_fixture

    return plan_for_fixture(pytestconfig)


@pytest.fixture
def delegation_task(request: pytest.FixtureRequest, delegation_plan: Plan) -> Task:
    """The task of the requesting test."""
    from pytest_delegation.fixtures import task_for_fixture

    return task_for_fixture(request, delegation_plan)
