"""Benchmark of the order check against pytest-find-dependencies, detect-test-pollution
and pytest-randomly, side by side in one invocation.

    python benchmarks/order_bench.py [--sizes 1000,10000] [--shapes large,small]
        [--seeds 10] [--every-seed]
        [--tools ours,find-dependencies,detect-test-pollution,randomly] [--timeout 900]
        [--crash-demo-up-to 1000] [--workdir DIR] [--json PATH]

For each size n and shape (``large``: 250 tests a module, few large modules; ``small``:
10 a module, many small ones) it generates (with ``generate.py --polluter``) a suite of n
trivial tests in several tasks over 2 waves, plus the four planted tests:
``test_victim`` (task 0) fails after ``test_polluter`` (task 1, same wave), and
``test_brittle`` passes only after ``test_state_setter`` (the next wave); both pairs go
through module globals of ``pkg.registry``. It then runs, in the suite's folder:

- ``plain``: ``python -m pytest -p no:randomly``, the baseline;
- ``isolation``, ``isolation+boundaries``: the plugin with ``--delegation-check`` limited
  to those checks (2 workers), the wave run without the order check;
- ``all, shuffles=0`` and ``all, shuffles=2``: the plugin's default checks, with
  ``--delegation-shuffles=0`` and with the default 2 shuffles, ``--delegation-seed=1``;
- ``find-dependencies``: ``python -m pytest -p no:randomly --find-dependencies``, and
  ``--reversed-first --run-serially`` (the brittle test then runs before its setter in
  the tool's first run);
- ``detect-test-pollution``: ``--failing-test <victim> --tests tests``, and the same
  naming the brittle test (which it refuses);
- ``randomly``: plain pytest with pytest-randomly at ``--randomly-seed=1..--seeds``.

Counting. Every pytest session of every command loads a small counting plugin
(``PYTEST_PLUGINS=order_bench_counter``, from a folder outside the suite, so the order
check's state snapshots never see it). It appends to a log, with ``O_APPEND`` writes:
one line per session (process start time, the time it configured, its kind read from
its command line: controller, task worker, order worker, reproduce command,
find-dependencies run, detect-test-pollution run, ...), one line per
``pytest_runtest_protocol`` call (a test executed), one per failed test report made in
that process, and one when the session finishes. Sessions are counted where they start,
so a session that crashes still counts. The plugin's JSON report (``notes``: "order
check: N worker runs, M tests executed"), find-dependencies' "Executed X tests in Y test
runs" and the tools' verdicts are parsed as well, and cross-checked.

Our phases come from the same log: the controller's start-up and collection (until the
first task worker), the isolated wave run (first task worker start to last task worker
end), the order replays (the worker runs that end before the controller prints its
"order check: confirming" line), the confirmations and bisections (until the last order
worker ends), the ``reproduce`` commands, the rest (report).

Each command runs once (they are long). Wall and CPU time (user + system of all its
processes) are reported, with the load average, since other work on the machine changes
wall times. A ``--collect-only`` run first (not counted) writes the bytecode caches.
``PYTHONDONTWRITEBYTECODE`` is removed from the environment, as are ``PYTEST_ADDOPTS``
and the like, so every session reads cached, rewritten modules as in a default setup.
``find-dependencies --reversed-first`` runs only on suites of at most
``--crash-demo-up-to`` tests (1,000).

Exit status 2 when a run does something unexpected (a wrong culprit, a plain run that
fails); the tools' own misses and crashes are results, not errors.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
import datetime
import importlib.util
import json
import os
from pathlib import Path
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any


HERE = Path(__file__).resolve().parent

from common import children_cpu  # noqa: E402


# what a user's environment could add to a run; the benchmark wants none of it. Without
# PYTHONDONTWRITEBYTECODE, as in a default setup, pytest caches its assertion-rewritten
# modules: with it, every session compiles the test modules (and hypothesis) again.
SCRUBBED_ENV = (
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTHONSTARTUP",
    "COVERAGE_PROCESS_START",
    "PYTHONDONTWRITEBYTECODE",
)
TOOLS = ("ours", "find-dependencies", "detect-test-pollution", "randomly")
TASKS_FOR = {1000: 10, 10000: 20}  # tasks of the generated suite, by size
WAVES = 2
COUNTER_MODULE = "order_bench_counter"

COUNTER = '''"""Counts pytest sessions and executed tests for benchmarks/order_bench.py."""

import os
import time

import pytest

_TOKEN = pytest.StashKey[str]()
_FD = {}


def _write(line):
    path = os.environ.get("ORDER_BENCH_LOG")
    if not path:
        return
    pid = os.getpid()
    fd = _FD.get(pid)
    if fd is None:
        fd = _FD[pid] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\\n").encode())


def _process_start():
    """When this process started (fork or exec), in seconds since the epoch (Linux)."""
    try:
        with open("/proc/self/stat") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            boot = time.time() - float(handle.read().split()[0])  # btime is whole seconds
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()


def _kind(args):
    for arg in args:
        if arg.startswith("--delegation-child="):
            name = os.path.basename(arg.split("=", 1)[1]).rsplit(".", 1)[0]
            return ("order-worker:" if name.startswith("order-") else "task-worker:") + name
    joined = " ".join(args)
    if "--find-dependencies-internal" in joined:
        return "find-dependencies-run"
    if "--find-dependencies" in joined:
        return "find-dependencies-controller"
    if "--dtp-testids-output-file" in joined:
        return "detect-test-pollution-discovery"
    if "--dtp-" in joined:
        return "detect-test-pollution-run"
    if "--delegation-report" in joined:
        return "controller"
    if "no:cacheprovider" in joined:
        return "reproduce"
    return "plain"


def pytest_configure(config):
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    config.stash[_TOKEN] = token
    kind = _kind([str(a) for a in config.invocation_params.args])
    tag = os.environ.get("ORDER_BENCH_TAG", "-").replace(" ", "_")
    _write(f"S {token} {_process_start():.3f} {time.time():.3f} {tag} {kind}")


def pytest_unconfigure(config):
    token = config.stash.get(_TOKEN, None)
    if token is not None:
        _write(f"E {token} {time.time():.3f}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    _write(f"T {item.config.stash.get(_TOKEN, '?')} {time.time():.3f}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        _write(f"F {item.config.stash.get(_TOKEN, '?')} {item.nodeid}")
    return report
'''


class BenchmarkError(Exception):
    """A run did something unexpected: the figures would be meaningless."""


# -- running and counting ---------------------------------------------------------------


@dataclass
class Session:
    token: str
    kind: str
    started: float  # process start, epoch seconds
    configured: float
    ended: float | None = None
    tests: int = 0
    first_test: float | None = None  # when its first test started
    last_test: float | None = None
    failed: list[str] = field(default_factory=list)


@dataclass
class Measure:
    name: str
    command: list[str]
    wall: float
    cpu: float
    code: int | None  # None: killed on timeout
    start: float  # epoch
    end: float
    load: tuple[float, float]  # 1-minute load average before and after
    sessions: list[Session] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)  # (epoch, "order check:" line)
    output: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tests(self) -> int:
        return sum(s.tests for s in self.sessions)

    def kinds(self, prefix: str) -> list[Session]:
        return [s for s in self.sessions if s.kind.startswith(prefix)]

    def failed(self, nodeid: str) -> bool:
        return any(nodeid in s.failed for s in self.sessions)


class Runner:
    def __init__(self, workdir: Path, timeout: float) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.log = workdir / "sessions.log"
        counter_dir = workdir / "_counter"
        counter_dir.mkdir(exist_ok=True)
        (counter_dir / f"{COUNTER_MODULE}.py").write_text(COUNTER, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env["PYTHONHASHSEED"] = "0"
        # so that the controller's "order check:" lines arrive when they are printed
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(counter_dir), env.get("PYTHONPATH", "")) if p
        )
        env["PYTEST_PLUGINS"] = COUNTER_MODULE
        env["ORDER_BENCH_LOG"] = str(self.log)
        self.env = env
        self.count = 0

    def run(self, name: str, command: Sequence[str], cwd: Path) -> Measure:
        self.count += 1
        tag = f"m{self.count}"
        if self.log.exists():
            self.log.unlink()
        env = {**self.env, "ORDER_BENCH_TAG": tag}
        load_before = os.getloadavg()[0]
        cpu = children_cpu()
        start_epoch = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        chunks: list[str] = []
        marks: list[tuple[float, str]] = []

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                chunks.append(line)
                if line.startswith("order check:"):
                    marks.append((time.time(), line.strip()))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        code: int | None
        try:
            code = proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            code = None
        except BaseException:
            _kill(proc)
            raise
        if code is None:
            _kill(proc)
        wall = time.perf_counter() - start
        end_epoch = time.time()
        reader.join(timeout=30)
        measure = Measure(
            name=name,
            command=list(command),
            wall=wall,
            cpu=children_cpu() - cpu,
            code=code,
            start=start_epoch,
            end=end_epoch,
            load=(load_before, os.getloadavg()[0]),
            sessions=self._sessions(),
            lines=marks,
            output="".join(chunks),
        )
        status = "TIMEOUT" if code is None else f"exit {code}"
        print(
            f"    {name}: {wall:.1f} s wall, {measure.cpu:.1f} s CPU, {status}, "
            f"{len(measure.sessions)} sessions, {measure.tests} tests executed "
            f"(load {measure.load[0]:.1f} -> {measure.load[1]:.1f})",
            flush=True,
        )
        return measure

    def _sessions(self) -> list[Session]:
        sessions: dict[str, Session] = {}
        if not self.log.exists():
            return []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ")
            if parts[0] == "S" and len(parts) >= 6:
                sessions[parts[1]] = Session(parts[1], parts[5], float(parts[2]), float(parts[3]))
            elif parts[0] == "T" and parts[1] in sessions:
                session = sessions[parts[1]]
                session.tests += 1
                if len(parts) > 2:
                    session.last_test = float(parts[2])
                    if session.first_test is None:
                        session.first_test = session.last_test
            elif parts[0] == "F" and parts[1] in sessions:
                sessions[parts[1]].failed.append(parts[2])
            elif parts[0] == "E" and parts[1] in sessions:
                sessions[parts[1]].ended = float(parts[2])
        return sorted(sessions.values(), key=lambda s: s.started)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# -- the suite ---------------------------------------------------------------------------


def load_generate() -> Any:
    spec = importlib.util.spec_from_file_location("order_bench_generate", HERE / "generate.py")
    if spec is None or spec.loader is None:
        raise BenchmarkError("benchmarks/generate.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.generate


@dataclass
class Planted:
    victim: str
    polluter: str
    brittle: str
    setter: str


#: suite shapes: tests per module (few large modules, many small ones)
SHAPES = {"large": 250, "small": 10}


def make_suite(
    folder: Path, tests: int, seed: int, shape: str = "large"
) -> tuple[Planted, int, int]:
    generate = load_generate()
    tasks = TASKS_FOR.get(tests, max(2 * WAVES, tests // 500))
    suite = generate(
        folder,
        tests=tests,
        tasks=tasks,
        waves=WAVES,
        polluter=True,
        seed=seed,
        per_module=SHAPES[shape],
    )
    planted = {role: where["test"] for role, where in suite.planted.items()}
    return (
        Planted(
            planted["victim"], planted["polluter"], planted["brittle"], planted["state_setter"]
        ),
        suite.total_tests,
        tasks,
    )


# -- one size ----------------------------------------------------------------------------


def python_pytest() -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:randomly"]


OURS = {
    "isolation": ["--delegation-check=isolation"],
    "isolation+boundaries": ["--delegation-check=isolation,boundaries"],
    "all, shuffles=0": ["--delegation-check=all", "--delegation-shuffles=0"],
    "all, shuffles=2": ["--delegation-check=all", "--delegation-shuffles=2"],
}


def bench_size(
    runner: Runner,
    tests: int,
    tools: Sequence[str],
    seeds: int,
    every_seed: bool,
    seed: int,
    crash_demo_up_to: int,
    shape: str = "large",
) -> dict[str, Any]:
    folder = runner.workdir / f"suite-{tests}-{shape}"
    planted, total, tasks = make_suite(folder, tests, seed, shape)
    print(
        f"  suite: {total} tests ({tests} + 4 planted), {tasks} tasks in {WAVES} waves, "
        f"{SHAPES[shape]} tests a module, in {folder}",
        flush=True,
    )
    result: dict[str, Any] = {
        "shape": shape,
        "per_module": SHAPES[shape],
        "tests": total,
        "tasks": tasks,
        "waves": WAVES,
        "planted": asdict(planted),
        "measures": {},
    }
    measures: dict[str, Measure] = {}

    def keep(measure: Measure) -> Measure:
        measures[measure.name] = measure
        return measure

    # writes the bytecode caches (rewritten test modules, hypothesis's plugin imports)
    runner.run("warm-up (collect only, not counted)", [*python_pytest(), "--collect-only"], folder)
    plain = keep(runner.run("plain", python_pytest(), folder))
    if plain.code != 0 or plain.tests != total:
        raise BenchmarkError(f"plain run: exit {plain.code}, {plain.tests} tests\n{plain.output}")

    if "ours" in tools:
        for name, extra in OURS.items():
            report = runner.workdir / f"report-{tests}-{len(measures)}.json"
            command = [
                *python_pytest(),
                f"--delegation-report=json:{report}",
                "--delegation-workers=2",
                "--delegation-seed=1",
                *extra,
            ]
            measure = keep(runner.run(name, command, folder))
            check_ours(measure, report, planted, total, order=name.startswith("all"))

    if "find-dependencies" in tools:
        variants: list[tuple[str, list[str]]] = [("find-dependencies", [])]
        if tests <= crash_demo_up_to:
            variants.append(
                ("find-dependencies --reversed-first", ["--reversed-first", "--run-serially"])
            )
        for name, extra in variants:
            measure = keep(
                runner.run(name, [*python_pytest(), "--find-dependencies", *extra], folder)
            )
            read_find_dependencies(measure, planted)

    if "detect-test-pollution" in tools:
        tool = str(Path(sys.executable).with_name("detect-test-pollution"))
        for name, target in (
            ("detect-test-pollution", planted.victim),
            ("detect-test-pollution (brittle)", planted.brittle),
        ):
            command = [tool, "--failing-test", target, "--tests", "tests"]
            measure = keep(runner.run(name, command, folder))
            read_detect_test_pollution(measure)

    if "randomly" in tools:
        result["randomly"] = randomly(runner, folder, planted, total, seeds, keep, every_seed)

    result["measures"] = {name: summary(m) for name, m in measures.items()}
    return result


def check_ours(measure: Measure, report: Path, planted: Planted, total: int, order: bool) -> None:
    if measure.code is None:
        measure.extra["timeout"] = True
        return
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{measure.name}: no JSON report ({exc})\n{measure.output}") from exc
    notes = list(data.get("notes", []))
    measure.extra["notes"] = notes
    found = {}
    for finding in data.get("findings", []):
        if finding.get("rule") == "hidden-ordering-dependency":
            found[finding["test"]] = {
                "kind": finding.get("kind"),
                "culprit": finding.get("culprit_test"),
                "bisect_runs": finding.get("bisect_runs"),
                "order": finding.get("order"),
                "reproduce_verified": finding.get("reproduce_verified", True),
            }
    measure.extra["found"] = found
    measure.extra["wave_order_findings"] = sum(
        1 for f in data.get("findings", []) if f.get("rule") == "wave-order-dependency"
    )
    task_tests = sum(s.tests for s in measure.kinds("task-worker"))
    if task_tests < total:
        raise BenchmarkError(f"{measure.name}: the wave run executed only {task_tests} tests")
    measure.extra["phases"] = phases(measure)
    if not order:
        if found:
            raise BenchmarkError(f"{measure.name}: ordering findings without the order check")
        return
    expected = {
        planted.victim: ("victim", planted.polluter),
        planted.brittle: ("brittle", planted.setter),
    }
    got = {test: (f["kind"], f["culprit"]) for test, f in found.items()}
    measure.extra["both_pairs_right"] = got == expected
    if any(test in expected and got[test] != expected[test] for test in got):
        raise BenchmarkError(f"{measure.name}: a wrong culprit: {got}")
    if set(got) - set(expected):
        raise BenchmarkError(f"{measure.name}: false ordering findings: {got}")
    match = next(
        (re.search(r"order check: (\d+) worker runs, (\d+) tests executed", n) for n in notes),
        None,
    )
    if match:
        measure.extra["note_runs"] = int(match.group(1))
        measure.extra["note_tests"] = int(match.group(2))


def phases(measure: Measure) -> list[dict[str, Any]]:
    """Where the wall time of one of our runs went, from the session log and the output."""
    tasks = measure.kinds("task-worker")
    order = measure.kinds("order-worker")
    repro = measure.kinds("reproduce")
    # the controller's line as the replays end and the confirmations start
    bisecting = next(
        (
            t
            for t, line in measure.lines
            if "order check: confirming" in line or "bisecting" in line
        ),
        None,
    )

    def end(sessions: Sequence[Session]) -> float:
        return max((s.ended or s.started) for s in sessions)

    points: list[tuple[str, float, list[Session]]] = []
    if tasks:
        points.append(("start-up and collection (controller)", min(s.started for s in tasks), []))
        points.append(("isolated wave run (task workers)", end(tasks), tasks))
    if order:
        cut = bisecting if bisecting is not None else end(order)
        # the replays end before the controller prints "bisecting" (it waits for all of
        # them); the first confirmations start in the same instant, so compare ends
        replays = [s for s in order if (s.ended or s.started) <= cut + 0.05]
        cut = max([cut, *(s.ended or s.started for s in replays)])
        points.append(
            ("order replays (canonical, reverse, shuffles, changers first)", cut, replays)
        )
        rest = [s for s in order if s not in replays]
        if rest:
            points.append(("confirmations and bisections", end(rest), rest))
    if repro:
        points.append(("reproduce commands, run once each", end(repro), repro))
    points.append(("report and exit", measure.end, []))
    result = []
    previous = measure.start
    for label, until, sessions in points:
        result.append(
            {
                "phase": label,
                "seconds": max(0.0, until - previous),
                "sessions": len(sessions),
                "tests": sum(s.tests for s in sessions),
            }
        )
        previous = max(previous, until)
    return result


def read_find_dependencies(measure: Measure, planted: Planted) -> None:
    out = measure.output
    match = re.search(r"Executed (\d+) tests in (\d+) test runs", out)
    if match:
        measure.extra["reported_tests"] = int(match.group(1))
        measure.extra["reported_runs"] = int(match.group(2))
    dependent = re.findall(r"^\s+(\S+) depends on (\S+)$", out, re.MULTILINE)
    measure.extra["dependencies"] = [list(pair) for pair in dependent]
    permanent = re.search(r"failing permanently after all tests have run:\n((?:  \S+\n)+)", out)
    measure.extra["failing_permanently"] = permanent.group(1).split() if permanent else []
    crash = re.search(r"^INTERNALERROR> (\w+(?:Error|Exception)[^\n]*)$", out, re.MULTILINE)
    measure.extra["crash"] = crash.group(1) if crash else None
    measure.extra["victim_pinned"] = [planted.victim, planted.polluter] in measure.extra[
        "dependencies"
    ]
    measure.extra["brittle_flagged"] = planted.brittle in measure.extra["failing_permanently"]


def read_detect_test_pollution(measure: Measure) -> None:
    out = measure.output
    match = re.search(r"the polluting test is: (\S+)", out)
    measure.extra["culprit"] = match.group(1) if match else None
    refused = re.search(r"-> (test failed![^\n]*|expected failure[^\n]*)", out)
    measure.extra["refused"] = refused.group(1) if refused else None


def randomly(
    runner: Runner,
    folder: Path,
    planted: Planted,
    total: int,
    seeds: int,
    keep: Any,
    every_seed: bool,
) -> dict[str, Any]:
    """Seeds 1..`seeds`; unless `every_seed`, stop once both planted tests have failed."""
    rows: list[dict[str, Any]] = []
    for number in range(1, seeds + 1):
        if (
            not every_seed
            and any(r["victim_failed"] for r in rows)
            and any(r["brittle_failed"] for r in rows)
        ):
            break
        command = [sys.executable, "-m", "pytest", "-p", "randomly", f"--randomly-seed={number}"]
        measure: Measure = keep(runner.run(f"randomly seed {number}", command, folder))
        if measure.tests != total:
            raise BenchmarkError(f"randomly seed {number}: {measure.tests} tests executed")
        rows.append(
            {
                "seed": number,
                "wall": measure.wall,
                "victim_failed": measure.failed(planted.victim),
                "brittle_failed": measure.failed(planted.brittle),
                "other_failures": sorted(
                    {t for s in measure.sessions for t in s.failed}
                    - {planted.victim, planted.brittle}
                ),
            }
        )
    first_victim = next((r["seed"] for r in rows if r["victim_failed"]), None)
    first_brittle = next((r["seed"] for r in rows if r["brittle_failed"]), None)
    return {
        "seeds": rows,
        "first_seed_victim_fails": first_victim,
        "first_seed_brittle_fails": first_brittle,
        "victim_exposed": sum(r["victim_failed"] for r in rows),
        "brittle_exposed": sum(r["brittle_failed"] for r in rows),
    }


def summary(measure: Measure) -> dict[str, Any]:
    by_kind: dict[str, dict[str, float]] = {}
    for session in measure.sessions:
        kind = session.kind.split(":", 1)[0]
        entry = by_kind.setdefault(
            kind,
            {
                "sessions": 0,
                "tests": 0,
                "seconds": 0.0,
                "until_first_test": 0.0,
                "after_last_test": 0.0,
            },
        )
        entry["sessions"] += 1
        entry["tests"] += session.tests
        entry["seconds"] += (session.ended or session.started) - session.started
        if session.first_test is not None:
            entry["until_first_test"] += session.first_test - session.started
        if session.last_test is not None and session.ended is not None:
            entry["after_last_test"] += session.ended - session.last_test
    for entry in by_kind.values():
        for key in ("seconds", "until_first_test", "after_last_test"):
            entry[key] = round(entry[key], 3)
    return {
        "command": " ".join(
            ["python", *measure.command[1:]]
            if measure.command[0] == sys.executable
            else [Path(measure.command[0]).name, *measure.command[1:]]
        ),
        "wall": round(measure.wall, 3),
        "cpu": round(measure.cpu, 3),
        "exit": measure.code,
        "load": [round(x, 2) for x in measure.load],
        "sessions": len(measure.sessions),
        "tests": measure.tests,
        "by_kind": by_kind,
        "session_list": [
            {
                "kind": session.kind,
                "tests": session.tests,
                "seconds": round((session.ended or session.started) - session.started, 3),
                "until_first_test": round(
                    (session.first_test or session.started) - session.started, 3
                ),
                "after_last_test": round(
                    (session.ended or session.started) - (session.last_test or session.started),
                    3,
                ),
            }
            for session in measure.sessions
        ],
        **measure.extra,
    }


# -- the report --------------------------------------------------------------------------


def print_size(result: dict[str, Any]) -> None:
    m = result["measures"]
    plain = m["plain"]
    n = result["tests"]
    print(
        f"\n### {n} tests, {result['tasks']} tasks in {result['waves']} waves, "
        f"{result.get('per_module', '?')} tests a module\n"
    )
    print(
        "| run | sessions | tests executed | tests / n | wall s | wall / plain | CPU s | found |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, row in m.items():
        if name.startswith("randomly seed"):
            continue
        print(
            f"| {name} | {row['sessions']} | {row['tests']:,} | {row['tests'] / n:.2f} "
            f"| {row['wall']:.1f} | {row['wall'] / plain['wall']:.2f}x | {row['cpu']:.1f} "
            f"| {found_text(row)} |"
        )
    print("\nsessions by kind: count, tests executed; seconds from process start to the first")
    print("test (interpreter, imports, collection), from the last test to the end of the")
    print("session (unconfigure), and in all, summed over the sessions\n")
    print(
        "| run | kind | sessions | tests | until first test, s | after last test, s | in all, s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, row in m.items():
        if name.startswith("randomly seed"):
            continue
        for kind, k in row["by_kind"].items():
            print(
                f"| {name} | {kind} | {k['sessions']} | {k['tests']:,} | "
                f"{k['until_first_test']:.1f} | {k['after_last_test']:.1f} | {k['seconds']:.1f} |"
            )
    row = m.get("all, shuffles=0")
    if row:
        print("\nall, shuffles=0: the order check's worker runs, in the order they started\n")
        print("| run | tests | seconds | until first test | after last test |")
        print("|---|---:|---:|---:|---:|")
        for item in row["session_list"]:
            if item["kind"].startswith(("order-worker", "reproduce")):
                print(
                    f"| {item['kind'].split(':')[-1]} | {item['tests']:,} | "
                    f"{item['seconds']:.1f} | {item['until_first_test']:.1f} | "
                    f"{item['after_last_test']:.1f} |"
                )
    for name in OURS:
        row = m.get(name)
        if not row or "phases" not in row:
            continue
        print(f"\n{name}: where the time goes\n")
        print("| phase | seconds | share | sessions | tests |")
        print("|---|---:|---:|---:|---:|")
        for phase in row["phases"]:
            print(
                f"| {phase['phase']} | {phase['seconds']:.1f} | "
                f"{phase['seconds'] / row['wall']:.0%} | {phase['sessions']} | "
                f"{phase['tests']:,} |"
            )
    if "randomly" in result:
        r = result["randomly"]
        print(
            f"\nrandomly, seeds 1..{len(r['seeds'])}: the victim fails first at seed "
            f"{r['first_seed_victim_fails']} and in {r['victim_exposed']} of "
            f"{len(r['seeds'])} seeds; the brittle test fails first at seed "
            f"{r['first_seed_brittle_fails']} and in {r['brittle_exposed']} seeds"
        )
        for row in r["seeds"]:
            print(
                f"  seed {row['seed']}: victim {'FAILS' if row['victim_failed'] else 'passes'}, "
                f"brittle {'FAILS' if row['brittle_failed'] else 'passes'}, {row['wall']:.1f} s"
            )


def found_text(row: dict[str, Any]) -> str:
    if row.get("exit") is None:
        return "timed out"
    if "found" in row:
        parts = [
            f"{t.split('::')[-1]} <- {str(f['culprit']).split('::')[-1]} "
            f"({f['kind']}, {f['bisect_runs']} bisect runs)"
            for t, f in sorted(row["found"].items())
        ]
        return "; ".join(parts) or "-"
    if "dependencies" in row:
        parts = [f"{a.split('::')[-1]} <- {b.split('::')[-1]}" for a, b in row["dependencies"]]
        parts += [f"{t.split('::')[-1]} failing permanently" for t in row["failing_permanently"]]
        if row.get("crash"):
            parts.append(f"CRASH: {row['crash'][:60]}")
        return "; ".join(parts) or "nothing"
    if "culprit" in row:
        if row["culprit"]:
            return f"culprit {row['culprit'].split('::')[-1]}"
        return f"refused: {row['refused']}"
    return "-"


def git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    dirty = git("status", "--porcelain", "--", "pytest_delegation")
    return {
        "plugin": git("rev-parse", "--short", "HEAD")
        + (" + uncommitted changes" if dirty else ""),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": datetime.date.today().isoformat(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000", help="test counts, comma-separated")
    parser.add_argument(
        "--shapes",
        default="large,small",
        help="suite shapes, comma-separated: "
        + ", ".join(f"{k} ({v} tests a module)" for k, v in SHAPES.items()),
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="which tools to run")
    parser.add_argument("--seeds", type=int, default=10, help="pytest-randomly seeds 1..N")
    parser.add_argument(
        "--every-seed",
        action="store_true",
        help="run all the seeds, not only until both planted tests have failed once",
    )
    parser.add_argument(
        "--crash-demo-up-to",
        type=int,
        default=1000,
        metavar="N",
        help="run find-dependencies --reversed-first only on suites of at most N tests",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per command")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated plan")
    parser.add_argument("--workdir", help="generate here and keep it (default: a temp dir)")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    shapes = [s for s in args.shapes.split(",") if s]
    if set(shapes) - set(SHAPES):
        parser.error(f"unknown shapes: {args.shapes}; known: {', '.join(SHAPES)}")
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}; known: {', '.join(TOOLS)}")
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="order-bench-"))
    runner = Runner(workdir, args.timeout)
    results: dict[str, Any] = {"machine": machine(), "sizes": {}}
    print(f"order benchmark: {results['machine']}, in {workdir}", flush=True)
    try:
        for tests in sizes:
            for shape in shapes:
                print(f"\n{tests} tests, {shape} modules", flush=True)
                key = f"{tests}-{shape}"
                results["sizes"][key] = bench_size(
                    runner,
                    tests,
                    tools,
                    args.seeds,
                    args.every_seed,
                    args.seed,
                    args.crash_demo_up_to,
                    shape,
                )
                results["sizes"][key]["plugin_after"] = machine()["plugin"]
    except BenchmarkError as exc:
        print(f"order benchmark: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    for result in results["sizes"].values():
        print_size(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
