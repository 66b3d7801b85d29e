"""Worker processes: starting one for a spec, reading its events, stopping it.

Every worker is a ``python -m pytest`` (forked from the session's server, or spawned)
in a session (process group) of its own, so Ctrl-C reaches only the controller, which
then stops every worker and its children. A `Worker` is a handle first and a process
only once `Launcher.start` has started it: building one starts nothing.

A run is over when its process has exited, whether or not its report pipe is closed: a
process a test started and left running may hold the pipe open. `Worker.close` kills
what the run's process group still holds then, and says so in the launcher's `notes`
(a process that left the group, with ``setsid``, is out of its reach). A fork server
that dies takes its children with it: those runs are `Worker.lost` (their runners run
them again), and the launcher spawns every worker from then on, saying so once.

Every run gets a HOME and a TMPDIR of its own, made fresh in the launcher's work folder
and removed with the run's other files: tasks side by side would otherwise share
``~/.app/config`` and the temp folder, and fail each other (seen as flaky). A spec that
brings its own (the order check's runs) keeps them; ``real_home`` keeps the user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import time
from typing import Any
from typing import cast

from pytest_delegation.run.argv import CACHE_DIR
from pytest_delegation.run.argv import collection_args
from pytest_delegation.run.argv import keep_user_site
from pytest_delegation.run.argv import worker_env
from pytest_delegation.run.forkserver import Forked
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.spec import RunSpec
from pytest_delegation.worker.protocol import decode


class Worker:
    """The controller's handle on one worker run: its report pipe, process and files."""

    def __init__(
        self,
        spec: RunSpec,
        workdir: Path,
        coverage: bool = False,
        notes: list[str] | None = None,
    ) -> None:
        self.spec = spec
        self.task = spec.task
        self.attempt = spec.attempt
        self.label = spec.label
        self.ids = list(spec.ids)
        #: the test files a worker keeps while it walks their folders (`argv.collection_args`)
        self.only: list[str] = []
        self.spec_path = workdir / f"{spec.name}.json"
        self.output_path = workdir / f"{spec.name}.out"
        self.run_path = workdir / f"{spec.name}.run.json"
        self.cache_path = workdir / f"{spec.name}.cache"
        self.coverage_file = workdir / f"{spec.name}.cov" / ".coverage" if coverage else None
        self.home_path = workdir / f"{spec.name}.home"
        self.tmp_path = workdir / f"{spec.name}.tmp"
        #: the folders `own_folders` made, removed by `close`
        self.made: list[Path] = []
        self.fd = -1
        self.process: subprocess.Popen[bytes] | Forked | None = None
        self.started = 0.0
        self._buffer = b""
        #: where to say that the run left processes behind (the launcher's notes)
        self.notes = notes
        #: stopped by the controller (a timeout, -x, Ctrl-C) rather than ended by itself
        self.killed = False

    def fileno(self) -> int:
        return self.fd

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """Events available now, and whether the pipe is closed (the worker is gone)."""
        chunks = []
        closed = False
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
        data = self._buffer + b"".join(chunks)
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        events = []
        for line in lines:
            # None: a torn line from a killed worker, or nothing the protocol knows
            event = decode(line) if line.strip() else None
            if event is not None:
                events.append(cast("dict[str, Any]", event))
        return events, closed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self) -> int | None:
        """The exit status once the worker's process has ended, else None; never waits."""
        if self.process is None:
            return -signal.SIGKILL
        return self.process.poll()

    def lost(self) -> bool:
        """Whether the run died with the fork server it was forked from: it did not
        happen (the server's death killed it, not its tests)."""
        process = self.process
        return (
            isinstance(process, Forked)
            and process.returncode == -signal.SIGKILL
            and process.server.gone
        )

    def kill(self) -> None:
        """Stop the worker and everything it started."""
        self.killed = True
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()

    def wait(self) -> int:
        if self.process is None:
            return -signal.SIGKILL
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait()

    def output_tail(self, lines: int = 15) -> str:
        try:
            text = self.output_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def hand_over_coverage(self, target: Path) -> None:
        """Put this worker's coverage data where the controller's pytest-cov combines."""
        if self.coverage_file is not None and self.coverage_file.exists():
            name = f"{target.name}.delegation-{self.task or 'untagged'}-{self.attempt}"
            shutil.move(str(self.coverage_file), target.with_name(name))

    def own_folders(self, given: Mapping[str, str]) -> dict[str, str]:
        """A fresh HOME and TMPDIR for this run, but those `given` by its spec.

        Fresh: a run started again (see `lost`) has the same name, and must not see
        what the lost one wrote.
        """
        env = {}
        for variable, path in (("HOME", self.home_path), ("TMPDIR", self.tmp_path)):
            if variable in given:
                continue
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            self.made.append(path)
            env[variable] = str(path)
        return env

    def close(self) -> None:
        """Kill what the run left running, close the pipe and remove the run's files (its
        cache folder, HOME and TMPDIR too)."""
        self._kill_leftovers()
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        for path in (self.spec_path, self.output_path, self.run_path):
            try:
                path.unlink()
            except OSError:
                pass
        shutil.rmtree(self.cache_path, ignore_errors=True)
        for folder in self.made:
            shutil.rmtree(folder, ignore_errors=True)
        self.made.clear()

    def _kill_leftovers(self) -> None:
        """Kill the processes left in the worker's process group (it leads a session of
        its own, so the group's id is its pid); note it if the run ended by itself."""
        if self.process is None:
            return
        pgid = self.process.pid
        left = _group_alive(pgid)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        if left and not self.killed and self.notes is not None:
            note = f"{_whose(self.spec)} left processes running: killed"
            if note not in self.notes:
                self.notes.append(note)


def _whose(spec: RunSpec) -> str:
    if spec.task is not None:
        return f"a test of task {spec.task}"
    if spec.label:
        return "a test in the order check's runs"
    return "an untagged test"


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (not counting the zombies init is
    about to reap)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # not Linux: the group exists
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


class Launcher:
    """Starts workers for specs: one command line, one folder, one server for a session.

    ``argv`` is everything of a worker's command line but its spec and test files
    (see `argv.worker_argv`); ``workdir`` holds each run's spec, output and cache;
    workers fork from ``server`` when it serves, and are spawned otherwise. ``notes``
    gathers what the session should say about the runs (a fork server lost, processes
    left behind and killed); pass one list to every launcher of a session.
    """

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        workdir: Path,
        basetemp: Path | None = None,
        server: ForkServer | None = None,
        coverage: bool = False,
        notes: list[str] | None = None,
        real_home: bool = False,
        measure: bool = True,
        python_files: Sequence[str] = (),
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.workdir = workdir
        self.basetemp = basetemp
        self.server = server
        self.coverage = coverage
        self.notes: list[str] = notes if notes is not None else []
        self.real_home = real_home
        #: False for replays (the order check's runs): nothing starts coverage in them
        self.measure = measure
        #: the ini's ``python_files``: which test files a folder's walk collects
        self.python_files = tuple(python_files)

    def start(self, spec: RunSpec) -> Worker:
        worker = Worker(spec, self.workdir, self.coverage, self.notes)
        if worker.coverage_file is not None:
            # a run started again (see Worker.lost) has the same name
            worker.coverage_file.parent.mkdir(exist_ok=True)
        server = self._serving()
        read_fd, write_fd = os.pipe()
        worker.fd = read_fd
        command = [
            *(
                arg.format(cache=str(worker.cache_path)) if arg == CACHE_DIR else arg
                for arg in self.argv
            ),
            f"--delegation-child={worker.spec_path}",
        ]
        if self.basetemp is not None:
            command.append(f"--basetemp={self.basetemp / spec.name}")
        paths, worker.only = collection_args(spec.files, self.python_files)
        command += paths
        worker.started = time.monotonic()
        env = {**worker_env(spec.task, worker.coverage_file, self.measure), **spec.env}
        if not self.real_home:
            env.update(worker.own_folders(spec.env))
        keep_user_site(env)
        try:
            if server is not None:
                worker.process = self._fork(server, worker, command, env, write_fd)
            if worker.process is None:
                # a spawned worker dies with its parent: the controller
                self._write_spec(worker, write_fd, os.getpid())
                with open(worker.output_path, "wb") as output:
                    worker.process = subprocess.Popen(
                        command,
                        cwd=self.cwd,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        pass_fds=(write_fd,),
                        start_new_session=True,
                    )
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        return worker

    def _fork(
        self,
        server: ForkServer,
        worker: Worker,
        command: list[str],
        env: dict[str, str],
        write_fd: int,
    ) -> Forked | None:
        """The worker, forked from the server; None (the server lost) if it can't be."""
        # a forked worker dies with its parent: the fork server
        self._write_spec(worker, write_fd, server.pid)
        worker.run_path.write_text(
            json.dumps(
                {
                    # after `python -m pytest`
                    "args": command[3:],
                    "cwd": str(self.cwd),
                    "env": env,
                    "output": str(worker.output_path),
                }
            )
        )
        forked = server.spawn(worker.run_path, write_fd)
        if forked is None:
            self._lose(server)
        return forked

    @staticmethod
    def _write_spec(worker: Worker, write_fd: int, controller: int) -> None:
        spec = worker.spec
        worker.spec_path.write_text(
            json.dumps(
                {
                    "fd": write_fd,
                    "ids": worker.ids,
                    "task": spec.task,
                    # the pid of the worker's parent: it dies with it
                    "controller": controller,
                    "boundaries": spec.boundaries,
                    # probed code compiled once for the session (before Python 3.12)
                    "probe_cache": str(worker.spec_path.parent / "probes"),
                    **({"only": worker.only} if worker.only else {}),
                    **spec.options,
                }
            )
        )

    def _serving(self) -> ForkServer | None:
        """The fork server, while it serves; None once it is lost (or never served)."""
        server = self.server
        if server is None:
            return None
        if not server.ready:
            self.server = None  # it never served, or another launcher lost it
            return None
        if server.gone:
            self._lose(server)
            return None
        return server

    def _lose(self, server: ForkServer) -> None:
        """The server died (or stopped answering): spawn from now on, and say so once."""
        self.server = None
        if server.lost:
            return
        server.lost = True
        code = server.process.poll()
        if code is None:
            # alive but not answering: its children go with it, and run again
            how = "stopped answering"
            server.process.kill()
            server.process.wait()
        else:
            how = describe_exit(code)
        self.notes.append(
            f"the fork server {how} during the run: the runs it took down ran again, "
            "and workers were spawned from then on"
        )


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by signal {-code} ({name})"
    return f"exited with status {code}"
