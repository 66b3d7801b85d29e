"""The ``delegation_plan`` and ``delegation_task`` fixtures, with or without a report run."""

from __future__ import annotations

import pytest

from pytest_delegation.collect.loading import AUTO
from pytest_delegation.collect.loading import configured_plan
from pytest_delegation.collect.mapping import Selectors
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.collect.mapping import plan_folder
from pytest_delegation.options import resolve
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.session import DelegationSession


plan_key = pytest.StashKey[Plan]()


def plan_for_fixture(config: pytest.Config) -> Plan:
    session = config.pluginmanager.get_plugin(DelegationSession.name)
    if isinstance(session, DelegationSession) and session.plan is not None:
        return session.plan
    if plan_key not in config.stash:
        settings = resolve(config)
        if settings.plan == AUTO:
            pytest.fail("delegation_plan: an 'auto' plan exists only with --delegation-report")
        try:
            config.stash[plan_key] = configured_plan(config, settings)
        except pytest.UsageError as exc:
            pytest.fail(f"delegation_plan: {exc}", pytrace=False)
    return config.stash[plan_key]


def task_for_fixture(request: pytest.FixtureRequest, plan: Plan) -> Task:
    item = request.node
    session = request.config.pluginmanager.get_plugin(DelegationSession.name)
    task_id: str | None = None
    if isinstance(session, DelegationSession) and session.assignment is not None:
        task_id = session.assignment.task_of.get(item.nodeid)
    else:
        mark = item.get_closest_marker("task")
        if mark is not None and mark.args:
            task_id = mark.args[0]
        else:
            nodeid = item.nodeid
            ref = TestRef(nodeid, nodeid.split("::", 1)[0])
            found = Selectors(plan, plan_folder(plan, request.config.rootpath)).tasks_for(ref)
            task_id = found[0] if found else None
    if task_id is None or task_id not in plan.tasks:
        pytest.fail(
            f"delegation_task: {item.nodeid} belongs to no task of the plan; mark it with "
            '@pytest.mark.task("<id>") or add it to a task\'s tests:',
            pytrace=False,
        )
    return plan.tasks[task_id]
