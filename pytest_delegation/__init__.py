"""Check the promises of a parallel task-delegation plan against a real pytest suite.

The public names resolve lazily (module ``__getattr__``, as pluggy does): a worker
imports ``pytest_delegation.worker`` without loading the plan stack and PyYAML.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_delegation.checks.findings import Finding
    from pytest_delegation.plan.model import Plan
    from pytest_delegation.plan.model import Task
    from pytest_delegation.plan.model import load_plan
    from pytest_delegation.plan.problems import PlanError
    from pytest_delegation.plan.problems import PlanProblem


__version__ = "0.1.0"

__all__ = ["Finding", "Plan", "PlanError", "PlanProblem", "Task", "__version__", "load_plan"]

#: public name -> the module that defines it
_PUBLIC = {
    "Finding": "pytest_delegation.checks.findings",
    "Plan": "pytest_delegation.plan.model",
    "Task": "pytest_delegation.plan.model",
    "load_plan": "pytest_delegation.plan.model",
    "PlanError": "pytest_delegation.plan.problems",
    "PlanProblem": "pytest_delegation.plan.problems",
}


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_delegation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
