"""A pytest run of some tasks in a tree, as its own ``python -m pytest`` process.

Each run is the plugin checking its own tree (``--delegation-task``, a JSON report),
started with ``PYTEST_DELEGATION_IN_TREE`` so it never starts branch runs of its own,
the tree's import roots first on ``PYTHONPATH``, and two folders to write into: every
test report (serialized as pytest-xdist does) and the checkout files its processes
imported instead of the tree's. Runs go side by side, as many as there are workers;
Ctrl-C or SIGTERM stops every one of them (each in its own process group) before the
exception goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

from pytest_delegation.branches.imports import tree_pythonpath
from pytest_delegation.branches.targets import IN_TREE
from pytest_delegation.options import ROLE
from pytest_delegation.vocab import JOB_ENV
from pytest_delegation.vocab import TEST_REPORTS
from pytest_delegation.worker import foreign


#: seconds a stopped run has to clean up its workers before it is killed
GRACE = 5.0
#: the task statuses a run is kept in the cache with: a success is never re-run
OK_STATUSES = frozenset({"passed", "flaky", "skipped", "not-run"})
LOG_TAIL = 30


@dataclass(frozen=True)
class TreeRun:
    """One run to make: which tasks, in which tree, with which checks."""

    #: its lane in the timeline: ``branch agents/a``, ``merge wave 1``
    name: str
    #: the commit the tree holds, and the tree's folder
    commit: str
    tree: Path
    tasks: tuple[str, ...]
    checks: tuple[str, ...]
    workers: int
    #: pytest's arguments: the user's (paths, -k...) or the node ids to run
    args: tuple[str, ...]
    #: the run's folder inside the tree: the user's invocation folder's counterpart
    cwd: str = ""
    #: what identifies the run for the cache (None: never cached)
    key: str | None = None
    #: fresh-worker retries of a failed task (None: the user's setting)
    retries: int | None = None


@dataclass
class RunOutput:
    run: TreeRun
    #: its JSON report; None when it wrote none (a crash, a usage error)
    data: dict[str, Any] | None
    #: its test reports, serialized
    reports: list[dict[str, Any]] = field(default_factory=list)
    #: checkout files (toplevel-relative) it imported instead of the tree's
    foreign: list[str] = field(default_factory=list)
    returncode: int = 0
    #: the end of its output when it wrote no report
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Every task of the run passed (what its tree says of other tasks aside)."""
        tasks = (self.data or {}).get("tasks") or {}
        return self.data is not None and all(
            (tasks.get(task) or {}).get("status") in OK_STATUSES for task in self.run.tasks
        )

    def to_cache(self) -> dict[str, Any]:
        return {"data": self.data, "reports": self.reports, "foreign": self.foreign}

    @classmethod
    def from_cache(cls, run: TreeRun, value: Any) -> RunOutput | None:
        if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
            return None
        return cls(
            run,
            value["data"],
            list(value.get("reports") or ()),
            list(value.get("foreign") or ()),
            cached=True,
        )


@dataclass
class Launcher:
    """How every run starts: the plan to name, the import roots, the checkout to watch."""

    #: the plan's path, relative to a tree's toplevel (None: the default or the hook's)
    plan: str | None
    roots: list[str]
    checkout: Path
    seed: int
    scratch: Any  # Trees.scratch

    def command(self, run: TreeRun, folder: Path) -> list[str]:
        argv = [sys.executable, "-m", "pytest", *run.args]
        argv += [
            f"--delegation-report=json:{folder / 'report.json'}",
            f"--delegation-task={','.join(run.tasks)}",
            f"--delegation-check={','.join(run.checks) or 'none'}",
            f"--delegation-workers={run.workers}",
            f"--delegation-seed={self.seed}",
        ]
        if run.retries is not None:
            argv.append(f"--delegation-retries={run.retries}")
        if self.plan is not None:
            argv.append(f"--delegation-plan={run.tree / self.plan}")
        return argv

    def env(self, run: TreeRun, folder: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.pop(ROLE, None)
        env.pop("PYTEST_CURRENT_TEST", None)
        env[IN_TREE] = "1"
        env[JOB_ENV] = run.name
        env[TEST_REPORTS] = str(folder / "tests.jsonl")
        env[foreign.ROOT] = str(self.checkout)
        env[foreign.OUT] = str(folder / "foreign")
        env["PYTHONPATH"] = tree_pythonpath(run.tree, self.roots, env.get("PYTHONPATH"))
        return env

    def run_all(self, runs: Sequence[TreeRun], parallel: int) -> list[RunOutput]:
        """Every run, `parallel` at a time, in the order given; outputs in that order."""
        pending = list(enumerate(runs))
        running: dict[int, tuple[subprocess.Popen[bytes], Path, Any]] = {}
        done: dict[int, RunOutput] = {}
        try:
            while pending or running:
                while pending and len(running) < max(1, parallel):
                    index, run = pending.pop(0)
                    running[index] = self._start(run)
                finished = [i for i, (proc, _, _) in running.items() if proc.poll() is not None]
                for index in finished:
                    proc, folder, log = running.pop(index)
                    log.close()
                    done[index] = _output(runs[index], folder, proc.returncode)
                if not finished:
                    time.sleep(0.02)
        finally:
            _stop([proc for proc, _, _ in running.values()])
            for _, _, log in running.values():
                log.close()
        return [done[i] for i in range(len(runs))]

    def _start(self, run: TreeRun) -> tuple[subprocess.Popen[bytes], Path, Any]:
        folder = self.scratch(run.name.replace(" ", "-").replace("/", "-"))
        (folder / "foreign").mkdir()
        log = open(folder / "output.txt", "wb")
        proc = subprocess.Popen(
            self.command(run, folder),
            cwd=run.tree / run.cwd if run.cwd else run.tree,
            env=self.env(run, folder),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return proc, folder, log


def _output(run: TreeRun, folder: Path, returncode: int) -> RunOutput:
    report = folder / "report.json"
    data: dict[str, Any] | None = None
    error = None
    try:
        loaded = json.loads(report.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else None
    except (OSError, ValueError):
        lines = (folder / "output.txt").read_text(encoding="utf-8", errors="replace")
        error = "\n".join(lines.splitlines()[-LOG_TAIL:])
    reports = []
    try:
        with open(folder / "tests.jsonl", encoding="utf-8") as handle:
            reports = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        pass
    found: set[str] = set()
    for path in (folder / "foreign").glob("*.txt"):
        found.update(line for line in path.read_text(encoding="utf-8").splitlines() if line)
    return RunOutput(run, data, reports, sorted(found), returncode, error)


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each run's process group (its workers too), then SIGKILL what is left."""
    alive = [p for p in procs if p.poll() is None]
    for proc in alive:
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for proc in alive:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()


def _signal(proc: subprocess.Popen[bytes], number: int) -> None:
    try:
        os.killpg(proc.pid, number)
    except (ProcessLookupError, PermissionError):
        pass
