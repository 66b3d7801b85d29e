"""The static delegation rules: what can be told from the plan and the collection alone.

`static_findings` runs them all: file and resource conflicts between tasks of one wave,
verification that would run before (or beside) the work it verifies, waves larger than
``max_parallel``, tasks no test verifies, and tests claimed by several tasks or by none.
Who owns which file is `plan.ownership.Owners`' answer, as for every check.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from itertools import combinations

from pytest_delegation.checks.findings import WARNING
from pytest_delegation.checks.findings import Finding
from pytest_delegation.collect.mapping import Assignment
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.ownership import Owners
from pytest_delegation.plan.patterns import Tree


@dataclass(frozen=True)
class Context:
    """What the static rules look at.

    `tree` is the plan folder's files; `assignment` the collected tests' tasks and `refs`
    those tests' files and lines (by nodeid): without an assignment, only the plan's rules
    run.
    `complete_collection` is False when arguments or ``--lf`` narrowed what was collected
    (then a task without tests may just not have been collected). `plan_file` is the plan,
    relative to rootdir: the file of findings that point at a line of the plan.
    """

    plan: Plan
    tree: Tree
    assignment: Assignment | None = None
    refs: Mapping[str, TestRef] | None = None
    complete_collection: bool = True
    plan_file: str = "delegation.yaml"


def static_findings(ctx: Context) -> list[Finding]:
    """Every static rule's findings: the plan's first, then the collected tests'."""
    plan_level = [
        *file_conflicts(ctx.plan, ctx.tree),
        *resource_conflicts(ctx.plan),
        *verification_before_implementation(ctx.plan),
        *wave_overload(ctx.plan),
    ]
    if ctx.assignment is not None and ctx.complete_collection:
        plan_level.extend(unverified_tasks(ctx.plan, ctx.assignment))
    # a line without a file is a line of the plan: say so
    findings = [
        replace(f, file=ctx.plan_file) if f.file is None and f.line is not None else f
        for f in plan_level
    ]
    if ctx.assignment is not None:
        findings.extend(test_findings(ctx.assignment, ctx.refs or {}))
    return findings


def file_conflicts(plan: Plan, tree: Tree) -> Iterator[Finding]:
    """Same-wave tasks that claim one file: in the tree, by literal path, or literal-in-glob.

    Under CODEOWNERS' rule (``plan.ownership_rules``) a path has the owners of one rule,
    the last that matches it, and overlapping patterns are no conflict: two tasks claim a
    file only when that rule names both. The tasks no rule names keep the plan's rule for
    the paths no rule matches.
    """
    owners = Owners(plan)
    if not plan.ownership_rules:
        yield from _claim_conflicts(plan, tree, owners, set(plan.tasks), lambda path: True)
        return
    yield from _co_owner_conflicts(plan, tree, owners)
    named = {task_id for _, task_ids in owners.rules for task_id in task_ids}
    yield from _claim_conflicts(
        plan,
        tree,
        owners,
        set(plan.tasks) - named,
        lambda path: owners.rule(path) is None,
    )


def _claim_conflicts(
    plan: Plan,
    tree: Tree,
    owners: Owners,
    among: set[str],
    free: Callable[[str], bool],
) -> Iterator[Finding]:
    """The plan's rule: tasks (of `among`) whose ``files:`` hold one path (when `free`)."""
    sets = owners.sets
    for wave in plan.waves:
        claiming = [task_id for task_id in wave if sets[task_id] and task_id in among]
        if len(claiming) < 2:
            continue
        overlaps: dict[tuple[str, str], set[str]] = {}
        # file -> the tasks of this wave that claim it
        claims: dict[str, list[str]] = {}
        for task_id in claiming:
            for path in sets[task_id].matching(tree):
                claims.setdefault(path, []).append(task_id)
            for path in sets[task_id].literals:
                # planned but not written yet
                if path not in tree.files:
                    claims.setdefault(path, []).append(task_id)
        for path, tasks in claims.items():
            if not free(path):
                continue
            for pair in combinations(sorted(set(tasks)), 2):
                overlaps.setdefault(pair, set()).add(path)
        # a literal of one task inside another's glob (planned, or in the tree): only the
        # tasks whose patterns can reach the literal's folder are asked
        index = owners.among(claiming)
        for one in claiming:
            for path in sets[one].literals:
                if not free(path):
                    continue
                for other in index.matching(path):
                    if other != one:
                        pair = (one, other) if one < other else (other, one)
                        overlaps.setdefault(pair, set()).add(path)
        for (a, b), paths in sorted(overlaps.items()):
            shown = sorted(paths)
            more = f" and {len(shown) - 1} more" if len(shown) > 1 else ""
            yield Finding(
                "file-conflict",
                f"tasks '{a}' and '{b}' of wave {plan.wave_of(a)} both claim {shown[0]}{more}",
                fix=(
                    "give each file to one task, or make one task depend on the other "
                    "so they run in different waves"
                ),
                task=a,
                other_task=b,
                file=shown[0],
                extra={
                    "files": shown,
                    "plan_line": plan.tasks[a].positions.get("files", plan.tasks[a].line),
                },
            )


def _co_owner_conflicts(plan: Plan, tree: Tree, owners: Owners) -> Iterator[Finding]:
    """CODEOWNERS lines naming several owners of one wave, for the files they decide."""
    waves = {task_id: n for n, wave in enumerate(plan.waves, start=1) for task_id in wave}
    for number, (patterns, task_ids) in enumerate(owners.rules):
        pairs = [
            (a, b)
            for a, b in combinations(sorted(task_ids), 2)
            if a in waves and waves[a] == waves.get(b)
        ]
        if not pairs:
            continue
        # the files this line decides (no later line matches them), and the paths it
        # names that are not written yet (not a file, nor a folder of the tree)
        paths = {path for path in patterns.matching(tree) if owners.rule(path) == number}
        paths.update(
            path
            for path in patterns.literals
            if path not in tree.files
            and next(tree.under(path), None) is None
            and owners.rule(path) == number
        )
        if not paths:
            continue
        line = plan.ownership_rules[number][2]
        shown = sorted(paths)
        more = f" and {len(shown) - 1} more" if len(shown) > 1 else ""
        for a, b in pairs:
            yield Finding(
                "file-conflict",
                f"CODEOWNERS line {line} gives {shown[0]}{more} to both '{a}' and '{b}', "
                f"tasks of wave {waves[a]}",
                fix=(
                    f"name one owner on CODEOWNERS line {line} (or on a later line, for the "
                    "files only one of them writes), or make one task depend on the other "
                    "so they run in different waves"
                ),
                task=a,
                other_task=b,
                file=shown[0],
                extra={
                    "files": shown,
                    "plan_line": plan.tasks[a].positions.get("files", plan.tasks[a].line),
                    "codeowners_line": line,
                },
            )


def resource_conflicts(plan: Plan) -> Iterator[Finding]:
    for wave in plan.waves:
        users: dict[str, list[str]] = {}
        for task_id in wave:
            for resource in plan.tasks[task_id].resources:
                users.setdefault(resource, []).append(task_id)
        for resource, tasks in sorted(users.items()):
            for a, b in combinations(tasks, 2):
                yield Finding(
                    "resource-conflict",
                    f"tasks '{a}' and '{b}' of wave {plan.wave_of(a)} both use the resource "
                    f"'{resource}'",
                    fix="make one depend on the other, or give each its own resource",
                    task=a,
                    other_task=b,
                    line=plan.tasks[a].positions.get("resources", plan.tasks[a].line),
                    extra={"resource": resource},
                )


def verification_before_implementation(plan: Plan) -> Iterator[Finding]:
    for task in plan.tasks.values():
        if not task.verifies:
            continue
        if not task.depends_on:
            yield Finding(
                "verification-before-implementation",
                f"'{task.id}' is a {task.role} task but depends on nothing, so it would "
                "verify work that is not done yet",
                fix=f"add the tasks it verifies to depends_on of '{task.id}'",
                task=task.id,
                line=task.line,
            )
            continue
        deps = transitive_dependencies(plan.tasks, task.id)
        wave = plan.wave_of(task.id)
        for other in plan.waves[wave - 1]:
            peer = plan.tasks[other]
            if other != task.id and peer.role == "code-writer" and other not in deps:
                yield Finding(
                    "verification-before-implementation",
                    f"'{task.id}' ({task.role}) runs in wave {wave} beside '{other}', "
                    "code that is still being written",
                    fix=f"add '{other}' to depends_on of '{task.id}', or ignore this rule "
                    f"for '{task.id}' if it does not verify that work",
                    task=task.id,
                    other_task=other,
                    line=task.line,
                )


def wave_overload(plan: Plan) -> Iterator[Finding]:
    for number, wave in enumerate(plan.waves, start=1):
        if len(wave) > plan.max_parallel:
            yield Finding(
                "wave-overload",
                f"wave {number} holds {len(wave)} tasks, more than max_parallel "
                f"({plan.max_parallel}); they cannot all run at once",
                fix="raise max_parallel, or chain some tasks with depends_on",
                line=plan.lines.get("max_parallel"),
                extra={"wave": number},
            )


def unverified_tasks(plan: Plan, assignment: Assignment) -> Iterator[Finding]:
    # a test two tasks claim runs with one of them, but it is a test of both: the
    # ambiguous-test finding covers it, and 'unverified' would be a second, false alarm
    claimed = {task for tasks in assignment.ambiguous.values() for task in tasks}
    for task_id, task in plan.tasks.items():
        if assignment.by_task.get(task_id) or task_id in claimed:
            continue
        if task.no_tests:
            yield Finding(
                "unverified-task",
                f"task '{task_id}' has no tests: {task.no_tests}",
                severity=WARNING,
                task=task_id,
                line=task.line,
            )
        else:
            yield Finding(
                "unverified-task",
                f"task '{task_id}' has no tests, so nothing verifies it on its own",
                fix=f'mark its tests with @pytest.mark.task("{task_id}"), add "tests:" '
                'selectors, or say why with "no_tests: <reason>"',
                task=task_id,
                line=task.line,
            )


def test_findings(assignment: Assignment, refs: Mapping[str, TestRef]) -> Iterator[Finding]:
    for nodeid, tasks in assignment.ambiguous.items():
        ref = refs.get(nodeid)
        yield Finding(
            "ambiguous-test",
            f"{nodeid} belongs to {len(tasks)} tasks: {', '.join(tasks)}; it runs with "
            f"'{tasks[0]}'",
            fix="narrow the tests: selectors, or mark the test with the one task it verifies",
            task=tasks[0],
            other_task=tasks[1],
            test=nodeid,
            file=ref.path if ref else None,
            line=ref.line if ref else None,
        )
    for nodeid in assignment.untagged:
        ref = refs.get(nodeid)
        yield Finding(
            "untagged-test",
            f"{nodeid} belongs to no task; it still runs, after the last wave",
            fix='mark it with @pytest.mark.task("<id>") or add it to a task\'s tests:',
            test=nodeid,
            file=ref.path if ref else None,
            line=ref.line if ref else None,
        )
