"""The words a run reports in: task statuses and test outcomes, and how they fold.

Both are ``str`` enums whose values are the JSON report's (version 1) strings, so a
status compares equal to its word, serialises as it, and formats as it in f-strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class _Word(str, Enum):
    """A str enum that formats as its value, on 3.10 as on 3.11+ (like ``StrEnum``)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Status(_Word):
    """How a task ended, worst first in the order a reader scans for trouble."""

    PASSED = "passed"
    FAILED = "failed"
    BLOCKED = "blocked"
    ERROR = "error"
    SKIPPED = "skipped"
    FLAKY = "flaky"
    NOT_RUN = "not-run"


class Outcome(_Word):
    """How one test ended, folded over its setup, call and teardown reports."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    NOT_RUN = "not-run"


class Action(_Word):
    """What an orchestrator does with a task after a parallel batch on branches."""

    ACCEPT = "accept"
    RETRY = "retry"
    BLOCKED = "blocked"
    CONFLICT = "conflict"


#: the outcomes that make a test (and its task) fail
FAILING = frozenset({Outcome.FAILED, Outcome.ERROR})
#: a task that ends in one of these blocks every task that depends on it
BLOCKING = frozenset({Status.FAILED, Status.ERROR, Status.BLOCKED})
#: statuses of tasks that ran to a verdict (their outcomes are a baseline)
RAN = frozenset({Status.PASSED, Status.FAILED, Status.FLAKY})


def fold_outcome(previous: str | None, when: str, outcome: str, wasxfail: bool) -> Outcome | None:
    """Fold one phase report (setup/call/teardown) into a test's outcome."""
    if when == "call":
        if outcome == "failed":
            return Outcome.FAILED
        if outcome == "skipped":
            return Outcome.XFAILED if wasxfail else Outcome.SKIPPED
        return Outcome.XPASSED if wasxfail else Outcome.PASSED
    if outcome == "failed":
        return Outcome.FAILED if previous == Outcome.FAILED else Outcome.ERROR
    if outcome == "skipped" and when == "setup":
        return Outcome.XFAILED if wasxfail else Outcome.SKIPPED
    return None if previous is None else Outcome(previous)


def task_status(outcomes: Iterable[str]) -> Status:
    """A task's status from its tests' outcomes: any failure fails it."""
    seen = set(outcomes)
    if not seen:
        return Status.NOT_RUN
    if seen & FAILING:
        return Status.FAILED
    if seen <= {Outcome.SKIPPED}:
        return Status.SKIPPED
    return Status.PASSED


#: pytest's cache key of each task's last duration: the scheduler starts the longest
#: first, and `--delegation-ci` packs jobs by them (`combine` merges a CI run's back)
DURATIONS_KEY = "delegation/durations"

#: the CI job (or branch run) a run is, written into its JSON report for `combine`
JOB_ENV = "PYTEST_DELEGATION_JOB"
#: set by a branch run for the runs it starts: where each writes every test report
TEST_REPORTS = "PYTEST_DELEGATION_TEST_REPORTS"
