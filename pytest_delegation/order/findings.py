"""The order check's verdicts as findings: who depends on whom, the fix, the command.

A change that a plain run did not confirm is `flaky`; a change seen only in a run that
kept the pollution in place (an artificial run) is dropped, never reported as flaky; and
a victim the plan's own order protects (its polluter's task depends on its task) is no
finding: the plan never runs the polluter first.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace

from pytest_delegation.checks.findings import Finding
from pytest_delegation.order.reproduce import reproduce_command
from pytest_delegation.order.reproduce import twice_command
from pytest_delegation.order.search import Suspect
from pytest_delegation.order.search import Verdict
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan


def order_findings(
    plan: Plan,
    task_of: Mapping[str, str],
    found: Sequence[Suspect],
    verdicts: Sequence[Verdict],
) -> list[Finding]:
    findings: list[Finding] = []
    dependencies: list[tuple[Verdict, Finding]] = []
    same_wave: dict[int, list[Verdict]] = {}
    # one flaky finding per test, however many orders it changed outcome in: a test
    # that counts its runs can fail in two order runs that happened side by side
    flaky: dict[str, tuple[str | None, list[str]]] = {}
    for suspect, verdict in zip(found, verdicts, strict=True):
        task = task_of.get(verdict.test)
        if not verdict.confirmed and suspect.kept:
            # a change seen only with the pollution kept in place, never plainly (plain
            # runs come first in a suspect's evidence; the session's note counts the
            # ones no plain run confirmed, `Verdict.kept_only`)
            continue
        if not verdict.confirmed:
            flaky.setdefault(verdict.test, (task, []))[1].append(suspect.order)
            continue
        culprit_task = task_of.get(verdict.culprits[0]) if verdict.culprits else None
        if _ruled_out(plan, verdict, task, culprit_task):
            continue
        dependencies.append((verdict, _dependency(plan, task_of, verdict)))
        if task and culprit_task and culprit_task != task:
            wave = plan.wave_of(task)
            if wave == plan.wave_of(culprit_task):
                same_wave.setdefault(wave, []).append(verdict)
    for test, (task, orders) in flaky.items():
        findings.append(_flaky(test, task, orders))
    findings += by_cause(dependencies)
    for wave, items in sorted(same_wave.items()):
        pairs = sorted({f"{task_of[v.culprits[0]]} -> {task_of[v.test]}" for v in items})
        findings.append(
            Finding(
                "wave-order-dependency",
                f"the outcome of wave {wave} depends on the order of its tasks: "
                + ", ".join(pairs),
                fix="make the tasks independent (see the hidden-ordering-dependency "
                "findings), or chain them with depends_on so they run in different waves",
                task=task_of[items[0].test],
                other_task=task_of[items[0].culprits[0]],
                extra={"wave": wave, "pairs": pairs},
            )
        )
    return findings


def _flaky(test: str, task: str | None, orders: Sequence[str]) -> Finding:
    names = list(dict.fromkeys(orders))
    if len(names) == 1:
        seen = f"the {names[0]} order, but not when that order ran again"
    else:
        seen = f"the {', '.join(names[:-1])} and {names[-1]} orders, but not when they ran again"
    return Finding(
        "flaky",
        f"{test} changed outcome in {seen}: flaky, not an ordering dependency",
        fix="make the test deterministic",
        task=task,
        test=test,
        extra={"orders": names},
    )


# victims named in a cause's message before "and N more"
SHOWN_VICTIMS = 5


def by_cause(dependencies: Sequence[tuple[Verdict, Finding]]) -> list[Finding]:
    """One finding per cause (the same culprits) and task, listing its victims.

    Sixty tests that fail because one earlier test imported a submodule are one thing
    to fix, not sixty: the finding names the first, lists the others under ``victims``
    and every finding of a cause carries its ``cause`` id (``cause-1``...).
    """
    causes: dict[tuple[str, ...], str] = {}
    merged: dict[tuple[str, str | None, str], list[Finding]] = {}
    for verdict, finding in dependencies:
        cause = causes.setdefault(verdict.culprits, f"cause-{len(causes) + 1}")
        verdict.cause = cause
        finding = replace(finding, extra={**finding.extra, "cause": cause})
        merged.setdefault((cause, finding.task, verdict.kind), []).append(finding)
    result = []
    for (_, _, kind), items in merged.items():
        first = items[0]
        if len(items) == 1:
            result.append(first)
            continue
        victims = [f.test for f in items if f.test]
        shown = ", ".join(victims[:SHOWN_VICTIMS])
        if len(victims) > SHOWN_VICTIMS:
            shown += f" and {len(victims) - SHOWN_VICTIMS} more"
        culprits = first.extra.get("culprit_test")
        named = " and ".join(culprits) if isinstance(culprits, list) else str(culprits)
        if kind == "victim":
            message = f"{len(victims)} tests fail after {named} ran before them; they pass alone: "
        else:
            message = (
                f"{len(victims)} tests pass only after {named} ran before them; they fail alone: "
            )
        result.append(
            replace(
                first,
                message=message + shown,
                extra={
                    **first.extra,
                    "victims": victims,
                    "bisect_runs": sum(int(str(f.extra.get("bisect_runs", 0))) for f in items),
                },
            )
        )
    return result


def _ruled_out(plan: Plan, verdict: Verdict, task: str | None, culprit: str | None) -> bool:
    """A victim whose polluter's task depends on the victim's task: the plan always runs
    the victim first (the fix `--delegation-suggest` gives), so the failing order is one
    no run of the plan makes."""
    return bool(
        verdict.kind == "victim"
        and task
        and culprit
        and culprit != task
        and task in transitive_dependencies(plan.tasks, culprit)
    )


def _dependency(plan: Plan, task_of: Mapping[str, str], verdict: Verdict) -> Finding:
    task = task_of.get(verdict.test)
    culprits = verdict.culprits
    culprit_task = task_of.get(culprits[0]) if culprits else None
    declared = bool(
        task and culprit_task and culprit_task in transitive_dependencies(plan.tasks, task)
    )
    if verdict.kind == "non-idempotent":
        return _non_idempotent(task, verdict)
    if verdict.kind == "victim":
        order = (*culprits, verdict.test) if culprits else (verdict.test,)
    else:
        # a brittle test fails on its own
        order = (verdict.test,)
    command = reproduce_command(order)
    named = " and ".join(culprits) if culprits else "a test that ran before it (not pinned)"
    if verdict.kind == "victim":
        message = f"{verdict.test} fails after {named} ran before it; it passes alone"
    else:
        message = f"{verdict.test} passes only after {named} ran before it; it fails alone"
    where = f" (found in the {verdict.order} order)"
    leaked = f"; shared state it changed: {', '.join(verdict.state[:4])}" if verdict.state else ""
    if verdict.kind == "victim":
        fix = "make the culprit restore what it changes (a fixture with teardown, monkeypatch)"
        fix += leaked + ", or isolate the victim from that state"
        if verdict.cleaner:
            fix += f"; {verdict.cleaner} undoes it: do in the culprit's teardown what it does"
    else:
        fix = "make the test set up what it needs itself (a fixture)" + leaked
        if culprit_task and task and culprit_task != task and not declared:
            fix += f", or declare the dependency: depends_on: [{culprit_task}]"
    extra: dict[str, object] = {
        "kind": verdict.kind,
        "declared_dependency": declared,
        "bisect_runs": verdict.bisect_runs,
        "reproduce": command,
        "order": verdict.order,
    }
    if culprits:
        extra["culprit_test"] = culprits[0] if len(culprits) == 1 else list(culprits)
        if culprit_task:
            extra["culprit_task"] = culprit_task
    if verdict.state:
        extra["shared_state"] = verdict.state
    if verdict.cleaner:
        extra["cleaner_test"] = verdict.cleaner
    return Finding(
        "hidden-ordering-dependency",
        message + where,
        fix=fix,
        task=task,
        other_task=culprit_task if culprit_task != task else None,
        test=verdict.test,
        extra=extra,
    )


def _non_idempotent(task: str | None, verdict: Verdict) -> Finding:
    """A test that pollutes itself: it passes once and fails when it runs again."""
    leaked = f"; shared state it changed: {', '.join(verdict.state[:4])}" if verdict.state else ""
    return Finding(
        "hidden-ordering-dependency",
        f"{verdict.test} fails when it runs a second time in one process; it passes the "
        "first time (it pollutes itself)",
        fix="make the test restore what it changes (a fixture with teardown, monkeypatch)"
        + leaked,
        task=task,
        test=verdict.test,
        extra={
            "kind": "non-idempotent",
            "declared_dependency": False,
            "bisect_runs": verdict.bisect_runs,
            "reproduce": twice_command(verdict.test),
            "order": verdict.order,
            "culprit_test": verdict.test,
            **({"shared_state": verdict.state} if verdict.state else {}),
        },
    )
