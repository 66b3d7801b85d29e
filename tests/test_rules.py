"""The static rules: what the plan and the collection alone tell about broken promises."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
import textwrap
from typing import Any

from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pathspec
import pytest

from pytest_delegation.checks.findings import ERROR
from pytest_delegation.checks.findings import RULES
from pytest_delegation.checks.findings import WARNING
from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.findings import fails
from pytest_delegation.checks.findings import is_ignored
from pytest_delegation.checks.findings import parse_ignores
from pytest_delegation.checks.static import Context
from pytest_delegation.checks.static import file_conflicts
from pytest_delegation.checks.static import resource_conflicts
from pytest_delegation.checks.static import static_findings
from pytest_delegation.checks.static import test_findings as findings_for_tests
from pytest_delegation.checks.static import unverified_tasks
from pytest_delegation.checks.static import verification_before_implementation
from pytest_delegation.checks.static import wave_overload
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.collect.mapping import assign
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import Tree
from pytest_delegation.plan.patterns import _for_spec
from pytest_delegation.plan.patterns import pattern_problem
from pytest_delegation.plan.waves import compute_waves


def yaml_plan(tmp_path: Path, text: str) -> Plan:
    path = tmp_path / "delegation.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    plan = load_plan(path)
    plan.freeze(compute_waves(plan))
    return plan


def dict_plan(tmp_path: Path, tasks: dict[str, Any], **top: Any) -> Plan:
    plan = plan_from_dict({"tasks": tasks, **top}, tmp_path / "delegation.yaml")
    plan.freeze(compute_waves(plan))
    return plan


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")


def rules_of(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


# -- file-conflict -------------------------------------------------------------------------


def test_file_conflict_via_existing_files_matched_by_both(tmp_path: Path) -> None:
    touch(tmp_path, "shop/models/user.py", "shop/models/order.py", "shop/api.py", "docs/a.md")
    plan = yaml_plan(
        tmp_path,
        """
        tasks:
          models:
            role: code-writer
            files: [shop/models/**]
          python:
            role: code-writer
            files:
              - "*.py"
          docs:
            files: [docs/]
        """,
    )
    findings = list(file_conflicts(plan, Tree(tmp_path)))
    assert len(findings) == 1
    finding = findings[0]
    assert finding.rule == "file-conflict"
    assert finding.severity == ERROR
    assert (finding.task, finding.other_task) == ("models", "python")
    assert finding.file == "shop/models/order.py"
    assert finding.extra == {
        "files": ["shop/models/order.py", "shop/models/user.py"],
        "plan_line": 4,  # the 'files' of the first task
    }
    assert finding.line is None  # a line of the plan, not of the conflicting file
    assert finding.message == (
        "tasks 'models' and 'python' of wave 1 both claim shop/models/order.py and 1 more"
    )


def test_file_conflict_via_identical_literal_paths_not_written_yet(tmp_path: Path) -> None:
    plan = dict_plan(
        tmp_path,
        {"a": {"files": ["new/module.py"]}, "b": {"files": ["/new/module.py", "other.py"]}},
    )
    findings = list(file_conflicts(plan, Tree(tmp_path)))
    assert [(f.task, f.other_task, f.file) for f in findings] == [("a", "b", "new/module.py")]
    assert findings[0].message == "tasks 'a' and 'b' of wave 1 both claim new/module.py"


def test_file_conflict_via_a_literal_inside_the_other_glob(tmp_path: Path) -> None:
    touch(tmp_path, "unrelated.txt")
    plan = dict_plan(
        tmp_path, {"writer": {"files": ["src/pkg/new.py"]}, "globber": {"files": ["src/**/*.py"]}}
    )
    findings = list(file_conflicts(plan, Tree(tmp_path)))
    assert [(f.task, f.other_task, f.file) for f in findings] == [
        ("globber", "writer", "src/pkg/new.py")
    ]


def test_a_negated_file_is_no_conflict(tmp_path: Path) -> None:
    touch(tmp_path, "docs/a.md", "docs/x.md")
    plan = dict_plan(
        tmp_path, {"docs": {"files": ["docs/**", "!docs/x.md"]}, "x": {"files": ["docs/x.md"]}}
    )
    assert list(file_conflicts(plan, Tree(tmp_path))) == []


def test_no_file_conflict_across_waves(tmp_path: Path) -> None:
    touch(tmp_path, "shared.py")
    plan = dict_plan(
        tmp_path,
        {
            "a": {"files": ["shared.py", "later.py"]},
            "b": {"files": ["shared.py", "later.py"], "depends_on": ["a"]},
        },
    )
    assert plan.waves == (("a",), ("b",))
    assert list(file_conflicts(plan, Tree(tmp_path))) == []


def test_no_file_conflict_for_disjoint_files_or_tasks_without_files(tmp_path: Path) -> None:
    touch(tmp_path, "a.py", "b.py")
    plan = dict_plan(
        tmp_path, {"a": {"files": ["/a.py"]}, "b": {"files": ["/b.py"]}, "c": {}, "d": None}
    )
    assert list(file_conflicts(plan, Tree(tmp_path))) == []


def test_file_conflicts_are_one_finding_per_pair(tmp_path: Path) -> None:
    plan = dict_plan(
        tmp_path,
        {"a": {"files": ["x.py"]}, "b": {"files": ["x.py"]}, "c": {"files": ["x.py"]}},
    )
    pairs = [(f.task, f.other_task) for f in file_conflicts(plan, Tree(tmp_path))]
    assert pairs == [("a", "b"), ("a", "c"), ("b", "c")]


# -- resource-conflict ---------------------------------------------------------------------


def test_resource_conflict(tmp_path: Path) -> None:
    plan = yaml_plan(
        tmp_path,
        """
        tasks:
          a:
            resources: [database, cache]
          b:
            resources: database
          c:
            resources: [queue]
          d:
            depends_on: [a]
            resources: [database, cache]
        """,
    )
    findings = list(resource_conflicts(plan))
    assert len(findings) == 1
    finding = findings[0]
    assert finding.rule == "resource-conflict"
    assert finding.severity == ERROR
    assert (finding.task, finding.other_task) == ("a", "b")
    assert finding.extra == {"resource": "database"}
    assert finding.line == 3
    assert finding.message == "tasks 'a' and 'b' of wave 1 both use the resource 'database'"


# -- unverified-task -----------------------------------------------------------------------


def test_unverified_task_error_and_warning_with_a_reason(tmp_path: Path) -> None:
    plan = yaml_plan(
        tmp_path,
        """
        tasks:
          tested:
            tests: [tests/test_tested.py]
          untested: {}
          prose:
            no_tests: documentation only
        """,
    )
    assignment = assign([TestRef("tests/test_tested.py::t", "tests/test_tested.py")], plan, "")
    findings = list(unverified_tasks(plan, assignment))
    assert [(f.rule, f.task, f.severity, f.line) for f in findings] == [
        ("unverified-task", "untested", ERROR, 4),
        ("unverified-task", "prose", WARNING, 5),
    ]
    assert findings[0].message == "task 'untested' has no tests, so nothing verifies it on its own"
    assert "no_tests: <reason>" in findings[0].fix
    assert findings[1].message == "task 'prose' has no tests: documentation only"


def test_unverified_only_on_a_complete_collection(tmp_path: Path) -> None:
    plan = dict_plan(tmp_path, {"a": {}})
    assignment = assign([], plan, "")
    complete = Context(plan, Tree(tmp_path), assignment=assignment)
    partial = Context(plan, Tree(tmp_path), assignment=assignment, complete_collection=False)
    assert rules_of(static_findings(complete)) == ["unverified-task"]
    assert rules_of(static_findings(partial)) == []


# -- verification-before-implementation ------------------------------------------------------


def test_verification_role_without_dependencies(tmp_path: Path) -> None:
    plan = yaml_plan(
        tmp_path,
        """
        tasks:
          review:
            role: code-reviewer
          tests:
            role: test-runner
            depends_on: [writer]
          writer:
            role: code-writer
          research:
            role: research
        """,
    )
    findings = list(verification_before_implementation(plan))
    assert [(f.rule, f.task, f.other_task, f.line) for f in findings] == [
        ("verification-before-implementation", "review", None, 2)
    ]
    assert "'review' is a code-reviewer task but depends on nothing" in findings[0].message


def test_verification_beside_a_code_writer_of_the_same_wave(tmp_path: Path) -> None:
    plan = dict_plan(
        tmp_path,
        {
            "base": {"role": "code-writer"},
            "audit": {"role": "security", "depends_on": ["base"]},
            "feature": {"role": "code-writer", "depends_on": ["base"]},
            "guide": {"role": "documentation", "depends_on": ["base"]},
        },
    )
    assert plan.waves == (("base",), ("audit", "feature", "guide"))
    findings = list(verification_before_implementation(plan))
    assert [(f.task, f.other_task) for f in findings] == [("audit", "feature")]
    assert findings[0].message == (
        "'audit' (security) runs in wave 2 beside 'feature', code that is still being written"
    )


def test_verification_after_the_work_is_fine(tmp_path: Path) -> None:
    plan = dict_plan(
        tmp_path,
        {
            "a": {"role": "code-writer"},
            "b": {"role": "code-writer", "depends_on": ["a"]},
            "check": {"role": "test-runner", "depends_on": ["b"]},
        },
    )
    assert list(verification_before_implementation(plan)) == []


# -- wave-overload -------------------------------------------------------------------------


def test_wave_overload(tmp_path: Path) -> None:
    plan = yaml_plan(
        tmp_path,
        """
        version: 1
        max_parallel: 2
        tasks:
          a: {}
          b: {}
          c: {}
          d:
            depends_on: [a]
        """,
    )
    findings = list(wave_overload(plan))
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.rule, finding.severity, finding.line) == ("wave-overload", WARNING, 2)
    assert finding.extra == {"wave": 1}
    assert finding.message == (
        "wave 1 holds 3 tasks, more than max_parallel (2); they cannot all run at once"
    )


def test_no_overload_at_the_limit(tmp_path: Path) -> None:
    plan = dict_plan(tmp_path, {"a": {}, "b": {}}, max_parallel=2)
    assert list(wave_overload(plan)) == []


# -- tests: untagged and ambiguous ---------------------------------------------------------


def test_untagged_test(tmp_path: Path) -> None:
    plan = dict_plan(tmp_path, {"a": {"tests": ["tests/test_a.py"]}})
    stray = TestRef("tests/test_other.py::test_x", "tests/test_other.py", (), 12)
    assignment = assign([stray, TestRef("tests/test_a.py::t", "tests/test_a.py")], plan, "")
    findings = list(findings_for_tests(assignment, {stray.nodeid: stray}))
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.rule, finding.severity) == ("untagged-test", WARNING)
    assert (finding.test, finding.file, finding.line) == (stray.nodeid, "tests/test_other.py", 12)
    assert finding.task is None
    assert "belongs to no task; it still runs, after the last wave" in finding.message


def test_ambiguous_test(tmp_path: Path) -> None:
    plan = dict_plan(
        tmp_path, {"a": {"tests": ["tests/"]}, "b": {"tests": ["tests/test_x.py::test_y"]}}
    )
    both = TestRef("tests/test_x.py::test_y", "tests/test_x.py", (), 7)
    assignment = assign([both], plan, "")
    findings = list(findings_for_tests(assignment, {both.nodeid: both}))
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.rule, finding.severity) == ("ambiguous-test", ERROR)
    assert (finding.task, finding.other_task, finding.test) == ("a", "b", both.nodeid)
    assert (finding.file, finding.line) == ("tests/test_x.py", 7)
    assert finding.message == (
        "tests/test_x.py::test_y belongs to 2 tasks: a, b; it runs with 'a'"
    )


def test_test_findings_without_refs_have_no_location(tmp_path: Path) -> None:
    plan = dict_plan(tmp_path, {"a": {}})
    assignment = assign([TestRef("x.py::t", "x.py")], plan, "")
    (finding,) = findings_for_tests(assignment, {})
    assert (finding.test, finding.file, finding.line) == ("x.py::t", None, None)


# -- everything together -------------------------------------------------------------------


def test_static_findings_collects_every_rule(tmp_path: Path) -> None:
    touch(tmp_path, "app/core.py")
    plan = dict_plan(
        tmp_path,
        {
            "core": {"role": "code-writer", "files": ["app/**"], "resources": ["db"]},
            "api": {"role": "code-writer", "files": ["app/core.py"], "resources": ["db"]},
            "review": {"role": "code-reviewer"},
        },
        max_parallel=2,
    )
    refs = [TestRef("t.py::stray", "t.py", (), 3)]
    assignment = assign(refs, plan, "")
    ctx = Context(plan, Tree(tmp_path), assignment, {r.nodeid: r for r in refs})
    assert sorted(rules_of(static_findings(ctx))) == [
        "file-conflict",
        "resource-conflict",
        "untagged-test",
        "unverified-task",
        "unverified-task",
        "unverified-task",
        "verification-before-implementation",
        "wave-overload",
    ]
    # without a collection, only the plan-level rules
    assert sorted(rules_of(static_findings(Context(plan, Tree(tmp_path))))) == [
        "file-conflict",
        "resource-conflict",
        "verification-before-implementation",
        "wave-overload",
    ]


# -- findings helpers ----------------------------------------------------------------------


def test_finding_defaults_where_and_json() -> None:
    finding = Finding(
        "file-conflict",
        "boom",
        fix="split",
        task="a",
        other_task="b",
        file="x.py",
        line=3,
        extra={"files": ["x.py"]},
    )
    assert finding.severity == ERROR
    assert finding.where() == "task a, with b, x.py:3"
    assert finding.to_json() == {
        "rule": "file-conflict",
        "severity": "error",
        "task": "a",
        "other_task": "b",
        "file": "x.py",
        "line": 3,
        "files": ["x.py"],
        "message": "boom",
        "fix": "split",
    }
    untagged = Finding("untagged-test", "m", test="t.py::x", file="t.py")
    assert untagged.severity == WARNING
    assert untagged.where() == "t.py::x"
    assert "fix" not in untagged.to_json()
    assert Finding("flaky", "m", severity=ERROR).severity == ERROR
    with pytest.raises(KeyError):
        Finding("no-such-rule", "m")


def test_parse_ignores_and_is_ignored() -> None:
    ignores, problems = parse_ignores(["file-conflict, untagged-test:a", "flaky", "file-conflit"])
    assert ignores == {("file-conflict", None), ("untagged-test", "a"), ("flaky", None)}
    assert problems == [
        "delegation_ignore: unknown rule 'file-conflit'; did you mean 'file-conflict'?"
    ]
    assert is_ignored(Finding("file-conflict", "m", task="z"), ignores)
    assert is_ignored(Finding("untagged-test", "m", task="a"), ignores)
    assert not is_ignored(Finding("untagged-test", "m", task="b"), ignores)
    assert not is_ignored(Finding("resource-conflict", "m", task="a"), ignores)


def test_fails() -> None:
    warning = Finding("wave-overload", "m")
    error = Finding("file-conflict", "m")
    assert fails([warning, error], "error")
    assert not fails([warning], "error")
    assert fails([warning], "warning")
    assert not fails([warning, error], "never")
    assert set(RULES.values()) == {ERROR, WARNING}


# -- file-conflict: the indexed rule against the pairwise one --------------------------------


def pairwise_file_conflicts(plan: Plan, tree: Tree) -> list[tuple[str, str, list[str]]]:
    """What file_conflicts found before the index: every pair asked, every file scanned."""

    def spec(pattern_set: PatternSet) -> pathspec.GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines(_for_spec(p) for p in pattern_set.patterns)

    def matches(pattern_set: PatternSet, path: str) -> bool:
        if pattern_set.only_literals:
            return any(path == lit or path.startswith(lit + "/") for lit in pattern_set.literals)
        return bool(spec(pattern_set).match_file(path))

    def matching(pattern_set: PatternSet) -> set[str]:
        if pattern_set.only_literals:
            found = set()
            for lit in pattern_set.literals:
                if lit in tree.files:
                    found.add(lit)
                else:
                    found.update(p for p in tree.files if p.startswith(lit + "/"))
            return found
        return {path for path in tree.files if spec(pattern_set).match_file(path)}

    sets = {task_id: PatternSet(task.files) for task_id, task in plan.tasks.items()}
    found: list[tuple[str, str, list[str]]] = []
    for wave in plan.waves:
        claiming = [task_id for task_id in wave if sets[task_id]]
        overlaps: dict[tuple[str, str], set[str]] = {}
        owners: dict[str, list[str]] = {}
        for task_id in claiming:
            for path in matching(sets[task_id]):
                owners.setdefault(path, []).append(task_id)
            for path in sets[task_id].literals:
                if path not in tree.files:
                    owners.setdefault(path, []).append(task_id)
        for path, tasks in owners.items():
            for pair in combinations(sorted(set(tasks)), 2):
                overlaps.setdefault(pair, set()).add(path)
        for a, b in combinations(claiming, 2):
            for one, other in ((a, b), (b, a)):
                for path in sets[one].literals:
                    if matches(sets[other], path):
                        x, y = sorted((one, other))
                        overlaps.setdefault((x, y), set()).add(path)
        found.extend((a, b, sorted(paths)) for (a, b), paths in sorted(overlaps.items()))
    return found


FILE_SEGMENTS = ["pkg", "a", "b", "x.py", "y.py", "docs", "*", "**", "*.py", "a*", "?"]
file_pattern = st.builds(
    lambda lead, parts, tail: lead + "/".join(parts) + tail,
    st.sampled_from(["", "", "", "/", "./", "!", "**/"]),
    st.lists(st.sampled_from(FILE_SEGMENTS), min_size=1, max_size=3),
    st.sampled_from(["", "", "/"]),
)
tree_path = st.lists(
    st.sampled_from([s for s in FILE_SEGMENTS if "*" not in s and "?" not in s]),
    min_size=1,
    max_size=4,
).map("/".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(st.lists(file_pattern, max_size=3), min_size=2, max_size=7),
    tree_files=st.sets(tree_path, max_size=20),
    split=st.integers(min_value=0, max_value=7),
)
def test_file_conflicts_match_the_pairwise_rule(
    files: list[list[str]], tree_files: set[str], split: int
) -> None:
    assume(all(pattern_problem(p) is None for task_files in files for p in task_files))
    plan = Plan(path=Path("/project/delegation.yaml"))
    ids = [f"t{n}" for n in range(len(files))]
    for task_id, task_files in zip(ids, files, strict=True):
        plan.add_task(Task(id=task_id, files=tuple(task_files)))
    plan.freeze(tuple(wave for wave in (tuple(ids[:split]), tuple(ids[split:])) if wave))
    tree = Tree(Path("/nonexistent"))
    tree.__dict__["files"] = frozenset(tree_files)
    found = [(f.task, f.other_task, f.extra["files"]) for f in file_conflicts(plan, tree)]
    assert found == pairwise_file_conflicts(plan, tree)
