"""The plan layer: pure data and logic, no pytest, no processes.

``problems`` (what is wrong, with file and line), ``positions`` (YAML that remembers
lines), ``model`` (Task, Plan, reading and validating), ``graph`` (cycles, dependencies),
``waves``, ``patterns`` (gitignore-style paths and the project tree), ``ownership`` (who
owns a path: one answer for every check). The public names resolve lazily, so that
importing ``plan.problems`` (as the options do, in every worker) does not load PyYAML.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_delegation.plan.model import Plan
    from pytest_delegation.plan.model import Task
    from pytest_delegation.plan.model import load_plan
    from pytest_delegation.plan.model import plan_from_dict


__all__ = ["Plan", "Task", "load_plan", "plan_from_dict"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'pytest_delegation.plan' has no attribute {name!r}")
    return getattr(importlib.import_module("pytest_delegation.plan.model"), name)
