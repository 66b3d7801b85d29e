"""The HTML report: one self-contained page a person opens to look at a run.

It renders the JSON report data (``jsonreport.report_data``), so every format shows the
same facts. The page must work offline and from a CI artifact: CSS, JS and SVG are inline
(the style and script live beside this module as ``page.css`` and ``page.js``, package
data read once and inlined), a Content-Security-Policy forbids fetching anything. Pictures
carry text too (status words, run labels), so the page reads without colour and through a
screen reader. Large runs stay fast: each test costs a few bytes of an embedded JSON blob,
and a task's test table is only built when its ``<details>`` is opened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import functools
import html
from importlib import resources
import json
import math
from typing import Any
from urllib.parse import quote

from pytest_delegation.report.model import BranchInfo
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.names import cut
from pytest_delegation.report.names import plural
from pytest_delegation.report.names import short_names
from pytest_delegation.report.names import tally
from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Action
from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status


# a sign for each task status and test outcome (the vocab words), always shown with its word
ICON = {
    "passed": "✓", "failed": "✗", "error": "‼", "blocked": "⊘", "flaky": "≈",
    "skipped": "↷", "not-run": "○", "xfailed": "✓", "xpassed": "!",
}  # fmt: skip
SEVERITY_ICON = {"error": "✗", "warning": "▲"}
# a sign for each action of a branch run, always shown with its word
ACTION_ICON: dict[str, str] = {
    Action.ACCEPT: "✓", Action.RETRY: "↻", Action.BLOCKED: "⊘", Action.CONFLICT: "⇄",
}  # fmt: skip
# the task filter's order: trouble first
STATUS_ORDER = (
    Status.FAILED, Status.ERROR, Status.BLOCKED, Status.FLAKY,
    Status.PASSED, Status.SKIPPED, Status.NOT_RUN,
)  # fmt: skip
# statuses that fail the verdict when the report has none
VERDICT_FAILING = frozenset({Status.FAILED, Status.BLOCKED, Status.ERROR})
# the task graph lists these first where dependencies leave the order free, so a failure
# is seen at once (page.js scrolls the graph to the first one, wherever it is)
FAILED_FIRST = frozenset({Status.FAILED, Status.ERROR})
SHOWN_KEYS = {"rule", "severity", "task", "other_task", "test", "message", "fix", "reproduce"}
# keeps "3.2 s" and "wave 1" on one line
NBSP = "\u00a0"
# the task filter's value for findings of no task: never a task id
NO_TASK = "#none"
# tasks and findings beyond which sections render when scrolled to
BIG = 150
# failing tests listed in a task's section without opening its table
FAILING_SHOWN = 5
# lines of a retry's failing test output on the page; the JSON report has them all
OUTPUT_LINES = 400

# DAG geometry (SVG user units)
BOX_W, BOX_H, COL_GAP, ROW_GAP, TOP, MARGIN = 200, 46, 70, 12, 34, 10
# characters of a task id that fit a box; the full id is in its tooltip
ID_CHARS = 25
# a one-wave plan has no edges: its boxes flow into a grid, not one tall narrow column, of
# a column per GRID_ROWS tasks (up to GRID_COLS columns), GRID_GAP apart
GRID_COLS, GRID_ROWS, GRID_GAP = 5, 6, 14
# timeline geometry
LANE_H, BAR_H, LABEL_W, PLOT_W, AXIS_H = 30, 22, 86, 900, 26


def render_html(data: Mapping[str, Any]) -> str:
    """The whole page for one run's report data."""
    plan, tasks = data["plan"], data.get("tasks", {})
    summary = data.get("summary", {})
    failed = _verdict_failed(data)
    verdict = "FAILED" if failed else "OK"
    if data.get("summary", {}).get("verdict") == "interrupted":
        verdict = "INTERRUPTED"
    timeline, runs = _timeline(data.get("timeline") or [])
    actions = TaskAction.in_report(data)
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>Delegation report: {verdict} ({_e(plan.get('path', ''))})</title>",
        f"<style>\n{_asset('page.css')}</style></head>",
        # rendering only what is on screen (content-visibility) keeps big runs fast; small
        # ones render whole, for full-page screenshots and printing
        "<body class='big'>"
        if len(plan["tasks"]) + len(data.get("findings") or ()) > BIG
        else "<body>",
        "<a class='skip' href='#main'>Skip to content</a>",
        _header(data, plan, summary, failed),
        "<nav aria-label='Sections'>"
        + ("<a href='#actions'>What to do</a> " if actions else "")
        + "<a href='#dag'>Task graph</a> <a href='#timeline'>"
        "Timeline</a> <a href='#findings'>Findings</a> <a href='#tasks'>Tasks</a></nav>",
        "<main id='main'>",
        *([_actions(plan, tasks, actions)] if actions else []),
        _dag(plan, tasks),
        timeline,
        _findings(data.get("findings") or [], plan),
        _task_sections(plan, tasks, data.get("findings") or [], data.get("untagged") or {}),
        "</main>",
        "<script type='application/json' id='tests-data'>",
        _blob(plan, tasks, data.get("untagged") or {}, runs),
        f"</script><script>\n{_asset('page.js')}</script></body></html>\n",
    ]
    return "\n".join(parts)


@functools.cache
def _asset(name: str) -> str:
    """A file shipped beside this module (package data), read once, to inline in the page."""
    return (resources.files("pytest_delegation.report.html") / name).read_text(encoding="utf-8")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _anchor(task: str) -> str:
    return "task-" + task


def _href(task: str) -> str:
    return "#" + quote(_anchor(task), safe="")


def _task_link(task: str, plan: Mapping[str, Any]) -> str:
    if task in plan["tasks"]:
        return f"<a href='{_e(_href(task))}'><code>{_e(task)}</code></a>"
    return f"<code>{_e(task)}</code>"


def _status(task: str, tasks: Mapping[str, Any]) -> str:
    return str(tasks.get(task, {}).get("status", Status.NOT_RUN))


def _badge(status: str) -> str:
    """A status as icon and word: colour is only a help, never the message."""
    return f"<span class='badge st-{_e(status)}'>{_e(ICON.get(status, '•'))} {_e(status)}</span>"


def _secs(value: float) -> str:
    if value < 10:
        return f"{value:.2f}{NBSP}s"
    if value < 60:
        return f"{value:.1f}{NBSP}s"
    return f"{int(value // 60)}{NBSP}min {value % 60:02.0f}{NBSP}s"


def _action_badge(action: str) -> str:
    return (
        f"<span class='badge act-{_e(action)}'>{_e(ACTION_ICON.get(action, '•'))} "
        f"{_e(action)}</span>"
    )


def _actions(
    plan: Mapping[str, Any], tasks: Mapping[str, Any], actions: Mapping[str, TaskAction]
) -> str:
    """What to do after a branch run: the tasks to accept and to retry, then a row per task
    with its branch, why, the tasks it waits for or conflicts with and a retry's failures."""
    out = ["<section id='actions'><h2>What to do</h2>"]
    for word in (Action.ACCEPT, Action.RETRY):
        chosen = [task for task, action in actions.items() if action.action == word]
        if chosen:
            links = ", ".join(_task_link(task, plan) for task in chosen)
            out.append(f"<p class='act-list'>{_action_badge(word)} {links}</p>")
    out.append(
        "<div class='scroll'><table class='actions'><thead><tr><th>task</th><th>status</th>"
        "<th>action</th><th>branch</th><th>why</th></tr></thead><tbody>"
    )
    for task, action in actions.items():
        entry = tasks[task]
        out.append(
            f"<tr><td>{_task_link(task, plan)}</td><td>{_badge(_status(task, tasks))}</td>"
            f"<td>{_action_badge(action.action)}</td><td>{_branch(entry)}</td>"
            f"<td>{_why(action, plan)}</td></tr>"
        )
    out.append("</tbody></table></div></section>")
    return "".join(out)


def _branch(entry: Mapping[str, Any]) -> str:
    if not entry.get("branch"):
        return "-"
    branch = BranchInfo.from_json(entry["branch"])
    return (
        f"<code>{_e(branch.name)}</code> at <code title='{_e(branch.head)}'>"
        f"{_e(branch.short)}</code>" + " (cached)" * branch.cached
    )


def _why(action: TaskAction, plan: Mapping[str, Any]) -> str:
    """An action's reason, its other tasks, and a retry's failing tests with their output."""
    out = [f"<p>{_e(action.reason)}</p>" if action.reason else ""]
    if action.with_tasks:
        links = ", ".join(_task_link(task, plan) for task in action.with_tasks)
        out.append(f"<p>{_e(action.with_word)} {links}</p>")
    for failure in action.failures:
        output = failure.excerpt(OUTPUT_LINES, "… {lines} left out (the JSON report has all) …")
        out.append(
            f"<details class='failure'><summary>{_e(ICON.get(failure.outcome, '•'))} "
            f"<code>{_e(failure.test)}</code> {_e(failure.outcome)}</summary>"
            f"<pre>{_e(chr(10).join(output) or '(no output)')}</pre></details>"
        )
    return "".join(out)


def _verdict_failed(data: Mapping[str, Any]) -> bool:
    """The session's verdict when the report has it; else what the counts say."""
    summary = data.get("summary", {})
    if "verdict" in summary:
        # an interrupted run is not a passing one
        return bool(summary["verdict"] in ("failed", "interrupted"))
    statuses = {entry.get("status") for entry in data.get("tasks", {}).values()}
    return bool(summary.get("errors")) or bool(statuses & VERDICT_FAILING)


def _header(
    data: Mapping[str, Any], plan: Mapping[str, Any], summary: Mapping[str, Any], failed: bool
) -> str:
    verdict = ("✗ FAILED", "failed") if failed else ("✓ OK", "passed")
    if summary.get("verdict") == "interrupted":
        verdict = ("‖ INTERRUPTED", "failed")
    facts = [
        f"plan <code>{_e(plan.get('path', ''))}</code>",
        f"{plural(len(plan['tasks']), 'task')} in {plural(len(plan['waves']), 'wave')}",
        f"max_parallel {_e(plan.get('max_parallel', ''))}",
    ]
    if summary.get("duration") is not None:
        facts.append(f"ran {_secs(float(summary['duration']))}")
    if summary.get("seed") is not None:
        facts.append(f"seed {_e(summary['seed'])}")
    keys = ("tasks", "passed", "failed", "blocked", "flaky")
    counts = [(key, summary.get(key, 0)) for key in keys]
    # the JSON report's summary has no skipped count: the tasks' statuses do
    statuses = Counter(str(entry.get("status")) for entry in data.get("tasks", {}).values())
    counts.append(("skipped", summary.get("skipped", statuses[Status.SKIPPED])))
    counts += [("errors", summary.get("errors", 0)), ("warnings", summary.get("warnings", 0))]
    cells = "".join(
        f"<div class='count c-{key}{' zero' * (not n)}'><dt>{key}</dt><dd>{_e(n)}</dd></div>"
        for key, n in counts
    )
    notes = "".join(f"<li>{_e(note)}</li>" for note in data.get("notes") or [])
    return (
        f"<header><h1>Delegation report <span class='verdict st-{verdict[1]}'>"
        f"{verdict[0]}</span></h1><p class='facts'>{' · '.join(facts)}</p>"
        f"<dl class='counts' aria-label='Summary'>{cells}</dl>"
        + (f"<ul class='notes' aria-label='Notes'>{notes}</ul>" if notes else "")
        + "</header>"
    )


def _dag(plan: Mapping[str, Any], tasks: Mapping[str, Any]) -> str:
    """Waves as columns, dependencies as edges; each box links to its task's section."""
    columns: list[list[str]] = []
    row: dict[str, float] = {}
    for wave in plan["waves"]:
        # barycentre ordering: a task sits near what it depends on, so fewer edges cross;
        # among the rest (all of wave 1, all of a one-wave plan) failures first
        def place(item: tuple[int, str]) -> tuple[float, bool, int]:
            deps = [
                row[d] for d in plan["tasks"].get(item[1], {}).get("depends_on", ()) if d in row
            ]
            failed = _status(item[1], tasks) in FAILED_FIRST
            return (sum(deps) / len(deps) if deps else math.inf, not failed, item[0])

        column = [task for _, task in sorted(enumerate(wave), key=place)]
        row.update((task, i) for i, task in enumerate(column))
        columns.append(column)
    if not columns:
        return "<section id='dag'><h2>Task graph</h2><p>The plan has no tasks.</p></section>"
    if len(columns) == 1:
        # one wave, no edges: a grid filled row by row, so the failures are the top rows
        grid = max(1, min(GRID_COLS, math.ceil(len(columns[0]) / GRID_ROWS)))
        pos = {
            task: (MARGIN + i % grid * (BOX_W + GRID_GAP), TOP + i // grid * (BOX_H + ROW_GAP))
            for i, task in enumerate(columns[0])
        }
        width = MARGIN * 2 + grid * BOX_W + (grid - 1) * GRID_GAP
        rows = math.ceil(len(columns[0]) / grid)
        labels = [MARGIN + BOX_W / 2]
        hint = "All tasks are in one wave; failed ones come first."
    else:
        pos = {
            task: (MARGIN + c * (BOX_W + COL_GAP), TOP + r * (BOX_H + ROW_GAP))
            for c, column in enumerate(columns)
            for r, task in enumerate(column)
        }
        width = MARGIN * 2 + len(columns) * BOX_W + (len(columns) - 1) * COL_GAP
        rows = max(len(c) for c in columns)
        labels = [MARGIN + c * (BOX_W + COL_GAP) + BOX_W / 2 for c in range(len(columns))]
        hint = "Waves run left to right; an arrow points from a task to a task that depends on it."
    height = TOP + rows * (BOX_H + ROW_GAP) + MARGIN
    out = [
        f"<section id='dag'><h2>Task graph</h2><p class='hint'>{hint} Select a task for its "
        f"details.</p><div class='scroll dag' tabindex='0' role='region' aria-label="
        f"'Task graph, scrollable'><svg class='graph' viewBox='0 0 {width} {height}' "
        f"style='--w:{width}px' role='group' aria-label='Task graph by wave'>"
    ]
    for c, x in enumerate(labels):
        out.append(f"<text class='wave' x='{x}' y='20'>wave {c + 1}</text>")
    # two paths for all edges: one element each, not one per edge
    curves, heads = [], []
    for task, (x2, y2) in pos.items():
        for dep in plan["tasks"].get(task, {}).get("depends_on", ()):
            if dep in pos:
                x1, y1, y2m = pos[dep][0] + BOX_W, pos[dep][1] + BOX_H / 2, y2 + BOX_H / 2
                mid = (x1 + x2) / 2
                curves.append(f"M{x1} {y1}C{mid} {y1} {mid} {y2m} {x2 - 8} {y2m}")
                heads.append(f"M{x2} {y2m}l-9 -4.5v9z")
    out.append(
        f"<path class='edge' d='{''.join(curves)}'/><path class='head' d='{''.join(heads)}'/>"
    )
    names = short_names(pos, ID_CHARS)
    for task, (x, y) in pos.items():
        status = _status(task, tasks)
        entry = tasks.get(task, {})
        n = len(entry.get("tests") or plan["tasks"].get(task, {}).get("tests") or ())
        tip = f"{task}: {status}, {plural(n, 'test')}"
        if entry.get("tests"):
            passed, failed, skipped = tally(entry["tests"].values())
            tip += f" ({passed} passed, {failed} failed, {skipped} skipped)"
        # the <title> is the link's tooltip and accessible name
        out.append(
            f"<a href='{_e(_href(task))}' class='node st-{_e(status)}' transform='translate("
            f"{x},{y})'><title>{_e(tip)}</title><rect width='{BOX_W}' height='{BOX_H}' rx='6'/>"
            f"<text x='10' y='19' class='id'>{_e(names[task])}</text><text x='10' y='37'>"
            f"{_e(ICON.get(status, '•'))} {_e(status)} · {plural(n, 'test')}</text></a>"
        )
    out.append("</svg></div></section>")
    return "".join(out)


def _run_name(run: Mapping[str, Any]) -> tuple[str, str]:
    """What a worker run was for, and its kind: task, retry, order or bisect."""
    if run.get("kind") == "order":
        label = str(run.get("label") or "order")
        return (label, "bisect") if label.startswith("bisect") else ("order: " + label, "order")
    task = run.get("task") or "untagged tests"
    attempt = int(run.get("attempt") or 1)
    if attempt > 1:
        return f"{task} (retry, attempt {attempt})", "retry"
    return str(task), "task"


def _bar_labels(run: Mapping[str, Any], name: str, kind: str, outcome: str) -> list[str]:
    """Texts for a bar, longest first; the tooltip and the table always have it all."""
    icon = ICON.get(outcome, "")
    if kind == "retry":
        retry = f"{icon} ↻{run.get('attempt')}"
        return [f"{retry} {run.get('task') or 'untagged'}", retry]
    if kind == "task":
        return [f"{icon} {name}".strip(), icon] if icon else [name]
    return [name, str(run.get("label") or "")]


def _job_lanes(runs: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[str]]:
    """Rows of the timeline and their labels: a combined report's runs by CI job (each
    job its own rows, jobs in the order they started), else by worker slot."""
    jobs = list(dict.fromkeys(str(r["job"]) for r in sorted(runs, key=_start) if r.get("job")))
    if not jobs:
        lanes = _lanes(runs)
        return lanes, [f"worker {lane + 1}" for lane in range(max(lanes) + 1)]
    lanes = [0] * len(runs)
    labels: list[str] = []
    for job in jobs:
        members = [i for i, r in enumerate(runs) if str(r.get("job")) == job]
        inner = _lanes([runs[i] for i in members])
        for i, lane in zip(members, inner, strict=True):
            lanes[i] = len(labels) + lane
        labels += [job if lane == 0 else f"{job} ({lane + 1})" for lane in range(max(inner) + 1)]
    return lanes, labels


def _start(run: Mapping[str, Any]) -> float:
    return float(run.get("start", 0))


def _lanes(runs: Sequence[Mapping[str, Any]]) -> list[int]:
    """A worker slot per run: runs never overlap within a row (greedy interval packing)."""
    ends: list[float] = []
    lanes = [0] * len(runs)
    for i in sorted(range(len(runs)), key=lambda i: float(runs[i].get("start", 0))):
        start = float(runs[i].get("start", 0))
        free = [lane for lane, end in enumerate(ends) if end <= start + 1e-9]
        lane = free[0] if free else len(ends)
        if not free:
            ends.append(0.0)
        ends[lane] = float(runs[i].get("end", start))
        lanes[i] = lane
    return lanes


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600):
        if span / step <= 10:
            return step
    return span / 10


def _timeline(runs: Sequence[Mapping[str, Any]]) -> tuple[str, list[list[Any]]]:
    """The SVG, and the runs as rows of a table the page builds when it is opened."""
    head = "<section id='timeline'><h2>Timeline of worker runs</h2>"
    if not runs:
        return head + "<p>No worker runs: the tasks ran in this process.</p></section>", []
    lanes, labels = _job_lanes(runs)
    span = max([float(r.get("end", 0)) for r in runs] + [1e-3])
    scale = PLOT_W / span
    height = AXIS_H + (max(lanes) + 1) * LANE_H + 4
    width = LABEL_W + PLOT_W + 20
    out = [
        head,
        "<p class='hint'>"
        + ("One row per CI job" if any(r.get("job") for r in runs) else "One row per worker slot")
        + "; hover a bar for its run and duration. "
        "The table below lists every run.</p>",
        "<ul class='legend' aria-label='Legend'><li><span class='sw run-task'></span> task "
        "run</li><li><span class='sw run-retry'></span> retry (dashed)</li><li><span class="
        "'sw out-failed'></span> failed run (red)</li><li><span class='sw run-order'></span> "
        "order check</li><li><span class='sw run-bisect'></span> bisection</li></ul>",
        "<div class='scroll' tabindex='0' role='region' aria-label='Timeline, scrollable'>"
        f"<svg class='tl' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='Timeline of {plural(len(runs), 'worker run')}; the table below lists "
        "them'><defs><pattern id='hatch-order' width='6' height='6' patternUnits='userSpaceOnUse'"
        " patternTransform='rotate(45)'><rect width='6' height='6' fill='#dbe7ff'/><rect "
        "width='2' height='6' fill='#5b7fd1'/></pattern><pattern id='hatch-bisect' width='5' "
        "height='5' patternUnits='userSpaceOnUse'><rect width='5' height='5' fill='#efe3ff'/>"
        "<circle cx='2.5' cy='2.5' r='1.2' fill='#7b4bb8'/></pattern></defs>",
    ]
    step = _tick_step(span)
    for k in range(int(span / step) + 1):
        x = LABEL_W + k * step * scale
        out.append(
            f"<line class='tick' x1='{x:.1f}' x2='{x:.1f}' y1='{AXIS_H - 6}' y2='{height}'/>"
            f"<text class='axis' x='{x:.1f}' y='14'>{k * step:g} s</text>"
        )
    for lane, label in enumerate(labels):
        y = AXIS_H + lane * LANE_H + (LANE_H - BAR_H) / 2 + 15
        out.append(f"<text class='lane' x='4' y='{y}'>{_e(cut(label, 12))}</text>")
    rows = []
    for run, lane in zip(runs, lanes, strict=True):
        start, end = float(run.get("start", 0)), float(run.get("end", 0))
        name, kind = _run_name(run)
        outcome = str(run.get("outcome") or "")
        x, w = LABEL_W + start * scale, max((end - start) * scale, 1.5)
        y = AXIS_H + lane * LANE_H + (LANE_H - BAR_H) / 2
        tests = run.get("tests")
        tip = (
            f"{name}: {_secs(end - start)} (from {start:g} s to {end:g} s)"
            + (f", {plural(int(tests), 'test')}" if tests is not None else "")
            + (f", {outcome}" if outcome else "")
        )
        text = ""
        # the longest that fits
        for label in _bar_labels(run, name, kind, outcome):
            if len(label) * 6.6 + 8 < w:
                text = f"<text x='{x + 4:.1f}' y='{y + 15:.1f}'>{_e(label)}</text>"
                break
        out.append(
            f"<g class='run run-{kind} out-{_e(outcome or 'none')}'><title>{_e(tip)}</title>"
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{BAR_H}' rx='3'/>{text}</g>"
        )
        rows.append([lane + 1, name, kind, f"{start:g}", _secs(end - start), tests or "", outcome])
    out.append(
        f"</svg></div><details class='runs lazy'><summary>All {plural(len(runs), 'worker run')}"
        " as a table</summary></details></section>"
    )
    rows.sort(key=lambda row: float(row[3]))
    return "".join(out), rows


def _finding_tasks(finding: Mapping[str, Any]) -> list[str]:
    return [str(finding[k]) for k in ("task", "other_task") if finding.get(k)] or [NO_TASK]


def _value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(f"<code>{_e(v)}</code>" for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"<code>{_e(value)}</code>"


def _checkboxes(name: str, counts: Mapping[str, int]) -> str:
    return "".join(
        f"<label><input type='checkbox' name='{name}' value='{_e(value)}' checked> "
        f"{_e(value)} <span class='n'>({n})</span></label>"
        for value, n in sorted(counts.items())
    )


def _findings(findings: list[Mapping[str, Any]], plan: Mapping[str, Any]) -> str:
    out = [f"<section id='findings'><h2>Findings ({len(findings)})</h2>"]
    if not findings:
        return out[0] + "<p>No findings: the plan kept its promises.</p></section>"
    rules = Counter(str(f["rule"]) for f in findings)
    severities = Counter(str(f["severity"]) for f in findings)
    task_counts = Counter(t for f in findings for t in _finding_tasks(f))
    options = "".join(
        f"<option value='{_e(t)}'>{_e('(no task)' if t == NO_TASK else t)} ({n})</option>"
        for t, n in sorted(task_counts.items())
    )
    out.append(
        "<form id='finding-filters' class='filters' aria-controls='finding-list'>"
        f"<fieldset><legend>Rule</legend>{_checkboxes('rule', rules)}</fieldset>"
        f"<fieldset><legend>Severity</legend>{_checkboxes('severity', severities)}</fieldset>"
        "<div class='pick'><label for='finding-task'>Task</label> "
        "<select id='finding-task' name='task'><option value=''>all tasks</option>"
        f"{options}</select> <button type='reset'>Show all</button></div></form>"
        f"<p id='finding-count' role='status'>Showing {len(findings)} of "
        f"{len(findings)} findings</p><ol id='finding-list' class='findings'>"
    )
    for finding in findings:
        severity = str(finding["severity"])
        where = []
        if finding.get("task"):
            where.append("task " + _task_link(str(finding["task"]), plan))
        if finding.get("other_task"):
            where.append("with " + _task_link(str(finding["other_task"]), plan))
        if finding.get("test"):
            where.append(f"<code>{_e(finding['test'])}</code>")
        extra = "".join(
            f"<dt>{_e(str(k).replace('_', ' '))}</dt><dd>{_value(v)}</dd>"
            for k, v in finding.items()
            # the rest, whatever a rule adds
            if k not in SHOWN_KEYS
        )
        out.append(
            f"<li class='finding sev-{_e(severity)}' data-rule='{_e(finding['rule'])}' "
            f"data-severity='{_e(severity)}' "
            f"data-tasks='{_e(json.dumps(_finding_tasks(finding)))}'><p class='fhead'>"
            f"<span class='sev'>{SEVERITY_ICON.get(severity, '•')} {_e(severity)}</span> "
            f"<code class='rule'>{_e(finding['rule'])}</code> {' '.join(where)}</p>"
            f"<p>{_e(finding.get('message', ''))}</p>"
            + (
                f"<p class='fix'><b>Fix:</b> {_e(finding['fix'])}</p>"
                if finding.get("fix")
                else ""
            )
            + (
                f"<p class='repro'><b>Reproduce:</b></p><pre class='cmd'><code>"
                f"{_e(finding['reproduce'])}</code></pre>"
                if finding.get("reproduce")
                else ""
            )
            + (f"<dl class='extra'>{extra}</dl>" if extra else "")
            + "</li>"
        )
    out.append("</ol></section>")
    return "".join(out)


def _outcomes(plan_task: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, str]:
    """A task's tests with their outcomes; selected tests that never ran are 'not-run'."""
    outcomes = dict(entry.get("tests") or {})
    for test in plan_task.get("tests") or ():
        outcomes.setdefault(test, Outcome.NOT_RUN)
    return outcomes


def _count_text(outcomes: Iterable[str]) -> str:
    return ", ".join(f"{n} {o}" for o, n in Counter(outcomes).most_common())


def _task_sections(
    plan: Mapping[str, Any],
    tasks: Mapping[str, Any],
    findings: list[Mapping[str, Any]],
    untagged: Mapping[str, str],
) -> str:
    by_task = Counter(t for f in findings for t in set(_finding_tasks(f)))
    present = {_status(t, tasks) for t in plan["tasks"]}
    options = "".join(
        f"<option value='{s}'>{ICON[s]} {s}</option>" for s in STATUS_ORDER if s in present
    )
    out = [
        f"<section id='tasks'><h2>Tasks ({len(plan['tasks'])})</h2><div class='filters'>"
        "<label for='task-q'>Find a task</label> <input id='task-q' type='search' "
        "autocomplete='off'> <label for='task-status'>Status</label> <select id='task-status'>"
        f"<option value=''>all</option>{options}</select> <span id='task-count' role='status'>"
        "</span></div>"
    ]
    in_waves = [t for wave in plan["waves"] for t in wave if t in plan["tasks"]]
    # in wave order, as in the graph
    for task in dict.fromkeys([*in_waves, *plan["tasks"]]):
        spec, entry = plan["tasks"][task], tasks.get(task, {})
        status = _status(task, tasks)
        outcomes = _outcomes(spec, entry)
        attempts = int(entry.get("attempts", 0))
        # plain text between a few links: a thousand sections stay cheap to lay out; lines
        # break only between items (no-break spaces within)
        meta = [
            f"role{NBSP}{_e(spec.get('role') or '-')}",
            f"wave{NBSP}{_e(spec.get('wave', '-'))}",
            plural(attempts, "attempt").replace(" ", NBSP) + f"{NBSP}(retried)" * (attempts > 1),
            _secs(float(entry.get("duration", 0))),
            f"depends{NBSP}on "
            + (", ".join(_task_link(d, plan) for d in spec.get("depends_on", ())) or "nothing"),
        ]
        if spec.get("resources"):
            meta.append("resources " + _value(spec["resources"]))
        if entry.get("blocked_by"):
            meta.append(f"blocked{NBSP}by " + _task_link(str(entry["blocked_by"]), plan))
        if by_task.get(task):
            meta.append(
                f"<a href='#findings' data-finding-task='{_e(task)}'>"
                f"{plural(by_task[task], 'finding')}</a>"
            )
        failing = [t for t, o in outcomes.items() if o in FAILING][:FAILING_SHOWN]
        planned, executed = list(spec.get("files") or ()), list(entry.get("executed_files") or ())
        out.append(
            f"<section class='task' id='{_e(_anchor(task))}' data-status='{_e(status)}'>"
            f"<h3>{_badge(status)} <code>{_e(task)}</code>"
            + (f" {_action_badge(str(entry['action']))}" if entry.get("action") else "")
            + "</h3>"
            + (f"<p>{_e(spec['description'])}</p>" if spec.get("description") else "")
            + f"<p class='meta'>{' · '.join(meta)}</p>"
            + (f"<pre class='error'>{_e(entry['error'])}</pre>" if entry.get("error") else "")
            + (
                "<p>Failing: " + ", ".join(f"<code>{_e(t)}</code>" for t in failing) + "</p>"
                if failing
                else ""
            )
            + (
                f"<details class='tests lazy' data-task='{_e(task)}'><summary>Tests: "
                f"{len(outcomes)} ({_e(_count_text(outcomes.values()))})</summary></details>"
                if outcomes
                else "<p>Tests: none</p>"
            )
            # one text node per list of files: no DOM cost per file
            + f"<details><summary>Files: {len(planned)} planned, {len(executed)} executed"
            f"</summary><p>Planned (the plan's <code>files:</code>):</p>"
            f"<pre>{_e(chr(10).join(planned) or 'none')}</pre><p>Executed by its tests:</p>"
            f"<pre>{_e(chr(10).join(executed) or 'none')}</pre></details></section>"
        )
    if untagged:
        out.append(
            "<section class='task' id='untagged'><h3>Untagged tests</h3><p>They belong to no "
            "task and run after the last wave.</p><details class='tests lazy' data-untagged='1'>"
            f"<summary>Tests: {len(untagged)} ({_e(_count_text(untagged.values()))})</summary>"
            "</details></section>"
        )
    out.append("</section>")
    return "".join(out)


def _shared(a: str, b: str) -> int:
    """Length of the common prefix, by bisection: C-speed slices, not a loop per character."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _front_coded(outcomes: Mapping[str, str], codes: dict[str, int]) -> list[Any]:
    """Sorted ids as [shared prefix, rest, outcome code, ...]: sorted node ids share long
    prefixes, so 50,000 tests cost a few bytes each. Prefixes count UTF-16 units, as JS
    strings do."""
    flat: list[Any] = []
    previous = ""
    for test in sorted(outcomes):
        n = _shared(previous, test)
        units = n if test.isascii() else len(test[:n].encode("utf-16-le")) // 2
        flat += [units, test[n:], codes.setdefault(outcomes[test], len(codes))]
        previous = test
    return flat


def _blob(
    plan: Mapping[str, Any],
    tasks: Mapping[str, Any],
    untagged: Mapping[str, str],
    runs: list[list[Any]],
) -> str:
    """The data the page's script renders on demand, as JSON safe inside <script>."""
    codes: dict[str, int] = {}
    per_task = {
        task: _front_coded(_outcomes(spec, tasks.get(task, {})), codes)
        for task, spec in plan["tasks"].items()
    }
    untagged_tests = _front_coded(untagged, codes)
    outcomes = sorted(codes, key=codes.__getitem__)
    blob = {
        "o": outcomes,
        "i": {o: ICON.get(o, "•") for o in outcomes},
        "t": per_task,
        "u": untagged_tests,
        "r": runs,
    }
    text = json.dumps(blob, ensure_ascii=False, separators=(",", ":"))
    # inside <script> only "</script" or "<!--" could end the blob early
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
