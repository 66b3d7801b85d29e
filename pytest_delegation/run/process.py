"""Worker processes: starting one for a spec, reading its events, stopping it.

Every worker is a ``python -m pytest`` (forked from the session's server, or spawned)
in a session (process group) of its own, so Ctrl-C reaches only the controller, which
then stops every worker and its children. A `Worker` is a handle first and a process
only once `Launcher.start` has started it: building one starts nothing.
"""

from __future__ import annotations

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
from pytest_delegation.run.argv import worker_env
from pytest_delegation.run.forkserver import Forked
from pytest_delegation.run.forkserver import ForkServer
from pytest_delegation.run.spec import RunSpec
from pytest_delegation.worker.protocol import decode


class Worker:
    """The controller's handle on one worker run: its report pipe, process and files."""

    def __init__(self, spec: RunSpec, workdir: Path, coverage: bool = False) -> None:
        self.spec = spec
        self.task = spec.task
        self.attempt = spec.attempt
        self.label = spec.label
        self.ids = list(spec.ids)
        self.spec_path = workdir / f"{spec.name}.json"
        self.output_path = workdir / f"{spec.name}.out"
        self.run_path = workdir / f"{spec.name}.run.json"
        self.cache_path = workdir / f"{spec.name}.cache"
        self.coverage_file = workdir / f"{spec.name}.cov" / ".coverage" if coverage else None
        self.fd = -1
        self.process: subprocess.Popen[bytes] | Forked | None = None
        self.started = 0.0
        self._buffer = b""

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

    def kill(self) -> None:
        """Stop the worker and everything it started."""
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

    def close(self) -> None:
        """Close the pipe and remove the run's files (its cache folder too)."""
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


class Launcher:
    """Starts workers for specs: one command line, one folder, one server for a session.

    ``argv`` is everything of a worker's command line but its spec and test files
    (see `argv.worker_argv`); ``workdir`` holds each run's spec, output and cache;
    workers fork from ``server`` when it serves, and are spawned otherwise.
    """

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        workdir: Path,
        basetemp: Path | None = None,
        server: ForkServer | None = None,
        coverage: bool = False,
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.workdir = workdir
        self.basetemp = basetemp
        self.server = server
        self.coverage = coverage

    def start(self, spec: RunSpec) -> Worker:
        worker = Worker(spec, self.workdir, self.coverage)
        if worker.coverage_file is not None:
            worker.coverage_file.parent.mkdir()
        server = self.server if self.server is not None and self.server.ready else None
        read_fd, write_fd = os.pipe()
        worker.fd = read_fd
        worker.spec_path.write_text(
            json.dumps(
                {
                    "fd": write_fd,
                    "ids": worker.ids,
                    "task": spec.task,
                    # the worker dies with its parent: the controller, or the fork server
                    "controller": server.pid if server is not None else os.getpid(),
                    "boundaries": spec.boundaries,
                    **spec.options,
                }
            )
        )
        command = [
            *(
                arg.format(cache=str(worker.cache_path)) if arg == CACHE_DIR else arg
                for arg in self.argv
            ),
            f"--delegation-child={worker.spec_path}",
        ]
        if self.basetemp is not None:
            command.append(f"--basetemp={self.basetemp / spec.name}")
        command += list(spec.files)
        worker.started = time.monotonic()
        env = {**worker_env(spec.task, worker.coverage_file), **spec.env}
        try:
            forked = None
            if server is not None:
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
            if forked is not None:
                worker.process = forked
            else:
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


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by signal {-code} ({name})"
    return f"exited with status {code}"
