"""Worker processes: the command line a worker gets, starting it, reading it, stopping it.

Every worker is a fresh ``python -m pytest`` in a session (process group) of its own, so
Ctrl-C reaches only the controller, which then stops every worker and its children.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import time
from typing import Any

from pytest_delegation.run.argv import CACHE_DIR
from pytest_delegation.run.argv import worker_env
from pytest_delegation.run.forkserver import Forked
from pytest_delegation.run.forkserver import ForkServer


class Worker:
    """One worker run: a task's tests, in order, in a fresh interpreter."""

    def __init__(
        self,
        task: str | None,
        attempt: int,
        ids: Sequence[str],
        files: Sequence[str],
        argv: Sequence[str],
        cwd: Path,
        workdir: Path,
        basetemp: Path | None = None,
        boundaries: bool = False,
        coverage: bool = False,
        extra: dict[str, object] | None = None,
        env: dict[str, str] | None = None,
        name: str | None = None,
        server: ForkServer | None = None,
    ) -> None:
        self.task = task
        self.attempt = attempt
        self.label = ""  # what the run is for, when it is not a task's run
        self.ids = list(ids)
        name = name or f"{task or 'untagged'}-{attempt}"
        self.spec_path = workdir / f"{name}.json"
        self.output_path = workdir / f"{name}.out"
        self.coverage_file = workdir / f"{name}.cov" / ".coverage" if coverage else None
        if self.coverage_file is not None:
            self.coverage_file.parent.mkdir()
        read_fd, write_fd = os.pipe()
        self.fd = read_fd
        self.spec_path.write_text(
            json.dumps(
                {
                    "fd": write_fd,
                    "ids": self.ids,
                    "task": task,
                    # the worker dies with its parent: the controller, or the fork server
                    "controller": server.pid if server and server.ready else os.getpid(),
                    "boundaries": boundaries,
                    **(extra or {}),
                }
            )
        )
        cache = str(workdir / f"{name}.cache")
        command = [
            *(arg.format(cache=cache) if arg == CACHE_DIR else arg for arg in argv),
            f"--delegation-child={self.spec_path}",
        ]
        if basetemp is not None:
            command.append(f"--basetemp={basetemp / name}")
        command += list(files)
        self.started = time.monotonic()
        self._buffer = b""
        self.run_path = workdir / f"{name}.run.json"
        full_env = {**worker_env(task, self.coverage_file), **(env or {})}
        try:
            forked = None
            if server is not None and server.ready:
                self.run_path.write_text(
                    json.dumps(
                        {
                            "args": command[3:],  # after `python -m pytest`
                            "cwd": str(cwd),
                            "env": full_env,
                            "output": str(self.output_path),
                        }
                    )
                )
                forked = server.spawn(self.run_path, write_fd)
            if forked is not None:
                self.process: subprocess.Popen[bytes] | Forked = forked
            else:
                with open(self.output_path, "wb") as output:
                    self.process = subprocess.Popen(
                        command,
                        cwd=cwd,
                        env=full_env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        pass_fds=(write_fd,),
                        start_new_session=True,
                    )
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)

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
            if line.strip():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue  # a torn line from a killed worker
        return events, closed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def kill(self) -> None:
        """Stop the worker and everything it started."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()

    def wait(self) -> int:
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
        try:
            os.close(self.fd)
        except OSError:
            pass
        for path in (self.spec_path, self.output_path, self.run_path):
            try:
                path.unlink()
            except OSError:
                pass


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by signal {-code} ({name})"
    return f"exited with status {code}"
