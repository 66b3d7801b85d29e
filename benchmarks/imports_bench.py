"""Benchmark of the static import check (``pytest_delegation.checks.imports.import_findings``).

    python benchmarks/imports_bench.py [--modules 2000] [--tasks 100] [--repeats 5] [--check]

Generates, in a temporary folder, a project of ``--modules`` Python files (default 2,000)
and a plan of ``--tasks`` tasks (default 100): each task owns a package ``pkg/task_<i>/``
(an ``__init__.py`` that imports every module of the package, and modules of about 60
lines importing their own package's modules, a dependency's and a transitive dependency's
modules, the shared ``pkg/common/`` modules and the standard library, at module level and
in functions, and under ``if TYPE_CHECKING:`` another chain's module, which must not
count). Tasks form chains of 5 (``task_<i>`` depends on ``task_<i-1>``), so the plan has 5
waves. One module in ten tasks also imports a module of the next chain's task: the planted
violations.

Timed, in this process: ``import_findings(plan, Tree(root))``, the file listing included,
with pathspec's compiled-pattern cache cleared before each repeat. The baseline, measured
in the same run, is reading and ``ast.parse``-ing every ``.py`` file of the tree. Each
figure is the median of ``--repeats`` runs (``time.perf_counter``) after one warm-up of
each; also, for information, the check with a warm ``cache`` (nothing parsed). The CPU
time of this process (``time.process_time``) is printed beside the wall time: on a shared
machine the wall time also measures the other processes. Target: the check under 1 s
(wall) for 2,000 modules; ``--check`` compares the wall median.

Exit status: 0 when every run found exactly the planted violations; 2 when a run found
something else; 1 when ``--check`` is given and the target is missed.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Callable
import os
from pathlib import Path
import platform
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any


TARGET = 1.0  # seconds, for 2,000 modules
CHAIN = 5  # tasks per dependency chain: the plan's waves

MODULE = '''\
"""Module {name} of task {task}."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import json
from typing import TYPE_CHECKING

{imports}

if TYPE_CHECKING:
    from pkg.common.types_{k} import Thing
    from {unchecked} import Record0


@dataclass
class Record{n}:
    """A record with a few fields."""

    name: str
    size: int = 0
    tags: list[str] = field(default_factory=list)

    def grow(self, by: int) -> Record{n}:
        return Record{n}(self.name, self.size + by, [*self.tags, str(by)])

    def dump(self) -> str:
        return json.dumps({{"name": self.name, "size": self.size, "tags": self.tags}})


def total(records: list[Record{n}]) -> int:
    result = 0
    for record in records:
        if record.size > 10:
            result += record.size * 2
        elif record.tags:
            result += len(record.tags)
        else:
            result -= 1
    return result


def lazy() -> object:
{lazy}
    return None


def describe(thing: Thing | None = None) -> str:
    try:
        return ", ".join(sorted({{str(x) for x in range(10) if x % 3}}))
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
'''


def generate(root: Path, modules: int, tasks: int) -> tuple[int, int]:
    """Write the project and the plan; (number of .py files, planted violations)."""
    shared = 20
    per_task = max(2, (modules - shared - 1) // tasks)  # files per task, __init__ included
    common = modules - 1 - per_task * tasks
    files: dict[str, str] = {"pkg/__init__.py": ""}
    files["pkg/common/__init__.py"] = ""
    for k in range(common - 1):
        files[f"pkg/common/types_{k}.py"] = f"class Thing:\n    value = {k}\n"
    shared_count = max(1, common - 1)
    planted = 0
    plan = ["version: 1", "max_parallel: 100", "shared: [pkg/__init__.py, pkg/common/]"]
    plan.append("tasks:")
    for i in range(tasks):
        task = f"task_{i}"
        plan.append(f"  {task}:")
        plan.append("    role: code-writer")
        plan.append(f"    files: [pkg/{task}/]")
        if i % CHAIN:
            plan.append(f"    depends_on: [task_{i - 1}]")
        names = [f"mod_{j}" for j in range(per_task - 1)]
        files[f"pkg/{task}/__init__.py"] = "".join(f"from . import {n}\n" for n in names)
        for j, name in enumerate(names):
            imports = [f"from . import {names[(j + 1) % len(names)]}"]
            imports.append(f"import pkg.common.types_{(i + j) % shared_count}")
            lazy = [f"    from pkg.{task} import {names[(j + 2) % len(names)]}"]
            if i % CHAIN >= 1:
                imports.append(f"from pkg.task_{i - 1}.{names[j % len(names)]} import Record{j}")
            if i % CHAIN >= 2:
                lazy.append(f"    import pkg.task_{i - 2}.{names[(j + 3) % len(names)]}")
            if i % 10 == 3 and j == 0:
                # the next chain's first task: never a dependency
                other = (i // CHAIN + 1) * CHAIN % tasks
                if other // CHAIN != i // CHAIN:
                    imports.append(f"from pkg.task_{other} import {names[1 % len(names)]}")
                    planted += 1
            files[f"pkg/{task}/{name}.py"] = MODULE.format(
                name=name,
                task=task,
                n=j,
                k=(i * j) % shared_count,
                unchecked=f"pkg.task_{(i + CHAIN) % tasks}.{names[0]}",
                imports="\n".join(imports),
                lazy="\n".join(lazy),
            )
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (root / "delegation.yaml").write_text("\n".join(plan) + "\n", encoding="utf-8")
    return len(files), planted


def timed(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - start, time.process_time() - cpu, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)

    from pytest_delegation.checks.imports import import_findings
    from pytest_delegation.plan import patterns
    from pytest_delegation.plan.model import load_plan
    from pytest_delegation.plan.patterns import Tree
    from pytest_delegation.plan.waves import compute_waves

    folder = Path(tempfile.mkdtemp(prefix="imports-bench-"))
    try:
        count, planted = generate(folder, args.modules, args.tasks)
        plan = load_plan(folder / "delegation.yaml")
        plan.freeze(compute_waves(plan))

        def check() -> int:
            patterns._compiled.cache_clear()
            return len(import_findings(plan, Tree(folder)))

        def baseline() -> int:
            parsed = 0
            for path in Tree(folder).files:
                if path.endswith(".py"):
                    ast.parse((folder / path).read_bytes(), filename=path)
                    parsed += 1
            return parsed

        check()
        baseline()
        check_times, check_cpu, base_times, base_cpu = [], [], [], []
        for _ in range(args.repeats):
            seconds, cpu, found = timed(check)
            check_times.append(seconds)
            check_cpu.append(cpu)
            if found != planted:
                print(f"import_findings found {found} violations, {planted} planted")
                return 2
            seconds, cpu, parsed = timed(baseline)
            base_times.append(seconds)
            base_cpu.append(cpu)
            if parsed != count:
                print(f"parsed {parsed} files of {count}")
                return 2
        cache: dict[str, Any] = {}
        import_findings(plan, Tree(folder), cache=cache)
        warm_times = []
        for _ in range(args.repeats):
            patterns._compiled.cache_clear()
            seconds, _cpu, findings = timed(
                lambda: import_findings(plan, Tree(folder), cache=cache)
            )
            warm_times.append(seconds)
            if len(findings) != planted:
                print(f"import_findings with a warm cache found {len(findings)} violations")
                return 2
        check_median = statistics.median(check_times)
        base_median = statistics.median(base_times)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {load:.1f}; "
            f"{count} modules, {len(plan.tasks)} tasks, {len(plan.waves)} waves, "
            f"{planted} planted violations"
        )
        print(
            f"import_findings: {check_median:.3f} s wall, {statistics.median(check_cpu):.3f} s "
            f"CPU (medians of {args.repeats}; wall min {min(check_times):.3f} s, "
            f"max {max(check_times):.3f} s)"
        )
        print(
            f"baseline (read + ast.parse every file): {base_median:.3f} s wall, "
            f"{statistics.median(base_cpu):.3f} s CPU"
        )
        print(f"with a warm cache (cache=...): {statistics.median(warm_times):.3f} s wall")
        print(
            f"ratio: {check_median / base_median:.2f}x wall, "
            f"{statistics.median(check_cpu) / statistics.median(base_cpu):.2f}x CPU; "
            f"target: under {TARGET:.1f} s"
        )
        if args.keep:
            print(f"kept: {folder}")
        return 1 if args.check and check_median >= TARGET else 0
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
