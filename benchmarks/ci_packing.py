"""Benchmark of packing a plan's tasks into CI jobs, and of writing the workflow.

    python benchmarks/ci_packing.py [--waves 5] [--per-wave 200] [--jobs 20] [--seed 1]
        [--sigma 1.0] [--repeats 5] [--check]

Builds a plan of ``--waves`` x ``--per-wave`` tasks (each task of a later wave depends on
one of the wave before), gives them seeded lognormal durations (median 30 s, ``--sigma``
the spread), and packs each wave into ``--jobs`` jobs (``plan_jobs(limit=...)``). For each
wave it prints the makespan (the longest job), the best packing's lower bound,
``max(longest task, total / jobs)``, and their ratio; then the worst ratio. Target
(issue 13): within 10% of the bound. ``--check`` exits 1 when it is missed.

Then the time to plan the jobs and render the GitHub workflow (both schedules) and the
GitLab pipeline for those tasks: the median of ``--repeats``, in seconds, and the size
of the files. There is no baseline to compare with: the plugin's ``--collect-only``
run around it dominates in practice.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
import random
import statistics
import sys
import time


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_delegation.ci.jobs import Job
from pytest_delegation.ci.jobs import plan_jobs
from pytest_delegation.ci.packing import bound
from pytest_delegation.ci.packing import makespan
from pytest_delegation.ci.workflows import Setup
from pytest_delegation.ci.workflows import render_github
from pytest_delegation.ci.workflows import render_gitlab
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves


TARGET = 1.10


def build(waves: int, per_wave: int, sigma: float, seed: int) -> tuple[Plan, dict[str, float]]:
    rng = random.Random(seed)
    tasks: dict[str, dict[str, object]] = {}
    durations: dict[str, float] = {}
    for w in range(waves):
        for i in range(per_wave):
            task = f"w{w}-t{i}"
            deps = [f"w{w - 1}-t{rng.randrange(per_wave)}"] if w else []
            tasks[task] = {"role": "code-writer", "depends_on": deps}
            durations[task] = 30.0 * rng.lognormvariate(0.0, sigma)
    plan = plan_from_dict({"version": 1, "max_parallel": per_wave, "tasks": tasks}, Path("b.yaml"))
    plan.freeze(compute_waves(plan))
    return plan, durations


def median_seconds(repeats: int, action: Callable[[], object]) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--per-wave", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)

    plan, durations = build(args.waves, args.per_wave, args.sigma, args.seed)
    tasks = [task for wave in plan.waves for task in wave]
    print(
        f"{len(tasks)} tasks in {len(plan.waves)} waves, lognormal durations (median 30 s, "
        f"sigma {args.sigma}, seed {args.seed}), packed into {args.jobs} jobs per wave"
    )
    jobs = plan_jobs(plan, tasks, durations=durations, limit=args.jobs)
    print(f"{'wave':>4}  {'jobs':>4}  {'makespan s':>10}  {'bound s':>9}  {'ratio':>6}")
    worst = 1.0
    for number, wave in enumerate(plan.waves, 1):
        bins = [job.tasks for job in jobs if job.wave == number]
        times = {task: durations[task] for task in wave}
        span, low = makespan(bins, times), bound(times, args.jobs)
        worst = max(worst, span / low)
        print(f"{number:>4}  {len(bins):>4}  {span:>10.1f}  {low:>9.1f}  {span / low:>6.3f}")
    verdict = "met" if worst <= TARGET else "MISSED"
    print(f"worst ratio {worst:.3f} (target <= {TARGET:.2f}: {verdict})")

    setup = Setup(pytest_args=("-p", "no:randomly"), order_job=True)
    Render = Callable[[Sequence[Job], Setup, str], str]
    cases: list[tuple[str, str, Render, int | None]] = [
        (f"github, waves, {args.jobs} jobs a wave", "waves", render_github, args.jobs),
        (f"github, dag, {args.jobs} jobs a wave", "dag", render_github, args.jobs),
        (f"gitlab, waves, {args.jobs} jobs a wave", "waves", render_gitlab, args.jobs),
        ("github, waves, a job per task", "waves", render_github, None),
    ]
    for label, schedule, render, limit in cases:

        def action(
            schedule: str = schedule, render: Render = render, limit: int | None = limit
        ) -> str:
            found = plan_jobs(plan, tasks, schedule=schedule, durations=durations, limit=limit)
            return render(found, setup, schedule)

        seconds = median_seconds(args.repeats, action)
        size = len(action().encode())
        print(f"plan + render ({label}): {seconds:.3f} s median of {args.repeats}, {size:,} bytes")
    return 1 if args.check and worst > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
