"""The order check: replay the suite in other orders, pin each changed outcome, prove it.

1. canonical (wave order, one process), reverse and seeded shuffles, in workers;
2. as soon as the canonical run has ended (beside the other orders, see `_FirstSteps`):
   to see past tests that undo the pollution (cleaners), the tests that changed shared
   state in the canonical run run first, followed by every other test, with what they
   changed put back before each test (see `changer_first`); each state changer twice in
   a row (tests that pollute themselves); and, once every plain order has ended, one run
   without those tests (brittle tests whose setters sit on both sides). A round that kept
   pollution in place and turned most tests red is set aside (`broken_rounds`);
3. every test whose outcome differs from its isolated run is confirmed, bisected to its
   culprit and reported with a command that was run once and seen to fail. Tests that
   one run showed together are settled as a group: the earliest is bisected, its
   culprits are tried before the others (see `search.investigate_group`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import time

from pytest_delegation.checks.findings import Finding
from pytest_delegation.order.findings import order_findings
from pytest_delegation.order.protocol import Client
from pytest_delegation.order.protocol import Request
from pytest_delegation.order.protocol import Run
from pytest_delegation.order.protocol import Runner
from pytest_delegation.order.search import Costs
from pytest_delegation.order.search import Suspect
from pytest_delegation.order.search import Verdict
from pytest_delegation.order.search import groups
from pytest_delegation.order.search import investigate
from pytest_delegation.order.search import investigate_group
from pytest_delegation.order.search import kind_of
from pytest_delegation.order.search import orders
from pytest_delegation.order.search import state_key
from pytest_delegation.order.search import suspects
from pytest_delegation.plan.model import Plan
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome
from pytest_delegation.worker.protocol import AGAIN


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
    notes: list[str] | None = None,
    readers: Mapping[str, frozenset[str]] | None = None,
    costs: Costs | None = None,
) -> list[Finding]:
    """The findings; `notes` gets what the report should say of runs set aside;
    `readers`, the tests that can read each test module's globals (see `changer_first`);
    `costs`, what the task runs measured (see `search.parts`)."""
    notes = notes if notes is not None else []
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
    step = _FirstSteps(requests, baseline, task_of, readers)
    step.run(runner)
    canonical = step.canonical
    runs = [(name, run) for (name, _), run in zip(sequences, step.plain, strict=True)]
    changes = _changes(canonical)
    for key in step.counters:
        count = sum(1 for t in canonical.ids if key in map(state_key, canonical.states.get(t, ())))
        line = (
            f"order check: no round keeps {key}: {count} tests changed it and none put it "
            "back (a counter, a cache that only grows), so no test can hide its changers, "
            "and a test that changed only it does not run twice"
        )
        say(line)
        notes.append(line)
    artificial = step.artificial
    repeated = non_idempotent_suspects(step.doubled, baseline)
    alone = step.alone
    for label, changed, total in broken_rounds(baseline, artificial):
        line = (
            f"order check: the '{label}' run turned {changed} of {total} tests red: what it "
            "kept in place broke the suite, so it was set aside (nothing was bisected from it)"
        )
        say(line)
        notes.append(line)
        artificial = [(name, run) for name, run in artificial if name != label]
    runs += artificial
    found = suspects(dict(baseline), runs)
    for suspect in found:
        own = tests_by_task.get(task_of.get(suspect.test, ""), [])
        if suspect.test in own:
            suspect.home = tuple(own[: list(own).index(suspect.test)])
        if canonical.outcomes.get(suspect.test) == Outcome.PASSED:
            suspect.passed_in = canonical.ids  # one tuple for all: only a few read it
    found += _passing_alone(tests_by_task, task_of, alone, found)
    if not found and not repeated:
        say(f"order check: no test changed outcome in {len(runs)} orders")
        return []
    grouped = groups(found)
    say(
        f"order check: confirming {len(found) + len(repeated)} changed "
        f"outcome{'s' * (len(found) + len(repeated) != 1)}"
        + f" ({len(grouped)} group{'s' * (len(grouped) != 1)})"
        * (len(grouped) < len(found))
    )
    done: dict[str, Verdict] = {}
    progress = _Progress(say, len(found) + len(repeated), done)
    everyone = [*found, *repeated]
    try:
        leftovers = runner.serve(
            [
                *(
                    _settle(investigate_group(lead, rest, changes, costs), done, progress)
                    for lead, rest in grouped
                ),
                *(_settle(_alone(idempotence(s.test)), done, progress) for s in repeated),
            ]
        )
        rest = [s for more in leftovers for s in more]
        if rest:
            runner.serve(
                [_settle(_alone(investigate(s, changes, costs)), done, progress) for s in rest]
            )
    except KeyboardInterrupt:
        # what was concluded before the interrupt is kept; its commands are not run
        finished = [s for s in everyone if s.test in done]
        raise Interrupted(
            order_findings(plan, task_of, finished, [done[s.test] for s in finished]),
            verified=False,
        ) from None
    verdicts = [done[s.test] for s in everyone]
    progress.end()
    unconfirmed = [v.test for v in verdicts if v.kept_only]
    if unconfirmed:
        named = ", ".join(unconfirmed[:3]) + f" and {len(unconfirmed) - 3} more" * (
            len(unconfirmed) > 3
        )
        notes.append(
            f"order check: {len(unconfirmed)} change{'s' * (len(unconfirmed) != 1)} seen only "
            f"in runs that kept pollution in place could not be confirmed in a plain run "
            f"({named})"
        )
    findings = order_findings(plan, task_of, everyone, verdicts)
    try:
        return verify(findings)
    except KeyboardInterrupt:
        raise Interrupted(findings, verified=False) from None


class _FirstSteps:
    """The plain orders, and the runs that need them, each started as soon as it can be.

    The rounds and the doubled changers need only the canonical run (what each test
    changed): they start when it ends, beside the reverse and shuffled orders, instead
    of behind the slowest of them. The run without changers and the runs alone need
    every plain order (what they already showed): whichever of the canonical run and the
    others ends last asks for them. Either way the same runs are asked for.
    """

    def __init__(
        self,
        requests: Sequence[Request],
        baseline: Mapping[str, str],
        task_of: Mapping[str, str],
        readers: Mapping[str, frozenset[str]] | None,
    ) -> None:
        self.requests = list(requests)
        self.baseline = baseline
        self.task_of = task_of
        self.readers = readers
        self.canonical = Run(())
        #: the state of the canonical run that no test put back (see `never_undone`)
        self.counters: list[str] = []
        self.plain: list[Run] = []
        self._others: list[Run] | None = None
        self._has_canonical = False
        self._rounds: list[Request] = []
        self._twice: list[Request] = []
        self._without: list[Request] = []
        self._alone: list[Request] = []
        self._answers: list[tuple[Request, Run]] = []

    def run(self, runner: Runner) -> None:
        runner.serve([self._canonical_client(), self._others_client()])
        self.plain = [self.canonical, *(self._others or [])]

    def _canonical_client(self) -> Client[None]:
        run: Run = yield self.requests[0]
        _forget_collection_imports(run)
        self.canonical, self._has_canonical = run, True
        self.counters = never_undone(run)
        self._rounds = changer_first(run, self.readers, self.counters)
        self._twice = twice(run, self.baseline, frozenset(self.counters))
        asked = [*self._rounds, *self._twice]
        if self._others is not None:
            asked += self._needing_all()
        yield from self._ask(asked)

    def _others_client(self) -> Client[None]:
        others = self.requests[1:]
        got: tuple[Run, ...] = (yield tuple(others)) if others else ()
        self._others = list(got)
        if self._has_canonical:
            yield from self._ask(self._needing_all())

    def _needing_all(self) -> list[Request]:
        plain = [self.canonical, *(self._others or [])]
        self._without = without_changers(self.canonical, plain[1:])
        # the tests the plain orders already showed changed need no run alone
        named = [(r.label, run) for r, run in zip(self.requests, plain, strict=True)]
        shown = {suspect.test for suspect in suspects(dict(self.baseline), named)}
        failing = [t for t in failing_in_their_task(self.baseline, self.task_of) if t not in shown]
        self._alone = [Request((t,), label="alone", fresh=True) for t in failing[:MAX_ALONE]]
        return [*self._without, *self._alone]

    def _ask(self, asked: list[Request]) -> Client[None]:
        if asked:
            answered = yield tuple(asked)
            self._answers += zip(asked, answered, strict=True)

    def _answer(self, request: Request) -> Run:
        return next(run for asked, run in self._answers if asked is request)

    @property
    def artificial(self) -> list[tuple[str, Run]]:
        """The run without changers, then the rounds, as (label, run)."""
        return [(r.label, self._answer(r)) for r in [*self._without, *self._rounds]]

    @property
    def doubled(self) -> list[Run]:
        return [self._answer(r) for r in self._twice]

    @property
    def alone(self) -> dict[str, Run]:
        """Per test that failed in its task's run (and no plain order showed), its run alone."""
        return {r.ids[0]: self._answer(r) for r in self._alone}


# a run that kept pollution in place and turned at least this share of its tests red
# (and at least BROKEN_MIN of them) broke the suite itself
BROKEN_SHARE = 0.5
BROKEN_MIN = 10


def broken_rounds(
    baseline: Mapping[str, str], runs: Sequence[tuple[str, Run]]
) -> list[tuple[str, int, int]]:
    """The runs that kept pollution in place and changed most outcomes: (label, changed, of).

    Putting back what the first tests changed can break every later test (a parser's
    caches, a registry...): those changes are the round's, not the suite's; hundreds of
    them confirmed one by one would find nothing and cost minutes.
    """
    broken = []
    for label, run in runs:
        if not run.sticky:
            continue
        sticky = set(run.sticky)
        judged = [t for t in run.ids if t not in sticky and t in baseline]
        changed = sum(1 for t in judged if kind_of(baseline[t], run.outcomes.get(t)))
        if changed >= max(BROKEN_MIN, BROKEN_SHARE * len(judged)):
            broken.append((label, changed, len(judged)))
    return broken


def twice(
    run: Run, baseline: Mapping[str, str], counters: frozenset[str] = frozenset()
) -> list[Request]:
    """One run of every test that changed shared state, each twice in a row.

    A test that pollutes itself fails the second time in one process (a counter, a
    registry it fills, a file it creates). Only a test that leaves state changed can, so
    the run holds the canonical run's state changers that passed on their own, but not
    those that changed only `counters` (see `never_undone`): many tests move such state
    and none puts it back, so the plain orders already ran each of them after others
    that moved it. attrs' attribute counter made this run 1,550 tests, the longest of
    the check.
    """
    changers = [
        t
        for t in run.ids
        if baseline.get(t) == Outcome.PASSED
        and any(state_key(c) not in counters for c in run.states.get(t, ()))
    ]
    if not changers:
        return []
    ids = tuple(x for t in changers for x in (t, t + AGAIN))
    return [Request(ids, label="each state changer twice")]


def non_idempotent_suspects(runs: Sequence[Run], baseline: Mapping[str, str]) -> list[Suspect]:
    found = []
    for run in runs:
        for test in run.ids:
            if test.endswith(AGAIN) or baseline.get(test) != Outcome.PASSED:
                continue
            first, second = run.outcomes.get(test), run.outcomes.get(test + AGAIN)
            if first == Outcome.PASSED and second in FAILING:
                found.append(Suspect(test, "non-idempotent", "twice", (test,)))
    return found


def idempotence(test: str) -> Client[Verdict]:
    """The test twice in a fresh process: it passes, then fails (else it is no finding)."""
    verdict = Verdict(test, "non-idempotent", "twice")
    run = yield Request((test, test + AGAIN), label="confirm", fresh=True, snapshot=(test,))
    if run.outcomes.get(test) == Outcome.PASSED and run.outcomes.get(test + AGAIN) in FAILING:
        verdict.confirmed = True
        verdict.culprits = (test,)
        verdict.state = sorted(
            c for c in run.states.get(test, []) if not c.endswith(" was collected")
        )
    else:
        # seen once in a run of many: not news, and not a flaky verdict either
        verdict.kept_only = True
    return verdict


class _Progress:
    """A line now and then while suspects are settled: long investigations are not silent."""

    EVERY = 5.0

    def __init__(self, say: Callable[[str], None], total: int, done: Mapping[str, Verdict]):
        self.say = say
        self.total = total
        self.done = done
        self.last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.EVERY and len(self.done) < self.total:
            self.last = now
            self.say(f"order check: {self._counts()}")

    def end(self) -> None:
        self.say(f"order check: {self._counts()}")

    def _counts(self) -> str:
        confirmed = sum(1 for v in self.done.values() if v.confirmed)
        return f"{len(self.done)} of {self.total} changed outcomes settled, {confirmed} confirmed"


def _alone(client: Client[Verdict]) -> Client[tuple[list[Verdict], list[Suspect]]]:
    verdict = yield from client
    return [verdict], []


def _settle(
    client: Client[tuple[list[Verdict], list[Suspect]]],
    done: dict[str, Verdict],
    progress: Callable[[], None],
) -> Client[list[Suspect]]:
    """The client, its verdicts kept in `done` as soon as it has them; the suspects it
    handed back (another cause) are its result."""
    verdicts, leftovers = yield from client
    for verdict in verdicts:
        done[verdict.test] = verdict
    progress()
    return leftovers


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during the order check, with the findings concluded by then.

    ``verified`` is False when their reproduce commands were not (all) run.
    """

    def __init__(self, findings: list[Finding], verified: bool = False) -> None:
        super().__init__("order check interrupted")
        self.findings = findings
        self.verified = verified


def failing_in_their_task(baseline: Mapping[str, str], task_of: Mapping[str, str]) -> list[str]:
    """Tests that failed in their task's run: each gets one run alone (see `_passing_alone`)."""
    return [t for t, o in baseline.items() if o in FAILING and t in task_of]


def _passing_alone(
    tests_by_task: Mapping[str, Sequence[str]],
    task_of: Mapping[str, str],
    alone: Mapping[str, Run],
    found: Sequence[Suspect],
) -> list[Suspect]:
    """Tests that failed in their task's run, and pass alone: their polluter ran before
    them in their own task, so they fail in every order and never changed outcome."""
    seen = {s.test for s in found}
    more = []
    for test, run in alone.items():
        if test in seen:
            continue
        own = list(tests_by_task.get(task_of[test], []))
        home = tuple(own[: own.index(test)]) if test in own else ()
        if home and run.outcomes.get(test) == Outcome.PASSED:
            more.append(Suspect(test, "victim", "task", home, home=home))
    return more


def _forget_collection_imports(run: Run) -> None:
    """What a test module imports as it is collected is told with its first test: it
    names the cause of a finding, but it makes no test a state changer (every module's
    first test would be one)."""
    for test, changed in list(run.states.items()):
        kept = [c for c in changed if not c.endswith(" was collected")]
        if kept:
            run.states[test] = kept
        else:
            del run.states[test]


def _changes(run: Run) -> dict[str, list[str]]:
    """What each test that left shared state changed, in the order the tests ran."""
    return {t: run.states[t] for t in run.ids if run.states.get(t)}


def without_changers(run: Run, plain: Sequence[Run] = ()) -> list[Request]:
    """One run of the tests that always had a state changer before them, without any.

    A brittle test passes only after a test that sets up state for it (a module global,
    the decimal context...). When its task holds setters before and after it, every
    order puts one first and it never fails; without the changers, it does, whatever
    the seed. A test that some plain order (`plain`, the canonical one included) ran
    with no changer before it has been seen without them already: only the others run.
    """
    changers = {t for t in run.ids if run.states.get(t)}
    if not changers:
        return []
    shielded = set(run.ids) - changers
    for order in (run, *plain):
        seen_changer = False
        for test in order.ids:
            if not seen_changer:
                shielded.discard(test)
            seen_changer = seen_changer or test in changers
    rest = tuple(t for t in run.ids if t in shielded)
    if not rest:
        return []
    return [Request(rest, label="without state changers")]


def changer_first(
    run: Run,
    readers: Mapping[str, frozenset[str]] | None = None,
    counters: Sequence[str] | None = None,
) -> list[Request]:
    """Runs that put state-changing tests first and keep what they changed in place.

    A victim hidden behind cleaners (tests that undo the pollution) never fails in the
    canonical order, and random orders rarely separate it from them. Here each piece of
    shared state (a module global, an environment variable...) has the tests that
    changed it, grouped by the value they left it with (a hundred tests that switch it
    back to the default are one); round r runs a test of the r-th value of every piece of
    state first, then every other test, with what the first ones changed put back before
    each test (a "sticky" run, see `child.Keeper`), so no cleaner can hide a victim.
    Changers of different state share a round, so a whole suite costs as many runs as
    the piece of state with the most distinct values left has values (at most
    `MAX_ROUNDS`).

    ``readers`` maps a test module to the tests that can read its globals (see
    `collect.readers`): the rounds past those that state elsewhere needs hold only
    them. A class in a test module whose cache seven tests leave seven ways cost seven
    runs of a whole suite (cachetools), where seven runs of that module's tests do.
    ``counters``, the run's `never_undone` state when the caller has it already.
    """
    by_key: dict[str, dict[str, str]] = {}
    for test in run.ids:
        left = run.values.get(test, {})
        for change in sorted(run.states.get(test, ())):
            key = state_key(change)
            # one test per value left; without a digest every test counts apart
            by_key.setdefault(key, {}).setdefault(left.get(key, test), test)
    never = set(never_undone(run) if counters is None else counters)
    firsts = {key: list(values.values()) for key, values in by_key.items() if key not in never}
    audience = {key: _audience(key, readers or {}) for key in firsts}
    everyone = [len(tests) for key, tests in firsts.items() if audience[key] is None]
    whole = min(MAX_ROUNDS, max(everyone, default=0))
    rounds = min(MAX_ROUNDS, max((len(tests) for tests in firsts.values()), default=0))
    requests = []
    for number in range(rounds):
        chosen = {tests[number] for tests in firsts.values() if len(tests) > number}
        first = tuple(t for t in run.ids if t in chosen)
        rest = [t for t in run.ids if t not in chosen]
        if number >= whole:
            # only state some tests can read is left: only they run after its changers
            can_read = set().union(
                *(audience[key] or () for key, tests in firsts.items() if len(tests) > number)
            )
            rest = [t for t in rest if t in can_read]
        requests.append(
            Request(
                (*first, *rest),
                label=f"state changers first, round {number + 1}",
                sticky=first,
            )
        )
    return requests


def never_undone(run: Run) -> list[str]:
    """State that many tests changed and none put back: a counter, a cache that grows.

    Rounds are there to see past cleaners, tests that put state back to a value it held.
    When no test of the run left a piece of state with a value it held before (its
    value before each change is known), no cleaner hides its changers: the plain orders
    already ran every later test with it changed. With more values than `MAX_ROUNDS`,
    the rounds would only keep 8 of them, as they come: attrs' attribute counter,
    changed by 772 tests, cost 8 runs of its whole suite.
    """
    left: dict[str, list[str]] = {}
    held: dict[str, set[str]] = {}
    undone: set[str] = set()
    unknown: set[str] = set()
    for test in run.ids:
        values = run.values.get(test, {})
        befores = run.befores.get(test, {})
        for change in run.states.get(test, ()):
            key = state_key(change)
            if key not in values or key not in befores:
                unknown.add(key)
                continue
            seen = held.setdefault(key, set())
            seen.add(befores[key])
            if values[key] in seen:
                undone.add(key)
            seen.add(values[key])
            left.setdefault(key, []).append(values[key])
    return sorted(
        key
        for key, values in left.items()
        if key not in undone and key not in unknown and len(set(values)) > MAX_ROUNDS
    )


def _audience(key: str, readers: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    """The tests that can read this piece of state, or None for every test."""
    if not key.startswith("global "):
        return None
    name = key.removeprefix("global ")
    while "." in name:
        name = name.rpartition(".")[0]
        if name in readers:
            return readers[name]
    return None
