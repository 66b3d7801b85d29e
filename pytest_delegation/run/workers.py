"""The worker mode of a session: one fork server, the task runs, then the order check.

The session hands over its collected tests and gets back what ran; the fork server,
the work folders, the launcher and the pool live and die here. Durations of each task
are kept in pytest's cache so the next run starts the longest tasks first.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
from pathlib import Path
import shutil
import tempfile

import pytest

from pytest_delegation.checks.boundaries import Execution
from pytest_delegation.checks.boundaries import boundary_findings
from pytest_delegation.checks.boundaries import project_files
from pytest_delegation.checks.findings import Finding
from pytest_delegation.collect.cache import durations
from pytest_delegation.collect.loading import AUTO
from pytest_delegation.collect.mapping import plan_folder
from pytest_delegation.collect.readers import state_readers
from pytest_delegation.options import Settings
from pytest_delegation.order.check import Interrupted
from pytest_delegation.order.check import check_order
from pytest_delegation.order.search import Costs
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.model import Results
from pytest_delegation.report.model import TimelineRow
from pytest_delegation.report.progress import Progress
from pytest_delegation.run import interrupts
from pytest_delegation.run.argv import coverage_target
from pytest_delegation.run.argv import unmeasured_reproduce
from pytest_delegation.run.argv import worker_argv
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.pool import Handle
from pytest_delegation.run.pool import Pool
from pytest_delegation.run.process import Launcher
from pytest_delegation.run.replay import Replayer
from pytest_delegation.run.reproduce import Reproducer
from pytest_delegation.run.scheduler import Scheduler
from pytest_delegation.run.sequences import SequenceRunner
from pytest_delegation.run.tasks import TaskItem
from pytest_delegation.run.tasks import TaskRunner
from pytest_delegation.run.waves import WaveHooks
from pytest_delegation.vocab import DURATIONS_KEY
from pytest_delegation.vocab import Status


def as_item(item: pytest.Item) -> TaskItem:
    return TaskItem(item.nodeid, item.location, str(item.path))


class WorkerMode:
    """Everything of a session that starts processes (``--delegation-workers`` >= 1)."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        workers: int,
        server: ForkServer | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.workers = workers
        #: started as the plugin configured (run/early.py); None: every worker spawns
        self.server = server
        self.argv = worker_argv(config)
        #: the order check's runs: the same, but never measuring coverage
        self.replay_argv = worker_argv(config, measure=False)
        self.coverage = coverage_target(config)
        basetemp = config.option.basetemp
        self.basetemp = Path(basetemp).resolve() if basetemp else None
        self.progress = Progress(config)
        #: the checks an interrupt (Ctrl-C, SIGTERM) stopped before they finished
        self.unfinished: list[str] = []
        #: what the launchers saw go wrong (the fork server died, a test left processes)
        self.launcher_notes: list[str] = []
        #: parametrized ids -> position among their function's tests, in the full
        #: collection (before -k and -m): how a worker finds a test whose id changed
        self.positions: dict[str, int] = {}
        #: dependencies another CI job ran that did not pass -> the task that failed
        self.upstream: dict[str, str] = {}

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def _launcher(self, workdir: Path, coverage: bool, replay: bool = False) -> Launcher:
        """Task runs measure coverage where the session does; replays never do."""
        return Launcher(
            self.replay_argv if replay else self.argv,
            self.config.invocation_params.dir,
            workdir,
            basetemp=self.basetemp,
            server=self.server,
            coverage=coverage,
            notes=self.launcher_notes,
            measure=not replay,
            real_home=self.settings.real_home,
            python_files=self.config.getini("python_files"),
        )

    def run(
        self,
        session: pytest.Session,
        plan: Plan,
        task_of: Mapping[str, str],
        results: Results,
        add_finding: Callable[[Finding], None],
        timeline: list[TimelineRow],
        clock: float,
        seed: int,
        notes: list[str],
    ) -> None:
        """The task runs, then the order check and the boundaries.

        Ctrl-C or SIGTERM at any point stops every worker and replay at once; what was
        learnt by then is kept (findings concluded, files measured), the checks that did
        not finish are in `unfinished`, and the interrupt goes on to pytest (exit 2).
        """
        by_task: dict[str, list[pytest.Item]] = {task: [] for task in results.tasks}
        untagged: list[pytest.Item] = []
        for item in session.items:
            task = task_of.get(item.nodeid)
            if task is None:
                untagged.append(item)
            elif task in by_task:
                by_task[task].append(item)
        checks = self.settings.checks
        runner = self._task_runner(
            session, plan, by_task, untagged, results, add_finding, timeline, clock
        )
        try:
            try:
                self._drive(runner, results)
            except KeyboardInterrupt:
                # the boundaries are still checked, on the tasks that finished
                self.unfinished = [c for c in checks if c in ("isolation", "order", "boundaries")]
                raise
            if "order" not in checks:
                self._hint_order(results, notes)
            if "order" in checks and not runner.stopped:
                baseline = results.baseline(runner.flaky_tests)
                try:
                    findings, said = self.check_order(
                        plan, by_task, untagged, baseline, timeline, clock, seed,
                        Costs(runner.durations, runner.collect_seconds),
                    )  # fmt: skip
                except KeyboardInterrupt as stopped:
                    # before the bisections nothing is concluded; after, what was is kept
                    concluded = stopped.findings if isinstance(stopped, Interrupted) else []
                    self.unfinished = ["order"]
                    for finding in concluded:
                        add_finding(finding)
                    notes.append(
                        f"order check interrupted: {len(concluded)} finding"
                        f"{'s' * (len(concluded) != 1)} concluded before it, "
                        "their reproduce commands not run"
                    )
                    raise KeyboardInterrupt from None
                notes.extend(said)
                for finding in findings:
                    add_finding(finding)
        finally:
            self.close()
            notes.extend(dict.fromkeys(self.launcher_notes))
            if runner.renamed:
                pairs = sorted(runner.renamed.items())
                shown = "; ".join(
                    f"{ours} (a worker collected {theirs})" for ours, theirs in pairs[:3]
                )
                more = f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
                notes.append(
                    "test ids differ between two collections (built at collection time?), "
                    f"matched by their position among their function's tests: {shown}{more}"
                )
            if "boundaries" in checks:
                self._boundaries(session, plan, runner, results, add_finding, notes)

    @staticmethod
    def _hint_order(results: Results, notes: list[str]) -> None:
        """A task that fails alone may pass in a plain run: only the order check tells."""
        failed = sorted(t for t, r in results.tasks.items() if r.status == Status.FAILED)
        if failed:
            notes.append(
                f"{', '.join(failed[:5])}{' and more' * (len(failed) > 5)} failed in "
                f"{'their own workers' if len(failed) > 1 else 'its own worker'}; if "
                "a plain run passes, a test depends on another task's tests: "
                "--delegation-check=order finds which"
            )

    def _boundaries(
        self,
        session: pytest.Session,
        plan: Plan,
        runner: TaskRunner,
        results: Results,
        add_finding: Callable[[Finding], None],
        notes: list[str],
    ) -> None:
        """The files each task's tests executed, against the plan (the tasks that ran)."""
        check_boundaries(
            session, plan, runner.executed, results, add_finding,
            inferred=self.settings.plan == AUTO,
        )  # fmt: skip
        if runner.unmeasured:
            notes.append(
                "file boundaries not measured for "
                + ", ".join(sorted(runner.unmeasured))
                + ": every sys.monitoring tool id was taken (by coverage, profilers or "
                "debuggers)"
            )

    def _task_runner(
        self,
        session: pytest.Session,
        plan: Plan,
        by_task: Mapping[str, Sequence[pytest.Item]],
        untagged: Sequence[pytest.Item],
        results: Results,
        add_finding: Callable[[Finding], None],
        timeline: list[TimelineRow],
        clock: float,
    ) -> TaskRunner:
        runnable = [t for wave in plan.waves for t in wave if by_task.get(t)]
        scheduler = Scheduler(
            plan,
            runnable,
            mode=self.settings.schedule,
            retries=self.settings.retries,
            estimates=self._durations(),
            upstream=self.upstream,
        )
        runner = TaskRunner(
            scheduler,
            {t: [as_item(i) for i in by_task[t]] for t in runnable},
            [as_item(i) for i in untagged],
            results,
            Replayer(session),
            WaveHooks(self.config, plan, runnable, results, self.progress.wave_started),
            self.progress,
            add_finding,
            retries=self.settings.retries,
            boundaries="boundaries" in self.settings.checks,
            timeline=timeline,
            clock=clock,
            on_coverage=self._hand_over_coverage if self.coverage is not None else None,
            positions=self.positions,
        )
        return runner

    @contextlib.contextmanager
    def _work_folder(self, prefix: str) -> Iterator[Path]:
        """A temporary folder for a batch of runs, removed however the batch ends."""
        workdir = Path(tempfile.mkdtemp(prefix=prefix))
        interrupts.track(str(workdir))
        try:
            yield workdir
        except BaseException:
            # a child the server was forking as Ctrl-C came is known to no one but the
            # server: closing it takes such children down before their folder goes
            self.close()
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            interrupts.untrack(str(workdir))

    def _drive(self, runner: TaskRunner, results: Results) -> None:
        try:
            with self._work_folder("pytest-delegation-") as workdir:
                launcher = self._launcher(workdir, self.coverage is not None)
                if not Pool(self.workers, launcher.start, self.settings.timeout).run(runner):
                    runner.stop()
        finally:
            self._remember_durations(list(runner.items_by_task), results)

    def _hand_over_coverage(self, worker: Handle) -> None:
        hand_over = getattr(worker, "hand_over_coverage", None)
        if hand_over is not None and self.coverage is not None:
            hand_over(self.coverage)

    def check_order(
        self,
        plan: Plan,
        by_task: Mapping[str, Sequence[pytest.Item]],
        untagged: Sequence[pytest.Item],
        baseline: Mapping[str, str],
        timeline: list[TimelineRow],
        clock: float,
        seed: int,
        costs: Costs | None = None,
    ) -> tuple[list[Finding], list[str]]:
        """Replay the suite in other orders; pin every changed outcome to its culprit."""
        files = {
            item.nodeid: str(item.path)
            for items in (*by_task.values(), untagged)
            for item in items
        }
        tests = {task: [i.nodeid for i in items] for task, items in by_task.items()}
        #: what the order check says of the runs it set aside, for the report's notes
        said: list[str] = []
        with self._work_folder("pytest-delegation-order-") as workdir:
            runner = SequenceRunner(
                self._launcher(workdir, coverage=False, replay=True),
                self.workers,
                files,
                timeout=self.settings.timeout,
                timeline=timeline,
                clock=clock,
                positions=self.positions,
            )
            findings = check_order(
                runner,
                plan,
                tests,
                [i.nodeid for i in untagged],
                baseline,
                self.settings.shuffles,
                seed,
                lambda line: self.progress.say(line, bold=True),
                Reproducer(
                    self.config.rootpath, self.workers, unmeasured_reproduce(self.config)
                ).verified,
                notes=said,
                costs=costs,
                readers=state_readers(
                    [i for items in (*by_task.values(), untagged) for i in items],
                    _conftests(self.config),
                ),
            )
        reproduced = sum(1 for f in findings if "reproduce" in f.extra)
        reused = f" ({runner.reused} more answered by an identical run)" * bool(runner.reused)
        note = (
            f"order check: {runner.sessions} worker runs{reused}, {runner.tests_executed} "
            f"tests executed, {reproduced} reproduce "
            f"command{'s' * (reproduced != 1)} run (seed {seed})"
        )
        return findings, [note, *said]

    def _durations(self) -> dict[str, float]:
        return durations(self.config)

    def _remember_durations(self, tasks: Sequence[str], results: Results) -> None:
        """Next run starts the longest tasks first (see Scheduler priorities)."""
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        known = dict(self._durations())
        for task in tasks:
            result = results[task]
            if result.attempts and result.status in (Status.PASSED, Status.FLAKY, Status.FAILED):
                known[task] = round(result.duration, 3)
        cache.set(DURATIONS_KEY, known)


def check_boundaries(
    session: pytest.Session,
    plan: Plan,
    executed: Mapping[str, Mapping[str, Execution]],
    results: Results,
    add_finding: Callable[[Finding], None],
    *,
    inferred: bool,
) -> None:
    """The files each task's tests ran code in, recorded and held to the plan.

    Test modules and conftests are how a task is verified, not its code; an inferred
    plan owns no files, so 'no task owns it' would list every source file: left out.
    """
    test_files = {item.nodeid.split("::", 1)[0] for item in session.items}
    plan_dir = plan_folder(plan, session.config.rootpath)
    measured = {t: project_files(f, test_files) for t, f in executed.items()}
    for task, files in measured.items():
        results.executed(task, files)
    for finding in boundary_findings(plan, plan_dir, measured, unowned=not inferred):
        add_finding(finding)


def _conftests(config: pytest.Config) -> list[Path]:
    """The conftest files pytest loaded: their fixtures can hand a test module's state on."""
    files = (getattr(plugin, "__file__", None) for plugin in config.pluginmanager.get_plugins())
    return [Path(f) for f in files if f and Path(f).name == "conftest.py"]
