"""Benchmark of the run-time file-boundaries tracker (``child.Tracker``), issue 5.

    python benchmarks/boundaries_bench.py run [--python PY ...] [--autoload] [--repeats 5]
    python benchmarks/boundaries_bench.py profile [--python PY ...] [--repeats 3]
    python benchmarks/boundaries_bench.py toggle    # under 3.12+: set_events per test, cost

``run``: the same suite, the same worker count, boundaries on against off. It writes a
suite of its own (``--tests`` 2,000 tests, ``--tasks`` 4 tasks in two waves, tasks of the
second wave depending on one of the first) whose tests call real project code: several
functions per test, a recursive one, comprehensions, methods and properties, and the
modules of the task's dependency. It then runs, alternately (the order flips each round),
after ``--warmup`` rounds, ``--repeats`` times each:

    python -m pytest -q -p no:randomly -p no:cacheprovider -p pytest_delegation.plugin
        --delegation-workers=2 --delegation-fail-on=never --delegation-report=json:PATH
        --delegation-check=isolation,boundaries      # on
        --delegation-check=isolation                 # off

with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` (``--autoload``: without it and without the
``-p``, so every installed plugin loads, as in a user's environment). Figures, medians:

- wall time of the controller command;
- CPU time of the controller and its workers (``getrusage(RUSAGE_CHILDREN)`` around it);
- CPU time of the workers alone, and of the workers' run loops (tests only, no start-up or
  collection), both written by the suite's ``conftest.py`` at the end of each worker.

Every ratio is on / off of the same invocation. Every run must pass all tests in every
task; an "on" run must report the files the tests executed (each task's own module, its
dependency's and the shared one), an "off" run none. Otherwise exit status 2.
``--check``: exit 1 when the median CPU or wall ratio misses the target (1.1x on Python
3.12+, 1.6x before).

``profile``: where the time goes, in one process per run (no controller, no workers):
``pytest.main`` on the whole suite with a tracer prototype started and stopped around each
test's runtest protocol, as the worker does. The figure is the CPU time of the run loop
against no tracer, median of ``--repeats`` fresh interpreters. Prototypes:

- ``tracker``: ``pytest_delegation.child.Tracker`` itself;
- ``settrace-py``: the same call-only ``sys.settrace`` function, the seen set keyed by file
  name instead of code object (no code hashing);
- ``setprofile-py``: a ``sys.setprofile`` function (no line-event machinery; more events);
- ``cprofile-test``: a ``cProfile.Profile`` per test, its code objects read after the test;
- ``cprofile-run``: one ``cProfile.Profile`` for the run, enabled around each test (no
  per-test attribution: the floor of the cProfile approach);
- ``c-settrace`` / ``c-setprofile``: a C trace/profile function (a tiny extension compiled
  here from the source below, when a C compiler and the Python headers are found) that
  records new code objects in a pointer set: the floor of any trace-hook approach;
- ``monitoring-once`` (3.12+): PY_START switched on once, at the first test, and never
  off; the callback records only inside a test (no re-instrumentation per test);
- ``import-hook``: no trace hook at all. A meta-path finder gives the project's source
  modules (not tests, not conftest) a loader that compiles them with one statement added at
  the top of every function body, ``if __delegation_armed__: __delegation_hit__(...)``; the
  hit records the file (inside a test only) and disarms the module, so each project call
  then costs a global lookup and a jump, and no other code pays anything;
- ``count``: counts the callbacks per test and where the functions live (not timed).

``toggle`` (3.12+, in the running interpreter): what switching PY_START on and off around
each "test" costs against switching it on once: 200 small functions run twice per round.

Standard library only at import; runs under any Python >= 3.10 with the plugin installed.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import datetime
import json
import math
import os
from pathlib import Path
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import children_cpu
from common import tail


TARGET_MONITORING = 1.1  # Python 3.12+: on / off, at most
TARGET_SETTRACE = 1.6  # Python 3.10 and 3.11
CHECKS_ON = "isolation,boundaries"
CHECKS_OFF = "isolation"
PYTEST = ("-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider")
PLUGIN = ("--delegation-workers=2", "--delegation-fail-on=never")
CPU_ENV = "BOUNDARIES_BENCH_CPU"  # where the suite's conftest.py appends the workers' CPU
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP", "COVERAGE_PROCESS_START")
PROTOTYPES = (
    "none",
    "tracker",
    "settrace-py",
    "setprofile-py",
    "cprofile-test",
    "cprofile-run",
    "c-settrace",
    "c-setprofile",
    "monitoring-once",
    "import-hook",
)


class BenchmarkError(Exception):
    """A run failed or produced something unexpected: the figures would be meaningless."""


# -- the suite ------------------------------------------------------------------------

UTIL = '''"""Shared helpers: the plan shares this file."""

MASK = 0xFFFFFFFF


def mix(acc, value):
    return (acc * 31 + value) & MASK


def checksum(values):
    acc = 17
    for value in values:
        acc = mix(acc, value)
    return acc


def tokenize(text):
    return [token for token in text.split() if token]


def clamp(value, low, high):
    return low if value < low else high if value > high else value


class Record:
    __slots__ = ("name", "value")

    def __init__(self, name, value):
        self.name = name
        self.value = value

    @property
    def key(self):
        return (self.value, self.name)

    def __eq__(self, other):
        return isinstance(other, Record) and self.key == other.key

    def __hash__(self):
        return hash(self.key)
'''

TASK = '''"""Task module {i}: text scoring and records (synthetic, for boundaries_bench)."""

from pkg import util
{imports}
OFFSET = {i}


def compute(x):
    return 2 * x + OFFSET


def normalize(word):
    return word.strip(".,;:!?").lower()


def parse(text):
    return [normalize(token) for token in util.tokenize(text)]


def weight(char):
    return (ord(char) + OFFSET) % 7


def score(word):
    return sum(weight(char) for char in word)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Tally:
    def __init__(self):
        self.counts = {{}}

    def add(self, word, amount=1):
        self.counts[word] = self.counts.get(word, 0) + amount

    def total(self):
        return sum(self.counts.values())

    def top(self, k):
        return sorted(self.counts, key=lambda word: (-self.counts[word], word))[:k]


def pipeline(text):
    tally = Tally()
    for word in parse(text):
        tally.add(word, score(word))
    return util.checksum(tally.counts.values()), tally.top(3)


def records(n):
    return [util.Record(f"r{{k}}", util.clamp(k * 7 % 13, 2, 10)) for k in range(n)]


def ranked(n):
    return [record.name for record in sorted(records(n), key=lambda record: record.key)]


def combined(text):
    return [{deps_pipeline}pipeline(text)[0]]
'''

CONFTEST = '''"""For boundaries_bench.py: a fixture, and each worker's CPU time at its end."""

import json
import os
import resource
import time

import pytest

WORDS = "Alpha beta, GAMMA delta! epsilon zeta eta theta iota kappa lambda mu"
_LOOP = {}


@pytest.fixture
def text():
    return " ".join([WORDS] * WORK)


WORK = int(os.environ.get("BOUNDARIES_BENCH_WORK", "1"))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        return (yield)
    finally:
        _LOOP["cpu"] = time.process_time() - cpu
        _LOOP["wall"] = time.perf_counter() - wall
        _LOOP["tests"] = len(session.items)


def pytest_unconfigure(config):
    path = os.environ.get("BOUNDARIES_BENCH_CPU")
    if not path:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    line = {
        "task": os.environ.get("PYTEST_DELEGATION_TASK"),
        "pid": os.getpid(),
        "cpu": usage.ru_utime + usage.ru_stime,
        **{f"loop_{key}": value for key, value in _LOOP.items()},
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\\n")
'''

TEST_HEAD = '''"""Generated tests of {task}."""

import pytest

from pkg import task_{i} as mod
from pkg import util

pytestmark = pytest.mark.task("{task}")

TEXT = "Alpha beta, GAMMA delta! epsilon zeta eta theta iota kappa lambda mu"
FIB = {{10: 55, 11: 89, 12: 144}}
'''

# five kinds of test, in turn; {n} is the test number, {w} the work factor
TEST_KINDS = (
    """

def test_{n:04d}():
    assert mod.compute({n}) == {expected}
    words = mod.parse(TEXT * {w})
    assert words[0] == "alpha" and all(word == word.lower() for word in words)
""",
    """

def test_{n:04d}():
    total, top = mod.pipeline(TEXT * {w})
    assert 0 <= total <= util.MASK and len(top) == 3
""",
    """

def test_{n:04d}():
    assert mod.fib({f}) == FIB[{f}]
""",
    """

def test_{n:04d}():
    names = mod.ranked({records})
    assert len(names) == {records} and len(set(names)) == {records}
""",
    """

def test_{n:04d}(text):
    sums = mod.combined(text)
    assert all(0 <= value <= util.MASK for value in sums)
    tally = mod.Tally()
    for word in mod.parse(text):
        tally.add(word)
    assert tally.total() == len(mod.parse(text))
""",
)


@dataclass
class Suite:
    root: Path
    tests: int
    tasks: list[str]
    depends_on: dict[str, list[str]]
    expected_files: dict[str, set[str]]  # task -> files its tests must be seen executing


def write_suite(root: Path, tests: int, tasks: int, work: int, per_module: int = 100) -> Suite:
    """The suite: ``pkg/task_<i>.py`` per task, ``pkg/util.py`` shared, tests per task.

    Tasks of the first half (wave 1) depend on nothing; task ``i`` of the second half
    (wave 2) depends on task ``i - half`` and its tests call that task's code too.
    """
    if tasks < 2 or tests < tasks:
        raise ValueError("need at least 2 tasks and one test per task")
    if root.exists():
        shutil.rmtree(root)
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    width = len(str(tasks - 1))
    num = [f"{i:0{width}d}" for i in range(tasks)]
    ids = [f"task-{n}" for n in num]
    half = tasks // 2
    deps = {i: ([i - half] if i >= half else []) for i in range(tasks)}
    plan = ["version: 1", f"max_parallel: {tasks}", "shared:"]
    plan += ["  - pkg/__init__.py", "  - pkg/util.py", "tasks:"]
    for i in range(tasks):
        plan += [f"  {ids[i]}:", "    role: code-writer"]
        plan += [f"    description: synthetic task {i}", f"    files: [pkg/task_{num[i]}.py]"]
        if deps[i]:
            plan.append(f"    depends_on: [{', '.join(ids[d] for d in deps[i])}]")
    (root / "delegation.yaml").write_text("\n".join(plan) + "\n", encoding="utf-8")
    (root / "pytest.ini").write_text(
        "[pytest]\npythonpath = .\ntestpaths = tests\n"
        "# generated by benchmarks/boundaries_bench.py: a synthetic suite\n",
        encoding="utf-8",
    )
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (root / "pkg" / "__init__.py").write_text('"""Synthetic package."""\n', encoding="utf-8")
    (root / "pkg" / "util.py").write_text(UTIL, encoding="utf-8")
    expected: dict[str, set[str]] = {}
    for i in range(tasks):
        imports = "".join(f"from pkg import task_{num[d]}\n" for d in deps[i])
        deps_pipeline = "".join(f"task_{num[d]}.pipeline(text)[0], " for d in deps[i])
        source = TASK.format(i=i, imports=imports, deps_pipeline=deps_pipeline)
        (root / "pkg" / f"task_{num[i]}.py").write_text(source, encoding="utf-8")
        expected[ids[i]] = {"pkg/util.py", f"pkg/task_{num[i]}.py"}
        expected[ids[i]] |= {f"pkg/task_{num[d]}.py" for d in deps[i]}
    size, extra = divmod(tests, tasks)
    for i in range(tasks):
        count = size + (1 if i < extra else 0)
        for part, first in enumerate(range(0, count, per_module)):
            body = [TEST_HEAD.format(task=ids[i], i=num[i])]
            for n in range(first, min(count, first + per_module)):
                kind = TEST_KINDS[n % len(TEST_KINDS)]
                body.append(
                    kind.format(n=n, w=work, expected=2 * n + i, f=10 + n % 3, records=20 * work)
                )
            name = f"test_task_{num[i]}_{part:02d}.py"
            (root / "tests" / name).write_text("".join(body), encoding="utf-8")
    return Suite(
        root=root,
        tests=tests,
        tasks=ids,
        depends_on={ids[i]: [ids[d] for d in deps[i]] for i in range(tasks)},
        expected_files=expected,
    )


# -- running one controller command -------------------------------------------------------


@dataclass
class Sample:
    wall: float  # s, the controller command
    cpu: float  # s, the controller and its workers (RUSAGE_CHILDREN)
    workers_cpu: float  # s, the workers alone (each one's RUSAGE_SELF at its end)
    loop_cpu: float  # s, the workers' run loops (process_time around pytest_runtestloop)
    executed: dict[str, list[str]] = field(default_factory=dict)


def bench_env(autoload: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PYTEST_DELEGATION_TASK", None)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def controller_cmd(python: str, checks: str, report: Path, autoload: bool) -> list[str]:
    cmd = [python, *PYTEST]
    if not autoload:
        cmd += ["-p", "pytest_delegation.plugin"]
    return [*cmd, *PLUGIN, f"--delegation-check={checks}", f"--delegation-report=json:{report}"]


def run_once(
    python: str, suite: Suite, checks: str, autoload: bool, timeout: float, work: int
) -> Sample:
    root = suite.root
    report = root / "report.json"
    cpu_log = root / "cpu.jsonl"
    report.unlink(missing_ok=True)
    cpu_log.unlink(missing_ok=True)
    cmd = controller_cmd(python, checks, report, autoload)
    env = bench_env(autoload, {CPU_ENV: str(cpu_log), "BOUNDARIES_BENCH_WORK": str(work)})
    before = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - start
    cpu = children_cpu() - before
    where = f"{shlex.join(cmd)} (in {root})"
    if proc.returncode != 0:
        raise BenchmarkError(f"exit status {proc.returncode}: {where}\n{tail(proc.stdout, 30)}")
    try:
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        lines = cpu_log.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"no report or CPU log ({exc}): {where}") from None
    workers = [json.loads(line) for line in lines if line.strip()]
    workers = [w for w in workers if w.get("task")]
    passed = 0
    executed: dict[str, list[str]] = {}
    for task in suite.tasks:
        entry = data["tasks"].get(task, {})
        if entry.get("status") != "passed":
            raise BenchmarkError(f"{task} did not pass ({entry.get('status')}): {where}")
        passed += sum(1 for outcome in entry["tests"].values() if outcome == "passed")
        executed[task] = sorted(entry.get("executed_files", []))
    if passed != suite.tests:
        raise BenchmarkError(f"{passed} tests passed, expected {suite.tests}: {where}")
    if sorted(w["task"] for w in workers) != sorted(suite.tasks):
        raise BenchmarkError(f"CPU log has {[w['task'] for w in workers]}: {where}")
    boundaries = "boundaries" in checks
    for task in suite.tasks:
        files = set(executed[task])
        if boundaries and not suite.expected_files[task] <= files:
            raise BenchmarkError(
                f"{task}: executed_files {sorted(files)} lacks "
                f"{sorted(suite.expected_files[task] - files)}: {where}"
            )
        if not boundaries and files:
            raise BenchmarkError(f"{task}: executed_files {sorted(files)} with the check off")
    return Sample(
        wall=wall,
        cpu=cpu,
        workers_cpu=sum(float(w["cpu"]) for w in workers),
        loop_cpu=sum(float(w.get("loop_cpu", math.nan)) for w in workers),
        executed=executed,
    )


VERSION_CODE = "import platform, pytest; print(platform.python_version(), pytest.__version__)"


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", VERSION_CODE],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def target_for(version: str) -> float:
    major, minor = (int(part) for part in version.split(".")[:2])
    return TARGET_MONITORING if (major, minor) >= (3, 12) else TARGET_SETTRACE


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


METRICS = ("wall", "cpu", "workers_cpu", "loop_cpu")


def command_run(args: argparse.Namespace) -> int:
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bbench-"))
    results: list[dict[str, Any]] = []
    missed = False
    try:
        for python in args.python:
            version, pytest_version = python_version(python).split()
            target = target_for(version)
            suite = write_suite(base / f"suite-{version}", args.tests, args.tasks, args.work)
            mode = "autoload on" if args.autoload else "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1"
            print(
                f"Python {version} ({python}), pytest {pytest_version}: {args.tests} tests, "
                f"{args.tasks} tasks, work x{args.work}, {mode}",
                flush=True,
            )
            samples: dict[str, list[Sample]] = {"on": [], "off": []}
            checks = {"on": CHECKS_ON, "off": CHECKS_OFF}
            loads: list[float] = []
            for index in range(args.warmup + args.repeats):
                order = ("on", "off") if index % 2 == 0 else ("off", "on")
                done = []
                for name in order:
                    sample = run_once(
                        python, suite, checks[name], args.autoload, args.timeout, args.work
                    )
                    if index >= args.warmup:
                        samples[name].append(sample)
                    done.append(f"{name} {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU")
                label = "warm-up" if index < args.warmup else f"{index - args.warmup + 1}"
                load = os.getloadavg()[0]
                loads.append(load)
                print(f"  {label:>7}: {'; '.join(done)} (load {load:.1f})", flush=True)
            row: dict[str, Any] = {
                "python": version,
                "pytest": pytest_version,
                "executable": python,
                "autoload": args.autoload,
                "tests": args.tests,
                "tasks": args.tasks,
                "work": args.work,
                "target": target,
                "executed_files": samples["on"][0].executed,
                "load_average_1min": loads,
            }
            for metric in METRICS:
                on = median([getattr(s, metric) for s in samples["on"]])
                off = median([getattr(s, metric) for s in samples["off"]])
                low_on = min(getattr(s, metric) for s in samples["on"])
                low_off = min(getattr(s, metric) for s in samples["off"])
                row[metric] = {"on": on, "off": off, "ratio": on / off}
                row[metric] |= {
                    "min_on": low_on,
                    "min_off": low_off,
                    "min_ratio": low_on / low_off,
                }
            row["samples"] = {
                name: [{m: getattr(s, m) for m in METRICS} for s in items]
                for name, items in samples.items()
            }
            results.append(row)
            ratios = ", ".join(f"{m} {row[m]['ratio']:.3f}x" for m in METRICS)
            ok = row["cpu"]["ratio"] <= target and row["wall"]["ratio"] <= target
            missed = missed or not ok
            print(
                f"  medians: on/off {ratios} (target <= {target}x: {'met' if ok else 'MISSED'})",
                flush=True,
            )
            for metric in METRICS:
                print(
                    f"    {metric:>11}: on {row[metric]['on']:.3f} s, "
                    f"off {row[metric]['off']:.3f} s (minimum: on {row[metric]['min_on']:.3f} s,"
                    f" off {row[metric]['min_off']:.3f} s, {row[metric]['min_ratio']:.3f}x)",
                    flush=True,
                )
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        meta = {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "argv": sys.argv,
        }
        Path(args.json).write_text(
            json.dumps({"meta": meta, "results": results}, indent=1) + "\n", encoding="utf-8"
        )
    return 1 if args.check and missed else 0


# -- profile: tracer prototypes in one process -------------------------------------------

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

/* Code objects seen: an open-addressing set of pointers; `fresh` keeps them alive. */
static void **table = NULL;
static Py_ssize_t capacity = 0, used = 0;
static PyObject *fresh = NULL;
static Py_ssize_t calls = 0;

static int grow(void) {
    Py_ssize_t old = capacity, i;
    void **before = table;
    capacity = capacity ? capacity * 2 : 4096;
    table = PyMem_Calloc(capacity, sizeof(void *));
    if (table == NULL) return -1;
    for (i = 0; i < old; i++) {
        if (before[i] != NULL) {
            size_t h = ((size_t)before[i] >> 4) & (capacity - 1);
            while (table[h] != NULL) h = (h + 1) & (capacity - 1);
            table[h] = before[i];
        }
    }
    PyMem_Free(before);
    return 0;
}

static int on_event(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    PyCodeObject *code;
    size_t h;
    if (what != PyTrace_CALL) return 0;
    calls++;
    code = PyFrame_GetCode(frame);
    h = ((size_t)code >> 4) & (capacity - 1);
    while (table[h] != NULL) {
        if (table[h] == (void *)code) { Py_DECREF(code); return 0; }
        h = (h + 1) & (capacity - 1);
    }
    table[h] = code;
    used++;
    if (PyList_Append(fresh, (PyObject *)code) < 0) { Py_DECREF(code); return -1; }
    Py_DECREF(code);
    if (used * 2 > capacity && grow() < 0) return -1;
    return 0;
}

static PyObject *start_trace(PyObject *self, PyObject *unused) {
    PyEval_SetTrace(on_event, NULL);
    Py_RETURN_NONE;
}

static PyObject *start_profile(PyObject *self, PyObject *unused) {
    PyEval_SetProfile(on_event, NULL);
    Py_RETURN_NONE;
}

static PyObject *stop(PyObject *self, PyObject *unused) {
    PyEval_SetTrace(NULL, NULL);
    PyEval_SetProfile(NULL, NULL);
    Py_RETURN_NONE;
}

/* The code objects first seen since the last drain, and the number of callbacks. */
static PyObject *drain(PyObject *self, PyObject *unused) {
    PyObject *out = fresh;
    fresh = PyList_New(0);
    if (fresh == NULL) return NULL;
    return Py_BuildValue("(Nn)", out, calls);
}

static PyMethodDef methods[] = {
    {"start_trace", start_trace, METH_NOARGS, NULL},
    {"start_profile", start_profile, METH_NOARGS, NULL},
    {"stop", stop, METH_NOARGS, NULL},
    {"drain", drain, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bbtrace", NULL, -1, methods};

PyMODINIT_FUNC PyInit__bbtrace(void) {
    fresh = PyList_New(0);
    if (fresh == NULL || grow() < 0) return NULL;
    return PyModule_Create(&module);
}
"""


def build_c_tracer(folder: Path) -> str | None:
    """Compile the C prototype for this interpreter; its folder, or None (with why)."""
    include = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not shutil.which(compiler) or not Path(include, "Python.h").is_file():
        print(f"  no C compiler or no Python.h ({compiler}, {include}): no C prototype")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "_bbtrace.c"
    source.write_text(C_SOURCE, encoding="utf-8")
    target = folder / f"_bbtrace{suffix}"
    cmd = [compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  C prototype did not compile: {tail(done.stderr, 5)}")
        return None
    print(f"  C prototype built: {target.name}")
    return str(folder)


def category(filename: str, root: str) -> str:
    if filename.startswith(root):
        rel = filename[len(root) :]
        if rel.startswith("pkg" + os.sep):
            return "project (pkg/)"
        return "tests and conftest"
    if "pytest_delegation" in filename:
        return "pytest-delegation"
    if os.sep + "_pytest" + os.sep in filename or os.sep + "pluggy" + os.sep in filename:
        return "pytest and pluggy"
    if "site-packages" in filename:
        return "other site-packages"
    if filename.startswith("<"):
        return "generated (<...>)"
    return "standard library"


ARMED = "__delegation_armed__"
HIT = "__delegation_hit__"


class _Instrument(ast.NodeTransformer):
    """Add ``if __delegation_armed__: __delegation_hit__(qualname, line)`` to every function.

    The statement goes after the docstring and takes the line of the statement it precedes,
    so docstrings, tracebacks and line numbers stay as they were. Class bodies and the
    module body (import time) get nothing.
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.names.append(node.name)
        self.generic_visit(node)
        self.names.pop()
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        qualname = ".".join([*self.names, node.name])
        self.names += [node.name, "<locals>"]
        self.generic_visit(node)
        self.names[-2:] = []
        body = node.body
        first = body[0]
        at = 1 if _is_docstring(first) and len(body) > 1 else 0
        call = ast.Call(
            func=ast.Name(id=HIT, ctx=ast.Load()),
            args=[ast.Constant(qualname), ast.Constant(node.lineno)],
            keywords=[],
        )
        guard = ast.If(test=ast.Name(id=ARMED, ctx=ast.Load()), body=[ast.Expr(call)], orelse=[])
        for new in ast.walk(guard):
            ast.copy_location(new, body[at])
        body.insert(at, guard)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


class ImportHook:
    """The ``import-hook`` prototype: project modules compiled with a hit per function."""

    def __init__(self, plugin: Prototype, root: str) -> None:
        self.plugin = plugin
        self.root = root
        self.hits = 0

    def owns(self, origin: str) -> bool:
        if not origin.startswith(self.root) or "site-packages" in origin:
            return False
        rel = origin[len(self.root) :]
        name = os.path.basename(rel)
        return not (
            name == "conftest.py" or name.startswith("test_") or rel.startswith("tests" + os.sep)
        )

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        import importlib.machinery

        after = sys.meta_path[sys.meta_path.index(self) + 1 :]
        for finder in after:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if type(loader) is importlib.machinery.SourceFileLoader and self.owns(spec.origin):
            spec.loader = _Loader(fullname, spec.origin, self)
        return spec

    def hit_for(self, namespace: dict[str, Any], origin: str) -> Any:
        rel = origin[len(self.root) :].replace(os.sep, "/")
        plugin = self.plugin

        def hit(name: str, line: int) -> None:
            self.hits += 1
            if plugin.active:
                if rel not in plugin.files:
                    plugin.files[rel] = (name, line, plugin.test)
                namespace[ARMED] = False

        return hit


def _loader_base() -> Any:
    import importlib.machinery

    return importlib.machinery.SourceFileLoader


class _Loader(_loader_base()):  # type: ignore[misc]
    """Compiles with `_Instrument`, never from or to a pyc."""

    def __init__(self, fullname: str, path: str, hook: ImportHook) -> None:
        super().__init__(fullname, path)
        self.hook = hook

    def get_code(self, fullname: str) -> Any:
        source = self.get_data(self.path)
        tree = _Instrument().visit(ast.parse(source, self.path))
        return compile(tree, self.path, "exec", dont_inherit=True)

    def exec_module(self, module: Any) -> None:
        namespace = module.__dict__
        namespace[ARMED] = True
        namespace[HIT] = self.hook.hit_for(namespace, self.path)
        super().exec_module(module)


class Prototype:
    """A pytest plugin: one tracer prototype started and stopped around each test."""

    def __init__(self, variant: str, root: str) -> None:
        self.variant = variant
        self.root = root.rstrip(os.sep) + os.sep
        self.files: dict[str, tuple[str, int, str]] = {}
        self.seen_files: set[str] = set()
        self.test = ""
        self.callbacks = 0
        self.loop_cpu = 0.0
        self.loop_wall = 0.0
        self.tests = 0
        self.counts: dict[str, int] = {}
        self.distinct: dict[str, set[object]] = {}
        self.profiler: Any = None
        self.ext: Any = None
        self.monitoring: Any = getattr(sys, "monitoring", None)
        self.tool = 4
        self.active = False
        self.switched_on = False
        self.tracker: Any = None
        self.hook: ImportHook | None = None
        if variant == "tracker":
            from pytest_delegation.worker.plugin import Tracker

            self.tracker = Tracker(root)
        elif variant in ("c-settrace", "c-setprofile"):
            import _bbtrace  # type: ignore[import-not-found]  # built by build_c_tracer

            self.ext = _bbtrace
        elif variant == "cprofile-run":
            import cProfile

            self.profiler = cProfile.Profile(builtins=False)
        elif variant == "import-hook":
            self.hook = ImportHook(self, self.root)
            sys.meta_path.insert(0, self.hook)
        elif variant == "monitoring-once":
            if self.monitoring is None:
                raise BenchmarkError("monitoring-once needs Python 3.12+")
            self.monitoring.use_tool_id(self.tool, "boundaries-bench")
            self.monitoring.register_callback(
                self.tool, self.monitoring.events.PY_START, self._on_start_once
            )
        elif variant == "count" and self.monitoring is not None:
            self.monitoring.use_tool_id(self.tool, "boundaries-bench")
            self.monitoring.register_callback(
                self.tool, self.monitoring.events.PY_START, self._on_start_count
            )

    # -- recording, as Tracker._record does
    def _record(self, code: Any) -> None:
        filename = code.co_filename
        if (
            filename.startswith(self.root)
            and code.co_name != "<module>"
            and "site-packages" not in filename
        ):
            rel = filename[len(self.root) :].replace(os.sep, "/")
            if rel not in self.files:
                name = getattr(code, "co_qualname", code.co_name)
                self.files[rel] = (name, code.co_firstlineno, self.test)

    def _on_call_file(self, frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if code.co_filename not in self.seen_files:
            if code.co_name != "<module>":
                self.seen_files.add(code.co_filename)
            self._record(code)
        return None

    def _on_profile(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            if code.co_filename not in self.seen_files:
                if code.co_name != "<module>":
                    self.seen_files.add(code.co_filename)
                self._record(code)

    def _on_start_once(self, code: Any, offset: int) -> Any:
        self.callbacks += 1
        if not self.active:
            return None  # outside a test: keep the event for when a test runs it
        self._record(code)
        return self.monitoring.DISABLE

    def _tally(self, code: Any) -> None:
        self.callbacks += 1
        where = category(code.co_filename, self.root)
        self.counts[where] = self.counts.get(where, 0) + 1
        self.distinct.setdefault(where, set()).add(code)

    def _on_start_count(self, code: Any, offset: int) -> Any:
        self._tally(code)
        return None

    def _on_call_count(self, frame: Any, event: str, arg: Any) -> None:
        self._tally(frame.f_code)
        return None

    # -- the hooks
    def pytest_configure(self, config: Any) -> None:
        config.addinivalue_line("markers", "task(id): the task of a test")

    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Iterator[None]:
        self.test = item.nodeid
        self.start()
        try:
            yield
        finally:
            self.stop()

    def pytest_runtestloop(self, session: Any) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.loop_cpu = time.process_time() - cpu
        self.loop_wall = time.perf_counter() - wall
        self.tests = len(session.items)

    def start(self) -> None:
        variant = self.variant
        if variant == "tracker":
            self.tracker.start(self.test)
        elif variant == "settrace-py":
            sys.settrace(self._on_call_file)
        elif variant == "setprofile-py":
            sys.setprofile(self._on_profile)
        elif variant == "cprofile-test":
            import cProfile

            self.profiler = cProfile.Profile(builtins=False)
            self.profiler.enable(subcalls=False, builtins=False)
        elif variant == "cprofile-run":
            self.profiler.enable(subcalls=False, builtins=False)
        elif variant == "c-settrace":
            self.ext.start_trace()
        elif variant == "c-setprofile":
            self.ext.start_profile()
        elif variant == "import-hook":
            self.active = True
        elif variant == "monitoring-once":
            if not self.switched_on:
                self.monitoring.set_events(self.tool, self.monitoring.events.PY_START)
                self.switched_on = True
            self.active = True
        elif variant == "count":
            if self.monitoring is not None:
                self.monitoring.set_events(self.tool, self.monitoring.events.PY_START)
            else:
                sys.settrace(self._on_call_count)

    def stop(self) -> None:
        variant = self.variant
        if variant == "tracker":
            self.tracker.stop()
        elif variant == "settrace-py":
            sys.settrace(None)
        elif variant == "setprofile-py":
            sys.setprofile(None)
        elif variant == "cprofile-test":
            self.profiler.disable()
            for entry in self.profiler.getstats():
                code = entry.code
                if not isinstance(code, str) and code.co_filename not in self.seen_files:
                    if code.co_name != "<module>":
                        self.seen_files.add(code.co_filename)
                    self._record(code)
        elif variant == "cprofile-run":
            self.profiler.disable()
        elif variant in ("c-settrace", "c-setprofile"):
            self.ext.stop()
            fresh, self.callbacks = self.ext.drain()
            for code in fresh:
                self._record(code)
        elif variant in ("monitoring-once", "import-hook"):
            self.active = False
        elif variant == "count":
            if self.monitoring is not None:
                self.monitoring.set_events(self.tool, 0)
            else:
                sys.settrace(None)

    def result(self) -> dict[str, Any]:
        files = self.files
        if self.variant == "tracker":
            files = self.tracker.files
        elif self.variant == "cprofile-run":
            for entry in self.profiler.getstats():
                if not isinstance(entry.code, str):
                    self._record(entry.code)
        return {
            "variant": self.variant,
            "loop_cpu": self.loop_cpu,
            "loop_wall": self.loop_wall,
            "tests": self.tests,
            "files": sorted(files),
            "callbacks": self.hook.hits if self.hook is not None else self.callbacks,
            "counts": self.counts,
            "distinct": {k: len(v) for k, v in self.distinct.items()},
        }


def proto_main(variant: str, root: str, out: str) -> int:
    """In a fresh interpreter: run the suite in process with one prototype; write JSON."""
    import pytest

    for name in ("pytest_runtest_protocol", "pytest_runtestloop"):  # wrappers around pytest's
        setattr(Prototype, name, pytest.hookimpl(hookwrapper=True)(getattr(Prototype, name)))
    plugin = Prototype(variant, root)
    os.chdir(root)
    code = pytest.main(["-q", "-p", "no:randomly", "-p", "no:cacheprovider"], plugins=[plugin])
    Path(out).write_text(json.dumps({"exit": int(code), **plugin.result()}), encoding="utf-8")
    return 0


def run_proto(python: str, variant: str, suite: Suite, ext: str | None, work: int) -> Any:
    out = suite.root / f"proto-{variant}.json"
    out.unlink(missing_ok=True)
    env = bench_env(False, {"BOUNDARIES_BENCH_WORK": str(work)})
    if ext is not None:
        env["PYTHONPATH"] = ext
    cmd = [python, str(Path(__file__).resolve()), "_proto", variant, str(suite.root), str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        raise BenchmarkError(f"{shlex.join(cmd)}: {tail(done.stdout + done.stderr, 30)}")
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if data["exit"] != 0 or data["tests"] != suite.tests:
        raise BenchmarkError(f"{variant}: exit {data['exit']}, {data['tests']} tests")
    return data


def project_only(files: Sequence[str]) -> list[str]:
    """The files the controller would judge: neither test modules nor conftest files."""
    return sorted(f for f in files if not f.startswith("tests/") and not f.endswith("conftest.py"))


def command_profile(args: argparse.Namespace) -> int:
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bbprof-"))
    results: list[dict[str, Any]] = []
    try:
        for python in args.python:
            version, _ = python_version(python).split()
            suite = write_suite(base / f"suite-{version}", args.tests, args.tasks, args.work)
            print(f"Python {version} ({python}): in-process prototypes, {args.tests} tests")
            ext = None
            if not args.no_c:  # built by the interpreter measured, for its headers and ABI
                cmd = [python, str(Path(__file__).resolve()), "_build", str(base / version)]
                built = subprocess.run(cmd, capture_output=True, text=True, check=False)
                print(built.stdout.rstrip() or f"  C prototype: {tail(built.stderr, 5)}")
                ext = str(base / version) if built.returncode == 0 else None
            monitoring = tuple(int(p) for p in version.split(".")[:2]) >= (3, 12)
            variants = [
                v
                for v in args.variants or PROTOTYPES
                if (ext is not None or not v.startswith("c-"))
                and (monitoring or v != "monitoring-once")
            ]
            counted = run_proto(python, "count", suite, ext, args.work)
            per_test = counted["callbacks"] / counted["tests"]
            row: dict[str, Any] = {"python": version, "variants": {}, "count": counted}
            print(f"  callbacks per test without DISABLE/seen filter: {per_test:.0f}")
            for where, number in sorted(counted["counts"].items(), key=lambda kv: -kv[1]):
                distinct = counted["distinct"][where]
                print(
                    f"    {where:>22}: {number / counted['tests']:8.1f} per test, "
                    f"{distinct} distinct functions"
                )
            times: dict[str, list[float]] = {v: [] for v in variants}
            files: dict[str, list[str]] = {}
            callbacks: dict[str, int] = {}
            for index in range(args.repeats):
                order = variants if index % 2 == 0 else variants[::-1]
                for variant in order:
                    data = run_proto(python, variant, suite, ext, args.work)
                    times[variant].append(data["loop_cpu"])
                    files[variant] = data["files"]
                    callbacks[variant] = data["callbacks"]
                print(f"  round {index + 1}/{args.repeats} done", flush=True)
            baseline = median(times["none"])
            # the reference: a call-only settrace keyed by file name sees every call
            reference = project_only(files.get("settrace-py", []))
            for variant in variants:
                cpu = median(times[variant])
                mine = project_only(files[variant])
                same: Any = "" if variant in ("none", "settrace-py") else mine == reference
                if same is False:
                    same = f"False (missing {sorted(set(reference) - set(mine))})"
                row["variants"][variant] = {
                    "loop_cpu": cpu,
                    "ratio": cpu / baseline,
                    "samples": times[variant],
                    "files": files[variant],
                    "same_project_files_as_settrace_py": same,
                    "callbacks": callbacks[variant],
                }
                extra = ""
                if variant.startswith("c-") or variant in ("import-hook", "monitoring-once"):
                    extra = f", {callbacks[variant]} callbacks or hits"
                note = "" if same == "" else f", same project files as settrace-py: {same}"
                print(
                    f"  {variant:>16}: run loop CPU {cpu:6.3f} s, {cpu / baseline:5.2f}x"
                    f"{note}{extra}"
                )
            results.append(row)
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def command_toggle(args: argparse.Namespace) -> int:
    """Cost of switching PY_START on and off around each "test", against switching once.

    200 small functions run twice per round (once with the events on, once off), 2,000
    rounds; DISABLE is returned, so the callback itself runs once per function.
    """
    monitoring: Any = getattr(sys, "monitoring", None)
    if monitoring is None:
        print("sys.monitoring needs Python 3.12+")
        return 0
    tool = 5
    monitoring.use_tool_id(tool, "boundaries-bench-toggle")
    monitoring.register_callback(
        tool, monitoring.events.PY_START, lambda code, offset: monitoring.DISABLE
    )
    namespace: dict[str, Any] = {}
    exec("\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(200)), namespace)
    functions = [namespace[f"f{i}"] for i in range(200)]

    def work() -> None:
        for function in functions:
            function(1)

    def timed(mode: str) -> float:
        start = time.process_time()
        if mode == "once":
            monitoring.set_events(tool, monitoring.events.PY_START)
        for _ in range(args.rounds):
            if mode == "toggled":
                monitoring.set_events(tool, monitoring.events.PY_START)
            work()
            if mode == "toggled":
                monitoring.set_events(tool, 0)
            work()
        monitoring.set_events(tool, 0)
        return float((time.process_time() - start) / args.rounds * 1e6)

    figures: dict[str, list[float]] = {"off": [], "once": [], "toggled": []}
    for _ in range(args.repeats):
        for mode in figures:
            figures[mode].append(timed(mode))
    print(
        f"Python {platform.python_version()}: per round (200 functions run twice), median of "
        f"{args.repeats}: "
        + ", ".join(f"{mode} {median(values):.0f} us" for mode, values in figures.items())
    )
    return 0


# -- command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_proto"]:
        return proto_main(*argv[1:4])
    if argv[:1] == ["_build"]:
        return 0 if build_c_tracer(Path(argv[1])) is not None else 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "profile"):
        p = sub.add_parser(name)
        p.add_argument(
            "--python",
            action="append",
            help="interpreter with the plugin installed (repeatable; default: this one)",
        )
        p.add_argument("--tests", type=int, default=2000)
        p.add_argument("--tasks", type=int, default=4)
        p.add_argument("--work", type=int, default=1, help="scale the tests' loops (1)")
        p.add_argument("--repeats", type=int, default=5 if name == "run" else 3)
        p.add_argument("--workdir", help="generate into this folder and keep it")
        p.add_argument("--keep", action="store_true", help="keep the temporary folder")
        p.add_argument("--json", help="write every figure and sample here")
    toggle = sub.add_parser("toggle")
    toggle.add_argument("--rounds", type=int, default=2000)
    toggle.add_argument("--repeats", type=int, default=5)
    run = sub.choices["run"]
    run.add_argument("--warmup", type=int, default=1)
    run.add_argument("--autoload", action="store_true", help="let every installed plugin load")
    run.add_argument("--timeout", type=float, default=600.0)
    run.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    prof = sub.choices["profile"]
    prof.add_argument("--variants", nargs="+", choices=PROTOTYPES)
    prof.add_argument("--no-c", action="store_true", help="skip the C prototypes")
    args = parser.parse_args(argv)
    if args.command == "toggle":
        return command_toggle(args)
    args.python = args.python or [sys.executable]
    try:
        if args.command == "run":
            return command_run(args)
        return command_profile(args)
    except (BenchmarkError, ValueError, subprocess.TimeoutExpired) as exc:
        print(f"boundaries_bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
