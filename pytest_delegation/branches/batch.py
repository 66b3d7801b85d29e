"""A parallel batch checked where it was done: each task on its branch, then the merge.

1. Each task whose branch exists runs its tests in a copy of the branch's head (one run
   per branch, side by side); its branch's diff from the base is held to its files.
2. Wave by wave, the branches that passed, in their files, whose dependencies were
   accepted, are merged onto the base and the accepted earlier waves, in plan order
   (``git merge-tree``: nothing of the user's is touched). A textual conflict is a
   `merge-conflict`.
3. The merged tree runs the tests of the wave, of the waves before it, and of the wave's
   tasks without a branch. A test that passed before and fails now is an
   `integration-failure`, pinned to the branch whose merge breaks it by leaving one
   branch out at a time; that branch is not accepted.
4. Every task gets its action (``branches.actions``). Runs that passed are kept in
   pytest's cache by what they ran (commit, tasks, checks, arguments, plan): a second
   batch re-runs only what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import copy
from dataclasses import dataclass
from dataclasses import field
import hashlib
import json
from typing import Any

from pytest_delegation.branches import git
from pytest_delegation.branches.actions import TaskState
from pytest_delegation.branches.actions import decide
from pytest_delegation.branches.runs import Launcher
from pytest_delegation.branches.runs import RunOutput
from pytest_delegation.branches.runs import TreeRun
from pytest_delegation.branches.trees import Trees
from pytest_delegation.checks.changes import branch_findings
from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import BranchInfo
from pytest_delegation.report.model import Failure
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.names import plural
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status


#: checks a branch run makes; the order check runs on the last merged tree only
BRANCH_CHECKS = ("isolation", "boundaries")
CACHE_KEY = "delegation/branches"
#: lines of a failing test's output kept for a retry
OUTPUT_LINES = 60
#: the statuses of a task whose tests did not fail (none at all counts: nothing failed)
PASSING_STATUSES = frozenset({Status.PASSED, Status.FLAKY, Status.SKIPPED, Status.NOT_RUN})
PASSED_OUTCOMES = frozenset({Outcome.PASSED, Outcome.XFAILED, Outcome.SKIPPED})


@dataclass
class Batch:
    """What the batch found: the runs, the findings of its own, each task's action."""

    runs: list[RunOutput] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    states: dict[str, TaskState] = field(default_factory=dict)
    actions: dict[str, TaskAction] = field(default_factory=dict)
    branches: dict[str, BranchInfo] = field(default_factory=dict)
    #: the run each task's result is taken from
    source: dict[str, RunOutput] = field(default_factory=dict)
    #: a test -> the run whose report of it is replayed (its last word)
    believed: dict[str, RunOutput] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: each task -> the commit its tests last ran on
    ran_at: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """Everything the batch needs from the session, so it can run without pytest."""

    plan: Plan
    plan_dir: str
    repo: git.Repo
    base: str
    base_ref: str
    names: Mapping[str, str]
    #: the tasks whose branch exists -> its head; those whose branch does not -> its name
    heads: Mapping[str, str]
    missing: Mapping[str, str]
    launcher: Launcher
    trees: Trees
    #: user's pytest arguments for the runs, and the invocation folder in a tree
    args: tuple[str, ...]
    cwd: str
    checks: tuple[str, ...]
    workers: int
    digest: str
    cache_get: Callable[[str], Any]
    cache_set: Callable[[str, Any], None]


def find_heads(
    repo: git.Repo, plan: Plan, names: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each task's branch head; BranchError when a branch the plan names is missing.

    A task's own ``branch:`` must exist. Of the template's names, those missing are
    tasks whose work is on the base; but when none exists, the template is wrong.
    """
    heads, missing = git.branch_heads(repo, names)
    explicit = {t: n for t, n in missing.items() if plan.tasks[t].branch}
    if explicit or (missing and not heads):
        raise git.BranchError(git.missing_message(repo, explicit or missing))
    return heads, missing


def run_batch(ctx: Context) -> Batch:
    batch = Batch()
    plan = ctx.plan
    heads, missing = ctx.heads, ctx.missing
    if missing:
        batch.notes.append(
            f"no branch for {', '.join(sorted(missing))}: "
            f"{'it runs' if len(missing) == 1 else 'they run'} on the base "
            f"({ctx.base_ref}) with the accepted work merged"
        )
    for task_id in plan.tasks:
        batch.states[task_id] = TaskState(has_branch=task_id in heads)
    changed = _bounds(ctx, heads, batch)
    _branch_runs(ctx, heads, batch)
    trial = copy.deepcopy(batch)
    if _all_at_once(ctx, heads, changed, trial):
        batch = trial
    else:
        batch.notes.append(
            "the whole batch merged at once failed tests that passed on their branches: "
            "merged and checked again wave by wave, to pin each failure to its branch"
        )
        _merge_waves(ctx, heads, changed, batch)
    batch.actions = decide(plan, batch.states)
    return batch


def _bounds(ctx: Context, heads: Mapping[str, str], batch: Batch) -> dict[str, set[str]]:
    """Each branch's changed files since it left the base, held to its task's files."""
    changed: dict[str, set[str]] = {}
    for task_id, head in heads.items():
        since = git.merge_base(ctx.repo, ctx.base, head)
        if since is None:
            batch.notes.append(
                f"branch {ctx.names[task_id]} shares no history with {ctx.base_ref}: its "
                "changes are counted from the base itself"
            )
            since = ctx.base
        files = git.changed_files(ctx.repo, since, head)
        changed[task_id] = set(files)
        found = branch_findings(ctx.plan, ctx.plan_dir, task_id, ctx.names[task_id], files)
        batch.findings += found
        if found:
            batch.states[task_id].out_of_bounds = tuple(found[0].extra["files"])
    return changed


def _key(ctx: Context, kind: str, commit: str, tasks: Sequence[str], *more: str) -> str:
    """What a run's result depends on, for the cache: a passing one is never re-run."""
    text = json.dumps(
        [kind, commit, ctx.base, list(tasks), list(ctx.args), ctx.digest, *more],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _run(ctx: Context, runs: Sequence[TreeRun], parallel: int, batch: Batch) -> list[RunOutput]:
    """The runs, the ones a passing earlier batch made taken from pytest's cache."""
    outputs: dict[int, RunOutput] = {}
    todo: list[tuple[int, TreeRun]] = []
    for index, run in enumerate(runs):
        cached = None
        if run.key is not None:
            cached = RunOutput.from_cache(run, ctx.cache_get(f"{CACHE_KEY}/{run.key}"))
        if cached is not None:
            outputs[index] = cached
        else:
            todo.append((index, run))
    fresh = ctx.launcher.run_all([run for _, run in todo], parallel)
    for (index, run), output in zip(todo, fresh, strict=True):
        outputs[index] = output
        if run.key is not None and output.ok and not output.foreign:
            ctx.cache_set(f"{CACHE_KEY}/{run.key}", output.to_cache())
    done = [outputs[i] for i in range(len(runs))]
    batch.runs += done
    return done


def _branch_runs(ctx: Context, heads: Mapping[str, str], batch: Batch) -> None:
    plan = ctx.plan
    runs = []
    for task_id, head in heads.items():
        # a dependency's new head re-runs its dependents too
        deps = sorted(f"{dep}={heads[dep]}" for dep in _ancestors(plan, task_id) if dep in heads)
        runs.append(
            TreeRun(
                name=f"branch {ctx.names[task_id]}",
                commit=head,
                tree=ctx.trees.tree(head),
                tasks=(task_id,),
                checks=tuple(c for c in ctx.checks if c in BRANCH_CHECKS),
                # one task in a process of its own is isolated already: in-process
                # (boundaries measured there too) saves a worker's start and collection
                workers=0,
                args=ctx.args,
                cwd=ctx.cwd,
                key=_key(ctx, "branch", head, (task_id,), *deps),
            )
        )
    outputs = _run(ctx, runs, ctx.workers, batch)
    for (task_id, head), output in zip(heads.items(), outputs, strict=True):
        batch.branches[task_id] = BranchInfo(ctx.names[task_id], head, cached=output.cached)
        _take(ctx, batch, task_id, output)
        for test in task_tests(output, task_id):
            batch.believed[test] = output


def _ancestors(plan: Plan, task_id: str) -> set[str]:
    seen: set[str] = set()
    stack = list(plan.tasks[task_id].depends_on)
    while stack:
        dep = stack.pop()
        if dep not in seen and dep in plan.tasks:
            seen.add(dep)
            stack.extend(plan.tasks[dep].depends_on)
    return seen


def task_tests(output: RunOutput, task_id: str) -> dict[str, str]:
    entry = ((output.data or {}).get("tasks") or {}).get(task_id) or {}
    tests = entry.get("tests")
    return dict(tests) if isinstance(tests, dict) else {}


def _take(ctx: Context, batch: Batch, task_id: str, output: RunOutput) -> None:
    """A task's status, failures and findings from the run that is its word."""
    state = batch.states[task_id]
    batch.source[task_id] = output
    batch.ran_at[task_id] = output.run.commit
    entry = ((output.data or {}).get("tasks") or {}).get(task_id)
    if output.data is None or not isinstance(entry, dict):
        state.status = Status.ERROR
        state.failures = (
            Failure("", "error", output.error or "the run wrote no report (see its output)"),
        )
        return
    state.status = Status(entry.get("status", Status.NOT_RUN))
    state.failures = tuple(_failures(output, task_id))
    if output.foreign and state.has_branch:
        state.outside = tuple(output.foreign)
        batch.findings.append(_outside(ctx, task_id, output.foreign))


def _failures(output: RunOutput, task_id: str) -> list[Failure]:
    failing = {t for t, o in task_tests(output, task_id).items() if o in FAILING}
    texts: dict[str, list[str]] = {}
    for report in output.reports:
        nodeid = report.get("nodeid")
        if nodeid in failing and report.get("outcome") == "failed":
            texts.setdefault(nodeid, []).append(_longrepr_text(report))
    found = []
    tree = f"{output.run.tree}/"
    for test, outcome in task_tests(output, task_id).items():
        if outcome in FAILING:
            lines = "\n".join(texts.get(test, [])).replace(tree, "").splitlines()
            if len(lines) > OUTPUT_LINES:
                cut = len(lines) - OUTPUT_LINES
                lines = [f"[{plural(cut, 'line')} above left out]", *lines[-OUTPUT_LINES:]]
            found.append(Failure(test, outcome, "\n".join(lines)))
    return found


def _longrepr_text(report: Mapping[str, Any]) -> str:
    """The text of a serialized report's longrepr, whatever its shape."""
    longrepr = report.get("longrepr")
    if isinstance(longrepr, str):
        return longrepr
    if isinstance(longrepr, dict):
        chain = longrepr.get("chain") or []
        parts: list[str] = []
        for element in chain:
            crash = (element[1] or {}) if len(element) > 1 else {}
            for entry in (element[0] or {}).get("reprentries") or []:
                lines = (entry.get("data") or {}).get("lines") or []
                parts.extend(lines)
            if crash.get("message"):
                parts.append(f"{crash.get('path')}:{crash.get('lineno')}: {crash['message']}")
        if parts:
            return "\n".join(parts)
        crash = (longrepr.get("reprcrash") or {}).get("message")
        if crash:
            return str(crash)
    if isinstance(longrepr, list) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def _outside(ctx: Context, task_id: str, files: Sequence[str]) -> Finding:
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return Finding(
        "code-outside-worktree",
        f"the tests of task '{task_id}' on branch {ctx.names[task_id]} imported {shown} from "
        f"your checkout ({ctx.repo.toplevel}), not from the branch: they did not test the "
        "branch's code",
        fix="install the project so the tests import it from where they run (an editable "
        "install of a src layout resolves to your checkout; PYTHONPATH or pytest's "
        "`pythonpath` ini option pointing into the project does not)",
        task=task_id,
        file=files[0],
        extra={"branch": ctx.names[task_id], "files": list(files)},
    )


def _all_at_once(
    ctx: Context, heads: Mapping[str, str], changed: Mapping[str, set[str]], batch: Batch
) -> bool:
    """Every mergeable branch merged in plan order, and one run: the batch's happy path.

    As a merge queue tests a batch: when nothing fails on the whole merge, nothing fails
    on any wave's merge either (a wave's tests run again in the later merges); when
    something does, False, and the caller checks wave by wave to pin it.
    """
    plan = ctx.plan
    accepted: list[str] = []
    plain: list[str] = []
    current = ctx.base
    for wave in plan.waves:
        for task_id in wave:
            if task_id not in heads:
                if _deps_accepted(plan, task_id, batch, accepted):
                    plain.append(task_id)
                    accepted.append(task_id)
                continue
            if not _mergeable(plan, task_id, batch.states[task_id], batch, accepted):
                continue
            merged, conflicts = _merge_onto(ctx, current, heads[task_id])
            if merged is None:
                _conflict(ctx, batch, task_id, conflicts, accepted, changed)
                continue
            current = merged
            accepted.append(task_id)
    order = "order" in ctx.checks
    scope = [
        t
        for t in plan.tasks
        if t in accepted and (order or t in plain or _affected(ctx, batch, t, current))
    ]
    if not scope:
        return True
    checks = tuple(c for c in ctx.checks if c in BRANCH_CHECKS or c == "order")
    output = _merged_run(ctx, batch, "merge", current, scope, checks)
    if output.data is None or any(
        outcome in FAILING for task_id in scope for outcome in task_tests(output, task_id).values()
    ):
        return False
    for task_id in plain:
        _take(ctx, batch, task_id, output)
    for task_id in scope:
        batch.ran_at[task_id] = current
        for test in task_tests(output, task_id):
            batch.believed[test] = output
    return True


def _merge_waves(
    ctx: Context, heads: Mapping[str, str], changed: Mapping[str, set[str]], batch: Batch
) -> None:
    plan = ctx.plan
    accepted: list[str] = []
    current = ctx.base
    last_wave = len(plan.waves) - 1
    for number, wave in enumerate(plan.waves):
        before = current
        merged: list[str] = []
        for task_id in wave:
            state = batch.states[task_id]
            if task_id not in heads or not _mergeable(plan, task_id, state, batch, accepted):
                continue
            commit, conflicts = _merge_onto(ctx, current, heads[task_id])
            if commit is None:
                _conflict(ctx, batch, task_id, conflicts, [*accepted, *merged], changed)
                continue
            current = commit
            merged.append(task_id)
        plain = [t for t in wave if t not in heads and _deps_accepted(plan, t, batch, accepted)]
        order = "order" in ctx.checks and number == last_wave
        candidates = [t for t in plan.tasks if t in accepted or t in merged or t in plain]
        # the order check wants the whole merged suite; else only what the merge can change
        scope = [t for t in candidates if order or t in plain or _affected(ctx, batch, t, current)]
        if scope:
            checks = tuple(c for c in ctx.checks if c in BRANCH_CHECKS or (order and c == "order"))
            culprits = _check_merge(
                ctx, batch, f"merge wave {number + 1}", current, scope, checks,
                merged, plain, before, heads,
            )  # fmt: skip
            if culprits:
                # the accepted tree goes on without the branches that broke it
                merged = [t for t in merged if t not in culprits]
                current = _merge_all(ctx, before, [heads[t] for t in merged])
        accepted += merged
        accepted += [t for t in plain if batch.states[t].status in PASSING_STATUSES]


def _merged_run(
    ctx: Context,
    batch: Batch,
    name: str,
    current: str,
    scope: Sequence[str],
    checks: tuple[str, ...],
) -> RunOutput:
    """`scope`'s tests on the merged commit `current`, with every worker."""
    run = TreeRun(
        name=name,
        commit=current,
        tree=ctx.trees.tree(current),
        tasks=tuple(scope),
        checks=checks,
        workers=ctx.workers,
        args=ctx.args,
        cwd=ctx.cwd,
        key=_key(ctx, "merge", current, scope, *checks),
    )
    (output,) = _run(ctx, [run], 1, batch)
    return output


def _check_merge(
    ctx: Context,
    batch: Batch,
    name: str,
    current: str,
    scope: Sequence[str],
    checks: tuple[str, ...],
    merged: Sequence[str],
    plain: Sequence[str],
    before: str,
    heads: Mapping[str, str],
) -> set[str]:
    """The merged tree's run of `scope`; the branches whose merge broke a test."""
    output = _merged_run(ctx, batch, name, current, scope, checks)
    for task_id in plain:
        _take(ctx, batch, task_id, output)
    culprits = _integration(ctx, batch, output, scope, merged, plain, before, heads)
    for task_id in scope:
        batch.ran_at[task_id] = current
        for test in task_tests(output, task_id):
            if test not in batch.believed or task_id in plain:
                batch.believed[test] = output
    _believe_failures(batch, output, scope)
    return culprits


def _deps_accepted(plan: Plan, task_id: str, batch: Batch, accepted: Sequence[str]) -> bool:
    """Every dependency merged (or passed without a branch); else the task waits."""
    return all(dep in accepted for dep in plan.tasks[task_id].depends_on if dep in batch.states)


def _mergeable(
    plan: Plan, task_id: str, state: TaskState, batch: Batch, accepted: Sequence[str]
) -> bool:
    passed = state.status in PASSING_STATUSES
    clean = not state.out_of_bounds and not state.outside
    return passed and clean and _deps_accepted(plan, task_id, batch, accepted)


def _conflict(
    ctx: Context,
    batch: Batch,
    task_id: str,
    files: Sequence[str],
    merged: Sequence[str],
    changed: Mapping[str, set[str]],
) -> None:
    others = [t for t in merged if changed.get(t, set()) & set(files)]
    state = batch.states[task_id]
    for other in others or [""]:
        state.conflicts[other or ctx.base_ref] = tuple(
            f for f in files if not other or f in changed.get(other, set())
        )
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    with_whom = " and ".join(f"'{o}' ({ctx.names[o]})" for o in others) if others else ctx.base_ref
    batch.findings.append(
        Finding(
            "merge-conflict",
            f"branch {ctx.names[task_id]} of task '{task_id}' conflicts with {with_whom} in "
            f"{shown}",
            fix=f"rebase {ctx.names[task_id]} onto the accepted work and resolve the "
            "conflict, or move the shared change to one task (or to shared:)",
            task=task_id,
            other_task=others[0] if others else None,
            file=files[0] if files else None,
            extra={"branch": ctx.names[task_id], "files": list(files), "with": others},
        )
    )


def _merge_all(ctx: Context, start: str, heads: Sequence[str]) -> str:
    """`start` with `heads` merged in order; heads that conflict are left out."""
    current = start
    for head in heads:
        current = _merge_onto(ctx, current, head)[0] or current
    return current


def _merge_onto(ctx: Context, current: str, head: str) -> tuple[str | None, tuple[str, ...]]:
    """The commit of `head` merged onto `current` (no ref points at it), or None and the
    files that conflict."""
    merge = git.merge(ctx.repo, current, head)
    if merge.tree is None:
        return None, merge.conflicts
    return git.commit_tree(ctx.repo, merge.tree, [current, head], "merge"), ()


def _baseline(batch: Batch, test: str, task_id: str, output: RunOutput) -> str | None:
    """How a test did before this merge: on its branch, or in the last merged run."""
    earlier = batch.believed.get(test)
    if earlier is None or earlier is output:
        return None
    return task_tests(earlier, task_id).get(test)


def _integration(
    ctx: Context,
    batch: Batch,
    output: RunOutput,
    scope: Sequence[str],
    merged: Sequence[str],
    plain: Sequence[str],
    before: str,
    heads: Mapping[str, str],
) -> set[str]:
    """Tests that passed before this wave's merges and fail after, pinned to a branch."""
    culprits: set[str] = set()
    if not merged:
        return culprits
    for task_id in scope:
        failing = [
            t
            for t, o in task_tests(output, task_id).items()
            if o in FAILING
            and (task_id in plain or _baseline(batch, t, task_id, output) in PASSED_OUTCOMES)
        ]
        if not failing:
            continue
        suspects = [t for t in merged if t != task_id]
        own = [heads[task_id]] if task_id in merged else []
        if not suspects:
            if task_id not in plain:
                # its own merge onto the accepted work breaks it: no other branch to blame
                batch.states[task_id].merge_failures += tuple(failing)
                batch.findings.append(_integration_finding(ctx, task_id, None, failing))
            continue
        # without the other branches of this wave, do the tests pass? (known when that
        # is the task's own branch's tree: they passed there)
        without = _merge_all(ctx, before, own)
        known = bool(own) and git.tree_of(ctx.repo, without) == git.tree_of(ctx.repo, own[0])
        if not known and not _passes(ctx, batch, without, task_id, failing, "pin without wave"):
            if task_id not in plain:
                batch.states[task_id].merge_failures += tuple(failing)
                batch.findings.append(_integration_finding(ctx, task_id, None, failing))
            continue
        blamed = _bisect(ctx, batch, before, own, [heads[t] for t in suspects], suspects,
                         task_id, failing)  # fmt: skip
        if blamed is None:
            batch.states[task_id].merge_failures += tuple(failing)
            batch.findings.append(_integration_finding(ctx, task_id, None, failing))
            continue
        culprits.add(blamed)
        batch.states[blamed].breaks[task_id] = tuple(failing)
        batch.states[task_id].broken_by[blamed] = tuple(failing)
        batch.findings.append(_integration_finding(ctx, task_id, blamed, failing))
        if task_id in plain:
            # its tests pass without the culprit: the failure is the merge's, not its own
            batch.states[task_id].status = Status.PASSED
            batch.states[task_id].failures = ()
    return culprits


def _bisect(
    ctx: Context,
    batch: Batch,
    before: str,
    own: Sequence[str],
    heads: Sequence[str],
    suspects: Sequence[str],
    task_id: str,
    failing: Sequence[str],
) -> str | None:
    """The branch whose merge breaks `failing`: the shortest failing prefix, confirmed.

    With ``before`` and the task's own branch the tests pass, with every suspect merged
    they fail. The first suspect whose merge (after the ones before it) makes them fail
    is found in log2(n) runs; leaving it alone out must then make them pass, or no
    single branch is to blame (two branches break them only together).
    """
    passing, failing_at = 0, len(suspects)
    while failing_at - passing > 1:
        middle = (passing + failing_at) // 2
        commit = _merge_all(ctx, before, [*own, *heads[:middle]])
        if _passes(ctx, batch, commit, task_id, failing, f"pin {middle} of {len(suspects)}"):
            passing = middle
        else:
            failing_at = middle
    blamed = failing_at - 1
    if len(suspects) > 1:
        rest = [h for i, h in enumerate(heads) if i != blamed]
        commit = _merge_all(ctx, before, [*own, *rest])
        if not _passes(ctx, batch, commit, task_id, failing, f"pin without {suspects[blamed]}"):
            return None
    return suspects[blamed]


def _affected(ctx: Context, batch: Batch, task_id: str, commit: str) -> bool:
    """Whether the merge changed what a task's tests may read since they last ran.

    That is a shared or unowned file, the task's own or one of its dependencies': the
    files of the other tasks are theirs alone (the boundaries check holds the tests to
    that), so a merge that brought only those cannot change this task's outcomes.
    """
    from pytest_delegation.plan.ownership import Owners

    last = batch.ran_at.get(task_id)
    if last is None:
        return True
    changed = git.changed_files(ctx.repo, last, commit)
    if not changed:
        return False
    owners = Owners(ctx.plan, ctx.plan_dir)
    mine = {task_id, *_ancestors(ctx.plan, task_id)}
    for path in changed:
        rel = owners.relative(path)
        if rel == ctx.plan.path.name:
            continue
        if rel is None or owners.shares(rel):
            return True
        owning = set(owners.tasks(rel))
        if not owning or owning & mine:
            return True
    return False


def _passes(
    ctx: Context, batch: Batch, commit: str, task_id: str, tests: Sequence[str], name: str
) -> bool:
    run = TreeRun(
        name=name,
        commit=commit,
        tree=ctx.trees.tree(commit),
        tasks=(task_id,),
        checks=(),
        # no check to make: the tests run in the run's own process, and once
        workers=0,
        retries=0,
        args=tuple(tests),
        cwd=ctx.repo.prefix.rstrip("/"),
        key=_key(ctx, "pin", commit, (task_id,), *tests),
    )
    (output,) = _run(ctx, [run], 1, batch)
    outcomes = task_tests(output, task_id)
    return output.data is not None and all(outcomes.get(t) in PASSED_OUTCOMES for t in tests)


def _integration_finding(
    ctx: Context, task_id: str, culprit: str | None, tests: Sequence[str]
) -> Finding:
    shown = ", ".join(tests[:3]) + (f" and {len(tests) - 3} more" if len(tests) > 3 else "")
    if culprit is None:
        return Finding(
            "integration-failure",
            f"{plural(len(tests), 'test')} of task '{task_id}' passed before the merge and "
            f"fail on it, with no single branch to blame: {shown}",
            fix="run them on the merged branches together; the failure needs more than one "
            "of them, or the accepted earlier waves",
            task=task_id,
            test=tests[0],
            extra={"tests": list(tests)},
        )
    return Finding(
        "integration-failure",
        f"{plural(len(tests), 'test')} of task '{task_id}' passed before the merge"
        f" and fail once branch {ctx.names[culprit]} of '{culprit}' is merged: {shown}",
        fix=f"have '{culprit}' keep what '{task_id}' relies on, or make the two one task "
        "(or order them with depends_on)",
        task=culprit,
        other_task=task_id,
        test=tests[0],
        extra={"branch": ctx.names[culprit], "tests": list(tests)},
    )


def _believe_failures(batch: Batch, output: RunOutput, scope: Sequence[str]) -> None:
    """A test that failed on the merge is replayed from the merge: its last word."""
    for task_id in scope:
        for test, outcome in task_tests(output, task_id).items():
            if outcome in FAILING:
                batch.believed[test] = output


def tree_args(args: Sequence[str]) -> tuple[str, ...]:
    """The user's pytest arguments minus the plugin's own (each run sets its own)."""
    from pytest_delegation.ci.args import job_args

    # --cache-clear is this run's: the trees have no cache of their own to clear, and a
    # run's cache key must not differ by it
    return tuple(a for a in job_args(args, also=OWN_WITH_VALUE) if a != "--cache-clear")


#: the plugin's options each tree run sets itself (beyond what CI jobs drop)
OWN_WITH_VALUE = (
    "--delegation-branches", "--delegation-base", "--delegation-plan", "--delegation-workers",
    "--delegation-seed", "--delegation-suggest", "--delegation-diff", "-n", "--numprocesses",
)  # fmt: skip
