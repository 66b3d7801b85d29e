"""The terminal report: header, a table per wave, findings by severity, one verdict line.

Everything fits 80 columns; `-q` keeps only the verdict, `-v` adds each task's files and
every finding (the default shows the first few per rule). After a branch run a section
says what to do with each task (`-v` adds a retry's test output), and the tasks to accept
and to retry on a line each, uncut and unwrapped: an orchestrator copies those ids.
Colour follows pytest's ``--color`` and ``NO_COLOR`` through the terminal writer.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import textwrap

import pytest

from pytest_delegation.checks.findings import ERROR
from pytest_delegation.checks.findings import WARNING
from pytest_delegation.checks.findings import Finding
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.model import TaskResult
from pytest_delegation.report.names import cut
from pytest_delegation.report.names import plural
from pytest_delegation.report.names import short_names
from pytest_delegation.report.names import tally
from pytest_delegation.vocab import Action
from pytest_delegation.vocab import Status


WIDTH = 80
PER_RULE = 5
#: columns of the task column of a wave's table
TASK_WIDTH = 24
STATUS_MARKUP: dict[str, dict[str, bool]] = {
    Status.PASSED: {"green": True},
    Status.FAILED: {"red": True, "bold": True},
    Status.ERROR: {"red": True, "bold": True},
    Status.BLOCKED: {"yellow": True, "bold": True},
    Status.FLAKY: {"yellow": True},
    Status.SKIPPED: {"yellow": True},
    Status.NOT_RUN: {},
}
ACTION_MARKUP: dict[str, dict[str, bool]] = {
    Action.ACCEPT: {"green": True, "bold": True},
    Action.RETRY: {"red": True, "bold": True},
    Action.BLOCKED: {"yellow": True, "bold": True},
    Action.CONFLICT: {"red": True, "bold": True},
}
#: lines of a failing test's output shown with `-v` (`-vv`: all of them)
OUTPUT_LINES = 20
#: a retry's failing tests listed without -v; -v lists them all
SHOWN_FAILURES = 5


def render(report: RunReport, tr: pytest.TerminalReporter, verbosity: int) -> None:
    if verbosity < 0:
        tr.write_line(verdict(report), **verdict_markup(report))
        return
    tr.write_sep("=", "delegation report", bold=True)
    for line in header(report):
        tr.write_line(line)
    names = short_names(report.tasks, TASK_WIDTH)
    for number, wave in enumerate(report.plan.waves, start=1):
        shown = [task for task in wave if task in report.tasks]
        if not shown:
            continue
        tr.write_line("")
        tr.write_line(f"wave {number}", bold=True)
        tr.write_line(table_head(report.collect_only))
        for task in shown:
            result = report.tasks[task]
            text, status = table_row(report, task, result, names[task])
            tr.write(text)
            if status:
                label = status.upper() if status != Status.NOT_RUN else "not run"
                tr.write(label, **STATUS_MARKUP[status])
            tr.write_line("")
            if verbosity > 0:
                for line in task_details(report, task, result):
                    tr.write_line(line)
    if report.actions:
        write_actions(report, tr, verbosity)
    if report.untagged:
        counts = _counts(report.untagged.values())
        tr.write_line("")
        n = len(report.untagged)
        tr.write_line(f"untagged: {plural(n, 'test')} ({counts}), run after the last wave")
    for severity, title in ((ERROR, "errors"), (WARNING, "warnings")):
        findings = [f for f in report.findings if f.severity == severity]
        if not findings:
            continue
        tr.write_line("")
        markup = {"red": True} if severity == ERROR else {"yellow": True}
        tr.write_line(f"{title} ({len(findings)})", bold=True, **markup)
        for line, is_rule in finding_lines(findings, verbosity):
            tr.write_line(line, **(markup if is_rule else {}))
    tr.write_line("")
    tr.write_line(verdict(report), **verdict_markup(report))


def header(report: RunReport) -> list[str]:
    plan = report.plan
    lines = [
        f"plan {report.plan_path}: {tasks_in_waves(len(plan.tasks), len(plan.waves))}, "
        f"max_parallel {plan.max_parallel}"
    ]
    if report.collect_only:
        lines.append("collect only: the waves and the static findings; nothing ran")
    else:
        mode = f"mode: {report.mode}"
        if report.checks:
            mode += f"; checked: {', '.join(report.checks)}"
        if report.skipped_checks:
            why = "they need workers" if report.mode == "in-process" else "not asked for"
            mode += f"; not checked: {', '.join(report.skipped_checks)} ({why})"
        if report.unfinished:
            mode += f"; not finished: {', '.join(report.unfinished)} (interrupted)"
        lines.extend(_wrap(mode, ""))
    if report.seed is not None:
        lines.append(f"seed: {report.seed}")
    for note in report.notes:
        lines.extend(_wrap("note: " + note, ""))
    return lines


def table_head(collect_only: bool) -> str:
    if collect_only:
        return f"  {'task':<24} {'role':<15} {'tests':>5}"
    return f"  {'task':<24} {'role':<15} {'tests':>5} {'pass':>5} {'fail':>5} {'time':>7}  status"


def table_row(
    report: RunReport, task: str, result: TaskResult, name: str | None = None
) -> tuple[str, str]:
    """A task's row (its `name` as `short_names` shows it) and the status to print after."""
    role = report.plan.tasks[task].role or "-"
    tests = max(result.collected, len(result.tests))
    name = cut(task, TASK_WIDTH) if name is None else name
    if report.collect_only:
        return f"  {name:<24} {cut(role, 15):<15} {tests:>5}", ""
    passed, failed, _ = tally(result.tests.values())
    time = f"{result.duration:.2f}s"
    return (
        f"  {name:<24} {cut(role, 15):<15} {tests:>5} {passed:>5} {failed:>5} {time:>7}  ",
        result.status,
    )


def task_details(report: RunReport, task_id: str, result: TaskResult) -> Iterator[str]:
    task = report.plan.tasks[task_id]
    if task.files:
        yield from _wrap("files: " + ", ".join(task.files), "      ")
    if task.depends_on:
        yield from _wrap("depends on: " + ", ".join(task.depends_on), "      ")
    if result.blocked_by:
        yield f"      blocked by: {result.blocked_by}"


def write_actions(report: RunReport, tr: pytest.TerminalReporter, verbosity: int) -> None:
    """What to do with each task after a branch run, then the tasks to accept and retry."""
    tr.write_line("")
    tr.write_line("what to do", bold=True)
    for task, action in report.actions.items():
        tr.write("  ")
        tr.write(f"{action.action.upper():<9}", **ACTION_MARKUP[action.action])
        lines = action_lines(task, report.tasks[task], action, verbosity)
        tr.write_line(next(lines))
        for line in lines:
            tr.write_line(line)
    for word in (Action.ACCEPT, Action.RETRY):
        tasks = report.with_action(word)
        if tasks:
            tr.write(f"{word}:", **ACTION_MARKUP[word])
            tr.write_line(" " + ", ".join(tasks))


def action_lines(
    task: str, result: TaskResult, action: TaskAction, verbosity: int
) -> Iterator[str]:
    """A task's action after its label: the task, its branch, why, and a retry's failures
    (their output with `-v`, cut to ``OUTPUT_LINES`` unless `-vv`)."""
    indent = " " * 11
    head = task
    if result.branch is not None:
        cached = " (cached)" if result.branch.cached else ""
        head += f" on {result.branch.name} at {result.branch.short}{cached}"
    first, *rest = _wrap(head, indent)
    yield first[len(indent) :]
    yield from rest
    if action.reason:
        yield from _wrap(action.reason, indent)
    if action.with_tasks:
        yield from _wrap(f"{action.with_word}: {', '.join(action.with_tasks)}", indent)
    limit = OUTPUT_LINES if verbosity < 2 else None
    shown = action.failures if verbosity > 0 else action.failures[:SHOWN_FAILURES]
    for failure in shown:
        # a node id is copied from here: on a line of its own, never cut
        yield f"{indent}{failure.outcome} {failure.test}"
        if verbosity > 0:
            for line in failure.excerpt(limit, "... {lines} left out (-vv shows all) ..."):
                yield from _hard_wrap(line, indent + "    ")
    if len(shown) < len(action.failures):
        yield f"{indent}... and {len(action.failures) - len(shown)} more (-v shows all)"


def finding_lines(findings: list[Finding], verbosity: int) -> Iterator[tuple[str, bool]]:
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    for rule, group in by_rule.items():
        limit = len(group) if verbosity > 0 else PER_RULE
        for finding in group[:limit]:
            where = finding.where()
            if len(rule) + len(where) + 4 <= WIDTH:
                yield f"  {rule}: {where}", True
            else:
                # a node id is copied from here: wrap it, never cut it
                yield f"  {rule}:", True
                for line in textwrap.wrap(where, WIDTH - 4, break_on_hyphens=False):
                    yield f"    {line}", False
            for line in _wrap(finding.message, "    "):
                yield line, False
            if finding.fix:
                for line in _wrap("fix: " + finding.fix, "    "):
                    yield line, False
        if len(group) > limit:
            yield f"  ... and {len(group) - limit} more {rule} (-v shows all)", False


def verdict(report: RunReport) -> str:
    word = {"interrupted": "INTERRUPTED", "failed": "FAILED"}.get(report.verdict, "OK")
    if report.collect_only:
        tasks = tasks_in_waves(len(report.tasks), len(report.plan.waves)) + ", nothing run"
    else:
        counts: dict[str, int] = {}
        for result in report.tasks.values():
            counts[result.status] = counts.get(result.status, 0) + 1
        order = (
            Status.PASSED, Status.FAILED, Status.BLOCKED, Status.ERROR,
            Status.FLAKY, Status.SKIPPED, Status.NOT_RUN,
        )  # fmt: skip
        tasks = "tasks " + (
            ", ".join(f"{counts[s]} {s.replace('-', ' ')}" for s in order if counts.get(s))
            or "none"
        )
    errors, warnings = plural(report.errors, "error"), plural(report.warnings, "warning")
    return f"delegation {word}: {tasks}; {errors}, {warnings}"


def tasks_in_waves(tasks: int, waves: int) -> str:
    """``1 task in 1 wave``, ``8 tasks in 3 waves``."""
    return f"{plural(tasks, 'task')} in {plural(waves, 'wave')}"


def verdict_markup(report: RunReport) -> dict[str, bool]:
    if report.interrupted:
        return {"yellow": True, "bold": True}
    return {"red": True, "bold": True} if report.failed else {"green": True, "bold": True}


def _counts(outcomes: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))


def _hard_wrap(line: str, indent: str) -> list[str]:
    """A line of output in pieces that fit: cut anywhere, its spaces kept, none dropped."""
    width = WIDTH - len(indent)
    line = line.rstrip().expandtabs()
    return [indent + line[i : i + width] for i in range(0, len(line), width)] or [""]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=True,
        break_on_hyphens=False,
    ) or [indent]
