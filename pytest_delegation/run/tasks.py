"""The task runs: each task's tests in a worker of its own, by the scheduler's order.

`TaskRunner` is the policy, fed by `pool.Pool` with what workers send: a failing test is
held back while its task will be retried in a fresh worker (so a test shows its task's
last attempt), a crash or a timeout fails the test that was running, a task that fails
blocks its dependents (`scheduler.Scheduler`), and ``-x`` stops every worker. Every test
of a settled task is replayed once: one its worker never ran is skipped with the reason
(the crash before it). A run whose worker died with the fork server did not happen: it
runs again, as the same attempt. It starts no process itself, so its unit tests drive
it with scripted events (tests/test_runner.py).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.findings import Finding
from pytest_delegation.report.model import Results
from pytest_delegation.report.model import TimelineRow
from pytest_delegation.report.progress import Progress
from pytest_delegation.run.pool import Handle
from pytest_delegation.run.process import describe_exit
from pytest_delegation.run.replay import Location
from pytest_delegation.run.replay import synthetic
from pytest_delegation.run.scheduler import Scheduler
from pytest_delegation.run.spec import RunSpec
from pytest_delegation.run.waves import WaveHooks
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status
from pytest_delegation.vocab import fold_outcome
from pytest_delegation.vocab import task_status
from pytest_delegation.worker.protocol import EVENTS


UNTAGGED = "(untagged)"


@dataclass(frozen=True)
class TaskItem:
    """What a runner needs of a collected test: no pytest item crosses into a worker."""

    nodeid: str
    location: Location
    file: str


class Sink(Protocol):
    """Where a runner's reports go: pytest's hooks (`replay.Replayer`), or a test's fake.

    ``replayed`` holds the tests already shown: each is shown once.
    """

    replayed: set[str]

    def report(self, data: dict[str, Any]) -> Any: ...
    def replay(self, nodeid: str, location: Location, reports: list[Any]) -> None: ...
    def warning(self, event: dict[str, Any]) -> None: ...
    def stopping(self) -> bool: ...


@dataclass
class Attempt:
    """What one worker run of a task has told so far.

    ``held`` keeps the reports of failing tests that a retry may run again; ``current``
    is the test that started and has not finished (a crash fails it); ``missing`` are
    ids the worker could not collect.
    """

    worker: Handle
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    held: dict[str, tuple[Location, list[Any]]] = field(default_factory=dict)
    current: tuple[str, Location] | None = None
    reports: list[Any] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    collect_errors: list[str] = field(default_factory=list)
    executed: dict[str, Execution] = field(default_factory=dict)
    finished: bool = False


class TaskRunner:
    """A `pool.PoolClient` that runs the tasks' tests, then the untagged ones."""

    def __init__(
        self,
        scheduler: Scheduler,
        items_by_task: Mapping[str, Sequence[TaskItem]],
        untagged: Sequence[TaskItem],
        results: Results,
        sink: Sink,
        waves: WaveHooks,
        progress: Progress | None,
        add_finding: Callable[[Finding], None],
        retries: int,
        boundaries: bool,
        timeline: list[TimelineRow],
        clock: float = 0.0,
        on_coverage: Callable[[Handle], None] | None = None,
        positions: Mapping[str, int] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.items_by_task = items_by_task
        self.untagged = untagged
        self.results = results
        self.sink = sink
        self.waves = waves
        self.progress = progress
        self.add_finding = add_finding
        self.retries = retries
        self.boundaries = boundaries
        self.timeline = timeline
        self.clock = clock
        self.on_coverage = on_coverage
        #: parametrized ids -> position among their function's tests (see `positions`)
        self.positions = positions or {}
        #: the controller's id -> the one a worker collected in its place
        self.renamed: dict[str, str] = {}
        #: what the order check's bisection weighs: each test's seconds in its task's
        #: last run (its phases), and each test file's collection
        self.durations: dict[str, float] = {}
        self.collect_seconds: dict[str, float] = {}
        self.locations = {
            item.nodeid: item.location
            for items in (*items_by_task.values(), untagged)
            for item in items
        }
        #: task -> file -> the first time its tests ran code there (the last attempt's)
        self.executed: dict[str, dict[str, Execution]] = {}
        #: tasks whose worker could not track files (another tracer was active)
        self.unmeasured: set[str] = set()
        self.attempts: dict[Handle, Attempt] = {}
        self.history: dict[str, list[Attempt]] = {}
        self.untagged_started = False
        self.stopped = False
        #: runs to start again: their workers died with the fork server
        self.again: list[RunSpec] = []
        #: tests that failed in an earlier attempt of a task that then passed
        self.flaky_tests: set[str] = set()

    # -- what to run ------------------------------------------------------------------

    def next_runs(self, free: int, running: int) -> list[RunSpec]:
        if self.stopped:
            return []
        while self.scheduler.upfront:
            # blocked by another CI job's failed task: shown skipped, as any blocked task
            task = self.scheduler.upfront.pop(0)
            self._block(task)
            self.waves.task_settled(task)
        specs = self.again[:free]
        del self.again[:free]
        specs += [self._spec(task) for task in self.scheduler.ready()[: free - len(specs)]]
        if not specs and not running and self.untagged and not self.untagged_started:
            self.untagged_started = True
            specs.append(self._run_spec(None, 1, self.untagged))
        return specs

    def _spec(self, task: str) -> RunSpec:
        attempt = self.scheduler.start(task)
        self.waves.task_started(task)
        return self._run_spec(task, attempt, self.items_by_task[task])

    def _run_spec(self, task: str | None, attempt: int, items: Sequence[TaskItem]) -> RunSpec:
        return RunSpec(
            name=f"{task or 'untagged'}-{attempt}",
            task=task,
            attempt=attempt,
            ids=tuple(item.nodeid for item in items),
            files=tuple(dict.fromkeys(item.file for item in items)),
            boundaries=self.boundaries and task is not None,
            options=positions_of(self.positions, items),
        )

    # -- events from a worker (see worker.protocol) -------------------------------------

    def on_event(self, worker: Handle, event: dict[str, Any]) -> bool:
        attempt = self.attempts.get(worker)
        if attempt is None:
            attempt = self.attempts[worker] = Attempt(worker)
            self.history.setdefault(worker.task or UNTAGGED, []).append(attempt)
        # one method per event of worker.protocol, as pytest-xdist's DSession does
        kind = event.get("event")
        handler = getattr(self, f"worker_{kind}", None) if kind in EVENTS else None
        if handler is not None:
            handler(attempt, event)
        return self.sink.stopping()

    def worker_logstart(self, attempt: Attempt, event: dict[str, Any]) -> None:
        path, line, name = event["location"]
        attempt.current = (event["nodeid"], (path, line, name))
        attempt.reports = []

    def worker_report(self, attempt: Attempt, event: dict[str, Any]) -> None:
        report = self.sink.report(event["data"])
        if isinstance(report, pytest.TestReport) or getattr(report, "when", None):
            attempt.reports.append(report)

    def worker_logfinish(self, attempt: Attempt, event: dict[str, Any]) -> None:
        if attempt.current is not None:
            nodeid, location = attempt.current
            self._test_done(attempt, nodeid, location, attempt.reports)
            attempt.current = None

    def worker_collected(self, attempt: Attempt, event: dict[str, Any]) -> None:
        attempt.missing = list(event.get("missing", []))
        self.renamed.update(event.get("renamed") or {})
        self.collect_seconds.update(event.get("seconds") or {})

    def worker_collectreport(self, attempt: Attempt, event: dict[str, Any]) -> None:
        report = self.sink.report(event["data"])
        attempt.collect_errors.append(f"{report.nodeid}: {report.longreprtext}")

    def worker_warning(self, attempt: Attempt, event: dict[str, Any]) -> None:
        self.sink.warning(event)

    def worker_executed(self, attempt: Attempt, event: dict[str, Any]) -> None:
        if not event.get("measured", True) and attempt.worker.task is not None:
            self.unmeasured.add(attempt.worker.task)
        attempt.executed = {
            path: Execution(str(function), int(line), str(test))
            for path, (function, line, test) in event.get("files", {}).items()
        }

    def worker_finished(self, attempt: Attempt, event: dict[str, Any]) -> None:
        attempt.finished = True

    def _test_done(
        self, attempt: Attempt, nodeid: str, location: Location, reports: list[Any]
    ) -> None:
        outcome: Outcome | None = None
        for report in reports:
            outcome = fold_outcome(
                outcome, report.when, report.outcome, hasattr(report, "wasxfail")
            )
        attempt.outcomes[nodeid] = outcome or Outcome.ERROR
        self.durations[nodeid] = sum(getattr(r, "duration", 0.0) or 0.0 for r in reports)
        self._show(attempt, nodeid, location, reports)

    def _show(self, attempt: Attempt, nodeid: str, location: Location, reports: list[Any]) -> None:
        """Replay a test now, or hold it while its task may still be retried.

        A test shows its task's last attempt: a pass replayed from an attempt that a
        retry follows could not be taken back when the retry fails it.
        """
        worker = attempt.worker
        if worker.task is not None and worker.attempt <= self.retries:
            attempt.held[nodeid] = (location, reports)
            return
        self.sink.replay(nodeid, location, reports)

    # -- the end of a worker run ------------------------------------------------------

    def on_exit(self, worker: Handle, code: int | None, killed: str | None) -> bool:
        attempt = self.attempts.pop(worker, None)
        if killed is None and worker.lost():
            return self._run_again(worker, attempt)
        if attempt is None:
            attempt = Attempt(worker)
            self.history.setdefault(worker.task or UNTAGGED, []).append(attempt)
        crash = self._crash(attempt, code, killed)
        if crash is not None and not attempt.outcomes and attempt.current is None:
            crash += self._tail(attempt)
        for nodeid in attempt.missing:
            location = self.locations.get(nodeid, (nodeid.split("::")[0], None, nodeid))
            detail = "; ".join(attempt.collect_errors) or "the worker did not collect it"
            report = synthetic(
                nodeid, location, "failed", f"not collected in its worker: {detail}"
            )
            attempt.outcomes[nodeid] = Outcome.ERROR
            self._show(attempt, nodeid, location, [report])
        if self.on_coverage is not None:
            self.on_coverage(worker)
        task = worker.task
        status = Status.ERROR if crash else task_status(attempt.outcomes.values())
        if crash is None and not attempt.outcomes and not attempt.missing:
            status = Status.ERROR
            crash = f"worker {describe_exit(code or 0)} before running any test"
            crash += self._tail(attempt)
        self._row(attempt, status)
        if crash is None:
            not_run = "not run: its worker did not run it"
        elif not attempt.outcomes:
            not_run = f"not run: the worker ended before running any test: {crash}"
        elif killed is not None:
            not_run = f"not run: the worker was stopped before it: {crash}"
        else:
            not_run = f"not run: the worker crashed before it: {crash}"
        if task is None:
            self._settle_untagged(attempt, not_run)
            return self.sink.stopping()
        retry, blocked = self.scheduler.finish(task, status)
        self.results.attempt(task, worker.attempt, worker.elapsed)
        if retry:
            if self.progress is not None:
                self.progress.retrying(task, worker.elapsed)
            return False
        self._settle(task, self.scheduler.final[task], crash, not_run)
        if self.sink.stopping():
            # -x / --maxfail: stop here, as a plain run would; dependents stay not run
            for dependent in blocked:
                self.results.settle(dependent, Status.NOT_RUN)
            self.waves.task_settled(task)
            return True
        for dependent in blocked:
            self._block(dependent)
        self.waves.task_settled(task)
        for dependent in blocked:
            self.waves.task_settled(dependent)
        return False

    def _run_again(self, worker: Handle, attempt: Attempt | None) -> bool:
        """The worker died with the fork server it was forked from: the run did not
        happen. It starts again, as the same attempt, and leaves no trace (held reports,
        history, timeline); what it already replayed stays shown."""
        if attempt is not None:
            key = worker.task or UNTAGGED
            self.history[key] = [a for a in self.history[key] if a is not attempt]
        items = self.items_by_task[worker.task] if worker.task is not None else self.untagged
        self.again.append(self._run_spec(worker.task, worker.attempt, items))
        return self.sink.stopping()

    @staticmethod
    def _tail(attempt: Attempt) -> str:
        """The worker's last output, for a run that ended before any test: it tells why
        (a conftest that failed to import, a usage error)."""
        tail = attempt.worker.output_tail()
        return "\n\nlast output of the worker:\n" + tail if tail else ""

    def _row(self, attempt: Attempt, status: Status) -> None:
        """The run in the timeline, with the verdict its task got from it."""
        worker = attempt.worker
        self.timeline.append(
            {
                "kind": "task",
                "task": worker.task,
                "attempt": worker.attempt,
                "start": round(worker.started - self.clock, 3),
                "end": round(worker.started + worker.elapsed - self.clock, 3),
                "tests": len(worker.ids),
                "outcome": status,
            }
        )

    def _crash(self, attempt: Attempt, code: int | None, killed: str | None) -> str | None:
        """How the worker died, if it did; the test it was running fails with the tail."""
        if killed is None and attempt.finished and attempt.current is None:
            return None
        how = killed or describe_exit(code if code is not None else -9)
        running = attempt.current[0] if attempt.current else None
        crash = f"worker {how}" + (f" while running {running}" if running else "")
        if attempt.current is not None:
            nodeid, location = attempt.current
            tail = attempt.worker.output_tail()
            message = crash + ("\n\nlast output of the worker:\n" + tail if tail else "")
            reports = [*attempt.reports, synthetic(nodeid, location, "failed", message, "call")]
            attempt.outcomes[nodeid] = Outcome.FAILED
            self._show(attempt, nodeid, location, reports)
        return crash

    def _settle(self, task: str, status: Status, crash: str | None, not_run: str) -> None:
        """A task's last attempt ended: its verdict, the held reports, the flaky finding.

        A test the last attempt never reached is replayed as skipped, with `not_run` for
        reason (the terminal and junit show every test once), and is `not-run` in the
        results.
        """
        self.results.settle(task, status, crash)
        attempts = self.history[task]
        last = attempts[-1]
        replayed = self.sink.replayed
        for item in self.items_by_task[task]:
            nodeid = item.nodeid
            held = next((a.held[nodeid] for a in reversed(attempts) if nodeid in a.held), None)
            if nodeid in replayed:
                continue
            if held is not None:
                self.sink.replay(nodeid, *held)
            elif nodeid not in last.outcomes:
                self._replay_not_run(item, not_run)
                self.results.not_run(task, nodeid)
        if last.executed:
            self.executed[task] = last.executed
        if status == Status.FLAKY:
            finding = _flaky(task, attempts)
            self.flaky_tests.update(finding.extra["tests"])
            self.add_finding(finding)
        if self.progress is not None:
            tests = len(self.items_by_task[task])
            self.progress.settled(task, status, tests, last.worker.elapsed, len(attempts), crash)

    def _block(self, task: str) -> None:
        culprit = self.scheduler.blocked_by[task]
        self.results.block(task, culprit)
        reason = self.scheduler.blocked_reason(task)
        for item in self.items_by_task.get(task, []):
            self.sink.replay(
                item.nodeid,
                item.location,
                [synthetic(item.nodeid, item.location, "skipped", reason)],
            )
        if self.progress is not None:
            self.progress.blocked(task, culprit)

    def _settle_untagged(self, attempt: Attempt, not_run: str) -> None:
        replayed = self.sink.replayed
        for item in self.untagged:
            held = attempt.held.get(item.nodeid)
            if held:
                self.sink.replay(item.nodeid, *held)
            elif item.nodeid not in attempt.outcomes and item.nodeid not in replayed:
                self._replay_not_run(item, not_run)
                self.results.not_run(None, item.nodeid)

    def _replay_not_run(self, item: TaskItem, reason: str) -> None:
        report = synthetic(item.nodeid, item.location, "skipped", reason)
        self.sink.replay(item.nodeid, item.location, [report])

    # -- -x, --maxfail --------------------------------------------------------------

    def on_stopped(self, worker: Handle) -> None:
        """The loop stopped: a task cut short failed if a test failed, else did not run."""
        self.stop()
        attempt = self.attempts.pop(worker, None)
        task = worker.task
        if task is None:
            return
        self.scheduler.running.discard(task)
        outcomes = attempt.outcomes.values() if attempt is not None else ()
        failed = any(o in FAILING for o in outcomes)
        self.results.settle(task, Status.FAILED if failed else Status.NOT_RUN)
        self.results.attempt(task, worker.attempt, worker.elapsed)

    def stop(self) -> None:
        """Stopped between runs (-x reached while settling): nothing more starts."""
        self.stopped = True
        for dropped in self.scheduler.stop():
            self.results.settle(dropped, Status.NOT_RUN)
        for spec in self.again:  # runs that were to start again: they did not run
            if spec.task is not None:
                self.scheduler.running.discard(spec.task)
                self.results.settle(spec.task, Status.NOT_RUN)
        self.again.clear()


def _flaky(task: str, attempts: Sequence[Attempt]) -> Finding:
    earlier = sorted({n for a in attempts[:-1] for n, o in a.outcomes.items() if o in FAILING})
    more = f" and {len(earlier) - 3} more" if len(earlier) > 3 else ""
    return Finding(
        "flaky",
        f"task '{task}' failed, then passed in a fresh worker (attempt "
        f"{len(attempts)}): {', '.join(earlier[:3])}" + more,
        fix="make these tests deterministic: a retry hides a failure",
        task=task,
        test=earlier[0] if earlier else None,
        extra={"tests": earlier, "attempts": len(attempts)},
    )


def positions(nodeids: Iterable[str]) -> dict[str, int]:
    """Each parametrized id's position among its function's tests, in collection order.

    A worker collects the test again; when the id is built at collection time (a date,
    a random value) the position still finds it (`worker.plugin.Child._renamed`).
    """
    seen: dict[str, int] = {}
    found = {}
    for nodeid in nodeids:
        base, bracket, _ = nodeid.partition("[")
        if bracket:
            found[nodeid] = seen.get(base, 0)
            seen[base] = found[nodeid] + 1
    return found


def positions_of(known: Mapping[str, int], items: Iterable[TaskItem | str]) -> dict[str, object]:
    """The spec option for these tests: the positions of those that have one."""
    ids = [item if isinstance(item, str) else item.nodeid for item in items]
    chosen = {nodeid: known[nodeid] for nodeid in ids if nodeid in known}
    return {"positions": chosen} if chosen else {}
