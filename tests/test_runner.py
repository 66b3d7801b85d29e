"""TaskRunner's policy, driven by scripted worker events: no process, no pytester.

As pytest-xdist's testing/test_dsession.py drives DSession with a MockNode, these tests
play `pool.Pool`: they ask `next_runs` for specs, turn each into a `FakeWorker`, feed
`on_event` what a worker sends (see `worker.protocol`) and end the run with `on_exit`
or `on_stopped`. `FakeSink` stands for `replay.Replayer`: it replays a test once (a
second replay is dropped, as the Replayer drops it) and folds the replayed reports into
`Results`, as the session's ``pytest_runtest_logreport`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from typing import cast

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves
from pytest_delegation.report.model import Results
from pytest_delegation.report.model import TaskRow
from pytest_delegation.report.model import TimelineRow
from pytest_delegation.run.argv import collection_args
from pytest_delegation.run.pool import Handle
from pytest_delegation.run.replay import Location
from pytest_delegation.run.scheduler import Scheduler
from pytest_delegation.run.spec import RunSpec
from pytest_delegation.run.tasks import UNTAGGED
from pytest_delegation.run.tasks import Sink
from pytest_delegation.run.tasks import TaskItem
from pytest_delegation.run.tasks import TaskRunner
from pytest_delegation.run.waves import WaveHooks
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import fold_outcome


Event = dict[str, Any]


# -- the fakes ------------------------------------------------------------------------


class FakeWorker:
    """A `pool.Handle` for one spec: no process, a fixed duration and output tail."""

    def __init__(self, spec: RunSpec, started: float = 0.0, elapsed: float = 0.25) -> None:
        self.spec = spec
        self.task = spec.task
        self.attempt = spec.attempt
        self.label = spec.label
        self.ids = list(spec.ids)
        self.started = started
        self._elapsed = elapsed
        self.tail = ""
        #: the fork server it was forked from died, killing it (see `Handle.lost`)
        self.server_died = False

    def __repr__(self) -> str:
        return f"FakeWorker({self.spec.name})"

    def fileno(self) -> int:
        return -1

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        return [], False

    def poll(self) -> int | None:
        return None

    def lost(self) -> bool:
        return self.server_died

    @property
    def elapsed(self) -> float:
        return self._elapsed

    def kill(self) -> None:
        pass

    def wait(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def output_tail(self, lines: int = 15) -> str:
        return self.tail


class FakeSink:
    """The runner's `Sink`, as `replay.Replayer` behaves, recording what it is given.

    ``replays`` has (nodeid, outcome) for each test replayed, in order, and ``received``
    its reports; ``dropped`` the replays of a test already replayed (the Replayer drops
    them too: ``replayed`` is its set, which TaskRunner reads). With ``exitfirst``,
    ``stopping()`` turns True once a failing test is replayed, as pytest's ``-x`` does.
    """

    def __init__(self, results: Results, task_of: Mapping[str, str]) -> None:
        self.results = results
        self.task_of = task_of
        self.replayed: set[str] = set()
        self.replays: list[tuple[str, Outcome]] = []
        self.received: dict[str, list[Any]] = {}
        self.dropped: list[tuple[str, Outcome]] = []
        self.warnings: list[Event] = []
        self.exitfirst = False
        self.stop = False

    def report(self, data: dict[str, Any]) -> Any:
        fields = {
            "nodeid": data["nodeid"],
            "when": data.get("when"),
            "outcome": data["outcome"],
            "longreprtext": data.get("longreprtext", ""),
        }
        if "wasxfail" in data:
            fields["wasxfail"] = data["wasxfail"]
        return SimpleNamespace(**fields)

    def replay(self, nodeid: str, location: Location, reports: list[Any]) -> None:
        outcome = folded(reports)
        if nodeid in self.replayed:
            self.dropped.append((nodeid, outcome))
            return
        self.replayed.add(nodeid)
        self.replays.append((nodeid, outcome))
        self.received[nodeid] = reports
        task = self.task_of.get(nodeid)
        for report in reports:
            self.results.phase(
                task, nodeid, report.when, report.outcome, hasattr(report, "wasxfail")
            )
        if self.exitfirst and outcome in FAILING:
            self.stop = True

    def warning(self, event: dict[str, Any]) -> None:
        self.warnings.append(event)

    def stopping(self) -> bool:
        return self.stop


def folded(reports: Sequence[Any]) -> Outcome:
    outcome: Outcome | None = None
    for report in reports:
        outcome = fold_outcome(outcome, report.when, report.outcome, hasattr(report, "wasxfail"))
    return outcome or Outcome.ERROR


# -- scripting a worker's life ----------------------------------------------------------

#: the phase reports (when, outcome, extra data) a test of each outcome sends
PHASES: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "passed": [("setup", "passed", {}), ("call", "passed", {}), ("teardown", "passed", {})],
    "failed": [("setup", "passed", {}), ("call", "failed", {}), ("teardown", "passed", {})],
    "error": [("setup", "failed", {}), ("teardown", "passed", {})],
    "skipped": [("setup", "skipped", {}), ("teardown", "passed", {})],
    "xfailed": [
        ("setup", "passed", {}),
        ("call", "skipped", {"wasxfail": ""}),
        ("teardown", "passed", {}),
    ],
}


def file_of(task: str | None) -> str:
    return f"tests/test_{task or 'loose'}.py"


def nid(task: str | None, name: str) -> str:
    return f"{file_of(task)}::{name}"


def collected(*missing: str) -> Event:
    return {"event": "collected", "missing": list(missing)}


def logstart(nodeid: str, location: Location) -> Event:
    return {"event": "logstart", "nodeid": nodeid, "location": location}


def report(nodeid: str, when: str, outcome: str, text: str = "", **extra: Any) -> Event:
    data = {"nodeid": nodeid, "when": when, "outcome": outcome, "longreprtext": text, **extra}
    return {"event": "report", "data": data}


def logfinish(nodeid: str) -> Event:
    return {"event": "logfinish", "nodeid": nodeid}


def finished() -> Event:
    return {"event": "finished", "exitstatus": 0}


def events_of(nodeid: str, location: Location, outcome: str, text: str = "") -> list[Event]:
    """logstart, a report per phase, logfinish: one test as a worker sends it."""
    phases = [
        report(nodeid, when, result, text if result == "failed" else "", **extra)
        for when, result, extra in PHASES[outcome]
    ]
    return [logstart(nodeid, location), *phases, logfinish(nodeid)]


class Rig:
    """A runner over a real plan, scheduler, wave hooks and results, played like `Pool`.

    ``deps`` maps each task of the plan to its dependencies, ``tests`` a task to its
    test names (a task without any has nothing to run).
    """

    def __init__(
        self,
        deps: Mapping[str, Sequence[str]],
        tests: Mapping[str, Sequence[str]],
        *,
        untagged: Sequence[str] = (),
        retries: int = 1,
        mode: str = "waves",
        workers: int = 2,
        boundaries: bool = False,
    ) -> None:
        self.plan = plan_from_dict(
            {"tasks": {task: {"depends_on": list(d)} for task, d in deps.items()}},
            Path("delegation.yaml"),
        )
        self.plan.freeze(compute_waves(self.plan))
        runnable = [t for wave in self.plan.waves for t in wave if tests.get(t)]
        self.items = {task: [self.item(task, name) for name in tests[task]] for task in runnable}
        self.untagged = [self.item(None, name) for name in untagged]
        self.locations = {
            item.nodeid: item.location
            for items in (*self.items.values(), self.untagged)
            for item in items
        }
        self.results = Results(self.plan.tasks)
        task_of = {item.nodeid: task for task, items in self.items.items() for item in items}
        self.sink = FakeSink(self.results, task_of)
        self.hooks: list[tuple[str, int, dict[str, str]]] = []
        hook = SimpleNamespace(
            pytest_delegation_wave_started=self._wave_started,
            pytest_delegation_wave_finished=self._wave_finished,
        )
        self.config = SimpleNamespace(hook=hook)
        self.scheduler = Scheduler(self.plan, runnable, mode=mode, retries=retries)
        self.findings: list[Finding] = []
        self.timeline: list[TimelineRow] = []
        waves = WaveHooks(cast(pytest.Config, self.config), self.plan, runnable, self.results)
        self.runner = TaskRunner(
            self.scheduler,
            self.items,
            self.untagged,
            self.results,
            self.sink,
            waves,
            None,
            self.findings.append,
            retries=retries,
            boundaries=boundaries,
            timeline=self.timeline,
        )
        self.workers = workers
        self.running: list[FakeWorker] = []
        self.clock = 0.0

    @staticmethod
    def item(task: str | None, name: str) -> TaskItem:
        line = sum(map(ord, name)) % 50
        return TaskItem(nid(task, name), (file_of(task), line, name), file_of(task))

    def _wave_started(self, config: object, wave: int) -> None:
        assert config is self.config
        self.hooks.append(("started", wave, {}))

    def _wave_finished(self, config: object, wave: int, results: Mapping[str, Any]) -> None:
        assert config is self.config
        self.hooks.append(("finished", wave, {t: str(r.status) for t, r in results.items()}))

    # -- the pool's side --------------------------------------------------------------

    def start(self) -> list[FakeWorker]:
        """As `Pool.run`: ask for as many runs as there are free slots, start them."""
        free = self.workers - len(self.running)
        specs = self.runner.next_runs(free, len(self.running))[:free]
        started = [FakeWorker(spec, started=self.clock) for spec in specs]
        self.clock += 1.0
        self.running.extend(started)
        return started

    def start_one(self) -> FakeWorker:
        (worker,) = self.start()
        return worker

    def send(self, worker: FakeWorker, *events: Event) -> bool:
        """Feed events; True (and the rest unsent) once the runner says stop, as the pool."""
        return any(self.runner.on_event(worker, event) for event in events)

    def run_test(self, worker: FakeWorker, name: str, outcome: str, text: str = "") -> bool:
        nodeid = nid(worker.task, name)
        return self.send(worker, *events_of(nodeid, self.locations[nodeid], outcome, text))

    def begin_test(self, worker: FakeWorker, name: str, *phases: str) -> bool:
        """A test starts and passes these phases, then nothing more is heard of it."""
        nodeid = nid(worker.task, name)
        events = [logstart(nodeid, self.locations[nodeid])]
        events += [report(nodeid, when, "passed") for when in phases]
        return self.send(worker, *events)

    def exit(self, worker: FakeWorker, code: int | None = 0, killed: str | None = None) -> bool:
        self.running.remove(worker)
        return self.runner.on_exit(worker, code, killed)

    def stop_all(self) -> None:
        """As `Pool.run` once the runner said stop: kill every running worker."""
        for worker in list(self.running):
            self.running.remove(worker)
            self.runner.on_stopped(worker)

    def complete(
        self,
        worker: FakeWorker,
        outcomes: Mapping[str, str],
        missing: Sequence[str] = (),
        text: str = "",
    ) -> bool:
        """A whole run: collected, each test, finished, exit 0. True if it stopped."""
        stop = self.send(worker, collected(*(nid(worker.task, m) for m in missing)))
        for name, outcome in outcomes.items():
            stop = stop or self.run_test(worker, name, outcome, text)
        if stop:
            return True
        if self.send(worker, finished()):
            return True
        return self.exit(worker, 0)

    # -- reading the results ------------------------------------------------------------

    def tests(self, task: str) -> dict[str, str]:
        """The task's test outcomes by short name."""
        return {n.split("::")[1]: str(o) for n, o in self.results[task].tests.items()}

    def rows(self) -> list[TaskRow]:
        """The timeline: only task rows here."""
        rows: list[TaskRow] = [row for row in self.timeline if row["kind"] == "task"]
        assert len(rows) == len(self.timeline)
        return rows

    def shown(self) -> list[tuple[str, str]]:
        """The replayed tests, in order: short name and outcome."""
        return [(n.split("::")[1], str(o)) for n, o in self.sink.replays]


def spec_of(worker: FakeWorker) -> RunSpec:
    return worker.spec


def test_the_fakes_satisfy_the_protocols() -> None:
    rig = Rig({"a": []}, {"a": ["test_one"]})
    worker: Handle = rig.start_one()
    sink: Sink = rig.sink
    assert worker.ids == [nid("a", "test_one")]
    assert sink.stopping() is False


# -- 1. tasks that pass -----------------------------------------------------------------


def test_two_tasks_pass_wave_by_wave() -> None:
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_one", "test_two"], "b": ["test_three"]})
    first = rig.start()
    assert [spec_of(w) for w in first] == [
        RunSpec(
            name="a-1",
            task="a",
            attempt=1,
            ids=(nid("a", "test_one"), nid("a", "test_two")),
            files=("tests/test_a.py",),
        )
    ]
    assert rig.hooks == [("started", 1, {})]
    (a,) = first
    assert rig.start() == []  # b waits for wave 1
    assert rig.complete(a, {"test_one": "passed", "test_two": "xfailed"}) is False
    assert rig.hooks == [("started", 1, {}), ("finished", 1, {"a": "passed"})]

    b = rig.start_one()
    assert (b.task, b.attempt, b.ids) == ("b", 1, [nid("b", "test_three")])
    assert rig.complete(b, {"test_three": "passed"}) is False
    assert rig.start() == []
    assert rig.scheduler.done

    assert rig.hooks == [
        ("started", 1, {}),
        ("finished", 1, {"a": "passed"}),
        ("started", 2, {}),
        ("finished", 2, {"b": "passed"}),
    ]
    assert rig.shown() == [
        ("test_one", "passed"),
        ("test_two", "xfailed"),
        ("test_three", "passed"),
    ]
    assert rig.sink.dropped == []
    for task in ("a", "b"):
        result = rig.results[task]
        assert (result.status, result.attempts, result.duration) == ("passed", 1, 0.25)
        assert (result.blocked_by, result.error) == (None, None)
    assert rig.tests("a") == {"test_one": "passed", "test_two": "xfailed"}
    assert rig.tests("b") == {"test_three": "passed"}
    assert rig.findings == []
    assert rig.timeline == [
        {
            "kind": "task",
            "task": "a",
            "attempt": 1,
            "start": 0.0,
            "end": 0.25,
            "tests": 2,
            "outcome": "passed",
        },
        {
            "kind": "task",
            "task": "b",
            "attempt": 1,
            "start": 2.0,
            "end": 2.25,
            "tests": 1,
            "outcome": "passed",
        },
    ]


def test_a_wave_finishes_when_its_last_task_settles() -> None:
    rig = Rig({"a": [], "b": []}, {"a": ["test_a"], "b": ["test_b"]})
    workers = rig.start()
    assert sorted(w.task or "" for w in workers) == ["a", "b"]
    assert rig.hooks == [("started", 1, {})]  # once for the wave, not per task
    by_task = {w.task: w for w in workers}
    rig.complete(by_task["b"], {"test_b": "passed"})
    assert rig.hooks == [("started", 1, {})]
    rig.complete(by_task["a"], {"test_a": "passed"})
    assert rig.hooks == [("started", 1, {}), ("finished", 1, {"a": "passed", "b": "passed"})]
    assert sorted(rig.shown()) == [("test_a", "passed"), ("test_b", "passed")]


def test_warnings_and_executed_files_are_passed_on() -> None:
    rig = Rig({"a": []}, {"a": ["test_one"]}, untagged=["test_loose"], boundaries=True)
    worker = rig.start_one()
    assert worker.spec.boundaries is True
    warning = {
        "event": "warning",
        "nodeid": nid("a", "test_one"),
        "when": "runtest",
        "message": "old",
        "category": "DeprecationWarning",
        "filename": "pkg/mod.py",
        "lineno": 3,
    }
    executed = {
        "event": "executed",
        "files": {"pkg/mod.py": ("helper", 1, nid("a", "test_one"))},
        "measured": False,
    }
    rig.send(worker, collected())
    rig.run_test(worker, "test_one", "passed")
    rig.send(worker, warning, executed, finished())
    rig.exit(worker)
    assert rig.sink.warnings == [warning]
    assert rig.runner.executed == {
        "a": {"pkg/mod.py": Execution("helper", 1, nid("a", "test_one"))}
    }
    assert rig.runner.unmeasured == {"a"}
    untagged = rig.start_one()
    assert (untagged.task, untagged.spec.boundaries) == (None, False)


# -- 2. retries -----------------------------------------------------------------------


def test_a_failure_is_held_and_passing_on_retry_is_flaky() -> None:
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_ok", "test_flaky"], "b": ["test_b"]})
    first = rig.start_one()
    rig.send(first, collected())
    assert rig.run_test(first, "test_ok", "passed") is False
    assert rig.run_test(first, "test_flaky", "failed", "attempt 1 failed") is False
    # every report of an attempt that a retry may follow is held: nothing shown yet
    assert rig.shown() == []
    rig.send(first, finished())
    assert rig.exit(first) is False
    assert rig.results["a"].status == "not-run"  # not settled yet
    assert rig.results["a"].attempts == 1
    assert rig.hooks == [("started", 1, {})]
    assert rig.results["b"].status == "not-run"

    second = rig.start_one()
    assert spec_of(second).name == "a-2"
    assert (second.task, second.attempt) == ("a", 2)
    assert second.ids == [nid("a", "test_ok"), nid("a", "test_flaky")]
    assert rig.complete(second, {"test_ok": "passed", "test_flaky": "passed"}) is False

    result = rig.results["a"]
    assert (result.status, result.attempts, result.error) == ("flaky", 2, None)
    assert rig.tests("a") == {"test_ok": "passed", "test_flaky": "passed"}
    assert rig.shown() == [("test_ok", "passed"), ("test_flaky", "passed")]
    assert [r.longreprtext for r in rig.sink.received[nid("a", "test_flaky")]] == ["", "", ""]
    (finding,) = rig.findings
    assert (finding.rule, finding.severity, finding.task) == ("flaky", "warning", "a")
    assert finding.test == nid("a", "test_flaky")
    assert dict(finding.extra) == {"tests": [nid("a", "test_flaky")], "attempts": 2}
    assert "failed, then passed in a fresh worker (attempt 2)" in finding.message
    assert rig.runner.flaky_tests == {nid("a", "test_flaky")}
    assert [row["outcome"] for row in rig.rows()] == ["failed", "passed"]
    assert [row["attempt"] for row in rig.rows()] == [1, 2]
    # flaky blocks nothing: b runs
    b = rig.start_one()
    assert b.task == "b"
    assert rig.hooks == [
        ("started", 1, {}),
        ("finished", 1, {"a": "flaky"}),
        ("started", 2, {}),
    ]


def test_a_failure_again_on_the_last_attempt_fails_the_task() -> None:
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_ok", "test_bad"], "b": ["test_b"]})
    first = rig.start_one()
    rig.complete(first, {"test_ok": "passed", "test_bad": "failed"}, text="attempt 1 failed")
    assert rig.shown() == []
    assert rig.results["b"].status == "not-run"  # not blocked before the last attempt
    second = rig.start_one()
    assert second.attempt == 2
    assert (
        rig.complete(second, {"test_ok": "passed", "test_bad": "failed"}, text="attempt 2 failed")
        is False
    )

    result = rig.results["a"]
    assert (result.status, result.attempts, result.error) == ("failed", 2, None)
    assert rig.tests("a") == {"test_ok": "passed", "test_bad": "failed"}
    assert [name for name, _ in rig.shown()].count("test_bad") == 1
    assert ("test_bad", "failed") in rig.shown()
    texts = [r.longreprtext for r in rig.sink.received[nid("a", "test_bad")]]
    assert texts == ["", "attempt 2 failed", ""]  # the last attempt's report
    assert rig.findings == []
    assert rig.runner.flaky_tests == set()
    assert rig.results["b"].status == "blocked"
    assert rig.results["b"].blocked_by == "a"
    assert rig.start() == []
    assert rig.hooks[:2] == [("started", 1, {}), ("finished", 1, {"a": "failed"})]


def test_a_test_that_fails_only_on_the_retry_is_shown_failed() -> None:
    """The task fails on its last attempt: that attempt's failing test must be reported.

    Attempt 1: test_flip passes (replayed at once), test_first fails (held). Attempt 2:
    test_flip fails, test_first passes. The task is failed; pytest must see a failure.
    """
    rig = Rig({"a": []}, {"a": ["test_flip", "test_first"]})
    first = rig.start_one()
    rig.complete(first, {"test_flip": "passed", "test_first": "failed"})
    second = rig.start_one()
    rig.complete(second, {"test_flip": "failed", "test_first": "passed"}, text="attempt 2")

    assert rig.results["a"].status == "failed"
    # each test shown once, with its outcome in the last attempt, which failed the task
    assert sorted(rig.shown()) == [("test_first", "passed"), ("test_flip", "failed")]
    assert rig.tests("a") == {"test_flip": "failed", "test_first": "passed"}


# -- 3. blocking --------------------------------------------------------------------------


def test_a_failure_blocks_its_dependents_transitively() -> None:
    rig = Rig(
        {"a": [], "b": ["a"], "c": ["b"]},
        {"a": ["test_a"], "b": ["test_b"], "c": ["test_c"]},
        retries=0,
    )
    a = rig.start_one()
    assert rig.complete(a, {"test_a": "failed"}) is False
    assert rig.start() == []
    assert rig.scheduler.done

    assert (rig.results["a"].status, rig.results["a"].attempts) == ("failed", 1)
    for task in ("b", "c"):
        result = rig.results[task]
        assert (result.status, result.blocked_by, result.attempts) == ("blocked", "a", 0)
        assert rig.tests(task) == {f"test_{task}": "skipped"}
    assert rig.shown() == [("test_a", "failed"), ("test_b", "skipped"), ("test_c", "skipped")]
    for task in ("b", "c"):
        nodeid = nid(task, f"test_{task}")
        (skip,) = rig.sink.received[nodeid]
        assert isinstance(skip, pytest.TestReport)
        assert (skip.when, skip.outcome, skip.nodeid) == ("setup", "skipped", nodeid)
        path, line, _ = rig.locations[nodeid]
        reason = f"blocked: task '{task}' depends on 'a', which failed"
        assert skip.longrepr == (path, (line or 0) + 1, f"Skipped: {reason}")
    assert [h for h in rig.hooks if h[0] == "finished"] == [
        ("finished", 1, {"a": "failed"}),
        ("finished", 2, {"b": "blocked"}),
        ("finished", 3, {"c": "blocked"}),
    ]
    assert rig.findings == []


def test_the_waves_of_blocked_tasks_start_before_they_finish() -> None:
    """The hooks pair up for a wave of blocked tasks, as in the in-process mode.

    (``--delegation-workers=0`` calls ``wave_started`` for the blocked task's wave,
    then ``wave_finished``; WaveHooks is "called the same way" by both modes.)
    """
    rig = Rig(
        {"a": [], "b": ["a"], "c": ["b"]},
        {"a": ["test_a"], "b": ["test_b"], "c": ["test_c"]},
        retries=0,
    )
    rig.complete(rig.start_one(), {"test_a": "failed"})
    assert rig.hooks == [
        ("started", 1, {}),
        ("finished", 1, {"a": "failed"}),
        ("started", 2, {}),
        ("finished", 2, {"b": "blocked"}),
        ("started", 3, {}),
        ("finished", 3, {"c": "blocked"}),
    ]


# -- 4, 5, 7. crashes and timeouts ----------------------------------------------------------


def test_a_crash_fails_the_running_test_with_the_output_tail() -> None:
    rig = Rig(
        {"a": [], "b": ["a"]}, {"a": ["test_one", "test_two", "test_three"], "b": ["test_b"]}
    )
    worker = rig.start_one()
    worker.tail = "Fatal Python error: Segmentation fault\n  File pkg/native.py, line 3"
    rig.send(worker, collected())
    rig.run_test(worker, "test_one", "passed")
    rig.begin_test(worker, "test_two", "setup")
    assert rig.exit(worker, -9) is False

    running = nid("a", "test_two")
    result = rig.results["a"]
    assert result.status == "error"
    assert result.error == f"worker killed by signal 9 (SIGKILL) while running {running}"
    assert result.attempts == 1
    assert rig.tests("a") == {"test_one": "passed", "test_two": "failed", "test_three": "not-run"}
    # the test it never reached is shown too, skipped (issue 10, item 5)
    assert rig.shown() == [
        ("test_one", "passed"),
        ("test_two", "failed"),
        ("test_three", "skipped"),
        ("test_b", "skipped"),
    ]
    setup, crash = rig.sink.received[running]
    assert (setup.when, setup.outcome) == ("setup", "passed")
    assert isinstance(crash, pytest.TestReport)
    assert (crash.nodeid, crash.when, crash.outcome) == (running, "call", "failed")
    assert crash.location == rig.locations[running]
    assert crash.longreprtext == (
        f"worker killed by signal 9 (SIGKILL) while running {running}\n\n"
        "last output of the worker:\n" + worker.tail
    )
    # an error is not retried, and blocks the dependents
    assert rig.start() == []
    assert (rig.results["b"].status, rig.results["b"].blocked_by) == ("blocked", "a")
    assert rig.rows()[0]["outcome"] == "error"
    assert rig.findings == []


def test_a_crash_without_output_has_no_tail_section() -> None:
    rig = Rig({"a": []}, {"a": ["test_one"]}, retries=0)
    worker = rig.start_one()
    rig.send(worker, collected())
    rig.begin_test(worker, "test_one")
    rig.exit(worker, -11)
    (crash,) = rig.sink.received[nid("a", "test_one")]
    assert crash.longreprtext == (
        f"worker killed by signal 11 (SIGSEGV) while running {nid('a', 'test_one')}"
    )
    assert rig.results["a"].status == "error"


def test_a_timeout_is_an_error_of_the_running_test() -> None:
    rig = Rig({"a": []}, {"a": ["test_slow", "test_after"]})
    worker = rig.start_one()
    rig.send(worker, collected())
    rig.begin_test(worker, "test_slow", "setup")
    assert rig.exit(worker, None, "timed out after 1s") is False
    result = rig.results["a"]
    assert result.status == "error"
    assert result.error == f"worker timed out after 1s while running {nid('a', 'test_slow')}"
    assert "timed out" in result.error
    assert rig.tests("a") == {"test_slow": "failed", "test_after": "not-run"}
    assert rig.shown() == [("test_slow", "failed"), ("test_after", "skipped")]
    (_, crash) = rig.sink.received[nid("a", "test_slow")]
    assert crash.longreprtext.startswith("worker timed out after 1s while running")
    assert rig.start() == []  # not retried
    assert rig.hooks == [("started", 1, {}), ("finished", 1, {"a": "error"})]


def test_a_timeout_between_tests_names_no_test() -> None:
    rig = Rig({"a": []}, {"a": ["test_one", "test_two"]})
    worker = rig.start_one()
    rig.send(worker, collected())
    rig.run_test(worker, "test_one", "passed")
    rig.exit(worker, None, "timed out after 2.5s")
    assert rig.results["a"].status == "error"
    assert rig.results["a"].error == "worker timed out after 2.5s"
    assert rig.tests("a") == {"test_one": "passed", "test_two": "not-run"}


@pytest.mark.parametrize(
    ("events", "code", "error"),
    [
        pytest.param([], 0, "worker exited with status 0", id="silent"),
        pytest.param([collected()], 0, "worker exited with status 0", id="no-finished"),
        pytest.param([], 4, "worker exited with status 4", id="usage-error"),
        pytest.param(
            [collected(), finished()],
            0,
            "worker exited with status 0 before running any test",
            id="finished-without-tests",
        ),
    ],
)
def test_a_worker_that_ran_no_test_is_an_error(
    events: list[Event], code: int | None, error: str
) -> None:
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_one", "test_two"], "b": ["test_b"]})
    worker = rig.start_one()
    rig.send(worker, *events)
    assert rig.exit(worker, code) is False
    result = rig.results["a"]
    assert (result.status, result.error, result.attempts) == ("error", error, 1)
    assert rig.tests("a") == {"test_one": "not-run", "test_two": "not-run"}
    assert rig.shown() == [("test_one", "skipped"), ("test_two", "skipped"), ("test_b", "skipped")]
    assert rig.results["b"].blocked_by == "a"
    assert rig.start() == []  # an error is not retried


@pytest.mark.parametrize(
    ("outcomes", "missing", "status"),
    [
        pytest.param({}, [], "error", id="no-test-run"),
        pytest.param({"test_one": "passed"}, ["test_two"], "failed", id="missing-test"),
    ],
)
def test_the_timeline_row_has_the_runs_verdict(
    outcomes: dict[str, str], missing: list[str], status: str
) -> None:
    """A run's row in the timeline says what its task was settled as (retries=0)."""
    rig = Rig({"a": []}, {"a": ["test_one", "test_two"]}, retries=0)
    rig.complete(rig.start_one(), outcomes, missing=missing)
    assert rig.results["a"].status == status
    assert rig.rows()[0]["outcome"] == status


# -- 6. tests a worker did not collect ---------------------------------------------------------


def test_a_test_missing_from_the_collection_is_an_error() -> None:
    rig = Rig({"a": []}, {"a": ["test_here", "test_gone"]}, retries=0)
    worker = rig.start_one()
    assert rig.complete(worker, {"test_here": "passed"}, missing=["test_gone"]) is False
    gone = nid("a", "test_gone")
    result = rig.results["a"]
    assert (result.status, result.error) == ("failed", None)
    assert rig.tests("a") == {"test_here": "passed", "test_gone": "error"}
    assert rig.shown() == [("test_here", "passed"), ("test_gone", "error")]
    (synthetic,) = rig.sink.received[gone]
    assert isinstance(synthetic, pytest.TestReport)
    assert (synthetic.when, synthetic.outcome) == ("setup", "failed")
    assert synthetic.location == rig.locations[gone]
    assert synthetic.longreprtext == "not collected in its worker: the worker did not collect it"


def test_a_collection_error_explains_the_missing_test() -> None:
    rig = Rig({"a": []}, {"a": ["test_gone"]}, retries=0)
    worker = rig.start_one()
    gone = nid("a", "test_gone")
    error = {
        "event": "collectreport",
        "data": {
            "nodeid": "tests/test_a.py",
            "outcome": "failed",
            "longreprtext": "E   ImportError: boom",
        },
    }
    rig.send(worker, error, collected(gone), finished())
    rig.exit(worker)
    result = rig.results["a"]
    assert (result.status, result.error) == ("failed", None)
    assert rig.tests("a") == {"test_gone": "error"}
    (synthetic,) = rig.sink.received[gone]
    assert synthetic.longreprtext == (
        "not collected in its worker: tests/test_a.py: E   ImportError: boom"
    )


def test_a_missing_test_is_held_while_a_retry_is_left() -> None:
    """Like a failing test, a test missing from attempt 1 shows its last attempt."""
    rig = Rig({"a": []}, {"a": ["test_here", "test_late"]}, retries=1)
    first = rig.start_one()
    rig.complete(first, {"test_here": "passed"}, missing=["test_late"])
    assert ("test_late", "error") not in rig.shown()  # a retry may collect it
    second = rig.start_one()
    assert second.attempt == 2
    rig.complete(second, {"test_here": "passed", "test_late": "passed"})
    assert rig.results["a"].status == "flaky"
    assert rig.shown() == [("test_here", "passed"), ("test_late", "passed")]
    assert rig.tests("a") == {"test_here": "passed", "test_late": "passed"}


# -- 8. -x / --maxfail ----------------------------------------------------------------------


def test_exitfirst_stops_every_worker_and_leaves_the_rest_not_run() -> None:
    rig = Rig(
        {"a": [], "b": [], "c": ["a"]},
        {"a": ["test_a1", "test_a2"], "b": ["test_b1", "test_b2"], "c": ["test_c"]},
        untagged=["test_loose"],
        retries=0,
    )
    rig.sink.exitfirst = True
    workers = {w.task: w for w in rig.start()}
    a, b = workers["a"], workers["b"]
    rig.send(a, collected())
    rig.send(b, collected())
    assert rig.run_test(b, "test_b1", "passed") is False
    assert rig.begin_test(b, "test_b2", "setup") is False
    assert rig.sink.stopping() is False
    nodeid = nid("a", "test_a1")
    events = events_of(nodeid, rig.locations[nodeid], "failed")
    assert [rig.runner.on_event(a, e) for e in events] == [False, False, False, False, True]
    assert rig.sink.stopping() is True
    rig.stop_all()

    assert (rig.results["a"].status, rig.results["a"].attempts) == ("failed", 1)
    assert (rig.results["b"].status, rig.results["b"].attempts) == ("not-run", 1)
    assert rig.results["c"].status == "not-run"
    assert rig.results["c"].blocked_by is None
    assert rig.tests("a") == {"test_a1": "failed"}
    assert rig.shown() == [("test_b1", "passed"), ("test_a1", "failed")]
    assert rig.runner.next_runs(2, 0) == []  # neither c nor the untagged tests
    rig.runner.stop()
    assert rig.runner.next_runs(2, 0) == []
    assert rig.scheduler.pending == set()
    assert rig.scheduler.running == set()
    assert rig.hooks == [("started", 1, {})]
    assert rig.findings == []


def test_exitfirst_reached_as_a_run_ends_leaves_dependents_not_run() -> None:
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_a"], "b": ["test_b"]}, retries=0)
    rig.sink.exitfirst = True
    a = rig.start_one()
    rig.send(a, collected())
    rig.begin_test(a, "test_a", "setup")
    assert rig.exit(a, -9) is True  # the crash's failed report reached -x
    assert rig.results["a"].status == "error"
    assert rig.results["b"].status == "not-run"
    assert rig.results["b"].blocked_by is None
    assert rig.shown() == [("test_a", "failed")]  # no skip for b
    rig.runner.stop()
    assert rig.runner.next_runs(1, 0) == []
    assert rig.hooks == [("started", 1, {}), ("finished", 1, {"a": "error"})]


# -- 9. untagged tests -------------------------------------------------------------------------


def test_untagged_tests_run_last_and_alone() -> None:
    rig = Rig(
        {"a": [], "b": ["a"]},
        {"a": ["test_a"], "b": ["test_b"]},
        untagged=["test_fine", "test_broken"],
    )
    a = rig.start_one()
    assert a.task == "a"
    assert rig.runner.next_runs(1, 1) == []  # a free slot, but a task still runs
    rig.complete(a, {"test_a": "passed"})
    b = rig.start_one()
    assert b.task == "b"  # a ready task goes before the untagged tests
    assert rig.runner.next_runs(1, 1) == []
    rig.complete(b, {"test_b": "passed"})

    loose = rig.start_one()
    assert spec_of(loose) == RunSpec(
        name="untagged-1",
        task=None,
        attempt=1,
        ids=(nid(None, "test_fine"), nid(None, "test_broken")),
        files=("tests/test_loose.py",),
    )
    assert rig.runner.next_runs(1, 1) == []
    rig.send(loose, collected())
    rig.run_test(loose, "test_fine", "passed")
    rig.run_test(loose, "test_broken", "failed")
    # untagged tests have no retry: a failure is replayed at once
    assert rig.shown()[-2:] == [("test_fine", "passed"), ("test_broken", "failed")]
    rig.send(loose, finished())
    assert rig.exit(loose) is False
    assert rig.start() == []  # once only
    assert rig.results.untagged == {
        nid(None, "test_fine"): "passed",
        nid(None, "test_broken"): "failed",
    }
    assert [name for name, _ in rig.shown()] == ["test_a", "test_b", "test_fine", "test_broken"]
    assert rig.sink.dropped == []
    assert len(rig.runner.history[UNTAGGED]) == 1
    assert rig.rows()[-1]["task"] is None
    assert rig.rows()[-1]["outcome"] == "failed"
    assert {t: r.status for t, r in rig.results.tasks.items()} == {"a": "passed", "b": "passed"}
    assert rig.findings == []


def test_untagged_tests_run_after_blocked_tasks_too() -> None:
    rig = Rig(
        {"a": [], "b": ["a"]}, {"a": ["test_a"], "b": ["test_b"]}, untagged=["test_x"], retries=0
    )
    rig.complete(rig.start_one(), {"test_a": "failed"})
    loose = rig.start_one()
    assert loose.task is None
    rig.send(loose, collected())
    rig.begin_test(loose, "test_x", "setup")
    rig.exit(loose, -9)  # a crash of the untagged run fails its running test
    assert rig.results.untagged == {nid(None, "test_x"): "failed"}
    assert [h for h in rig.hooks if h[0] == "finished"] == [
        ("finished", 1, {"a": "failed"}),
        ("finished", 2, {"b": "blocked"}),
    ]


def test_only_untagged_tests_start_at_once() -> None:
    rig = Rig({"a": []}, {}, untagged=["test_x"])
    loose = rig.start_one()
    assert loose.task is None
    rig.complete(loose, {"test_x": "passed"})
    assert rig.start() == []
    assert rig.results["a"].status == "not-run"
    assert rig.hooks == []


# -- 10. dag mode --------------------------------------------------------------------------------


def test_dag_starts_a_task_once_its_own_dependency_passed() -> None:
    deps = {"a": [], "b": [], "c": ["a"]}
    tests = {"a": ["test_a"], "b": ["test_b"], "c": ["test_c"]}
    rig = Rig(deps, tests, mode="dag", workers=3)
    workers = {w.task: w for w in rig.start()}
    assert sorted(str(t) for t in workers) == ["a", "b"]  # c waits for a
    rig.complete(workers["a"], {"test_a": "passed"})
    c = rig.start_one()  # b still runs
    assert (c.task, c.attempt) == ("c", 1)
    assert rig.hooks == [("started", 1, {}), ("started", 2, {})]
    rig.complete(c, {"test_c": "passed"})
    # wave 2 finishes before wave 1, which still runs
    assert rig.hooks[-1] == ("finished", 2, {"c": "passed"})
    rig.complete(workers["b"], {"test_b": "passed"})
    assert rig.hooks == [
        ("started", 1, {}),
        ("started", 2, {}),
        ("finished", 2, {"c": "passed"}),
        ("finished", 1, {"a": "passed", "b": "passed"}),
    ]
    assert {t: r.status for t, r in rig.results.tasks.items()} == {
        "a": "passed",
        "b": "passed",
        "c": "passed",
    }
    assert rig.start() == []


def test_waves_mode_holds_the_dependent_until_the_whole_wave_is_done() -> None:
    deps = {"a": [], "b": [], "c": ["a"]}
    tests = {"a": ["test_a"], "b": ["test_b"], "c": ["test_c"]}
    rig = Rig(deps, tests, mode="waves", workers=3)
    workers = {w.task: w for w in rig.start()}
    rig.complete(workers["a"], {"test_a": "passed"})
    assert rig.start() == []
    rig.complete(workers["b"], {"test_b": "passed"})
    assert rig.start_one().task == "c"


def test_dag_blocks_a_dependent_while_an_unrelated_task_runs() -> None:
    deps = {"a": [], "b": [], "c": ["a"]}
    tests = {"a": ["test_a"], "b": ["test_b"], "c": ["test_c"]}
    rig = Rig(deps, tests, mode="dag", workers=3, retries=0)
    workers = {w.task: w for w in rig.start()}
    rig.complete(workers["a"], {"test_a": "failed"})
    assert (rig.results["c"].status, rig.results["c"].blocked_by) == ("blocked", "a")
    assert rig.start() == []
    assert rig.results["b"].status == "not-run"  # still running
    rig.complete(workers["b"], {"test_b": "passed"})
    assert rig.results["b"].status == "passed"
    assert rig.shown() == [("test_a", "failed"), ("test_c", "skipped"), ("test_b", "passed")]


# -- 11. tests that never ran are shown (issue 10, item 5) ----------------------------------


def reason(skip: Any) -> str:
    """The reason of a synthetic skip report: (path, line, "Skipped: REASON")."""
    assert isinstance(skip, pytest.TestReport)
    assert (skip.when, skip.outcome) == ("setup", "skipped")
    assert isinstance(skip.longrepr, tuple)
    text = skip.longrepr[2]
    assert text.startswith("Skipped: ")
    return text.removeprefix("Skipped: ")


def test_the_tests_after_a_crash_are_shown_skipped_with_the_crash() -> None:
    rig = Rig({"a": []}, {"a": ["test_one", "test_two", "test_three", "test_four"]})
    worker = rig.start_one()
    worker.tail = "Fatal Python error: Aborted"
    rig.send(worker, collected())
    rig.run_test(worker, "test_one", "passed")
    rig.begin_test(worker, "test_two", "setup")
    assert rig.exit(worker, -6) is False
    running = nid("a", "test_two")
    crash = f"worker killed by signal 6 (SIGABRT) while running {running}"
    assert rig.results["a"].error == crash
    # every test shown once: the ones never reached as skipped, with the crash
    assert rig.shown() == [
        ("test_one", "passed"),
        ("test_two", "failed"),
        ("test_three", "skipped"),
        ("test_four", "skipped"),
    ]
    assert rig.sink.dropped == []
    for name in ("test_three", "test_four"):
        (skip,) = rig.sink.received[nid("a", name)]
        assert reason(skip) == f"not run: the worker crashed before it: {crash}"
        assert skip.location == rig.locations[nid("a", name)]
    # the results still tell what ran: the skips are not-run there
    assert rig.tests("a") == {
        "test_one": "passed",
        "test_two": "failed",
        "test_three": "not-run",
        "test_four": "not-run",
    }


def test_the_tests_after_a_timeout_are_shown_skipped() -> None:
    rig = Rig({"a": []}, {"a": ["test_slow", "test_after"]})
    worker = rig.start_one()
    rig.send(worker, collected())
    rig.begin_test(worker, "test_slow", "setup")
    rig.exit(worker, None, "timed out after 1s")
    (skip,) = rig.sink.received[nid("a", "test_after")]
    assert reason(skip) == (
        "not run: the worker was stopped before it: worker timed out after 1s while running "
        + nid("a", "test_slow")
    )
    assert rig.tests("a") == {"test_slow": "failed", "test_after": "not-run"}


def test_a_worker_that_ends_before_any_test_tells_why() -> None:
    """A conftest that fails to import only in the worker: its error is the output tail."""
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_one", "test_two"], "b": ["test_b"]})
    worker = rig.start_one()
    worker.tail = (
        "ImportError while loading conftest '/p/sub/conftest.py'.\n"
        "E   ModuleNotFoundError: No module named 'nope'"
    )
    assert rig.exit(worker, 4) is False
    error = "worker exited with status 4\n\nlast output of the worker:\n" + worker.tail
    result = rig.results["a"]
    assert (result.status, result.error, result.attempts) == ("error", error, 1)
    assert rig.shown() == [("test_one", "skipped"), ("test_two", "skipped"), ("test_b", "skipped")]
    for name in ("test_one", "test_two"):
        (skip,) = rig.sink.received[nid("a", name)]
        assert reason(skip) == f"not run: the worker ended before running any test: {error}"
    assert rig.tests("a") == {"test_one": "not-run", "test_two": "not-run"}
    assert rig.start() == []  # an error: not retried


def test_a_worker_that_finished_without_a_test_tells_why() -> None:
    rig = Rig({"a": []}, {"a": ["test_one"]})
    worker = rig.start_one()
    worker.tail = "ERROR: usage: something the worker was not told"
    rig.send(worker, collected(), finished())
    rig.exit(worker, 0)
    assert rig.results["a"].error == (
        "worker exited with status 0 before running any test\n\n"
        "last output of the worker:\nERROR: usage: something the worker was not told"
    )
    (skip,) = rig.sink.received[nid("a", "test_one")]
    assert "ERROR: usage: something the worker was not told" in reason(skip)


def test_a_crash_on_the_retry_shows_each_test_once() -> None:
    """Attempt 1 fails (held), attempt 2 crashes: a test shows once, from its last attempt."""
    rig = Rig({"a": []}, {"a": ["test_one", "test_two", "test_three"]})
    first = rig.start_one()
    rig.complete(first, {"test_one": "failed", "test_two": "passed", "test_three": "passed"})
    assert rig.shown() == []
    second = rig.start_one()
    rig.send(second, collected())
    rig.begin_test(second, "test_one", "setup")
    rig.exit(second, -9)
    names = [name for name, _ in rig.shown()]
    assert sorted(names) == ["test_one", "test_three", "test_two"]
    assert rig.sink.dropped == []
    assert rig.results["a"].status == "error"


def test_the_untagged_tests_after_a_crash_are_shown_skipped() -> None:
    rig = Rig({"a": []}, {}, untagged=["test_x", "test_y"])
    loose = rig.start_one()
    rig.send(loose, collected())
    rig.begin_test(loose, "test_x", "setup")
    rig.exit(loose, -9)
    assert rig.shown() == [("test_x", "failed"), ("test_y", "skipped")]
    (skip,) = rig.sink.received[nid(None, "test_y")]
    assert reason(skip).startswith("not run: the worker crashed before it: worker killed by")
    assert rig.results.untagged == {nid(None, "test_x"): "failed", nid(None, "test_y"): "not-run"}


# -- 12. a run that died with the fork server (issue 10, item 4) ----------------------------


def test_a_run_lost_with_the_fork_server_runs_again_as_the_same_attempt() -> None:
    rig = Rig({"a": [], "b": ["a"]}, {"a": ["test_one", "test_two"], "b": ["test_b"]}, retries=1)
    lost = rig.start_one()
    rig.send(lost, collected())
    rig.run_test(lost, "test_one", "failed")  # held: a retry may follow
    rig.begin_test(lost, "test_two", "setup")
    lost.server_died = True
    assert rig.exit(lost, -9) is False
    # not judged: no verdict, no attempt counted, no timeline row, nothing shown
    assert rig.results["a"].status == "not-run"
    assert rig.results["a"].attempts == 0
    assert (rig.results["a"].error, rig.timeline, rig.shown()) == (None, [], [])
    assert rig.runner.history["a"] == []
    assert rig.hooks == [("started", 1, {})]

    again = rig.start_one()
    assert spec_of(again) == spec_of(lost)  # the same run: same name, same attempt
    assert (again.task, again.attempt) == ("a", 1)
    assert rig.start() == []  # b still waits for a
    assert rig.complete(again, {"test_one": "passed", "test_two": "passed"}) is False
    result = rig.results["a"]
    assert (result.status, result.attempts, result.error) == ("passed", 1, None)
    assert rig.findings == []  # not flaky: the lost run did not happen
    assert rig.shown() == [("test_one", "passed"), ("test_two", "passed")]
    assert [row["attempt"] for row in rig.rows()] == [1]
    assert rig.start_one().task == "b"


def test_a_lost_last_attempt_keeps_what_it_showed() -> None:
    """retries=0: tests replay live, so what the lost run finished stays shown once."""
    rig = Rig({"a": []}, {"a": ["test_one", "test_two"]}, retries=0)
    lost = rig.start_one()
    rig.send(lost, collected())
    rig.run_test(lost, "test_one", "passed")
    lost.server_died = True
    rig.exit(lost, -9)
    again = rig.start_one()
    assert (again.task, again.attempt) == ("a", 1)
    rig.complete(again, {"test_one": "passed", "test_two": "passed"})
    assert rig.shown() == [("test_one", "passed"), ("test_two", "passed")]
    assert rig.sink.dropped == [(nid("a", "test_one"), "passed")]
    assert (rig.results["a"].status, rig.results["a"].attempts) == ("passed", 1)


def test_a_lost_untagged_run_runs_again() -> None:
    rig = Rig({"a": []}, {}, untagged=["test_x"])
    lost = rig.start_one()
    lost.server_died = True
    rig.exit(lost, -9)
    again = rig.start_one()
    assert spec_of(again) == spec_of(lost)
    rig.complete(again, {"test_x": "passed"})
    assert rig.results.untagged == {nid(None, "test_x"): "passed"}
    assert rig.start() == []


def test_a_timeout_is_judged_even_if_the_server_died() -> None:
    rig = Rig({"a": []}, {"a": ["test_one"]})
    worker = rig.start_one()
    worker.server_died = True
    rig.exit(worker, None, "timed out after 1s")
    assert rig.results["a"].status == "error"
    assert rig.start() == []


def test_a_stop_drops_the_runs_that_were_to_run_again() -> None:
    rig = Rig({"a": [], "b": []}, {"a": ["test_a"], "b": ["test_b"]})
    workers = {w.task: w for w in rig.start()}
    workers["a"].server_died = True
    rig.exit(workers["a"], -9)
    rig.sink.stop = True  # -x, reached by b
    rig.stop_all()
    assert rig.runner.next_runs(2, 0) == []
    assert rig.results["a"].status == "not-run"
    assert rig.scheduler.running == set()


class FakeLauncher:
    """What SequenceRunner needs of `process.Launcher`: a folder, and fake workers."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[FakeWorker] = []

    def start(self, spec: RunSpec) -> FakeWorker:
        worker = FakeWorker(spec)
        self.started.append(worker)
        return worker


class ScriptedPool:
    """Plays `pool.Pool` for a SequenceRunner: the first run dies with the fork server,
    every later one runs its ids and passes them."""

    def __init__(self, start: Any) -> None:
        self.start = start

    def run(self, client: Any) -> bool:
        runs = 0
        while True:
            specs = client.next_runs(1, 0)
            if not specs:
                return True
            worker = self.start(specs[0])
            runs += 1
            if runs == 1:
                client.on_event(worker, logstart(worker.ids[0], ("t.py", 0, "t")))
                worker.server_died = True
                client.on_exit(worker, -9, None)
                continue
            for nodeid in worker.ids:
                client.on_event(worker, logstart(nodeid, ("t.py", 0, "t")))
                for when in ("setup", "call", "teardown"):
                    outcome = {"nodeid": nodeid, "when": when, "outcome": "passed"}
                    client.on_event(worker, {"event": "outcome", **outcome, "wasxfail": False})
                client.on_event(worker, logfinish(nodeid))
            client.on_event(worker, finished())
            client.on_exit(worker, 0, None)


def test_an_order_run_lost_with_the_fork_server_runs_again(tmp_path: Path) -> None:
    from pytest_delegation.order.protocol import Request
    from pytest_delegation.run.process import Launcher
    from pytest_delegation.run.sequences import SequenceRunner

    launcher = FakeLauncher(tmp_path)
    timeline: list[TimelineRow] = []
    ids = ("t.py::test_a", "t.py::test_b")
    runner = SequenceRunner(
        cast(Launcher, launcher), 1, {i: "t.py" for i in ids}, timeline=timeline
    )
    runner.pool = cast(Any, ScriptedPool(runner._start))
    run = runner.run(Request(ids, label="canonical"))
    lost, again = launcher.started
    assert lost.server_died and not again.server_died
    assert again.ids == list(ids)
    # answered by the run that happened: every outcome, no crash
    assert run.outcomes == {"t.py::test_a": "passed", "t.py::test_b": "passed"}
    assert (run.crashed, run.current) == (False, None)
    assert runner.tests_executed == 2
    assert [row["label"] for row in timeline if row["kind"] == "order"] == ["canonical"]
    assert runner.memo  # a complete run: remembered
    assert list(tmp_path.iterdir()) == []  # the lost run's HOME and TMPDIR are gone


PY_FILES = ("test_*.py", "*_test.py")


def test_a_worker_walks_the_topmost_folders_of_its_files() -> None:
    files = [
        "/p/tests/test_a.py",
        "/p/tests/test_b.py",
        "/p/tests/sub/test_c.py",
        "/p/x/y_test.py",
    ]
    paths, only = collection_args(files, PY_FILES)
    # one walk per folder: tests/sub is inside tests, whose walk reaches it
    assert paths == ["/p/tests", "/p/x"]
    assert only == files


def test_a_folder_is_not_taken_for_the_start_of_another_name() -> None:
    paths, _ = collection_args(["/p/tests/test_a.py", "/p/tests2/test_b.py"], PY_FILES)
    assert paths == ["/p/tests", "/p/tests2"]


@pytest.mark.parametrize(
    "odd",
    [
        "/p/check_x.py",  # outside python_files: collected only when named
        "/p/doc.txt",  # a doctest file, or a plugin's own kind
        "/p/pkg/__init__.py",
        "tests/test_rel.py",  # relative: not what the controller's items hold
    ],
)
def test_files_a_walk_would_not_collect_go_by_name_with_the_others(odd: str) -> None:
    files = ["/p/tests/test_a.py", odd]
    assert collection_args(files, PY_FILES) == (files, [])


def test_python_files_with_a_folder_in_the_pattern_go_by_name() -> None:
    files = ["/p/tests/test_a.py"]
    assert collection_args(files, ["tests/test_*.py"]) == (files, [])
    assert collection_args([], PY_FILES) == ([], [])


def test_the_longest_waiting_order_run_starts_first(tmp_path: Path) -> None:
    """A long run queued behind shorter ones ran alone at the end (attrs: 27 s of one
    worker while the other sat idle): the longest waiting run goes first."""
    from pytest_delegation.order.protocol import Request
    from pytest_delegation.order.protocol import once
    from pytest_delegation.run.process import Launcher
    from pytest_delegation.run.sequences import SequenceRunner

    class InOrder(ScriptedPool):
        """Every run passes; none dies with the server."""

        def run(self, client: Any) -> bool:
            while specs := client.next_runs(1, 0):
                worker = self.start(specs[0])
                for nodeid in worker.ids:
                    client.on_event(worker, logstart(nodeid, ("t.py", 0, "t")))
                    client.on_event(worker, logfinish(nodeid))
                client.on_event(worker, finished())
                client.on_exit(worker, 0, None)
            return True

    ids = tuple(f"t.py::test_{i}" for i in range(6))
    launcher = FakeLauncher(tmp_path)
    runner = SequenceRunner(cast(Launcher, launcher), 2, {i: "t.py" for i in ids})
    runner.pool = cast(Any, InOrder(runner._start))
    runner.serve([once(Request(ids[:1])), once(Request(ids)), once(Request(ids[:3]))])
    assert [len(worker.ids) for worker in launcher.started] == [6, 3, 1]
