"""Check the promises of a parallel task-delegation plan against a real pytest suite."""

from __future__ import annotations

from pytest_delegation.errors import PlanError
from pytest_delegation.errors import PlanProblem
from pytest_delegation.findings import Finding
from pytest_delegation.plan import Plan
from pytest_delegation.plan import Task
from pytest_delegation.plan import load_plan


__version__ = "0.1.0"

__all__ = ["Finding", "Plan", "PlanError", "PlanProblem", "Task", "__version__", "load_plan"]
