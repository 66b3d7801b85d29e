"""Pure logic of the order check, against a simulated suite: orders, suspects, bisection."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import math
from pathlib import Path
import random
from typing import Any
from typing import TypeVar

from pytest_delegation.checks.findings import Finding
from pytest_delegation.order.check import changer_first
from pytest_delegation.order.check import never_undone
from pytest_delegation.order.findings import order_findings
from pytest_delegation.order.protocol import Client
from pytest_delegation.order.protocol import Request
from pytest_delegation.order.protocol import Run
from pytest_delegation.order.search import Costs
from pytest_delegation.order.search import Suspect
from pytest_delegation.order.search import Verdict
from pytest_delegation.order.search import by_file
from pytest_delegation.order.search import groups
from pytest_delegation.order.search import investigate
from pytest_delegation.order.search import investigate_group
from pytest_delegation.order.search import orders
from pytest_delegation.order.search import parts
from pytest_delegation.order.search import suspects
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves
from pytest_delegation.worker.protocol import AGAIN


Suite = Callable[[tuple[str, ...]], dict[str, str]]
T = TypeVar("T")


def polluted(victim: str, culprits: set[str], cleaners: set[str] = frozenset()) -> Suite:  # type: ignore[assignment]
    """The victim fails when all culprits ran before it with no cleaner after them."""

    def outcomes(ids: tuple[str, ...]) -> dict[str, str]:
        result = {}
        seen: set[str] = set()
        for test in ids:
            if test == victim:
                result[test] = "failed" if culprits <= seen else "passed"
            else:
                result[test] = "passed"
            if test in cleaners:
                seen -= culprits
            else:
                seen.add(test)
        return result

    return outcomes


def drive(client: Client[T], suite: Suite) -> tuple[T, int]:
    """Answer every request with a fresh simulated run; count the runs."""
    runs = 0
    try:
        asked = next(client)
        while True:
            if isinstance(asked, Request):
                runs += 1
                asked = client.send(Run(asked.ids, outcomes=suite(asked.ids)))
            else:
                runs += len(asked)
                asked = client.send(tuple(Run(r.ids, outcomes=suite(r.ids)) for r in asked))
    except StopIteration as done:
        return done.value, runs


def test_orders_keep_waves_and_reverse_tasks_and_tests() -> None:
    waves = [[["a1", "a2"], ["b1"]], [["c1", "c2"]]]
    result = dict(orders(waves, ["u"], shuffles=2, seed=3))
    assert result["canonical"] == ["a1", "a2", "b1", "c1", "c2", "u"]
    assert result["reverse"] == ["b1", "a2", "a1", "c2", "c1", "u"]
    for name in ("shuffle 1", "shuffle 2"):
        assert set(result[name][:3]) == {"a1", "a2", "b1"}  # wave 1 stays first
        assert set(result[name][3:5]) == {"c1", "c2"}
    assert dict(orders(waves, ["u"], 2, 3)) == result  # the seed repeats a run


def test_suspects_are_tests_whose_outcome_differs_from_isolation() -> None:
    run = Run(("p", "v", "b"), outcomes={"p": "passed", "v": "failed", "b": "passed"})
    found = suspects({"p": "passed", "v": "passed", "b": "failed"}, [("reverse", run)])
    assert [(s.test, s.kind, s.order, s.prefix) for s in found] == [
        ("v", "victim", "reverse", ("p",)),
        ("b", "brittle", "reverse", ("p", "v")),
    ]


def steps(client: Client[Verdict], suite: Suite) -> tuple[Verdict, int]:
    """Answer every request; count the steps (a batch side by side is one step)."""
    count = 0
    try:
        asked = next(client)
        while True:
            count += 1
            if isinstance(asked, Request):
                asked = client.send(Run(asked.ids, outcomes=suite(asked.ids)))
            else:
                asked = client.send(tuple(Run(r.ids, outcomes=suite(r.ids)) for r in asked))
    except StopIteration as done:
        return done.value, count


def test_single_culprit_within_log3_n_steps_two_runs_side_by_side() -> None:
    for n in (1, 2, 7, 64, 1000):
        prefix = tuple(f"t{i}" for i in range(n))
        for culprit in (prefix[0], prefix[n // 3], prefix[-1]):
            suite = polluted("v", {culprit})
            suspect = Suspect("v", "victim", "canonical", prefix)
            verdict, runs = drive(investigate(suspect), suite)
            assert verdict.confirmed and verdict.culprits == (culprit,)
            log3 = math.ceil(math.log(max(n, 1), 3) - 1e-9)
            assert verdict.bisect_runs <= 2 * log3 + 2, (n, verdict)
            # + the test alone: the search's own runs confirm the change
            assert runs == verdict.bisect_runs + 1
            # on the critical path: the test alone, a step per third, the check
            _, taken = steps(investigate(suspect), suite)
            assert taken <= log3 + 3, (n, taken)


def test_parts_are_consecutive_and_take_about_as_long() -> None:
    rng = random.Random(3)
    for n in range(3, 80):
        tests = [f"t{i}" for i in range(n)]
        durations = {t: rng.choice([0.0, 0.01, 0.5, 4.0]) for t in tests}
        split = parts(tests, Costs(durations))
        assert len(split) == 3 and all(split) and [t for part in split for t in part] == tests
        cost = [sum(durations[t] + 0.002 for t in part) for part in split]
        # no part holds more than a third of the time and one test beyond it
        slowest = max(durations.values()) + 0.002
        assert max(cost) <= sum(cost) / 3 + slowest + 1e-9, (n, cost)
    assert parts([f"t{i}" for i in range(9)], Costs()) == [
        ["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6", "t7", "t8"]
    ]  # fmt: skip


def test_the_bisection_leaves_its_slow_tests_out_of_the_runs() -> None:
    """click: two runs of one step, cut by their number, took 0.7 s and 2.6 s (its slow
    progress-bar tests), and every step waited for the slower. Cut by the task runs'
    times, the slow part is the one left out when it does not hold the culprit."""
    prefix = tuple(f"t{i}" for i in range(27))
    durations = {t: 0.01 for t in prefix} | {"t1": 3.0, "t2": 3.0}
    suite = polluted("v", {"t20"})
    seconds = {}
    for given in ({}, durations):
        runner = SimRunner(suite)
        suspect = Suspect("v", "victim", "canonical", prefix)
        [verdict] = runner.serve([investigate(suspect, costs=Costs(given))])
        assert verdict.confirmed and verdict.culprits == ("t20",)
        seconds[bool(given)] = sum(durations.get(t, 0.0) for r in runner.requests for t in r.ids)
    assert seconds[True] < 4.0 < 6.0 <= seconds[False]


def test_a_file_slow_to_collect_is_kept_in_one_part_and_left_out() -> None:
    """click: test_stream_lifecycle.py takes 3 s to collect (30,000 stress tests that its
    ini deselects). A shuffled order spread its tests over every part of every step, so
    each run paid for it; its tests now stay together, and their part is left out."""
    slow = [f"slow.py::s{i}" for i in range(6)]
    fast = [f"f{k}.py::t{i}" for k in range(4) for i in range(6)]
    rng = random.Random(1)
    haystack = [*slow, *fast]
    rng.shuffle(haystack)
    costs = Costs({}, {"slow.py": 3.0})
    assert by_file(["b.py::1", "a.py::1", "b.py::2"]) == ["b.py::1", "b.py::2", "a.py::1"]
    split = parts(by_file(haystack), costs)
    assert any(set(part) >= set(slow) for part in split)
    culprit = fast[7]
    runner = SimRunner(polluted("v", {culprit}))
    [verdict] = runner.serve(
        [investigate(Suspect("v", "victim", "shuffle 1", tuple(haystack)), costs=costs)]
    )
    assert verdict.confirmed and verdict.culprits == (culprit,)
    assert not any(set(slow) & set(r.ids) for r in runner.requests if len(r.ids) > 1)


def test_the_search_confirms_without_replaying_the_order() -> None:
    """The order is replayed only when no single culprit turns up: its prefix is as long
    as the suite, and the search's runs (the test alone, then after its culprit) prove
    the change as well."""
    prefix = tuple(f"t{i}" for i in range(300))
    asked: list[tuple[str, ...]] = []

    def suite(ids: tuple[str, ...]) -> dict[str, str]:
        asked.append(ids)
        return polluted("v", {"t150"})(ids)

    verdict, _ = drive(investigate(Suspect("v", "victim", "canonical", prefix)), suite)
    assert verdict.confirmed and verdict.culprits == ("t150",)
    assert asked[0] == ("v",) and (*prefix, "v") not in asked
    assert max(len(ids) for ids in asked) <= 101  # a third and the test
    # two culprits: no single one, so the order is replayed before delta debugging
    asked.clear()
    pair = polluted("v", {"t3", "t12"})
    verdict, _ = drive(
        investigate(Suspect("v", "victim", "canonical", prefix[:16])),
        lambda ids: asked.append(ids) or pair(ids),  # type: ignore[func-returns-value]
    )
    assert verdict.culprits == ("t3", "t12") and (*prefix[:16], "v") in asked


def test_two_test_culprit_needs_delta_debugging() -> None:
    prefix = tuple(f"t{i}" for i in range(16))
    suite = polluted("v", {"t3", "t12"})
    verdict, _ = drive(investigate(Suspect("v", "victim", "canonical", prefix)), suite)
    assert verdict.culprits == ("t3", "t12")


def test_cleaner_in_the_haystack_does_not_fool_the_bisection() -> None:
    prefix = ("t0", "p", "t2", "k", "t4", "t5", "p2")
    suite = polluted("v", {"p2"}, cleaners={"k"})
    verdict, _ = drive(investigate(Suspect("v", "victim", "canonical", prefix)), suite)
    assert verdict.culprits == ("p2",)


def test_a_cleaner_is_named_among_the_tests_that_touched_the_same_state() -> None:
    prefix = ("t0", "p", "t2")
    suite = polluted("v", {"p"}, cleaners={"k2"})
    # k1 touched other state; k2 touched what p changed and undoes it; u ran after v
    changes = {
        "p": ["global m.FLAGS"],
        "k1": ["global m.OTHER"],
        "k2": ["global m.FLAGS"],
        "u": ["global m.FLAGS (removed)"],
    }

    def with_states(ids: tuple[str, ...]) -> Run:
        states = {t: changes[t] for t in ids if t in changes and t != "v"}
        return Run(ids, outcomes=suite(ids), states=states)

    client = investigate(Suspect("v", "victim", "canonical", prefix), changes)
    asked = next(client)
    tried: list[tuple[str, ...]] = []
    try:
        while True:
            batch = (asked,) if isinstance(asked, Request) else asked
            tried += [r.ids for r in batch]
            runs = tuple(with_states(r.ids) for r in batch)
            asked = client.send(runs[0] if isinstance(asked, Request) else runs)
    except StopIteration as done:
        verdict = done.value
    assert verdict.culprits == ("p",) and verdict.cleaner == "k2"
    assert ("p", "k2", "v") in tried and ("p", "u", "v") in tried
    assert not any("k1" in ids for ids in tried)  # it touched other state


def test_flaky_change_is_not_confirmed() -> None:
    # the failure never comes back: alone, after the candidate, in the order again
    verdict, runs = drive(
        investigate(Suspect("v", "victim", "canonical", ("a", "b"))),
        lambda ids: dict.fromkeys(ids, "passed"),
    )
    assert not verdict.confirmed and not verdict.culprits
    assert verdict.tried == ["canonical"]
    # alone, the search (a, then b is left: its check), the order again
    assert runs == 4


def test_a_change_with_nothing_before_it_is_flaky_unless_its_task_explains_it() -> None:
    # first in the order, failed there, passes alone: no order can be to blame
    passing: Suite = lambda ids: dict.fromkeys(ids, "passed")  # noqa: E731
    verdict, runs = drive(investigate(Suspect("v", "victim", "reverse", ())), passing)
    assert not verdict.confirmed and runs == 1
    # fails alone too, and ran after h in its own task's run: a brittle test of its task

    def needs(ids: tuple[str, ...]) -> dict[str, str]:
        return {t: "passed" if t != "v" or "h" in ids[: ids.index("v")] else "failed" for t in ids}

    verdict, _ = drive(investigate(Suspect("v", "victim", "reverse", (), home=("h",))), needs)
    assert verdict.confirmed and verdict.kind == "brittle" and verdict.culprits == ("h",)


def test_state_changers_go_first_and_their_changes_are_kept() -> None:
    canonical = Run(
        ("p", "k1", "k2", "m", "v", "e"),
        states={"p": ["global s.FLAGS"], "k1": ["global s.FLAGS"], "k2": ["global s.FLAGS"],
                "e": ["environment variable X (set)"]},
    )  # fmt: skip
    requests = changer_first(canonical)
    # round r: the r-th changer of each piece of state first, kept in place for the rest
    assert [(r.ids, r.sticky) for r in requests] == [
        (("p", "e", "k1", "k2", "m", "v"), ("p", "e")),
        (("k1", "p", "k2", "m", "v", "e"), ("k1",)),
        (("k2", "p", "k1", "m", "v", "e"), ("k2",)),
    ]


def test_a_sticky_run_blames_only_the_kept_tests() -> None:
    sticky = Run(
        ("p", "k", "m", "v"),
        outcomes={"p": "passed", "k": "passed", "m": "passed", "v": "failed"},
        sticky=("p",),
    )
    [suspect] = suspects({t: "passed" for t in sticky.ids}, [("round 1", sticky)])
    assert (suspect.test, suspect.prefix, suspect.kept) == ("v", ("p",), True)


def test_an_unconfirmed_change_from_a_sticky_run_is_dropped_not_flaky() -> None:
    plan = plan_from_dict({"tasks": {"a": {"tests": ["t"]}}}, Path("delegation.yaml"))
    kept = Suspect("v", "victim", "round 1", ("p",), kept=True)
    plain = Suspect("w", "victim", "reverse", ("p",))
    verdicts = [Verdict("v", "victim", "round 1"), Verdict("w", "victim", "reverse")]
    findings = order_findings(plan, {"v": "a", "w": "a"}, [kept, plain], verdicts)
    assert [(f.rule, f.test) for f in findings] == [("flaky", "w")]


def test_a_test_flaky_in_two_orders_is_one_finding() -> None:
    # a test that counts its runs failed in two order runs that ran side by side (the
    # fresh-clone CI on Python 3.10 saw it): one warning naming both orders, not two
    plan = plan_from_dict({"tasks": {"a": {"tests": ["v"]}}}, Path("delegation.yaml"))
    found = [Suspect("v", "victim", "canonical", ()), Suspect("v", "victim", "twice", ())]
    verdicts = [Verdict("v", "victim", "canonical"), Verdict("v", "victim", "twice")]
    [finding] = order_findings(plan, {"v": "a"}, found, verdicts)
    assert (finding.rule, finding.test, finding.extra["orders"]) == (
        "flaky",
        "v",
        ["canonical", "twice"],
    )
    assert "in the canonical and twice orders, but not when they ran again" in finding.message


def test_a_victim_the_plan_runs_before_its_polluter_is_no_finding() -> None:
    # 'late' depends on 'early': the plan always runs the victim's task first, so a
    # polluter in 'late' can never run before it (the chain --delegation-suggest gives)
    data = {
        "tasks": {"early": {"tests": ["v"]}, "late": {"tests": ["p"], "depends_on": ["early"]}}
    }
    plan = plan_from_dict(data, Path("delegation.yaml"))
    plan.freeze(compute_waves(plan))
    suspect = Suspect("v", "victim", "round 1", ("p",))
    verdict = Verdict("v", "victim", "round 1", confirmed=True, culprits=("p",))
    assert order_findings(plan, {"v": "early", "p": "late"}, [suspect], [verdict]) == []
    # the other way round, the plan allows the failing order: a finding
    swapped = order_findings(plan, {"v": "late", "p": "early"}, [suspect], [verdict])
    assert [(f.rule, f.task, f.extra["declared_dependency"]) for f in swapped] == [
        ("hidden-ordering-dependency", "late", True)
    ]


class InterruptedRunner:
    """Answers with a simulated suite, one client at a time, and is interrupted (Ctrl-C)
    when a second investigation starts, as a real pool is when Ctrl-C comes mid-bisection."""

    workers = 1

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.investigations = 0

    def serve(self, clients):  # type: ignore[no-untyped-def]
        results = []
        for client in clients:
            try:
                asked = next(client)
                if isinstance(asked, Request) and asked.label == "confirm":
                    self.investigations += 1
                    if self.investigations == 2:
                        raise KeyboardInterrupt
                while True:
                    requests = (asked,) if isinstance(asked, Request) else tuple(asked)
                    runs = tuple(Run(r.ids, outcomes=self.suite(r.ids)) for r in requests)
                    asked = client.send(runs[0] if isinstance(asked, Request) else runs)
            except StopIteration as done:
                results.append(done.value)
        return results


def test_an_interrupt_during_bisection_keeps_what_was_concluded() -> None:
    """Ctrl-C mid-bisection used to drop every finding; the concluded ones are kept."""
    import pytest

    from pytest_delegation.order.check import Interrupted
    from pytest_delegation.order.check import check_order
    from pytest_delegation.plan.waves import compute_waves

    plan = plan_from_dict(
        {"tasks": {"a": {"tests": ["a.py"]}, "v": {"tests": ["v.py"]}, "w": {"tests": ["w.py"]}}},
        Path("delegation.yaml"),
    )
    plan.freeze(compute_waves(plan))
    first, second = polluted("v1", {"a1"}), polluted("w1", {"a1"})

    def suite(ids: tuple[str, ...]) -> dict[str, str]:
        return {**second(ids), **{k: v for k, v in first(ids).items() if k == "v1"}}

    tests = {"a": ["a1"], "v": ["v1"], "w": ["w1"]}
    baseline = {"a1": "passed", "v1": "passed", "w1": "passed"}
    # v1's investigation ends; the interrupt comes as w1's starts
    runner = InterruptedRunner(suite)
    verified: list[object] = []

    def verify(found: list[Finding]) -> list[Finding]:
        verified.append(found)
        return found

    with pytest.raises(Interrupted) as stopped:
        check_order(runner, plan, tests, [], baseline, 2, 7, lambda line: None, verify)
    [finding] = [f for f in stopped.value.findings if f.rule == "hidden-ordering-dependency"]
    assert finding.test == "v1" and finding.extra["culprit_test"] == "a1"
    assert verified == []  # the reproduce commands were not run


def many_victims(causes: dict[str, set[str]]) -> Suite:
    """Each victim fails when any of its polluters ran before it."""

    def outcomes(ids: tuple[str, ...]) -> dict[str, str]:
        seen: set[str] = set()
        result = {}
        for test in ids:
            result[test] = "failed" if causes.get(test, set()) & seen else "passed"
            seen.add(test)
        return result

    return outcomes


class SimRunner:
    """Serves every client to its end with a simulated suite; counts the runs."""

    workers = 2

    def __init__(
        self,
        suite: Suite,
        states: Callable[[tuple[str, ...]], dict[str, list[str]]] = lambda ids: {},
    ) -> None:
        self.suite = suite
        self.states = states
        self.requests: list[Request] = []

    def answer(self, request: Request) -> Run:
        self.requests.append(request)
        return Run(
            request.ids,
            outcomes=self.suite(request.ids),
            states=self.states(request.ids),
            sticky=request.sticky,
        )

    def serve(self, clients: Sequence[Client[Any]]) -> list[Any]:
        results = []
        for client in clients:
            try:
                asked = next(client)
                while True:
                    if isinstance(asked, Request):
                        asked = client.send(self.answer(asked))
                    else:
                        asked = client.send(tuple(self.answer(r) for r in asked))
            except StopIteration as done:
                results.append(done.value)
        return results


def test_a_kept_change_is_confirmed_in_the_round_whose_order_holds_the_polluter() -> None:
    """Item 2 of issue 11: the first revealing round had the polluter after the victim;
    a plain re-run of it passed and the victim was dropped. The next round has it."""
    first = Run(("q", "v", "p"), outcomes={"v": "failed"}, sticky=("q", "v"))
    second = Run(("p", "v", "q"), outcomes={"v": "failed"}, sticky=("p",))
    baseline = {"p": "passed", "q": "passed", "v": "passed"}
    [suspect] = suspects(baseline, [("round 1", first), ("round 2", second)])
    assert suspect.prefix == ("q",) and suspect.evidence == [("round 2", ("p",), True)]
    verdict, _ = drive(investigate(suspect), polluted("v", {"p"}))
    assert verdict.confirmed and verdict.culprits == ("p",) and verdict.order == "round 2"
    assert verdict.tried == ["round 1"]


def test_a_change_no_plain_run_confirms_is_counted_not_called_flaky() -> None:
    kept = Run(("q", "v"), outcomes={"v": "failed"}, sticky=("q",))
    [suspect] = suspects({"q": "passed", "v": "passed"}, [("round 1", kept)])
    verdict, _ = drive(investigate(suspect), polluted("v", {"never"}))
    assert not verdict.confirmed and verdict.kept_only
    assert (
        order_findings(_plan({"t": ["q", "v"]}), {"q": "t", "v": "t"}, [suspect], [verdict]) == []
    )


def test_plain_runs_lead_the_evidence_before_kept_ones() -> None:
    kept = Run(("p", "v"), outcomes={"v": "failed"}, sticky=("p",))
    plain = Run(("x", "p", "v"), outcomes={"v": "failed"})
    [suspect] = suspects({"p": "passed", "v": "passed", "x": "passed"},
                         [("round 1", kept), ("shuffle 1", plain)])  # fmt: skip
    assert (suspect.order, suspect.kept) == ("shuffle 1", False)
    assert suspect.evidence == [("round 1", ("p",), True)]


def _plan(tasks: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    from pytest_delegation.plan.waves import compute_waves

    plan = plan_from_dict(
        {"tasks": {name: {"tests": [f"{name}.py"]} for name in tasks}}, Path("delegation.yaml")
    )
    plan.freeze(compute_waves(plan))
    return plan


def test_a_group_member_that_fails_without_the_culprit_gets_runs_of_its_own() -> None:
    """A member polluted by another member changes in the run without the culprits too:
    that run says nothing of it, so it gets its own pair (alone, after the culprit)."""
    from pytest_delegation.order.search import groups

    prefix = tuple(f"t{i}" for i in range(30))
    victims = [f"v{i}" for i in range(6)]
    # u fails after t10, and after v1 too: in the run of the members alone it still fails
    causes = {v: {"t10"} for v in victims} | {"u": {"t10", "v1"}}
    suite = many_victims(causes)
    ids = (*prefix, *victims, "u")
    found = suspects({t: "passed" for t in ids}, [("reverse", Run(ids, outcomes=suite(ids)))])
    [(lead, rest)] = groups(found)
    runner = SimRunner(suite)
    [(verdicts, leftovers)] = runner.serve([investigate_group(lead, rest)])
    assert {v.test: v.culprits for v in verdicts} == {t: ("t10",) for t in [*victims, "u"]}
    assert not leftovers
    assert {v.test: v.bisect_runs for v in verdicts if v.test != "v0"} == {
        **{v: 2 for v in victims[1:]},
        "u": 3,
    }
    assert [r.ids for r in runner.requests[-2:]] == [("u",), ("t10", "u")]


def test_victims_of_one_cause_are_settled_together_and_reported_once() -> None:
    """Item 8: sixty victims of one polluter were each confirmed with a full replay and
    bisected apart. The earliest is bisected; the others share two runs."""
    from pytest_delegation.order.search import groups

    prefix = tuple(f"t{i}" for i in range(64))
    victims = [f"v{i}" for i in range(20)]
    causes = {v: {"t10"} for v in victims} | {"w": {"t40"}}
    suite = many_victims(causes)
    ids = (*prefix, *victims, "w")
    run = Run(ids, outcomes=suite(ids))
    baseline = {t: "passed" for t in ids}
    found = suspects(baseline, [("reverse", run)])
    [(lead, rest)] = groups(found)
    assert lead.test == "v0" and len(rest) == 20
    runner = SimRunner(suite)
    [(verdicts, leftovers)] = runner.serve([investigate_group(lead, rest)])
    assert {v.test for v in verdicts} == set(victims)
    assert all(v.confirmed and v.culprits == ("t10",) for v in verdicts)
    assert [s.test for s in leftovers] == ["w"]  # another cause: investigated on its own
    # one full bisection (2 runs a step), then the group after its culprit, and the
    # same members without it: two runs for nineteen victims, not two each
    assert len(runner.requests) <= 2 + 2 * math.ceil(math.log(64, 3)) + 2 + 2
    group, without = runner.requests[-2:]
    assert group.ids == ("t10", *victims[1:], "w")
    assert without.ids == tuple(victims[1:])
    task_of = {t: "p" for t in prefix} | {v: "v" for v in [*victims, "w"]}
    findings = order_findings(
        _plan({"p": list(prefix), "v": [*victims, "w"]}), task_of, [lead, *rest[:-1]], verdicts
    )
    [finding] = [f for f in findings if f.rule == "hidden-ordering-dependency"]
    assert finding.extra["victims"] == victims and finding.extra["cause"] == "cause-1"
    assert finding.message.startswith("20 tests fail after t10 ran before them")
    assert "and 15 more" in finding.message


def test_a_victim_that_fails_after_the_leaders_culprit_only_with_others_is_handed_back() -> None:
    """In the group run, x fails because of v0, not of the culprit: its pair run passes."""

    causes = {"v0": {"p"}, "v1": {"p"}, "x": {"v0"}}
    suite = many_victims(causes)
    run_ids = ("p", "v0", "v1", "x")
    found = suspects({t: "passed" for t in run_ids}, [("reverse", Run(run_ids, suite(run_ids)))])
    lead, *rest = found
    [(verdicts, leftovers)] = SimRunner(suite).serve([investigate_group(lead, rest)])
    assert {v.test for v in verdicts} == {"v0", "v1"}
    assert [s.test for s in leftovers] == ["x"]


def test_a_round_that_turns_most_tests_red_is_set_aside() -> None:
    """Item 9: one kept round made 410 of 509 tests 'change outcome'; none was real."""
    from pytest_delegation.order.check import broken_rounds

    ids = tuple(f"t{i}" for i in range(30))
    baseline = {t: "passed" for t in ids}
    red = Run(ids, outcomes={t: "failed" for t in ids[1:]}, sticky=ids[:1])
    few = Run(ids, outcomes={"t5": "failed"}, sticky=ids[:1])
    plain = Run(ids, outcomes={t: "failed" for t in ids[1:]})
    found = broken_rounds(baseline, [("round 1", red), ("round 2", few), ("reverse", plain)])
    assert found == [("round 1", 29, 29)]


def test_check_order_sets_a_broken_round_aside_and_says_so() -> None:
    from pytest_delegation.order.check import check_order

    plan = _plan({"a": ["c"], "b": [f"t{i}" for i in range(20)]})
    tests = {"a": ["c"], "b": [f"t{i}" for i in range(20)]}
    baseline = {t: "passed" for ts in tests.values() for t in ts}

    def suite(ids: tuple[str, ...]) -> dict[str, str]:
        return {t: "passed" for t in ids}

    class Breaking(SimRunner):
        def answer(self, request: Request) -> Run:
            run = super().answer(request)
            if request.sticky:  # what the round put back breaks every later test
                run.outcomes = {t: "failed" for t in request.ids if t not in request.sticky}
            return run

    runner = Breaking(suite, states=lambda ids: {"c": ["global m.X"]} if "c" in ids else {})
    said: list[str] = []
    notes: list[str] = []
    found = check_order(
        runner, plan, tests, [], baseline, 0, 1, said.append, lambda f: f, notes=notes
    )
    assert found == []
    assert any("turned 20 of 20 tests red" in line for line in notes)
    assert not any(r.label == "confirm" for r in runner.requests)  # nothing confirmed one by one


def test_a_test_that_pollutes_itself_is_non_idempotent() -> None:
    from pytest_delegation.order.check import check_order
    from pytest_delegation.worker.protocol import AGAIN

    plan = _plan({"a": ["n", "m"]})

    def suite(ids: tuple[str, ...]) -> dict[str, str]:
        # n fails when it ran before in the same process (its twin id says so)
        return {t: "failed" if t == "n" + AGAIN else "passed" for t in ids}

    def states(ids: tuple[str, ...]) -> dict[str, list[str]]:
        return {"n": ["global m.COUNT"]} if "n" in ids else {}

    runner = SimRunner(suite, states)
    [finding] = check_order(
        runner, plan, {"a": ["n", "m"]}, [], {"n": "passed", "m": "passed"}, 0, 1,
        lambda line: None, lambda f: f,
    )  # fmt: skip
    assert finding.extra["kind"] == "non-idempotent" and finding.test == "n"
    assert finding.extra["shared_state"] == ["global m.COUNT"]
    assert "pytest.main(a); sys.exit(pytest.main(a))" in finding.extra["reproduce"]
    twice_runs = [r for r in runner.requests if any(i.endswith(AGAIN) for i in r.ids)]
    # one run of the state changers twice, one confirmation: m changed nothing
    assert [r.ids for r in twice_runs] == [("n", "n" + AGAIN)] * 2


def test_changers_that_leave_the_same_value_share_one_round() -> None:
    """A hundred tests that switch the network back to the default are one candidate:
    rounds count the distinct values a piece of state was left with, not its changers."""
    ids = ("set_test", *(f"back{i}" for i in range(100)), "victim")
    states = {t: ["global pkg.network"] for t in ids[:-1]}
    values = {"set_test": {"global pkg.network": "testnet"}} | {
        f"back{i}": {"global pkg.network": "mainnet"} for i in range(100)
    }
    rounds = changer_first(Run(ids, states=states, values=values))
    assert [r.sticky for r in rounds] == [("set_test",), ("back0",)]
    # without digests (an older worker), every changer counts apart, up to the cap
    assert len(changer_first(Run(ids, states=states))) == 8


def test_rounds_for_state_only_some_tests_read_hold_only_them() -> None:
    """Seven values left in a test module's class cost seven runs of its readers, and a
    round that library state needs anyway stays whole."""
    ids = ("lib", *(f"m{i}" for i in range(3)), "reader", "far1", "far2")
    states = {"lib": ["global pkg.FLAGS"]} | {
        f"m{i}": ["global tests.test_m.Cached.cache"] for i in range(3)
    }
    values = {f"m{i}": {"global tests.test_m.Cached.cache": str(i)} for i in range(3)}
    readers = {"tests.test_m": frozenset({"m0", "m1", "m2", "reader"})}
    rounds = changer_first(Run(ids, states=states, values=values), readers)
    assert [r.sticky for r in rounds] == [("lib", "m0"), ("m1",), ("m2",)]
    # round 1 keeps library state too: every test runs after it
    assert rounds[0].ids == ("lib", "m0", "m1", "m2", "reader", "far1", "far2")
    assert rounds[1].ids == ("m1", "m0", "m2", "reader")
    assert rounds[2].ids == ("m2", "m0", "m1", "reader")
    # without readers, every round is whole
    assert all(
        len(r.ids) == len(ids) for r in changer_first(Run(ids, states=states, values=values))
    )


def test_a_counter_no_test_puts_back_gets_no_round() -> None:
    """Twenty tests bump a counter: 20 values, none held twice, so no cleaner can hide
    them and eight rounds of the whole suite would find nothing the orders did not."""
    ids = (*(f"t{i}" for i in range(20)), "v")
    key = "global pkg._make.Attr.counter"
    states = {f"t{i}": [key] for i in range(20)}
    values = {f"t{i}": {key: str(i + 1)} for i in range(20)}
    befores = {f"t{i}": {key: str(i)} for i in range(20)}
    counter = Run(ids, states=states, values=values, befores=befores)
    assert never_undone(counter) == [key]
    assert changer_first(counter) == []
    # a test that puts it back to a value it held is a cleaner: the rounds stay
    values["t7"] = {key: "3"}
    assert never_undone(Run(ids, states=states, values=values, befores=befores)) == []
    assert len(changer_first(Run(ids, states=states, values=values, befores=befores))) == 8
    # so does it when the values before are unknown (a worker of an older version)
    assert never_undone(Run(ids, states=states, values=values)) == []
    # and a piece of state with no more values than rounds keeps them
    few = Run((*ids[:5], "v"), states=states, values=values, befores=befores)
    assert never_undone(few) == [] and len(changer_first(few)) == 5


def test_the_run_without_changers_holds_only_tests_every_order_shielded() -> None:
    """A test some plain order ran with no changer before it was seen without them: the
    run without changers needs only the tests that always had one before them."""
    from pytest_delegation.order.check import without_changers

    canonical = Run(("a", "s1", "b", "brittle", "s2", "c"), states={"s1": ["x"], "s2": ["x"]})
    reverse = Run(("c", "s2", "brittle", "b", "s1", "a"))
    [request] = without_changers(canonical, [reverse])
    # a ran first in canonical, c first in reverse; b and brittle never without a setter
    assert request.ids == ("b", "brittle")
    assert without_changers(Run(("s1", "a"), states={}), []) == []


class ClockRunner(SimRunner):
    """Serves the clients as a pool of `workers` would, on a simulated clock: each run
    takes `length(request)`; `started` holds each run's label and start time."""

    def __init__(self, suite: Suite, states: Any, length: Callable[[Request], float]) -> None:
        super().__init__(suite, states)
        self.length = length
        self.started: list[tuple[str, float]] = []

    def serve(self, clients: Sequence[Client[Any]]) -> list[Any]:
        results: list[Any] = [None] * len(clients)
        waiting: list[tuple[int, int, Request]] = []
        batches: dict[int, tuple[list[Run | None], bool]] = {}
        running: list[tuple[float, int, int, Request]] = []
        now = 0.0

        def advance(index: int, answer: Any) -> None:
            try:
                asked = next(clients[index]) if answer is None else clients[index].send(answer)
            except StopIteration as done:
                results[index] = done.value
                return
            single = isinstance(asked, Request)
            requests = (asked,) if isinstance(asked, Request) else tuple(asked)
            if not requests:
                advance(index, ())
                return
            batches[index] = ([None] * len(requests), single)
            waiting.extend((index, slot, r) for slot, r in enumerate(requests))

        for index in range(len(clients)):
            advance(index, None)
        while waiting or running:
            while waiting and len(running) < self.workers:
                index, slot, request = waiting.pop(0)
                self.started.append((request.label, now))
                running.append((now + self.length(request), index, slot, request))
            running.sort(key=lambda entry: entry[0])
            now, index, slot, request = running.pop(0)
            runs, single = batches[index]
            runs[slot] = self.answer(request)
            if all(run is not None for run in runs):
                del batches[index]
                advance(index, runs[0] if single else tuple(runs))
        return results


def test_the_rounds_start_when_the_canonical_run_ends_beside_the_slower_orders() -> None:
    """The rounds need only what the canonical run saw change: they used to wait for the
    slowest shuffle, leaving a worker idle (sortedcontainers: 5 s of a 39 s run)."""
    from pytest_delegation.order.check import check_order

    tests = {"a": ["c", "a2"], "b": ["b1", "b2"]}
    plan = _plan(tests)
    # a2 fails in its task's run and in every order: it gets a run alone
    baseline = {t: "failed" if t == "a2" else "passed" for ts in tests.values() for t in ts}

    def states(ids: tuple[str, ...]) -> dict[str, list[str]]:
        return {"c": ["global m.X"]} if "c" in ids else {}

    lengths = {"shuffle 2": 3.0}
    runner = ClockRunner(
        lambda ids: {t: "failed" if t == "a2" else "passed" for t in ids},
        states,
        lambda r: lengths.get(r.label, 1.0),
    )
    found = check_order(runner, plan, tests, [], baseline, 2, 1, lambda line: None, lambda f: f)
    assert found == []
    started = dict(runner.started)
    assert started["canonical"] == started["reverse"] == 0.0
    assert started["shuffle 1"] == started["shuffle 2"] == 1.0
    # the first worker free after the canonical run: not behind shuffle 2, which ends at 4
    assert started["state changers first, round 1"] == 2.0
    assert started["each state changer twice"] == 3.0
    # what needs every plain order comes once the slowest has ended
    assert started["alone"] == 4.0


def test_a_test_that_changed_only_a_counter_nobody_puts_back_does_not_run_twice() -> None:
    """attrs' attribute counter, moved by 772 tests: the doubled run held 1,550 tests.
    The plain orders already ran each of those after others that moved it."""
    from pytest_delegation.order.check import twice

    ids = tuple(f"t{i}" for i in range(12))
    states = {t: ["global pkg.counter"] for t in ids} | {"t3": ["global pkg.counter", "cwd"]}
    run = Run(ids, states=states)
    baseline = {t: "passed" for t in ids}
    [doubled] = twice(run, baseline, frozenset({"global pkg.counter"}))
    assert doubled.ids == ("t3", "t3" + AGAIN)
    assert len(twice(run, baseline)[0].ids) == 24


def needs_in_the_run(victims: set[str], setter: str) -> Suite:
    """The victims pass only when `setter` is in the run, anywhere: its module imports
    what they need as it is collected (structlog's tests/test_utils.py and
    ``multiprocessing``)."""

    def outcomes(ids: tuple[str, ...]) -> dict[str, str]:
        ok = setter in ids
        return {t: ("passed" if ok or t not in victims else "failed") for t in ids}

    return outcomes


def test_a_victim_that_fails_after_its_own_task_too_leans_on_a_test_of_a_plain_order() -> None:
    """structlog with --cov: the task run passed (coverage imports multiprocessing), the
    unmeasured runs fail without tests/test_utils.py. It was called flaky: the change
    "did not come back" after its own task's tests."""
    suite = needs_in_the_run({"v"}, "s")
    plain = ("a", "b", "h", "s", "c")
    suspect = Suspect("v", "victim", "without state changers", ("a", "b"), home=("h",))
    verdict, _ = drive(investigate(suspect), suite)
    assert not verdict.confirmed  # without the plain order's tests, nothing to go on
    suspect.passed_in = (*plain, "v")
    verdict, _ = drive(investigate(suspect), suite)
    assert verdict.confirmed, verdict
    assert (verdict.kind, verdict.culprits) == ("brittle", ("s",))


def test_a_group_whose_lead_turns_brittle_is_settled_together() -> None:
    victims = {"v1", "v2", "v3", "v4"}
    suite = needs_in_the_run(victims, "s")
    plain = ("a", "s", "b", "v1", "v2", "v3", "v4")
    found = [
        Suspect(v, "victim", "without state changers", ("a", "b"), home=("a",),
                passed_in=plain, position=i)
        for i, v in enumerate(sorted(victims))
    ]  # fmt: skip
    [(lead, rest)] = groups(found)
    (verdicts, left), runs = drive(investigate_group(lead, rest), suite)
    assert left == []
    assert {(v.test, v.kind, v.culprits) for v in verdicts} == {
        (v, "brittle", ("s",)) for v in victims
    }
    assert runs <= 12, runs  # the members take two runs between them, not a search each
