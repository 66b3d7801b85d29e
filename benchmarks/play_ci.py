"""A real suite split into CI jobs and played on this machine, against one machine.

    python benchmarks/play_ci.py PROJECT --python VENV/bin/python [--jobs N] [--dag]

In a copy of PROJECT: a plain run (the baseline), the single-machine run of an inferred
plan (one task per test module; it also records the tasks' durations), the workflow
written with `--delegation-ci=github` (packed into at most N jobs a wave by those
durations), every job played as a runner would (tests/ciplayer.py), then combine. It
prints the times as ratios against the plain run, and whether the combined report
agrees with the single-machine one (task statuses, blocked tasks, findings).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import shutil
import sys
import tempfile
import time
from typing import Any

import yaml


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ciplayer import play_github
from ciplayer import sh


CHECKS = "--delegation-check=isolation,boundaries"


def timed(command: str, cwd: Path, python: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = sh(command, cwd, {}, python)
    if result.returncode not in (0, 1):
        raise SystemExit(
            f"{command}: exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return time.perf_counter() - started, result.returncode


def verdicts(data: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {t: (r["status"], r.get("blocked_by")) for t, r in data["tasks"].items()}


def findings(data: dict[str, Any]) -> set[tuple[str, str | None, str | None]]:
    return {(f["rule"], f.get("task"), f.get("test")) for f in data["findings"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--python", required=True)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--dag", action="store_true")
    parser.add_argument("--args", default="-p no:randomly", help="pytest arguments of every run")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="play-ci-"))
    try:
        project = work / "project"
        shutil.copytree(
            options.project, project, ignore=shutil.ignore_patterns(".git", ".tox", "__pycache__")
        )
        py, args = options.python, options.args
        plain, _ = timed(f"python -m pytest {args} -q", project, py)
        one_time, _ = timed(
            f"python -m pytest {args} --delegation-plan=auto {CHECKS} -q "
            "--delegation-report=json:one.json",
            project,
            py,
        )
        one = json.loads((project / "one.json").read_text())
        (project / "one.json").unlink()
        schedule = "--delegation-schedule=dag" if options.dag else ""
        generate, _ = timed(
            f"python -m pytest {args} --delegation-plan=auto {CHECKS} {schedule} "
            f"--delegation-ci=github:wf.yml --delegation-ci-jobs={options.jobs}",
            project,
            py,
        )
        collect, _ = timed(f"python -m pytest {args} --collect-only -q", project, py)
        workflow = yaml.safe_load((project / "wf.yml").read_text())
        (project / "wf.yml").unlink()
        timings: dict[str, float] = {}
        outputs = play_github(project, workflow, work / "ci", py, timings)
        combined = json.loads((outputs["combine-0"] / "delegation-report.json").read_text())
        legs = {k: v for k, v in timings.items() if not k.startswith("combine")}
        # a job starts when the jobs it needs are done; its matrix legs run side by side
        finish: dict[str, float] = {}
        for name, job in workflow["jobs"].items():
            if name == "combine":
                continue
            own = max(v for k, v in legs.items() if k.rsplit("-", 1)[0] == name)
            needs = job.get("needs", [])
            finish[name] = own + max((finish[n] for n in needs), default=0.0)
        critical = max(finish.values())
        tests = sum(len(r["tests"]) for r in one["tasks"].values())
        print(
            f"project {options.project.name}: {tests} tests, {len(one['tasks'])} tasks, "
            f"{len(legs)} jobs ({'dag' if options.dag else 'waves'}, "
            f"--delegation-ci-jobs={options.jobs})"
        )
        print(f"plain run {plain:.2f} s (baseline 1.00x)")
        print(f"one machine, isolation+boundaries {one_time:.2f} s ({one_time / plain:.2f}x)")
        print(
            f"--delegation-ci=github {generate:.2f} s ({generate / collect:.2f}x a plain "
            f"--collect-only, {collect:.2f} s)"
        )
        print(
            f"jobs: longest {max(legs.values()):.2f} s ({max(legs.values()) / plain:.2f}x), "
            f"critical path {critical:.2f} s ({critical / plain:.2f}x), "
            f"all jobs {sum(legs.values()):.2f} s of runner time"
        )
        print(f"combine {timings['combine-0']:.2f} s ({timings['combine-0'] / plain:.2f}x)")
        same = verdicts(combined) == verdicts(one) and findings(combined) == findings(one)
        print(
            f"combined report agrees with one machine: {same} "
            f"(verdict {combined['summary']['verdict']} / {one['summary']['verdict']})"
        )
        if not same:
            print("one machine:", verdicts(one), sorted(findings(one)))
            print("combined:   ", verdicts(combined), sorted(findings(combined)))
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
