"""Which branch holds each task's work, and what they are merged onto.

A task's own ``branch:`` wins over the template (``--delegation-branches``, else the
plan's ``branches:``); the base is ``--delegation-base``, else the plan's ``base:``,
else HEAD. Pure: git is asked whether the branches exist elsewhere (``branches.git``).
"""

from __future__ import annotations

from pytest_delegation.options import Settings
from pytest_delegation.plan.model import TASK_PLACEHOLDER
from pytest_delegation.plan.model import Plan


#: set in every pytest run a branch run starts: such a run checks its own tree only
IN_TREE = "PYTEST_DELEGATION_IN_TREE"
DEFAULT_BASE = "HEAD"


def template(settings: Settings, plan: Plan) -> str | None:
    return settings.branches or plan.branches


def enabled(settings: Settings, plan: Plan) -> bool:
    """Branch runs are on when a template or any task's ``branch:`` names a branch."""
    return bool(template(settings, plan)) or any(t.branch for t in plan.tasks.values())


def template_problem(value: str) -> str | None:
    """What is wrong with a ``--delegation-branches`` value, or None."""
    rest = value.replace(TASK_PLACEHOLDER, "")
    if TASK_PLACEHOLDER not in value or "{" in rest or "}" in rest:
        return (
            f"--delegation-branches={value}: the template needs {TASK_PLACEHOLDER} where each "
            f"task's id goes, like --delegation-branches='agents/{TASK_PLACEHOLDER}'"
        )
    if value.startswith("-") or any(c.isspace() for c in value):
        return f"--delegation-branches={value}: not a git branch name template"
    return None


def branch_names(settings: Settings, plan: Plan) -> dict[str, str]:
    """Each task that has a branch -> the branch's name, in plan order."""
    pattern = template(settings, plan)
    names: dict[str, str] = {}
    for task_id, task in plan.tasks.items():
        if task.branch:
            names[task_id] = task.branch
        elif pattern:
            names[task_id] = pattern.replace(TASK_PLACEHOLDER, task_id)
    return names


def base_ref(settings: Settings, plan: Plan) -> str:
    return settings.base or plan.base_ref or DEFAULT_BASE
