"""The plan layer: pure data and logic, no pytest, no processes.

``problems`` (what is wrong, with file and line), ``positions`` (YAML that remembers
lines), ``model`` (Task, Plan, reading and validating), ``graph`` (cycles, dependencies,
waves), ``patterns`` (gitignore-style paths and the project tree), ``ownership`` (who
owns a path: one answer for every check).
"""

from __future__ import annotations

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict


__all__ = ["Plan", "Task", "load_plan", "plan_from_dict"]
