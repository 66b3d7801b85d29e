"""The wave hooks, called the same way by the worker runs and the in-process mode.

`pytest_delegation_wave_started` when the first task of a wave starts, and
`pytest_delegation_wave_finished` once every task of it with tests to run has settled,
with the results of all the wave's tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable

import pytest

from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import Results


class WaveHooks:
    """Which waves started, which tasks each still waits for; calls the hooks once each."""

    def __init__(
        self,
        config: pytest.Config,
        plan: Plan,
        runnable: Iterable[str],
        results: Results,
        on_start: Callable[[int, list[str]], None] | None = None,
    ) -> None:
        self.config = config
        self.plan = plan
        self.results = results
        self.on_start = on_start
        self.left: dict[int, set[str]] = {}
        for task in runnable:
            self.left.setdefault(plan.wave_of(task), set()).add(task)
        self.started: set[int] = set()

    def task_started(self, task: str) -> None:
        wave = self.plan.wave_of(task)
        if wave in self.started:
            return
        self.started.add(wave)
        if self.on_start is not None:
            self.on_start(wave, sorted(self.left.get(wave, ())))
        self.config.hook.pytest_delegation_wave_started(config=self.config, wave=wave)

    def task_settled(self, task: str) -> None:
        """A wave finishes when its last task settles; a wave never finishes unstarted
        (all of its tasks blocked): it starts first."""
        wave = self.plan.wave_of(task)
        left = self.left.get(wave)
        if left is None or task not in left:
            return
        self.task_started(task)
        left.discard(task)
        if left:
            return
        del self.left[wave]
        names = sorted(t for t in self.results.tasks if self.plan.wave_of(t) == wave)
        self.config.hook.pytest_delegation_wave_finished(
            config=self.config, wave=wave, results={t: self.results[t] for t in names}
        )
