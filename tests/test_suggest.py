"""The plan the suite says you should have: the changes, their reasons, and the edited YAML."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
import os
from pathlib import Path
import textwrap
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.boundaries import boundary_findings
from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.static import Context
from pytest_delegation.checks.static import file_conflicts
from pytest_delegation.checks.static import static_findings
from pytest_delegation.checks.static import wave_overload
from pytest_delegation.checks.suggest import Change
from pytest_delegation.checks.suggest import render_changes
from pytest_delegation.checks.suggest import starting_plan
from pytest_delegation.checks.suggest import suggest
from pytest_delegation.collect.loading import infer_plan
from pytest_delegation.plan.edit import EditError
from pytest_delegation.plan.edit import apply_changes
from pytest_delegation.plan.edit import apply_to_yaml
from pytest_delegation.plan.edit import load_text
from pytest_delegation.plan.edit import path_pattern
from pytest_delegation.plan.edit import plan_content
from pytest_delegation.plan.edit import render_plan
from pytest_delegation.plan.edit import scalar_text
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import Tree
from pytest_delegation.plan.waves import compute_waves


PLAN_PATH = Path("/project/delegation.yaml")


def frozen(tasks: dict[str, Any], **top: Any) -> Plan:
    plan = plan_from_dict({"tasks": tasks, **top}, PLAN_PATH)
    plan.freeze(compute_waves(plan))
    return plan


def applied(plan: Plan, changes: list[Change]) -> Plan:
    """The plan with the changes, checked by compute_waves as a run would."""
    result = apply_changes(plan, changes)
    result.freeze(compute_waves(result))
    return result


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def runs(executed: Mapping[str, Collection[str]]) -> dict[str, dict[str, Execution]]:
    """Execution records as the workers report them, for boundary_findings."""
    return {
        task: {path: Execution("f", 1, f"tests/test_{task}.py::test_it") for path in paths}
        for task, paths in executed.items()
    }


def kinds(changes: list[Change]) -> list[tuple[str, str | None, str | int]]:
    return [(c.kind, c.task, c.value) for c in changes]


def conflict(plan: Plan, a: str, b: str, *files: str) -> Finding:
    return Finding(
        "file-conflict",
        f"tasks '{a}' and '{b}' both claim {files[0]}",
        task=a,
        other_task=b,
        file=files[0],
        extra={"files": list(files)},
    )


def ordering(task: str, culprit: str, kind: str, test: str = "tests/test_x.py::test_v") -> Finding:
    return Finding(
        "hidden-ordering-dependency",
        "order",
        task=task,
        other_task=culprit if culprit != task else None,
        test=test,
        extra={
            "kind": kind,
            "culprit_task": culprit,
            "culprit_test": "tests/test_y.py::test_c",
            "declared_dependency": False,
        },
    )


# -- file-conflict -------------------------------------------------------------------


def test_a_conflict_on_a_file_both_tasks_run_is_a_shared_contract(tmp_path: Path) -> None:
    touch(tmp_path, "shop/_money.py", "shop/a.py", "shop/b.py")
    plan = frozen(
        {
            "a": {"files": ["shop/a.py", "shop/_money.py"]},
            "b": {"files": ["shop/b.py", "shop/_*.py"]},
        }
    )
    findings = list(file_conflicts(plan, Tree(tmp_path)))
    assert [(f.task, f.other_task, f.file) for f in findings] == [("a", "b", "shop/_money.py")]
    executed = {"a": {"shop/a.py", "shop/_money.py"}, "b": {"shop/b.py", "shop/_money.py"}}
    changes = suggest(plan, findings, executed)
    assert kinds(changes) == [
        ("shared", None, "shop/_money.py"),
        ("unclaim", "a", "shop/_money.py"),
        ("unclaim", "b", "shop/_money.py"),
    ]
    assert changes[0].reason == (
        "file-conflict: 'a' and 'b' of wave 1 both claim shop/_money.py; both tasks' tests "
        "run it and neither owns it alone: a shared contract"
    )
    assert {c.rule for c in changes} == {"file-conflict"}
    fixed = applied(plan, changes)
    assert fixed.shared == ("shop/_money.py",)
    assert fixed.tasks["a"].files == ("shop/a.py",)
    assert fixed.tasks["b"].files == ("shop/b.py", "shop/_*.py", "!shop/_money.py")
    assert list(file_conflicts(fixed, Tree(tmp_path))) == []


def test_a_conflict_only_one_task_runs_orders_the_later_task_after_the_earlier(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "shop/x.py")
    plan = frozen({"b": {"files": ["shop/x.py"]}, "a": {"files": ["shop/**"]}})
    findings = list(file_conflicts(plan, Tree(tmp_path)))
    # the finding names the pair sorted; the plan's order decides who waits
    assert (findings[0].task, findings[0].other_task) == ("a", "b")
    changes = suggest(plan, findings, {"b": {"shop/x.py"}})
    assert kinds(changes) == [("depends_on", "a", "b")]
    assert changes[0].reason == (
        "file-conflict: 'a' and 'b' of wave 1 both claim shop/x.py; only the tests of 'b' run it: "
        "'a' moves to a later wave, after 'b'"
    )
    assert list(file_conflicts(applied(plan, changes), Tree(tmp_path))) == []


def test_a_conflict_on_several_files_needs_all_of_them_run_by_both(tmp_path: Path) -> None:
    plan = frozen({"a": {"files": ["x.py", "y.py"]}, "b": {"files": ["x.py", "y.py"]}})
    finding = conflict(plan, "a", "b", "x.py", "y.py")
    changes = suggest(plan, [finding], {"a": {"x.py", "y.py"}, "b": {"x.py"}})
    assert kinds(changes) == [("depends_on", "b", "a")]
    assert "both claim x.py and 1 more; only the tests of 'a' run them" in changes[0].reason
    changes = suggest(plan, [finding], {"a": {"x.py", "y.py"}, "b": {"y.py", "x.py"}})
    assert kinds(changes) == [
        ("shared", None, "/x.py"),
        ("unclaim", "a", "x.py"),
        ("unclaim", "b", "x.py"),
        ("shared", None, "/y.py"),
        ("unclaim", "a", "y.py"),
        ("unclaim", "b", "y.py"),
    ]
    assert changes[0].reason.endswith("neither owns them alone: shared contracts")


def test_executed_paths_are_rootdir_relative_and_conflicts_plan_relative() -> None:
    plan = frozen({"a": {"files": ["m.py"]}, "b": {"files": ["m.py"]}})
    executed = {"a": {"sub/m.py"}, "b": {"sub/m.py"}}
    changes = suggest(plan, [conflict(plan, "a", "b", "m.py")], executed, plan_dir="sub")
    assert kinds(changes)[0] == ("shared", None, "/m.py")
    # from rootdir's view the plan's file is another one
    assert kinds(suggest(plan, [conflict(plan, "a", "b", "m.py")], executed)) == [
        ("depends_on", "b", "a")
    ]


# -- boundary-violation --------------------------------------------------------------


def boundary_plan() -> Plan:
    return frozen(
        {
            "low": {"files": ["pkg/low.py"]},
            "mid": {"files": ["pkg/mid.py"], "depends_on": ["low"]},
            "other": {"files": ["pkg/other.py"]},
        }
    )


def test_a_boundary_violation_becomes_a_dependency() -> None:
    plan = boundary_plan()
    executed = {"other": {"pkg/other.py", "pkg/low.py"}, "low": {"pkg/low.py"}}
    findings = boundary_findings(plan, "", runs(executed))
    assert [(f.rule, f.task, f.other_task) for f in findings] == [
        ("boundary-violation", "other", "low")
    ]
    changes = suggest(plan, findings, executed)
    assert kinds(changes) == [("depends_on", "other", "low")]
    assert changes[0].reason == (
        "boundary-violation: tests/test_other.py::test_it (task 'other') ran pkg/low.py, "
        "owned by 'low': 'other' depends on 'low'"
    )
    assert boundary_findings(applied(plan, changes), "", runs(executed)) == []


def test_a_boundary_violation_whose_dependency_would_be_a_cycle_is_shared() -> None:
    plan = boundary_plan()
    # low's tests run mid's code, but mid depends on low
    executed = {"low": {"pkg/low.py", "pkg/mid.py"}}
    findings = boundary_findings(plan, "", runs(executed))
    changes = suggest(plan, findings, executed)
    assert kinds(changes) == [("shared", None, "pkg/mid.py")]
    assert "'mid' already depends on 'low', so a dependency would make a cycle" in (
        changes[0].reason
    )
    assert boundary_findings(applied(plan, changes), "", runs(executed)) == []


def test_several_violations_of_one_pair_give_one_dependency() -> None:
    plan = frozen({"a": {"files": ["a/*.py"]}, "b": {"files": ["b.py"]}})
    executed = {"b": {"a/one.py", "a/two.py", "b.py"}}
    changes = suggest(plan, boundary_findings(plan, "", runs(executed)), executed)
    assert kinds(changes) == [("depends_on", "b", "a")]


def test_a_new_dependency_raises_a_wave_it_contradicts() -> None:
    plan = frozen(
        {"a": {"files": ["a.py"], "wave": 2}, "b": {"files": ["b.py"], "wave": 2}, "c": {}}
    )
    executed = {"b": {"a.py"}}
    changes = suggest(plan, boundary_findings(plan, "", runs(executed)), executed)
    assert kinds(changes) == [("depends_on", "b", "a"), ("wave", "b", 3)]
    assert changes[1].reason == (
        "boundary-violation: 'b' asks for wave 2, but its dependencies now put it in wave 3 "
        "at the earliest"
    )
    assert applied(plan, changes).waves == (("c",), ("a",), ("b",))


# -- unowned-file --------------------------------------------------------------------


def test_an_unowned_file_goes_to_the_one_task_that_runs_it_else_to_shared() -> None:
    plan = frozen({"a": {"files": ["a.py"]}, "b": {"files": ["b.py"]}})
    executed = {"a": {"a.py", "util.py", "lib/both.py"}, "b": {"b.py", "lib/both.py"}}
    findings = boundary_findings(plan, "", runs(executed))
    assert sorted((f.rule, f.file) for f in findings) == [
        ("unowned-file", "lib/both.py"),
        ("unowned-file", "util.py"),
    ]
    changes = suggest(plan, findings, executed)
    assert kinds(changes) == [("shared", None, "lib/both.py"), ("files", "a", "/util.py")]
    assert [c.reason for c in changes] == [
        "unowned-file: lib/both.py is run by the tests of 'a' and 'b': shared",
        "unowned-file: util.py is run by the tests of 'a' alone: its file",
    ]
    assert boundary_findings(applied(plan, changes), "", runs(executed)) == []


# -- hidden-ordering-dependency --------------------------------------------------------


def test_a_brittle_test_waits_for_the_task_that_sets_its_state() -> None:
    plan = frozen({"setter": {}, "needy": {}})
    changes = suggest(plan, [ordering("needy", "setter", "brittle")], {})
    assert kinds(changes) == [("depends_on", "needy", "setter")]
    assert changes[0].reason == (
        "hidden-ordering-dependency: tests/test_x.py::test_v passes only after "
        "tests/test_y.py::test_c (task 'setter') ran: 'needy' depends on 'setter'"
        " (the order it needs; it still fails alone, in its task's own run, until a "
        "fixture sets up what it reads)"
    )


def test_a_victims_polluter_is_chained_after_it() -> None:
    plan = frozen({"victim": {}, "polluter": {}})
    changes = suggest(plan, [ordering("victim", "polluter", "victim")], {})
    # waves stay in order in every run: the victim runs before the pollution
    assert kinds(changes) == [("depends_on", "polluter", "victim")]
    assert applied(plan, changes).waves == (("victim",), ("polluter",))
    assert "'polluter' is chained after 'victim'" in changes[0].reason


def test_an_ordering_dependency_inside_one_task_changes_nothing() -> None:
    plan = frozen({"a": {}})
    assert suggest(plan, [ordering("a", "a", "victim"), ordering("a", "a", "brittle")], {}) == []
    no_culprit = Finding("hidden-ordering-dependency", "x", task="a", extra={"kind": "victim"})
    assert suggest(plan, [no_culprit], {}) == []


def test_no_change_makes_a_cycle() -> None:
    plan = frozen({"a": {"depends_on": ["b"]}, "b": {}, "c": {}})
    # b's test needs a's state, but a already depends on b
    assert suggest(plan, [ordering("b", "a", "brittle")], {}) == []
    # one change after another: the second would close a cycle with the first
    findings = [ordering("c", "a", "brittle"), ordering("b", "c", "brittle")]
    changes = suggest(plan, findings, {})
    assert kinds(changes) == [("depends_on", "c", "a")]
    applied(plan, changes)


def test_a_conflict_whose_dependency_would_close_a_cycle_goes_the_other_way() -> None:
    plan = frozen({"a": {"files": ["x.py"]}, "b": {"files": ["x.py"]}, "c": {}})
    findings = [ordering("a", "c", "brittle"), ordering("c", "b", "brittle")]
    findings.append(conflict(plan, "a", "b", "x.py"))
    changes = suggest(plan, findings, {})
    # a -> c -> b already: a waits for b, so b may not wait for a
    assert kinds(changes) == [("depends_on", "a", "c"), ("depends_on", "c", "b")]
    plan = frozen({"a": {"files": ["x.py"]}, "b": {"files": ["x.py"]}, "c": {}})
    findings = [ordering("b", "c", "brittle"), ordering("c", "a", "brittle")]
    findings.append(conflict(plan, "a", "b", "x.py"))
    assert kinds(suggest(plan, findings, {}))[2:] == []


# -- wave-overload ---------------------------------------------------------------------


def overload(plan: Plan) -> list[Finding]:
    return list(wave_overload(plan))


def test_an_overloaded_wave_keeps_its_longest_tasks() -> None:
    tasks: dict[str, Any] = {name: {} for name in "abcdef"}
    tasks["api"] = {"depends_on": list("abcdef")}
    plan = frozen(tasks, max_parallel=2)
    durations = {"a": 1.0, "b": 5.0, "c": 3.0, "d": 3.0, "e": 9.0}
    changes = suggest(plan, overload(plan), {}, durations=durations)
    fixed = applied(plan, changes)
    # e and b are the longest; c and d tie, so plan order; unknown f counts as 0
    assert fixed.waves == (("b", "e"), ("c", "d"), ("a", "f"), ("api",))
    assert kinds(changes) == [
        ("wave", "c", 2),
        ("wave", "d", 2),
        ("wave", "a", 3),
        ("wave", "f", 3),
    ]
    assert changes[0].reason == (
        "wave-overload: wave 1 holds 6 tasks, more than max_parallel (2): the 2 longest stay, "
        "'c', 'd', 'a' and 1 more move to the next waves"
    )
    assert overload(fixed) == []


def test_splitting_a_wave_keeps_the_later_waves_after_it() -> None:
    tasks: dict[str, Any] = {name: {} for name in "abcde"}
    tasks["late"] = {"depends_on": ["a"]}
    tasks["later"] = {"depends_on": ["late"], "wave": 3}
    tasks["last"] = {"wave": 4}
    plan = frozen(tasks, max_parallel=4)
    changes = suggest(plan, overload(plan), {})
    fixed = applied(plan, changes)
    assert fixed.waves == (("a", "b", "c", "d"), ("e",), ("late",), ("later",), ("last",))
    assert kinds(changes) == [
        ("wave", "e", 2),
        ("wave", "late", 3),
        ("wave", "later", 4),
        ("wave", "last", 5),
    ]
    assert changes[1].reason == (
        "wave-overload: wave 1 is split in 2; the later waves keep their order"
    )
    assert "the first 4 in plan order stay, 'e' moves to the next wave" in changes[0].reason


def test_a_gap_in_the_wave_numbers_leaves_later_tasks_alone() -> None:
    tasks: dict[str, Any] = {name: {} for name in "abc"}
    tasks["z"] = {"wave": 5}
    plan = frozen(tasks, max_parallel=1)
    changes = suggest(plan, overload(plan), {})
    assert kinds(changes) == [("wave", "b", 2), ("wave", "c", 3)]
    assert applied(plan, changes).waves == (("a",), ("b",), ("c",), ("z",))


def test_an_ignored_overload_is_left_but_one_the_changes_make_is_split() -> None:
    plan = frozen({name: {} for name in "abc"}, max_parallel=2)
    assert suggest(plan, [], {}) == []
    plan = frozen({"a": {}, "b": {}, "c": {}, "d": {"depends_on": ["a"]}}, max_parallel=2)
    # b and c move after a, beside d: three in wave 2
    findings = [ordering("b", "a", "brittle"), ordering("c", "a", "brittle")]
    changes = suggest(plan, findings, {})
    fixed = applied(plan, changes)
    assert all(len(wave) <= 2 for wave in fixed.waves)
    assert "(after the changes above)" in changes[-1].reason


# -- rendering the changes -------------------------------------------------------------


def test_render_changes_prints_each_reason_then_its_changes() -> None:
    plan = frozen({"a": {"files": ["m.py"]}, "b": {"files": ["m.py"]}, "c": {}})
    executed = {"a": {"m.py"}, "b": {"m.py"}}
    findings = [conflict(plan, "a", "b", "m.py"), ordering("c", "a", "brittle")]
    lines = render_changes(suggest(plan, findings, executed))
    assert lines == [
        "file-conflict: 'a' and 'b' of wave 1 both claim m.py; both tasks' tests run it and "
        "neither owns it alone: a shared contract",
        "    shared: + /m.py",
        "    a: files - m.py",
        "    b: files - m.py",
        "hidden-ordering-dependency: tests/test_x.py::test_v passes only after "
        "tests/test_y.py::test_c (task 'a') ran: 'c' depends on 'a' (the order it needs; it "
        "still fails alone, in its task's own run, until a fixture sets up what it reads)",
        "    c: depends_on + a",
    ]


def test_path_patterns_name_exactly_one_path() -> None:
    for path in ("setup.py", "a/b.py", "a/[x].py", "a/*.py", "#x.py", "a/b?.py", "trail "):
        pattern = path_pattern(path)
        assert PatternSet([pattern]).matches(path), pattern
        assert not PatternSet([pattern]).matches("sub/" + path)
    assert path_pattern("setup.py") == "/setup.py"
    assert path_pattern("a/b.py") == "a/b.py"


# -- editing the YAML ------------------------------------------------------------------


def edit(text: str, *changes: Change) -> str:
    """apply_to_yaml, checked: the result loads as the plan with the changes."""
    text = textwrap.dedent(text).lstrip("\n")
    result = apply_to_yaml(text, changes)
    want = apply_changes(load_text(text), changes)
    assert plan_content(load_text(result)) == plan_content(want)
    # a fresh plan of the same says the same
    rendered = render_plan(load_text(text), changes)
    assert plan_content(load_text(rendered)) == plan_content(want)
    return result


def dep(task: str, on: str) -> Change:
    return Change("depends_on", task, on, "why", "boundary-violation")


def files(task: str, pattern: str) -> Change:
    return Change("files", task, pattern, "why", "unowned-file")


def shared(pattern: str) -> Change:
    return Change("shared", None, pattern, "why", "unowned-file")


def unclaim(task: str, path: str) -> Change:
    return Change("unclaim", task, path, "why", "file-conflict")


def wave(task: str, number: int) -> Change:
    return Change("wave", task, number, "why", "wave-overload")


BLOCK = """\
# the plan
version: 1
max_parallel: 3            # three at once

shared:
  - lib/contracts.py       # the contract

tasks:
  a:
    role: code-writer
    files:
      - a.py               # a's file
      - "a/_*.py"
    # a's tests are marked
  b:
    role: code-writer
    depends_on:
      - a                  # needs a
    files: [b.py, "b/*.py"]   # b's files
  c: {role: research, files: [c.md]}
"""


def test_a_block_list_gets_a_line_like_its_others() -> None:
    result = edit(BLOCK, dep("c", "a"), files("a", "a2.py"))
    assert result == BLOCK.replace(
        '      - "a/_*.py"\n', '      - "a/_*.py"\n      - a2.py\n'
    ).replace("files: [c.md]}", "files: [c.md], depends_on: [a]}")


def test_a_block_list_item_keeps_its_comment_and_gets_the_new_item_after_it() -> None:
    result = edit(BLOCK, dep("b", "c"))
    assert result == BLOCK.replace(
        "      - a                  # needs a\n",
        "      - a                  # needs a\n      - c\n",
    )


def test_a_flow_list_with_a_trailing_comment() -> None:
    result = edit(BLOCK, files("b", "*.cfg"), files("b", "x: y.py"))
    assert result == BLOCK.replace(
        'files: [b.py, "b/*.py"]   # b\'s files',
        'files: [b.py, "b/*.py", "*.cfg", "x: y.py"]   # b\'s files',
    )


def test_a_missing_key_goes_after_the_tasks_last_key_line_indented_like_its_keys() -> None:
    text = """\
    tasks:
        a:
            role: code-writer
            files: [a.py]
            # a comment closing a

        b:
            role: research
    """
    result = edit(text, dep("a", "b"), wave("a", 3))
    assert result.splitlines()[:6] == [
        "tasks:",
        "    a:",
        "        role: code-writer",
        "        files: [a.py]",
        "        depends_on: [b]",
        "        wave: 3",
    ]
    assert "        # a comment closing a\n\n    b:\n" in result


def test_a_missing_shared_goes_before_tasks() -> None:
    text = "version: 1\n\ntasks:\n  a:\n    files: [x.py]\n"
    assert edit(text, shared("lib/c.py")) == (
        "version: 1\n\nshared: [lib/c.py]\ntasks:\n  a:\n    files: [x.py]\n"
    )
    assert edit(BLOCK, shared("*.ini")) == BLOCK.replace(
        "  - lib/contracts.py       # the contract\n",
        '  - lib/contracts.py       # the contract\n  - "*.ini"\n',
    )


def test_a_flow_mapping_task() -> None:
    result = edit(BLOCK, files("c", "c2.md"), wave("c", 2), unclaim("c", "c.md"))
    assert result.endswith("  c: {role: research, files: [c2.md], wave: 2}\n")
    text = "tasks:\n  a: {}\n  b: ~\n  c:\n  d: {role: x}\n"
    result = edit(text, dep("a", "d"), dep("b", "d"), dep("c", "d"), wave("c", 4))
    assert result == (
        "tasks:\n  a: {depends_on: [d]}\n  b: {depends_on: [d]}\n  c:\n    depends_on: [d]\n"
        "    wave: 4\n  d: {role: x}\n"
    )


def test_crlf_stays_crlf() -> None:
    text = BLOCK.replace("\n", "\r\n")
    result = apply_to_yaml(text, [dep("a", "c"), files("a", "z.py"), shared("s.py")])
    assert "\n" not in result.replace("\r\n", "")
    assert result == text.replace(
        '      - "a/_*.py"\r\n', '      - "a/_*.py"\r\n      - z.py\r\n'
    ).replace("    # a's tests", "    depends_on: [c]\r\n    # a's tests").replace(
        "# the contract\r\n", "# the contract\r\n  - s.py\r\n"
    )
    assert plan_content(load_text(result)) == plan_content(
        apply_changes(load_text(BLOCK), [dep("a", "c"), files("a", "z.py"), shared("s.py")])
    )


def test_a_single_string_and_an_empty_value_become_lists() -> None:
    text = "tasks:\n  a:\n    files: a.py   # one\n    depends_on:\n  b: {}\n"
    assert edit(text, files("a", "b.py"), dep("a", "b")) == (
        "tasks:\n  a:\n    files: [a.py, b.py]   # one\n    depends_on: [b]\n  b: {}\n"
    )


def test_wave_is_replaced_in_place() -> None:
    text = "tasks:\n  a:\n    wave: 2   # later\n    role: x\n"
    assert edit(text, wave("a", 7)) == "tasks:\n  a:\n    wave: 7   # later\n    role: x\n"


def test_unclaiming_a_file() -> None:
    # a literal goes, with its line and comment; a glob gets a negation
    result = edit(BLOCK, unclaim("a", "a.py"), unclaim("a", "a/_m.py"))
    assert result == BLOCK.replace("      - a.py               # a's file\n", "").replace(
        '      - "a/_*.py"\n', '      - "a/_*.py"\n      - "!a/_m.py"\n'
    )
    result = edit(BLOCK, unclaim("b", "b.py"))
    assert 'files: ["b/*.py"]   # b\'s files' in result
    text = "tasks:\n  a:\n    files:\n      - a.py\n    role: x\n"
    assert edit(text, unclaim("a", "a.py")) == "tasks:\n  a:\n    files: []\n    role: x\n"
    text = "tasks:\n  a:\n    files:   # none left\n      - a.py\n      # between\n      - b.py\n"
    assert edit(text, unclaim("a", "a.py"), unclaim("a", "b.py")) == (
        "tasks:\n  a:\n    files: []   # none left\n      # between\n"
    )
    text = "tasks:\n  a:\n    files: a.py\n"
    assert edit(text, unclaim("a", "a.py")) == "tasks:\n  a:\n    files: []\n"


def test_a_new_task() -> None:
    text = "tasks:\n  a:\n    role: x\n    # closing a\n# the end\n"
    result = edit(text, Change("task", "b", "code-writer", "why", "inferred"), dep("b", "a"))
    assert result == (
        "tasks:\n  a:\n    role: x\n    # closing a\n  b:\n    role: code-writer\n"
        "    depends_on: [a]\n# the end\n"
    )
    result = edit("tasks: {a: {}}\n", Change("task", "b", "", "why", "inferred"))
    assert result == "tasks: {a: {}, b: {}}\n"


def test_a_flow_plan() -> None:
    text = "{tasks: {a: {files: [x]}, b: {}}}\n"
    assert edit(text, shared("y"), dep("b", "a")) == (
        "{shared: [y], tasks: {a: {files: [x]}, b: {depends_on: [a]}}}\n"
    )


def test_a_long_new_list_is_a_block_list() -> None:
    text = "tasks:\n  a:\n    role: x\n"
    names = [f"src/package/module_{n}.py" for n in range(5)]
    result = edit(text, *(files("a", name) for name in names))
    assert result == "tasks:\n  a:\n    role: x\n    files:\n" + "".join(
        f"      - {name}\n" for name in names
    )


def test_aliases() -> None:
    text = "tasks:\n  a:\n    files: &f [x.py]\n  b:\n    files: *f\n"
    # b's alias is written out; a's anchor is b's value too: left to the user
    assert edit(text, files("b", "y.py")) == (
        "tasks:\n  a:\n    files: &f [x.py]\n  b:\n    files: [x.py, y.py]\n"
    )
    with pytest.raises(EditError, match="YAML alias"):
        apply_to_yaml(text, [files("a", "y.py")])


def test_no_change_leaves_the_text_as_it_is() -> None:
    assert apply_to_yaml(BLOCK, []) == BLOCK
    assert apply_to_yaml(BLOCK, [dep("b", "a"), files("a", "a.py")]) == BLOCK


def test_values_that_need_quotes_are_quoted() -> None:
    for value in ("*.py", "a: b", "!x", "x, y", "[x]", "#x", "123", "yes", "a\nb", " x", "é"):
        assert load_text(f"tasks: {{a: {{files: [{scalar_text(value)}]}}}}\n").tasks[
            "a"
        ].files == (value.strip(),)
        block = load_text(f"tasks:\n  a:\n    description: {scalar_text(value, flow=False)}\n")
        assert block.tasks["a"].description == value
    assert scalar_text("a, b", flow=False) == "a, b"
    assert scalar_text("shop/_*.py") == "shop/_*.py"


# -- render_plan -------------------------------------------------------------------------


def test_render_plan_writes_each_reason_beside_its_line() -> None:
    plan = frozen(
        {"a": {"role": "code-writer", "files": ["a.py", "m.py"]}, "b": {"files": ["b/**"]}}
    )
    changes = [
        Change("shared", None, "m.py", "file-conflict: shared", "file-conflict"),
        Change("unclaim", "a", "m.py", "file-conflict: shared", "file-conflict"),
        Change("unclaim", "b", "b/x.py", "not b's", "file-conflict"),
        Change("depends_on", "b", "a", "boundary: b runs a", "boundary-violation"),
        Change("wave", "b", 3, "overload", "wave-overload"),
    ]
    text = render_plan(plan, changes, tests_of={"a": ["tests/test_a.py"]}, header="one\ntwo")
    assert text == textwrap.dedent(
        """\
        # one
        # two
        version: 1
        max_parallel: 4
        shared:
          - m.py  # suggested: file-conflict: shared
        tasks:
          a:
            role: code-writer
            files:
              # suggested: dropped m.py: file-conflict: shared
              - a.py
            tests:
              - tests/test_a.py
          b:
            files:
              - b/**
              - "!b/x.py"  # suggested: not b's
            depends_on:
              - a  # suggested: boundary: b runs a
            wave: 3  # suggested: overload
        """
    )
    want = apply_changes(plan, [*changes, Change("files", "a", "x", "", "")])
    loaded = load_text(text)
    assert loaded.tasks["a"].tests == ("tests/test_a.py",)
    assert plan_content(loaded)["tasks"][1:] == plan_content(want)["tasks"][1:]
    assert loaded.shared == want.shared


# -- the central property: apply the suggestions, check again ---------------------------


EXAMPLE = """\
# an example shop
version: 1
max_parallel: 4              # wave 1 holds 5: an overload

shared:
  - shop/contracts.py

tasks:
  user-model:
    role: code-writer
    files: [shop/models/user.py]

  product-model:
    role: code-writer
    # claims the money helpers...
    files: [shop/models/product.py, shop/models/_money.py]
    tests: [tests/models/test_product.py]

  order-model:
    role: code-writer
    files: [shop/models/order.py, "shop/models/_*.py"]   # ...and so does this glob

  tax-model:
    role: code-writer
    files:
      - shop/models/tax.py
      - shop/models/_rates.py

  research:
    role: research
    files: [docs/research/*.md]
    no_tests: a written recommendation

  api:
    role: code-writer
    depends_on: [user-model, product-model, order-model]
    files: [shop/api.py]

  security:
    role: security
    depends_on: [api]
    files: [tests/test_security.py]
"""

SOURCES = (
    "shop/contracts.py",
    "shop/models/user.py",
    "shop/models/product.py",
    "shop/models/_money.py",
    "shop/models/_rates.py",
    "shop/models/order.py",
    "shop/models/tax.py",
    "shop/api.py",
    "shop/helpers.py",
    "shop/util.py",
    "docs/research/a.md",
    "tests/test_security.py",
)


def check(root: Path, plan: Plan, executed: Mapping[str, Collection[str]]) -> list[Finding]:
    return static_findings(Context(plan, Tree(root))) + boundary_findings(plan, "", runs(executed))


def found(findings: list[Finding]) -> set[tuple[str, str | None, str | None, str | None]]:
    fixable = ("file-conflict", "boundary-violation", "unowned-file", "wave-overload")
    return {(f.rule, f.task, f.other_task, f.file) for f in findings if f.rule in fixable}


@pytest.mark.parametrize("money_shared", [True, False])
def test_applying_the_suggestions_fixes_the_findings(tmp_path: Path, money_shared: bool) -> None:
    touch(tmp_path, *SOURCES)
    (tmp_path / "delegation.yaml").write_text(EXAMPLE)
    plan = load_plan(tmp_path / "delegation.yaml")
    plan.freeze(compute_waves(plan))
    executed = {
        # product-model's test builds a User: a boundary crossed
        "product-model": {
            "shop/models/product.py",
            "shop/models/_money.py",
            "shop/models/user.py",
        },
        "order-model": {"shop/models/order.py"}
        | ({"shop/models/_money.py"} if money_shared else set()),
        "user-model": {"shop/models/user.py", "shop/util.py", "shop/contracts.py"},
        "api": {"shop/api.py", "shop/helpers.py"},
        "security": {"shop/api.py", "shop/helpers.py", "tests/test_security.py"},
    }
    before = check(tmp_path, plan, executed)
    assert {rule for rule, *_ in found(before)} == {
        "file-conflict",
        "boundary-violation",
        "unowned-file",
        "wave-overload",
    }
    changes = suggest(plan, before, executed, durations={"research": 0.1, "tax-model": 2.0})
    text = apply_to_yaml(EXAMPLE, changes)
    # every comment line is still there, in order
    lines = iter(text.splitlines())
    comments = [line for line in EXAMPLE.splitlines() if line.lstrip().startswith("#")]
    assert all(any(line == other for other in lines) for line in comments)
    (tmp_path / "delegation.yaml").write_text(text)
    fixed = load_plan(tmp_path / "delegation.yaml")
    fixed.freeze(compute_waves(fixed))
    after = check(tmp_path, fixed, executed)
    assert found(after) == set(), render_changes(changes)
    assert all(len(wave) <= fixed.max_parallel for wave in fixed.waves)
    if money_shared:
        assert "shop/models/_money.py" in fixed.shared
    else:
        assert "product-model" in fixed.tasks["order-model"].depends_on
    # the fresh plan says the same as the edited one
    assert plan_content(load_text(render_plan(plan, changes))) == plan_content(fixed)


def test_a_starting_plan_for_an_inferred_plan(tmp_path: Path) -> None:
    test_files = ["tests/test_models.py", "tests/test_api.py", "tests/test_cli.py"]
    plan = infer_plan(test_files, tmp_path)
    plan.freeze(compute_waves(plan))
    assert list(plan.tasks) == ["tests-test-api", "tests-test-cli", "tests-test-models"]
    executed = {
        "tests-test-models": {"app/models.py", "app/money.py", "tests/test_models.py"},
        "tests-test-api": {"app/api.py", "app/money.py", "tests/conftest.py", "tests/test_api.py"},
        "tests-test-cli": {"app/cli.py", ".venv/lib/x.py", "tests/test_cli.py"},
    }
    victim = ordering("tests-test-cli", "tests-test-api", "victim")
    changes = starting_plan(plan, executed, [victim], test_files=test_files)
    assert kinds(changes) == [
        ("files", "tests-test-api", "app/api.py"),
        ("files", "tests-test-cli", "app/cli.py"),
        ("files", "tests-test-models", "app/models.py"),
        ("shared", None, "app/money.py"),
        ("depends_on", "tests-test-api", "tests-test-cli"),
    ]
    assert changes[3].reason.startswith(
        "unowned-file: run by the tests of 'tests-test-api' and 'tests-test-models': shared "
        "(the simple rule;"
    )
    text = render_plan(plan, changes, header="suggested by pytest-delegation")
    assert "      - app/api.py  # suggested: unowned-file: run by the tests of" in text
    (tmp_path / "delegation.yaml").write_text(text)
    suggested = load_plan(tmp_path / "delegation.yaml")
    suggested.freeze(compute_waves(suggested))
    assert suggested.waves == (("tests-test-cli", "tests-test-models"), ("tests-test-api",))
    assert suggested.tasks["tests-test-models"].tests == ("/tests/test_models.py",)
    runs_now = {
        t: {p for p in paths if not p.startswith(("tests/", ".venv"))}
        for t, paths in executed.items()
    }
    assert boundary_findings(suggested, "", runs(runs_now)) == []
    assert list(file_conflicts(suggested, Tree(tmp_path))) == []


# -- generated plans ---------------------------------------------------------------------

IDS = ["a", "b", "c", "d", "e"]
POOL = ["x.py", "pkg/a.py", "pkg/b.py", "pkg/_*.py", "docs/**", "*.md", "pkg/"]
ODD = ["*.cfg", "a b.py", "k: v.py", "!pkg/a.py", "[x].py", "x,y.py", "ü.py"]
FUZZ = settings(
    max_examples=int(os.environ.get("SUGGEST_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, len(IDS)))
    tasks: dict[str, Any] = {}
    for n, task_id in enumerate(IDS[:count]):
        task: dict[str, Any] = {}
        if draw(st.booleans()):
            task["role"] = draw(st.sampled_from(["code-writer", "research"]))
        task["files"] = draw(st.lists(st.sampled_from(POOL), max_size=3, unique=True))
        task["depends_on"] = draw(st.lists(st.sampled_from(IDS[:n] or ["-"]), max_size=2))
        task["depends_on"] = list(dict.fromkeys(d for d in task["depends_on"] if d != "-"))
        if draw(st.booleans()):
            task["wave"] = draw(st.integers(count + 1, count + 3))
        tasks[task_id] = task
    plan: dict[str, Any] = {"tasks": tasks}
    if draw(st.booleans()):
        plan["shared"] = draw(st.lists(st.sampled_from(POOL), max_size=2, unique=True))
    return plan


def write_list(draw: st.DrawFn, key: str, values: list[str], indent: str) -> list[str]:
    style = draw(st.sampled_from(["block", "flow", "scalar", "empty", "none"]))
    comment = draw(st.sampled_from(["", "   # note"]))
    if not values:
        return {"empty": [f"{indent}{key}:{comment}"], "flow": [f"{indent}{key}: []"]}.get(
            style, []
        )
    if style == "scalar" and len(values) == 1:
        return [f"{indent}{key}: {scalar_text(values[0], flow=False)}{comment}"]
    if style == "block":
        lines = [f"{indent}{key}:"]
        for value in values:
            lines.append(
                f"{indent}  - {scalar_text(value, flow=False)}{draw(st.sampled_from(['', '  # c']))}"
            )
            if draw(st.booleans()):
                lines.append(f"{indent}  # between items")
        return lines
    return [f"{indent}{key}: [{', '.join(scalar_text(v) for v in values)}]{comment}"]


@st.composite
def texts(draw: st.DrawFn, data: dict[str, Any]) -> str:
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    step = draw(st.sampled_from([2, 4]))
    lines = ["# generated", "version: 1"]
    if "shared" in data:
        lines += write_list(draw, "shared", data["shared"], "") or ["shared: []"]
    lines.append("tasks:" + draw(st.sampled_from(["", "  # the tasks"])))
    pad = " " * step
    for task_id, task in data["tasks"].items():
        if draw(st.integers(0, 3)) == 0:
            entries = [f"role: {task['role']}"] if "role" in task else []
            entries += [f"files: [{', '.join(scalar_text(v) for v in task['files'])}]"]
            if task["depends_on"]:
                entries.append(f"depends_on: [{', '.join(task['depends_on'])}]")
            if "wave" in task:
                entries.append(f"wave: {task['wave']}")
            lines.append(f"{pad}{task_id}: {{{', '.join(entries)}}}")
            continue
        body: list[str] = []
        inner = pad * 2
        if "role" in task:
            body.append(f"{inner}role: {task['role']}")
        body += write_list(draw, "files", task["files"], inner)
        body += write_list(draw, "depends_on", task["depends_on"], inner)
        if "wave" in task:
            body.append(f"{inner}wave: {task['wave']}{draw(st.sampled_from(['', '  # w']))}")
        if draw(st.booleans()):
            body.append(f"{inner}# closing {task_id}")
        if draw(st.booleans()):
            body.append("")
        lines.append(f"{pad}{task_id}:")
        lines += body
    return nl.join(lines) + nl


@st.composite
def changes_for(draw: st.DrawFn, data: dict[str, Any]) -> list[Change]:
    ids = list(data["tasks"])
    result = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["depends_on", "files", "shared", "unclaim", "wave", "task"]))
        task = draw(st.sampled_from(ids))
        if kind == "depends_on":
            # only on earlier tasks: no cycle
            earlier = ids[: ids.index(task)]
            if earlier:
                result.append(dep(task, draw(st.sampled_from(earlier))))
        elif kind == "files":
            result.append(files(task, draw(st.sampled_from(POOL + ODD))))
        elif kind == "shared":
            result.append(shared(draw(st.sampled_from(POOL + ODD))))
        elif kind == "unclaim":
            path = draw(st.sampled_from(["x.py", "pkg/a.py", "pkg/_m.py", "docs/x.md", "r.md"]))
            result.append(unclaim(task, path))
        elif kind == "wave":
            result.append(wave(task, draw(st.integers(len(ids) + 3, len(ids) + 6))))
        else:
            new = draw(st.sampled_from(["f", "g"]))
            result.append(
                Change("task", new, draw(st.sampled_from(["", "code-writer"])), "w", "x")
            )
    return result


@FUZZ
@given(st.data())
def test_edited_text_always_loads_as_the_fresh_plan(data: st.DataObject) -> None:
    plan_data = data.draw(plans())
    text = data.draw(texts(plan_data))
    before = load_text(text)
    assert [t.id for t in before.tasks.values()] == list(plan_data["tasks"])
    changes = data.draw(changes_for(plan_data))
    result = apply_to_yaml(text, changes)
    edited = load_text(result)
    assert plan_content(edited) == plan_content(load_text(render_plan(before, changes)))
    assert plan_content(edited) == plan_content(apply_changes(before, changes))
    # every comment line stays, in order; the line breaks stay what they were
    lines = iter(result.splitlines())
    comments = [line for line in text.splitlines() if line.strip().startswith("#")]
    assert all(any(line == other for other in lines) for line in comments)
    if "\r\n" in text:
        assert "\n" not in result.replace("\r\n", "")


FILES = ["m/a.py", "m/b.py", "m/_x.py", "m/_y.py", "u.py", "lib/c.py"]
PATTERNS = ["m/a.py", "m/b.py", "m/_x.py", "m/_*.py", "m/", "lib/c.py"]


@FUZZ
@given(st.data())
def test_suggestions_fix_what_they_answer_on_generated_plans(
    tmp_path: Path, data: st.DataObject
) -> None:
    touch(tmp_path, *FILES)
    count = data.draw(st.integers(2, 5))
    tasks: dict[str, Any] = {}
    for n, task_id in enumerate(IDS[:count]):
        deps = data.draw(st.lists(st.sampled_from(IDS[:n] or ["-"]), max_size=1))
        tasks[task_id] = {
            "files": data.draw(st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True)),
            "depends_on": [d for d in deps if d != "-"],
        }
    plan = frozen(tasks, max_parallel=data.draw(st.integers(1, 3)))
    executed = {
        task_id: set(data.draw(st.lists(st.sampled_from(FILES), max_size=3))) for task_id in tasks
    }
    before = check(tmp_path, plan, executed)
    durations = {t: data.draw(st.floats(0, 10)) for t in tasks}
    changes = suggest(plan, before, executed, durations=durations)
    fixed = applied(plan, changes)
    after = check(tmp_path, fixed, executed)
    pairs = {(f.rule, f.task, f.other_task) for f in after}
    for finding in before:
        if finding.rule in ("file-conflict", "boundary-violation"):
            assert (finding.rule, finding.task, finding.other_task) not in pairs
        if finding.rule == "unowned-file":
            assert finding.file not in {f.file for f in after if f.rule == "unowned-file"}
    assert not [f for f in after if f.rule == "wave-overload"]
