"""Quiet worker runs for the order check: run these node ids in this order, tell outcomes.

Nothing is replayed to the terminal. Each run gets a temporary HOME and TMPDIR of its
own, removed afterwards, so replayed orders keep their side effects away from the user.
Clients are generators that yield the runs they need and receive the results, so many
bisections share the worker pool and run in parallel.
"""

from __future__ import annotations

from collections.abc import Generator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
import selectors
import shutil
from typing import Any
from typing import TypeVar

import pytest

from pytest_delegation.results import test_outcome
from pytest_delegation.workers import Worker
from pytest_delegation.workers import worker_argv


T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    ids: tuple[str, ...]
    snapshot: bool | tuple[str, ...] = False  # record state changes around these tests
    label: str = "bisect"  # what the run is for, in the report's timeline


@dataclass
class Run:
    ids: tuple[str, ...]
    outcomes: dict[str, str] = field(default_factory=dict)
    states: dict[str, list[str]] = field(default_factory=dict)
    crashed: bool = False
    current: str | None = None  # the test running when the worker ended, if any


Client = Generator[Request, Run, T]


class SequenceRunner:
    def __init__(
        self,
        config: pytest.Config,
        workers: int,
        workdir: Path,
        files: dict[str, str],
        timeout: float | None = None,
        timeline: list[dict[str, Any]] | None = None,
        clock: float = 0.0,
    ) -> None:
        self.config = config
        self.timeline = timeline if timeline is not None else []
        self.clock = clock  # time.monotonic() when the session started
        self.workers = max(1, workers)
        self.workdir = workdir
        self.files = files  # node id -> path of its file
        self.timeout = timeout
        self.argv = worker_argv(config)
        self.sessions = 0
        self.tests_executed = 0

    def run(self, request: Request) -> Run:
        return self.serve([_once(request)])[0]

    def serve(self, clients: Sequence[Client[T]]) -> list[T]:
        """Drive every client to completion, at most `workers` runs at once."""
        results: list[Any] = [None] * len(clients)
        waiting: list[tuple[int, Request]] = []
        for index, client in enumerate(clients):
            self._advance(index, client, None, waiting, results)
        running: dict[Worker, tuple[int, Run]] = {}
        selector = selectors.DefaultSelector()
        try:
            while waiting or running:
                while waiting and len(running) < self.workers:
                    index, request = waiting.pop(0)
                    worker = self._start(request)
                    worker.label = request.label
                    running[worker] = (index, Run(request.ids))
                    selector.register(worker, selectors.EVENT_READ)
                for key, _ in selector.select(0.5):
                    ready = key.fileobj
                    assert isinstance(ready, Worker)
                    worker = ready
                    index, run = running[worker]
                    events, closed = worker.read()
                    for event in events:
                        _fold(run, event)
                    if closed:
                        self._end(worker, running, selector, clients, waiting, results)
                if self.timeout is not None:
                    for worker in [w for w in running if w.elapsed > self.timeout]:
                        worker.kill()
                        self._end(worker, running, selector, clients, waiting, results)
        finally:
            for worker in running:
                worker.kill()
                worker.wait()
                self._cleanup(worker)
            selector.close()
        return results

    def _end(
        self,
        worker: Worker,
        running: dict[Worker, tuple[int, Run]],
        selector: selectors.BaseSelector,
        clients: Sequence[Client[Any]],
        waiting: list[tuple[int, Request]],
        results: list[Any],
    ) -> None:
        worker.wait()
        selector.unregister(worker)
        index, run = running.pop(worker)
        self._finish(worker, run)
        self._advance(index, clients[index], run, waiting, results)

    def _advance(
        self,
        index: int,
        client: Client[Any],
        run: Run | None,
        waiting: list[tuple[int, Request]],
        results: list[Any],
    ) -> None:
        try:
            request = next(client) if run is None else client.send(run)
        except StopIteration as done:
            results[index] = done.value
            return
        waiting.append((index, request))

    def _start(self, request: Request) -> Worker:
        self.sessions += 1
        name = f"order-{self.sessions}"
        home = self.workdir / f"{name}.home"
        tmp = self.workdir / f"{name}.tmp"
        home.mkdir()
        tmp.mkdir()
        files = list(dict.fromkeys(self.files[nodeid] for nodeid in request.ids))
        snapshot: bool | list[str] = (
            list(request.snapshot) if isinstance(request.snapshot, tuple) else request.snapshot
        )
        return Worker(
            None,
            self.sessions,
            request.ids,
            files,
            self.argv,
            self.config.invocation_params.dir,
            self.workdir,
            extra={"brief": True, "snapshot": snapshot},
            env={"HOME": str(home), "TMPDIR": str(tmp), "PYTEST_DELEGATION_TASK": ""},
            name=name,
        )

    def _finish(self, worker: Worker, run: Run) -> None:
        self.timeline.append(
            {
                "kind": "order",
                "label": worker.label,
                "start": round(worker.started - self.clock, 3),
                "end": round(worker.started + worker.elapsed - self.clock, 3),
                "tests": len(run.ids),
            }
        )
        if run.current is not None:
            run.outcomes[run.current] = "failed"
            run.crashed = True
        self.tests_executed += len(run.outcomes)
        self._cleanup(worker)

    def _cleanup(self, worker: Worker) -> None:
        worker.close()
        name = worker.spec_path.stem
        for suffix in (".home", ".tmp", ".cache"):
            shutil.rmtree(self.workdir / f"{name}{suffix}", ignore_errors=True)


def _once(request: Request) -> Client[Run]:
    run = yield request
    return run


def _fold(run: Run, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "logstart":
        run.current = str(event["nodeid"])
    elif kind == "outcome":
        nodeid = str(event["nodeid"])
        folded = test_outcome(
            run.outcomes.get(nodeid), event["when"], event["outcome"], bool(event["wasxfail"])
        )
        if folded is not None:
            run.outcomes[nodeid] = folded
    elif kind == "logfinish":
        run.current = None
    elif kind == "state":
        run.states[str(event["nodeid"])] = list(event["changed"])
