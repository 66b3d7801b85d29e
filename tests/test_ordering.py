"""The order check: hidden ordering dependencies found, pinned to their culprit, proven."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-seed=7", "--delegation-check=isolation,order", *args,
    )  # fmt: skip
    return result, json.loads((pytester.path / "r.json").read_text())


def ordering(data: dict) -> list[dict]:  # type: ignore[type-arg]
    return [f for f in data["findings"] if f["rule"] == "hidden-ordering-dependency"]


def reproduce_fails(pytester: pytest.Pytester, command: str) -> bool:
    argv = shlex.split(command)
    argv[0] = sys.executable
    done = subprocess.run(argv, cwd=pytester.path, capture_output=True)
    return done.returncode == 1


@pytest.fixture
def wave(pytester: pytest.Pytester) -> pytest.Pytester:
    """Three tasks in one wave sharing a module global through a helper module."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n"
        "  setup-task: {tests: [test_a.py]}\n"
        "  middle: {tests: [test_m.py]}\n"
        "  victim-task: {tests: [test_v.py]}\n",
    )
    pytester.makepyfile(shared="FLAGS = {}\n")
    pytester.makepyfile(test_m="def test_m1():\n    pass\n\ndef test_m2():\n    pass\n")
    return pytester


def test_victim_and_polluter_in_one_wave(wave: pytest.Pytester) -> None:
    wave.makepyfile(
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n",
        test_v="import shared\n\ndef test_clean():\n    assert 'dirty' not in shared.FLAGS\n",
    )
    result, data = run(wave)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = ordering(data)
    assert finding["kind"] == "victim"
    assert finding["test"] == "test_v.py::test_clean"
    assert finding["task"] == "victim-task"
    assert finding["culprit_test"] == "test_a.py::test_pollute"
    assert finding["culprit_task"] == "setup-task"
    assert finding["declared_dependency"] is False
    assert "global shared.FLAGS" in finding["shared_state"]
    assert 1 <= finding["bisect_runs"] <= 4  # ceil(log2 3) + 2
    assert finding["reproduce"] == (
        "python -m pytest -p no:randomly -p no:cacheprovider test_a.py::test_pollute "
        "test_v.py::test_clean"
    )
    assert "reproduce_verified" not in finding
    assert reproduce_fails(wave, finding["reproduce"])
    [wave_finding] = [f for f in data["findings"] if f["rule"] == "wave-order-dependency"]
    assert wave_finding["pairs"] == ["setup-task -> victim-task"]
    assert data["summary"]["seed"] == 7
    # the check run of the bisection and the final run repeat the state-changers run
    [note] = [n for n in data["notes"] if n.startswith("order check:")]
    assert "more answered by an identical run" in note
    assert "1 reproduce command run" in note
    result.stdout.fnmatch_lines(
        ["order check: canonical, reverse and 2 shuffles (seed 7)", "seed: 7"]
    )


def test_brittle_test_and_its_state_setter(wave: pytest.Pytester) -> None:
    wave.makepyfile(
        test_a="import shared\n\ndef test_setter():\n    shared.FLAGS['ready'] = True\n",
        test_v="import shared\n\ndef test_needs():\n    assert shared.FLAGS.get('ready')\n",
    )
    _, data = run(wave)
    [finding] = ordering(data)
    assert finding["kind"] == "brittle"
    assert finding["test"] == "test_v.py::test_needs"
    assert finding["culprit_test"] == "test_a.py::test_setter"
    assert "depends_on: [setup-task]" in finding["fix"]
    assert finding["reproduce"].endswith(" test_v.py::test_needs")
    assert reproduce_fails(wave, finding["reproduce"])
    assert data["tasks"]["victim-task"]["status"] == "failed"  # fails alone, as it should


def test_two_tests_make_the_culprit(wave: pytest.Pytester) -> None:
    wave.makepyfile(
        test_a="""
            import shared

            def test_one():
                shared.FLAGS['one'] = True
        """,
        test_m="""
            import shared

            def test_m1():
                pass

            def test_two():
                shared.FLAGS['two'] = True

            def test_m2():
                pass
        """,
        test_v="""
            import shared

            def test_both():
                assert not (shared.FLAGS.get('one') and shared.FLAGS.get('two'))
        """,
    )
    _, data = run(wave)
    [finding] = ordering(data)
    assert sorted(finding["culprit_test"]) == ["test_a.py::test_one", "test_m.py::test_two"]
    assert reproduce_fails(wave, finding["reproduce"])


def test_polluter_hidden_behind_cleaners(pytester: pytest.Pytester) -> None:
    # canonical: pollute, clean_1, clean_2, victim; reverse: victim first. Both pass,
    # and clean_2 only changes anything when clean_1 did not run before it: only a run
    # that keeps the pollution in place exposes the victim
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n"
        "  a-polluter: {tests: [test_a.py]}\n"
        "  b-cleaners: {tests: [test_b.py]}\n"
        "  c-victim: {tests: [test_c.py]}\n",
    )
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n",
        test_b="""
            import shared

            def test_clean_1():
                shared.FLAGS.pop('dirty', None)

            def test_clean_2():
                shared.FLAGS.pop('dirty', None)
        """,
        # holds the dict itself: the kept pollution must be refilled in place
        test_c="from shared import FLAGS\n\ndef test_victim():\n    assert 'dirty' not in FLAGS\n",
    )
    _, data = run(pytester, "--delegation-shuffles=0")
    [finding] = ordering(data)
    assert (finding["test"], finding["culprit_test"]) == (
        "test_c.py::test_victim", "test_a.py::test_pollute",
    )  # fmt: skip
    assert finding["order"] == "state changers first, round 1"
    assert reproduce_fails(pytester, finding["reproduce"])
    # and it names a test that undoes the pollution: what the culprit's teardown should do
    assert finding["cleaner_test"] == "test_b.py::test_clean_1"
    assert "test_b.py::test_clean_1 undoes it" in finding["fix"]
    assert [f["rule"] for f in data["findings"]] == [
        "hidden-ordering-dependency", "wave-order-dependency",
    ]  # fmt: skip


def test_state_of_a_test_module_is_put_back_for_the_tests_that_can_read_it(
    pytester: pytest.Pytester,
) -> None:
    """A class in a test module holds what its tests fill: the rounds that keep it run
    that module's tests and those of the files that import it, not the whole suite."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n"
        "  a-registry: {tests: [test_a.py]}\n"
        "  c-victim: {tests: [test_c.py]}\n"
        "  o-others: {tests: [test_o.py]}\n",
    )
    pytester.makepyfile(
        test_a="""
            class Registry:
                seen = {}

            def test_pollute():
                Registry.seen['dirty'] = True

            def test_clean_1():
                Registry.seen.pop('dirty', None)

            def test_clean_2():
                Registry.seen.pop('dirty', None)
        """,
        test_c="from test_a import Registry\n\ndef test_victim():\n"
        "    assert 'dirty' not in Registry.seen\n",
        test_o="".join(f"def test_other_{i}():\n    pass\n\n" for i in range(5)),
    )
    _, data = run(pytester, "--delegation-shuffles=0")
    [finding] = ordering(data)
    assert (finding["test"], finding["culprit_test"]) == (
        "test_c.py::test_victim", "test_a.py::test_pollute",
    )  # fmt: skip
    assert reproduce_fails(pytester, finding["reproduce"])
    rounds = [r for r in data["timeline"] if r.get("label", "").startswith("state changers")]
    # test_a's three tests and test_c's victim; test_o's five never read test_a
    assert rounds and all(r["tests"] == 4 for r in rounds), rounds


def test_a_counter_many_tests_bump_costs_no_round_and_hides_nothing(
    pytester: pytest.Pytester,
) -> None:
    """attrs' attribute counter: every test that makes a class bumps it. It gets no
    round (none puts it back), and the victim behind cleaners is still found."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n"
        "  a-polluter: {tests: [test_a.py]}\n"
        "  b-cleaners: {tests: [test_b.py]}\n"
        "  c-victim: {tests: [test_c.py]}\n"
        "  d-counting: {tests: [test_d.py]}\n",
    )
    pytester.makepyfile(
        shared="FLAGS = {}\n\nclass Counter:\n    made = 0\n",
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n",
        test_b="import shared\n\ndef test_clean_1():\n    shared.FLAGS.pop('dirty', None)\n\n"
        "def test_clean_2():\n    shared.FLAGS.pop('dirty', None)\n",
        test_c="from shared import FLAGS\n\ndef test_victim():\n    assert 'dirty' not in FLAGS\n",
        test_d="import shared\n\n"
        + "".join(f"def test_make_{i}():\n    shared.Counter.made += 1\n\n" for i in range(12)),
    )
    result, data = run(pytester, "--delegation-shuffles=0")
    [finding] = ordering(data)
    assert (finding["test"], finding["culprit_test"]) == (
        "test_c.py::test_victim", "test_a.py::test_pollute",
    )  # fmt: skip
    rounds = [r for r in data["timeline"] if r.get("label", "").startswith("state changers")]
    # the flag's two values (dirty, clean): two rounds, not the counter's twelve capped at 8
    assert len(rounds) == 2, rounds
    note = "no round keeps global shared.Counter.made: 12 tests changed it and none put it back"
    assert any(note in line for line in data["notes"]), data["notes"]
    result.stdout.fnmatch_lines(["*no round keeps global shared.Counter.made*"])


def test_flaky_is_not_an_ordering_dependency(wave: pytest.Pytester) -> None:
    # fails on its second execution only: in the first order run, never again
    wave.makepyfile(
        test_a="def test_a():\n    pass\n",
        test_v="""
            from pathlib import Path

            def test_flaky():
                counter = Path("count.txt")
                n = int(counter.read_text()) + 1 if counter.exists() else 1
                counter.write_text(str(n))
                assert n != 2
        """,
    )
    _, data = run(wave)
    assert ordering(data) == []
    assert [(f["rule"], f["test"]) for f in data["findings"]] == [
        ("flaky", "test_v.py::test_flaky")
    ]


def test_dependency_inside_one_task(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", delegation="tasks:\n  only: {tests: [test_x.py]}\n")
    pytester.makepyfile(
        shared="STATE = []\n",
        test_x="""
            import shared

            def test_first():
                shared.STATE.append(1)

            def test_second():
                assert shared.STATE == [1]
        """,
    )
    _, data = run(pytester)
    [finding] = ordering(data)
    assert finding["kind"] == "brittle"
    assert (finding["task"], finding["culprit_task"]) == ("only", "only")
    assert finding["culprit_test"] == "test_x.py::test_first"
    assert not [f for f in data["findings"] if f["rule"] == "wave-order-dependency"]


def test_dependency_across_waves(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  first: {tests: [test_a.py]}\n"
        "  second: {tests: [test_b.py], depends_on: [first]}\n",
    )
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['x'] = 1\n",
        test_b="import shared\n\ndef test_victim():\n    assert not shared.FLAGS\n",
    )
    _, data = run(pytester)
    [finding] = ordering(data)
    assert finding["order"] == "canonical"
    assert finding["declared_dependency"] is True
    assert not [f for f in data["findings"] if f["rule"] == "wave-order-dependency"]


def test_auto_plan_finds_dependencies_without_a_plan(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['x'] = 1\n",
        test_b="import shared\n\ndef test_victim():\n    assert not shared.FLAGS\n",
    )
    _, data = run(pytester, "--delegation-plan=auto")
    [finding] = ordering(data)
    assert (finding["task"], finding["culprit_task"]) == ("test-b", "test-a")


def test_order_replays_keep_side_effects_away(
    wave: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave.makepyfile(
        test_a="""
            import os
            from pathlib import Path

            def test_home():
                Path(os.environ["HOME"], "written-by-test").write_text("x")
        """,
        test_v="def test_v():\n    pass\n",
    )
    home = wave.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    _, data = run(wave)
    assert ordering(data) == []
    # no run wrote into the real HOME: task runs and replays each have their own
    assert list(home.iterdir()) == []


@pytest.mark.parametrize(
    "after",
    ["", "def test_pollute_again():\n    shared.FLAGS['dirty'] = True\n"],
    ids=["a-polluter-before", "polluters-on-both-sides"],
)
def test_a_test_that_fails_in_its_own_task_but_passes_alone(
    pytester: pytest.Pytester, after: str
) -> None:
    """Its polluter runs before it in its own task: it failed in its task's run and was
    called flaky, or, with a polluter after it too, failed in every order and was never
    seen (issue 11). It passes alone: it is bisected to the polluter before it."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  one: {tests: [test_one.py]}\n  other: {tests: [test_o.py]}\n",
    )
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_one="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n\n"
        "def test_other():\n    pass\n\n"
        "def test_victim():\n    assert 'dirty' not in shared.FLAGS\n\n" + after,
        test_o="def test_o():\n    pass\n",
    )
    # canonical and reverse only: with a polluter on both sides it fails in both
    result, data = run(pytester, "--delegation-shuffles=0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = ordering(data)
    assert finding["test"] == "test_one.py::test_victim"
    assert finding["kind"] == "victim"
    assert finding["culprit_test"] == "test_one.py::test_pollute"
    assert finding["task"] == "one"
    assert reproduce_fails(pytester, finding["reproduce"])
    assert not [f for f in data["findings"] if f["rule"] == "flaky"]


def test_a_brittle_test_with_setters_on_both_sides_is_found(pytester: pytest.Pytester) -> None:
    """Every order put one of its two setters first: found by the luck of a shuffle, or not
    at all (issue 11, item 3). The run without the state changers shows it, every time."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  one: {tests: [test_one.py]}\n  other: {tests: [test_o.py]}\n",
    )
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_one="import shared\n\n"
        "def test_set_first():\n    shared.FLAGS['ready'] = 1\n\n"
        "def test_needs_it():\n    assert shared.FLAGS.get('ready')\n\n"
        "def test_set_again():\n    shared.FLAGS['ready'] = 2\n",
        test_o="def test_o():\n    pass\n",
    )
    result, data = run(pytester, "--delegation-shuffles=0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = ordering(data)
    assert finding["test"] == "test_one.py::test_needs_it"
    assert finding["kind"] == "brittle"
    assert finding["culprit_test"] == "test_one.py::test_set_first"
    assert "without state changers" in finding["message"]
    assert any(r.get("label") == "without state changers" for r in data["timeline"])


def test_many_victims_of_one_polluter_are_one_finding(wave: pytest.Pytester) -> None:
    """Issue 11, item 8: victims of one cause were confirmed and bisected one by one (484
    worker runs for 61 victims); they are settled as a group and reported once."""
    victims = "".join(
        f"def test_clean_{i}():\n    assert 'dirty' not in shared.FLAGS\n\n" for i in range(8)
    )
    wave.makepyfile(
        test_a="import shared\n\ndef test_pollute():\n    shared.FLAGS['dirty'] = True\n",
        test_v="import shared\n\n" + victims,
    )
    result, data = run(wave)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = ordering(data)
    assert finding["culprit_test"] == "test_a.py::test_pollute"
    assert finding["victims"] == [f"test_v.py::test_clean_{i}" for i in range(8)]
    assert finding["cause"] == "cause-1"
    assert finding["message"].startswith("8 tests fail after test_a.py::test_pollute")
    assert reproduce_fails(wave, finding["reproduce"])
    result.stdout.fnmatch_lines(["order check: confirming 8 changed outcomes (1 group)",
                                 "order check: 8 of 8 changed outcomes settled, 8 confirmed"])  # fmt: skip
    # one full bisection, not eight
    rows = [r for r in data["timeline"] if r["kind"] == "order"]
    assert len(rows) < 8 * 4


def test_a_test_that_fails_when_run_twice_is_non_idempotent(pytester: pytest.Pytester) -> None:
    """Also of issue 11: a test that pollutes itself fails on its second run in a process."""
    pytester.makefile(".yaml", delegation="tasks:\n  one: {tests: [test_one.py]}\n")
    pytester.makepyfile(
        test_one="SEEN = []\n\ndef test_once():\n    assert not SEEN\n    SEEN.append(1)\n\n"
        "def test_fine():\n    pass\n"
    )
    result, data = run(pytester, "--delegation-shuffles=0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = ordering(data)
    assert finding["kind"] == "non-idempotent"
    assert finding["test"] == "test_one.py::test_once"
    assert "global test_one.SEEN" in finding["shared_state"]
    assert "reproduce_verified" not in finding  # the command was run and failed
    assert reproduce_fails(pytester, finding["reproduce"])


def test_the_bisection_leaves_out_a_file_that_is_slow_to_collect(
    pytester: pytest.Pytester,
) -> None:
    """click's test_stream_lifecycle.py takes 3 s to collect (30,000 stress tests its ini
    deselects), and every bisection run that held one of its tests paid for it. The
    workers tell how long each file took to collect; the bisection leaves that part out
    when another shows the change."""
    tasks = ["slow", "f1", "f2", "f3", "pol", "vic"]
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n" + "".join(f"  {t}: {{tests: [test_{t}.py]}}\n" for t in tasks),
    )
    # the polluter's change is out of the snapshot's sight (a cached value, mutated),
    # so no "changed state" shortcut: the bisection itself finds it
    pytester.makepyfile(
        pkg="import functools\n\n@functools.lru_cache(None)\ndef mode():\n    return ['clean']\n",
        conftest=(
            "import os\n\nRUNS = os.path.join(os.path.dirname(__file__), 'runs.txt')\n\n"
            "def pytest_collection_finish(session):\n"
            "    ids = [item.nodeid for item in session.items]\n"
            "    if session.config.getoption('delegation_child', None) and any(\n"
            "        'test_victim' in i for i in ids\n    ):\n"
            "        with open(RUNS, 'a') as f:\n"
            "            f.write(f\"{len(ids)} {sum('test_slow' in i for i in ids)}\\n\")\n"
        ),
        test_slow="import time\ntime.sleep(0.4)\n\n"
        + "".join(f"def test_s{i}():\n    pass\n\n" for i in range(2)),
        test_pol="import pkg\n\ndef test_polluter():\n    pkg.mode()[0] = 'dirty'\n",
        test_vic="import pkg\n\ndef test_victim():\n    assert pkg.mode() == ['clean']\n",
        **{
            f"test_{t}": "".join(f"def test_{t}_{i}():\n    pass\n\n" for i in range(5))
            for t in ("f1", "f2", "f3")
        },
    )
    result, data = run(pytester, "--delegation-shuffles=0")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [finding] = ordering(data)
    assert finding["test"] == "test_vic.py::test_victim"
    assert finding["culprit_test"] == "test_pol.py::test_polluter"
    runs = [
        tuple(map(int, line.split()))
        for line in (pytester.path / "runs.txt").read_text().splitlines()
    ]
    whole = 2 + 15 + 2
    assert any(1 < size < whole for size, _ in runs), runs  # the bisection ran
    # only the whole orders (and the victim's task run) held the slow file's tests
    assert all(slow == 0 or size == whole for size, slow in runs), runs
