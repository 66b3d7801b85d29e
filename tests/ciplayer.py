"""Plays generated GitHub Actions jobs on this machine, the way a runner would: each
job's plugin steps (not its set-up steps: this environment is already installed) in a
fresh copy of the project, in `needs:` order, artifacts passed by copying.

Used by tests/test_ci_play.py and by benchmarks/play_ci.py on real suites.
"""

from __future__ import annotations

from collections.abc import Iterator
import fnmatch
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time
from typing import Any


#: how the steps the plugin writes begin (the others are the user's set-up)
PLUGIN_STEPS = ("python -m pytest ", "pytest-delegation combine ")


def env(python: str = sys.executable) -> dict[str, str]:
    # the jobs' `python` and `pytest-delegation` are this environment's, as a CI
    # runner's set-up steps would have installed them
    bin_dir = str(Path(python).parent)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environ["PATH"] = bin_dir + os.pathsep + environ.get("PATH", "")
    environ["PYTEST_ADDOPTS"] = "-p no:randomly -p no:cacheprovider"
    return environ


def sh(
    command: str, cwd: Path, extra: dict[str, str], python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env={**env(python), **extra},
        capture_output=True,
        text=True,
        timeout=300,
    )


def needs_order(jobs: dict[str, Any]) -> Iterator[str]:
    """The workflow's jobs, each after the jobs it needs."""
    done: set[str] = set()
    while len(done) < len(jobs):
        ready = [
            name for name, job in jobs.items() if name not in done and set(_needs(job)) <= done
        ]
        assert ready, f"a cycle in needs: {jobs}"
        for name in sorted(ready):
            done.add(name)
            yield name


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def legs(job: dict[str, Any]) -> list[dict[str, str]]:
    matrix = job.get("strategy", {}).get("matrix")
    return list(matrix["include"]) if matrix else [{}]


def expand(text: str, leg: dict[str, str]) -> str:
    for key, value in leg.items():
        text = text.replace(f"${{{{ matrix.{key} }}}}", str(value))
    assert "${{" not in text, f"an expression the player does not know: {text}"
    return text


def download(artifacts: Path, options: dict[str, Any], copy: Path) -> None:
    """download-artifact: by name, or every artifact matching a pattern (merged)."""
    target = copy / options["path"]
    target.mkdir(parents=True, exist_ok=True)
    pattern = options.get("pattern") or options["name"]
    for produced in sorted(artifacts.iterdir()):
        if fnmatch.fnmatchcase(produced.name, pattern):
            for file in produced.iterdir():
                shutil.copy(file, target / file.name)


def play_github(
    project: Path,
    workflow: dict[str, Any],
    work: Path,
    python: str = sys.executable,
    timings: dict[str, float] | None = None,
) -> dict[str, Path]:
    """Run every job's plugin steps (not the set-up ones) the way GitHub would; each
    leg's folder by name, and (`timings`) how long its pytest step took."""
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True)
    outputs: dict[str, Path] = {}
    for name in needs_order(workflow["jobs"]):
        job = workflow["jobs"][name]
        for number, leg in enumerate(legs(job)):
            copy = work / f"{name}-{number}"
            shutil.copytree(project, copy)
            job_env = {k: expand(str(v), leg) for k, v in job.get("env", {}).items()}
            summary = copy / "step-summary.md"
            job_env["GITHUB_STEP_SUMMARY"] = str(summary)
            for step in job["steps"]:
                uses = step.get("uses", "")
                if uses.startswith("actions/download-artifact"):
                    download(artifacts, step["with"], copy)
                elif uses.startswith("actions/upload-artifact"):
                    where = expand(step["with"]["name"], leg)
                    (artifacts / where).mkdir()
                    for path in str(step["with"]["path"]).split():  # one per line
                        source = copy / path
                        files = source.iterdir() if source.is_dir() else [source]
                        for file in files:
                            if file.exists():
                                shutil.copy(file, artifacts / where / file.name)
                elif str(step.get("run", "")).startswith(PLUGIN_STEPS):
                    # the plugin's own steps; the set-up ones (pip install ...) are
                    # this environment's already
                    started = time.perf_counter()
                    result = sh(expand(step["run"], leg), copy, job_env, python)
                    if timings is not None:
                        timings[f"{name}-{number}"] = time.perf_counter() - started
                    assert result.returncode in (0, 1), result.stdout + result.stderr
                    outputs[f"{name}-{number}"] = copy
    return outputs
