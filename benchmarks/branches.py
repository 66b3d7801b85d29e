"""Branch runs against the same suite on one checkout, side by side.

    python benchmarks/branches.py [--tasks 4] [--tests 250] [--repeat 3] [--checks all]

Builds two git repositories of the same suite (--tasks tasks of --tests tests each):

- *batch*: ``main`` holds the plan and stubs, each task's work is on ``agents/<task>``
  (the plan says ``branches: agents/{task}``);
- *checkout*: one commit holding every task's work (the batch, merged), no branches.

and times, each the median of --repeat runs, in one command so the ratios compare
like with like on a shared machine:

- ``pytest`` on the checkout (the plain suite);
- ``pytest --delegation-report`` on the checkout (the baseline of the ratio);
- ``pytest --delegation-report`` on the batch (each branch, then the merge), with
  ``--cache-clear``; then again with nothing changed (every run from pytest's cache);
- on their own: writing one branch's tree out (``branches.git.export``) and one merge
  (``merge-tree`` plus ``commit-tree``).

Target: the branch run at most 1.3x the checkout's ``--delegation-report``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pytest_delegation.branches import git  # noqa: E402


IDENTITY = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}  # fmt: skip


def sh(root: Path, *args: str) -> str:
    env = {**os.environ, **IDENTITY}
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "commit.gpgsign=false", *args],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return done.stdout.strip()


def plan(tasks: int, branches: bool) -> str:
    lines = ["max_parallel: 4", "shared: [pkg/__init__.py, conftest.py]"]
    if branches:
        lines.append("branches: agents/{task}")
    lines.append("tasks:")
    for n in range(tasks):
        lines.append(
            f"  t{n}: {{files: [pkg/t{n}.py, tests/test_t{n}.py], tests: [tests/test_t{n}.py]}}"
        )
    return "\n".join(lines) + "\n"


def work(n: int, tests: int) -> dict[str, str]:
    module = "def compute(x):\n    return sum(i * x for i in range(200))\n"
    body = f"from pkg import t{n}\n\n" + "".join(
        f"\ndef test_{i:04d}():\n    assert t{n}.compute({i}) == {expected}\n"
        for i, expected in ((i, sum(j * i for j in range(200))) for i in range(tests))
    )
    return {f"pkg/t{n}.py": module, f"tests/test_t{n}.py": body}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def build(root: Path, tasks: int, tests: int, branches: bool) -> None:
    root.mkdir(parents=True)
    sh(root, "init", "-q", "-b", "main")
    base = {
        "delegation.yaml": plan(tasks, branches),
        "pytest.ini": "[pytest]\n",
        "conftest.py": "",
        "pkg/__init__.py": "",
        **{f"pkg/t{n}.py": "" for n in range(tasks)},
    }
    write(root, base)
    if not branches:
        for n in range(tasks):
            write(root, work(n, tests))
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "base")
    if branches:
        for n in range(tasks):
            sh(root, "switch", "-q", "-c", f"agents/t{n}")
            write(root, work(n, tests))
            sh(root, "add", "-A")
            sh(root, "commit", "-q", "-m", f"t{n}")
            sh(root, "switch", "-q", "main")


def timed(command: list[str], cwd: Path, repeat: int, before: list[str] | None = None) -> float:
    seconds = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTEST_ADDOPTS"] = "-p no:randomly"
    for _ in range(repeat):
        if before:
            subprocess.run(before, cwd=cwd, capture_output=True, env=env)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
        seconds.append(time.perf_counter() - started)
        if done.returncode not in (0,):
            raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stdout[-3000:]}")
    return statistics.median(seconds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--tests", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checks", default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        batch, checkout = Path(folder, "batch"), Path(folder, "checkout")
        build(batch, args.tasks, args.tests, branches=True)
        build(checkout, args.tasks, args.tests, branches=False)
        pytest = [sys.executable, "-m", "pytest", "-q"]
        report = [*pytest, "--delegation-report", f"--delegation-check={args.checks}"]
        plain = timed(pytest, checkout, args.repeat)
        one = timed([*report, "--cache-clear"], checkout, args.repeat)
        fresh = timed([*report, "--cache-clear"], batch, args.repeat)
        cached = timed(report, batch, args.repeat, before=report)
        repo = git.open_repo(batch)
        head = sh(batch, "rev-parse", "agents/t0")
        exports = []
        for n in range(args.repeat):
            started = time.perf_counter()
            git.export(repo, head, Path(folder, f"export{n}"))
            exports.append(time.perf_counter() - started)
        merges = []
        base = sh(batch, "rev-parse", "main")
        for _ in range(args.repeat):
            started = time.perf_counter()
            current = base
            for n in range(args.tasks):
                other = sh(batch, "rev-parse", f"agents/t{n}")
                merged = git.merge(repo, current, other)
                assert merged.tree is not None
                current = git.commit_tree(repo, merged.tree, [current, other], "bench")
            merges.append((time.perf_counter() - started) / args.tasks)
    total = args.tasks * args.tests
    print(f"{args.tasks} branches of {args.tests} tests ({total} tests), checks={args.checks}, "
          f"median of {args.repeat}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"  pytest (plain, one checkout)              {plain:7.2f} s")
    print(f"  --delegation-report, one checkout         {one:7.2f} s   1.00x (baseline)")
    print(f"  --delegation-report, branches (fresh)     {fresh:7.2f} s   {fresh / one:.2f}x")
    print(f"  --delegation-report, branches (cached)    {cached:7.2f} s   {cached / one:.2f}x")
    print(f"  one branch's tree written out             {statistics.median(exports):7.3f} s")
    print(f"  one merge (merge-tree + commit-tree)      {statistics.median(merges):7.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
