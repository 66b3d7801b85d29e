"""The order check's requests and answers: the contract between its pure clients and a runner.

A client is a generator: it yields the runs it needs (one `Request`, or a tuple of
requests that need nothing from each other) and receives their `Run`s; a runner
(`run.sequences.SequenceRunner`, or a simulated suite in the tests) drives many
clients at once, so bisections share the worker pool.
"""

from __future__ import annotations

from collections.abc import Generator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol
from typing import TypeVar


T = TypeVar("T")


# runs this short record state changes around every test: it costs little
SMALL_RUN = 16


@dataclass(frozen=True)
class Request:
    ids: tuple[str, ...]
    #: record state changes around these tests
    snapshot: bool | tuple[str, ...] = False
    #: what the run is for, in the report's timeline
    label: str = "bisect"
    #: never answer from an earlier run of the same ids (confirmations)
    fresh: bool = False
    #: keep what these tests change in place for every later test (see child.Keeper)
    sticky: tuple[str, ...] = ()

    def watched(self) -> frozenset[str]:
        if self.snapshot is True or len(self.ids) <= SMALL_RUN:
            return frozenset(self.ids)
        return frozenset(self.snapshot or ()) | frozenset(self.sticky)


@dataclass
class Run:
    ids: tuple[str, ...]
    outcomes: dict[str, str] = field(default_factory=dict)
    states: dict[str, list[str]] = field(default_factory=dict)
    #: per test in `states`, per piece of state it changed, a digest of the value it left
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the same, for the value each piece of state held before the test
    befores: dict[str, dict[str, str]] = field(default_factory=dict)
    crashed: bool = False
    #: the test running when the worker ended, if any
    current: str | None = None
    #: the tests whose state changes were recorded
    watched: frozenset[str] = frozenset()
    #: answered by an earlier run of the same ids: no worker started
    reused: bool = False
    #: the tests whose changes were kept for the whole run
    sticky: tuple[str, ...] = ()


# A client yields one Request and receives its Run, or yields a tuple of Requests that
# need nothing from each other and receives their Runs, in order, run side by side.
Client = Generator[Request | tuple[Request, ...], Any, T]


def once(request: Request) -> Client[Run]:
    run: Run = yield request
    return run


class Runner(Protocol):
    """What drives clients: at most `workers` runs at once, every client to its end."""

    workers: int

    def serve(self, clients: Sequence[Client[T]]) -> list[T]: ...
