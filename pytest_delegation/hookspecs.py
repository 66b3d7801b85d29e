"""Hooks other plugins and conftests implement to extend pytest-delegation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest


if TYPE_CHECKING:
    from pytest_delegation.checks.findings import Finding
    from pytest_delegation.plan.model import Plan
    from pytest_delegation.report.model import RunReport
    from pytest_delegation.report.model import TaskResult


@pytest.hookspec(firstresult=True)
def pytest_delegation_load_plan(config: pytest.Config, path: Path) -> Plan | None:
    """Supply the plan from another source than the YAML file at ``path``.

    Return a :class:`pytest_delegation.Plan` (``Plan.from_dict`` builds one from plain
    data, validated like the file) or None to fall back to the file.
    """


def pytest_delegation_modify_plan(config: pytest.Config, plan: Plan) -> None:
    """Amend the loaded plan (add tasks, change dependencies) before waves are computed."""


def pytest_delegation_wave_started(config: pytest.Config, wave: int) -> None:
    """A wave (numbered from 1) starts running."""


def pytest_delegation_wave_finished(
    config: pytest.Config, wave: int, results: Mapping[str, TaskResult]
) -> None:
    """A wave has finished; ``results`` maps each of its task ids to its result."""


def pytest_delegation_finding(config: pytest.Config, finding: Finding) -> None:
    """A finding, as soon as it is found (ignored findings are not passed)."""


def pytest_delegation_report(config: pytest.Config, report: RunReport) -> None:
    """The final report of the run; write an output of your own from it."""
