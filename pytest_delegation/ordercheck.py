"""The order check: replay the suite in other orders, pin each changed outcome, prove it.

1. canonical (wave order, one process), reverse and seeded shuffles, in workers;
2. then, to see past tests that undo the pollution (cleaners), the tests that changed
   shared state in the canonical run run first, followed by every other test, with what
   they changed put back before each test (see `changer_first`);
3. every test whose outcome differs from its isolated run is confirmed, bisected to its
   culprit and reported with a command that was run once and seen to fail.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
import shlex
import subprocess
import sys

import pytest

from pytest_delegation.findings import Finding
from pytest_delegation.ordering import Suspect
from pytest_delegation.ordering import Verdict
from pytest_delegation.ordering import investigate
from pytest_delegation.ordering import orders
from pytest_delegation.ordering import state_key
from pytest_delegation.ordering import suspects
from pytest_delegation.plan import Plan
from pytest_delegation.runs import Request
from pytest_delegation.runs import Run
from pytest_delegation.runs import SequenceRunner
from pytest_delegation.runs import once
from pytest_delegation.waves import transitive_dependencies


MAX_ROUNDS = 8  # runs that put state-changing tests first (see changer_first)


def check_order(
    runner: SequenceRunner,
    plan: Plan,
    tests_by_task: Mapping[str, Sequence[str]],
    untagged: Sequence[str],
    baseline: Mapping[str, str],
    shuffles: int,
    seed: int,
    say: Callable[[str], None],
) -> list[Finding]:
    task_of = {test: task for task, tests in tests_by_task.items() for test in tests}
    waves = [[list(tests_by_task[t]) for t in wave if tests_by_task.get(t)] for wave in plan.waves]
    sequences = orders(waves, untagged, shuffles, seed)
    say(
        f"order check: {', '.join(name for name, _ in sequences[:2])} and {shuffles} "
        f"shuffle{'s' * (shuffles != 1)} (seed {seed})"
    )
    requests = [
        Request(tuple(ids), snapshot=(name == "canonical"), label=name) for name, ids in sequences
    ]
    runs = [(name, run) for (name, _), run in zip(sequences, _many(runner, requests), strict=True)]
    changes = _changes(runs[0][1])
    extra = changer_first(runs[0][1])
    runs += list(zip((r.label for r in extra), _many(runner, extra), strict=True))
    found = suspects(dict(baseline), runs)
    for suspect in found:
        own = tests_by_task.get(task_of.get(suspect.test, ""), [])
        if suspect.test in own:
            suspect.home = tuple(own[: list(own).index(suspect.test)])
    if not found:
        say(f"order check: no test changed outcome in {len(runs)} orders")
        return []
    say(f"order check: {len(found)} test{'s' * (len(found) != 1)} changed outcome; bisecting")
    verdicts = runner.serve([investigate(s, changes) for s in found])
    findings = _findings(plan, task_of, found, verdicts, runner.config, runner.workers)
    runner.reproduced = sum(1 for f in findings if "reproduce" in f.extra)
    return findings


def _many(runner: SequenceRunner, requests: Sequence[Request]) -> list[Run]:
    return runner.serve([once(r) for r in requests])


def _changes(run: Run) -> dict[str, list[str]]:
    """What each test that left shared state changed, in the order the tests ran."""
    return {t: run.states[t] for t in run.ids if run.states.get(t)}


def changer_first(run: Run) -> list[Request]:
    """Runs that put state-changing tests first and keep what they changed in place.

    A victim hidden behind cleaners (tests that undo the pollution) never fails in the
    canonical order, and random orders rarely separate it from them. Here each piece of
    shared state (a module global, an environment variable...) has the tests that
    changed it; round r runs the r-th changer of every piece of state first, then every
    other test, with what the first ones changed put back before each test (a "sticky"
    run, see `child.Keeper`), so no cleaner can hide a victim. Changers of different
    state share a round, so a whole suite costs as many runs as the most-changed piece
    of state has changers.
    """
    keys = {t: {state_key(c) for c in run.states[t]} for t in run.ids if run.states.get(t)}
    by_key: dict[str, list[str]] = {}
    for test in run.ids:
        for key in sorted(keys.get(test, ())):
            by_key.setdefault(key, []).append(test)
    rounds = min(MAX_ROUNDS, max((len(tests) for tests in by_key.values()), default=0))
    requests = []
    for number in range(rounds):
        chosen = {tests[number] for tests in by_key.values() if len(tests) > number}
        first = tuple(t for t in run.ids if t in chosen)
        rest = [t for t in run.ids if t not in chosen]
        requests.append(
            Request(
                (*first, *rest),
                label=f"state changers first, round {number + 1}",
                sticky=first,
            )
        )
    return requests


def _findings(
    plan: Plan,
    task_of: Mapping[str, str],
    found: Sequence[Suspect],
    verdicts: Sequence[Verdict],
    config: pytest.Config,
    workers: int,
) -> list[Finding]:
    findings = []
    same_wave: dict[int, list[Verdict]] = {}
    for suspect, verdict in zip(found, verdicts, strict=True):
        task = task_of.get(verdict.test)
        if not verdict.confirmed and suspect.kept:
            continue  # a change seen only with the pollution kept in place, never plainly
        if not verdict.confirmed:
            findings.append(
                Finding(
                    "flaky",
                    f"{verdict.test} changed outcome in the {suspect.order} order, but not "
                    "when that order ran again: flaky, not an ordering dependency",
                    fix="make the test deterministic",
                    task=task,
                    test=verdict.test,
                )
            )
            continue
        findings.append(_dependency(plan, task_of, verdict))
        culprit_task = task_of.get(verdict.culprits[0]) if verdict.culprits else None
        if task and culprit_task and culprit_task != task:
            wave = plan.wave_of(task)
            if wave == plan.wave_of(culprit_task):
                same_wave.setdefault(wave, []).append(verdict)
    findings = _verified(findings, config, workers)
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


def _dependency(plan: Plan, task_of: Mapping[str, str], verdict: Verdict) -> Finding:
    task = task_of.get(verdict.test)
    culprits = verdict.culprits
    culprit_task = task_of.get(culprits[0]) if culprits else None
    declared = bool(
        task and culprit_task and culprit_task in transitive_dependencies(plan.tasks, task)
    )
    if verdict.kind == "victim":
        order = (*culprits, verdict.test) if culprits else (verdict.test,)
    else:
        order = (verdict.test,)  # a brittle test fails on its own
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


def reproduce_command(order: Sequence[str]) -> str:
    return shlex.join(
        ["python", "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *order]
    )


def _verified(findings: list[Finding], config: pytest.Config, workers: int) -> list[Finding]:
    """Run every reproduce command once, side by side; mark those that did not fail."""
    commands = [f.extra["reproduce"] for f in findings if "reproduce" in f.extra]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        failed = dict(zip(commands, pool.map(lambda c: _fails(c, config), commands), strict=True))
    return [
        replace(f, extra={**f.extra, "reproduce_verified": False})
        if "reproduce" in f.extra and not failed[f.extra["reproduce"]]
        else f
        for f in findings
    ]


def _fails(command: str, config: pytest.Config) -> bool:
    """Run the reproduce command once, from rootdir, as a user would: it must exit 1."""
    argv = shlex.split(command)
    argv[0] = sys.executable
    try:
        done = subprocess.run(
            argv, cwd=config.rootpath, capture_output=True, timeout=300, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 1
