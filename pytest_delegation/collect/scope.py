"""What this run covers: the whole suite or part of it, one task or all, in wave order."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping

import pytest

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.problems import did_you_mean


def check_task_option(tasks: Collection[str], plan: Plan) -> None:
    problems = [
        f"--delegation-task={task}: no such task in {plan.path.name}"
        f"{did_you_mean(task, plan.tasks)}"
        for task in tasks
        if task not in plan.tasks
    ]
    if problems:
        raise pytest.UsageError("\n".join(problems))


def complete_collection(config: pytest.Config) -> bool:
    """Did this run collect the whole suite, so that a task without tests has none?

    ``--delegation-task`` does not narrow it: it deselects after the whole collection is
    mapped, so every CI job reports the same plan findings and `combine` keeps one.
    """
    lf = config.pluginmanager.get_plugin("lfplugin")
    if lf is not None and getattr(lf, "_skipped_files", False):
        return False
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    root = config.rootpath.resolve()
    testpaths = {(config.rootpath / p).resolve() for p in config.getini("testpaths")}
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if "::" in arg or not (path == root or path in root.parents or path in testpaths):
            return False
    return True


def narrow_to_tasks(
    config: pytest.Config,
    items: list[pytest.Item],
    task_of: Mapping[str, str],
    tasks: Collection[str],
) -> None:
    """``--delegation-task``: deselect every test of another task (or of none)."""
    keep = [i for i in items if task_of.get(i.nodeid) in tasks]
    dropped = [i for i in items if task_of.get(i.nodeid) not in tasks]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def sort_by_wave(items: list[pytest.Item], task_of: Mapping[str, str], plan: Plan) -> None:
    """Wave order wins over any reordering before (pytest-randomly, --ff): a stable sort."""
    rank = {
        task_id: (number, position)
        for number, wave in enumerate(plan.waves, start=1)
        for position, task_id in enumerate(wave)
    }
    last = (len(plan.waves) + 1, 0)
    items.sort(key=lambda item: rank.get(task_of.get(item.nodeid, ""), last))
