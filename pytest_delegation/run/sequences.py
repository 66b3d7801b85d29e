"""Quiet worker runs for the order check: run these node ids in this order, tell outcomes.

Nothing is replayed to the terminal. Each run gets a temporary HOME and TMPDIR of its
own, removed afterwards, so replayed orders keep their side effects away from the user.
The order check's clients (`order.protocol.Client`) yield the runs they need and
receive the results; `SequenceRunner` drives many at once through the one `pool.Pool`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
import shutil
from typing import Any

from pytest_delegation.order.protocol import Client
from pytest_delegation.order.protocol import Request
from pytest_delegation.order.protocol import Run
from pytest_delegation.order.protocol import T
from pytest_delegation.order.protocol import once
from pytest_delegation.report.model import TimelineRow
from pytest_delegation.run.pool import Handle
from pytest_delegation.run.pool import Pool
from pytest_delegation.run.process import Launcher
from pytest_delegation.run.spec import RunSpec
from pytest_delegation.run.tasks import positions_of
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import fold_outcome
from pytest_delegation.worker import protocol


class SequenceRunner:
    """An `order.protocol.Runner` on worker processes, answering repeats from memory.

    ``files`` maps each node id to its file; ``clock`` is the session's origin of the
    timeline. Outcomes of the same ids in the same order repeat (a flaky test is
    confirmed with fresh runs), so one investigation's runs serve every later one.
    """

    def __init__(
        self,
        launcher: Launcher,
        workers: int,
        files: dict[str, str],
        timeout: float | None = None,
        timeline: list[TimelineRow] | None = None,
        clock: float = 0.0,
        positions: Mapping[str, int] | None = None,
    ) -> None:
        self.launcher = launcher
        self.positions = positions or {}
        self.workdir = launcher.workdir
        self.timeline = timeline if timeline is not None else []
        self.clock = clock
        self.workers = max(1, workers)
        self.files = files
        self.pool = Pool(self.workers, self._start, timeout)
        self.sessions = 0
        self.tests_executed = 0
        #: requests answered by an earlier run of the same ids
        self.reused = 0
        #: (ids, sticky) -> the run that answered them
        self.memo: dict[tuple[tuple[str, ...], tuple[str, ...]], Run] = {}
        #: a started worker -> its client index, slot, run so far and name
        self._running: dict[Handle, tuple[int, int, Run, str]] = {}
        self._pending: dict[str, tuple[int, int, Request]] = {}

    def run(self, request: Request) -> Run:
        return self.serve([once(request)])[0]

    def serve(self, clients: Sequence[Client[T]]) -> list[T]:
        """Drive every client to completion, at most `workers` runs at once."""
        self._results: list[Any] = [None] * len(clients)
        self._clients = clients
        #: client index, slot in its batch, request
        self._waiting: list[tuple[int, int, Request]] = []
        #: client index -> its batch's runs so far, and whether it asked for one run
        self._batches: dict[int, tuple[list[Run | None], bool]] = {}
        for index in range(len(clients)):
            self._advance(index, None)
        self.pool.run(self)
        return self._results

    # -- pool.PoolClient ----------------------------------------------------------------

    def next_runs(self, free: int, running: int) -> list[RunSpec]:
        specs: list[RunSpec] = []
        while self._waiting and len(specs) < free:
            # the longest run first: one started last sets the end (attrs: a run of
            # 1,550 tests queued behind three of 1,412 ran alone for 27 s at the end)
            longest = max(range(len(self._waiting)), key=lambda i: len(self._waiting[i][2].ids))
            index, slot, request = self._waiting.pop(longest)
            spec = self._spec(request)
            self._pending[spec.name] = (index, slot, request)
            specs.append(spec)
        return specs

    def _start(self, spec: RunSpec) -> Handle:
        # kept until the run ends: a run lost with the fork server is asked for again
        index, slot, request = self._pending[spec.name]
        worker = self.launcher.start(spec)
        run = Run(request.ids, watched=request.watched(), sticky=request.sticky)
        self._running[worker] = (index, slot, run, spec.name)
        return worker

    def on_event(self, worker: Handle, event: dict[str, Any]) -> bool:
        run = self._running[worker][2]
        kind = event.get("event")
        if kind == protocol.LOGSTART:
            run.current = str(event["nodeid"])
        elif kind == protocol.OUTCOME:
            nodeid = str(event["nodeid"])
            folded = fold_outcome(
                run.outcomes.get(nodeid), event["when"], event["outcome"], bool(event["wasxfail"])
            )
            if folded is not None:
                run.outcomes[nodeid] = folded
        elif kind == protocol.LOGFINISH:
            run.current = None
        elif kind == protocol.STATE:
            run.states[str(event["nodeid"])] = list(event["changed"])
            run.values[str(event["nodeid"])] = dict(event.get("values") or {})
            run.befores[str(event["nodeid"])] = dict(event.get("before") or {})
        return False

    def on_exit(self, worker: Handle, code: int | None, killed: str | None) -> bool:
        index, slot, run, name = self._running.pop(worker)
        asked = self._pending.pop(name)
        if killed is None and worker.lost():
            self._run_again(name, asked)
            return False
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
            run.outcomes[run.current] = Outcome.FAILED
            run.crashed = True
        self.tests_executed += len(run.outcomes)
        self._cleanup(name)
        if not run.crashed:
            self.memo[run.ids, run.sticky] = run
        self._deliver(index, slot, run)
        return False

    def on_stopped(self, worker: Handle) -> None:
        entry = self._running.pop(worker, None)
        if entry is not None:
            self._pending.pop(entry[3], None)
            self._cleanup(entry[3])

    def _run_again(self, name: str, asked: tuple[int, int, Request]) -> None:
        """The worker died with the fork server it was forked from: the run did not
        happen (no outcome, no timeline row); its request runs again, first."""
        self._cleanup(name)
        self._waiting.insert(0, asked)

    # -- the clients --------------------------------------------------------------------

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

    def _spec(self, request: Request) -> RunSpec:
        self.sessions += 1
        name = f"order-{self.sessions}"
        home = self.workdir / f"{name}.home"
        tmp = self.workdir / f"{name}.tmp"
        home.mkdir()
        tmp.mkdir()
        watched = request.watched()
        snapshot: bool | list[str] = True if watched == frozenset(request.ids) else sorted(watched)
        return RunSpec(
            name=name,
            task=None,
            attempt=self.sessions,
            ids=request.ids,
            files=tuple(
                dict.fromkeys(self.files[n.removesuffix(protocol.AGAIN)] for n in request.ids)
            ),
            options={
                "brief": True,
                "snapshot": snapshot,
                "sticky": list(request.sticky),
                **positions_of(self.positions, request.ids),
            },
            env={"HOME": str(home), "TMPDIR": str(tmp), "PYTEST_DELEGATION_TASK": ""},
            label=request.label,
        )

    def _cleanup(self, name: str) -> None:
        for suffix in (".home", ".tmp"):
            shutil.rmtree(self.workdir / f"{name}{suffix}", ignore_errors=True)
