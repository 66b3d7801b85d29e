"""The one event loop of the controller: start runs, read their events, end them.

Task runs (`tasks.TaskRunner`) and the order check's runs (`sequences.SequenceRunner`)
are both `PoolClient`s: the pool asks each for the runs to start while a worker slot
is free, hands every event a worker sends to the client, and tells it how each run
ended (exit status, or killed past the timeout). A run ends when its worker's process
exits, even if the report pipe stays open (a process a test left running holds it):
what the worker wrote is read first. Whatever ends the loop (the client stopping,
Ctrl-C, an error), no worker outlives it.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import selectors
from typing import Any
from typing import Protocol

from pytest_delegation.run import interrupts
from pytest_delegation.run.spec import RunSpec


class Handle(Protocol):
    """What the pool and its clients need of a worker (`process.Worker`, or a fake)."""

    task: str | None
    attempt: int
    label: str
    ids: list[str]
    started: float

    def fileno(self) -> int: ...
    def read(self) -> tuple[list[dict[str, Any]], bool]: ...
    def poll(self) -> int | None:
        """The exit status once the worker's process has ended, else None; never waits."""
        ...

    def lost(self) -> bool:
        """Whether the run died with the fork server it was forked from (once it ended):
        it did not happen, and its client runs it again."""
        ...

    @property
    def elapsed(self) -> float: ...
    def kill(self) -> None: ...
    def wait(self) -> int: ...
    def close(self) -> None: ...
    def output_tail(self, lines: int = 15) -> str: ...


class PoolClient(Protocol):
    def next_runs(self, free: int, running: int) -> list[RunSpec]:
        """Runs to start now: at most `free`; `running` of the client's runs are going."""
        ...

    def on_event(self, worker: Handle, event: dict[str, Any]) -> bool:
        """Take one event; True when the whole loop must stop now (-x, --maxfail)."""
        ...

    def on_exit(self, worker: Handle, code: int | None, killed: str | None) -> bool:
        """A run ended, with an exit status or `killed` saying why it was killed; True
        when the whole loop must stop now. A run that `worker.lost()` is started again
        (`next_runs` gives it back), not judged."""
        ...

    def on_stopped(self, worker: Handle) -> None:
        """A run killed because the loop stopped (see `on_event`), before it ended."""
        ...


class Pool:
    """At most `workers` runs at once; `start` turns a spec into a running worker."""

    def __init__(
        self, workers: int, start: Callable[[RunSpec], Handle], timeout: float | None = None
    ) -> None:
        self.workers = max(1, workers)
        self.start = start
        self.timeout = timeout
        self.runs = 0

    def run(self, client: PoolClient) -> bool:
        """Drive `client` until it has nothing left to run; False if it stopped the loop."""
        running: dict[Handle, None] = {}
        selector = selectors.DefaultSelector()
        try:
            with interrupts.sigterm_as_ctrl_c_while():
                while True:
                    free = self.workers - len(running)
                    if free > 0:
                        for spec in client.next_runs(free, len(running))[:free]:
                            worker = self.start(spec)
                            self.runs += 1
                            running[worker] = None
                            selector.register(worker, selectors.EVENT_READ)
                    if not running:
                        return True
                    if not self._wait_once(client, running, selector):
                        for worker in list(running):
                            self._drop(worker, running, selector)
                            worker.kill()
                            worker.wait()
                            client.on_stopped(worker)
                            worker.close()
                        return False
        finally:
            # Ctrl-C or an error: no worker outlives the loop
            for worker in list(running):
                worker.kill()
                worker.wait()
                worker.close()
            selector.close()

    def _wait_once(
        self,
        client: PoolClient,
        running: dict[Handle, None],
        selector: selectors.BaseSelector,
    ) -> bool:
        """One select, its events and ended runs; False when the client stops the loop."""
        wait = 0.5
        if self.timeout is not None:
            wait = max(0.01, min(wait, min(self.timeout - w.elapsed for w in running)))
        for key, _ in selector.select(wait):
            worker: Handle = key.fileobj  # type: ignore[assignment]
            if not self._take(client, worker, running, selector):
                return False
        for worker in [w for w in running if w.poll() is not None]:
            # exited, but something it started may hold the pipe open: what it wrote
            # before it exited is in the pipe, and the run is over
            if not self._take(client, worker, running, selector, exited=True):
                return False
        if self.timeout is not None:
            for worker in [w for w in running if w.elapsed > self.timeout]:
                self._drop(worker, running, selector)
                worker.kill()
                worker.wait()
                stop = client.on_exit(worker, None, f"timed out after {self.timeout:g}s")
                worker.close()
                if stop:
                    return False
        return True

    def _take(
        self,
        client: PoolClient,
        worker: Handle,
        running: dict[Handle, None],
        selector: selectors.BaseSelector,
        exited: bool = False,
    ) -> bool:
        """Hand the worker's events to the client, and end its run if its pipe closed or
        its process `exited`; False when the client stops the loop."""
        events, closed = worker.read()
        for event in events:
            if client.on_event(worker, event):
                return False
        if not (closed or exited):
            return True
        self._drop(worker, running, selector)
        stop = client.on_exit(worker, worker.wait(), None)
        worker.close()
        return not stop

    @staticmethod
    def _drop(
        worker: Handle, running: dict[Handle, None], selector: selectors.BaseSelector
    ) -> None:
        running.pop(worker, None)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(worker)
