"""Which task runs next: pure bookkeeping of the wave (or DAG) schedule, no processes.

`waves`: a wave starts when the previous one is done. `dag`: a task starts as soon as
its own dependencies have passed. Either way, among ready tasks the one heading the
longest remaining chain of work starts first, so the critical path is never last.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_delegation.plan.model import Plan
from pytest_delegation.vocab import BLOCKING
from pytest_delegation.vocab import Status


@dataclass
class Scheduler:
    plan: Plan
    runnable: Sequence[str]  # tasks with selected tests, in plan order
    mode: str = "waves"
    retries: int = 1
    estimates: Mapping[str, float] | None = None
    #: dependencies outside this run (another CI job's) that did not pass -> the task
    #: that failed first: their dependents here are blocked before anything starts
    upstream: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        self.pending: set[str] = set(self.runnable)
        self.running: set[str] = set()
        self.final: dict[str, Status] = {}
        self.attempts: dict[str, int] = {task: 0 for task in self.runnable}
        self.blocked_by: dict[str, str] = {}
        self.wave_number = {
            task: number for number, wave in enumerate(self.plan.waves, start=1) for task in wave
        }
        self.dependents: dict[str, set[str]] = {task: set() for task in self.plan.tasks}
        for task_id, task in self.plan.tasks.items():
            for dep in task.depends_on:
                self.dependents[dep].add(task_id)
        self.priority = self._priorities()
        #: tasks blocked by an upstream failure before the run started, in order
        self.upfront: list[str] = []
        for dep, root in sorted((self.upstream or {}).items()):
            if root != dep:
                self.blocked_by[dep] = root
            self.upfront.extend(self._block_dependents(dep))

    def _priorities(self) -> dict[str, float]:
        """Length of the longest chain of estimated work that starts at each task."""
        estimates = self.estimates or {}
        chain: dict[str, float] = {}
        for wave in reversed(self.plan.waves):
            for task in wave:
                own = estimates.get(task, 1.0) if task in self.attempts else 0.0
                chain[task] = own + max((chain[d] for d in self.dependents[task]), default=0.0)
        return chain

    @property
    def done(self) -> bool:
        return not self.pending and not self.running

    def current_wave(self) -> int | None:
        waiting = [self.wave_number[t] for t in (*self.pending, *self.running)]
        return min(waiting, default=None)

    def ready(self) -> list[str]:
        """Tasks that may start now, most urgent first."""
        if self.mode == "waves":
            wave = self.current_wave()
            candidates = [t for t in self.pending if self.wave_number[t] == wave]
        else:
            candidates = [
                t
                for t in self.pending
                if all(self._settled(dep) for dep in self.plan.tasks[t].depends_on)
            ]
        return sorted(candidates, key=lambda t: (-self.priority[t], t))

    def _settled(self, dep: str) -> bool:
        if dep in self.pending or dep in self.running:
            return False
        return True  # finished, or had nothing to run

    def start(self, task: str) -> int:
        """Mark a task started; return its attempt number (1 for the first run)."""
        self.pending.discard(task)
        self.running.add(task)
        self.attempts[task] += 1
        return self.attempts[task]

    def finish(self, task: str, status: Status) -> tuple[bool, list[str]]:
        """Record how an attempt ended; return (retry it?, tasks it blocks now)."""
        self.running.discard(task)
        if status == Status.FAILED and self.attempts[task] <= self.retries:
            self.pending.add(task)
            return True, []
        if status == Status.PASSED and self.attempts[task] > 1:
            status = Status.FLAKY
        self.final[task] = status
        if status not in BLOCKING:
            return False, []
        return False, self._block_dependents(task)

    def _block_dependents(self, task: str) -> list[str]:
        root = self.blocked_by.get(task, task)
        blocked = []
        todo = sorted(self.dependents[task])
        while todo:
            dependent = todo.pop(0)
            if dependent in self.blocked_by or dependent in self.final:
                continue
            if dependent in self.running:
                continue  # cannot happen: dependents start after their dependencies
            self.blocked_by[dependent] = root
            if dependent in self.pending:
                self.pending.discard(dependent)
                self.final[dependent] = Status.BLOCKED
                blocked.append(dependent)
            todo.extend(sorted(self.dependents[dependent]))
        return blocked

    def blocked_reason(self, task: str) -> str:
        """The skip message of a blocked task's tests, in every mode."""
        return f"blocked: task '{task}' depends on '{self.blocked_by[task]}', which failed"

    def stop(self) -> list[str]:
        """Give up on everything not started (-x, --maxfail, Ctrl-C); return those tasks."""
        dropped = sorted(self.pending)
        self.pending.clear()
        return dropped
