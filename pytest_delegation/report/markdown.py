"""The Markdown report: for ``$GITHUB_STEP_SUMMARY`` and pull-request comments.

A verdict, a Mermaid graph of the task DAG by wave coloured by status, a table per wave,
what to do with each task after a branch run (a retry's test output in collapsible
details), and the findings with their reproduce commands in collapsible details. GitHub
caps a step summary at 1 MiB and a comment at 64 KiB: the report stays under 64 KB,
summarising with counts where a run is too big to list.

Every user-given string (task ids, test ids, roles, messages, fixes, the plan path) is
escaped for where it lands, so none of it makes a link, an image, emphasis, a heading, a
table column or raw HTML, nor closes a code span, a code block or the graph: `_code` for
an inline code span, `_fence` for a code block, `_text` for Markdown text, `_cell` for a
table cell, `_html` for text inside the report's own HTML, `_label` for a Mermaid label.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from typing import Any

from pytest_delegation.report.model import BranchInfo
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.names import plural
from pytest_delegation.report.names import tally
from pytest_delegation.vocab import Action
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
ACTION_ICON = {
    Action.ACCEPT: "✅", Action.RETRY: "🔁", Action.BLOCKED: "⛔", Action.CONFLICT: "🔀",
}  # fmt: skip
#: lines of a failing test's output by detail level (3: the most); none below 2
OUTPUT_LINES = {3: 60, 2: 15}


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
        f"Plan {_code(str(plan['path']))}: {plural(summary['tasks'], 'task')} in "
        f"{plural(summary['waves'], 'wave')}; "
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['blocked']} "
        f"blocked, {summary['flaky']} flaky; {plural(summary['errors'], 'error')}, "
        f"{plural(summary['warnings'], 'warning')}"
        + (f"; seed {_text(str(summary['seed']))}" if summary.get("seed") is not None else "")
        + "."
    )
    lines.append("")
    if detail >= 2 and len(tasks) <= GRAPH_TASKS:
        lines += _graph(plan, tasks)
    lines += _tables(plan, tasks, detail)
    lines += _actions(TaskAction.in_report(data), tasks, detail)
    lines += _findings(data["findings"], detail)
    return "\n".join(lines) + "\n"


def _verdict(data: Mapping[str, Any]) -> str:
    verdict = data["summary"].get("verdict")
    if verdict == "interrupted":
        return "⚠️ INTERRUPTED"
    return "❌ FAILED" if verdict == "failed" else "✅ OK"


def _node(task: str) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in task)


def _graph(plan: Mapping[str, Any], tasks: Mapping[str, Any]) -> list[str]:
    lines = ["flowchart LR"]
    for number, wave in enumerate(plan["waves"], start=1):
        lines.append(f'  subgraph wave{number}["wave {number}"]')
        for task in wave:
            status = str(tasks.get(task, {}).get("status", Status.NOT_RUN))
            label = f"{_label(task)}<br/>{_label(status)}"
            lines.append(f'    {_node(task)}["{label}"]:::{_class(status)}')
        lines.append("  end")
    for task, entry in plan["tasks"].items():
        for dep in entry["depends_on"]:
            lines.append(f"  {_node(dep)} --> {_node(task)}")
    for status, style in STATUS_STYLE.items():
        lines.append(f"  classDef {_class(status)} {style}")
    return [_fence("\n".join(lines), "mermaid"), ""]


def _tables(plan: Mapping[str, Any], tasks: Mapping[str, Any], detail: int) -> list[str]:
    lines = []
    # after a branch run every table has an action column
    acted = any(entry.get("action") for entry in tasks.values())
    for number, wave in enumerate(plan["waves"], start=1):
        shown = [t for t in wave if t in tasks]
        if not shown:
            continue
        counts: dict[str, int] = {}
        for task in shown:
            counts[tasks[task]["status"]] = counts.get(tasks[task]["status"], 0) + 1
        lines.append(
            f"### Wave {number}: "
            + ", ".join(f"{n} {_text(str(s))}" for s, n in sorted(counts.items()))
        )
        rows = shown if detail >= 1 else [t for t in shown if tasks[t]["status"] != Status.PASSED]
        if not rows:
            lines.append("")
            continue
        head = "| task | role | tests | passed | failed | time | status |"
        lines += [
            "",
            head + " action |" * acted,
            "|---|---|---:|---:|---:|---:|---|" + "---|" * acted,
        ]
        for task in rows:
            entry, role = tasks[task], plan["tasks"][task]["role"]
            outcomes = list(entry["tests"].values())
            passed, failed, _ = tally(outcomes)
            status = entry["status"]
            lines.append(
                f"| {_code(task, cell=True)} | {_cell(role) if role else '-'} | "
                f"{len(outcomes)} | {passed} | {failed} | {entry['duration']:.2f}s | "
                f"{ICON.get(status, '')} {_cell(str(status))} |"
                + (f" {_action_cell(entry)} |" if acted else "")
            )
        lines.append("")
    return lines


def _action_cell(entry: Mapping[str, Any]) -> str:
    action = entry.get("action")
    return f"{ACTION_ICON[action]} {_cell(action)}" if action else "-"


def _actions(
    actions: Mapping[str, TaskAction], tasks: Mapping[str, Any], detail: int
) -> list[str]:
    """What to do after a branch run: the tasks to accept and to retry, then each task
    not accepted with why, a retry's failing tests (their output while it fits) and the
    tasks a blocked or conflicting one waits for or clashes with."""
    if not actions:
        return []
    lines = ["### What to do", ""]
    for word in (Action.ACCEPT, Action.RETRY):
        chosen = [task for task, action in actions.items() if action.action == word]
        if chosen:
            listed = ", ".join(_code(task) for task in chosen)
            lines += [f"{ACTION_ICON[word]} **{word.capitalize()}:** {listed}", ""]
    for task, action in actions.items():
        if action.action != Action.ACCEPT and detail >= 1:
            lines += _action_text(task, tasks[task], action, detail)
    return lines


def _action_text(
    task: str, entry: Mapping[str, Any], action: TaskAction, detail: int
) -> list[str]:
    """A task's action, its branch and why, then its failing tests in details blocks."""
    text = f"{ACTION_ICON[action.action]} {_code(task)} **{action.action}**"
    if entry.get("branch"):
        branch = BranchInfo.from_json(entry["branch"])
        cached = " (cached)" if branch.cached else ""
        text += f" on {_code(branch.name)} at {_code(branch.short)}{cached}"
    if action.reason:
        text += ": " + _text(action.reason)
    if action.with_tasks:
        text += f"; {action.with_word} " + ", ".join(_code(t) for t in action.with_tasks)
    lines = [text, ""]
    limit = OUTPUT_LINES.get(detail)
    for failure in action.failures:
        summary = f"❌ <code>{_html(failure.test)}</code> {_html(failure.outcome)}"
        output = failure.excerpt(limit, "… {lines} left out (the JSON report has them all) …")
        if output and detail >= 2:
            body = _fence("\n".join(output), "")
            lines += [f"<details><summary>{summary}</summary>\n\n{body}\n</details>", ""]
        else:
            lines += [f"❌ {_code(failure.test)} {_text(failure.outcome)}", ""]
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
        summary = f"{icon} <b>{_html(str(finding['rule']))}</b> {_html(where)}"
        body = [_text(str(finding["message"]), start=True)]
        if finding.get("fix"):
            body.append(f"<br/><i>fix:</i> {_text(str(finding['fix']))}")
        if detail >= 1 and finding.get("reproduce"):
            body.append(f"\n\n{_fence(str(finding['reproduce']), 'bash')}\n")
        lines.append(f"<details><summary>{summary}</summary>\n\n{''.join(body)}\n</details>")
    if len(shown) < len(findings):
        counts: dict[str, int] = {}
        for finding in findings[len(shown) :]:
            counts[finding["rule"]] = counts.get(finding["rule"], 0) + 1
        rest = ", ".join(f"{n} {_text(str(rule))}" for rule, n in sorted(counts.items()))
        more = plural(len(findings) - len(shown), "more finding")
        lines.append(f"\n…and {more}: {rest}.")
    return lines


# CommonMark's line endings; `str.splitlines` would also split at characters it keeps
_LINE_END = re.compile(r"\r\n|\r|\n")
_BACKTICKS = re.compile(r"`+")
# what makes a block at the start of a line, past what `_ALWAYS` and `_ENTITY` cover: a
# heading, a list item, a thematic break or setext underline, a table's delimiter row
_BLOCK_START = frozenset("#+-=:")
# what starts an inline construct anywhere in a line: escapes, code, emphasis, links and
# images, table cells, strikethrough, math; `_` only off a word (an intraword `_` is
# inert); `&`, `<` and `>` become entities instead
_ALWAYS = frozenset("\\`*[]|~$")
_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _html(text: str) -> str:
    """Text inside the report's own HTML (an HTML block: not Markdown, and no blank line)."""
    text = _LINE_END.sub(" ", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(text: str, *, start: bool = False) -> str:
    """Markdown text that shows `text` as it is and makes no construct of its own.

    Its lines (blank ones dropped, so no paragraph ends) join with hard line breaks;
    the first one is escaped as the start of a line when `start` says it is one.
    """
    lines = [line.strip() for line in _LINE_END.split(text)]
    return "\\\n".join(
        _line(line, start or n > 0) for n, line in enumerate(line for line in lines if line)
    )


def _cell(text: str) -> str:
    """Markdown text for a table cell: `_text` on one line (a line end ends the row)."""
    return " ".join(_line(line.strip(), False) for line in _LINE_END.split(text)).strip()


def _line(line: str, start: bool) -> str:
    head = ""
    if start:
        digits = re.match(r"[0-9]+(?=[.)])", line)  # an ordered list item
        if digits:
            head, line = f"{digits.group()}\\{line[digits.end()]}", line[digits.end() + 1 :]
        elif line[:1] in _BLOCK_START:
            head, line = f"\\{line[0]}", line[1:]
    out = []
    for i, c in enumerate(line):
        if c in _ENTITY:
            out.append(_ENTITY[c])
        elif c in _ALWAYS or (
            c == "_"
            and not (0 < i < len(line) - 1 and line[i - 1].isalnum() and line[i + 1].isalnum())
        ):
            out.append("\\" + c)
        else:
            out.append(c)
    return head + "".join(out)


def _code(text: str, *, cell: bool = False) -> str:
    """An inline code span showing `text` verbatim (its line ends as spaces, as CommonMark
    shows them): delimited by one backtick more than its longest run of them, padded
    where it starts or ends with a backtick or CommonMark would strip a space."""
    text = _LINE_END.sub(" ", text)
    if not text:  # CommonMark has no empty code span
        return ""
    ticks = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    if "`" in (text[0], text[-1]) or (text[0] == text[-1] == " " and text.strip(" ")):
        text = f" {text} "
    if cell:  # a table cell ends at an unescaped `|`, even in code; the table unescapes it
        text = text.replace("|", "\\|")
    return f"{ticks}{text}{ticks}"


def _fence(text: str, info: str) -> str:
    """A fenced code block of exactly `text`: its fence is longer than any backtick run in it.

    Line ends become `\\n`, as CommonMark reads them: a `\\r` last would end a line with
    the fence's own `\\n`."""
    text = _LINE_END.sub("\n", text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _label(text: str) -> str:
    """Text for a Mermaid label in `["..."]`: anything but letters, digits and ` -_./` as
    Mermaid's entity codes (`#quot;`, `#60;`), so nothing closes the quotes, makes HTML
    or a Markdown string, or ends the line or the code block."""
    return "".join(
        c if c.isalnum() or c in " -_./" else "#quot;" if c == '"' else f"#{ord(c)};" for c in text
    )


def _class(status: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in status)
