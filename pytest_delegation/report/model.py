"""The record of a run: each task's result, and the report every output format renders.

`Results` is the only writer of `TaskResult`s: the session, the task runner and the
in-process mode all record through its methods, so a result's fields change in one
module. `RunReport` is built once at the end (see `report.build`).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal
from typing import TypedDict

from pytest_delegation.checks.findings import ERROR
from pytest_delegation.checks.findings import WARNING
from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.names import plural
from pytest_delegation.vocab import Action
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status
from pytest_delegation.vocab import fold_outcome


class TaskRow(TypedDict):
    """A task's worker run in the timeline; seconds from the start of the session."""

    kind: Literal["task"]
    task: str | None
    attempt: int
    start: float
    end: float
    tests: int
    #: the run's own verdict: the task status of its outcomes, or error if it crashed
    outcome: str


class OrderRow(TypedDict):
    """One of the order check's runs in the timeline."""

    kind: Literal["order"]
    #: what the run was for: an order's name, confirm, bisect...
    label: str
    start: float
    end: float
    tests: int


TimelineRow = TaskRow | OrderRow

#: characters of a commit's short form
SHORT_SHA = 7
WITH_WORD = {Action.BLOCKED: "waits for", Action.CONFLICT: "conflicts with"}


@dataclass(frozen=True)
class BranchInfo:
    """The branch a task's work was checked on (``--delegation-branches``)."""

    name: str
    #: the commit its tests ran on (full sha)
    head: str
    #: the result was taken from pytest's cache: this head, base and plan passed before
    cached: bool = False

    @property
    def short(self) -> str:
        """The head as people quote a commit (git's 7 characters)."""
        return self.head[:SHORT_SHA]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "head": self.head, "cached": self.cached}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> BranchInfo:
        return cls(str(entry["name"]), str(entry["head"]), bool(entry.get("cached")))


@dataclass(frozen=True)
class Failure:
    """A test that failed on a task's branch, with the output a retry needs."""

    test: str
    outcome: str
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test, "outcome": self.outcome, "output": self.output}

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Failure:
        return cls(str(entry["test"]), str(entry["outcome"]), str(entry.get("output") or ""))

    def excerpt(self, limit: int | None, note: str) -> list[str]:
        """The output's lines, at most `limit` of them (None: all) and `note` for the rest.

        A long output keeps its first lines (where the test starts) and, mostly, its last
        (the assertion and where it failed); `note` stands between them, its ``{lines}``
        saying how many were left out.
        """
        lines = self.output.rstrip("\r\n").splitlines()
        if limit is None or len(lines) <= limit:
            return lines
        head = max(1, limit // 4)
        tail = max(1, limit - head)
        left_out = len(lines) - head - tail
        return [*lines[:head], note.format(lines=plural(left_out, "line")), *lines[-tail:]]


@dataclass(frozen=True)
class TaskAction:
    """What to do with a task after a parallel batch, and why (JSON ``tasks.<id>.action``)."""

    action: Action
    reason: str
    #: the other tasks involved: the dependency not accepted, the task it conflicts with
    with_tasks: tuple[str, ...] = ()
    #: for ``retry``: its failing tests and their output, the context a retry needs
    failures: tuple[Failure, ...] = ()

    @property
    def with_word(self) -> str:
        """How its other tasks are named: the dependency a blocked task waits for, the
        task a conflicting one conflicts with."""
        return WITH_WORD.get(self.action, "with")

    def to_json(self) -> dict[str, Any]:
        """The keys it adds to its task's entry: ``action_with`` and ``failures`` if any."""
        data: dict[str, Any] = {"action": self.action, "action_reason": self.reason}
        if self.with_tasks:
            data["action_with"] = list(self.with_tasks)
        if self.failures:
            data["failures"] = [failure.to_json() for failure in self.failures]
        return data

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> TaskAction:
        """The action of a task's entry in the JSON report (one that has ``action``)."""
        return cls(
            action=Action(entry["action"]),
            reason=str(entry.get("action_reason") or ""),
            with_tasks=tuple(entry.get("action_with") or ()),
            failures=tuple(Failure.from_json(f) for f in entry.get("failures") or ()),
        )

    @classmethod
    def in_report(cls, data: Mapping[str, Any]) -> dict[str, TaskAction]:
        """Each task's action in a JSON report, in plan order (none: no branch run)."""
        tasks = data.get("tasks") or {}
        return {
            task: cls.from_json(tasks[task])
            for task in data["plan"]["tasks"]
            if (tasks.get(task) or {}).get("action")
        }


@dataclass
class TaskResult:
    """How one task did in this run (JSON report, ``tasks.<id>``).

    ``collected`` counts the task's tests this run selected; ``tests`` maps each node
    id to its outcome; ``error`` says how its worker crashed or timed out.
    """

    status: Status = Status.NOT_RUN
    collected: int = 0
    attempts: int = 0
    duration: float = 0.0
    tests: dict[str, Outcome] = field(default_factory=dict)
    executed_files: list[str] = field(default_factory=list)
    blocked_by: str | None = None
    error: str | None = None
    #: branch runs only: the task's branch, and what to do with the task
    branch: BranchInfo | None = None
    action: TaskAction | None = None

    def count(self, *outcomes: str) -> int:
        return sum(1 for outcome in self.tests.values() if outcome in outcomes)


class Results:
    """Every task's result and the untagged tests' outcomes: the one writer of both."""

    def __init__(self, tasks: Iterable[str]) -> None:
        self.tasks: dict[str, TaskResult] = {task: TaskResult() for task in tasks}
        self.untagged: dict[str, Outcome] = {}

    def __contains__(self, task: object) -> bool:
        return task in self.tasks

    def __getitem__(self, task: str) -> TaskResult:
        return self.tasks[task]

    def only(self, tasks: Iterable[str]) -> None:
        """Keep these tasks (``--delegation-task``), in plan order."""
        keep = set(tasks)
        self.tasks = {task: result for task, result in self.tasks.items() if task in keep}

    def collected(self, task: str) -> None:
        self.tasks[task].collected += 1

    def phase(self, task: str | None, nodeid: str, when: str, outcome: str, xfail: bool) -> None:
        """Fold one phase report of a test (setup, call, teardown) into its outcome."""
        result = self.tasks.get(task) if task is not None else None
        tests = result.tests if result is not None else self.untagged
        folded = fold_outcome(tests.get(nodeid), when, outcome, xfail)
        if folded is not None:
            tests[nodeid] = folded

    def not_run(self, task: str | None, nodeid: str) -> None:
        """A test its last run never reached (``task`` None: an untagged test)."""
        tests = self.tasks[task].tests if task is not None else self.untagged
        tests[nodeid] = Outcome.NOT_RUN

    def add_duration(self, task: str, seconds: float) -> None:
        self.tasks[task].duration += seconds

    def attempt(self, task: str, number: int, duration: float) -> None:
        result = self.tasks[task]
        result.attempts, result.duration = number, duration

    def settle(self, task: str, status: Status, error: str | None = None) -> None:
        result = self.tasks[task]
        result.status = status
        if error:
            result.error = error

    def block(self, task: str, culprit: str) -> None:
        result = self.tasks[task]
        result.status, result.blocked_by, result.attempts = Status.BLOCKED, culprit, 0

    def unfinished(self, task_of: Mapping[str, str], nodeids: Iterable[str]) -> None:
        """An interrupted run: every selected test without an outcome did not run."""
        for nodeid in nodeids:
            task = task_of.get(nodeid)
            result = self.tasks.get(task) if task is not None else None
            if task is not None and result is None:
                continue
            tests = result.tests if result is not None else self.untagged
            tests.setdefault(nodeid, Outcome.NOT_RUN)

    def executed(self, task: str, files: Iterable[str]) -> None:
        self.tasks[task].executed_files = sorted(files)

    def status_of(self, task: str) -> Status:
        return self.tasks[task].status

    def failed(self) -> bool:
        """Whether any task ended so that the run fails."""
        bad = (Status.FAILED, Status.BLOCKED, Status.ERROR)
        return any(r.status in bad for r in self.tasks.values())

    def baseline(self, flaky: Iterable[str]) -> dict[str, Outcome]:
        """Each test's outcome in its task's isolated run, for the order check.

        Only tasks that ran to a verdict count, only tests that passed or failed, and
        never a test seen flaky: its outcome in another order means nothing.
        """
        ran = (Status.PASSED, Status.FAILED, Status.FLAKY)
        known: dict[str, Outcome] = {}
        for result in self.tasks.values():
            if result.status in ran:
                known.update(result.tests)
        known.update(self.untagged)
        wanted = (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR)
        skip = set(flaky)
        return {t: o for t, o in known.items() if o in wanted and t not in skip}


@dataclass
class RunReport:
    """Everything a run found; every output format renders this one object.

    ``plan_path`` is relative to rootdir (POSIX); ``notes`` say what the run could not
    do, and why; ``timeline`` has every worker run; ``failed`` is the plugin's verdict.
    """

    plan: Plan
    plan_path: str
    tasks: Mapping[str, TaskResult]
    findings: list[Finding]
    untagged: Mapping[str, str] = field(default_factory=dict)
    duration: float = 0.0
    seed: int | None = None
    mode: str = "in-process"
    checks: tuple[str, ...] = ()
    skipped_checks: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    collect_only: bool = False
    failed: bool = False
    #: Ctrl-C or SIGTERM stopped the run; ``unfinished`` are the checks it cut short
    interrupted: bool = False
    unfinished: tuple[str, ...] = ()
    #: each task's tests in the whole collection, also those this run did not select
    #: (``--delegation-task``, ``-k``): what the plan section lists
    tests_of: Mapping[str, list[str]] = field(default_factory=dict)
    #: the CI job that wrote the report (``PYTEST_DELEGATION_JOB``), for `combine`
    job: str | None = None
    #: when the session started (seconds since the epoch): combine lines up the jobs
    started_at: float = 0.0

    @property
    def verdict(self) -> str:
        """``summary.verdict`` of the JSON report: interrupted, failed or ok."""
        if self.interrupted:
            return "interrupted"
        return "failed" if self.failed else "ok"

    def count_status(self, status: str) -> int:
        return sum(1 for result in self.tasks.values() if result.status == status)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def actions(self) -> dict[str, TaskAction]:
        """Each task given an action (a branch run), in plan order."""
        return {
            task: result.action
            for task in self.plan.tasks
            if (result := self.tasks.get(task)) is not None and result.action is not None
        }

    def with_action(self, action: Action) -> list[str]:
        """The tasks given `action`, in plan order."""
        return [task for task, given in self.actions.items() if given.action == action]

    def summary(self) -> dict[str, Any]:
        """``summary`` of the JSON report; ``accept`` and ``retry`` only after a branch run."""
        summary: dict[str, Any] = {
            "tasks": len(self.tasks),
            "waves": len(self.plan.waves),
            "passed": self.count_status(Status.PASSED),
            "failed": self.count_status(Status.FAILED),
            "blocked": self.count_status(Status.BLOCKED),
            "flaky": self.count_status(Status.FLAKY),
            "errors": self.errors,
            "warnings": self.warnings,
            "duration": round(self.duration, 3),
            "seed": self.seed,
            "started_at": round(self.started_at, 3),
        }
        if self.actions:
            summary["accept"] = self.with_action(Action.ACCEPT)
            summary["retry"] = self.with_action(Action.RETRY)
        return summary
