"""DelegationSession: the plugin object registered when --delegation-report is given.

It maps the collected tests to tasks, orders them by wave, runs the static rules, keeps
the outcome of every test per task, and hands one RunReport to the output formats.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
import json
import os
from pathlib import Path
import random
import shutil
import tempfile
import time

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.boundaries import boundary_findings
from pytest_delegation.checks.boundaries import project_files
from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.findings import fails
from pytest_delegation.checks.findings import is_ignored
from pytest_delegation.checks.findings import parse_ignores
from pytest_delegation.checks.static import Context
from pytest_delegation.checks.static import static_findings
from pytest_delegation.collect.loading import AUTO
from pytest_delegation.collect.loading import configured_plan
from pytest_delegation.collect.loading import finish
from pytest_delegation.collect.loading import infer_plan
from pytest_delegation.collect.mapping import Assignment
from pytest_delegation.collect.mapping import Selectors
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.collect.mapping import assign
from pytest_delegation.collect.mapping import plan_folder
from pytest_delegation.options import Settings
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.patterns import Tree
from pytest_delegation.plan.problems import did_you_mean
from pytest_delegation.report.data import report_data
from pytest_delegation.report.files import write_atomic
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskResult
from pytest_delegation.report.terminal import render
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.vocab import fold_outcome
from pytest_delegation.vocab import task_status


plan_key = pytest.StashKey[Plan]()
RUN_CHECKS = ("isolation", "boundaries", "order")  # the checks that need workers


class DelegationSession:
    name = "delegation-session"

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.ignores, problems = parse_ignores(settings.ignore)
        if problems:
            raise pytest.UsageError("\n".join(problems))
        self.plan: Plan | None = None
        if settings.plan != AUTO:
            self.plan = configured_plan(config, settings)
            self._check_task_option(self.plan)
        self.rootdir = config.rootpath
        self.started = time.perf_counter()
        self.clock = time.monotonic()  # the origin of the timeline of worker runs
        self.server: ForkServer | None = None  # what workers fork from, if anything
        self.timeline: list[dict[str, object]] = []
        self.assignment: Assignment | None = None
        self.refs: dict[str, TestRef] = {}
        self.findings: list[Finding] = []
        self.results: dict[str, TaskResult] = {}
        self.untagged: dict[str, str] = {}
        self.rank: dict[str, tuple[int, int]] = {}  # task -> (wave, position)
        self.failed: set[str] = set()
        self.blocked: dict[str, str | None] = {}
        self.current_wave: int | None = None
        self.report: RunReport | None = None
        self.notes: list[str] = []
        self.seed = settings.seed if settings.seed is not None else random.randrange(10**6)

    @property
    def workers(self) -> int:
        """Workers at once; 0 is the in-process mode."""
        if self.settings.workers != "auto":
            return int(self.settings.workers)
        if self.config.option.collectonly:
            return 0
        limit = self.plan.max_parallel if self.plan is not None else 4
        return max(1, min(os.cpu_count() or 1, limit))

    @property
    def mode(self) -> str:
        if self.workers == 0:
            return "in-process"
        return (
            f"{self.workers} worker{'s' * (self.workers != 1)}, {self.settings.schedule} schedule"
        )

    # -- collection ----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        """Start the server workers fork from (see forkserver.py): it imports pytest and
        the plugins while this process collects."""
        from pytest_delegation.run.argv import coverage_target
        from pytest_delegation.run.argv import worker_argv
        from pytest_delegation.run.argv import worker_env
        from pytest_delegation.run.forkserver import start_server

        if self.workers == 0 or self.settings.start != "fork":
            return
        if coverage_target(self.config) is not None:
            return  # pytest-cov measures each worker from its very start: spawn them
        self.server = start_server(
            worker_argv(self.config),
            self.config.invocation_params.dir,
            worker_env(None),
            self.settings.preload,
        )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> object:
        # map the full collection, before -k, -m and --lf narrow it: a task whose tests
        # are merely deselected is not an unverified task
        self.map_items(items)
        return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.assignment is None or self.plan is None:
            return
        items = session.items
        if self.settings.task:
            keep = [
                i for i in items if self.assignment.task_of.get(i.nodeid) == self.settings.task
            ]
            dropped = [
                i for i in items if self.assignment.task_of.get(i.nodeid) != self.settings.task
            ]
            if dropped:
                self.config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        # wave order wins over any reordering before (pytest-randomly, --ff): stable sort
        last = (len(self.plan.waves) + 1, 0)
        task_of = self.assignment.task_of
        rank = self.rank
        items.sort(key=lambda item: rank.get(task_of.get(item.nodeid, ""), last))
        for item in items:
            result = self.results.get(task_of.get(item.nodeid, ""))
            if result is not None:
                result.collected += 1

    def map_items(self, items: Sequence[pytest.Item]) -> None:
        checked = [self._ref(item) for item in items]
        refs = [ref for ref, _ in checked]
        if self.plan is None:
            self.plan = finish(self.config, infer_plan((r.path for r in refs), self.rootdir))
        plan = self.plan
        self._check_markers(checked, items, plan)
        self.assignment = assign(refs, plan, plan_folder(plan, self.rootdir))
        self.rank = {
            task_id: (number, position)
            for number, wave in enumerate(plan.waves, start=1)
            for position, task_id in enumerate(wave)
        }
        wanted = set(self.assignment.untagged) | set(self.assignment.ambiguous)
        self.refs = {
            ref.nodeid: TestRef(ref.nodeid, ref.path, ref.marked, _line(item))
            for ref, item in zip(refs, items, strict=True)
            if ref.nodeid in wanted
        }
        self.results = {task_id: TaskResult() for task_id in plan.tasks}
        if self.settings.task:
            self.results = {self.settings.task: self.results[self.settings.task]}
        context = Context(
            plan=plan,
            tree=Tree(plan.base),
            assignment=self.assignment,
            refs=self.refs,
            complete_collection=self._complete_collection(),
            plan_file=self._plan_label(),
        )
        for finding in static_findings(context):
            self.add_finding(finding)
        if "boundaries" in self.settings.checks:
            self._check_imports(plan, context.tree)
        if self.settings.diff:
            self._check_changes(plan, self.settings.diff)

    def _check_imports(self, plan: Plan, tree: Tree) -> None:
        """Static half of the boundaries: what a task's own files import."""
        from pytest_delegation.checks.imports import import_findings

        cache_store = getattr(self.config, "cache", None)
        cached = cache_store.get("delegation/imports", {}) if cache_store is not None else {}
        cache = cached if isinstance(cached, dict) else {}
        findings = import_findings(
            plan,
            tree,
            plan_folder(plan, self.rootdir),
            pythonpath=self.config.getini("pythonpath"),
            test_files=self.config.getini("python_files"),
            cache=cache,
        )
        if cache_store is not None:
            cache_store.set("delegation/imports", cache)
        for finding in findings:
            self.add_finding(finding)

    def _check_changes(self, plan: Plan, ref: str) -> None:
        from pytest_delegation.checks.changes import ChangesError
        from pytest_delegation.checks.changes import changed_files
        from pytest_delegation.checks.changes import diff_findings
        from pytest_delegation.checks.changes import task_commits

        try:
            changed = changed_files(self.rootdir, ref)
            commits = task_commits(self.rootdir, ref)
        except ChangesError as exc:
            raise pytest.UsageError(str(exc)) from None
        plan_dir = plan_folder(plan, self.rootdir)
        for finding in diff_findings(plan, plan_dir, changed, commits, ref=ref):
            self.add_finding(finding)

    def _ref(self, item: pytest.Item) -> tuple[TestRef, list[object]]:
        """The test's reference for mapping, and the task marker arguments that are not ids."""
        nodeid = item.nodeid
        marked: list[str] = []
        bad: list[object] = []
        closest = None
        for node, mark in item.iter_markers_with_node("task"):
            if closest is None:
                closest = node
            elif node is not closest:
                break  # the closest level that names a task wins
            for arg in mark.args or (None,):
                (marked if isinstance(arg, str) else bad).append(arg)
        return TestRef(nodeid, nodeid.split("::", 1)[0], tuple(marked)), bad

    def _check_markers(
        self,
        refs: Sequence[tuple[TestRef, list[object]]],
        items: Sequence[pytest.Item],
        plan: Plan,
    ) -> None:
        problems = []
        for (ref, bad), item in zip(refs, items, strict=True):
            where = f"{ref.path}:{_line(item) or '?'}: {ref.nodeid}"
            if bad:
                problems.append(
                    f"{where}: @pytest.mark.task needs a task id, like "
                    '@pytest.mark.task("user-model")'
                )
            for task_id in ref.marked:
                if task_id not in plan.tasks:
                    problems.append(
                        f"{where}: @pytest.mark.task({task_id!r}) names no task of the plan"
                        f"{did_you_mean(task_id, plan.tasks)}"
                    )
        if problems:
            shown = problems[:50]
            if len(problems) > 50:
                shown.append(f"... and {len(problems) - 50} more")
            raise pytest.UsageError(
                "tests marked with unknown delegation tasks:\n  " + "\n  ".join(shown)
            )

    def _complete_collection(self) -> bool:
        """Did this run collect the whole suite, so that a task without tests has none?"""
        if self.settings.task:
            return False
        lf = self.config.pluginmanager.get_plugin("lfplugin")
        if lf is not None and getattr(lf, "_skipped_files", False):
            return False
        if self.config.args_source != pytest.Config.ArgsSource.ARGS:
            return True
        root = self.rootdir.resolve()
        testpaths = {(self.rootdir / p).resolve() for p in self.config.getini("testpaths")}
        for arg in self.config.args:
            path = (self.config.invocation_params.dir / arg.split("::")[0]).resolve()
            if "::" in arg or not (path == root or path in root.parents or path in testpaths):
                return False
        return True

    def add_finding(self, finding: Finding) -> None:
        if is_ignored(finding, self.ignores):
            return
        self.findings.append(finding)
        self.config.hook.pytest_delegation_finding(config=self.config, finding=finding)

    def _check_task_option(self, plan: Plan) -> None:
        task = self.settings.task
        if task and task not in plan.tasks:
            raise pytest.UsageError(
                f"--delegation-task={task}: no such task in {plan.path.name}"
                f"{did_you_mean(task, plan.tasks)}"
            )

    # -- running in workers -------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if self.workers == 0 or self.assignment is None or self.plan is None:
            return None  # pytest's own loop, in wave order
        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            raise session.Interrupted(
                f"{session.testsfailed} error{'s' * (session.testsfailed != 1)} during collection"
            )
        if self.config.option.collectonly:
            return True
        from pytest_delegation.run.scheduler import Scheduler
        from pytest_delegation.run.tasks import Controller
        from pytest_delegation.run.tasks import Settings as RunSettings

        by_task: dict[str, list[pytest.Item]] = {task: [] for task in self.results}
        untagged: list[pytest.Item] = []
        task_of = self.assignment.task_of
        for item in session.items:
            task = task_of.get(item.nodeid)
            if task is None:
                untagged.append(item)
            elif task in by_task:
                by_task[task].append(item)
        runnable = [t for wave in self.plan.waves for t in wave if by_task.get(t)]
        cache = getattr(self.config, "cache", None)  # None with -p no:cacheprovider
        estimates = cache.get("delegation/durations", {}) if cache is not None else {}
        scheduler = Scheduler(
            self.plan,
            runnable,
            mode=self.settings.schedule,
            retries=self.settings.retries,
            estimates=estimates if isinstance(estimates, dict) else {},
        )
        controller = Controller(
            session,
            RunSettings(
                workers=self.workers,
                retries=self.settings.retries,
                timeout=self.settings.timeout,
                schedule=self.settings.schedule,
                boundaries="boundaries" in self.settings.checks,
            ),
            runnable,
            scheduler,
            {t: by_task[t] for t in runnable},
            untagged,
            self.results,
            self.add_finding,
            self.plan.wave_of,
            timeline=self.timeline,
            clock=self.clock,
            server=self.server,
        )
        try:
            controller.run()
        finally:
            self._remember_durations(runnable)
            if "order" in self.settings.checks and not controller.stopped:
                self._check_order(session, by_task, untagged)
            self._close_server()
            if "boundaries" in self.settings.checks:
                self._check_boundaries(controller.executed, session.items)
                if controller.unmeasured:
                    self.notes.append(
                        "file boundaries not measured for "
                        + ", ".join(sorted(controller.unmeasured))
                        + ": another tracer (coverage, a debugger) was active; Python 3.12+ "
                        "measures alongside it"
                    )
        return True

    def _close_server(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def _check_order(
        self,
        session: pytest.Session,
        by_task: dict[str, list[pytest.Item]],
        untagged: list[pytest.Item],
    ) -> None:
        """Replay the suite in other orders; pin every changed outcome to its culprit."""
        from pytest_delegation.order.check import check_order
        from pytest_delegation.run.sequences import SequenceRunner

        assert self.plan is not None
        flaky = {t for f in self.findings if f.rule == "flaky" for t in f.extra.get("tests", [])}
        baseline: dict[str, str] = {}
        for result in self.results.values():
            if result.status in ("passed", "failed", "flaky"):
                baseline.update(result.tests)
        baseline.update(self.untagged)
        baseline = {
            t: o
            for t, o in baseline.items()
            if o in ("passed", "failed", "error") and t not in flaky
        }
        files = {
            item.nodeid: str(item.path)
            for items in (*by_task.values(), untagged)
            for item in items
        }
        tests = {task: [i.nodeid for i in items] for task, items in by_task.items()}
        tr = self.config.pluginmanager.get_plugin("terminalreporter")

        def say(line: str) -> None:
            if tr is not None and self.config.get_verbosity() >= 0:
                tr.write_line(line, bold=True)

        workdir = Path(tempfile.mkdtemp(prefix="pytest-delegation-order-"))
        try:
            runner = SequenceRunner(
                self.config,
                self.workers,
                workdir,
                files,
                timeout=self.settings.timeout,
                timeline=self.timeline,
                clock=self.clock,
                server=self.server,
            )
            findings = check_order(
                runner,
                self.plan,
                tests,
                [i.nodeid for i in untagged],
                baseline,
                self.settings.shuffles,
                self.seed,
                say,
                self.config.rootpath,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        reproduced = sum(1 for f in findings if "reproduce" in f.extra)
        reused = f" ({runner.reused} more answered by an identical run)" * bool(runner.reused)
        self.notes.append(
            f"order check: {runner.sessions} worker runs{reused}, {runner.tests_executed} "
            f"tests executed, {reproduced} reproduce "
            f"command{'s' * (reproduced != 1)} run (seed {self.seed})"
        )
        for finding in findings:
            self.add_finding(finding)

    def _check_boundaries(
        self, executed: dict[str, dict[str, Execution]], items: Sequence[pytest.Item]
    ) -> None:
        assert self.plan is not None
        test_files = {item.nodeid.split("::", 1)[0] for item in items}
        measured = {task: project_files(files, test_files) for task, files in executed.items()}
        for task, files in measured.items():
            self.results[task].executed_files = sorted(files)
        plan_dir = plan_folder(self.plan, self.rootdir)
        for finding in boundary_findings(self.plan, plan_dir, measured):
            self.add_finding(finding)

    def _remember_durations(self, tasks: Iterable[str]) -> None:
        """Next run starts the longest tasks first (see Scheduler priorities)."""
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        known = cache.get("delegation/durations", {})
        known = dict(known) if isinstance(known, dict) else {}
        for task in tasks:
            result = self.results[task]
            if result.attempts and result.status in ("passed", "flaky", "failed"):
                known[task] = round(result.duration, 3)
        cache.set("delegation/durations", known)

    # -- running (in this process, in wave order) -----------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        assert self.assignment is not None
        task = self.assignment.task_of.get(item.nodeid)
        wave = self.rank[task][0] if task else None
        if wave != self.current_wave:
            self._finish_wave()
            self.current_wave = wave
            if wave is not None:
                self.config.hook.pytest_delegation_wave_started(config=self.config, wave=wave)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        assert self.assignment is not None and self.plan is not None
        task = self.assignment.task_of.get(item.nodeid)
        if task is None:
            return
        if task not in self.blocked:
            self.blocked[task] = self._failed_dependency(task)
        culprit = self.blocked[task]
        if culprit is not None:
            pytest.skip(f"blocked: task '{task}' depends on '{culprit}', which failed")

    def _failed_dependency(self, task: str) -> str | None:
        assert self.plan is not None
        deps = transitive_dependencies(self.plan.tasks, task)
        failed = sorted(deps & self.failed, key=lambda t: self.rank.get(t, (0, 0)))
        return failed[0] if failed else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        assert self.assignment is not None
        nodeid = report.nodeid
        task = self.assignment.task_of.get(nodeid)
        if report.when == "teardown" and task is not None:
            # junitxml writes properties from the teardown report: CI dashboards can
            # group testcases by task
            if ("delegation_task", task) not in report.user_properties:
                report.user_properties.append(("delegation_task", task))
        result = self.results.get(task) if task else None
        tests = result.tests if result is not None else self.untagged
        outcome = fold_outcome(
            tests.get(nodeid), report.when, report.outcome, hasattr(report, "wasxfail")
        )
        if outcome is not None:
            tests[nodeid] = outcome
        if result is not None and self.workers == 0:
            result.duration += report.duration
            if outcome in ("failed", "error") and task is not None:
                self.failed.add(task)

    def _finish_wave(self) -> None:
        if self.current_wave is None or self.plan is None:
            return
        wave = self.plan.waves[self.current_wave - 1]
        for task in wave:
            self._settle(task)
        results = {task: self.results[task] for task in wave if task in self.results}
        self.config.hook.pytest_delegation_wave_finished(
            config=self.config, wave=self.current_wave, results=results
        )

    def _settle(self, task: str) -> None:
        result = self.results.get(task)
        if result is None or self.workers:
            return  # in worker mode the controller settles each task
        culprit = self.blocked.get(task)
        if culprit is not None:
            result.status, result.blocked_by, result.attempts = "blocked", culprit, 0
        else:
            result.status = task_status(result.tests.values())
            result.attempts = 1 if result.tests else 0

    # -- the end --------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._close_server()  # if the run never reached the workers (collect-only, errors)
        if self.assignment is None or self.plan is None:
            return
        self._finish_wave()
        self.current_wave = None
        for task in self.results:
            self._settle(task)
        collect_only = bool(self.config.option.collectonly)
        report_checks = tuple(c for c in self.settings.checks if c in RUN_CHECKS and self.workers)
        report = RunReport(
            plan=self.plan,
            plan_path=self._plan_label(),
            tasks=self.results,
            findings=self.findings,
            untagged=self.untagged,
            duration=time.perf_counter() - self.started,
            mode=self.mode,
            checks=report_checks,
            skipped_checks=tuple(
                c for c in self.settings.checks if not (c in RUN_CHECKS and self.workers)
            ),
            collect_only=collect_only,
            notes=self.notes,
            timeline=self.timeline,
            seed=self.seed if "order" in report_checks else None,
        )
        bad_tasks = any(r.status in ("failed", "blocked", "error") for r in self.results.values())
        report.failed = (
            bad_tasks or session.testsfailed > 0 or fails(self.findings, self.settings.fail_on)
        )
        self.report = report
        self.config.hook.pytest_delegation_report(config=self.config, report=report)
        self._write_reports(report)
        if report.failed and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_reports(self, report: RunReport) -> None:
        """Every file report, each written atomically: a complete file or the old one."""
        files = [(kind, dest) for kind, dest in self.settings.reports if dest]
        if not files:
            return
        data = report_data(report)
        for kind, dest in files:
            path = self.config.invocation_params.dir / dest
            if kind == "json":
                text = json.dumps(data, indent=2, default=str) + "\n"
            elif kind == "markdown":
                from pytest_delegation.report.markdown import render_markdown

                text = render_markdown(data)
            else:
                from pytest_delegation.report.html.page import render_html

                text = render_html(data)
            write_atomic(path, text)

    def _plan_label(self) -> str:
        assert self.plan is not None
        if self.settings.plan == AUTO:
            return AUTO
        try:
            return self.plan.path.resolve().relative_to(self.rootdir.resolve()).as_posix()
        except ValueError:
            return self.plan.path.as_posix()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.report is not None and ("term", None) in self.settings.reports:
            render(self.report, terminalreporter, self.config.get_verbosity())

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.plan is None:
            return ["delegation: plan inferred from the tests (one task per module)"]
        return [
            f"delegation: {self._plan_label()}, {len(self.plan.tasks)} tasks in "
            f"{len(self.plan.waves)} waves, {self.mode}"
        ]


def _line(item: pytest.Item) -> int | None:
    try:
        line = item.location[1]
    except Exception:  # a plugin's item with a broken reportinfo must not stop the run
        return None
    return line + 1 if isinstance(line, int) else None


# -- fixtures -------------------------------------------------------------------------


def plan_for_fixture(config: pytest.Config) -> Plan:
    session = config.pluginmanager.get_plugin(DelegationSession.name)
    if isinstance(session, DelegationSession) and session.plan is not None:
        return session.plan
    if plan_key not in config.stash:
        from pytest_delegation.options import resolve

        settings = resolve(config)
        if settings.plan == AUTO:
            pytest.fail("delegation_plan: an 'auto' plan exists only with --delegation-report")
        try:
            config.stash[plan_key] = configured_plan(config, settings)
        except pytest.UsageError as exc:
            pytest.fail(f"delegation_plan: {exc}", pytrace=False)
    return config.stash[plan_key]


def task_for_fixture(request: pytest.FixtureRequest, plan: Plan) -> Task:
    item = request.node
    session = request.config.pluginmanager.get_plugin(DelegationSession.name)
    task_id: str | None = None
    if isinstance(session, DelegationSession) and session.assignment is not None:
        task_id = session.assignment.task_of.get(item.nodeid)
    else:
        mark = item.get_closest_marker("task")
        if mark is not None and mark.args:
            task_id = mark.args[0]
        else:
            nodeid = item.nodeid
            ref = TestRef(nodeid, nodeid.split("::", 1)[0])
            found = Selectors(plan, plan_folder(plan, request.config.rootpath)).tasks_for(ref)
            task_id = found[0] if found else None
    if task_id is None or task_id not in plan.tasks:
        pytest.fail(
            f"delegation_task: {item.nodeid} belongs to no task of the plan; mark it with "
            '@pytest.mark.task("<id>") or add it to a task\'s tests:',
            pytrace=False,
        )
    return plan.tasks[task_id]
