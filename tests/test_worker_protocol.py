"""The worker protocol: events round-trip, bad lines decode to None, the worker stays light."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
import subprocess
import sys
import threading
import types
import typing

import pytest

from pytest_delegation.worker import channel
from pytest_delegation.worker import protocol


WORKER = Path(protocol.__file__).parent

#: one event of every kind, as the worker builds it
SAMPLES: list[protocol.Event] = [
    protocol.Collected(
        event=protocol.COLLECTED,
        missing=["test_a.py::test_gone"],
        renamed={"test_a.py::test_p[1-1]": "test_a.py::test_p[1-2]"},
        seconds={"test_a.py": 0.0125},
    ),
    protocol.CollectReport(
        event=protocol.COLLECTREPORT, data={"nodeid": "test_b.py", "outcome": "failed"}
    ),
    protocol.LogStart(
        event=protocol.LOGSTART, nodeid="test_a.py::test_x", location=("test_a.py", 3, "test_x")
    ),
    protocol.LogStart(
        event=protocol.LOGSTART, nodeid="test_a.py::test_y", location=("test_a.py", None, "test_y")
    ),
    protocol.Report(
        event=protocol.REPORT,
        data={"nodeid": "test_a.py::test_x", "when": "call", "outcome": "passed"},
    ),
    protocol.Outcome(
        event=protocol.OUTCOME,
        nodeid="test_a.py::test_x",
        when="call",
        outcome="skipped",
        wasxfail=True,
    ),
    protocol.LogFinish(event=protocol.LOGFINISH, nodeid="test_a.py::test_x"),
    protocol.RecordedWarning(
        event=protocol.WARNING,
        nodeid="",
        when="collect",
        message="old — ünïcode",
        category="DeprecationWarning",
        filename="/project/conftest.py",
        lineno=7,
    ),
    protocol.State(
        event=protocol.STATE,
        nodeid="test_a.py::test_x",
        changed=["environment variable X (set)", "global app.CACHE"],
        values={"environment variable X": "1a2b", "global app.CACHE": "removed"},
        before={"environment variable X": "removed", "global app.CACHE": "9f3c"},
    ),
    protocol.Executed(
        event=protocol.EXECUTED,
        files={"app/core.py": ("Cache.get", 12, "test_a.py::test_x")},
        measured=False,
    ),
    protocol.Finished(event=protocol.FINISHED, exitstatus=1),
]


def test_samples_cover_every_event() -> None:
    assert {sample["event"] for sample in SAMPLES} == protocol.EVENTS


def test_events_match_the_union() -> None:
    # each TypedDict of the union names one event, and every name has one
    names = set()
    for member in typing.get_args(protocol.Event):
        hints = typing.get_type_hints(member)
        (name,) = typing.get_args(hints["event"])
        names.add(name)
    assert names == protocol.EVENTS
    assert len(typing.get_args(protocol.Event)) == len(protocol.EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: str(event["event"]))
def test_round_trip(event: protocol.Event) -> None:
    line = protocol.encode(event)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert protocol.decode(line) == event
    assert protocol.decode(line.rstrip(b"\n")) == event


def test_wire_format_is_plain_json_with_the_event_first() -> None:
    # what the controller decoded before the protocol module existed: keep it that way
    line = protocol.encode(
        protocol.LogStart(event=protocol.LOGSTART, nodeid="t.py::t", location=("t.py", 0, "t"))
    )
    assert line == b'{"event": "logstart", "nodeid": "t.py::t", "location": ["t.py", 0, "t"]}\n'


def test_encode_falls_back_to_str() -> None:
    data = {"longrepr": Path("x.py")}
    line = protocol.encode(protocol.Report(event=protocol.REPORT, data=data))
    assert json.loads(line)["data"] == {"longrepr": "x.py"}


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(protocol.encode(SAMPLES[4])[:20], id="torn"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe\n", id="not-utf8"),
        pytest.param(b'{"event": "telepathy", "nodeid": "t"}\n', id="unknown"),
        pytest.param(b'{"nodeid": "t"}\n', id="no-event"),
        pytest.param(b'{"event": ["logstart"]}\n', id="unhashable-event"),
        pytest.param(b'["logstart"]\n', id="not-an-object"),
        pytest.param(b"null\n", id="null"),
    ],
)
def test_bad_lines_decode_to_none(line: bytes) -> None:
    assert protocol.decode(line) is None


def test_channel_writes_every_byte_of_short_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    writes = []

    def short_write(fd: int, data: bytes) -> int:
        # a pipe write can be partial: this one always is, for a long line
        writes.append(len(data))
        return os.write(fd, bytes(data[:1000]))

    monkeypatch.setattr(channel, "os", types.SimpleNamespace(write=short_write))
    # more than a pipe's buffer: the reader must drain it while the channel writes
    events: list[protocol.Event] = [
        protocol.Report(event=protocol.REPORT, data={"longrepr": "x" * 200_000}),
        protocol.Finished(event=protocol.FINISHED, exitstatus=0),
    ]
    received = bytearray()

    def read() -> None:
        while chunk := os.read(read_fd, 1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        sender = channel.Channel(write_fd)
        assert sender.fd == write_fd
        for event in events:
            sender.send(event)
    finally:
        os.close(write_fd)
        reader.join()
        os.close(read_fd)
    assert len(writes) > 200
    lines = bytes(received).split(b"\n")
    assert lines.pop() == b""
    assert [protocol.decode(line) for line in lines] == events


def test_channel_from_spec_prefers_the_fork_servers_fd(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = protocol.WorkerSpec(fd=5, ids=[], task=None, controller=None, boundaries=False)
    monkeypatch.delenv("PYTEST_DELEGATION_FD", raising=False)
    assert channel.Channel.from_spec(spec).fd == 5
    monkeypatch.setenv("PYTEST_DELEGATION_FD", "9")
    assert channel.Channel.from_spec(spec).fd == 9
    # popped: the tests the worker runs do not inherit it
    assert "PYTEST_DELEGATION_FD" not in os.environ


def _outside_imports(source: str, filename: str) -> list[str]:
    """What the source's import statements take from ``pytest_delegation`` outside ``worker``.

    ``pytest_delegation`` itself is allowed (it is the parent package, loaded anyway, and
    its public names resolve lazily), but not a name taken from it: ``from
    pytest_delegation import Plan`` is ``pytest_delegation.Plan``, which loads the plan stack.
    """
    package = "pytest_delegation.worker"
    names = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # relative: against the worker package, which has no subpackages
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.append((node.lineno, module))
            names += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return [
        f"{filename}:{line}: {name}"
        for line, name in names
        if name.startswith("pytest_delegation.")
        and name != package
        and not name.startswith(f"{package}.")
    ]


def test_worker_modules_import_only_the_worker_package() -> None:
    modules = sorted(WORKER.rglob("*.py"))
    assert {path.name for path in modules} >= {"plugin.py", "protocol.py", "channel.py"}
    outside = [
        found
        for path in modules
        for found in _outside_imports(path.read_text(encoding="utf-8"), path.name)
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import pytest_delegation.plan.model", ["pytest_delegation.plan.model"]),
        (
            "from pytest_delegation.run import tasks",
            ["pytest_delegation.run", "pytest_delegation.run.tasks"],
        ),
        ("from pytest_delegation import Plan", ["pytest_delegation.Plan"]),
        ("from .. import vocab", ["pytest_delegation.vocab"]),
        ("from ..plan import model", ["pytest_delegation.plan", "pytest_delegation.plan.model"]),
        ("def f():\n    import pytest_delegation.checks", ["pytest_delegation.checks"]),
        ("import pytest_delegation", []),
        ("from pytest_delegation import worker", []),
        ("from pytest_delegation.worker.snapshot import state", []),
        ("from . import protocol\nfrom .keeper import Keeper", []),
        ("import json, pytest", []),
    ],
)
def test_the_import_check_sees_what_it_should(source: str, found: list[str]) -> None:
    assert [line.split(": ")[1] for line in _outside_imports(source, "m.py")] == found


def test_importing_the_worker_plugin_loads_nothing_else() -> None:
    code = (
        "import sys, pytest_delegation.worker.plugin\n"
        "print('\\n'.join(sorted(m for m in sys.modules"
        " if m.startswith(('pytest_delegation', 'yaml')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=WORKER.parent.parent,
    )
    loaded = result.stdout.split()
    assert "pytest_delegation.worker.plugin" in loaded
    assert "pytest_delegation.worker.protocol" in loaded
    others = [
        name
        for name in loaded
        if name not in ("pytest_delegation", "pytest_delegation.worker")
        and not name.startswith("pytest_delegation.worker.")
    ]
    assert others == []
