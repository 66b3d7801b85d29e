"""``--delegation-workers=0``: pytest's own loop runs the tests, in wave order.

No isolation, but the same policy as the worker runs: a task whose dependency failed
is blocked (its tests skip) through the same `Scheduler`, the wave hooks come from
the same `WaveHooks`, and each task settles into the same `Results`. Registered by
the session only in this mode, as pytest-cov registers one object per mode.

With a `Tracker` (a branch run's tree, where the process itself is the isolation), the
files each task's tests run code in are measured here too, as a worker measures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import Results
from pytest_delegation.run.scheduler import Scheduler
from pytest_delegation.run.waves import WaveHooks
from pytest_delegation.vocab import task_status
from pytest_delegation.worker.tracker import Tracker


class InProcess:
    name = "delegation-inprocess"

    def __init__(
        self,
        config: pytest.Config,
        plan: Plan,
        task_of: Mapping[str, str],
        results: Results,
        runnable: Sequence[str],
        upstream: Mapping[str, str] | None = None,
        tracker: Tracker | None = None,
    ) -> None:
        self.plan = plan
        self.tracker = tracker
        #: each task -> the project files its tests ran code in (with a tracker)
        self.executed: dict[str, dict[str, Execution]] = {}
        self.tracked: str | None = None
        self.task_of = task_of
        self.results = results
        self.scheduler = Scheduler(plan, runnable, retries=0, upstream=upstream)
        self.waves = WaveHooks(config, plan, runnable, results)
        self.current_wave: int | None = None
        self.started: set[str] = set()
        self.settled: set[str] = set()

    @classmethod
    def for_items(
        cls,
        config: pytest.Config,
        plan: Plan,
        task_of: Mapping[str, str],
        results: Results,
        items: Sequence[pytest.Item],
    ) -> InProcess:
        """The mode for these selected tests: their tasks are the ones that will run."""
        present = {task_of.get(item.nodeid) for item in items}
        runnable = [t for wave in plan.waves for t in wave if t in present and t in results]
        return cls(config, plan, task_of, results, runnable)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        task = self.task_of.get(item.nodeid)
        wave = self.plan.wave_of(task) if task is not None else None
        if wave != self.current_wave:
            self._finish_wave()
            self.current_wave = wave
        if task is not None and task not in self.started:
            self.started.add(task)
            if task in self.scheduler.pending:
                self.scheduler.start(task)
            self.waves.task_started(task)
        if self.tracker is not None:
            self._track(task, item.nodeid)

    def _track(self, task: str | None, nodeid: str) -> None:
        if task != self.tracked:
            self._harvest()
            self.tracked = task
        self.tracker.start(nodeid)  # type: ignore[union-attr]

    def _harvest(self) -> None:
        files = self.tracker.reset() if self.tracker is not None else {}
        if self.tracked is not None:
            found = self.executed.setdefault(self.tracked, {})
            for path, (function, line, test) in files.items():
                found.setdefault(path, Execution(function, line, test))

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if self.tracker is not None:
            self.tracker.stop()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        task = self.task_of.get(item.nodeid)
        if task is not None and task in self.scheduler.blocked_by:
            pytest.skip(self.scheduler.blocked_reason(task))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        task = self.task_of.get(report.nodeid)
        if task is not None and task in self.results:
            self.results.add_duration(task, report.duration)

    def finish(self) -> None:
        """The session ends: the wave that ran last finishes, every other task settles."""
        self._finish_wave()
        self.current_wave = None
        self._harvest()
        self.tracked = None
        for task in list(self.results.tasks):
            self._settle(task, hooks=False)

    def _finish_wave(self) -> None:
        if self.current_wave is None:
            return
        for task in self.plan.waves[self.current_wave - 1]:
            self._settle(task, hooks=True)

    def _settle(self, task: str, hooks: bool) -> None:
        if task in self.settled or task not in self.results:
            return
        self.settled.add(task)
        culprit = self.scheduler.blocked_by.get(task)
        if culprit is not None and task in self.started:
            # reached, and its tests skipped; one never reached (-x) stays not run
            self.results.block(task, culprit)
        else:
            result = self.results[task]
            status = task_status(result.tests.values())
            self.results.settle(task, status)
            self.results.attempt(task, 1 if result.tests else 0, result.duration)
            if task in self.scheduler.running:
                self.scheduler.finish(task, status)
        if hooks:
            self.waves.task_settled(task)
