"""An orchestrator's pre-dispatch verdict: the plan checked against the suite, nothing run.

    python benchmarks/predispatch.py [--tests 5000] [--tasks 100] [--waves 5] [--repeat 5]

Generates the suite (benchmarks/generate.py), then times, each the median of --repeat:

- baseline: ``python -m pytest --collect-only -q`` (pytest alone, plugin disabled);
- ``python -m pytest --collect-only --delegation-report=json:-`` (the JSON verdict on
  standard output, what an orchestrator parses before handing out the tasks);

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


def timed(command: list[str], cwd: Path, repeat: int) -> tuple[float, str]:
    seconds = []
    out = ""
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:randomly -p no:cacheprovider"}
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
        seconds.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr[-2000:]}")
        out = done.stdout
    return statistics.median(seconds), out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="predispatch-") as folder:
        root = Path(folder) / "suite"
        generate(root, tests=args.tests, tasks=args.tasks, waves=args.waves)
        py = [sys.executable, "-m", "pytest"]
        base, _ = timed([*py, "--collect-only", "-q", "-p", "no:delegation"], root, args.repeat)
        verdict, out = timed(
            [*py, "--collect-only", "--delegation-report=json:-", "-q"], root, args.repeat
        )
        data = json.loads(out)
        print(
            f"{args.tests} tests, {args.tasks} tasks in {args.waves} waves, median of "
            f"{args.repeat}"
        )
        print(f"pytest --collect-only (baseline): {base:.2f} s (1.00x)")
        print(
            f"--collect-only --delegation-report=json:-: {verdict:.2f} s ({verdict / base:.2f}x)"
            f", verdict {data['summary']['verdict']}, {len(data['plan']['tasks'])} tasks"
        )
        print(f"target under 1 s: {'met' if verdict < 1.0 else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
