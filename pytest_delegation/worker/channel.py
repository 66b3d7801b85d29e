"""The worker's end of the pipe to the controller: whole events, one line each.

The controller opens the pipe before it starts a worker and passes the write end down:
inherited under the number the spec names (``fd``) by a worker it starts itself, or
under another one, given in ``PYTEST_DELEGATION_FD``, by a worker the fork server forks.
Each event goes out as one `protocol.encode` line in full: a write to a pipe can be
partial (a long report is larger than the pipe's buffer while the controller is busy),
so `Channel.send` loops until every byte is written, and the controller never reads
half an event unless the worker died in the middle of one. The worker never closes the
pipe itself; the controller ends a run when the worker's process exits (a process a test
left behind may hold the pipe open), reading what is left in the pipe first.
"""

from __future__ import annotations

import os

from pytest_delegation.worker.protocol import Event
from pytest_delegation.worker.protocol import WorkerSpec
from pytest_delegation.worker.protocol import encode


class Channel:
    """The write end of the pipe: `send` writes one event as one whole line."""

    def __init__(self, fd: int) -> None:
        #: the pipe's write end, a file descriptor this process inherited
        self.fd = fd

    @classmethod
    def from_spec(cls, spec: WorkerSpec) -> Channel:
        """The pipe the spec names, or the one the fork server handed a forked worker."""
        # popped, so that the tests and the processes they start do not inherit it
        forked = os.environ.pop("PYTEST_DELEGATION_FD", None)
        return cls(int(forked) if forked else spec["fd"])

    def send(self, event: Event) -> None:
        view = memoryview(encode(event))
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
