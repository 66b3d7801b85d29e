"""Running each finding's reproduce command once, as a user would, to prove it fails.

Like every other replay, a reproduce run gets a temporary HOME and TMPDIR, a process
group of its own, and dies with the controller (Linux), and it is told that it is a
replay (``PYTEST_DELEGATION_ROLE``): with ``--delegation-report`` in the ini's
``addopts`` or in ``PYTEST_ADDOPTS`` it must not turn into a delegation run itself.
Nor does it measure coverage (``--no-cov``, no COVERAGE_PROCESS_START...): run from
the rootdir, pytest-cov would take in and erase the session's coverage data there.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
import os
from pathlib import Path
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from pytest_delegation.checks.findings import Finding
from pytest_delegation.options import ROLE
from pytest_delegation.run.argv import worker_env


#: seconds a reproduce run may take before it counts as not failing
TIMEOUT = 300

# asks the kernel to kill the run when the thread that started it (and so the
# controller) is gone, then becomes the command; PR_SET_PDEATHSIG survives exec
_TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\nexcept Exception:\n    pass\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


class Reproducer:
    """Runs reproduce commands side by side; `stop` kills every one still running."""

    def __init__(self, rootdir: Path, workers: int, extra: Sequence[str] = ()) -> None:
        self.rootdir = rootdir
        #: added to every command (``--no-cov``: a reproduce run never measures coverage)
        self.extra = list(extra)
        self.workers = max(1, workers)
        self.running: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.stopped = False

    def verified(self, findings: list[Finding]) -> list[Finding]:
        """The findings, with ``reproduce_verified: false`` where the command did not fail."""
        commands = list(
            dict.fromkeys(f.extra["reproduce"] for f in findings if "reproduce" in f.extra)
        )
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            failed = dict(zip(commands, pool.map(self.fails, commands), strict=True))
        finally:
            # killed before waiting for the threads: Ctrl-C ends every run at once
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
        return [
            replace(f, extra={**f.extra, "reproduce_verified": False})
            if "reproduce" in f.extra and not failed[f.extra["reproduce"]]
            else f
            for f in findings
        ]

    def fails(self, command: str) -> bool:
        """Run the command once, from rootdir: it must exit 1 (tests failed)."""
        argv = [*shlex.split(command), *self.extra]
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-c", _TRAMPOLINE, *argv[1:]]
        else:
            argv[0] = sys.executable
        sandbox = Path(tempfile.mkdtemp(prefix="pytest-delegation-reproduce-"))
        (sandbox / "home").mkdir()
        (sandbox / "tmp").mkdir()
        env = {
            **worker_env(None, measure=False),
            "HOME": str(sandbox / "home"),
            "TMPDIR": str(sandbox / "tmp"),
            # a pytest-cov it could not be told --no-cov (see argv.unmeasured_reproduce)
            # erases and combines here, not in the rootdir
            "COVERAGE_FILE": str(sandbox / ".coverage"),
            ROLE: "reproduce",
        }
        try:
            process = subprocess.Popen(
                argv,
                cwd=self.rootdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            shutil.rmtree(sandbox, ignore_errors=True)
            return False
        with self.lock:
            self.running.add(process)
            if self.stopped:
                # started as `stop` ran: it would outlive the interrupt
                _kill(process)
        try:
            return process.wait(timeout=TIMEOUT) == 1
        except subprocess.TimeoutExpired:
            return False
        finally:
            _kill(process)
            with self.lock:
                self.running.discard(process)
            shutil.rmtree(sandbox, ignore_errors=True)

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            running = list(self.running)
        for process in running:
            _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The run and everything it started (its process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
