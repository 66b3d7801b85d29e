"""Benchmarks of the wave runner: tasks in isolated worker processes, against baselines.

    python benchmarks/workers.py sleep      # 8 sleeping tasks, 4 workers vs in-process and xdist
    python benchmarks/workers.py cpu        # 4 CPU-bound tasks, 2 workers vs in-process
    python benchmarks/workers.py startup    # one task, one test: a worker vs a bare pytest run
    python benchmarks/workers.py makespan   # a random 30-task DAG, 2 workers, waves and dag
    python benchmarks/workers.py all        # the four, one after the other

Every figure is a ratio against a baseline measured in the same invocation: the commands
run alternately (the order rotates each round), one warm-up round first, and the medians
are compared. Every run must exit 0 with the expected number of passed tests, and every
plugin run must write a JSON report in which every task passed; otherwise the benchmark
stops with exit status 2. ``--check`` exits 1 when a target is missed.

``sleep``: 8 tasks in one wave, each of 5 tests sleeping 0.2 s (1 s per task). Commands:
in-process (``--delegation-workers=0``), ``--delegation-workers=4``, and plain
``pytest -n 4 --dist loadgroup`` (the tests carry ``xdist_group("task-<i>")`` markers, so
xdist keeps each task on one worker too). Targets: 4 workers / in-process <= 0.35x (ideal
0.25x), 4 workers / xdist <= 1.2x.

``cpu``: 4 tasks in one wave, each of 4 tests doing a fixed amount of pure-Python work
(calibrated at about 0.5 s each here, so 2 s per task). Commands: in-process and
``--delegation-workers=2``, plus, for reference, the same with the boundaries check on
(its call tracer runs in every worker), ``pytest -n 2 --dist loadgroup``, and the same
loops without pytest in 1 process and in 2 (the 2-way speed-up the machine gives at the
time, since other work may hold a core). Target: in-process / 2 workers >= 1.7x. The
work is a fixed loop count, not ``generate.py --cpu``'s busy wait until a wall-clock
deadline, which finishes on time however oversubscribed the cores are and so cannot show
contention.

``startup``: one task of one trivial test. Commands: bare ``python -m pytest
tests/test_task_0.py``, the plugin in-process, and the plugin with one worker. Figures:
the worker's own time (``tasks.task-0.duration`` of the JSON report: spawn to exit)
against the bare run's wall time, and the time from spawn to the first test starting
(written by a conftest.py of the suite) for the worker against the bare run. Target:
<= 1.3x.

``makespan``: a seeded random 30-task DAG; each task sleeps 0.2 to 2 s in all, over 1 to 3
tests. Each round runs, per schedule (``waves``, ``dag``), a run with a cold cache (the
cache folder removed first) and a second run with the warm cache (the plugin remembers
task durations to start the longest chain first). Efficiency = max(critical path, total
work / 2) / actual wall, where the actual wall is the controller's run loop (timed by the
suite's conftest.py); work is measured (the JSON report's per-task durations, worker
start-up included) or planned (the sleeps). Target: >= 0.8. For reference it also
prints the best any waves schedule can do with the measured durations (each wave's tasks
split between the 2 workers in the best way), against the run loop.

Plugin runs pass ``--delegation-check=isolation`` (``--checks``): the runner alone. The
plugin's default, ``all``, adds the boundaries tracer and the order check, which replays
the whole suite in several more orders after the run.

Common options: ``--repeats`` (5), ``--warmup`` (1), ``--timeout`` (600 s per run; the
whole process group is killed), ``--workdir DIR`` (generate into DIR/<benchmark> and
keep it), ``--keep``, ``--json PATH`` (every sample), ``--seed``, ``--pytest-args ARGS``
(added to every command, baseline included, e.g. ``"-p no:hypothesispytest"``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import json
import math
import os
from pathlib import Path
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import children_cpu  # noqa: E402
from common import finish  # noqa: E402
from common import machine  # noqa: E402
from common import tail  # noqa: E402
from generate import generate  # noqa: E402


SLEEP_TARGET = 0.35  # 4 workers / in-process, at most
XDIST_TARGET = 1.2  # 4 workers / xdist, at most
CPU_TARGET = 1.7  # in-process / 2 workers, at least
STARTUP_TARGET = 1.3  # worker / bare pytest, at most
MAKESPAN_TARGET = 0.8  # efficiency, at least

PYTEST = ("-m", "pytest", "-q", "-p", "no:randomly")
NO_CACHE = ("-p", "no:cacheprovider")
PLUGIN = ("--delegation-report", "--delegation-fail-on=never")
# the runner alone: no boundary tracer, no order check (see --checks)
DEFAULT_CHECKS = "isolation"
# what a user's environment could add to a pytest run; the benchmark wants neither
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP", "COVERAGE_PROCESS_START")
TIMES_ENV = "WORKERS_BENCH_TIMES"  # where the suites' conftest.py appends its timestamps

# A conftest.py for the generated suites: timestamps (time.time(), comparable between
# processes) of the controller's run loop and of each process's first test start. A
# worker is told apart by PYTEST_DELEGATION_TASK, which the controller sets for it.
CONFTEST = '''"""Timestamps for benchmarks/workers.py, only when $WORKERS_BENCH_TIMES is set."""

import json
import os
import time

import pytest

_FIRST = []


def _write(event, **data):
    path = os.environ.get("WORKERS_BENCH_TIMES")
    if path:
        role = "worker" if "PYTEST_DELEGATION_TASK" in os.environ else "main"
        line = {"event": event, "role": role, "time": time.time(), "pid": os.getpid(), **data}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    _write("loop-start")
    try:
        return (yield)
    finally:
        _write("loop-end")


def pytest_runtest_logstart(nodeid, location):
    if not _FIRST:
        _FIRST.append(nodeid)
        _write("first-test", nodeid=nodeid)
'''


class BenchmarkError(Exception):
    """A run failed or produced something unexpected: the figures would be meaningless."""


# -- running and checking one command ---------------------------------------------------


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and its children (nan where unknown)
    code: int
    out: str
    spawned: float  # time.time() just before the process was started


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONHASHSEED"] = "0"
    env.pop(TIMES_ENV, None)
    env.update(extra or {})
    return env


def kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_timed(
    cmd: Sequence[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> Run:
    """Run `cmd` and time it (wall and CPU); kill its process group on timeout or Ctrl-C."""
    cpu = children_cpu()
    spawned = time.time()
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        raise BenchmarkError(
            f"timed out after {timeout:.0f} s: {shlex.join(cmd)}\n{tail(out)}"
        ) from None
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    wall = time.perf_counter() - start
    return Run(wall, children_cpu() - cpu, proc.returncode, out, spawned)


SUMMARY = re.compile(r"^=*\s*(?P<body>(?:\d+ \w+(?:, )?)+) in [\d.]+s", re.MULTILINE)


def check_run(name: str, run: Run, cmd: Sequence[str], expected: int) -> None:
    """Exit 0 and exactly `expected` passed tests, nothing failed, skipped or errored."""
    found = SUMMARY.findall(run.out)
    counts = {}
    if found:
        for part in found[-1].split(", "):
            number, word = part.split(" ", 1)
            counts[word] = int(number)
    counts.pop("warnings", None)
    counts.pop("warning", None)
    if run.code != 0 or counts != {"passed": expected}:
        raise BenchmarkError(
            f"{name}: exit status {run.code}, summary {counts or 'missing'}, expected "
            f"{expected} passed: {shlex.join(cmd)}\n{tail(run.out)}"
        )


def read_report(name: str, path: Path, tasks: int) -> dict[str, Any]:
    """The JSON report of a plugin run; every task must have passed in one attempt."""
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{name}: no JSON report at {path}: {exc}") from None
    path.unlink()
    statuses = {task: data["status"] for task, data in report["tasks"].items()}
    if len(statuses) != tasks or set(statuses.values()) != {"passed"}:
        raise BenchmarkError(f"{name}: expected {tasks} passed tasks, got {statuses}")
    return report


def read_times(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    finally:
        path.unlink(missing_ok=True)
    return [json.loads(line) for line in lines if line.strip()]


# -- measuring alternately ---------------------------------------------------------------


@dataclass
class Variant:
    """One command of a benchmark; `report` is its JSON report path when it is the plugin's."""

    name: str
    cmd: list[str]
    report: Path | None = None
    before: Callable[[], None] | None = None  # run before each run, untimed
    pytest: bool = True  # a pytest run, whose summary line is checked
    samples: list[dict[str, Any]] = field(default_factory=list)

    def walls(self) -> list[float]:
        return [s["wall"] for s in self.samples]

    def median(self, key: str = "wall") -> float:
        return float(statistics.median(s[key] for s in self.samples))


def measure(
    args: argparse.Namespace,
    folder: Path,
    rounds: Callable[[int], list[list[Variant]]],
    expected: int,
    tasks: int,
) -> None:
    """Warm-up rounds, then measured ones; `rounds(r)` gives round r's order of runs.

    A round is a list of sequences: the variants of a sequence run back to back in that
    order (a cold run then its warm run), and the sequences are rotated from round to
    round so that no command always follows the same one.
    """
    times_path = folder / ".bench-times.jsonl"
    total = args.warmup + args.repeats
    for index in range(total):
        warm = index < args.warmup
        done = []
        for variant in (v for sequence in rounds(index) for v in sequence):
            if variant.before is not None:
                variant.before()
            times_path.unlink(missing_ok=True)
            run = run_timed(variant.cmd, folder, args.timeout, {TIMES_ENV: str(times_path)})
            if variant.pytest:
                check_run(variant.name, run, variant.cmd, expected)
            elif run.code != 0:
                raise BenchmarkError(f"{variant.name}: exit status {run.code}\n{tail(run.out)}")
            sample: dict[str, Any] = {"wall": run.wall, "cpu": run.cpu, "spawned": run.spawned}
            sample["times"] = read_times(times_path)
            if variant.report is not None:
                sample["report"] = read_report(variant.name, variant.report, tasks)
            if not warm:
                variant.samples.append(sample)
            done.append(f"{variant.name} {run.wall:.2f}")
        label = "warm-up" if warm else f"run {index - args.warmup + 1}/{args.repeats}"
        print(f"  {label:>9}: {', '.join(done)} s", flush=True)


def rotate(items: list[list[Variant]], index: int) -> list[list[Variant]]:
    shift = index % len(items)
    return items[shift:] + items[:shift]


def pytest_cmd(args: argparse.Namespace, *extra: str, cache: bool = False) -> list[str]:
    cmd = [sys.executable, *PYTEST]
    if not cache:
        cmd += NO_CACHE
    return cmd + shlex.split(args.pytest_args) + list(extra)


def plugin_cmd(
    args: argparse.Namespace, *extra: str, cache: bool = False, checks: str | None = None
) -> list[str]:
    """A plugin run: the report on, findings never failing it, the checks of --checks."""
    check = checks if checks is not None else args.checks
    return pytest_cmd(args, *PLUGIN, f"--delegation-check={check}", *extra, cache=cache)


def show(cmd: Sequence[str]) -> str:
    """A command as the README shows it: `python` for the interpreter."""
    return shlex.join(["python", *cmd[1:]])


def verdict(value: float, target: float, at_most: bool) -> tuple[str, bool]:
    met = value <= target if at_most else value >= target
    sign = "<=" if at_most else ">="
    return f"{'meets' if met else 'MISSES'} the target {sign} {target:g}", met


def add_xdist_groups(tests_dir: Path) -> None:
    """Give every generated module an xdist_group marker named after its task."""
    pattern = re.compile(r'^pytestmark = pytest\.mark\.task\("([\w-]+)"\)$', re.MULTILINE)
    for path in sorted(tests_dir.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        new, count = pattern.subn(
            r'pytestmark = [pytest.mark.task("\1"), pytest.mark.xdist_group("\1")]', text
        )
        if count != 1:
            raise BenchmarkError(f"{path}: no module-level task marker to extend")
        path.write_text(new, encoding="utf-8")


def workspace(args: argparse.Namespace, name: str) -> tuple[Path, bool]:
    """A folder for generated files and whether to delete it afterwards."""
    if args.workdir:
        path = Path(args.workdir).resolve() / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix=f"delegation-workers-{name}-"))
    return path, not args.keep


def have_xdist() -> bool:
    import importlib.util

    return importlib.util.find_spec("xdist") is not None


def durations(variant: Variant) -> list[float]:
    """Every task duration (seconds) of every sample, from the JSON reports."""
    return [
        float(task["duration"]) for s in variant.samples for task in s["report"]["tasks"].values()
    ]


# -- sleep: 8 sleeping tasks, 4 workers -----------------------------------------------------


def sleep_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder, remove = workspace(args, "sleep")
    try:
        tasks, per_task = 8, 5
        suite = generate(folder, tests=tasks * per_task, tasks=tasks, waves=1, sleep=0.2)
        add_xdist_groups(folder / "tests")
        (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        report = folder / "report.json"
        inproc = Variant("in-process", plugin_cmd(args, "--delegation-workers=0"))
        workers = Variant(
            "4 workers",
            plugin_cmd(args, "--delegation-workers=4", f"--delegation-report=json:{report.name}"),
            report,
        )
        variants = [inproc, workers]
        xdist = None
        if have_xdist():
            xdist = Variant("xdist -n 4", pytest_cmd(args, "-n", "4", "--dist", "loadgroup"))
            variants.append(xdist)
        print(
            f"sleep: {tasks} tasks in 1 wave, {per_task} tests of 0.2 s each (1 s per task), "
            f"in {folder}"
        )
        for variant in variants:
            print(f"  {variant.name}: {show(variant.cmd)}")
        measure(args, folder, lambda r: rotate([[v] for v in variants], r), suite.total_tests, 8)
        ratio = workers.median() / inproc.median()
        text, met = verdict(ratio, SLEEP_TARGET, at_most=True)
        print(
            f"  median wall: in-process {inproc.median():.2f} s, 4 workers "
            f"{workers.median():.2f} s" + (f", xdist {xdist.median():.2f} s" if xdist else "")
        )
        print(f"  4 workers / in-process: {ratio:.3f}x wall (ideal 0.25x); {text}")
        task_seconds = durations(workers)
        print(
            f"  per-task worker time (JSON report, spawn to exit; 1 s of sleep): median "
            f"{statistics.median(task_seconds):.2f} s, max {max(task_seconds):.2f} s"
        )
        print(
            f"  median CPU (user+sys, all processes): in-process {inproc.median('cpu'):.2f} s, "
            f"4 workers {workers.median('cpu'):.2f} s"
            + (f", xdist {xdist.median('cpu'):.2f} s" if xdist else "")
        )
        result: dict[str, Any] = {
            "benchmark": "sleep",
            "commands": {v.name: show(v.cmd) for v in variants},
            "samples": {v.name: v.samples for v in variants},
            "ratio": ratio,
            "target": SLEEP_TARGET,
            "met": met,
            "task_duration_median": statistics.median(task_seconds),
        }
        if xdist is not None:
            xratio = workers.median() / xdist.median()
            xtext, xmet = verdict(xratio, XDIST_TARGET, at_most=True)
            print(
                f"  4 workers / xdist: {xratio:.3f}x wall; {xtext} "
                f"(xdist / in-process: {xdist.median() / inproc.median():.3f}x)"
            )
            result.update(xdist_ratio=xratio, xdist_target=XDIST_TARGET)
            result["met"] = met and xmet
        else:
            print("  pytest-xdist is not installed: no xdist comparison")
        return result
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


# -- cpu: 4 CPU-bound tasks, 2 workers --------------------------------------------------------

BURN = (
    "def _burn(ms):\n"
    "    end = time.perf_counter() + ms / 1000\n"
    "    while time.perf_counter() < end:\n"
    "        pass\n"
)


def loops_per_ms() -> float:
    """How many iterations of an empty Python loop this machine runs per millisecond."""
    best = math.inf
    n = 2_000_000
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            pass
        best = min(best, time.process_time() - start)
    return n / (best * 1000)


def fixed_work(tests_dir: Path, rate: float) -> None:
    """Replace generate.py's wall-clock busy wait with a fixed loop count."""
    body = (
        "def _burn(ms):\n"
        f"    for _ in range(int(ms * {rate:.1f})):  # fixed work, calibrated: about ms of CPU\n"
        "        pass\n"
    )
    for path in sorted(tests_dir.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if BURN not in text:
            raise BenchmarkError(f"{path}: generate.py's _burn changed; update workers.py")
        path.write_text(text.replace(BURN, body), encoding="utf-8")


# The same work without pytest, in 1 process and split over 2: how much 2-way parallelism
# the machine gives right now. argv: loop count per test, tests, processes.
BURN_SCRIPT = """import os
import sys

loops, tests, processes = (int(arg) for arg in sys.argv[1:])
children = []
for part in range(processes):
    pid = os.fork()
    if pid == 0:
        for _ in range(tests // processes):
            for _ in range(loops):
                pass
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    if status:
        sys.exit(1)
"""


def cpu_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder, remove = workspace(args, "cpu")
    try:
        tasks, per_task, ms = 4, 4, 500.0
        suite = generate(folder, tests=tasks * per_task, tasks=tasks, waves=1, cpu=ms)
        rate = loops_per_ms()
        fixed_work(folder / "tests", rate)
        add_xdist_groups(folder / "tests")
        report = folder / "report.json"
        inproc = Variant("in-process", plugin_cmd(args, "--delegation-workers=0"))
        workers = Variant(
            "2 workers",
            plugin_cmd(args, "--delegation-workers=2", f"--delegation-report=json:{report.name}"),
            report,
        )
        traced = Variant(
            "2 workers+boundaries",
            plugin_cmd(
                args,
                "--delegation-workers=2",
                f"--delegation-report=json:{report.name}",
                checks=f"{args.checks},boundaries",
            ),
            report,
        )
        (folder / "burn.py").write_text(BURN_SCRIPT, encoding="utf-8")
        loops = str(int(ms * rate))
        tests = str(tasks * per_task)
        plain = {
            n: Variant(
                f"python x{n}", [sys.executable, "burn.py", loops, tests, str(n)], pytest=False
            )
            for n in (1, 2)
        }
        variants = [inproc, workers, traced, plain[1], plain[2]]
        xdist = None
        if have_xdist():
            xdist = Variant("xdist -n 2", pytest_cmd(args, "-n", "2", "--dist", "loadgroup"))
            variants.append(xdist)
        print(
            f"cpu: {tasks} tasks in 1 wave, {per_task} tests of {rate * ms / 1e6:.1f} M empty "
            f"loop iterations (about {ms:g} ms of CPU each when calibrated), "
            f"{os.cpu_count()} CPUs, in {folder}"
        )
        for variant in variants:
            print(f"  {variant.name}: {show(variant.cmd)}")
        measure(args, folder, lambda r: rotate([[v] for v in variants], r), suite.total_tests, 4)
        speedup = inproc.median() / workers.median()
        text, met = verdict(speedup, CPU_TARGET, at_most=False)
        print(
            f"  median wall: in-process {inproc.median():.2f} s, 2 workers "
            f"{workers.median():.2f} s, with boundaries {traced.median():.2f} s"
            + (f", xdist {xdist.median():.2f} s" if xdist else "")
        )
        print(f"  in-process / 2 workers: {speedup:.3f}x faster (ideal 2x); {text}")
        machine = plain[1].median() / plain[2].median()
        print(
            f"  the same work without pytest (burn.py), 1 process / 2 processes: {machine:.3f}x "
            f"faster: the 2-way parallelism the machine gave; in-process / 2 workers reached "
            f"{speedup / machine:.0%} of it"
        )
        more_cpu = workers.median("cpu") / inproc.median("cpu")
        ceiling = 2 / more_cpu
        print(
            f"  CPU time: 2 workers / in-process {more_cpu:.3f}x, so at most {ceiling:.2f}x "
            "faster even on 2 idle cores"
        )
        print(
            f"  boundaries check (the run-time call tracer in each worker): 2 workers with it "
            f"/ without {traced.median() / workers.median():.3f}x wall, "
            f"{traced.median('cpu') / workers.median('cpu'):.3f}x CPU"
        )
        if xdist is not None:
            print(
                f"  in-process / xdist -n 2: {inproc.median() / xdist.median():.3f}x (reference)"
            )
        print(
            f"  median CPU (user+sys): in-process {inproc.median('cpu'):.2f} s, 2 workers "
            f"{workers.median('cpu'):.2f} s; the in-process run got "
            f"{inproc.median('cpu') / inproc.median():.0%} of a CPU (100% on an idle machine)"
        )
        return {
            "benchmark": "cpu",
            "commands": {v.name: show(v.cmd) for v in variants},
            "samples": {v.name: v.samples for v in variants},
            "loops_per_ms": rate,
            "speedup": speedup,
            "boundaries_ratio": traced.median() / workers.median(),
            "idle_ceiling": ceiling,
            "machine_speedup": machine,
            "xdist_speedup": inproc.median() / xdist.median() if xdist else None,
            "target": CPU_TARGET,
            "met": met,
        }
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


# -- startup: one worker against one bare pytest -------------------------------------------


def first_test(sample: dict[str, Any], role: str) -> float:
    """Seconds from the process (bare) or the run loop (worker) to the first test start."""
    first = min(
        e["time"] for e in sample["times"] if (e["role"], e["event"]) == (role, "first-test")
    )
    if role == "main":
        return float(first - sample["spawned"])
    start = min(
        e["time"] for e in sample["times"] if (e["role"], e["event"]) == ("main", "loop-start")
    )
    return float(first - start)


def startup_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder, remove = workspace(args, "startup")
    try:
        suite = generate(folder, tests=1, tasks=1, waves=1)
        (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        report = folder / "report.json"
        bare = Variant("bare", pytest_cmd(args, "tests/test_task_0.py"))
        inproc = Variant("in-process", plugin_cmd(args, "--delegation-workers=0"))
        worker = Variant(
            "1 worker",
            plugin_cmd(args, "--delegation-workers=1", f"--delegation-report=json:{report.name}"),
            report,
        )
        variants = [bare, inproc, worker]
        print(f"startup: 1 task, 1 trivial test, in {folder}")
        for variant in variants:
            print(f"  {variant.name}: {show(variant.cmd)}")
        measure(args, folder, lambda r: rotate([[v] for v in variants], r), suite.total_tests, 1)
        for sample in worker.samples:
            sample["worker"] = float(sample["report"]["tasks"]["task-0"]["duration"])
            sample["to_first_test"] = first_test(sample, "worker")
        for sample in bare.samples:
            sample["to_first_test"] = first_test(sample, "main")
        own = worker.median("worker") / bare.median()
        text, met = verdict(own, STARTUP_TARGET, at_most=True)
        first = worker.median("to_first_test") / bare.median("to_first_test")
        print(
            f"  median wall: bare {bare.median():.3f} s, in-process {inproc.median():.3f} s, "
            f"1 worker {worker.median():.3f} s (the worker alone: {worker.median('worker'):.3f} s)"
        )
        print(f"  worker (spawn to exit, JSON) / bare wall: {own:.3f}x; {text}")
        print(
            f"  spawn to first test: worker {worker.median('to_first_test'):.3f} s, bare "
            f"{bare.median('to_first_test'):.3f} s: {first:.3f}x"
        )
        print(
            f"  whole runs: 1 worker / bare {worker.median() / bare.median():.3f}x, "
            f"in-process / bare {inproc.median() / bare.median():.3f}x, "
            f"1 worker / in-process {worker.median() / inproc.median():.3f}x"
        )
        return {
            "benchmark": "startup",
            "commands": {v.name: show(v.cmd) for v in variants},
            "samples": {v.name: v.samples for v in variants},
            "worker_ratio": own,
            "first_test_ratio": first,
            "whole_ratio": worker.median() / bare.median(),
            "target": STARTUP_TARGET,
            "met": met,
        }
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


# -- makespan: a random DAG, 2 workers, both schedules ---------------------------------------


@dataclass
class Dag:
    tasks: list[str]
    depends_on: dict[str, list[str]]
    sleeps: dict[str, list[float]]  # each test's sleep, per task

    def work(self) -> dict[str, float]:
        return {task: sum(self.sleeps[task]) for task in self.tasks}

    def critical_path(self, cost: dict[str, float]) -> float:
        longest: dict[str, float] = {}
        for task in self.tasks:  # dependencies come earlier in the list
            longest[task] = cost[task] + max(
                (longest[dep] for dep in self.depends_on[task]), default=0.0
            )
        return max(longest.values())

    def waves(self) -> list[list[str]]:
        depth: dict[str, int] = {}
        for task in self.tasks:
            depth[task] = 1 + max((depth[d] for d in self.depends_on[task]), default=0)
        return [
            [t for t in self.tasks if depth[t] == k] for k in range(1, max(depth.values()) + 1)
        ]


def random_dag(tasks: int, seed: int, low: float, high: float) -> Dag:
    """Tasks `t-<i>`; each depends on 0 to 3 of the 8 tasks before it; sleeps low..high s."""
    rng = random.Random(seed)
    ids = [f"t-{i:02d}" for i in range(tasks)]
    depends_on: dict[str, list[str]] = {}
    sleeps: dict[str, list[float]] = {}
    for i, task in enumerate(ids):
        earlier = ids[max(0, i - 8) : i]
        count = min(len(earlier), rng.choice((0, 1, 1, 2, 2, 3)))
        depends_on[task] = sorted(rng.sample(earlier, count))
        total = round(rng.uniform(low, high), 2)
        tests = rng.randint(1, 3)
        sleeps[task] = [round(total / tests, 3)] * tests
    return Dag(ids, depends_on, sleeps)


def write_dag_suite(folder: Path, dag: Dag) -> int:
    """The suite of a DAG: plan, one test module per task, pytest.ini, conftest.py."""
    waves = dag.waves()
    lines = [
        "# generated by benchmarks/workers.py makespan",
        "version: 1",
        f"max_parallel: {max(len(w) for w in waves)}",
        "tasks:",
    ]
    (folder / "src").mkdir()
    (folder / "tests").mkdir()
    count = 0
    for task in dag.tasks:
        name = task.replace("-", "_")
        (folder / "src" / f"{name}.py").write_text(f"NAME = {task!r}\n", encoding="utf-8")
        lines += [f"  {task}:", "    role: code-writer", f"    files: [src/{name}.py]"]
        if dag.depends_on[task]:
            lines.append(f"    depends_on: [{', '.join(dag.depends_on[task])}]")
        body = [f'"""Tests of {task}."""', "", "import time", "", "import pytest", "", ""]
        body.append(f'pytestmark = pytest.mark.task("{task}")')
        for number, seconds in enumerate(dag.sleeps[task]):
            body += ["", "", f"def test_{number}():", f"    time.sleep({seconds!r})"]
            count += 1
        (folder / "tests" / f"test_{name}.py").write_text("\n".join(body) + "\n", "utf-8")
    (folder / "delegation.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "pytest.ini").write_text(
        "[pytest]\ntestpaths = tests\n# generated by benchmarks/workers.py\n", encoding="utf-8"
    )
    (folder / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    return count


def best_split(durations: Sequence[float]) -> float:
    """The shortest time 2 workers take for these independent tasks (one wave).

    Every split of the tasks between the 2 workers is tried; past 16 tasks, the lower
    bound max(longest, total / 2) stands in.
    """
    total = sum(durations)
    if len(durations) > 16:
        return max(max(durations, default=0.0), total / 2)
    best = total
    for mask in range(1 << len(durations)):
        one = sum(d for i, d in enumerate(durations) if mask >> i & 1)
        best = min(best, max(one, total - one))
    return best


def loop_wall(sample: dict[str, Any]) -> float:
    events = {(e["role"], e["event"]): e["time"] for e in sample["times"]}
    return float(events[("main", "loop-end")] - events[("main", "loop-start")])


def makespan_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder, remove = workspace(args, "makespan")
    try:
        workers = 2
        dag = random_dag(30, args.seed, 0.2, 2.0)
        expected = write_dag_suite(folder, dag)
        planned = dag.work()
        planned_bound = max(dag.critical_path(planned), sum(planned.values()) / workers)
        waves = dag.waves()
        cache = folder / ".pytest_cache"

        def clear_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        sequences: list[list[Variant]] = []
        for schedule in ("waves", "dag"):
            report = folder / f"report-{schedule}.json"
            cmd = plugin_cmd(
                args,
                f"--delegation-workers={workers}",
                f"--delegation-schedule={schedule}",
                f"--delegation-report=json:{report.name}",
                cache=True,
            )
            cold = Variant(f"{schedule} cold", cmd, report, clear_cache)
            warm = Variant(f"{schedule} warm", cmd, report)
            sequences.append([cold, warm])
        variants = [v for sequence in sequences for v in sequence]
        print(
            f"makespan: {len(dag.tasks)} tasks (seed {args.seed}) in {len(waves)} waves of "
            f"{[len(w) for w in waves]} tasks, {expected} sleeping tests, {workers} workers, "
            f"in {folder}"
        )
        print(
            f"  planned work {sum(planned.values()):.2f} s, critical path "
            f"{dag.critical_path(planned):.2f} s, bound max(cp, work/{workers}) "
            f"{planned_bound:.2f} s"
        )
        for sequence in sequences:
            print(f"  {sequence[0].name[:-5]}: {show(sequence[0].cmd)}")
        print("  (cold: .pytest_cache removed first; warm: the next run, same cache)")
        measure(args, folder, lambda r: rotate(sequences, r), expected, len(dag.tasks))
        result: dict[str, Any] = {
            "benchmark": "makespan",
            "seed": args.seed,
            "tasks": len(dag.tasks),
            "waves": [len(w) for w in waves],
            "planned_work": sum(planned.values()),
            "planned_critical_path": dag.critical_path(planned),
            "commands": {v.name: show(v.cmd) for v in variants},
            "samples": {v.name: v.samples for v in variants},
            "target": MAKESPAN_TARGET,
            "efficiency": {},
        }
        met = True
        for variant in variants:
            for sample in variant.samples:
                measured = {t: float(d["duration"]) for t, d in sample["report"]["tasks"].items()}
                bound = max(dag.critical_path(measured), sum(measured.values()) / workers)
                sample["loop"] = loop_wall(sample)
                sample["measured_bound"] = bound
                sample["efficiency"] = bound / sample["loop"]
                sample["planned_efficiency"] = planned_bound / sample["loop"]
                sample["waves_optimum"] = sum(best_split([measured[t] for t in w]) for w in waves)
                sample["waves_share"] = sample["waves_optimum"] / sample["loop"]
            efficiency = variant.median("efficiency")
            text, ok = verdict(efficiency, MAKESPAN_TARGET, at_most=False)
            met = met and ok
            result["efficiency"][variant.name] = efficiency
            print(
                f"  {variant.name:>10}: efficiency {efficiency:.3f} (measured work; {text}), "
                f"{variant.median('planned_efficiency'):.3f} (planned sleeps); run loop "
                f"{variant.median('loop'):.2f} s, whole run {variant.median():.2f} s, bound "
                f"{variant.median('measured_bound'):.2f} s, best waves schedule "
                f"{variant.median('waves_optimum'):.2f} s ({variant.median('waves_share'):.3f} "
                "of the run loop)"
            )
        result["met"] = met
        return result
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


# -- command line ----------------------------------------------------------------------


def plugin_version() -> str:
    """The commit of the plugin's checkout, `+dirty` when its working tree has changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "pytest_delegation"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def load_average() -> float:
    """The 1-minute load average: above the CPU count, other work competed with the runs."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C, so that the running pytest's process group is killed too."""
    raise KeyboardInterrupt


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "sleep": sleep_benchmark,
    "cpu": cpu_benchmark,
    "startup": startup_benchmark,
    "makespan": makespan_benchmark,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds (default 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds one run may take")
    parser.add_argument("--seed", type=int, default=0, help="seed of the makespan DAG")
    parser.add_argument("--workdir", help="generate here (kept) instead of a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", metavar="PATH", help="also write every sample as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--pytest-args", default="", metavar="ARGS", help="added to every pytest command"
    )
    parser.add_argument(
        "--checks",
        default=DEFAULT_CHECKS,
        help=f"--delegation-check of the plugin runs (default {DEFAULT_CHECKS}: the runner alone)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    info = machine(load=load_average(), plugin=plugin_version())
    print(
        f"pytest-delegation wave runner benchmarks: Python {info['python']}, {info['cpus']} "
        f"CPUs, {info['platform']}, {info['date']}, plugin {info['plugin']}, load average "
        f"{info['load']:.2f}; plugin runs: --delegation-check={args.checks}"
    )
    signal.signal(signal.SIGTERM, interrupt)
    todo = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    results = []
    try:
        for name in todo:
            before = load_average()
            result = BENCHMARKS[name](args)
            result["load_average"] = [before, load_average()]
            print(f"  load average (1 min) before and after: {before:.2f}, {load_average():.2f}")
            results.append(result)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return finish(results, info, args.json, args.check)


if __name__ == "__main__":
    sys.exit(main())
