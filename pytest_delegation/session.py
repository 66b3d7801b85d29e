"""DelegationSession: the plugin object registered when ``--delegation-report`` is given.

It keeps pytest's hook order and hands each step to a layer: collection to `collect`,
the static checks to `checks.collection`, running to `run.workers.WorkerMode` or
`run.inprocess.InProcess`, the order check and the boundaries after the task runs, and
the end to `report.build`. The results of the run are recorded in one `Results`.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import replace
import os
from pathlib import Path
import random
import sys
import time
from typing import TYPE_CHECKING
from typing import TextIO

import pytest

from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.findings import is_ignored
from pytest_delegation.checks.findings import parse_ignores
from pytest_delegation.collect import scope
from pytest_delegation.collect.collection import Mapped
from pytest_delegation.collect.collection import map_collection
from pytest_delegation.collect.loading import AUTO
from pytest_delegation.collect.loading import configured_plan
from pytest_delegation.collect.loading import plan_label
from pytest_delegation.collect.mapping import Assignment
from pytest_delegation.options import Settings
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.files import STDOUT
from pytest_delegation.report.files import destination_problems
from pytest_delegation.report.model import Results
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TimelineRow
from pytest_delegation.report.names import plural
from pytest_delegation.run import interrupts
from pytest_delegation.run import residue
from pytest_delegation.run.count import mode_label
from pytest_delegation.run.count import worker_count
from pytest_delegation.run.tasks import positions
from pytest_delegation.run.workers import WorkerMode
from pytest_delegation.vocab import JOB_ENV
from pytest_delegation.vocab import TEST_REPORTS


if TYPE_CHECKING:
    from pytest_delegation.branches.driver import BranchDriver
    from pytest_delegation.ci.generate import Generated
    from pytest_delegation.report.suggestion import Suggestion
    from pytest_delegation.run.forkserver import ForkServer
    from pytest_delegation.worker.tracker import Tracker


#: the checks that need workers
RUN_CHECKS = ("isolation", "boundaries", "order")


class DelegationSession:
    name = "delegation-session"

    def __init__(
        self, config: pytest.Config, settings: Settings, server: ForkServer | None = None
    ) -> None:
        self.config = config
        self.settings = settings
        #: the session's start by the file clock (None: it never began): run/residue.py
        self.began: float | None = None
        self.ignores, problems = parse_ignores(settings.ignore)
        base = config.invocation_params.dir
        problems += destination_problems([(k, d) for k, d in settings.reports if d], base)
        if problems:
            raise pytest.UsageError("\n".join(problems))
        #: a report for standard output (``json:-``): pytest's own output goes to stderr
        #: meanwhile, so what an orchestrator reads from stdout is the report alone
        self.stdout: TextIO | None = None
        self.stdout_reports: list[str] = []
        self.plan: Plan | None = None
        if settings.plan != AUTO:
            self.plan = configured_plan(config, settings)
            scope.check_task_option(settings.tasks, self.plan)
        #: ``--delegation-branches``: each task checked on its branch, then the merge
        self.branches: BranchDriver | None = self._branch_driver()
        #: a run a branch run started: it records every test report for it
        self.test_reports: list[dict[str, object]] | None = (
            [] if os.environ.get(TEST_REPORTS) else None
        )
        self.rootdir = config.rootpath
        self.started = time.perf_counter()
        self.started_at = time.time()
        #: the CI job this run is (set by the generated workflows), for `combine`
        self.job = os.environ.get(JOB_ENV) or None
        #: the origin of the timeline of worker runs
        self.clock = time.monotonic()
        self.timeline: list[TimelineRow] = []
        self.assignment: Assignment | None = None
        self.findings: list[Finding] = []
        self.results = Results(())
        self.report: RunReport | None = None
        self.notes: list[str] = []
        #: report files that could not be written at the end, and why
        self.write_problems: list[str] = []
        self.seed = settings.seed if settings.seed is not None else random.randrange(10**6)
        #: --delegation-ci writes jobs and runs nothing: no workers
        self.workers = 0 if settings.ci else worker_count(config, settings, self.plan)
        self.generated: Generated | None = None
        self.suggestion: Suggestion | None = None
        #: the fingerprint of a collect-only run's collection (see collect.cache)
        self.collection_print: str | None = None
        self.mode = mode_label(self.workers, settings.schedule, settings.workers_from)
        from pytest_delegation.run.inprocess import InProcess

        #: another CI job's tasks that did not pass -> the task that failed first
        self.upstream: dict[str, str] = {}
        self.runner: WorkerMode | InProcess | None = (
            WorkerMode(config, settings, self.workers, server)
            if self.workers and self.branches is None
            else None
        )
        if server is not None and not isinstance(self.runner, WorkerMode):
            server.close()  # started early (run/early.py) for workers that won't run
        if any(dest == STDOUT for _, dest in settings.reports):
            # before pytest's terminal reporter takes sys.stdout (this runs tryfirst)
            self.stdout, sys.stdout = sys.stdout, sys.stderr

    def _branch_driver(self) -> BranchDriver | None:
        from pytest_delegation.branches import targets

        if (
            os.environ.get(targets.IN_TREE)
            or self.settings.ci is not None
            or self.config.option.collectonly
        ):
            # a run in a branch's tree checks that tree; --collect-only runs nothing
            return None
        if self.plan is None:
            if self.settings.branches:
                raise pytest.UsageError(
                    "--delegation-branches needs a plan file: the branches are named by its "
                    "task ids (write one, or let --delegation-suggest=delegation.yaml start it)"
                )
            return None
        if not targets.enabled(self.settings, self.plan):
            return None
        from pytest_delegation.branches.driver import BranchDriver

        driver = BranchDriver(self.config, self.settings, self.plan)
        driver.prepare()
        return driver

    def add_finding(self, finding: Finding) -> None:
        if self.keep(finding):
            self.findings.append(finding)

    def keep(self, finding: Finding) -> bool:
        """Whether a finding counts (not ignored); the hook hears of each that does."""
        if is_ignored(finding, self.ignores):
            return False
        self.config.hook.pytest_delegation_finding(config=self.config, finding=finding)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # a second early: file times come from a coarser clock than time.time()
        self.began = time.time() - 1.0
        interrupts.sigterm_as_ctrl_c()

    # -- collection ------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool | None:
        if self.branches is not None:
            return True  # every tree collects its own tests
        if self._cached_collection(session):
            return True  # pytest's own collection is skipped
        return None

    def _cached_collection(self, session: pytest.Session) -> bool:
        """A collect-only run with nothing changed since the last: the cached tests."""
        from pytest_delegation.collect import cache

        if not cache.usable(self.config):
            return False
        self.collection_print = cache.fingerprint(self.config)
        refs = cache.load(self.config, self.collection_print)
        if refs is None:
            return False
        from pytest_delegation.collect.collection import map_cached

        self._mapped(map_cached(self.config, self.plan, refs), [r.nodeid for r in refs])
        assert self.assignment is not None and self.plan is not None
        session.testscollected = len(refs)
        self.notes.append(
            f"collection: {plural(len(refs), 'test')} from pytest's cache (no file under "
            "rootdir changed since the last --collect-only run; --cache-clear collects again)"
        )
        self._collected(ref.nodeid for ref in refs)
        return True

    def _collected(self, nodeids: Iterable[str]) -> None:
        """Count each task's selected tests; with --delegation-ci, write the jobs."""
        assert self.assignment is not None and self.plan is not None
        task_of = self.assignment.task_of
        for nodeid in nodeids:
            task = task_of.get(nodeid)
            # the results hold only the tasks this run reports on (--delegation-task)
            if task is not None and task in self.results:
                self.results.collected(task)
        if self.settings.ci is not None:
            from pytest_delegation.ci.generate import from_config

            self.generated = from_config(self.config, self.settings, self.plan, task_of.values())

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> object:
        # map the full collection, before -k, -m and --lf narrow it: a task whose tests
        # are merely deselected is not an unverified task
        self.map_items(items, complete=not session.testsfailed)
        return (yield)

    def map_items(self, items: Sequence[pytest.Item], complete: bool = True) -> None:
        mapped = map_collection(self.config, self.plan, items)
        if self.collection_print is not None and complete:
            # a collection with errors is never kept: the next run must show them
            from pytest_delegation.collect import cache
            from pytest_delegation.collect.markers import item_line
            from pytest_delegation.collect.markers import task_ref

            refs = [task_ref(item)[0] for item in items]
            lines = [item_line(item) for item in items]
            cache.store(
                self.config,
                self.collection_print,
                [replace(ref, line=line) for ref, line in zip(refs, lines, strict=True)],
            )
        self._mapped(mapped, [item.nodeid for item in items])

    def _mapped(self, mapped: Mapped, nodeids: Sequence[str]) -> None:
        if isinstance(self.runner, WorkerMode):
            self.runner.positions = positions(nodeids)
        self.plan = plan = mapped.plan
        if self.settings.upstream:
            self.upstream = self._upstream(plan, mapped.assignment)
            if isinstance(self.runner, WorkerMode):
                self.runner.upstream = self.upstream
        self.assignment = mapped.assignment
        self.results = Results(plan.tasks)
        if self.settings.tasks:
            self.results.only(self.settings.tasks)
        from pytest_delegation.checks.collection import collection_findings

        for finding in collection_findings(
            self.config,
            plan,
            self.assignment,
            mapped.refs,
            complete=scope.complete_collection(self.config),
            plan_file=self._plan_label(),
            boundaries="boundaries" in self.settings.checks,
            diff=self.settings.diff,
        ):
            self.add_finding(finding)

    def _upstream(self, plan: Plan, assignment: Assignment) -> dict[str, str]:
        """``--delegation-upstream``: the dependencies another CI job ran that failed."""
        from pytest_delegation.ci.needs import upstream_blocks
        from pytest_delegation.ci.reports import ReportError

        assert self.settings.upstream is not None
        folder = Path(self.config.invocation_params.dir, self.settings.upstream)
        selected = self.settings.tasks or tuple(plan.tasks)
        try:
            return upstream_blocks(plan, selected, set(assignment.task_of.values()), folder)
        except ReportError as exc:
            raise pytest.UsageError(
                f"--delegation-upstream={self.settings.upstream}: {exc}"
            ) from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.assignment is None or self.plan is None:
            return
        task_of = self.assignment.task_of
        if self.settings.tasks:
            scope.narrow_to_tasks(self.config, session.items, task_of, self.settings.tasks)
        scope.sort_by_wave(session.items, task_of, self.plan)
        self._collected(item.nodeid for item in session.items)
        if self.settings.ci is not None:
            return
        if self.workers == 0:
            from pytest_delegation.run.inprocess import InProcess

            runnable = {task_of.get(i.nodeid) for i in session.items}
            ordered = [t for wave in self.plan.waves for t in wave if t in runnable]
            self.runner = InProcess(
                self.config,
                self.plan,
                task_of,
                self.results,
                [t for t in ordered if t in self.results],
                self.upstream,
                tracker=self._tracker(),
            )
            self.config.pluginmanager.register(self.runner, InProcess.name)

    def _tracker(self) -> Tracker | None:
        """A branch run's tree measures its boundaries in-process: the process alone is
        the isolation there, and a worker would cost a second start and collection."""
        from pytest_delegation.branches.targets import IN_TREE
        from pytest_delegation.worker.tracker import Tracker

        if os.environ.get(IN_TREE) and "boundaries" in self.settings.checks:
            return Tracker(str(self.rootdir))
        return None

    # -- running ---------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:

        if self.settings.ci is not None:
            return True  # the jobs are written: nothing runs here
        if self.branches is not None:
            from pytest_delegation.collect.mapping import plan_folder

            assert self.plan is not None
            self.branches.run(
                session, self.workers, self.seed, plan_folder(self.plan, self.rootdir)
            )
            return True
        mode = self.runner
        if not isinstance(mode, WorkerMode) or self.assignment is None or self.plan is None:
            # pytest's own loop, in wave order
            return None
        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            raise session.Interrupted(
                f"{session.testsfailed} error{'s' * (session.testsfailed != 1)} during collection"
            )
        if self.config.option.collectonly:
            return True
        mode.run(
            session, self.plan, self.assignment.task_of, self.results, self.add_finding,
            self.timeline, self.clock, self.seed, self.notes,
        )  # fmt: skip
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.test_reports is not None:
            self.test_reports.append(
                self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
            )
        if self.branches is not None:
            task_of = self.branches.task_of
        else:
            assert self.assignment is not None
            task_of = self.assignment.task_of
        task = task_of.get(report.nodeid)
        if report.when == "teardown" and task is not None:
            # junitxml writes properties from the teardown report: CI dashboards can
            # group testcases by task
            if ("delegation_task", task) not in report.user_properties:
                report.user_properties.append(("delegation_task", task))
        if self.branches is not None:
            return
        recorded = task if task in self.results else None
        if task is not None and recorded is None:
            # a test of a task this run does not report on (--delegation-task)
            return
        self.results.phase(
            recorded, report.nodeid, report.when, report.outcome, hasattr(report, "wasxfail")
        )

    # -- the end ---------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from pytest_delegation.report.build import build_report
        from pytest_delegation.report.build import exit_status
        from pytest_delegation.run.inprocess import InProcess

        if isinstance(self.runner, WorkerMode):
            # the run never reached the workers (collect-only, errors)
            self.runner.close()
        self._write_test_reports()
        # a branch run's in-process tests imported what they imported here
        from pytest_delegation.worker import foreign

        foreign.record()
        if self.branches is not None and self.plan is not None:
            self._branch_report(session, exitstatus)
            return
        if self.assignment is None or self.plan is None:
            return
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if interrupted:
            # the reports are written with what is known; a second Ctrl-C ends it now
            interrupts.second_one_exits()
            self.results.unfinished(self.assignment.task_of, (i.nodeid for i in session.items))
        if isinstance(self.runner, InProcess):
            self.runner.finish()
            if self.runner.tracker is not None:
                from pytest_delegation.run.workers import check_boundaries

                check_boundaries(
                    session, self.plan, self.runner.executed, self.results, self.add_finding,
                    inferred=self.settings.plan == AUTO,
                )  # fmt: skip
        unfinished = tuple(self.runner.unfinished) if isinstance(self.runner, WorkerMode) else ()
        if interrupted:
            cut = f"; not finished: {', '.join(unfinished)}" if unfinished else ""
            self.notes.append(
                f"interrupted (Ctrl-C or SIGTERM): tests not reached are not-run{cut}"
            )
        checks = tuple(
            c
            for c in self.settings.checks
            if c in RUN_CHECKS
            and c not in unfinished
            and (self.workers or (c == "boundaries" and self._tracked()))
        )
        report = build_report(
            self.plan,
            self._plan_label(),
            self.results,
            self.findings,
            duration=time.perf_counter() - self.started,
            mode=self.mode,
            checks=checks,
            skipped_checks=tuple(
                c for c in self.settings.checks if c not in checks and c not in unfinished
            ),
            collect_only=bool(self.config.option.collectonly) or self.generated is not None,
            notes=self.notes,
            timeline=self.timeline,
            seed=self.seed if "order" in checks or "order" in unfinished else None,
            tests_failed=session.testsfailed,
            fail_on=self.settings.fail_on,
            interrupted=interrupted,
            unfinished=unfinished,
            job=self.job,
            started_at=self.started_at,
            tests_of=self.assignment.by_task,
        )
        self._publish(report)
        if self.settings.suggest:
            self._suggest()
        if self.generated is None or self.settings.reports:
            # --delegation-ci alone succeeds once the jobs are written; with a report
            # too, the plan's findings give the verdict as in any collect-only run
            session.exitstatus = exit_status(report, session.exitstatus)

    def _write_test_reports(self) -> None:
        """For the branch run that started this one: every test report, one per line."""
        if self.test_reports is None:
            return
        import json

        from pytest_delegation.report.files import write_atomic

        lines = (json.dumps(data, default=str) for data in self.test_reports)
        write_atomic(Path(os.environ[TEST_REPORTS]), "".join(f"{line}\n" for line in lines))

    def _branch_report(self, session: pytest.Session, exitstatus: int) -> None:
        """The branch batch's report (or what stopped it), written and rendered."""
        from pytest_delegation.report.build import exit_status

        assert self.branches is not None and self.plan is not None
        report = self.branches.report(
            self._plan_label(),
            duration=time.perf_counter() - self.started,
            mode=f"branches, {self.mode}",
            started_at=self.started_at,
            keep=self.keep,
        )
        if report is None:
            from pytest_delegation.report.build import build_report

            interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
            error = self.branches.error
            report = build_report(
                self.plan, self._plan_label(), Results(self.plan.tasks), [],
                duration=time.perf_counter() - self.started, mode=f"branches, {self.mode}",
                checks=(), skipped_checks=self.settings.checks, collect_only=False,
                notes=[error] if error else ["interrupted (Ctrl-C or SIGTERM) before the "
                       "branch runs ended: nothing is reported as checked"],
                timeline=[], seed=None, tests_failed=1, fail_on=self.settings.fail_on,
                interrupted=interrupted, job=self.job, started_at=self.started_at,
            )  # fmt: skip
        self._publish(report)
        session.exitstatus = exit_status(report, session.exitstatus)

    def _publish(self, report: RunReport) -> None:
        """The report to the hook, then to every file asked for."""
        from pytest_delegation.report.build import write_reports

        self.report = report
        self.config.hook.pytest_delegation_report(config=self.config, report=report)
        self.write_problems = write_reports(
            report, self.settings.reports, self.config.invocation_params.dir,
            self.stdout_reports,
        )  # fmt: skip

    def _suggest(self) -> None:
        """``--delegation-suggest``: the corrected plan, from what this run found."""
        from pytest_delegation.collect.cache import durations
        from pytest_delegation.collect.mapping import plan_folder
        from pytest_delegation.report.suggestion import write_suggestion

        assert self.plan is not None and self.assignment is not None
        assert self.settings.suggest is not None
        dest = Path(self.config.invocation_params.dir, self.settings.suggest)
        try:
            self.suggestion = write_suggestion(
                self.plan,
                self.findings,
                {t: r.executed_files for t, r in self.results.tasks.items()},
                dest=dest,
                plan_dir=plan_folder(self.plan, self.rootdir),
                inferred=self.settings.plan == AUTO,
                tests_of=self.assignment.by_task,
                test_files={n.split("::", 1)[0] for n in self.assignment.task_of},
                durations=durations(self.config),
            )
        except OSError as exc:
            self.write_problems.append(
                f"the suggested plan could not be written to {dest}: {exc.strerror or exc}"
            )

    def _tracked(self) -> bool:
        from pytest_delegation.run.inprocess import InProcess

        return isinstance(self.runner, InProcess) and self.runner.tracker is not None

    def _plan_label(self) -> str:
        assert self.plan is not None
        return plan_label(self.plan, self.settings, self.rootdir)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.report is not None and ("term", None) in self.settings.reports:
            from pytest_delegation.report.terminal import render

            render(self.report, terminalreporter, self.config.get_verbosity())
        for problem in self.write_problems:
            terminalreporter.write_line(f"delegation: ERROR: {problem}", red=True, bold=True)
        if self.suggestion is not None:
            for line in self.suggestion.lines():
                terminalreporter.write_line(line)
        if self.generated is not None:
            assert self.plan is not None
            tasks = len({t for job in self.generated.jobs for t in job.tasks})
            terminalreporter.write_line(self.generated.summary(tasks), bold=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if isinstance(self.runner, WorkerMode):
            self.runner.close()  # a session that never started: another plugin failed
        interrupts.restore()
        if self.began is not None:
            residue.sweep(self.began)
        if self.stdout is not None:
            sys.stdout = self.stdout
            for text in self.stdout_reports:
                sys.stdout.write(text)
            sys.stdout.flush()
        if self.generated is not None and self.generated.path is None:
            # standard output, after pytest's last line: `... | tail -n 1` gives a script
            # the matrix alone
            print(self.generated.text.rstrip("\n"), flush=True)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.plan is None:
            return ["delegation: plan inferred from the tests (one task per module)"]
        return [
            f"delegation: {self._plan_label()}, {plural(len(self.plan.tasks), 'task')} in "
            f"{plural(len(self.plan.waves), 'wave')}, {self.mode}"
        ]
