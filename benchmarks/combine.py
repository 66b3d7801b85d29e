"""Benchmark of ``pytest-delegation combine`` on the reports of a 1,000-job CI run.

    python benchmarks/combine.py [--tasks 1000] [--tests-per-task 50] [--waves 10]
        [--keep PATH] [--check]

Writes, in a temporary folder, the JSON reports a CI run of ``--tasks`` jobs (one task
each, ``--delegation-task=<id>``) would leave: each report holds the whole plan section
(every task, as a narrowed run writes it), its one task with ``--tests-per-task`` tests
(node ids of about 60 characters, every fifth parametrised) and its executed files, the
static findings every job repeats (the plan's wave-overload warnings), a few run-time
findings (a boundary violation every 50th task, the same unowned file from every 100th,
a flaky task every 200th), one timeline row per attempt, and a start time. 2% of tasks
fail; their dependents are blocked, as their jobs would report them.

Then it runs ``python -m pytest_delegation combine DIR --report=json:... --report=markdown:...``
in a subprocess and measures its wall time and peak RSS (``getrusage(RUSAGE_CHILDREN)``),
beside a baseline: the time ``json.load`` takes to read every file in this process.

Targets (issue 13): under 5 s and under 500 MB. ``--check`` exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves
from pytest_delegation.report.data import report_data
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskResult
from pytest_delegation.report.model import TaskRow
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status


ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 5.0
MAX_MB = 500.0


def make_plan(tasks: int, waves: int, rng: random.Random) -> Plan:
    width = len(str(tasks - 1))
    ids = [f"task-{i:0{width}d}" for i in range(tasks)]
    per_wave = -(-tasks // waves)
    layers = [ids[i : i + per_wave] for i in range(0, tasks, per_wave)]
    entries: dict[str, Any] = {}
    for number, layer in enumerate(layers):
        for task_id in layer:
            deps = (
                rng.sample(layers[number - 1], k=min(2, len(layers[number - 1]))) if number else []
            )
            entries[task_id] = {
                "role": "code-writer",
                "description": f"Implement {task_id.replace('-', ' ')} of the generated project",
                "files": [f"pkg/{task_id.replace('-', '_')}.py"],
                "depends_on": deps[: rng.randint(1, 2)],
            }
    data = {"version": 1, "max_parallel": 4, "shared": ["pkg/__init__.py", "pkg/registry.py"]}
    plan = plan_from_dict({**data, "tasks": entries}, Path("delegation.yaml"))
    plan.freeze(compute_waves(plan))
    return plan


def static_findings(plan: Plan) -> list[Finding]:
    """What every job reports again: here, the plan's overloaded waves."""
    return [
        Finding(
            "wave-overload",
            f"wave {n} holds {len(wave)} tasks, more than max_parallel {plan.max_parallel}",
            fix="raise max_parallel or spread the tasks over more waves",
        )
        for n, wave in enumerate(plan.waves, start=1)
        if len(wave) > plan.max_parallel
    ]


def task_result(task_id: str, tests: int, status: Status, rng: random.Random) -> TaskResult:
    module = f"tests/test_{task_id.replace('-', '_')}.py"
    outcomes: dict[str, Outcome] = {}
    for n in range(tests):
        nodeid = f"{module}::TestBehaviour::test_case_{n:03d}"
        if n % 5 == 0:
            nodeid += f"[input-{n}-expected]"
        outcomes[nodeid] = Outcome.PASSED
    if status == Status.FAILED:
        outcomes[next(iter(outcomes))] = Outcome.FAILED
    if status == Status.BLOCKED:
        outcomes = dict.fromkeys(outcomes, Outcome.SKIPPED)
    files = ["pkg/__init__.py", "pkg/registry.py", f"pkg/{task_id.replace('-', '_')}.py"]
    ran = status != Status.BLOCKED
    return TaskResult(
        status=status,
        collected=tests,
        attempts=(2 if status in (Status.FAILED, Status.FLAKY) else 1) if ran else 0,
        duration=round(rng.uniform(1, 30), 3) if ran else 0.0,
        tests=outcomes,
        executed_files=files if ran else [],
    )


def write_reports(folder: Path, tasks: int, per_task: int, waves: int, seed: int = 1) -> int:
    """One JSON report per task's job in `folder`; the number of bytes written."""
    rng = random.Random(seed)
    plan = make_plan(tasks, waves, rng)
    static = static_findings(plan)
    failed = set(rng.sample(sorted(plan.tasks), k=max(1, tasks // 50)))
    status: dict[str, Status] = {}
    blocked_by: dict[str, str] = {}
    for wave in plan.waves:
        for task_id in wave:
            bad = [d for d in plan.tasks[task_id].depends_on if status[d] in ("failed", "blocked")]
            if bad:
                status[task_id] = Status.BLOCKED
                blocked_by[task_id] = blocked_by.get(bad[0], bad[0])
            elif task_id in failed:
                status[task_id] = Status.FAILED
            else:
                status[task_id] = Status.PASSED
    base = 1_760_000_000.0
    size = 0
    for number, task_id in enumerate(sorted(plan.tasks)):
        result = task_result(task_id, per_task, status[task_id], rng)
        if number % 200 == 7 and result.status == Status.PASSED:
            result.status = Status.FLAKY
        result.blocked_by = blocked_by.get(task_id)
        findings = list(static)
        test = next(iter(result.tests))
        if number % 50 == 3:
            other = sorted(plan.tasks)[(number + 500) % tasks]
            findings.append(
                Finding(
                    "boundary-violation",
                    f"{test} (task '{task_id}') ran helper() in "
                    f"pkg/{other.replace('-', '_')}.py:3, owned by '{other}'",
                    fix=f"declare the dependency (depends_on: [{other}])",
                    task=task_id,
                    other_task=other,
                    test=test,
                    file=f"pkg/{other.replace('-', '_')}.py",
                    line=3,
                    extra={"via": "run", "function": "helper", "owner_wave": 1,
                           "declared_dependencies": []},
                )
            )  # fmt: skip
        if number % 100 == 5:
            findings.append(
                Finding(
                    "unowned-file",
                    f"{test} (task '{task_id}') ran util() in pkg/helpers.py:1, a project "
                    "file no task owns and the plan does not share",
                    fix="add it to the files: of the task that writes it, or to shared:",
                    task=task_id,
                    test=test,
                    file="pkg/helpers.py",
                    line=1,
                    extra={"function": "util"},
                )
            )
        if result.status == Status.FLAKY:
            findings.append(
                Finding("flaky", f"{test} failed, then passed on retry", task=task_id, test=test)
            )
        number_of_wave = plan.wave_of(task_id)
        started = base + number_of_wave * 60 + rng.uniform(0, 20)
        timeline: list[Any] = [
            TaskRow(kind="task", task=task_id, attempt=attempt, start=1.5 + attempt * 10,
                    end=1.5 + attempt * 10 + result.duration / max(1, result.attempts),
                    tests=per_task, outcome=result.status)
            for attempt in range(1, result.attempts + 1)
        ]  # fmt: skip
        report = RunReport(
            plan=plan,
            plan_path="delegation.yaml",
            tasks={task_id: result},
            findings=findings,
            duration=result.duration + 3.0,
            mode="workers",
            checks=("isolation", "boundaries"),
            timeline=timeline,
            failed=result.status in (Status.FAILED, Status.BLOCKED),
            job=f"wave-{number_of_wave}-{task_id}",
            started_at=started,
        )
        text = json.dumps(report_data(report), indent=2) + "\n"
        (folder / f"wave-{number_of_wave}-{task_id}.json").write_text(text, encoding="utf-8")
        size += len(text)
    return size


def load_all(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted(folder.glob("*.json")):
        with open(path, "rb") as handle:
            json.load(handle)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--tests-per-task", type=int, default=50)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--keep", help="write the reports here (kept) instead of a temp folder")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="combine-bench-"))
    try:
        reports = work / "reports"
        if reports.exists():
            shutil.rmtree(reports)
        reports.mkdir(parents=True)
        started = time.perf_counter()
        size = write_reports(reports, args.tasks, args.tests_per_task, args.waves)
        print(
            f"wrote {args.tasks} reports ({args.tasks * args.tests_per_task:,} tests, "
            f"{size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f}s"
        )
        load_all(reports)  # warm the page cache
        baseline = load_all(reports)
        command = [
            sys.executable, "-m", "pytest_delegation", "combine", str(reports),
            f"--report=json:{work / 'combined.json'}",
            f"--report=markdown:{work / 'combined.md'}",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=work, env=env)
        wall = time.perf_counter() - start
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode not in (0, 1):
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            print(f"combine exited {done.returncode}")
            return 1
        print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
        print(f"json.load of every file (baseline): {baseline:.2f}s")
        ratio = wall / baseline
        print(f"combine: {wall:.2f}s wall ({ratio:.1f}x the baseline), target < {MAX_SECONDS}s")
        print(f"combine: {rss_mb:.0f} MB peak RSS, target < {MAX_MB:.0f} MB")
        met = wall < MAX_SECONDS and rss_mb < MAX_MB
        print("targets met" if met else "TARGET MISSED")
        return 1 if args.check and not met else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
