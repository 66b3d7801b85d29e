"""Benchmark of the HTML report (``pytest_delegation.htmlreport.render_html``) on a large run.

    python benchmarks/html_bench.py [--tasks 1000] [--tests 50000] [--waves 10] [--repeats 5]
        [--chromium /usr/bin/chromium] [--keep PATH] [--check]

Builds, in this process, report data of the JSON report's shape for a synthetic run:
``--tasks`` tasks spread over ``--waves`` waves (each task of a later wave depends on one
or two of the previous wave), ``--tests`` tests with node ids of about 70 characters
(every fifth parametrised), 2% of tasks failed and their dependents blocked, a few flaky
and not-run tasks, five executed files per task, one timeline run per task plus a retry
per failed task, the order check's four replays and ten bisection runs, and about 300
findings of five rules (the ordering ones with ``reproduce`` commands).

Measured:

- the time ``render_html`` takes (median of ``--repeats``) and the page's size;
- opening the page in headless Chromium through Playwright: ``page.goto(file://...)``
  until the ``load`` event, then until the script's ready marker (``body[data-ready]``) is
  there; each repeat in a new page, after one warm-up. Printed beside it, the browser's own
  navigation timing (``loadEventEnd`` from the navigation start);
- opening the first task's test table (built by JS from the embedded JSON on demand).

Targets (issue 6): under 5 MB and under 2 s to open. ``--check`` exits 1 when one is
missed. Needs ``pip install playwright`` and a Chromium (``apt-get install chromium``);
``playwright install`` is not needed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any
from typing import NamedTuple


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_delegation.report.html.page import render_html


MAX_BYTES = 5_000_000
OPEN_TABLE = """() => new Promise((done) => {
  const d = document.querySelector("details.tests"), t0 = performance.now();
  d.addEventListener("toggle", () => { d.querySelector("table").offsetHeight;
    done(performance.now() - t0); }, {once: true});
  d.open = true;
})"""
MAX_SECONDS = 2.0
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def build(
    tasks: int = 1000, tests: int = 50_000, waves: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Report data of a large run, in the shape of ``jsonreport.report_data``."""
    rng = random.Random(seed)
    ids = [f"task-{i:04d}" for i in range(tasks)]
    layers = [ids[w::waves] for w in range(waves)]
    depends = {
        t: sorted(rng.sample(layers[w - 1], min(len(layers[w - 1]), rng.choice((1, 2)))))
        if w > 0
        else []
        for w, layer in enumerate(layers)
        for t in layer
    }
    statuses = {t: "passed" for t in ids}
    for t in rng.sample(ids, tasks // 50):
        statuses[t] = "failed"
    for t in ids:  # in wave order: a dependent of a failed or blocked task is blocked
        if any(statuses[d] in ("failed", "blocked") for d in depends[t]):
            statuses[t] = "blocked"
    for t in rng.sample(ids, tasks // 100):
        if statuses[t] == "passed":
            statuses[t] = rng.choice(("flaky", "not-run"))
    per_task = tests // tasks
    plan_tasks: dict[str, Any] = {}
    results: dict[str, Any] = {}
    timeline: list[dict[str, Any]] = []
    start = 0.0
    for w, layer in enumerate(layers):
        lanes = [start] * 8
        for t in layer:
            i = int(t.split("-")[1])
            module = f"tests/wave_{w + 1:02d}/test_task_{i:04d}.py"
            names = [
                f"{module}::TestTask{i:04d}::test_behaviour_number_{j:03d}"
                + (f"[param-{j}]" if j % 5 == 0 else "")
                for j in range(per_task)
            ]
            status = statuses[t]
            outcomes = {}
            if status not in ("blocked", "not-run"):
                for j, name in enumerate(names):
                    outcomes[name] = "failed" if status == "failed" and j % 7 == 0 else "passed"
            plan_tasks[t] = {
                "role": rng.choice(("code-writer", "code-reviewer", "security")),
                "description": f"Synthetic task {i} of wave {w + 1}",
                "files": [f"pkg/task_{i:04d}.py", f"pkg/task_{i:04d}/**", module],
                "depends_on": depends[t],
                "resources": [],
                "wave": w + 1,
                "tests": sorted(names),
            }
            entry: dict[str, Any] = {
                "status": status,
                "attempts": 0 if status in ("blocked", "not-run") else 1 + (status == "failed"),
                "duration": 0.0,
                "tests": outcomes,
                "executed_files": [f"pkg/task_{i:04d}.py"]
                + [f"pkg/task_{i:04d}/part_{k}.py" for k in range(4)],
            }
            if status == "blocked":
                entry["blocked_by"] = next(
                    d for d in depends[t] if statuses[d] in ("failed", "blocked")
                )
            for attempt in range(1, entry["attempts"] + 1):
                lane = min(range(8), key=lanes.__getitem__)
                duration = round(rng.uniform(0.5, 3.0), 3)
                run_start = lanes[lane]
                lanes[lane] = round(run_start + duration, 3)
                entry["duration"] = round(entry["duration"] + duration, 3)
                timeline.append(
                    {"kind": "task", "task": t, "attempt": attempt, "start": round(run_start, 3),
                     "end": lanes[lane], "tests": len(names),
                     "outcome": "failed" if status == "failed" else "passed"}
                )  # fmt: skip
            results[t] = entry
        start = max(lanes)
    order = ["canonical", "reverse", "shuffle 1", "shuffle 2"] + ["bisect"] * 10
    for k, label in enumerate(order):
        begin = start + (k // 2) * 20.0
        timeline.append(
            {"kind": "order", "label": label, "start": round(begin, 3),
             "end": round(begin + rng.uniform(8, 19), 3), "tests": tests // (1 + 3 * (k > 3))}
        )  # fmt: skip
    findings: list[dict[str, Any]] = []
    for k in range(300):
        a, b = rng.sample(ids, 2)
        victim = plan_tasks[a]["tests"][0]
        culprit = plan_tasks[b]["tests"][1]
        rule = ("file-conflict", "hidden-ordering-dependency", "boundary-violation",
                "untagged-test", "flaky")[k % 5]  # fmt: skip
        finding: dict[str, Any] = {
            "rule": rule,
            "severity": "warning" if rule in ("untagged-test", "flaky") else "error",
            "task": a,
            "other_task": b,
        }
        if rule == "hidden-ordering-dependency":
            finding.update(
                test=victim, kind="victim", culprit_test=culprit, culprit_task=b,
                reproduce=f"python -m pytest -p no:randomly {culprit} {victim}",
                shared_state=["global pkg.registry.STATE"],
            )  # fmt: skip
        finding["message"] = f"synthetic {rule} finding number {k} between {a} and {b}"
        finding["fix"] = "make the tasks independent, or chain them with depends_on"
        findings.append(finding)
    untagged = {f"tests/test_smoke.py::test_smoke_{k}": "passed" for k in range(20)}
    count = {s: sum(1 for v in statuses.values() if v == s) for s in set(statuses.values())}
    end = max(run["end"] for run in timeline)
    return {
        "version": 1,
        "plan": {"path": "delegation.yaml", "max_parallel": 8, "shared": ["pkg/registry.py"],
                 "waves": [sorted(layer) for layer in layers], "tasks": plan_tasks},
        "tasks": results,
        "untagged": untagged,
        "findings": findings,
        "notes": ["order check: 14 worker runs (synthetic)"],
        "timeline": timeline,
        "summary": {
            "tasks": tasks, "waves": waves, "passed": count.get("passed", 0),
            "failed": count.get("failed", 0), "blocked": count.get("blocked", 0),
            "flaky": count.get("flaky", 0),
            "errors": sum(f["severity"] == "error" for f in findings),
            "warnings": sum(f["severity"] == "warning" for f in findings),
            "duration": end, "seed": seed, "verdict": "failed",
        },
    }  # fmt: skip


class Opened(NamedTuple):
    walls: list[float]  # goto until load + the ready marker, seconds
    navs: list[float]  # the browser's loadEventEnd from the navigation start
    cpus: list[float]  # CPU seconds of all Chromium processes during the open
    table: float  # opening the first task's test table, in the page


def open_times(path: Path, chromium: str, repeats: int) -> tuple[Opened, Opened]:
    """The page, and an empty page as the baseline, alternately in one browser."""
    from playwright.sync_api import ConsoleMessage
    from playwright.sync_api import Error
    from playwright.sync_api import sync_playwright

    errors: list[str] = []

    def on_error(error: Error) -> None:
        errors.append(str(error))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    empty = path.with_name("empty.html")
    empty.write_text("<!DOCTYPE html><title>empty</title><body data-ready=1>")
    results = {path: Opened([], [], [], 0.0), empty: Opened([], [], [], 0.0)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        cdp = browser.new_browser_cdp_session()

        def cpu() -> dict[int, float]:
            info = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
            return {int(proc["id"]): float(proc["cpuTime"]) for proc in info}

        try:
            for i in range(repeats + 1):  # the first round warms the browser up
                for target, result in results.items():
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    errors.clear()
                    page.on("pageerror", on_error)
                    page.on("console", on_console)
                    before = cpu()
                    t0 = time.perf_counter()
                    page.goto(target.as_uri(), wait_until="load", timeout=60_000)
                    page.wait_for_selector("body[data-ready]", state="attached")
                    wall = time.perf_counter() - t0
                    used = sum(t - before.get(pid, 0.0) for pid, t in cpu().items())
                    nav = page.evaluate(
                        "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
                    )
                    if errors:
                        raise SystemExit(f"console errors: {errors[:3]}")
                    if i:
                        result.walls.append(wall)
                        result.navs.append(float(nav) / 1000)
                        result.cpus.append(used)
                    if i == repeats and target == path:  # in the page: open, build, lay out
                        results[path] = result._replace(table=page.evaluate(OPEN_TABLE) / 1000)
                    page.close()
        finally:
            browser.close()
    return results[path], results[empty]


def _figures(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--tests", type=int, default=50_000)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--keep", type=Path, help="write the page here and keep it")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    data = build(args.tasks, args.tests, args.waves)
    n_tests = sum(len(t["tests"]) for t in data["plan"]["tasks"].values())
    renders = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        text = render_html(data)
        renders.append(time.perf_counter() - t0)
    raw = text.encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "report.html"
        path.write_bytes(raw)
        page, empty = open_times(path.resolve(), args.chromium, args.repeats)
    size_ok = len(raw) < MAX_BYTES
    time_ok = statistics.median(page.walls) < MAX_SECONDS
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{sys.platform}, load average {load:.1f} at the end")  # fmt: skip
    print(f"run: {args.tasks} tasks, {args.waves} waves, {n_tests} tests, "
          f"{len(data['findings'])} findings, {len(data['timeline'])} worker runs")  # fmt: skip
    print(f"render_html: median {statistics.median(renders) * 1000:.0f} ms "
          f"(min {min(renders) * 1000:.0f} ms, {args.repeats} runs)")  # fmt: skip
    print(f"page size: {len(raw):,} bytes ({len(raw) / 1e6:.2f} MB; target < 5 MB): "
          f"{'ok' if size_ok else 'MISSED'}")  # fmt: skip
    print(f"open in Chromium, goto until load + ready marker ({args.repeats} runs): "
          f"{_figures(page.walls)}; target < 2 s: {'ok' if time_ok else 'MISSED'}")  # fmt: skip
    print(f"  the browser's loadEventEnd: {_figures(page.navs)}")
    print(f"  CPU time of Chromium's processes: {_figures(page.cpus)}")
    print(f"  baseline, an empty page: {_figures(empty.walls)}; CPU {_figures(empty.cpus)}")
    print(f"open the first task's test table ({args.tests // args.tasks} tests), in the page: "
          f"{page.table * 1000:.0f} ms")  # fmt: skip
    return 1 if args.check and not (size_ok and time_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
