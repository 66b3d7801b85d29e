"""A branch run's actions in every report format (issue 12).

The JSON keys a task and the summary get (and never without a branch run), the schema,
reading a report back, combining it, and what the terminal, Markdown and HTML reports
show; the plain report every format wrote before stays as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import io
from pathlib import Path
import re
from typing import Any
from typing import cast

from _pytest._io import TerminalWriter
from conftest import SCHEMA
import jsonschema
import pytest
from test_combine import ALPHA
from test_combine import GAMMA
from test_combine import PLAN
from test_combine import make_plan
from test_combine import result
from test_html import parse
from test_markdown_escape import MD
from test_markdown_escape import _flat
from test_markdown_escape import _Html

from pytest_delegation.ci.combine import combine
from pytest_delegation.cli import _Writer
from pytest_delegation.report.data import report_data
from pytest_delegation.report.html.page import render_html
from pytest_delegation.report.markdown import render_markdown
from pytest_delegation.report.model import BranchInfo
from pytest_delegation.report.model import Failure
from pytest_delegation.report.model import RunReport
from pytest_delegation.report.model import TaskAction
from pytest_delegation.report.read import report_from_data
from pytest_delegation.report.terminal import render
from pytest_delegation.vocab import Action


#: alpha, beta and gamma of test_combine's plan, and delta that depends on beta
BRANCH_PLAN = {
    **PLAN,
    "tasks": {
        **PLAN["tasks"],
        "delta": {"role": "code-writer", "files": ["pkg/delta.py"], "depends_on": ["beta"]},
    },
}
BETA_TEST = "tests/test_b.py::test_beta"
HEAD_A = "1a2b3c4" + "a" * 33
HEAD_B = "9f8e7d6" + "b" * 33
#: 70 lines: the terminal (-v) and Markdown cut it, the HTML page shows it whole
OUTPUT = "\n".join(
    [
        "def test_beta():",
        ">       assert beta() == 2",
        "E       assert 3 == 2",
        *(f"frame {n}" for n in range(66)),
        "tests/test_b.py:4: AssertionError",
    ]
)
HOSTILE = "<img src=x onerror=alert(1)> [x](https://evil) ``` </details> &amp; *em*"
#: the keys a task entry and the summary had before branch runs
PLAIN_TASK_KEYS = {"status", "attempts", "duration", "tests", "executed_files", "blocked_by"}
NEW_TASK_KEYS = ("branch", "action", "action_reason", "action_with", "failures")


def branch_report(*, actions: bool = True) -> RunReport:
    """alpha accepted from the cache, beta to retry, gamma in conflict with alpha and
    delta blocked by beta; `actions` False: the same run without the new fields."""
    tasks = {
        "alpha": result("passed", ALPHA),
        "beta": result("failed", {BETA_TEST: "failed"}),
        "gamma": result("passed", GAMMA),
        "delta": result("not-run"),
    }
    if actions:
        tasks["alpha"].branch = BranchInfo("task/alpha", HEAD_A, cached=True)
        tasks["alpha"].action = TaskAction(Action.ACCEPT, "its tests pass on the merge")
        tasks["beta"].branch = BranchInfo("task/beta", HEAD_B)
        tasks["beta"].action = TaskAction(
            Action.RETRY,
            "1 test fails on its branch",
            failures=(Failure(BETA_TEST, "failed", OUTPUT),),
        )
        tasks["gamma"].action = TaskAction(
            Action.CONFLICT, "its merge conflicts", with_tasks=("alpha",)
        )
        tasks["delta"].action = TaskAction(
            Action.BLOCKED, "beta was not accepted", with_tasks=("beta",)
        )
    return RunReport(
        plan=make_plan(BRANCH_PLAN),
        plan_path="delegation.yaml",
        tasks=tasks,
        findings=[],
        duration=3.0,
        failed=True,
    )


def hostile_report() -> RunReport:
    """beta's retry with markup in its reason, its failing test's id and its output."""
    report = branch_report()
    beta = report.tasks["beta"]
    assert beta.action is not None
    failure = Failure(f"tests/test_b.py::test_beta[{HOSTILE}]", "failed", f"E  {HOSTILE}")
    beta.action = dataclasses.replace(beta.action, reason=HOSTILE, failures=(failure,))
    return report


def terminal(report: RunReport, verbosity: int, *, color: bool = False) -> str:
    """The terminal report as `combine --report=term` writes it."""
    out = io.StringIO()
    writer = TerminalWriter(file=out)
    writer.hasmarkup = color
    render(report, cast("pytest.TerminalReporter", _Writer(writer)), verbosity)
    return out.getvalue()


# --- JSON -----------------------------------------------------------------------------


def test_a_task_entry_has_its_branch_and_action_in_a_stable_order() -> None:
    tasks = report_data(branch_report())["tasks"]
    assert tasks["alpha"] == {
        "status": "passed",
        "attempts": 1,
        "duration": 1.0,
        "tests": ALPHA,
        "executed_files": [],
        "branch": {"name": "task/alpha", "head": HEAD_A, "cached": True},
        "action": "accept",
        "action_reason": "its tests pass on the merge",
    }
    assert list(tasks["beta"])[-4:] == ["branch", "action", "action_reason", "failures"]
    assert tasks["beta"]["failures"] == [
        {"test": BETA_TEST, "outcome": "failed", "output": OUTPUT}
    ]
    assert tasks["beta"]["branch"]["cached"] is False
    # no branch, no failures: neither key; the other tasks involved only when there are some
    assert list(tasks["gamma"])[-3:] == ["action", "action_reason", "action_with"]
    assert tasks["gamma"]["action_with"] == ["alpha"]
    assert "branch" not in tasks["delta"] and "failures" not in tasks["delta"]


def test_the_summary_lists_the_tasks_to_accept_and_retry_before_the_verdict() -> None:
    summary = report_data(branch_report())["summary"]
    assert list(summary)[-3:] == ["accept", "retry", "verdict"]
    assert summary["accept"] == ["alpha"] and summary["retry"] == ["beta"]


def test_the_lists_are_in_plan_order_and_present_when_empty() -> None:
    report = branch_report()
    for task in ("alpha", "gamma"):
        report.tasks[task].action = TaskAction(Action.RETRY, "fails")
    report.tasks["beta"].action = TaskAction(Action.CONFLICT, "clashes", ("gamma",))
    summary = report_data(report)["summary"]
    assert summary["retry"] == ["alpha", "gamma"]
    assert summary["accept"] == []


def test_a_report_without_branch_runs_has_none_of_the_new_keys() -> None:
    plain = report_data(branch_report(actions=False))
    assert all(set(entry) <= PLAIN_TASK_KEYS for entry in plain["tasks"].values())
    assert "accept" not in plain["summary"] and "retry" not in plain["summary"]
    # the new fields only add keys: without them, the same report to the byte
    stripped = copy.deepcopy(report_data(branch_report()))
    for entry in stripped["tasks"].values():
        for key in NEW_TASK_KEYS:
            entry.pop(key, None)
    del stripped["summary"]["accept"], stripped["summary"]["retry"]
    assert stripped == plain


def test_the_schema_takes_a_report_with_actions() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(report_data(branch_report()), SCHEMA)
    jsonschema.validate(report_data(hostile_report()), SCHEMA)


def _broken(change: str) -> dict[str, Any]:
    data = report_data(branch_report())
    beta, summary = data["tasks"]["beta"], data["summary"]
    if change == "unknown action":
        beta["action"] = "merge"
    elif change == "short head":
        beta["branch"]["head"] = "9f8e7d6"
    elif change == "branch without cached":
        del beta["branch"]["cached"]
    elif change == "reason without action":
        del beta["action"]
    elif change == "empty failures":
        beta["failures"] = []
    elif change == "failure of unknown outcome":
        beta["failures"][0]["outcome"] = "broken"
    elif change == "accept without retry":
        del summary["retry"]
    elif change == "a task listed twice":
        summary["accept"] = ["alpha", "alpha"]
    return data


@pytest.mark.parametrize(
    "change",
    [
        "unknown action", "short head", "branch without cached", "reason without action",
        "empty failures", "failure of unknown outcome", "accept without retry",
        "a task listed twice",
    ],
)  # fmt: skip
def test_the_schema_refuses_a_malformed_action(change: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_broken(change), SCHEMA)


def test_a_report_reads_back_into_the_same_actions() -> None:
    report = branch_report()
    data = report_data(report)
    back = report_from_data(data)
    assert report_data(back) == data
    for task, written in report.tasks.items():
        assert back.tasks[task].branch == written.branch, task
        assert back.tasks[task].action == written.action, task
    assert back.with_action(Action.RETRY) == ["beta"]


def test_a_combined_report_keeps_the_lists() -> None:
    merged = combine([(Path("job.json"), report_data(branch_report()))]).data
    jsonschema.validate(merged, SCHEMA)
    assert merged["summary"]["accept"] == ["alpha"] and merged["summary"]["retry"] == ["beta"]
    assert list(merged["summary"])[-3:] == ["accept", "retry", "verdict"]
    assert merged["tasks"]["beta"]["failures"][0]["output"] == OUTPUT
    plain = combine([(Path("job.json"), report_data(branch_report(actions=False)))]).data
    assert "accept" not in plain["summary"] and "retry" not in plain["summary"]


# --- terminal -------------------------------------------------------------------------

SECTION = """\

what to do
  ACCEPT   alpha on task/alpha at 1a2b3c4 (cached)
           its tests pass on the merge
  RETRY    beta on task/beta at 9f8e7d6
           1 test fails on its branch
           failed tests/test_b.py::test_beta
  CONFLICT gamma
           its merge conflicts
           conflicts with: alpha
  BLOCKED  delta
           beta was not accepted
           waits for: beta
accept: alpha
retry: beta
"""


def test_the_terminal_says_what_to_do_after_the_task_lines() -> None:
    out = terminal(branch_report(), 0)
    assert SECTION in out
    assert out.index("wave 2") < out.index("what to do") < out.index("delegation FAILED")
    assert "frame" not in out  # the output only with -v
    assert max(len(line) for line in out.splitlines()) <= 80


def test_verbose_shows_a_retry_output_cut_with_a_note() -> None:
    lines = terminal(branch_report(), 1).splitlines()
    start = lines.index("           failed tests/test_b.py::test_beta") + 1
    shown = [line.removeprefix(" " * 15) for line in lines[start : start + 21]]
    assert shown[:5] == ["def test_beta():", ">       assert beta() == 2",
                         "E       assert 3 == 2", "frame 0", "frame 1"]  # fmt: skip
    assert shown[5] == "... 50 lines left out (-vv shows all) ..."
    assert shown[6] == "frame 52" and shown[-1] == "tests/test_b.py:4: AssertionError"
    assert lines[start + 21] == "  CONFLICT gamma"


def test_very_verbose_shows_all_of_it() -> None:
    out = terminal(branch_report(), 2)
    assert "left out" not in out
    assert "\n".join(" " * 15 + line for line in OUTPUT.splitlines()) in out


def test_actions_are_coloured_by_what_they_ask() -> None:
    out = terminal(branch_report(), 0, color=True)
    tw = TerminalWriter(file=io.StringIO())
    tw.hasmarkup = True
    assert tw.markup("ACCEPT   ", green=True, bold=True) + "alpha on" in out
    assert tw.markup("RETRY    ", red=True, bold=True) + "beta on" in out
    assert tw.markup("CONFLICT ", red=True, bold=True) + "gamma" in out
    assert tw.markup("BLOCKED  ", yellow=True, bold=True) + "delta" in out
    assert tw.markup("accept:", green=True, bold=True) + " alpha" in out
    assert tw.markup("retry:", red=True, bold=True) + " beta" in out


def test_quiet_keeps_only_the_verdict() -> None:
    assert terminal(branch_report(), -1) == terminal(branch_report(actions=False), -1)
    assert terminal(branch_report(), -1).count("\n") == 1


@pytest.mark.parametrize("verbosity", [0, 1])
def test_the_terminal_report_without_actions_is_unchanged(verbosity: int) -> None:
    lines = terminal(branch_report(), verbosity).splitlines()
    start, end = lines.index("what to do") - 1, lines.index("retry: beta") + 1
    assert "\n".join(lines[:start] + lines[end:]) + "\n" == terminal(
        branch_report(actions=False), verbosity
    )


# --- Markdown -------------------------------------------------------------------------


def test_markdown_has_an_action_column_and_a_what_to_do_section() -> None:
    text = render_markdown(report_data(branch_report()))
    rows = _Html(MD.render(text)).rows
    assert all(len(row) == 8 for row in rows)
    assert {row[-1] for row in rows} == {
        "action", "✅ accept", "🔁 retry", "🔀 conflict", "⛔ blocked",
    }  # fmt: skip
    section = text[text.index("### What to do") : text.index("No findings.")]
    assert "✅ **Accept:** `alpha`\n\n🔁 **Retry:** `beta`\n" in section
    assert "🔁 `beta` **retry** on `task/beta` at `9f8e7d6`: 1 test fails on its branch" in section
    assert "🔀 `gamma` **conflict**: its merge conflicts; conflicts with `alpha`" in section
    assert "⛔ `delta` **blocked**: beta was not accepted; waits for `beta`" in section
    assert f"<details><summary>❌ <code>{BETA_TEST}</code> failed</summary>" in section


def test_markdown_shows_a_retry_output_in_a_code_block_cut_with_a_note() -> None:
    text = render_markdown(report_data(branch_report()))
    (fence,) = [t for t in _flat(MD.parse(text)) if t.type == "fence" and not t.info]
    lines = fence.content.splitlines()
    assert len(lines) == 61
    assert lines[15] == "… 10 lines left out (the JSON report has them all) …"
    assert lines[:15] == OUTPUT.splitlines()[:15] and lines[16:] == OUTPUT.splitlines()[-45:]


def test_markdown_escapes_the_reason_test_and_output() -> None:
    text = render_markdown(report_data(hostile_report()))
    tokens = _flat(MD.parse(text))
    assert not {t.type for t in tokens} & {"link_open", "image", "em_open"}
    html = MD.render(text)
    assert "<img" not in html and "<a " not in html
    # the output's fence holds it exactly; the reason and test id show as typed
    assert [t.content for t in tokens if t.type == "fence" and not t.info] == [f"E  {HOSTILE}\n"]
    shown = "".join(_Html(html).text)
    assert f": {HOSTILE}" in shown
    assert f"tests/test_b.py::test_beta[{HOSTILE}] failed" in shown


def _without_actions(text: str) -> str:
    """A Markdown report less its action column and What-to-do section."""
    text = re.sub(r"### What to do\n.*?(?=No findings\.)", "", text, flags=re.S)
    text = text.replace(
        "|---|---|---:|---:|---:|---:|---|---|", "|---|---|---:|---:|---:|---:|---|"
    )
    return re.sub(r"^(\|.*\|) [^|\n]+ \|$", r"\1", text, flags=re.M)


def test_the_markdown_report_without_actions_is_unchanged() -> None:
    plain = render_markdown(report_data(branch_report(actions=False)))
    assert "What to do" not in plain and "action" not in plain
    assert _without_actions(render_markdown(report_data(branch_report()))) == plain


# --- HTML -----------------------------------------------------------------------------


def test_html_has_a_what_to_do_section_and_action_badges() -> None:
    page = render_html(report_data(branch_report()))
    tags = parse(page)
    assert "actions" in tags.ids
    assert "#actions" in {a.get("href") for t, a in tags.tags if t == "a"}
    head, *rows = _Html(page).rows
    assert head == ["task", "status", "action", "branch", "why"]
    assert rows[0] == [
        "alpha", "✓ passed", "✓ accept", "task/alpha at 1a2b3c4 (cached)",
        "its tests pass on the merge",
    ]  # fmt: skip
    assert rows[2] == [
        "gamma",
        "✓ passed",
        "⇄ conflict",
        "-",
        "its merge conflictsconflicts with alpha",
    ]
    assert rows[3][2] == "⊘ blocked" and rows[3][4] == "beta was not acceptedwaits for beta"
    # the whole output, in the retry's row
    assert rows[1][:3] == ["beta", "✗ failed", "↻ retry"]
    assert rows[1][4] == f"1 test fails on its branch✗ {BETA_TEST} failed{OUTPUT}"
    assert "<p class='act-list'><span class='badge act-accept'>✓ accept</span> " in page
    assert (
        "<h3><span class='badge st-failed'>✗ failed</span> <code>beta</code> "
        "<span class='badge act-retry'>↻ retry</span></h3>"
    ) in page


def test_html_escapes_the_reason_test_and_output() -> None:
    page = render_html(report_data(hostile_report()))
    tags = parse(page)
    assert not [t for t, _ in tags.tags if t == "img"]
    assert not [a for _, a in tags.tags if "onerror" in a]
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # reason, test, output
    assert page.count("</details>") == page.count("<details")
    shown = _Html(page).rows[2][4]
    assert shown == f"{HOSTILE}✗ tests/test_b.py::test_beta[{HOSTILE}] failedE  {HOSTILE}"


def _strip_actions(page: str) -> str:
    """An HTML page less its What-to-do section, its nav link and the action badges."""
    page = re.sub(r"<section id='actions'>.*?</section>\n", "", page, flags=re.S)
    page = page.replace("<a href='#actions'>What to do</a> ", "")
    return re.sub(r" <span class='badge act-\w+'>[^<]*</span></h3>", "</h3>", page)


def test_the_html_report_without_actions_is_unchanged() -> None:
    plain = render_html(report_data(branch_report(actions=False)))
    assert "id='actions'" not in plain and "badge act-" not in plain
    assert _strip_actions(render_html(report_data(branch_report()))) == plain


def test_the_schema_knows_every_rule() -> None:
    from conftest import SCHEMA

    from pytest_delegation.checks.findings import RULES

    finding = SCHEMA["$defs"]["finding"]
    assert set(finding["properties"]["rule"]["enum"]) == set(RULES)
