"""The Markdown report: for ``$GITHUB_STEP_SUMMARY`` and pull-request comments.

A verdict, a Mermaid graph of the task DAG by wave coloured by status, a table per wave,
and the findings with their reproduce commands in collapsible details. GitHub caps a
step summary at 1 MiB and a comment at 64 KiB: the report stays under 64 KB, summarising
with counts where a run is too big to list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_delegation.vocab import Outcome
from pytest_delegation.vocab import Status


LIMIT = 64_000
# beyond this, a graph is unreadable: counts per wave instead
GRAPH_TASKS = 120
STATUS_STYLE = {
    Status.PASSED: "fill:#d4edda,stroke:#1e7e34",
    Status.FLAKY: "fill:#fff3cd,stroke:#b58105",
    Status.FAILED: "fill:#f8d7da,stroke:#b21f2d",
    Status.ERROR: "fill:#f8d7da,stroke:#b21f2d",
    Status.BLOCKED: "fill:#e2e3e5,stroke:#6c757d",
    Status.SKIPPED: "fill:#e2e3e5,stroke:#6c757d",
    Status.NOT_RUN: "fill:#ffffff,stroke:#6c757d",
}
ICON = {
    Status.PASSED: "✅", Status.FLAKY: "⚠️", Status.FAILED: "❌", Status.ERROR: "💥",
    Status.BLOCKED: "⛔", Status.SKIPPED: "⏭️", Status.NOT_RUN: "⚪",
}  # fmt: skip


def render_markdown(data: Mapping[str, Any]) -> str:
    """Render the JSON report data; shrink detail level by level until it fits."""
    for detail in (3, 2, 1, 0):
        text = _render(data, detail)
        if len(text.encode()) <= LIMIT:
            return text
    return text.encode()[: LIMIT - 100].decode(errors="ignore") + "\n\n…(truncated)\n"


def _render(data: Mapping[str, Any], detail: int) -> str:
    plan, tasks, summary = data["plan"], data["tasks"], data["summary"]
    lines = [f"## Delegation report: {_verdict(data)}", ""]
    lines.append(
        f"Plan `{plan['path']}`: {summary['tasks']} tasks in {summary['waves']} waves; "
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['blocked']} "
        f"blocked, {summary['flaky']} flaky; {summary['errors']} errors, "
        f"{summary['warnings']} warnings"
        + (f"; seed {summary['seed']}" if summary.get("seed") is not None else "")
        + "."
    )
    lines.append("")
    if detail >= 2 and len(tasks) <= GRAPH_TASKS:
        lines += _graph(plan, tasks)
    lines += _tables(plan, tasks, detail)
    lines += _findings(data["findings"], detail)
    return "\n".join(lines) + "\n"


def _verdict(data: Mapping[str, Any]) -> str:
    return "❌ FAILED" if data["summary"].get("verdict") == "failed" else "✅ OK"


def _node(task: str) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in task)


def _graph(plan: Mapping[str, Any], tasks: Mapping[str, Any]) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for number, wave in enumerate(plan["waves"], start=1):
        lines.append(f'  subgraph wave{number}["wave {number}"]')
        for task in wave:
            status = tasks.get(task, {}).get("status", Status.NOT_RUN)
            lines.append(f'    {_node(task)}["{task}<br/>{status}"]:::{status.replace("-", "_")}')
        lines.append("  end")
    for task, entry in plan["tasks"].items():
        for dep in entry["depends_on"]:
            lines.append(f"  {_node(dep)} --> {_node(task)}")
    for status, style in STATUS_STYLE.items():
        lines.append(f"  classDef {status.replace('-', '_')} {style}")
    return [*lines, "```", ""]


def _tables(plan: Mapping[str, Any], tasks: Mapping[str, Any], detail: int) -> list[str]:
    lines = []
    for number, wave in enumerate(plan["waves"], start=1):
        shown = [t for t in wave if t in tasks]
        if not shown:
            continue
        counts: dict[str, int] = {}
        for task in shown:
            counts[tasks[task]["status"]] = counts.get(tasks[task]["status"], 0) + 1
        lines.append(
            f"### Wave {number}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        )
        rows = shown if detail >= 1 else [t for t in shown if tasks[t]["status"] != Status.PASSED]
        if not rows:
            lines.append("")
            continue
        lines += ["", "| task | role | tests | passed | failed | time | status |"]
        lines.append("|---|---|---:|---:|---:|---:|---|")
        for task in rows:
            entry, role = tasks[task], plan["tasks"][task]["role"] or "-"
            outcomes = list(entry["tests"].values())
            passed = sum(o in (Outcome.PASSED, Outcome.XFAILED) for o in outcomes)
            failed = sum(o in (Outcome.FAILED, Outcome.ERROR, Outcome.XPASSED) for o in outcomes)
            status = entry["status"]
            lines.append(
                f"| `{task}` | {role} | {len(outcomes)} | {passed} | {failed} | "
                f"{entry['duration']:.2f}s | {ICON.get(status, '')} {status} |"
            )
        lines.append("")
    return lines


def _findings(findings: list[Mapping[str, Any]], detail: int) -> list[str]:
    if not findings:
        return ["No findings."]
    lines = [f"### Findings ({len(findings)})", ""]
    shown = findings if detail >= 3 else findings[: max(20, 200 // (4 - detail))]
    for finding in shown:
        where = ", ".join(
            str(finding[k]) for k in ("task", "test", "file") if finding.get(k) is not None
        )
        icon = "🔴" if finding["severity"] == "error" else "🟡"
        summary = f"{icon} <b>{finding['rule']}</b> {_escape(where)}"
        body = [_escape(finding["message"])]
        if finding.get("fix"):
            body.append(f"<br/><i>fix:</i> {_escape(finding['fix'])}")
        if detail >= 1 and finding.get("reproduce"):
            body.append(f"\n\n```bash\n{finding['reproduce']}\n```\n")
        lines.append(f"<details><summary>{summary}</summary>\n\n{''.join(body)}\n</details>")
    if len(shown) < len(findings):
        counts: dict[str, int] = {}
        for finding in findings[len(shown) :]:
            counts[finding["rule"]] = counts.get(finding["rule"], 0) + 1
        rest = ", ".join(f"{n} {rule}" for rule, n in sorted(counts.items()))
        lines.append(f"\n…and {len(findings) - len(shown)} more findings: {rest}.")
    return lines


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
