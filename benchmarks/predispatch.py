"""An orchestrator's pre-dispatch verdict: the plan checked against the suite, nothing run.

    python benchmarks/predispatch.py [--tests 5000] [--tasks 100] [--waves 5] [--repeat 5]

Generates the suite (benchmarks/generate.py), then times, each the median of --repeat:

- baseline: ``python -m pytest --collect-only -q`` (pytest alone, plugin disabled);
- ``python -m pytest --collect-only --delegation-report=json:-`` (the JSON verdict on
  standard output, what an orchestrator parses before handing out the tasks): once with
  ``--cache-clear`` (it collects), then with nothing changed (the cached collection);

and prints both, their ratio, and whether the JSON parsed. Target: under 1 s for 100 tasks
and 5,000 tests, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

from generate import generate


ADDOPTS = "-p no:randomly"


def timed(command: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    seconds = []
    out = ""
    env = {**os.environ, "PYTEST_ADDOPTS": ADDOPTS}
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
        seconds.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr[-2000:]}")
        out = done.stdout
    return statistics.median(seconds), out


def main() -> int:
    global ADDOPTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--addopts",
        default="-p no:randomly",
        help="PYTEST_ADDOPTS of every run (the installed plugins cost their own start-up: "
        "hypothesis's imports hypothesis at the end of every session)",
    )
    args = parser.parse_args()
    ADDOPTS = args.addopts
    with tempfile.TemporaryDirectory(prefix="predispatch-") as folder:
        root = Path(folder) / "suite"
        generate(root, tests=args.tests, tasks=args.tasks, waves=args.waves)
        py = [sys.executable, "-m", "pytest"]
        base, _ = timed([*py, "--collect-only", "-q", "-p", "no:delegation"], root, args.repeat)
        command = [*py, "--collect-only", "--delegation-report=json:-", "-q"]
        # the first run collects and keeps the collection in pytest's cache; the next
        # ones, with no file changed, map the cached tests (collect/cache.py)
        cold, _ = timed([*py, "--cache-clear", *command[3:]], root, 1)
        verdict, out = timed(command, root, args.repeat)
        data = json.loads(out)
        print(
            f"{args.tests} tests, {args.tasks} tasks in {args.waves} waves, median of "
            f"{args.repeat}, PYTEST_ADDOPTS={ADDOPTS!r}"
        )
        print(f"pytest --collect-only (baseline): {base:.2f} s (1.00x)")
        print(f"first run, it collects (--cache-clear): {cold:.2f} s ({cold / base:.2f}x)")
        print(
            f"--collect-only --delegation-report=json:-, nothing changed: {verdict:.2f} s "
            f"({verdict / base:.2f}x), verdict {data['summary']['verdict']}, "
            f"{len(data['plan']['tasks'])} tasks"
        )
        print(f"target under 1 s: {'met' if verdict < 1.0 else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
