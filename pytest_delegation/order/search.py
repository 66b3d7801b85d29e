"""Hidden ordering dependencies: which orders to try, and pinning a changed outcome to its culprit.

Pure logic: the runs themselves are requested by yielding `runs.Request`s (see
`runs.SequenceRunner.serve`), so bisections for many tests share the worker pool.
A culprit is only ever reported after a run showed it: no false culprit.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import itertools
import random

from pytest_delegation.order.protocol import Client
from pytest_delegation.order.protocol import Request
from pytest_delegation.order.protocol import Run
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome


MAX_DDMIN_RUNS = 64
# cleaner candidates tried side by side, in one batch
MAX_CLEANER_TRIES = 4


def orders(
    waves: Sequence[Sequence[Sequence[str]]],
    untagged: Sequence[str],
    shuffles: int,
    seed: int,
) -> list[tuple[str, list[str]]]:
    """The sequences to try: canonical, reverse, then seeded shuffles (waves stay in order).

    `waves` holds, per wave, per task (in the plan's order), the task's tests in order.
    """
    result = [("canonical", _flat(waves, untagged))]
    reverse = [[list(reversed(task)) for task in reversed(wave)] for wave in waves]
    result.append(("reverse", _flat(reverse, list(reversed(untagged)))))
    rng = random.Random(seed)
    for number in range(1, shuffles + 1):
        shuffled = []
        for wave in waves:
            tasks = [rng.sample(list(task), len(task)) for task in wave]
            rng.shuffle(tasks)
            shuffled.append(tasks)
        result.append(
            (f"shuffle {number}", _flat(shuffled, rng.sample(list(untagged), len(untagged))))
        )
    return result


def _flat(waves: Sequence[Sequence[Sequence[str]]], untagged: Sequence[str]) -> list[str]:
    return [test for wave in waves for task in wave for test in task] + list(untagged)


def kind_of(baseline: str, outcome: str | None) -> str | None:
    """'victim' (passes alone, fails here), 'brittle' (fails alone, passes here), or None."""
    if baseline == Outcome.PASSED and outcome in FAILING:
        return "victim"
    if baseline in FAILING and outcome == Outcome.PASSED:
        return "brittle"
    return None


@dataclass
class Suspect:
    """A test whose outcome changed in some order, with the tests that ran before it."""

    test: str
    kind: str
    order: str
    prefix: tuple[str, ...]
    #: the tests before it in its own task's isolated run
    home: tuple[str, ...] = ()
    #: found in a run that kept the pollution of `prefix` in place (see child.Keeper): an
    #: artificial run, so a change that a plain run does not confirm is not news (not flaky)
    kept: bool = False
    #: the other runs it changed outcome in, as (order, prefix, kept), tried in turn when
    #: this one does not confirm: its polluter may have run after it in the first
    evidence: list[tuple[str, tuple[str, ...], bool]] = field(default_factory=list)
    #: its position in the run it was found in (the earliest victim of a cause leads)
    position: int = 0
    #: the tests after it in that run: their modules were imported (collected) before
    #: it ran, so a change with nothing before it may still come from one of them
    after: tuple[str, ...] = ()
    #: a plain order it passed in (the canonical one): where a victim fails alone and
    #: after its own task's tests too, its setter is among that order's other tests
    passed_in: tuple[str, ...] = ()


# revealing runs kept per suspect, tried in turn for a confirmation
MAX_EVIDENCE = 3


def suspects(baseline: dict[str, str], runs: Sequence[tuple[str, Run]]) -> list[Suspect]:
    """Each test whose outcome differs from its isolated run, with the runs that show it.

    The first plain order that shows a change leads; a run that kept pollution in place
    comes after every plain one, and up to `MAX_EVIDENCE` runs are kept per test.
    """
    found: dict[str, Suspect] = {}
    for name, run in sorted(runs, key=lambda named: bool(named[1].sticky)):
        sticky = set(run.sticky)
        for position, test in enumerate(run.ids):
            if test not in baseline:
                continue
            kind = kind_of(baseline[test], run.outcomes.get(test))
            if kind is None:
                continue
            if run.sticky:
                # only the tests whose changes were kept can be the cause
                prefix = tuple(t for t in run.ids[:position] if t in sticky)
                if not prefix:
                    continue
            else:
                prefix = run.ids[:position]
            known = found.get(test)
            if known is None:
                found[test] = Suspect(
                    test,
                    kind,
                    name,
                    prefix,
                    kept=bool(run.sticky),
                    position=position,
                    after=() if run.sticky else run.ids[position + 1 :],
                )
            elif known.kind == kind and len(known.evidence) < MAX_EVIDENCE - 1:
                known.evidence.append((name, prefix, bool(run.sticky)))
    return list(found.values())


@dataclass
class Verdict:
    """What the investigation of one suspect concluded."""

    test: str
    kind: str
    order: str
    #: the changed outcome reproduced (else: flaky)
    confirmed: bool = False
    culprits: tuple[str, ...] = ()
    bisect_runs: int = 0
    state: list[str] = field(default_factory=list)
    #: a test that undoes what the culprit left behind
    cleaner: str | None = None
    #: the orders whose change did not come back in a plain run
    tried: list[str] = field(default_factory=list)
    #: every run that showed the change kept pollution in place, and none confirmed it
    kept_only: bool = False
    #: the findings of one cause (the same culprits) share it
    cause: str | None = None


def investigate(
    suspect: Suspect,
    changes: Mapping[str, Collection[str]] | None = None,
    costs: Costs | None = None,
) -> Client[Verdict]:
    """Pin the change to its culprit, and prove it: the test alone, then the search.

    The search's own runs are the confirmation: a culprit is only named after a run of
    it and the test showed the change, beside a fresh run of the test alone that did
    not. Replaying the whole order first cost one run as long as the prefix for every
    suspect (7 s of click's 60). Only when that search finds nothing is the order run
    again, to tell a flaky test from a culprit made of several tests.

    `changes` holds, per test seen to change shared state, what it changed (in the order
    the tests ran): those tests are tried first, as a smaller haystack, and for a victim
    the ones that touched what its culprit changed are tried as cleaners. `costs`, from
    the task runs, split the bisection's parts (see `parts`).
    """
    changes = changes or {}
    costs = costs or Costs()
    test, prefix = suspect.test, suspect.prefix
    verdict = Verdict(test, suspect.kind, suspect.order)

    def interesting(run: Run) -> bool:
        return kind_of_run(verdict.kind, run.outcomes.get(test))

    alone: Run | None = None
    searched: tuple[str, ...] | None = None
    if prefix:
        alone = yield Request((test,), label="confirm", fresh=True)
        if not interesting(alone):
            single, _ = yield from _search(
                list(prefix), test, interesting, verdict, changes, costs
            )
            if single and (yield from _prove(single, test, interesting, verdict)):
                verdict.confirmed = True
                if verdict.kind == "victim" and verdict.state:
                    verdict.cleaner = yield from _cleaner(verdict, changes)
                return verdict
            searched = prefix
    candidates = [*([(suspect.order, prefix, suspect.kept)] if prefix else []), *suspect.evidence]
    if not prefix and suspect.after:
        # nothing ran before it, but the tests after it were collected first: a module
        # that imports something at its import (a submodule, a selection) is the cause;
        # with them before it, the search below finds which
        candidates.append((suspect.order, suspect.after, False))
    if candidates:
        # the order again: a fresh run, never a remembered one, or a flaky test would
        # pass for a dependency; then the other runs that showed the change, whose order
        # may hold the evidence the first lacked (its polluter ran after it there)
        for order, before, _ in candidates:
            again = yield Request((*before, test), label="confirm", fresh=True)
            if interesting(again):
                verdict.order, prefix = order, before
                break
            verdict.tried.append(order)
        else:
            # the changed outcome did not come back: flaky, or seen only in artificial runs
            verdict.kept_only = all(kept for _, _, kept in candidates)
            return verdict
    # then the test alone; not side by side with the run above, where tests that share
    # a file could disturb each other and fake a confirmation
    if alone is None:
        alone = yield Request((test,), label="confirm", fresh=True)
    if suspect.kind == "victim" and kind_of_run("victim", alone.outcomes.get(test)):
        # it fails on its own, yet passed in its task's run: it leans on a test of its
        # own task that ran before it there (a brittle test inside one task). Or, when
        # it fails after those too, its task's run was not like these runs (coverage
        # measured it, and coverage imports what the test needs): it leans on a test
        # of a plain order it passed in, a test module that imports that at collection
        verdict.kind, prefix = "brittle", ()
        others = tuple(t for t in suspect.passed_in if t != test)
        for before in dict.fromkeys((suspect.home, others)):
            if not before:
                continue
            check = yield Request((*before, test))
            if kind_of_run("brittle", check.outcomes.get(test)):
                prefix = before
                break
        if not prefix:
            return verdict
    elif suspect.kind == "brittle" and kind_of_run("brittle", alone.outcomes.get(test)):
        # it passes alone, yet failed in its task's run: a test of its own task that ran
        # before it there pollutes it (a victim inside one task), unless that run was
        # unlucky (then it is flaky)
        if not suspect.home:
            return verdict
        verdict.kind, prefix = "victim", suspect.home
        check = yield Request((*prefix, test), fresh=True)
        if not kind_of_run("victim", check.outcomes.get(test)):
            return verdict
    if not prefix:
        # nothing ran before it, and alone it behaves: flaky
        return verdict
    verdict.confirmed = True
    culprits: list[str] | None = None
    haystack = list(prefix)
    if prefix != searched:
        culprits, haystack = yield from _search(
            haystack, test, interesting, verdict, changes, costs
        )
    if culprits is None:
        # no single culprit (the search above already failed on this prefix): several
        culprits = yield from _ddmin(haystack, test, interesting, verdict)
    if culprits:
        yield from _prove(culprits, test, interesting, verdict)
    if verdict.kind == "victim" and verdict.state:
        verdict.cleaner = yield from _cleaner(verdict, changes)
    return verdict


def _search(
    haystack: list[str],
    test: str,
    interesting: Callable[[Run], bool],
    verdict: Verdict,
    changes: Mapping[str, Collection[str]],
    costs: Costs,
) -> Client[tuple[list[str] | None, list[str]]]:
    """A single culprit, the tests seen to change state tried first; and the haystack
    it was looked for in, for `_ddmin` when there is none."""
    likely = [t for t in haystack if changes.get(t)]
    if likely and len(likely) < len(haystack):
        run = yield Request((*likely, test))
        verdict.bisect_runs += not run.reused
        if interesting(run):
            haystack = likely
    culprits = yield from _bisect(haystack, test, interesting, verdict, costs)
    return culprits, haystack


def _prove(
    culprits: list[str], test: str, interesting: Callable[[Run], bool], verdict: Verdict
) -> Client[bool]:
    """One last run, which also records what the culprit changed."""
    final = yield Request((*culprits, test), snapshot=tuple(culprits))
    verdict.bisect_runs += not final.reused
    if not interesting(final):
        return False
    verdict.culprits = tuple(culprits)
    verdict.state = sorted({c for t in culprits for c in final.states.get(t, [])})
    return True


def investigate_group(
    leader: Suspect,
    members: Sequence[Suspect],
    changes: Mapping[str, Collection[str]] | None = None,
    costs: Costs | None = None,
) -> Client[tuple[list[Verdict], list[Suspect]]]:
    """One investigation for the suspects one run showed together: one cause, many victims.

    The leader (the earliest of them in that run) is investigated in full. Its culprits
    then run once before every member, and the members whose change comes back run once
    more, together in the same order, without the culprits: a member that changes only
    with the culprits before it shares the leader's verdict, on its own evidence (two
    runs that differ by the culprits alone). The few that change in both (a member
    before them in the run may be their cause) get one run alone and one after the
    culprits alone, side by side; the rest are handed back, to be investigated on their
    own. 61 victims of one import took 2 runs this way, not 122.
    """
    lead = yield from investigate(leader, changes, costs)
    # the lead's kind may differ from the run's (a victim there that needs a setter, see
    # `investigate`): each member is settled on its own runs with the lead's culprits
    if not lead.confirmed or not lead.culprits or not members:
        return [lead], list(members)
    culprits = lead.culprits
    together = yield Request((*culprits, *(m.test for m in members)), label="group", fresh=True)
    likely = [m for m in members if kind_of_run(lead.kind, together.outcomes.get(m.test))]
    settled = [lead]

    def settle(member: Suspect, runs: int) -> None:
        settled.append(
            Verdict(
                member.test,
                lead.kind,
                member.order,
                confirmed=True,
                culprits=culprits,
                bisect_runs=runs,
                state=list(lead.state),
                cleaner=lead.cleaner,
            )
        )

    unsure = []
    if likely:
        (without,) = yield (Request(tuple(m.test for m in likely), label="confirm", fresh=True),)
        for member in likely:
            outcome = without.outcomes.get(member.test)
            if outcome is not None and not kind_of_run(lead.kind, outcome):
                settle(member, 2)
            else:
                unsure.append(member)
    if unsure:
        runs = yield tuple(
            request
            for m in unsure
            for request in (
                # a run of the test alone is as good remembered as fresh
                Request((m.test,), label="confirm"),
                Request((*culprits, m.test), label="confirm", fresh=True),
            )
        )
        for number, member in enumerate(unsure):
            alone, after = runs[2 * number], runs[2 * number + 1]
            alone_changes = kind_of_run(lead.kind, alone.outcomes.get(member.test))
            if not alone_changes and kind_of_run(lead.kind, after.outcomes.get(member.test)):
                settle(member, 3)
    done = {v.test for v in settled}
    return settled, [m for m in members if m.test not in done]


def groups(found: Sequence[Suspect], smallest: int = 3) -> list[tuple[Suspect, list[Suspect]]]:
    """Suspects found in the same run with the same kind of change, earliest first.

    Many victims of one polluter show up in one run together; they are investigated as
    one group (see `investigate_group`). A run's few are investigated each on its own.
    """
    by_run: dict[tuple[str, str], list[Suspect]] = {}
    for suspect in found:
        by_run.setdefault((suspect.order, suspect.kind), []).append(suspect)
    result = []
    for members in by_run.values():
        members = sorted(members, key=lambda s: s.position)
        if len(members) >= smallest:
            result.append((members[0], members[1:]))
        else:
            result.extend((m, []) for m in members)
    return result


def _cleaner(verdict: Verdict, changes: Mapping[str, Collection[str]]) -> Client[str | None]:
    """A test that, run between the culprit and the victim, makes the victim pass again.

    Tried among the tests seen to change what the culprit changed, a few at once: what
    such a test does is what the culprit's teardown should do.
    """
    leaked = {state_key(c) for c in verdict.state}
    candidates = [
        t
        for t, changed in changes.items()
        if t != verdict.test
        and t not in verdict.culprits
        and leaked & {state_key(c) for c in changed}
    ][:MAX_CLEANER_TRIES]
    if not candidates:
        return None
    runs = yield tuple(Request((*verdict.culprits, t, verdict.test)) for t in candidates)
    for candidate, run in zip(candidates, runs, strict=True):
        if run.outcomes.get(verdict.test) == Outcome.PASSED:
            return candidate
    return None


def state_key(change: str) -> str:
    """What changed, without how: 'global m.X (set)' and 'global m.X' are one key."""
    return change.removesuffix(" (set)").removesuffix(" (removed)")


def kind_of_run(kind: str, outcome: str | None) -> bool:
    return outcome in FAILING if kind == "victim" else outcome == Outcome.PASSED


def _bisect(
    haystack: list[str],
    test: str,
    interesting: Callable[[Run], bool],
    verdict: Verdict,
    costs: Costs,
) -> Client[list[str] | None]:
    """Search for a single culprit: the candidates (each file's together, see `by_file`)
    in three parts that take about as long, the two cheapest run side by side (the third
    holds it when neither does), about log3(n) steps on the critical path instead of
    log2(n); then one run to check it, so a culprit is still only named after a run of
    it alone before the test."""
    candidates = by_file(haystack)
    while len(candidates) > 1:
        split = parts(candidates, costs)
        if len(split) > 2:
            # on a tie the last: the one a count alone would leave out
            costliest = max((2, 1, 0), key=lambda i: round(costs.of(split[i]), 6))
            tried = [part for i, part in enumerate(split) if i != costliest]
            rest = split[costliest]
        else:
            tried, rest = split[:1], split[1]
        runs = yield tuple(Request((*part, test)) for part in tried)
        verdict.bisect_runs += sum(not run.reused for run in runs)
        shown = [part for part, run in zip(tried, runs, strict=True) if interesting(run)]
        candidates = shown[0] if shown else rest
    if not candidates:
        return None
    check = yield Request((candidates[0], test))
    verdict.bisect_runs += not check.reused
    return candidates if interesting(check) else None


# a test's cost in a replay beyond its own time: its setup, reports and snapshot
PER_TEST = 0.002


@dataclass(frozen=True)
class Costs:
    """What a run of some tests costs, as the task runs measured it: each test's seconds,
    and each file's collection, paid once by every run that holds a test of it."""

    tests: Mapping[str, float] = field(default_factory=dict)
    files: Mapping[str, float] = field(default_factory=dict)

    def of(self, tests: Sequence[str]) -> float:
        files = {_file(t) for t in tests}
        return sum(self.tests.get(t, 0.0) + PER_TEST for t in tests) + sum(
            self.files.get(f, 0.0) for f in files
        )


def _file(test: str) -> str:
    return test.split("::", 1)[0]


def by_file(tests: Sequence[str]) -> list[str]:
    """The tests of each file together, files in the order they first come: a shuffled
    order spreads every file over all the parts of a bisection step, and each part
    then collects it (click's test_stream_lifecycle.py, 3 s to collect its 30,024)."""
    files: dict[str, list[str]] = {}
    for test in tests:
        files.setdefault(_file(test), []).append(test)
    return [t for group in files.values() for t in group]


def parts(candidates: Sequence[str], costs: Costs, count: int = 3) -> list[list[str]]:
    """`candidates` in `count` runs of consecutive tests that take about as long.

    Cut by their number, the parts of one step took 0.7 s and 2.6 s on click (a file
    that is slow to collect): the step waited for the slower, and the next one again.
    A file's tests stay in one part while there are files enough to go round. Each part
    holds at least one test, so every step makes progress.
    """
    if len(candidates) <= count:
        return [[t] for t in candidates]
    blocks: list[list[str]] = []
    for test in candidates:
        if blocks and _file(blocks[-1][-1]) == _file(test):
            blocks[-1].append(test)
        else:
            blocks.append([test])
    if len(blocks) < count:
        blocks = [[t] for t in candidates]
    weights = [costs.of(block) for block in blocks]
    total, spent, cuts = sum(weights), 0.0, [0]
    for index, weight in enumerate(weights):
        needed = count - len(cuts)  # parts still to start
        due = total * len(cuts) / count
        # a new part starts at the block whose larger half lies past its due point, or
        # where the blocks left are just enough for one part each
        if (
            needed
            and index > cuts[-1]
            and (spent + weight / 2 > due or len(blocks) - index == needed)
        ):
            cuts.append(index)
        spent += weight
    bounds = [*cuts, len(blocks)]
    return [[t for block in blocks[a:b] for t in block] for a, b in itertools.pairwise(bounds)]


def _ddmin(
    haystack: list[str], test: str, interesting: Callable[[Run], bool], verdict: Verdict
) -> Client[list[str] | None]:
    """Delta debugging: a 1-minimal set of earlier tests that still changes the outcome.

    Finds culprits made of two (or more) tests, and survives cleaners in the haystack.
    """
    candidates = list(haystack)
    granularity = 2
    spent = 0
    while len(candidates) >= 2 and spent < MAX_DDMIN_RUNS:
        size = -(-len(candidates) // granularity)
        chunks = [candidates[i : i + size] for i in range(0, len(candidates), size)]
        reduced = False
        for subset in chunks + [
            [t for t in candidates if t not in set(chunk)] for chunk in chunks if len(chunks) > 2
        ]:
            run = yield Request((*subset, test))
            verdict.bisect_runs += not run.reused
            spent += 1
            if interesting(run):
                candidates = subset
                granularity = 2 if subset in chunks else max(granularity - 1, 2)
                reduced = True
                break
        if not reduced:
            if granularity >= len(candidates):
                break
            granularity = min(len(candidates), granularity * 2)
    if len(candidates) == 1:
        return candidates
    if spent >= MAX_DDMIN_RUNS or not candidates:
        return None
    return candidates
