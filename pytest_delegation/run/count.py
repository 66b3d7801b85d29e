"""How many workers a session runs at once, and how the report names that mode."""

from __future__ import annotations

import os

import pytest

from pytest_delegation.options import Settings
from pytest_delegation.plan.model import Plan


#: a plan not read yet (``auto``) runs at most this many workers
AUTO_LIMIT = 4


def worker_count(config: pytest.Config, settings: Settings, plan: Plan | None) -> int:
    """Workers at once; 0 is the in-process mode (also for ``--collect-only``'s auto)."""
    if settings.workers != "auto":
        return int(settings.workers)
    if config.option.collectonly:
        return 0
    limit = plan.max_parallel if plan is not None else AUTO_LIMIT
    return max(1, min(os.cpu_count() or 1, limit))


def mode_label(workers: int, schedule: str, workers_from: str = "") -> str:
    if workers == 0:
        return "in-process"
    origin = f" ({workers_from})" if workers_from else ""
    return f"{workers} worker{'s' * (workers != 1)}{origin}, {schedule} schedule"
