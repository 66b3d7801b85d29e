"""Ctrl-C and SIGTERM during a delegation run: the first stops it cleanly, a second at once.

A CI runner cancelling a job sends SIGTERM: for the whole session it is taken as Ctrl-C,
so every worker and replay is stopped, the reports are written with what is known and
the run ends with pytest's exit status 2. Once the run is stopping, a second Ctrl-C (or
SIGTERM) ends the process at once: the work folders are removed, and the workers, the
fork server and reproduce runs die with the controller (PR_SET_PDEATHSIG, Linux).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
import shutil
import signal
import sys
from types import FrameType
from typing import Any


#: the handlers this module replaced, to put back at the end of the session
_previous: dict[int, Any] = {}


#: the work folders of the runs going on, removed by a second interrupt on its way out
_folders: set[str] = set()


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _first(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C or SIGTERM: stop cleanly; from now on another one exits."""
    second_one_exits()
    raise KeyboardInterrupt


def _exit_now(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("\ndelegation: interrupted again: exiting now\n")
    sys.stderr.flush()
    for folder in list(_folders):
        shutil.rmtree(folder, ignore_errors=True)
    os._exit(2)


def track(folder: str) -> None:
    _folders.add(folder)


def untrack(folder: str) -> None:
    _folders.discard(folder)


def _install(signum: int, handler: Any) -> None:
    try:
        previous = signal.signal(signum, handler)
    except ValueError:
        # not the main thread (pytest run inside a thread): leave signals alone
        return
    _previous.setdefault(signum, previous)


def sigterm_as_ctrl_c() -> None:
    """For the session: SIGTERM is Ctrl-C, and the first of either stops the run."""
    _install(signal.SIGINT, _first)
    _install(signal.SIGTERM, _first)


@contextlib.contextmanager
def sigterm_as_ctrl_c_while() -> Iterator[None]:
    """SIGTERM as Ctrl-C for a block (a pool run outside a session: the benchmarks)."""
    if signal.getsignal(signal.SIGTERM) in (_first, _exit_now):
        # the session's handlers are in place: they do more
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, _as_ctrl_c)
    except ValueError:
        # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def second_one_exits() -> None:
    _install(signal.SIGINT, _exit_now)
    _install(signal.SIGTERM, _exit_now)


def restore() -> None:
    for signum, handler in list(_previous.items()):
        try:
            signal.signal(signum, handler)
        except ValueError:
            continue
        del _previous[signum]
