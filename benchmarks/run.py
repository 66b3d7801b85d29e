"""Benchmarks of pytest-delegation, each reported against a baseline measured in the same run.

    python benchmarks/run.py overhead   # plugin in-process vs plain pytest, 5,000 tests
    python benchmarks/run.py plan       # load_plan + compute_waves + assign, 100,000 tests
    python benchmarks/run.py conflicts  # checks.static.file_conflicts, 1,000 tasks, 4,000 files
    python benchmarks/run.py all        # all three

`overhead` generates a suite (benchmarks/generate.py) into a temporary folder and runs,
alternating, plain ``python -m pytest -q -p no:randomly -p no:cacheprovider`` and the same
with ``--delegation-report --delegation-workers=0 --delegation-check=none``, after one
warm-up of each; it prints the median wall times and their ratio (target: <= 1.05).

`plan` writes a 1,000-task plan and 100,000 test references (10% marked, the rest found
through the plan's ``tests:`` selectors: file paths, folders, node-id prefixes and globs)
and times, in a fresh interpreter per repeat and without pytest, the plan loading
(``pytest_delegation.plan.load_plan``), ``pytest_delegation.waves.compute_waves`` and the
test mapping (``pytest_delegation.mapping.assign``); target: total under 1 s. The baseline
is ``yaml.safe_load`` of the same file. Every repeat also checks that each test landed in
the task it was written for.

`conflicts` writes a 1,000-task plan and a 4,000-file tree (most tasks own a
``pkg/task_<i>/**`` folder, some a glob that matches at any depth, some literal paths, with
30 planted conflicts) and times, in a fresh interpreter per repeat, the static rule
``pytest_delegation.checks.static.file_conflicts`` and, for comparison, the algorithm it replaced
(every tree file against every glob task, every pair of tasks in a wave), kept here. The
baseline is listing the tree (``Tree.files``). Both must find the same conflicts.

Exit status: 0 when every run did what it should; 2 when a run failed, timed out, or
produced something unexpected (wrong test count, a test mapped to the wrong task); 1 when
``--check`` is given and a target is missed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


HERE = Path(__file__).resolve().parent

from common import children_cpu  # noqa: E402
from common import finish  # noqa: E402
from common import machine  # noqa: E402
from common import tail  # noqa: E402


OVERHEAD_TARGET = 1.05
PLAN_TARGET = 1.0  # seconds
PLAIN = ("-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider")
DELEGATION = ("--delegation-report", "--delegation-workers=0", "--delegation-check=none")
# what a user's environment could add to a pytest run; the benchmark wants neither
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP", "COVERAGE_PROCESS_START")


class BenchmarkError(Exception):
    """A run failed or produced something unexpected: the figures would be meaningless."""


# -- shared helpers -------------------------------------------------------------------


def workspace(args: argparse.Namespace, name: str) -> tuple[Path, bool]:
    """A folder for generated files and whether to delete it afterwards."""
    if args.workdir:
        path = Path(args.workdir).resolve() / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix=f"delegation-bench-{name}-"))
    return path, not args.keep


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["PYTHONHASHSEED"] = "0"
    return env


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child (nan where unknown)
    code: int
    out: str


def run_timed(cmd: Sequence[str], cwd: Path, timeout: float) -> Run:
    """Run `cmd` and time it (wall and CPU); kill its process group on timeout."""
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        raise BenchmarkError(
            f"timed out after {timeout:.0f} s: {' '.join(cmd)}\n{tail(out)}"
        ) from None
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    wall = time.perf_counter() - start
    return Run(wall, children_cpu() - cpu, proc.returncode, out)


def ratio_text(value: float) -> str:
    return f"{value:.3f}x"


# -- overhead: the in-process plugin against plain pytest -----------------------------


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from generate import generate

    folder, remove = workspace(args, "overhead")
    try:
        suite = generate(
            folder,
            tests=args.tests,
            tasks=args.tasks,
            waves=args.waves,
            seed=args.seed,
        )
        expected = suite.total_tests
        print(
            f"overhead: {expected} trivial tests, {suite.modules} modules, {suite.tasks} tasks "
            f"in {len(suite.waves)} waves, in {folder}"
        )
        plain = [sys.executable, *PLAIN]
        delegation = [*plain, *DELEGATION]
        print(f"  baseline:   {' '.join(['python', *PLAIN])}")
        print(f"  delegation: {' '.join(['python', *PLAIN, *DELEGATION])}")
        times: dict[str, list[float]] = {"plain": [], "delegation": []}
        cpu: dict[str, list[float]] = {"plain": [], "delegation": []}
        runs = [("plain", plain), ("delegation", delegation)]
        for round_ in range(args.warmup + args.repeats):
            warm = round_ < args.warmup
            for name, cmd in runs:
                run = run_timed(cmd, folder, args.timeout)
                check_pytest_run(name, run.code, run.out, expected, name == "delegation")
                if not warm:
                    times[name].append(run.wall)
                    cpu[name].append(run.cpu)
            label = "warm-up" if warm else f"run {round_ - args.warmup + 1}/{args.repeats}"
            shown = ", ".join(
                f"{name} done"
                if warm
                else f"{name} {times[name][-1]:.3f} s (cpu {cpu[name][-1]:.3f} s)"
                for name, _ in runs
            )
            print(f"  {label:>9}: {shown}", flush=True)
        plain_median = statistics.median(times["plain"])
        delegation_median = statistics.median(times["delegation"])
        ratio = delegation_median / plain_median
        cpu_ratio = statistics.median(cpu["delegation"]) / statistics.median(cpu["plain"])
        verdict = "meets" if ratio <= OVERHEAD_TARGET else "MISSES"
        print(
            f"  median wall time: plain {plain_median:.3f} s, delegation "
            f"{delegation_median:.3f} s (min {min(times['plain']):.3f} / "
            f"{min(times['delegation']):.3f} s)"
        )
        print(
            f"  ratio delegation/plain: {ratio_text(ratio)} wall (median), "
            f"{ratio_text(min(times['delegation']) / min(times['plain']))} wall (min), "
            f"{ratio_text(cpu_ratio)} CPU (median); "
            f"{verdict} the target <= {OVERHEAD_TARGET:.2f}x"
        )
        return {
            "benchmark": "overhead",
            "tests": expected,
            "tasks": suite.tasks,
            "waves": len(suite.waves),
            "repeats": args.repeats,
            "plain_seconds": times["plain"],
            "delegation_seconds": times["delegation"],
            "plain_median": plain_median,
            "delegation_median": delegation_median,
            "plain_cpu_seconds": cpu["plain"],
            "delegation_cpu_seconds": cpu["delegation"],
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "target": OVERHEAD_TARGET,
            "met": ratio <= OVERHEAD_TARGET,
        }
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


SUMMARY = re.compile(r"^=*\s*(?P<body>(?:\d+ \w+(?:, )?)+) in [\d.]+s", re.MULTILINE)


def check_pytest_run(name: str, code: int, out: str, expected: int, delegation: bool) -> None:
    """The generated suite passes: exit 0, exactly `expected` passed and nothing else."""
    if code != 0:
        raise BenchmarkError(f"the {name} run exited {code}, expected 0:\n{tail(out)}")
    matches = list(SUMMARY.finditer(out))
    match = matches[-1] if matches else None
    if match is None:
        raise BenchmarkError(f"the {name} run printed no pytest summary line:\n{tail(out)}")
    counts = {
        word: int(number) for number, word in re.findall(r"(\d+) (\w+)", match.group("body"))
    }
    if counts != {"passed": expected}:
        raise BenchmarkError(
            f"the {name} run reported {match.group('body')!r}, expected '{expected} passed'"
        )
    if delegation and not re.search(r"^delegation\b", out, re.MULTILINE):
        raise BenchmarkError(f"the {name} run printed no delegation summary:\n{tail(out)}")


# -- plan: loading, waves and mapping at 100,000 tests, without pytest ----------------

# what share of the tasks find their tests each way (by task number modulo 20)
KINDS = (
    ("marked",) * 2  # 10%: @pytest.mark.task, no selector
    + ("path",) * 8  # 40%: two test files each, listed by path
    + ("folder",) * 4  # 20%: a folder of their own
    + ("nodeid",) * 3  # 15%: a test class in a file shared with other tasks
    + ("glob",) * 3  # 15%: a glob over their files
)


def plan_scale(tasks: int, waves: int, tests: int, seed: int) -> tuple[str, list[list[Any]]]:
    """The plan text and the test references [nodeid, path, marked task, expected task]."""
    sys.path.insert(0, str(HERE))
    from generate import layout

    if tests < tasks:
        raise BenchmarkError("the plan benchmark needs at least one test per task")
    layers, deps = layout(tasks, waves, seed)
    width = len(str(tasks - 1))
    ident = [f"task-{i:0{width}d}" for i in range(tasks)]
    lines = [
        "# generated by benchmarks/run.py plan",
        "version: 1",
        f"max_parallel: {max(len(layer) for layer in layers)}",
        "shared:",
        "  - pkg/__init__.py",
        "  - pkg/common/**",
        "tasks:",
    ]
    refs: list[list[Any]] = []
    size, extra = divmod(tests, tasks)
    for number, layer in enumerate(layers, start=1):
        lines.append(f"  # wave {number}")
        for i in layer:
            task, num = ident[i], f"{i:0{width}d}"
            kind = KINDS[i % len(KINDS)]
            count = size + (1 if i < extra else 0)
            lines += [
                f"  {task}:",
                "    role: code-writer",
                f"    description: task {i} of wave {number}, tests by {kind}",
                f"    files: [pkg/task_{num}.py, pkg/task_{num}/**]",
            ]
            if deps[i]:
                lines.append(f"    depends_on: [{', '.join(ident[d] for d in deps[i])}]")
            files: list[str]
            if kind == "marked":
                files = [f"tests/marked/test_task_{num}.py"]
            elif kind == "path":
                files = [f"tests/area_{i // 100}/test_task_{num}{s}.py" for s in ("", "_b")]
                lines.append("    tests:")
                lines += [f"      - {f}" for f in files]
            elif kind == "folder":
                files = [f"tests/task_{num}/test_{s}.py" for s in ("a", "b")]
                lines.append(f"    tests: [tests/task_{num}/]")
            elif kind == "nodeid":
                group = f"tests/shared/test_group_{i // len(KINDS)}.py"
                files = [f"{group}::TestTask{num}"]
                lines.append(f"    tests: ['{group}::TestTask{num}']")
            else:
                files = [f"tests/glob/test_task_{num}_{s}.py" for s in ("a", "b")]
                lines.append(f"    tests: ['tests/glob/test_task_{num}_*.py']")
            for n in range(count):
                where = files[n % len(files)]
                path = where.split("::", 1)[0]
                name = f"test_{n:03d}" + (f"[{n % 3}]" if n % 5 == 0 else "")
                refs.append([f"{where}::{name}", path, task if kind == "marked" else None, task])
    return "\n".join(lines) + "\n", refs


def plan_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder, remove = workspace(args, "plan")
    try:
        text, refs = plan_scale(args.tasks, args.waves, args.tests, args.seed)
        (folder / "delegation.yaml").write_text(text, encoding="utf-8")
        (folder / "refs.json").write_text(json.dumps(refs), encoding="utf-8")
        marked = sum(1 for ref in refs if ref[2])
        print(
            f"plan: {args.tasks} tasks in {args.waves} waves, {len(refs)} tests "
            f"({marked} marked, {len(refs) - marked} by tests: selectors), "
            f"{len(set(ref[1] for ref in refs))} test files, a {len(text.splitlines())}-line "
            f"plan; {args.repeats} fresh interpreters"
        )
        samples: list[dict[str, float]] = []
        cmd = [sys.executable, str(Path(__file__).resolve()), "_plan-child", str(folder)]
        for n in range(args.warmup + args.repeats):
            run = run_timed(cmd, folder, args.timeout)
            code, out = run.code, run.out
            if code != 0:
                raise BenchmarkError(f"the plan measurement exited {code}:\n{tail(out)}")
            try:
                result = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                raise BenchmarkError(
                    f"the plan measurement printed no result:\n{tail(out)}"
                ) from None
            if n >= args.warmup:
                samples.append(result)
        phases = ("load_plan", "compute_waves", "assign")
        median = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
        total = sum(median[p] for p in phases)
        baseline = median["baseline_safe_load"]
        for phase in phases:
            share = median[phase] / baseline
            print(f"  {phase:<14} {median[phase] * 1000:8.1f} ms  ({share:.2f}x the baseline)")
        print(f"  {'total':<14} {total * 1000:8.1f} ms  ({total / baseline:.2f}x the baseline)")
        print(
            f"  baseline: yaml.safe_load of the same plan {baseline * 1000:.1f} ms; "
            f"also measured, not in the total: static rules "
            f"{median['static_rules'] * 1000:.1f} ms"
        )
        verdict = "meets" if total < PLAN_TARGET else "MISSES"
        print(
            f"  total {total:.3f} s is {total / PLAN_TARGET:.0%} of the {PLAN_TARGET:.0f} s "
            f"budget: {verdict} the target"
        )
        return {
            "benchmark": "plan",
            "tests": len(refs),
            "tasks": args.tasks,
            "waves": args.waves,
            "repeats": args.repeats,
            "samples": samples,
            "median": median,
            "total": total,
            "target": PLAN_TARGET,
            "met": total < PLAN_TARGET,
        }
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


def plan_child(folder: Path) -> int:
    """One measurement in this (fresh) interpreter; prints one JSON line."""
    import yaml

    from pytest_delegation.checks.static import Context
    from pytest_delegation.checks.static import static_findings
    from pytest_delegation.collect.mapping import TestRef
    from pytest_delegation.collect.mapping import assign
    from pytest_delegation.plan.model import load_plan
    from pytest_delegation.plan.patterns import Tree
    from pytest_delegation.plan.waves import compute_waves

    path = folder / "delegation.yaml"
    raw = json.loads((folder / "refs.json").read_text(encoding="utf-8"))
    refs = [TestRef(nodeid, file, (marked,) if marked else ()) for nodeid, file, marked, _ in raw]
    clock = time.perf_counter

    start = clock()
    yaml.safe_load(path.read_text(encoding="utf-8"))
    baseline = clock() - start

    start = clock()
    plan = load_plan(path)
    loaded = clock()
    waves = compute_waves(plan)
    plan.freeze(waves)
    waved = clock()
    assignment = assign(refs, plan, "")
    mapped = clock()
    findings = static_findings(Context(plan=plan, tree=Tree(folder), assignment=assignment))
    ruled = clock()

    wrong = [
        (nodeid, assignment.task_of.get(nodeid), task)
        for nodeid, _, _, task in raw
        if assignment.task_of.get(nodeid) != task
    ]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} tests mapped to the wrong task, e.g. {wrong[:3]}")
    if assignment.untagged or assignment.ambiguous:
        problems.append(
            f"{len(assignment.untagged)} untagged, {len(assignment.ambiguous)} ambiguous tests"
        )
    if findings:
        problems.append(f"unexpected findings: {[f.rule for f in findings][:5]}")
    if len(waves) != len({tuple(w) for w in waves}):
        problems.append("waves repeat")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "baseline_safe_load": baseline,
                "load_plan": loaded - start,
                "compute_waves": waved - loaded,
                "assign": mapped - waved,
                "static_rules": ruled - mapped,
            }
        )
    )
    return 0


# -- conflicts: the file-conflict rule on a 4,000-file tree --------------------------------


def conflicts_scale(tasks: int, waves: int, files: int, seed: int) -> tuple[str, list[str], int]:
    """The plan text, the tree's files and how many conflicts are planted.

    By task number modulo 10: 8 in 10 tasks own `pkg/task_<i>/**` and `pkg/task_<i>.py`
    (four files); 1 in 10 own `task_<i>_*.py`, which matches at any depth (two files); 1 in
    10 own two literal paths, one not written yet. In every wave, the first literal task
    also claims a file in the first folder task's folder (a literal inside a glob), and the
    first any-depth task also claims `*.cfg`, which matches the `setup.cfg` of two folder
    tasks. `docs/page_<n>.md`, owned by no task, fill the tree up to `files`.
    """
    sys.path.insert(0, str(HERE))
    from generate import layout

    layers, deps = layout(tasks, waves, seed)
    width = len(str(tasks - 1))
    ident = [f"task-{i:0{width}d}" for i in range(tasks)]
    lines = [
        "# generated by benchmarks/run.py conflicts",
        "version: 1",
        f"max_parallel: {max(len(layer) for layer in layers)}",
        "tasks:",
    ]
    tree: list[str] = []
    planted = 0
    for layer in layers:
        folders = [i for i in layer if i % 10 < 8]
        first_literal = first_name = True
        cfg = folders[:2]
        for i in layer:
            num = f"{i:0{width}d}"
            if i % 10 < 8:
                patterns = [f"pkg/task_{num}/**", f"pkg/task_{num}.py"]
                tree += [f"pkg/task_{num}.py"]
                tree += [f"pkg/task_{num}/{name}" for name in ("__init__.py", "core.py")]
                tree += [f"pkg/task_{num}/sub/util.py"]
                if i in cfg:
                    tree.append(f"pkg/task_{num}/setup.cfg")
            elif i % 10 == 8:
                patterns = [f"task_{num}_*.py"]
                tree += [f"tests/suite/task_{num}_a.py", f"scripts/task_{num}_b.py"]
                if first_name and len(cfg) == 2:
                    patterns.append("*.cfg")
                    planted += 2
                    first_name = False
            else:
                patterns = [f"src/mod_{num}.py", f"src/mod_{num}_helpers.py"]
                tree.append(f"src/mod_{num}.py")
                if first_literal and folders:
                    patterns.append(f"pkg/task_{folders[0]:0{width}d}/extra.py")
                    planted += 1
                    first_literal = False
            lines += [f"  {ident[i]}:", "    role: code-writer", "    files:"]
            lines += [f"      - '{pattern}'" for pattern in patterns]
            if deps[i]:
                lines.append(f"    depends_on: [{', '.join(ident[d] for d in deps[i])}]")
    tree += [f"docs/page_{n}.md" for n in range(max(0, files - len(tree)))]
    return "\n".join(lines) + "\n", tree, planted


def conflicts_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder, remove = workspace(args, "conflicts")
    try:
        text, files, planted = conflicts_scale(args.tasks, args.waves, args.files, args.seed)
        (folder / "delegation.yaml").write_text(text, encoding="utf-8")
        for name in files:
            path = folder / "tree" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")
        (folder / "tree" / "delegation.yaml").write_text(text, encoding="utf-8")
        print(
            f"conflicts: {args.tasks} tasks in {args.waves} waves, {len(files) + 1} files in "
            f"the tree, {planted} planted conflicts; {args.repeats} fresh interpreters per "
            "algorithm, alternating"
        )
        samples: dict[str, list[dict[str, Any]]] = {"indexed": [], "pairwise": []}
        for n in range(args.warmup + args.repeats):
            for algorithm in samples:
                cmd = [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "_conflicts-child",
                    str(folder / "tree"),
                    algorithm,
                ]
                run = run_timed(cmd, folder, args.timeout)
                if run.code != 0:
                    raise BenchmarkError(
                        f"the {algorithm} measurement exited {run.code}:\n{tail(run.out)}"
                    )
                try:
                    result = json.loads(run.out.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    raise BenchmarkError(
                        f"the {algorithm} measurement printed no result:\n{tail(run.out)}"
                    ) from None
                if result["found"] != planted:
                    raise BenchmarkError(
                        f"the {algorithm} rule found {result['found']} conflicts, "
                        f"expected the {planted} planted"
                    )
                if n >= args.warmup:
                    samples[algorithm].append(result)
        digests = {s["digest"] for runs in samples.values() for s in runs}
        if len(digests) != 1:
            raise BenchmarkError("the two algorithms found different conflicts")
        listing = statistics.median(s["list_tree"] for runs in samples.values() for s in runs)
        indexed = statistics.median(s["rule"] for s in samples["indexed"])
        pairwise = statistics.median(s["rule"] for s in samples["pairwise"])
        print(f"  baseline: listing the tree (Tree.files) {listing * 1000:.1f} ms")
        print(
            f"  file_conflicts          {indexed * 1000:8.1f} ms  "
            f"({indexed / listing:.2f}x the baseline)"
        )
        print(
            f"  pairwise (replaced)     {pairwise * 1000:8.1f} ms  "
            f"({pairwise / listing:.2f}x the baseline)"
        )
        print(f"  file_conflicts is {pairwise / indexed:.1f}x faster; same {planted} findings")
        return {
            "benchmark": "conflicts",
            "tasks": args.tasks,
            "waves": args.waves,
            "files": len(files) + 1,
            "repeats": args.repeats,
            "samples": samples,
            "list_tree_median": listing,
            "indexed_median": indexed,
            "pairwise_median": pairwise,
            "speedup": pairwise / indexed,
            "met": True,  # no target: reported for comparison
        }
    finally:
        if remove:
            shutil.rmtree(folder, ignore_errors=True)


def pairwise_file_conflicts(plan: Any, tree: Any) -> list[tuple[str, str, list[str]]]:
    """`checks.static.file_conflicts` before the prefix index, kept for comparison.

    Every task with a glob is matched against every file of the tree, and in every wave
    every pair of tasks checks each literal of one against the other's patterns.
    """
    from itertools import combinations

    import pathspec

    from pytest_delegation.plan.patterns import PatternSet
    from pytest_delegation.plan.patterns import _for_spec

    specs: dict[int, Any] = {}

    def spec(patterns: PatternSet) -> Any:
        if id(patterns) not in specs:
            lines = (_for_spec(p) for p in patterns.patterns)
            specs[id(patterns)] = pathspec.GitIgnoreSpec.from_lines(lines)
        return specs[id(patterns)]

    def matches(patterns: PatternSet, path: str) -> bool:
        if patterns.only_literals:
            return any(path == lit or path.startswith(lit + "/") for lit in patterns.literals)
        return bool(spec(patterns).match_file(path))

    def matching(patterns: PatternSet) -> set[str]:
        if patterns.only_literals:
            found = set()
            for lit in patterns.literals:
                if lit in tree.files:
                    found.add(lit)
                else:
                    found.update(tree.under(lit))
            return found
        match = spec(patterns).match_file
        return {path for path in tree.files if match(path)}

    sets = {task_id: PatternSet(task.files) for task_id, task in plan.tasks.items()}
    result = []
    for wave in plan.waves:
        claiming = [task_id for task_id in wave if sets[task_id]]
        if len(claiming) < 2:
            continue
        overlaps: dict[tuple[str, str], set[str]] = {}
        owners: dict[str, list[str]] = {}
        for task_id in claiming:
            for path in matching(sets[task_id]):
                owners.setdefault(path, []).append(task_id)
            for path in sets[task_id].literals:
                if path not in tree.files:
                    owners.setdefault(path, []).append(task_id)
        for path, tasks in owners.items():
            for pair in combinations(sorted(set(tasks)), 2):
                overlaps.setdefault(pair, set()).add(path)
        for a, b in combinations(claiming, 2):
            for one, other in ((a, b), (b, a)):
                for path in sets[one].literals:
                    if matches(sets[other], path):
                        x, y = sorted((one, other))
                        overlaps.setdefault((x, y), set()).add(path)
        result += [(a, b, sorted(paths)) for (a, b), paths in sorted(overlaps.items())]
    return result


def conflicts_child(folder: Path, algorithm: str) -> int:
    """One measurement in this (fresh) interpreter; prints one JSON line."""
    import hashlib

    from pytest_delegation.checks.static import file_conflicts
    from pytest_delegation.plan.model import load_plan
    from pytest_delegation.plan.patterns import Tree
    from pytest_delegation.plan.waves import compute_waves

    plan = load_plan(folder / "delegation.yaml")
    plan.freeze(compute_waves(plan))
    clock = time.perf_counter
    tree = Tree(folder)
    start = clock()
    tree.files  # noqa: B018 (listing the tree is the baseline)
    listed = clock()
    if algorithm == "indexed":
        found = [(f.task, f.other_task, f.extra["files"]) for f in file_conflicts(plan, tree)]
    else:
        found = pairwise_file_conflicts(plan, tree)
    done = clock()
    digest = hashlib.sha256(json.dumps(found).encode()).hexdigest()
    print(
        json.dumps(
            {
                "list_tree": listed - start,
                "rule": done - listed,
                "found": len(found),
                "digest": digest,
            }
        )
    )
    return 0


# -- command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_plan-child"]:
        return plan_child(Path(argv[1]))
    if argv[:1] == ["_conflicts-child"]:
        return conflicts_child(Path(argv[1]), argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="benchmark", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repeats", type=int, default=5, help="measured runs (default 5)")
    common.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default 1)")
    common.add_argument("--timeout", type=float, default=600, help="seconds one run may take")
    common.add_argument("--seed", type=int, default=0, help="seed of the generated dependencies")
    common.add_argument("--workdir", help="generate here (kept) instead of a temporary folder")
    common.add_argument("--keep", action="store_true", help="keep the temporary folder")
    common.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    common.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    o = sub.add_parser("overhead", parents=[common], help="in-process plugin vs plain pytest")
    o.add_argument("--tests", type=int, default=5000)
    o.add_argument("--tasks", type=int, default=50)
    o.add_argument("--waves", type=int, default=10)
    p = sub.add_parser("plan", parents=[common], help="load_plan, compute_waves, assign")
    p.add_argument("--tests", type=int, default=100_000)
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--waves", type=int, default=10)
    c = sub.add_parser(
        "conflicts", parents=[common], help="checks.static.file_conflicts on a tree"
    )
    c.add_argument("--tasks", type=int, default=1000)
    c.add_argument("--waves", type=int, default=10)
    c.add_argument("--files", type=int, default=4000)
    sub.add_parser("all", parents=[common], help="overhead, plan, conflicts: their defaults")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")

    info = machine()
    print(
        f"pytest-delegation benchmarks: Python {info['python']}, {info['cpus']} CPUs, "
        f"{info['platform']}, {info['date']}"
    )
    todo = ["overhead", "plan", "conflicts"] if args.benchmark == "all" else [args.benchmark]
    benchmarks = {
        "overhead": overhead,
        "plan": plan_benchmark,
        "conflicts": conflicts_benchmark,
    }
    results = []
    try:
        for name in todo:
            if args.benchmark == "all":
                defaults = {
                    "overhead": (5000, 50, 10),
                    "plan": (100_000, 1000, 10),
                    "conflicts": (0, 1000, 10),
                }[name]
                args.tests, args.tasks, args.waves = defaults
                args.files = 4000
            results.append(benchmarks[name](args))
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return finish(results, info, args.json, args.check)


if __name__ == "__main__":
    sys.exit(main())
