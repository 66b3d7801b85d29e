"""The session's side of branch runs: set up, run the batch, replay it, report it.

`BranchDriver.prepare` fails early (before any test runs) with a usage error for what
the user can fix: not a git checkout, an unknown base, a missing branch, an old git.
`run` starts the batch and replays its believed test reports through pytest's hooks,
so the terminal, junitxml and other plugins see each test once, as in any run; `report`
turns the runs' JSON reports into the one RunReport every output renders.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_delegation.branches import git
from pytest_delegation.branches import targets
from pytest_delegation.branches.batch import Batch
from pytest_delegation.branches.batch import Context
from pytest_delegation.branches.batch import find_heads
from pytest_delegation.branches.batch import run_batch
from pytest_delegation.branches.batch import task_tests
from pytest_delegation.branches.batch import tree_args
from pytest_delegation.branches.imports import import_roots
from pytest_delegation.branches.runs import Launcher
from pytest_delegation.branches.runs import RunOutput
from pytest_delegation.branches.trees import Trees
from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.findings import fails
from pytest_delegation.options import Settings
from pytest_delegation.plan.digest import plan_digest
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import RunReport
from pytest_delegation.vocab import Action
from pytest_delegation.vocab import Status


class BranchDriver:
    def __init__(self, config: pytest.Config, settings: Settings, plan: Plan) -> None:
        self.config = config
        self.settings = settings
        self.plan = plan
        self.batch: Batch | None = None
        self.notes: list[str] = []
        #: test -> task, for the reports replayed
        self.task_of: dict[str, str] = {}
        self.repo: git.Repo | None = None
        self.base = ""
        self.names = targets.branch_names(settings, plan)
        self.heads: dict[str, str] = {}
        #: why the batch stopped before its end, if it did
        self.error: str | None = None
        self.missing: dict[str, str] = {}

    def prepare(self) -> None:
        """Every check that needs no test run; a usage error naming the fix."""
        problem = targets.template_problem(self.settings.branches or "{task}")
        if problem:
            raise pytest.UsageError(problem)
        try:
            self.repo = git.open_repo(self.config.rootpath)
            self.base = git.commit_of(
                self.repo,
                targets.base_ref(self.settings, self.plan),
                "--delegation-base" if self.settings.base else "the plan's base:",
            )
            self.heads, self.missing = find_heads(self.repo, self.plan, self.names)
            for head in self.heads.values():
                # a shallow clone without the history says so now, before anything runs
                git.merge_base(self.repo, self.base, head)
        except git.BranchError as exc:
            raise pytest.UsageError(str(exc)) from None

    def run(self, session: pytest.Session, workers: int, seed: int, plan_dir: str) -> None:
        assert self.repo is not None
        repo = self.repo
        trees = Trees(repo, self._plan_file(repo))
        cache = self.config.cache
        try:
            launcher = Launcher(
                plan=trees.plan_file[0] if trees.plan_file else None,
                roots=import_roots(repo.toplevel),
                checkout=repo.toplevel,
                seed=seed,
                scratch=trees.scratch,
            )
            ctx = Context(
                plan=self.plan,
                plan_dir=plan_dir,
                repo=repo,
                base=self.base,
                base_ref=targets.base_ref(self.settings, self.plan),
                names=self.names,
                heads=self.heads,
                missing=self.missing,
                launcher=launcher,
                trees=trees,
                args=tree_args(self.config.invocation_params.args),
                cwd=self._invocation_folder(repo),
                checks=self.settings.checks,
                workers=max(1, workers),
                digest=plan_digest(self.plan),
                cache_get=(lambda key: cache.get(key, None)) if cache else (lambda key: None),
                cache_set=(lambda key, value: cache.set(key, value)) if cache else _ignore,
            )
            try:
                self.batch = run_batch(ctx)
            except git.BranchError as exc:
                # git failed mid-batch (a corrupt object, a full disk): said, not a traceback
                self.error = f"the branch batch stopped: {exc}"
                return
        finally:
            trees.close()
        self._replay(session, self.batch)

    def _plan_file(self, repo: git.Repo) -> tuple[str, bytes] | None:
        """The plan's path in a tree and its bytes, so every tree has this run's plan."""
        path = self.plan.path
        try:
            relative = path.resolve().relative_to(repo.toplevel.resolve())
            return relative.as_posix(), path.read_bytes()
        except (ValueError, OSError):
            return None

    def _invocation_folder(self, repo: git.Repo) -> str:
        try:
            folder = self.config.invocation_params.dir.resolve().relative_to(
                repo.toplevel.resolve()
            )
        except ValueError:
            return repo.prefix.rstrip("/")
        return "" if str(folder) == "." else folder.as_posix()

    def _replay(self, session: pytest.Session, batch: Batch) -> None:
        """Each test's believed reports through pytest's hooks, in plan order."""
        from pytest_delegation.run.replay import from_worker
        from pytest_delegation.run.replay import replay_test

        by_run: dict[int, dict[str, list[dict[str, Any]]]] = {}
        order: list[tuple[str, RunOutput]] = []
        for task_id in self.plan.tasks:
            for output in _outputs_of(batch, task_id):
                for test in sorted(task_tests(output, task_id)):
                    if batch.believed.get(test) is output and test not in self.task_of:
                        self.task_of[test] = task_id
                        order.append((test, output))
        session.testscollected = len(order)
        for test, output in order:
            index = by_run.setdefault(id(output), _index(output.reports))
            tree = f"{output.run.tree}/"
            reports = [
                from_worker(self.config, _without(data, tree)) for data in index.get(test, [])
            ]
            if not reports:
                continue
            location = tuple(index[test][0].get("location") or (test, None, test))
            replay_test(self.config, test, location, reports)  # type: ignore[arg-type]

    def report(
        self,
        plan_path: str,
        *,
        duration: float,
        mode: str,
        started_at: float,
        keep: Callable[[Finding], bool],
    ) -> RunReport | None:
        """One report of the batch, as ``combine`` merges a CI run's jobs."""
        from pytest_delegation.ci.combine import combine
        from pytest_delegation.report.read import report_from_data

        batch = self.batch
        if batch is None:
            return None
        datas = [
            (Path(f"{o.run.name}.json"), _scoped(o.data, o.run.tasks, o))
            for o in batch.runs
            if o.data is not None
        ]
        if not datas:
            return None
        combined = combine(datas).data
        for task_id, output in batch.source.items():
            entry = ((output.data or {}).get("tasks") or {}).get(task_id)
            if isinstance(entry, dict):
                combined["tasks"][task_id] = entry
        for task_id, action in batch.actions.items():
            entry = combined["tasks"].get(task_id)
            if entry is not None and action.action == Action.BLOCKED and not entry["attempts"]:
                entry["status"] = Status.BLOCKED
                entry["blocked_by"] = action.with_tasks[0]
        report = report_from_data(combined, mode=mode)
        known = {_finding_key(f) for f in report.findings}
        report.findings = [
            *report.findings,
            *(f for f in batch.findings if _finding_key(f) not in known and keep(f)),
        ]
        for task_id, result in report.tasks.items():
            result.branch = batch.branches.get(task_id)
            result.action = batch.actions.get(task_id)
        report.plan_path = plan_path
        report.duration = duration
        report.started_at = started_at
        report.notes = [*batch.notes, *report.notes]
        bad = (Status.FAILED, Status.BLOCKED, Status.ERROR)
        report.failed = (
            any(r.status in bad for r in report.tasks.values())
            or any(a.action != Action.ACCEPT for a in batch.actions.values())
            or fails(report.findings, self.settings.fail_on)
        )
        return report


def _without(value: Any, prefix: str) -> Any:
    """A serialized report with the scratch tree's folder cut out of its paths and text."""
    if isinstance(value, str):
        return value.replace(prefix, "")
    if isinstance(value, list):
        return [_without(item, prefix) for item in value]
    if isinstance(value, dict):
        return {key: _without(item, prefix) for key, item in value.items()}
    return value


def _ignore(key: str, value: Any) -> None:
    return None


def _outputs_of(batch: Batch, task_id: str) -> list[RunOutput]:
    return [o for o in batch.runs if task_id in o.run.tasks]


def _index(reports: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for data in reports:
        if data.get("$report_type") == "TestReport" and isinstance(data.get("nodeid"), str):
            found.setdefault(data["nodeid"], []).append(data)
    return found


def _scoped(data: Mapping[str, Any], tasks: Sequence[str], output: RunOutput) -> dict[str, Any]:
    """A run's report with only the findings about its own tasks (or about none).

    A branch's tree holds the other tasks' work as it was on the base: what it says of
    them (no tests yet, say) is not news about them.
    """
    scoped = dict(data)
    if output.cached:
        # it ran in an earlier batch: nothing of it is on this run's clock
        scoped["timeline"] = []
        scoped["summary"] = {**(data.get("summary") or {}), "started_at": None}
    mine = set(tasks)
    scoped["findings"] = [
        f
        for f in data.get("findings") or ()
        if (f.get("task") in mine) or (f.get("task") is None and len(tasks) > 1)
    ]
    return scoped


def _finding_key(finding: Finding) -> tuple[Any, ...]:
    return (finding.rule, finding.task, finding.other_task, finding.test, finding.file)
