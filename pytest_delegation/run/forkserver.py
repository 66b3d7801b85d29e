"""A fork server for worker runs: pytest and the plugins imported once, a fork per run.

A fresh ``python -m pytest`` spends most of its start-up importing pytest and the
installed plugins (0.6 to 0.9 s of CPU with a few common ones), and a delegation run
starts one worker per task and many more for the order check. The server is started
once per session with the workers' environment and working directory, imports what
every worker would import before reading its configuration (pytest, the ``pytest11``
entry points, the ``-p`` plugins of the command line) and nothing of the project, then
forks one child per run. A child is still a process of its own, with no project module
imported, no configuration read and nothing collected: it sets its environment (its own
HOME and TMPDIR: `tempfile` forgets the server's), working directory and output, and
runs ``pytest.main`` as ``python -m pytest`` would.

Linux only (fork is unsafe with threads, and macOS frameworks); the server refuses to
serve when importing the plugins started a thread, and the caller falls back to
spawning. Protocol, over a SOCK_SEQPACKET socket pair: the controller sends
``{"request": PATH}`` with the report pipe's write end attached (SCM_RIGHTS), the
server answers ``{"started": PATH, "pid": PID}`` and, when a child ends,
``{"exited": PID, "code": CODE}`` (negative for a signal, as ``Popen.returncode``).

The server can die during a session (the OOM killer, a test that kills its parent): its
children die with it (``PR_SET_PDEATHSIG``), and no exit of theirs is told any more. A
`Forked` child then counts as killed by SIGKILL once it is gone, and the controller's
`process.Launcher` marks the server `lost`, spawns every later worker and runs again
the runs the server took down.
"""

from __future__ import annotations

from collections.abc import Sequence
import gc
import json
import os
from pathlib import Path
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any


MESSAGE = 1 << 16


def start_server(
    argv: Sequence[str], cwd: Path, env: dict[str, str], extra: Sequence[str] = ()
) -> ForkServer | None:
    """A server for workers run with `argv`, importing while the caller goes on (see
    `ForkServer.ready`), or None where forking won't do."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "send_fds"):
        return None
    preload = [
        argv[index + 1]
        for index, arg in enumerate(argv[:-1])
        if arg == "-p" and not argv[index + 1].startswith("no:")
    ]
    preload += [name.strip() for name in env.get("PYTEST_PLUGINS", "").split(",") if name.strip()]
    preload += [f"+{name}" for name in extra]  # not plugins: pytest marks none for rewriting
    try:
        return ForkServer(preload, cwd, env)
    except (OSError, ValueError):
        return None


class ForkServer:
    """The controller's side: start the server, ask for children, learn how they ended."""

    def __init__(self, preload: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.exits: dict[int, int] = {}
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    # run from its file: `-m` would import the pytest_delegation package
                    # before pytest's rewriting hook could see it (see _preload)
                    os.path.abspath(__file__),
                    str(theirs.fileno()),
                    str(os.getpid()),
                    *preload,
                ],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.pid = self.process.pid
        self.hello: dict[str, Any] | None = None
        #: it served, then died or stopped answering: no child comes from it any more
        self.lost = False

    @property
    def ready(self) -> bool:
        """Whether it serves: waits, the first time, for it to finish importing."""
        if self.hello is None:
            self.hello = self._receive(timeout=60) or {}
        return bool(self.hello.get("ready")) and not self.lost

    @property
    def gone(self) -> bool:
        """Whether the server's process has exited."""
        return self.process.poll() is not None

    def spawn(self, request: Path, report_fd: int) -> Forked | None:
        """A child running the request's command line; None if the server is gone."""
        try:
            socket.send_fds(
                self.sock, [json.dumps({"request": str(request)}).encode()], [report_fd]
            )
        except OSError:
            return None
        while True:
            message = self._receive(timeout=60)
            if message is None:
                return None
            if message.get("started") == str(request):
                return Forked(self, int(message["pid"]))

    def collect(self, timeout: float = 0.0) -> bool:
        """Take in what the server said; False when it said nothing in `timeout`."""
        message = self._receive(timeout)
        return message is not None

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        """The server's next message, within `timeout`; None if none, or if it is gone."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        try:
            data = self.sock.recv(MESSAGE)
        except OSError:
            return None
        if not data:
            return None  # the server is gone
        message: dict[str, Any] = json.loads(data)
        if "exited" in message:
            self.exits[int(message["exited"])] = int(message["code"])
        return message

    def close(self) -> None:
        self.sock.close()  # the server sees the end of its socket and exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Forked:
    """A forked child, answering like the `subprocess.Popen` it stands for."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            while self.pid not in self.server.exits and self.server.collect():
                pass
            self.returncode = self.server.exits.get(self.pid)
            if self.returncode is None and self.server.gone and not _exists(self.pid):
                self.returncode = -signal.SIGKILL  # died with the server, which can't tell
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            if not self.server.collect(min(left, 1.0)) and self.server.process.poll() is not None:
                self.returncode = -signal.SIGKILL  # the server died: so did its children
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _exists(pid: int) -> bool:
    """Whether a process `pid` exists (an orphan's pid: init reaps it once it ends)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's: it exists
    return True


# -- the server's side -----------------------------------------------------------------


def serve(sock: socket.socket, controller: int, preload: Sequence[str]) -> None:
    _die_with(controller)
    reason, rewritten = _preload(preload)
    sock.send(json.dumps({"ready": reason is None, "reason": reason}).encode())
    if reason is not None:
        return
    # what the server imported moves to the permanent generation: every child's
    # collections (pytest's own run five at its end) skip it, and its pages stay shared
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        _reap(sock, children)
        if sock.fileno() not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, MESSAGE, 1)
        except OSError:
            data, fds = b"", []
        if not data:
            break  # the controller closed its end: done
        request = json.loads(data)["request"]
        pid = os.fork()
        if pid == 0:
            os.close(wake_r)
            os.close(wake_w)
            _child(sock, request, fds[0], rewritten)
        for fd in fds:
            os.close(fd)
        children.add(pid)
        sock.send(json.dumps({"started": request, "pid": pid}).encode())
    for pid in children:  # the controller is gone: so are its runs
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap(sock: socket.socket, children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 0
        if done:
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            try:
                sock.send(json.dumps({"exited": pid, "code": code}).encode())
            except OSError:
                pass


def _preload(modules: Sequence[str]) -> tuple[str | None, frozenset[str]]:
    """Import what every worker imports before its configuration.

    pytest rewrites the asserts of the plugins' packages (the top-level modules of every
    distribution with a ``pytest11`` entry point) and of the ``-p`` modules, and warns
    about any of them imported before it could ("Module already imported so cannot be
    rewritten"), in the worker and in every pytester session inside it. So the server
    imports them through pytest's own rewriting hook, as a fresh process would. Returns
    why forking won't do (or None), and the names that still missed the hook: the child
    silences pytest's warning for exactly those.
    """
    import importlib
    from importlib import metadata

    marked = {name for name in modules if not name.startswith("+")}
    entries = []
    if not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        for dist in metadata.distributions():
            plugins = [e for e in dist.entry_points if e.group == "pytest11"]
            if plugins:
                entries += plugins
                marked.update(e.module.split(".")[0] for e in plugins)
                marked.update(_top_level(str(file)) for file in dist.files or [])
    marked.discard("")
    early = {name for name in marked if name in sys.modules}
    hook = _rewriting_hook(marked)
    try:
        for name in [e.module for e in entries] + [m.removeprefix("+") for m in modules]:
            try:
                importlib.import_module(name)
            except Exception:  # the worker reports it, as a fresh process would
                continue
    finally:
        if hook is not None:
            sys.meta_path.remove(hook)
    _import_builtin_plugins()
    if threading.active_count() > 1:
        return "a plugin started a thread on import: forking would be unsafe", frozenset()
    return None, frozenset(marked if hook is None else early)


def _import_builtin_plugins() -> None:
    """pytest's own plugin modules: a worker imports them all as it configures (about
    20 ms each time, ``unittest`` and ``xml.etree`` with them); nothing of them runs."""
    import importlib

    try:
        from _pytest.config import default_plugins
        from _pytest.config import essential_plugins
    except ImportError:
        return
    for name in (*essential_plugins, *default_plugins):
        try:
            importlib.import_module(f"_pytest.{name}")
        except Exception:  # the worker's own pytest says what is wrong, if it must
            continue


class _RewriteConfig:
    """As much of a pytest Config as pytest's assertion rewriting hook uses."""

    def __init__(self, key: Any) -> None:
        from _pytest.stash import Stash

        self.stash = Stash()
        self.stash[key] = self  # the hook's "state": only its trace is used

    def trace(self, *args: object) -> None:
        pass

    def getini(self, name: str) -> object:
        if name == "enable_assertion_pass_hook":
            return False
        raise ValueError(name)  # python_files: the hook falls back to pytest's default

    def issue_config_time_warning(self, warning: Warning, stacklevel: int) -> None:
        pass  # the worker's own pytest warns, if it must


def _rewriting_hook(names: set[str]) -> Any:
    """pytest's rewriting import hook, installed, with `names` marked; None if it can't be.

    pytest's internals, used as pytest uses them; any change there falls back to plain
    imports and filtered warnings.
    """
    try:
        from _pytest.assertion.rewrite import AssertionRewritingHook
        from _pytest.assertion.rewrite import assertstate_key

        hook = AssertionRewritingHook(_RewriteConfig(assertstate_key))  # type: ignore[arg-type]
        hook.mark_rewrite(*names)
    except Exception:
        return None
    sys.meta_path.insert(0, hook)
    return hook


def _top_level(file: str) -> str:
    first = file.split("/")[0]
    if first.endswith(".py"):
        return first[:-3]
    if first.isidentifier() and "/" in file and file.endswith(".py"):
        return first
    return ""


def _already_imported(names: frozenset[str]) -> list[str]:
    """-W filters for pytest's warnings about the preloaded modules it marks, and no more."""
    filters = []
    for name in sorted(names & set(sys.modules)):
        message = f"Module already imported so cannot be rewritten; {name}"
        filters += ["-W", f"ignore:{message}:pytest.PytestAssertRewriteWarning"]
    return filters


def _child(sock: socket.socket, request: str, report_fd: int, rewritten: frozenset[str]) -> None:
    """In the forked child: become the worker ``python -m pytest`` would have been."""
    code = 1
    try:
        sock.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        with open(request, encoding="utf-8") as handle:
            spec = json.load(handle)
        os.chdir(spec["cwd"])
        os.environ.clear()
        os.environ.update(spec["env"])
        os.environ["PYTEST_DELEGATION_FD"] = str(report_fd)
        # tempfile keeps the first answer of gettempdir(): one the server computed (a
        # preloaded module asked) would be its TMPDIR, not the run's own
        tempfile.tempdir = None
        null = os.open(os.devnull, os.O_RDONLY)
        output = os.open(spec["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(null)
        os.close(output)
        sys.path[0] = os.getcwd()  # as `python -m` sets it
        import pytest

        # last: later -W options win over the user's (-W error, filterwarnings = error)
        args = [*spec["args"], *_already_imported(rewritten)]
        sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *args]
        code = int(pytest.main(args))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # coverage and others save their data at exit
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_with(controller: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != controller:
        os._exit(1)


if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # as `python -m` would have it, not this file's folder
    serve(socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]), sys.argv[3:])
