"""The plan the run says you should have: what to change, finding by finding, and why.

Pure: it reads the plan, the findings and what each task's tests executed, and answers
with `Change`s (``plan.edit`` applies them to the YAML text or writes a fresh plan). The
rules are the issue's: a file both tasks of a conflict run is a shared contract, else the
later task waits for the earlier; a boundary crossed becomes a dependency; an unowned
file goes to the one task that runs it, or to ``shared:``; an ordering dependency chains
the tasks; an overloaded wave is split, longest tasks first. No change adds a cycle or a
dependency of a task on itself, and every ``wave:`` written keeps the plan valid (a task's
``wave:`` is a lower bound, as ``plan.waves.compute_waves`` reads it). A finding no change
can fix gets none: the caller lists those apart.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.boundaries import project_files
from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.edit import Change
from pytest_delegation.plan.edit import path_pattern
from pytest_delegation.plan.graph import topological
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import relative_to


__all__ = ["Change", "render_changes", "starting_plan", "suggest"]

#: the rules whose findings a change can fix
FIXES = (
    "file-conflict",
    "boundary-violation",
    "unowned-file",
    "hidden-ordering-dependency",
    "wave-overload",
)


def suggest(
    plan: Plan,
    findings: Sequence[Finding],
    executed: Mapping[str, Collection[str]],
    *,
    plan_dir: str = "",
    durations: Mapping[str, float] | None = None,
) -> list[Change]:
    """The changes that fix the findings, deduplicated, in the findings' order.

    `executed`: task -> the project files its tests executed (rootdir-relative POSIX, as
    the report's executed_files); `plan_dir`: the plan's folder relative to rootdir (as
    for ``Owners``); `durations`: task -> seconds, to split an overloaded wave.
    """
    suggester = _Suggester(plan, executed, plan_dir)
    for finding in findings:
        suggester.finding(finding)
    suggester.fix_waves()
    suggester.split_waves(findings, durations or {})
    return suggester.changes


def starting_plan(
    plan: Plan,
    executed: Mapping[str, Collection[str]],
    findings: Sequence[Finding],
    *,
    test_files: Collection[str],
    plan_dir: str = "",
) -> list[Change]:
    """For a plan inferred from the tests (no files): the files, shared files and order.

    A file only one task's tests execute becomes that task's; a file several execute is
    shared (the simple rule: if one of them writes it, that one should own it and the
    others depend on it, which a run cannot tell). Test modules and conftests are how a
    task is verified (its ``tests:``), not its files. Then the ordering findings chain
    the tasks as in `suggest`.
    """
    tests = {relative_to(path, plan_dir) or path for path in test_files}
    tests |= {sel.split("::", 1)[0].strip("/") for t in plan.tasks.values() for sel in t.tests}
    runners: dict[str, list[str]] = {}
    for task_id in plan.tasks:
        paths = dict.fromkeys(executed.get(task_id, ()), _NOWHERE)
        for path in sorted(project_files(paths, test_files)):
            rel = relative_to(path, plan_dir)
            if rel is not None and rel not in tests:
                runners.setdefault(rel, []).append(task_id)
    changes = []
    for task_id in plan.tasks:
        reason = f"unowned-file: run by the tests of '{task_id}' alone: its own file"
        for rel in sorted(rel for rel, tasks in runners.items() if tasks == [task_id]):
            changes.append(Change("files", task_id, path_pattern(rel), reason, "unowned-file"))
    for rel, tasks in sorted(runners.items(), key=lambda item: (len(item[1]), item[0])):
        if len(tasks) > 1:
            reason = (
                f"unowned-file: run by the tests of {_names(tasks)}: shared (the simple rule; "
                "if one of them writes it, give it to that one and make the others depend on it)"
            )
            changes.append(Change("shared", None, path_pattern(rel), reason, "unowned-file"))
    # an inferred plan owns nothing: once its files are given out, no boundary is crossed
    ordering = [f for f in findings if f.rule in ("hidden-ordering-dependency", "wave-overload")]
    return changes + suggest(plan, ordering, executed, plan_dir=plan_dir)


_NOWHERE = Execution(function="", line=0, test="")


def render_changes(changes: Sequence[Change]) -> list[str]:
    """The lines the terminal prints: each reason, then the changes made for it."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(" ".join(change.reason.split()), []).append(change)
    lines = []
    for reason, group in groups.items():
        lines.append(reason)
        lines += ["    " + _describe(change) for change in group]
    return lines


def _describe(change: Change) -> str:
    if change.kind == "depends_on":
        return f"{change.task}: depends_on + {change.value}"
    if change.kind == "shared":
        return f"shared: + {change.value}"
    if change.kind == "files":
        return f"{change.task}: files + {change.value}"
    if change.kind == "unclaim":
        return f"{change.task}: files - {change.value}"
    if change.kind == "wave":
        return f"{change.task}: wave: {change.value}"
    return f"tasks: + {change.task} (role {change.value})"


def _names(tasks: Sequence[str], shown: int = 3) -> str:
    quoted = [f"'{task}'" for task in tasks]
    if len(quoted) > shown:
        return ", ".join(quoted[:shown]) + f" and {len(quoted) - shown} more"
    if len(quoted) > 1:
        return ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return quoted[0] if quoted else "no task"


class _Suggester:
    def __init__(self, plan: Plan, executed: Mapping[str, Collection[str]], plan_dir: str) -> None:
        self.plan = plan
        self.plan_dir = plan_dir
        self.order = {task_id: number for number, task_id in enumerate(plan.tasks)}
        #: the plan's tasks with the dependencies and waves of the changes so far
        self.tasks: dict[str, Task] = dict(plan.tasks)
        self.executed = executed
        #: task -> the plan-relative files its tests executed
        self.ran: dict[str, set[str]] = {
            task_id: {rel for rel in (relative_to(p, plan_dir) for p in files) if rel}
            for task_id, files in executed.items()
        }
        self.changes: list[Change] = []
        self.seen: set[tuple[str, str | None, str | int]] = set()

    # -- bookkeeping

    def add(self, kind: str, task: str | None, value: str | int, reason: str, rule: str) -> None:
        if kind == "shared" and value in self.plan.shared:
            return
        if task is not None and kind == "files" and value in self.tasks[task].files:
            return
        if task is not None and kind == "unclaim":
            if not PatternSet(self.tasks[task].files).matches(str(value)):
                return
        if kind == "wave":
            # one `wave:` per task: the last word
            self.changes = [c for c in self.changes if (c.kind, c.task) != ("wave", task)]
        elif (kind, task, value) in self.seen:
            return
        self.seen.add((kind, task, value))
        self.changes.append(Change(kind, task, value, " ".join(reason.split()), rule))
        if task is not None and kind == "depends_on":
            current = self.tasks[task]
            self.tasks[task] = replace(current, depends_on=(*current.depends_on, str(value)))
        elif task is not None and kind == "wave" and isinstance(value, int):
            self.tasks[task] = replace(self.tasks[task], wave=value)

    def depends(self, task: str, dep: str) -> bool:
        """Whether `task` already waits for `dep`, directly or not."""
        return dep in transitive_dependencies(self.tasks, task)

    def can_depend(self, task: str, dep: str) -> bool:
        """Whether `task` may depend on `dep`: another task that does not wait for it."""
        return (
            task != dep
            and task in self.tasks
            and dep in self.tasks
            and task not in transitive_dependencies(self.tasks, dep)
        )

    def wave(self, task_id: str | None) -> str:
        try:
            return f" of wave {self.plan.wave_of(task_id or '')}"
        except KeyError:
            return ""

    # -- the rules

    def finding(self, finding: Finding) -> None:
        if finding.rule == "file-conflict" and finding.task and finding.other_task:
            self.file_conflict(finding, finding.task, finding.other_task)
        elif finding.rule == "boundary-violation" and finding.task and finding.other_task:
            self.boundary(finding, finding.task, finding.other_task)
        elif finding.rule == "unowned-file" and finding.file:
            self.unowned(finding, finding.file)
        elif finding.rule == "hidden-ordering-dependency" and finding.task:
            self.ordering(finding, finding.task)

    def file_conflict(self, finding: Finding, a: str, b: str) -> None:
        files = [str(f) for f in finding.extra.get("files") or [finding.file] if f]
        if not files or a not in self.tasks or b not in self.tasks:
            return
        shown = files[0] + (f" and {len(files) - 1} more" if len(files) > 1 else "")
        head = f"file-conflict: '{a}' and '{b}'{self.wave(a)} both claim {shown}"
        ran_a, ran_b = self.ran.get(a, set()), self.ran.get(b, set())
        if all(f in ran_a and f in ran_b for f in files):
            it = "it" if len(files) == 1 else "them"
            contract = "a shared contract" if len(files) == 1 else "shared contracts"
            self.share(
                files,
                (a, b),
                f"{head}; both tasks' tests run {it} and neither owns {it} alone: {contract}",
            )
            return
        runners = [t for t in (a, b) if all(f in self.ran.get(t, ()) for f in files)]
        who = f"only the tests of '{runners[0]}'" if runners else "neither task's tests"
        earlier, later = sorted((a, b), key=lambda t: self.order.get(t, 0))
        if self.depends(later, earlier) or self.depends(earlier, later):
            return
        tests_run = f"{who} run {'it' if len(files) == 1 else 'them'}"
        if self.can_depend(later, earlier):
            reason = f"{head}; {tests_run}: '{later}' moves to a later wave, after '{earlier}'"
            self.add("depends_on", later, earlier, reason, "file-conflict")
        elif self.can_depend(earlier, later):
            reason = (
                f"{head}; {tests_run}: '{earlier}' moves to a later wave, after '{later}' "
                "(the other way round would make a dependency cycle)"
            )
            self.add("depends_on", earlier, later, reason, "file-conflict")
        else:
            reason = f"{head}; a dependency either way would make a cycle, so shared instead"
            self.share(files, (a, b), reason)

    def share(self, files: Iterable[str], tasks: Iterable[str], reason: str) -> None:
        """The files go to shared:, and the tasks stop claiming them."""
        for rel in files:
            self.add("shared", None, path_pattern(rel), reason, "file-conflict")
            for task_id in tasks:
                self.add("unclaim", task_id, rel, reason, "file-conflict")

    def boundary(self, finding: Finding, task: str, owner: str) -> None:
        imported = finding.extra.get("imported_file")
        if finding.extra.get("via") == "import" and isinstance(imported, str):
            # the importer is the task's own file; what crosses the boundary is the import
            path = imported
            head = (
                f"boundary-violation: {finding.file} (task '{task}') imports {path}, owned "
                f"by '{owner}'"
            )
        else:
            path = finding.file or ""
            who = finding.test or f"a test of '{task}'"
            head = f"boundary-violation: {who} (task '{task}') ran {path}, owned by '{owner}'"
        if task not in self.tasks or owner not in self.tasks or self.depends(task, owner):
            return
        if self.can_depend(task, owner):
            self.add(
                "depends_on", task, owner, f"{head}: '{task}' depends on '{owner}'", finding.rule
            )
            return
        rel = relative_to(path, self.plan_dir)
        if rel:
            reason = (
                f"{head}; '{owner}' already depends on '{task}', so a dependency would make a "
                f"cycle: {rel} becomes shared"
            )
            self.add("shared", None, path_pattern(rel), reason, finding.rule)

    def unowned(self, finding: Finding, path: str) -> None:
        rel = relative_to(path, self.plan_dir)
        if not rel:
            return
        runners = [t for t in self.plan.tasks if path in self.executed.get(t, ())]
        if not runners and finding.task in self.tasks:
            runners = [finding.task]
        if len(runners) == 1:
            reason = f"unowned-file: {path} is run by the tests of '{runners[0]}' alone: its file"
            self.add("files", runners[0], path_pattern(rel), reason, finding.rule)
        elif runners:
            reason = f"unowned-file: {path} is run by the tests of {_names(runners)}: shared"
            self.add("shared", None, path_pattern(rel), reason, finding.rule)

    def ordering(self, finding: Finding, task: str) -> None:
        culprit = finding.extra.get("culprit_task")
        if not isinstance(culprit, str) or culprit == task or culprit not in self.tasks:
            # a task cannot depend on itself: the test has to be fixed
            return
        tests = finding.extra.get("culprit_test")
        named = " and ".join(tests) if isinstance(tests, list) else str(tests or "a test")
        head = f"hidden-ordering-dependency: {finding.test}"
        if finding.extra.get("kind") == "brittle":
            # the state-setter's task runs first, in an earlier wave
            if not self.depends(task, culprit) and self.can_depend(task, culprit):
                reason = (
                    f"{head} passes only after {named} (task '{culprit}') ran: "
                    f"'{task}' depends on '{culprit}' (the order it needs; it still fails "
                    "alone, in its task's own run, until a fixture sets up what it reads)"
                )
                self.add("depends_on", task, culprit, reason, finding.rule)
        elif finding.extra.get("kind") == "victim":
            # the polluter is chained after its victim: every order of the check, and
            # the run, keeps waves in order, so the victim runs before the pollution
            if not self.depends(culprit, task) and self.can_depend(culprit, task):
                reason = (
                    f"{head} fails after {named} (task '{culprit}') ran: '{culprit}' is "
                    f"chained after '{task}'"
                )
                self.add("depends_on", culprit, task, reason, finding.rule)

    # -- waves

    def numbers(self) -> dict[str, int]:
        """Each task's wave before empty waves are dropped (as `compute_waves` counts)."""
        number: dict[str, int] = {}
        for task_id in topological(self.tasks):
            task = self.tasks[task_id]
            earliest = 1 + max((number[dep] for dep in task.depends_on), default=0)
            number[task_id] = max(earliest, task.wave or 0)
        return number

    def fix_waves(self) -> None:
        """A `wave:` below what the new dependencies need is raised (else the plan fails)."""
        number: dict[str, int] = {}
        for task_id in topological(self.tasks):
            task = self.tasks[task_id]
            earliest = 1 + max((number[dep] for dep in task.depends_on), default=0)
            if task.wave is not None and task.wave < earliest:
                upstream = {task_id} | transitive_dependencies(self.tasks, task_id)
                cause = next(
                    (c for c in self.changes if c.kind == "depends_on" and c.task in upstream),
                    None,
                )
                rule = cause.rule if cause else "wave-overload"
                reason = (
                    f"{rule}: '{task_id}' asks for wave {task.wave}, but its dependencies now "
                    f"put it in wave {earliest} at the earliest"
                )
                self.add("wave", task_id, earliest, reason, rule)
            number[task_id] = max(earliest, self.tasks[task_id].wave or 0)

    def split_waves(self, findings: Sequence[Finding], durations: Mapping[str, float]) -> None:
        """Split every wave over max_parallel, but one the user chose not to hear about."""
        limit = self.plan.max_parallel
        waves = self.plan.waves
        reported = set()
        for finding in findings:
            number = finding.extra.get("wave") if finding.rule == "wave-overload" else None
            if isinstance(number, int) and 1 <= number <= len(waves):
                reported.add(frozenset(waves[number - 1]))
        ignored = {frozenset(w) for w in waves if len(w) > limit} - reported
        for _ in range(len(self.tasks)):
            numbers = self.numbers()
            levels: dict[int, list[str]] = {}
            for task_id in self.plan.tasks:
                levels.setdefault(numbers[task_id], []).append(task_id)
            over = [
                raw
                for raw, tasks in sorted(levels.items())
                if len(tasks) > limit and frozenset(tasks) not in ignored
            ]
            if not over:
                return
            dense = sorted(levels).index(over[0]) + 1
            self.split(over[0], levels[over[0]], numbers, durations, dense, reported)

    def split(
        self,
        raw: int,
        tasks: list[str],
        numbers: Mapping[str, int],
        durations: Mapping[str, float],
        dense: int,
        reported: Collection[frozenset[str]],
    ) -> None:
        limit = self.plan.max_parallel
        ranked = sorted(tasks, key=lambda t: (-durations.get(t, 0.0), self.order[t]))
        rest = ranked[limit:]
        chunks = [rest[at : at + limit] for at in range(0, len(rest), limit)]
        later = [n for n in numbers.values() if n > raw]
        gap = min(later) - raw - 1 if later else len(chunks)
        shift = max(0, len(chunks) - gap)
        target = {t: n + shift if n > raw else n for t, n in numbers.items()}
        for offset, chunk in enumerate(chunks, start=1):
            for task_id in chunk:
                target[task_id] = raw + offset
        timed = any(durations.get(t, 0.0) for t in tasks)
        kept = f"{limit} longest" if timed else f"first {limit} in plan order"
        where = "" if frozenset(tasks) in reported else " (after the changes above)"
        moved = (
            f"wave-overload: wave {dense} holds {len(tasks)} tasks, more than max_parallel "
            f"({limit}){where}: the {kept} stay, {_names(rest)} "
            f"move{'s' if len(rest) == 1 else ''} to the next wave{'s' if len(chunks) > 1 else ''}"
        )
        shifted = (
            f"wave-overload: wave {dense} is split in {len(chunks) + 1}; the later waves keep "
            "their order"
        )
        needed = []
        for task_id in topological(self.tasks):
            task = self.tasks[task_id]
            earliest = 1 + max((target[dep] for dep in task.depends_on), default=0)
            if (
                max(earliest, task.wave or 0) < target[task_id]
                or (task.wave or earliest) < earliest
            ):
                # later than its dependencies put it, or a `wave:` now too low
                needed.append(task_id)
        # the moved tasks first, longest first; then the others in plan order
        position = {task_id: number for number, task_id in enumerate(rest)}
        needed.sort(key=lambda t: (t not in position, position.get(t, 0), self.order[t]))
        for task_id in needed:
            reason = moved if task_id in position else shifted
            self.add("wave", task_id, target[task_id], reason, "wave-overload")
