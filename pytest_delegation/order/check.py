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

from pytest_delegation.checks.findings import Finding
from pytest_delegation.order.findings import order_findings
from pytest_delegation.order.protocol import Client
from pytest_delegation.order.protocol import Request
from pytest_delegation.order.protocol import Run
from pytest_delegation.order.protocol import Runner
from pytest_delegation.order.protocol import once
from pytest_delegation.order.search import Suspect
from pytest_delegation.order.search import Verdict
from pytest_delegation.order.search import investigate
from pytest_delegation.order.search import orders
from pytest_delegation.order.search import state_key
from pytest_delegation.order.search import suspects
from pytest_delegation.plan.model import Plan
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome


# runs that put state-changing tests first (see changer_first)
MAX_ROUNDS = 8
# tests that failed in their task's run, each tried once alone
MAX_ALONE = 50


def check_order(
    runner: Runner,
    plan: Plan,
    tests_by_task: Mapping[str, Sequence[str]],
    untagged: Sequence[str],
    baseline: Mapping[str, str],
    shuffles: int,
    seed: int,
    say: Callable[[str], None],
    verify: Callable[[list[Finding]], list[Finding]],
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
    extra = [*without_changers(runs[0][1]), *changer_first(runs[0][1])]
    runs += list(zip((r.label for r in extra), _many(runner, extra), strict=True))
    found = suspects(dict(baseline), runs)
    for suspect in found:
        own = tests_by_task.get(task_of.get(suspect.test, ""), [])
        if suspect.test in own:
            suspect.home = tuple(own[: list(own).index(suspect.test)])
    found += _failing_in_their_task(runner, tests_by_task, task_of, baseline, found)
    if not found:
        say(f"order check: no test changed outcome in {len(runs)} orders")
        return []
    say(f"order check: {len(found)} test{'s' * (len(found) != 1)} changed outcome; bisecting")
    done: list[Verdict | None] = [None] * len(found)
    clients = [_recording(investigate(s, changes), done, i) for i, s in enumerate(found)]
    try:
        verdicts = runner.serve(clients)
    except KeyboardInterrupt:
        # what was concluded before the interrupt is kept; its commands are not run
        finished = [(s, v) for s, v in zip(found, done, strict=True) if v is not None]
        raise Interrupted(
            order_findings(plan, task_of, [s for s, _ in finished], [v for _, v in finished]),
            verified=False,
        ) from None
    findings = order_findings(plan, task_of, found, verdicts)
    try:
        return verify(findings)
    except KeyboardInterrupt:
        raise Interrupted(findings, verified=False) from None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during the order check, with the findings concluded by then.

    ``verified`` is False when their reproduce commands were not (all) run.
    """

    def __init__(self, findings: list[Finding], verified: bool = False) -> None:
        super().__init__("order check interrupted")
        self.findings = findings
        self.verified = verified


def _recording(client: Client[Verdict], done: list[Verdict | None], index: int) -> Client[Verdict]:
    """The client, with its verdict kept in `done` as soon as it has one."""
    verdict = yield from client
    done[index] = verdict
    return verdict


def _failing_in_their_task(
    runner: Runner,
    tests_by_task: Mapping[str, Sequence[str]],
    task_of: Mapping[str, str],
    baseline: Mapping[str, str],
    found: Sequence[Suspect],
) -> list[Suspect]:
    """Tests that failed in their task's run, and pass alone: their polluter ran before
    them in their own task, so they fail in every order and never changed outcome."""
    seen = {s.test for s in found}
    failing = [t for t, o in baseline.items() if o in FAILING and t not in seen and t in task_of]
    failing = failing[:MAX_ALONE]
    if not failing:
        return []
    runs = _many(runner, [Request((t,), label="alone", fresh=True) for t in failing])
    more = []
    for test, run in zip(failing, runs, strict=True):
        own = list(tests_by_task.get(task_of[test], []))
        home = tuple(own[: own.index(test)]) if test in own else ()
        if home and run.outcomes.get(test) == Outcome.PASSED:
            more.append(Suspect(test, "victim", "task", home, home=home))
    return more


def _many(runner: Runner, requests: Sequence[Request]) -> list[Run]:
    return runner.serve([once(r) for r in requests])


def _changes(run: Run) -> dict[str, list[str]]:
    """What each test that left shared state changed, in the order the tests ran."""
    return {t: run.states[t] for t in run.ids if run.states.get(t)}


def without_changers(run: Run) -> list[Request]:
    """One run of every test that changed no shared state, in the canonical order.

    A brittle test passes only after a test that sets up state for it (a module global,
    the decimal context...). When its task holds setters before and after it, every
    order puts one first and it never fails; without the changers, it does, whatever
    the seed.
    """
    changers = {t for t in run.ids if run.states.get(t)}
    rest = tuple(t for t in run.ids if t not in changers)
    if not changers or not rest:
        return []
    return [Request(rest, label="without state changers")]


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
