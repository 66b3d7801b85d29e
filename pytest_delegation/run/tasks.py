"""The wave runner: runs each task's tests in a worker of its own, waves one after another.

Reports stream back from the workers and are replayed through pytest's own hooks, so
the terminal, junitxml and other plugins see every test exactly once, live. A failed
task is retried in a fresh worker; a failure that will be retried is held back, so a
test shows the outcome of its task's last attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
import selectors
import shutil
import signal
import tempfile
from types import FrameType
from typing import Any
import warnings

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.findings import Finding
from pytest_delegation.report.model import TaskResult
from pytest_delegation.run.argv import coverage_target
from pytest_delegation.run.argv import worker_argv
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.process import Worker
from pytest_delegation.run.process import describe_exit
from pytest_delegation.run.replay import Location
from pytest_delegation.run.replay import from_worker
from pytest_delegation.run.replay import replay_test
from pytest_delegation.run.replay import synthetic
from pytest_delegation.run.scheduler import Scheduler
from pytest_delegation.vocab import fold_outcome
from pytest_delegation.vocab import task_status


UNTAGGED = "(untagged)"


@dataclass
class Attempt:
    """What one worker run of a task has told so far."""

    worker: Worker
    outcomes: dict[str, str] = field(default_factory=dict)
    held: dict[str, tuple[Location, list[pytest.TestReport]]] = field(default_factory=dict)
    current: tuple[str, Location] | None = None
    reports: list[pytest.TestReport] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    collect_errors: list[str] = field(default_factory=list)
    executed: dict[str, Execution] = field(default_factory=dict)
    finished: bool = False


@dataclass
class Settings:
    workers: int
    retries: int
    timeout: float | None
    schedule: str
    boundaries: bool = False


class Controller:
    def __init__(
        self,
        session: pytest.Session,
        settings: Settings,
        plan_tasks: Sequence[str],
        scheduler: Scheduler,
        items_by_task: dict[str, list[pytest.Item]],
        untagged: list[pytest.Item],
        results: dict[str, TaskResult],
        add_finding: Callable[[Finding], None],
        wave_of: Callable[[str], int],
        timeline: list[dict[str, Any]] | None = None,
        clock: float = 0.0,
        server: ForkServer | None = None,
    ) -> None:
        self.server = server  # workers fork from it, or are spawned when None
        self.timeline = timeline if timeline is not None else []
        self.clock = clock
        self.session = session
        self.config = session.config
        self.settings = settings
        self.scheduler = scheduler
        self.items_by_task = items_by_task
        self.untagged = untagged
        self.results = results
        self.add_finding = add_finding
        self.wave_of = wave_of
        self.locations = {
            item.nodeid: item.location
            for items in (*items_by_task.values(), untagged)
            for item in items
        }
        self.replayed: set[str] = set()
        self.executed: dict[str, dict[str, Execution]] = {}  # task -> file -> first run
        self.unmeasured: set[str] = set()  # tasks whose worker could not track files
        self.attempts: dict[Worker, Attempt] = {}
        self.history: dict[str, list[Attempt]] = {}
        self.selector = selectors.DefaultSelector()
        self.argv = worker_argv(self.config)
        self.coverage = coverage_target(self.config)
        basetemp = self.config.option.basetemp
        self.basetemp = Path(basetemp).resolve() if basetemp else None
        self.tr = self.config.pluginmanager.get_plugin("terminalreporter")
        self.waves_left = {
            number: {t for t in plan_tasks if wave_of(t) == number}
            for number in {wave_of(t) for t in plan_tasks}
        }
        self.waves_started: set[int] = set()
        self.stopped = False

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="pytest-delegation-"))
        try:
            with _sigterm_as_interrupt():
                self._loop(workdir)
                if self.untagged and not self.stopped:
                    self._start(None, self.untagged, workdir)
                    self._drain()
        finally:
            for worker in list(self.attempts):
                worker.kill()
                worker.wait()
                self._forget(worker)
            self.selector.close()
            shutil.rmtree(workdir, ignore_errors=True)
        if self.session.shouldfail:
            raise self.session.Failed(self.session.shouldfail)
        if self.session.shouldstop:
            raise self.session.Interrupted(self.session.shouldstop)

    def _loop(self, workdir: Path) -> None:
        scheduler = self.scheduler
        while not scheduler.done and not self.stopped:
            for task in scheduler.ready():
                if len(self.attempts) >= self.settings.workers:
                    break
                self._start(task, self.items_by_task[task], workdir)
            if not self.attempts:
                break  # nothing running and nothing ready: every remaining task is blocked
            self._wait_once()

    def _drain(self) -> None:
        while self.attempts:
            self._wait_once()

    def _start(self, task: str | None, items: list[pytest.Item], workdir: Path) -> None:
        attempt_number = self.scheduler.start(task) if task is not None else 1
        if task is not None:
            wave = self.wave_of(task)
            if wave not in self.waves_started:
                self.waves_started.add(wave)
                self._say(f"wave {wave}: {', '.join(sorted(self.waves_left[wave]))}", bold=True)
                self.config.hook.pytest_delegation_wave_started(config=self.config, wave=wave)
        files = list(dict.fromkeys(str(item.path) for item in items))
        worker = Worker(
            task,
            attempt_number,
            [item.nodeid for item in items],
            files,
            self.argv,
            self.config.invocation_params.dir,
            workdir,
            self.basetemp,
            boundaries=self.settings.boundaries and task is not None,
            coverage=self.coverage is not None,
            server=self.server,
        )
        attempt = Attempt(worker)
        self.attempts[worker] = attempt
        self.history.setdefault(task or UNTAGGED, []).append(attempt)
        self.selector.register(worker, selectors.EVENT_READ)

    def _wait_once(self) -> None:
        timeout = self.settings.timeout
        wait = 0.5
        if timeout is not None:
            wait = max(0.01, min(wait, min(timeout - w.elapsed for w in self.attempts)))
        for key, _ in self.selector.select(wait):
            worker = key.fileobj
            assert isinstance(worker, Worker)
            if worker not in self.attempts:
                continue  # stopped (-x) by an event handled a moment ago
            events, closed = worker.read()
            attempt = self.attempts[worker]
            for event in events:
                self._handle(attempt, event)
                if self.session.shouldfail or self.session.shouldstop:
                    self._stop()
                    return
            if closed:
                self._finish(attempt, worker.wait(), None)
        if timeout is not None:
            for worker, attempt in list(self.attempts.items()):
                if worker.elapsed > timeout:
                    worker.kill()
                    worker.wait()
                    self._finish(attempt, None, f"timed out after {timeout:g}s")

    def _stop(self) -> None:
        """-x or --maxfail: stop every worker; what did not run stays not run."""
        self.stopped = True
        for dropped in self.scheduler.stop():
            self.results[dropped].status = "not-run"
        for worker, attempt in list(self.attempts.items()):
            worker.kill()
            worker.wait()
            self._forget(worker)
            worker.close()
            if worker.task is not None:
                task = worker.task
                self.scheduler.running.discard(task)
                outcomes = [*attempt.outcomes.values()]
                failed = any(o in ("failed", "error") for o in outcomes)
                result = self.results[task]
                result.status = "failed" if failed else "not-run"
                result.attempts = worker.attempt
                result.duration = worker.elapsed

    # -- events from a worker ---------------------------------------------------------

    def _handle(self, attempt: Attempt, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "logstart":
            path, line, name = event["location"]
            attempt.current = (event["nodeid"], (path, line, name))
            attempt.reports = []
        elif kind == "report":
            report = from_worker(self.config, event["data"])
            if isinstance(report, pytest.TestReport):
                attempt.reports.append(report)
        elif kind == "logfinish" and attempt.current is not None:
            nodeid, location = attempt.current
            self._test_done(attempt, nodeid, location, attempt.reports)
            attempt.current = None
        elif kind == "collected":
            attempt.missing = list(event.get("missing", []))
        elif kind == "collectreport":
            report = from_worker(self.config, event["data"])
            attempt.collect_errors.append(f"{report.nodeid}: {report.longreprtext}")
        elif kind == "warning":
            self._warning(event)
        elif kind == "executed":
            if not event.get("measured", True) and attempt.worker.task is not None:
                self.unmeasured.add(attempt.worker.task)
            attempt.executed = {
                path: Execution(str(function), int(line), str(test))
                for path, (function, line, test) in event.get("files", {}).items()
            }
        elif kind == "finished":
            attempt.finished = True

    def _test_done(
        self, attempt: Attempt, nodeid: str, location: Location, reports: list[pytest.TestReport]
    ) -> None:
        outcome: str | None = None
        for report in reports:
            outcome = fold_outcome(
                outcome, report.when, report.outcome, hasattr(report, "wasxfail")
            )
        outcome = outcome or "error"
        attempt.outcomes[nodeid] = outcome
        task = attempt.worker.task
        retry_left = task is not None and attempt.worker.attempt <= self.settings.retries
        if outcome in ("failed", "error") and retry_left:
            attempt.held[nodeid] = (location, reports)  # shown only if no retry runs it
            return
        self._replay(nodeid, location, reports)

    def _replay(self, nodeid: str, location: Location, reports: list[pytest.TestReport]) -> None:
        if nodeid in self.replayed:
            return
        self.replayed.add(nodeid)
        replay_test(self.config, nodeid, location, reports)

    def _warning(self, event: dict[str, Any]) -> None:
        category = _warning_category(str(event.get("category")))
        message = warnings.WarningMessage(
            category(str(event.get("message"))),
            category,
            str(event.get("filename")),
            int(event.get("lineno") or 0),
        )
        self.config.hook.pytest_warning_recorded.call_historic(
            kwargs=dict(
                warning_message=message,
                when=event.get("when", "runtest"),
                nodeid=event.get("nodeid", ""),
                location=None,
            )
        )

    # -- the end of a worker run ------------------------------------------------------

    def _finish(self, attempt: Attempt, code: int | None, killed: str | None) -> None:
        worker = attempt.worker
        self._forget(worker)
        self.timeline.append(
            {
                "kind": "task",
                "task": worker.task,
                "attempt": worker.attempt,
                "start": round(worker.started - self.clock, 3),
                "end": round(worker.started + worker.elapsed - self.clock, 3),
                "tests": len(worker.ids),
                "outcome": "error"
                if killed or not attempt.finished
                else (task_status(attempt.outcomes.values())),
            }
        )
        task = worker.task
        crash = None
        if killed is not None or not attempt.finished or attempt.current is not None:
            how = killed or describe_exit(code if code is not None else -9)
            running = attempt.current[0] if attempt.current else None
            crash = f"worker {how}" + (f" while running {running}" if running else "")
            if attempt.current is not None:
                nodeid, location = attempt.current
                tail = worker.output_tail()
                message = crash + ("\n\nlast output of the worker:\n" + tail if tail else "")
                reports = [
                    *attempt.reports,
                    synthetic(nodeid, location, "failed", message, "call"),
                ]
                attempt.outcomes[nodeid] = "failed"
                self._replay(nodeid, location, reports)
        for nodeid in attempt.missing:
            location = self.locations.get(nodeid, (nodeid.split("::")[0], None, nodeid))
            detail = "; ".join(attempt.collect_errors) or "the worker did not collect it"
            report = synthetic(
                nodeid, location, "failed", f"not collected in its worker: {detail}"
            )
            attempt.outcomes[nodeid] = "error"
            self._replay(nodeid, location, [report])
        if self.coverage is not None:
            worker.hand_over_coverage(self.coverage)
        worker.close()
        if task is None:
            self._settle_untagged(attempt)
            return
        status = "error" if crash else task_status(attempt.outcomes.values())
        if crash is None and not attempt.outcomes and not attempt.missing:
            status = "error"
            crash = f"worker {describe_exit(code or 0)} before running any test"
        retry, blocked = self.scheduler.finish(task, status)
        result = self.results[task]
        result.attempts = worker.attempt
        result.duration = worker.elapsed
        if retry:
            self._say(
                f"  {task}: failed, retrying in a fresh worker ({worker.elapsed:.2f}s)",
                yellow=True,
            )
            return
        final = self.scheduler.final[task]
        self._settle(task, final, crash)
        if self.session.shouldfail or self.session.shouldstop:
            # -x / --maxfail: stop here, as a plain run would; dependents stay not run
            for dependent in blocked:
                self.results[dependent].status = "not-run"
            self._wave_progress(task)
            self._stop()
            return
        for dependent in blocked:
            self._block(dependent, task)
        self._wave_progress(task)
        for dependent in blocked:
            self._wave_progress(dependent)

    def _settle(self, task: str, status: str, crash: str | None) -> None:
        result = self.results[task]
        result.status = status
        attempts = self.history[task]
        last = attempts[-1]
        for nodeid in (item.nodeid for item in self.items_by_task[task]):
            if nodeid in self.replayed:
                continue
            held = next((a.held[nodeid] for a in reversed(attempts) if nodeid in a.held), None)
            if held is not None:
                self._replay(nodeid, *held)
            else:
                result.tests[nodeid] = "not-run"
        if crash:
            result.error = crash
        if last.executed:
            self.executed[task] = last.executed
        if status == "flaky":
            earlier = sorted(
                {
                    n
                    for a in attempts[:-1]
                    for n, o in a.outcomes.items()
                    if o in ("failed", "error")
                }
            )
            self.add_finding(
                Finding(
                    "flaky",
                    f"task '{task}' failed, then passed in a fresh worker (attempt "
                    f"{len(attempts)}): {', '.join(earlier[:3])}"
                    + (f" and {len(earlier) - 3} more" if len(earlier) > 3 else ""),
                    fix="make these tests deterministic: a retry hides a failure",
                    task=task,
                    test=earlier[0] if earlier else None,
                    extra={"tests": earlier, "attempts": len(attempts)},
                )
            )
        tests = len(self.items_by_task[task])
        markup = {"green": True} if status in ("passed", "skipped") else {"red": True}
        if status == "flaky":
            markup = {"yellow": True}
        line = (
            f"  {task}: {status}, {tests} test{'s' * (tests != 1)} in {last.worker.elapsed:.2f}s"
        )
        if len(attempts) > 1:
            line += f" (attempt {len(attempts)})"
        if crash:
            line += f": {crash}"
        self._say(line, **markup)

    def _block(self, task: str, failed: str) -> None:
        root = self.scheduler.blocked_by.get(task, failed)
        result = self.results[task]
        result.status, result.blocked_by = "blocked", root
        reason = f"blocked: task '{task}' depends on '{root}', which failed"
        for item in self.items_by_task.get(task, []):
            self._replay(
                item.nodeid,
                item.location,
                [synthetic(item.nodeid, item.location, "skipped", reason)],
            )
        self._say(f"  {task}: blocked by {root}", yellow=True)

    def _settle_untagged(self, attempt: Attempt) -> None:
        for item in self.untagged:
            if item.nodeid not in self.replayed:
                held = attempt.held.get(item.nodeid)
                if held:
                    self._replay(item.nodeid, *held)

    def _wave_progress(self, task: str) -> None:
        wave = self.wave_of(task)
        left = self.waves_left.get(wave)
        if left is None:
            return
        left.discard(task)
        if not left:
            del self.waves_left[wave]
            names = {t for t in self.results if self.wave_of(t) == wave}
            self.config.hook.pytest_delegation_wave_finished(
                config=self.config, wave=wave, results={t: self.results[t] for t in sorted(names)}
            )

    def _forget(self, worker: Worker) -> None:
        if worker in self.attempts:
            del self.attempts[worker]
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(worker)

    def _say(self, line: str, **markup: bool) -> None:
        if self.tr is not None and self.config.get_verbosity() >= 0:
            self.tr.write_line(line, **markup)


def _warning_category(name: str) -> type[Warning]:
    import builtins

    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    if name == "PytestWarning" or name.startswith("Pytest"):
        found = getattr(pytest, name, None)
        if isinstance(found, type) and issubclass(found, Warning):
            return found
    return UserWarning


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A CI runner cancelling the job sends SIGTERM: clean up as for Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
