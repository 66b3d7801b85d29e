"""Generate a synthetic test suite with a delegation plan, for the benchmarks.

    python benchmarks/generate.py OUTDIR --tests N --tasks T --waves W
        [--sleep S] [--cpu MS] [--polluter] [--seed X] [--max-parallel P] [--force]

OUTDIR receives:

- ``delegation.yaml``: T tasks ``task-<i>`` spread evenly over W waves; every task of
  wave k > 1 depends on one or two tasks of wave k - 1; task ``task-<i>`` owns
  ``pkg/task_<i>.py``; ``pkg/__init__.py`` and ``pkg/registry.py`` are shared.
- ``pkg/``: one small module per task, plus the shared ``registry`` module.
- ``tests/test_task_<i>.py`` (and ``test_task_<i>_<j>.py`` when a task has more than
  ``--per-module`` tests): trivial tests of the task's module, tagged with a module-level
  ``pytestmark = pytest.mark.task("task-<i>")``.
- ``pytest.ini`` (``[pytest]``, ``pythonpath = .``, ``testpaths = tests``), so OUTDIR is the
  rootdir and ``pkg`` imports without installing anything.
- ``benchmark.json``: what was generated (waves, dependencies, planted tests), for scripts.

``<i>`` is zero-padded to the width of T - 1, so that file order, task-id order and wave
order are the same order: a plain ``pytest`` run and the plugin's in-process wave run
execute the tests in the same sequence.

Each test can sleep ``--sleep`` seconds or burn ``--cpu`` milliseconds of CPU.

``--polluter`` plants two hidden ordering dependencies between tasks of one wave (four
extra tests on top of N, all passing in file order and in wave order):

- polluter/victim: ``test_polluter`` sets the module global ``pkg.registry.POLLUTED``;
  ``test_victim``, in an earlier task of the same wave, asserts it is unset. Forward order
  passes; any order that runs the polluter first fails the victim.
- state-setter/brittle: ``test_state_setter`` sets ``pkg.registry.WARMED``;
  ``test_brittle``, in a later task of the same wave (the next wave with two tasks when
  there is one), asserts it is set. It passes only after the state-setter ran: alone, in
  reverse or in a fresh worker it fails.

Standard library only, so it runs under any Python >= 3.10 without the plugin installed.
Importable: ``from generate import generate; generate(outdir, tests=..., tasks=..., waves=...)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
import itertools
import json
import math
from pathlib import Path
import random
import shutil
import sys


MANIFEST = "benchmark.json"
GENERATED = ("delegation.yaml", "pytest.ini", "pkg", "tests", MANIFEST)
DEFAULT_PER_MODULE = 200


@dataclass
class Suite:
    """What `generate` wrote: enough for a runner to check and to report."""

    outdir: str
    tests: int  # regular tests (the planted ones come on top)
    tasks: int
    waves: list[list[str]]
    depends_on: dict[str, list[str]]
    modules: int
    total_tests: int
    sleep: float = 0.0
    cpu_ms: float = 0.0
    seed: int = 0
    planted: dict[str, dict[str, str]] = field(default_factory=dict)


def layout(tasks: int, waves: int, seed: int = 0) -> tuple[list[list[int]], dict[int, list[int]]]:
    """Task numbers per wave (as even as possible) and each task's dependencies.

    A task of wave k > 1 depends on one or two tasks of wave k - 1, chosen with `seed`, so
    every task is in exactly the wave asked for.
    """
    if waves < 1:
        raise ValueError("waves must be at least 1")
    if tasks < waves:
        raise ValueError(f"{tasks} tasks cannot fill {waves} waves; use at least one per wave")
    rng = random.Random(seed)
    size, extra = divmod(tasks, waves)
    layers: list[list[int]] = []
    start = 0
    for k in range(waves):
        count = size + (1 if k < extra else 0)
        layers.append(list(range(start, start + count)))
        start += count
    deps: dict[int, list[int]] = {i: [] for i in range(tasks)}
    for previous, layer in itertools.pairwise(layers):
        for i in layer:
            count = min(len(previous), rng.choice((1, 2)))
            deps[i] = sorted(rng.sample(previous, count))
    return layers, deps


def generate(
    outdir: str | Path,
    *,
    tests: int,
    tasks: int,
    waves: int,
    sleep: float = 0.0,
    cpu: float = 0.0,
    polluter: bool = False,
    seed: int = 0,
    per_module: int = DEFAULT_PER_MODULE,
    max_parallel: int | None = None,
    force: bool = False,
) -> Suite:
    """Write the suite into `outdir` (see the module doc); return what was written."""
    if tests < tasks:
        raise ValueError(f"{tests} tests cannot verify {tasks} tasks; use at least one per task")
    if sleep < 0 or cpu < 0:
        raise ValueError("--sleep and --cpu can't be negative")
    if per_module < 1:
        raise ValueError("--per-module must be at least 1")
    layers, deps = layout(tasks, waves, seed)
    width = len(str(tasks - 1))
    num = [f"{i:0{width}d}" for i in range(tasks)]
    task_id = [f"task-{n}" for n in num]
    planted = _plant(layers) if polluter else {}
    out = Path(outdir)
    _prepare(out, force)

    planted_by_task: dict[int, list[str]] = {}
    for role, (index, _test) in planted.items():
        planted_by_task.setdefault(index, []).append(role)

    wave_size = max(len(layer) for layer in layers)
    (out / "pytest.ini").write_text(
        "[pytest]\npythonpath = .\ntestpaths = tests\n"
        "# generated by benchmarks/generate.py: a synthetic suite, not a real project\n",
        encoding="utf-8",
    )
    (out / "delegation.yaml").write_text(
        _plan_text(layers, deps, task_id, num, max_parallel or max(wave_size, 1)),
        encoding="utf-8",
    )

    pkg = out / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""Synthetic package for pytest-delegation benchmarks."""\n')
    (pkg / "registry.py").write_text(REGISTRY, encoding="utf-8")
    for i in range(tasks):
        (pkg / f"task_{num[i]}.py").write_text(_task_module(i), encoding="utf-8")

    tests_dir = out / "tests"
    tests_dir.mkdir()
    size, extra = divmod(tests, tasks)
    modules = 0
    node_of: dict[str, str] = {}
    for i in range(tasks):
        count = size + (1 if i < extra else 0)
        parts = max(1, math.ceil(count / per_module))
        part_width = len(str(parts - 1))
        for part in range(parts):
            first = part * count // parts
            last = (part + 1) * count // parts
            name = (
                f"test_task_{num[i]}.py"
                if part == 0
                else (f"test_task_{num[i]}_{part:0{part_width}d}.py")
            )
            roles = planted_by_task.get(i, []) if part == 0 else []
            text = _test_module(num[i], task_id[i], i, range(first, last), roles, sleep, cpu)
            (tests_dir / name).write_text(text, encoding="utf-8")
            modules += 1
            for role in roles:
                node_of[role] = f"tests/{name}::test_{role}"

    suite = Suite(
        outdir=str(out),
        tests=tests,
        tasks=tasks,
        waves=[[task_id[i] for i in layer] for layer in layers],
        depends_on={task_id[i]: [task_id[d] for d in deps[i]] for i in range(tasks)},
        modules=modules,
        total_tests=tests + len(planted),
        sleep=sleep,
        cpu_ms=cpu,
        seed=seed,
        planted={
            role: {"task": task_id[index], "test": node_of[role]}
            for role, (index, _test) in planted.items()
        },
    )
    (out / MANIFEST).write_text(json.dumps(asdict(suite), indent=1) + "\n", encoding="utf-8")
    return suite


def _prepare(out: Path, force: bool) -> None:
    """Make `out` an empty place for a suite; clear an earlier generated suite there."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MANIFEST).is_file() and not force:
            raise ValueError(
                f"{out} is not empty and holds no generated suite ({MANIFEST}); "
                "pick an empty folder or pass --force"
            )
        for name in GENERATED:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for cache in (".pytest_cache", "delegation-report.json"):
            path = out / cache
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _plant(layers: Sequence[Sequence[int]]) -> dict[str, tuple[int, str]]:
    """Pick the tasks of the planted tests: role -> (task index, test name).

    The victim's task comes before the polluter's in the same wave, and the state-setter's
    before the brittle test's, so forward (file and wave) order passes.
    """
    pairs = [layer for layer in layers if len(layer) >= 2]
    if not pairs:
        raise ValueError("--polluter needs a wave with at least two tasks (more tasks than waves)")
    first = pairs[0]
    second = pairs[1] if len(pairs) > 1 else (first[2:] if len(first) >= 4 else first)
    return {
        "victim": (first[0], "test_victim"),
        "polluter": (first[1], "test_polluter"),
        "state_setter": (second[0], "test_state_setter"),
        "brittle": (second[1], "test_brittle"),
    }


def _plan_text(
    layers: Sequence[Sequence[int]],
    deps: dict[int, list[int]],
    task_id: Sequence[str],
    num: Sequence[str],
    max_parallel: int,
) -> str:
    lines = [
        "# generated by benchmarks/generate.py",
        "version: 1",
        f"max_parallel: {max_parallel}",
        "shared:",
        "  - pkg/__init__.py",
        "  - pkg/registry.py",
        "tasks:",
    ]
    for number, layer in enumerate(layers, start=1):
        lines.append(f"  # wave {number}")
        for i in layer:
            lines.append(f"  {task_id[i]}:")
            lines.append("    role: code-writer")
            lines.append(f"    description: synthetic task {i} (wave {number})")
            lines.append(f"    files: [pkg/task_{num[i]}.py]")
            if deps[i]:
                lines.append(f"    depends_on: [{', '.join(task_id[d] for d in deps[i])}]")
    return "\n".join(lines) + "\n"


REGISTRY = '''"""Shared state: the module globals the planted ordering dependencies go through."""

POLLUTED = None
WARMED = None


def pollute():
    global POLLUTED
    POLLUTED = True


def polluted():
    return POLLUTED


def warm_up():
    global WARMED
    WARMED = True


def warmed():
    return WARMED
'''


def _task_module(i: int) -> str:
    return (
        f'"""Synthetic task module {i}."""\n\n\n'
        f"OFFSET = {i}\n\n\n"
        "def compute(x):\n"
        "    return 2 * x + OFFSET\n"
    )


def _test_module(
    num: str,
    task: str,
    index: int,
    numbers: range,
    planted: Sequence[str],
    sleep: float,
    cpu: float,
) -> str:
    imports = ["import pytest", ""]
    if sleep or cpu:
        imports.insert(0, "import time")
    imports.append(f"from pkg import task_{num}")
    if planted:
        imports.append("from pkg import registry")
    head = [f'"""Generated tests of {task}."""', "", *imports, "", ""]
    head.append(f'pytestmark = pytest.mark.task("{task}")')
    body = ""
    if cpu:
        body = (
            "\n\ndef _burn(ms):\n"
            "    end = time.perf_counter() + ms / 1000\n"
            "    while time.perf_counter() < end:\n"
            "        pass\n"
        )
    work = ""
    if sleep:
        work += f"    time.sleep({sleep!r})\n"
    if cpu:
        work += f"    _burn({cpu!r})\n"
    parts = ["\n".join(head) + "\n" + body]
    for n in numbers:
        expected = 2 * n + index
        parts.append(
            f"\n\ndef test_{n:04d}():\n{work}    assert task_{num}.compute({n}) == {expected}\n"
        )
    for role in planted:
        parts.append("\n\n" + PLANTED[role].format(work=work))
    return "".join(parts)


PLANTED = {
    "victim": (
        "def test_victim():\n"
        "{work}"
        "    # passes only while no test has polluted the shared registry before it\n"
        "    assert registry.polluted() is None\n"
    ),
    "polluter": (
        "def test_polluter():\n"
        "{work}"
        "    registry.pollute()  # leaves a module global set: a hidden ordering dependency\n"
        "    assert registry.polluted() is True\n"
    ),
    "state_setter": (
        "def test_state_setter():\n"
        "{work}"
        "    registry.warm_up()  # the state test_brittle silently relies on\n"
        "    assert registry.warmed() is True\n"
    ),
    "brittle": (
        "def test_brittle():\n"
        "{work}"
        "    # passes only after test_state_setter ran in the same process\n"
        "    assert registry.warmed() is True\n"
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a synthetic pytest suite with a delegation plan.",
    )
    parser.add_argument("outdir", help="folder to write the suite into (created if missing)")
    parser.add_argument("--tests", type=int, required=True, help="regular tests in all")
    parser.add_argument("--tasks", type=int, required=True, help="tasks of the plan")
    parser.add_argument("--waves", type=int, required=True, help="waves the tasks spread over")
    parser.add_argument(
        "--sleep", type=float, default=0.0, metavar="S", help="seconds each test sleeps"
    )
    parser.add_argument(
        "--cpu", type=float, default=0.0, metavar="MS", help="milliseconds of CPU each test burns"
    )
    parser.add_argument(
        "--polluter",
        action="store_true",
        help="plant a polluter/victim and a state-setter/brittle pair (4 extra tests)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the dependencies")
    parser.add_argument(
        "--per-module",
        type=int,
        default=DEFAULT_PER_MODULE,
        help=f"most tests in one module (default {DEFAULT_PER_MODULE})",
    )
    parser.add_argument(
        "--max-parallel", type=int, help="the plan's max_parallel (default: the largest wave)"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty folder that holds no suite"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    try:
        suite = generate(
            args.outdir,
            tests=args.tests,
            tasks=args.tasks,
            waves=args.waves,
            sleep=args.sleep,
            cpu=args.cpu,
            polluter=args.polluter,
            seed=args.seed,
            per_module=args.per_module,
            max_parallel=args.max_parallel,
            force=args.force,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if not args.quiet:
        print(
            f"{suite.outdir}: {suite.total_tests} tests in {suite.modules} modules, "
            f"{suite.tasks} tasks in {len(suite.waves)} waves"
        )
        for role, where in suite.planted.items():
            print(f"  planted {role}: {where['test']} ({where['task']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
