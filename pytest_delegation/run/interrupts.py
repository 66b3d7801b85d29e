"""Ctrl-C and SIGTERM during a delegation run: the first stops it cleanly, a second at once.

A CI runner cancelling a job sends SIGTERM: for the whole session it is taken as Ctrl-C,
so every worker and replay is stopped, the reports are written with what is known and
the run ends with pytest's exit status 2. Once the run is stopping, a second Ctrl-C (or
SIGTERM) ends the process at once: the workers are already gone.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Any


#: the handlers this module replaced, to put back at the end of the session
_previous: dict[int, Any] = {}


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _exit_now(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("\ndelegation: interrupted again: exiting now\n")
    sys.stderr.flush()
    os._exit(2)


def _install(signum: int, handler: Any) -> None:
    try:
        previous = signal.signal(signum, handler)
    except ValueError:
        # not the main thread (pytest run inside a thread): leave signals alone
        return
    _previous.setdefault(signum, previous)


def sigterm_as_ctrl_c() -> None:
    _install(signal.SIGTERM, _as_ctrl_c)


@contextlib.contextmanager
def sigterm_as_ctrl_c_while() -> Iterator[None]:
    """SIGTERM as Ctrl-C for a block (a pool run outside a session: the benchmarks)."""
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
