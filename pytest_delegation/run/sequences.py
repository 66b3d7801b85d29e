"""Quiet worker runs for the order check: run these node ids in this order, tell outcomes.

Nothing is replayed to the terminal. Each run gets a temporary HOME and TMPDIR of its
own, removed afterwards, so replayed orders keep their side effects away from the user.
Clients are generators that yield the runs they need and receive the results, so many
bisections share the worker pool and run in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
import selectors
import shutil
from typing import Any

import pytest

from pytest_delegation.order.protocol import Client
from pytest_delegation.order.protocol import Request
from pytest_delegation.order.protocol import Run
from pytest_delegation.order.protocol import T
from pytest_delegation.order.protocol import once
from pytest_delegation.run.argv import worker_argv
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.process import Worker
from pytest_delegation.vocab import fold_outcome


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
        server: ForkServer | None = None,
    ) -> None:
        self.config = config
        self.server = server
        self.timeline = timeline if timeline is not None else []
        self.clock = clock  # time.monotonic() when the session started
        self.workers = max(1, workers)
        self.workdir = workdir
        self.files = files  # node id -> path of its file
        self.timeout = timeout
        self.argv = worker_argv(config)
        self.sessions = 0
        self.tests_executed = 0
        self.reused = 0  # requests answered by an earlier run of the same ids
        # Outcomes of the same ids in the same order repeat (a flaky test is confirmed
        # with fresh runs), so one investigation's runs serve every later one.
        self.memo: dict[tuple[tuple[str, ...], tuple[str, ...]], Run] = {}  # ids, sticky

    def run(self, request: Request) -> Run:
        return self.serve([once(request)])[0]

    def serve(self, clients: Sequence[Client[T]]) -> list[T]:
        """Drive every client to completion, at most `workers` runs at once."""
        self._results: list[Any] = [None] * len(clients)
        self._clients = clients
        self._waiting: list[tuple[int, int, Request]] = []  # client, slot, request
        self._batches: dict[int, tuple[list[Run | None], bool]] = {}  # client: runs, one?
        for index in range(len(clients)):
            self._advance(index, None)
        running: dict[Worker, tuple[int, int, Run]] = {}
        selector = selectors.DefaultSelector()
        try:
            while self._waiting or running:
                while self._waiting and len(running) < self.workers:
                    index, slot, request = self._waiting.pop(0)
                    worker = self._start(request)
                    worker.label = request.label
                    run = Run(request.ids, watched=request.watched(), sticky=request.sticky)
                    running[worker] = (index, slot, run)
                    selector.register(worker, selectors.EVENT_READ)
                for key, _ in selector.select(0.5):
                    ready = key.fileobj
                    assert isinstance(ready, Worker)
                    worker = ready
                    events, closed = worker.read()
                    for event in events:
                        _fold(running[worker][2], event)
                    if closed:
                        self._end(worker, running, selector)
                if self.timeout is not None:
                    for worker in [w for w in running if w.elapsed > self.timeout]:
                        worker.kill()
                        self._end(worker, running, selector)
        finally:
            for worker in running:
                worker.kill()
                worker.wait()
                self._cleanup(worker)
            selector.close()
        return self._results

    def _end(
        self,
        worker: Worker,
        running: dict[Worker, tuple[int, int, Run]],
        selector: selectors.BaseSelector,
    ) -> None:
        worker.wait()
        selector.unregister(worker)
        index, slot, run = running.pop(worker)
        self._finish(worker, run)
        if not run.crashed:
            self.memo[run.ids, run.sticky] = run
        self._deliver(index, slot, run)

    def _deliver(self, index: int, slot: int, run: Run) -> None:
        runs, single = self._batches[index]
        runs[slot] = run
        done = [r for r in runs if r is not None]
        if len(done) == len(runs):
            del self._batches[index]
            self._advance(index, done[0] if single else tuple(done))

    def _advance(self, index: int, answer: Run | tuple[Run, ...] | None) -> None:
        """Send the client its answer and queue what it asks next (or take it from memo)."""
        client = self._clients[index]
        while True:
            try:
                asked = next(client) if answer is None else client.send(answer)
            except StopIteration as done:
                self._results[index] = done.value
                return
            single = isinstance(asked, Request)
            requests = (asked,) if isinstance(asked, Request) else tuple(asked)
            runs = [self._known(request) for request in requests]
            if any(run is None for run in runs):
                break
            answer = runs[0] if single else tuple(r for r in runs if r is not None)
        self._batches[index] = (runs, single)
        for slot, (request, run) in enumerate(zip(requests, runs, strict=True)):
            if run is None:
                self._waiting.append((index, slot, request))

    def _known(self, request: Request) -> Run | None:
        known = None if request.fresh else self.memo.get((request.ids, request.sticky))
        if known is None or not request.watched() <= known.watched:
            return None
        self.reused += 1
        return replace(known, reused=True)

    def _start(self, request: Request) -> Worker:
        self.sessions += 1
        name = f"order-{self.sessions}"
        home = self.workdir / f"{name}.home"
        tmp = self.workdir / f"{name}.tmp"
        home.mkdir()
        tmp.mkdir()
        files = list(dict.fromkeys(self.files[nodeid] for nodeid in request.ids))
        watched = request.watched()
        snapshot: bool | list[str] = True if watched == frozenset(request.ids) else sorted(watched)
        return Worker(
            None,
            self.sessions,
            request.ids,
            files,
            self.argv,
            self.config.invocation_params.dir,
            self.workdir,
            extra={"brief": True, "snapshot": snapshot, "sticky": list(request.sticky)},
            env={"HOME": str(home), "TMPDIR": str(tmp), "PYTEST_DELEGATION_TASK": ""},
            name=name,
            server=self.server,
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


def _fold(run: Run, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "logstart":
        run.current = str(event["nodeid"])
    elif kind == "outcome":
        nodeid = str(event["nodeid"])
        folded = fold_outcome(
            run.outcomes.get(nodeid), event["when"], event["outcome"], bool(event["wasxfail"])
        )
        if folded is not None:
            run.outcomes[nodeid] = folded
    elif kind == "logfinish":
        run.current = None
    elif kind == "state":
        run.states[str(event["nodeid"])] = list(event["changed"])
