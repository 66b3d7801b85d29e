"""What a worker tells the controller: the one list of events both sides import.

A worker streams its run as JSON lines over a pipe whose write end the controller names
in the spec (`WorkerSpec`): one event per line, an object whose ``"event"`` key names it.
The order: a ``collectreport`` for each file that failed to collect, then ``collected``;
then per test ``logstart``, its ``report`` events (``outcome`` in brief runs) and any
``warning``, then ``logfinish``, with ``state`` right after it in snapshot runs; at the
end ``executed`` (boundaries runs only) and ``finished``. No ``finished`` means the worker
died. A killed worker can leave a torn last line: `decode` gives None for it, as for an
event this module does not know. JSON has no tuples; `decode` turns the two tuple fields
(a test's location, an execution record) back into tuples, so it returns what was sent.
It imports the standard library only: the controller and every worker import it.
"""

from __future__ import annotations

import json
from typing import Any
from typing import Final
from typing import Literal
from typing import TypeAlias
from typing import TypedDict
from typing import cast


COLLECTED: Final = "collected"
COLLECTREPORT: Final = "collectreport"
LOGSTART: Final = "logstart"
REPORT: Final = "report"
OUTCOME: Final = "outcome"
LOGFINISH: Final = "logfinish"
WARNING: Final = "warning"
STATE: Final = "state"
EXECUTED: Final = "executed"
FINISHED: Final = "finished"

#: every event name a worker sends
EVENTS: Final = frozenset(
    {
        COLLECTED,
        COLLECTREPORT,
        LOGSTART,
        REPORT,
        OUTCOME,
        LOGFINISH,
        WARNING,
        STATE,
        EXECUTED,
        FINISHED,
    }
)

#: a spec id ending in this runs the test named before it once more, right after its
#: first run in the same process (the order check's test of non-idempotent tests); its
#: events carry the suffixed id
AGAIN: Final = "\x1fagain"

#: a test's location as pytest gives it: file (relative to rootdir), 0-based line, name
Location: TypeAlias = tuple[str, int | None, str]


class Collected(TypedDict):
    """Collection is done and the worker's items are the spec's ids, in the spec's order."""

    event: Literal["collected"]
    #: the spec's ids that collection did not find (renamed or deleted tests)
    missing: list[str]
    #: spec id -> the id this worker collected in its place: a parametrized test whose
    #: ids are built at collection time (a date, a random value), matched by position
    renamed: dict[str, str]
    #: test file -> seconds to collect it (its module and classes): a run that holds one
    #: of its tests pays them, which the order check's bisection weighs
    seconds: dict[str, float]


class CollectReport(TypedDict):
    """A file or other collector failed to collect; sent only for failures."""

    event: Literal["collectreport"]
    #: the ``pytest.CollectReport``, as ``pytest_report_to_serializable`` makes it
    data: dict[str, Any]


class LogStart(TypedDict):
    """A test starts: its reports follow, up to its `LogFinish`."""

    event: Literal["logstart"]
    nodeid: str
    location: Location


class Report(TypedDict):
    """One phase (setup, call, teardown) of the current test, in full; not in brief runs."""

    event: Literal["report"]
    #: the ``pytest.TestReport``, as ``pytest_report_to_serializable`` makes it
    data: dict[str, Any]


class Outcome(TypedDict):
    """One phase of the current test, outcome only: a brief run's `Report`."""

    event: Literal["outcome"]
    nodeid: str
    when: Literal["setup", "call", "teardown"]
    outcome: Literal["passed", "failed", "skipped"]
    #: whether the report carried ``wasxfail`` (an expected failure, or an xpass)
    wasxfail: bool


class LogFinish(TypedDict):
    """The test is done: all its reports have been sent."""

    event: Literal["logfinish"]
    nodeid: str


class RecordedWarning(TypedDict):
    """A warning pytest recorded, at configuration, collection or in a test."""

    event: Literal["warning"]
    #: the test it came from; empty outside a test
    nodeid: str
    when: Literal["config", "collect", "runtest"]
    message: str
    #: the class name of the warning, e.g. ``"DeprecationWarning"``
    category: str
    filename: str
    lineno: int


class State(TypedDict):
    """A watched test left shared state changed behind it; sent only when it did."""

    event: Literal["state"]
    nodeid: str
    #: what changed, sorted: ``"global pkg.mod.NAME"``, with `` (set)`` or `` (removed)``
    #: for a key that appeared or went away (see `snapshot.diff_state`)
    changed: list[str]
    #: per changed key (without the suffix), a digest of the value the test left; two
    #: tests of one run that left the same value have the same digest
    values: dict[str, str]
    #: per changed key, the digest of the value it held before the test
    before: dict[str, str]


class Executed(TypedDict):
    """Where the tests ran project code, for the boundaries check; boundaries runs only."""

    event: Literal["executed"]
    #: project file (relative to rootdir, ``/``-separated): the first function run in it,
    #: that function's first line, and the test that ran it
    files: dict[str, tuple[str, int, str]]
    #: False when the worker could not watch (another tracer, no free monitoring tool)
    measured: bool


class Finished(TypedDict):
    """The session is over; the last event a worker sends."""

    event: Literal["finished"]
    exitstatus: int


#: any event a worker sends; ``event["event"]`` tells which (mypy narrows on it)
Event: TypeAlias = (
    Collected
    | CollectReport
    | LogStart
    | Report
    | Outcome
    | LogFinish
    | RecordedWarning
    | State
    | Executed
    | Finished
)


def encode(event: Event) -> bytes:
    """One line of the stream: compact JSON, anything JSON has no type for as its str."""
    return json.dumps(event, default=str).encode() + b"\n"


def decode(line: bytes) -> Event | None:
    """The event on one line, or None for a torn line or an event this module does not know.

    Only the event's name is checked, not its fields: both sides come from one checkout.
    """
    try:
        data = json.loads(line)
    except ValueError:
        return None
    kind = data.get("event") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in EVENTS:
        return None
    if kind == LOGSTART and isinstance(data.get("location"), list):
        data["location"] = tuple(data["location"])
    elif kind == EXECUTED and isinstance(data.get("files"), dict):
        data["files"] = {
            path: tuple(where) if isinstance(where, list) else where
            for path, where in data["files"].items()
        }
    return cast("Event", data)


class _SpecFields(TypedDict):
    """The fields the controller always writes."""

    #: the pipe's write end, inherited by the worker; a worker forked by the fork server
    #: has it under another number, in ``PYTEST_DELEGATION_FD``
    fd: int
    #: the node ids to run, in this order; all other collected items are deselected
    ids: list[str]
    #: the task whose tests these are; None for the order check's runs
    task: str | None
    #: the pid of the process the worker dies with: the controller, or the fork server
    controller: int | None
    #: whether to record where the tests run project code (the `Executed` event)
    boundaries: bool


class WorkerSpec(_SpecFields, total=False):
    """The JSON file the controller writes for a worker, named by ``--delegation-child``.

    ``only`` comes with runs given folders to walk; ``brief``, ``snapshot`` and
    ``sticky`` only with the order check's runs.
    """

    #: send an `Outcome` per phase instead of a full `Report`
    brief: bool
    #: a folder the session's workers share for probed code (`probes.Probes`)
    probe_cache: str
    #: the test files to collect while walking the folders given as arguments: every
    #: other file and folder is ignored (absent when the files themselves are given)
    only: list[str]
    #: the tests to snapshot shared state around (`State` events); True for all of them
    snapshot: list[str] | bool
    #: tests whose changes are put back before every later test (see `keeper.Keeper`)
    sticky: list[str]
    #: parametrized ids -> their position among the controller's tests of the same
    #: function: a test whose id differs in the worker's collection is found by it
    positions: dict[str, int]
