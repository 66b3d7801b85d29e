"""The HTML report: markup (escaping, sections, statuses as text) and the page in Chromium.

The browser tests drive a real headless Chromium through Playwright; they are skipped,
saying what is missing, when Playwright or a Chromium is not installed (CI installs both:
``pip install playwright`` and the Debian package ``chromium``; ``playwright install`` is
not needed). ``DELEGATION_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
import json
import os
from pathlib import Path
import re
import shutil
from typing import TYPE_CHECKING
from typing import Any

import pytest

from pytest_delegation.report.html.page import _job_lanes
from pytest_delegation.report.html.page import _lanes
from pytest_delegation.report.html.page import render_html


if TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import Page

NASTY_TEST = 'tests/test_models.py::test_name["<script>alert(1)</script>"]'
AMP_TEST = "tests/test_models.py::test_amp[a&b'c]"
EMOJI_TESTS = ["tests/test_models.py::test_emoji[🎉]", "tests/test_models.py::test_emoji[🎉x]"]
INJECTED = "<img src=x onerror=alert(1)>"


def sample() -> dict[str, Any]:
    """A run with every status, a retry, order and bisection runs, and hostile node ids."""
    plan_tasks = {
        "models": ("code-writer", [], [NASTY_TEST, AMP_TEST, *EMOJI_TESTS], 1),
        "billing": ("code-writer", [], ["tests/test_billing.py::test_total"], 1),
        "research": ("research", [], [], 1),
        "api": ("code-writer", ["models", "billing"], ["tests/test_api.py::test_get"], 2),
        "crashy": ("code-writer", ["models"], ["tests/test_crash.py::test_boom"], 2),
        "docs": ("documentation", ["api"], ["docs/guide.md::guide.md"], 3),
        "review": ("code-reviewer", ["crashy"], ["tests/test_review.py::test_a"], 3),
    }
    results = {
        "models": (
            "passed",
            1,
            {NASTY_TEST: "passed", AMP_TEST: "failed"} | dict.fromkeys(EMOJI_TESTS, "passed"),
        ),
        "billing": ("failed", 2, {"tests/test_billing.py::test_total": "failed"}),
        "research": ("not-run", 0, {}),
        "api": ("blocked", 0, {}),
        "crashy": ("error", 1, {"tests/test_crash.py::test_boom": "error"}),
        "docs": ("flaky", 2, {"docs/guide.md::guide.md": "passed"}),
        "review": ("skipped", 1, {"tests/test_review.py::test_a": "skipped"}),
    }
    tasks: dict[str, Any] = {}
    for task, (status, attempts, outcomes) in results.items():
        tasks[task] = {
            "status": status,
            "attempts": attempts,
            "duration": 1.5 * attempts,
            "tests": outcomes,
            "executed_files": [f"shop/{task}.py"] if attempts else [],
        }
    tasks["api"]["blocked_by"] = "billing"
    tasks["crashy"]["error"] = f"worker timed out while running {INJECTED}"
    timeline = [
        {"kind": "task", "task": "models", "attempt": 1, "start": 0.1, "end": 2.0, "tests": 4, "outcome": "passed"},
        {"kind": "task", "task": "billing", "attempt": 1, "start": 0.1, "end": 1.2, "tests": 1, "outcome": "failed"},
        {"kind": "task", "task": "billing", "attempt": 2, "start": 1.3, "end": 2.6, "tests": 1, "outcome": "failed"},
        {"kind": "task", "task": "crashy", "attempt": 1, "start": 2.7, "end": 5.0, "tests": 1, "outcome": "error"},
        {"kind": "task", "task": "docs", "attempt": 1, "start": 5.0, "end": 6.0, "tests": 1, "outcome": "failed"},
        {"kind": "task", "task": "docs", "attempt": 2, "start": 6.0, "end": 7.1, "tests": 1, "outcome": "passed"},
        {"kind": "task", "task": "review", "attempt": 1, "start": 5.1, "end": 6.5, "tests": 1, "outcome": "skipped"},
        {"kind": "task", "task": None, "attempt": 1, "start": 7.2, "end": 8.0, "tests": 1, "outcome": "passed"},
        {"kind": "order", "label": "canonical", "start": 8.1, "end": 12.0, "tests": 9},
        {"kind": "order", "label": "reverse", "start": 8.1, "end": 11.5, "tests": 9},
        {"kind": "order", "label": "bisect", "start": 12.1, "end": 13.0, "tests": 4},
        {"kind": "order", "label": "bisect", "start": 13.1, "end": 14.2, "tests": 2},
    ]  # fmt: skip
    findings = [
        {"rule": "file-conflict", "severity": "error", "task": "models", "other_task": "billing",
         "file": "shop/_money.py", "files": ["shop/_money.py"], "plan_line": 7,
         "message": "tasks 'models' and 'billing' of wave 1 both claim shop/_money.py",
         "fix": "give each file to one task"},
        {"rule": "untagged-test", "severity": "warning", "test": "tests/test_smoke.py::test_ok",
         "file": "tests/test_smoke.py", "line": 3, "message": "belongs to no task"},
        {"rule": "hidden-ordering-dependency", "severity": "error", "task": "models",
         "other_task": "billing", "test": NASTY_TEST, "kind": "victim", "declared_dependency": False,
         "reproduce": f"python -m pytest -p no:randomly 'tests/test_billing.py::test_total' '{NASTY_TEST}'",
         "shared_state": ["global shop.PRICING"], "message": f"{NASTY_TEST} fails after test_total",
         "fix": "make the culprit restore what it changes"},
        {"rule": "boundary-violation", "severity": "error", "task": "crashy", "other_task": "billing",
         "test": "tests/test_crash.py::test_boom", "file": "shop/billing.py", "line": 4,
         "message": f"ran code owned by 'billing' {INJECTED}", "fix": "declare the dependency"},
        {"rule": "flaky", "severity": "warning", "task": "docs", "test": "docs/guide.md::guide.md",
         "message": "passed on its second attempt"},
    ]  # fmt: skip
    return {
        "version": 1,
        "plan": {
            "path": "delegation.yaml",
            "max_parallel": 2,
            "shared": ["shop/contracts.py"],
            "waves": [["billing", "models", "research"], ["api", "crashy"], ["docs", "review"]],
            "tasks": {
                task: {
                    "role": role,
                    "description": f"The {task} task",
                    "files": [f"shop/{task}.py"],
                    "depends_on": deps,
                    "resources": [],
                    "wave": wave,
                    "tests": sorted(tests),
                }
                for task, (role, deps, tests, wave) in plan_tasks.items()
            },
        },
        "tasks": tasks,
        "untagged": {"tests/test_smoke.py::test_ok": "passed"},
        "findings": findings,
        "notes": ["order check: 4 worker runs, 24 tests executed (seed 3)"],
        "timeline": timeline,
        "summary": {
            "tasks": 7,
            "waves": 3,
            "passed": 1,
            "failed": 1,
            "blocked": 1,
            "flaky": 1,
            "errors": 3,
            "warnings": 2,
            "duration": 14.3,
            "seed": 3,
            "verdict": "failed",
        },
    }


class Tags(HTMLParser):
    """Every start tag and attribute of a page, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def blob(page: str) -> dict[str, Any]:
    match = re.search(
        r"<script type='application/json' id='tests-data'>\n(.*?)\n</script>", page, re.S
    )
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def decode(data: dict[str, Any], flat: list[Any]) -> dict[str, str]:
    """The page script's decoding of a front-coded list, in UTF-16 units as in JS."""
    tests, previous = {}, b""
    for i in range(0, len(flat), 3):
        units = previous[: 2 * flat[i]] + flat[i + 1].encode("utf-16-le")
        previous = units
        tests[units.decode("utf-16-le")] = data["o"][flat[i + 2]]
    return tests


def one_wave(n: int = 40) -> dict[str, Any]:
    """A plan inferred from the tests (--delegation-plan=auto): n tasks in one wave, whose
    ids cut alike at the end; the last one failed, one skipped, one passed with an xpass."""
    ids = [f"tests-test-utils-test-mod{i:02d}" for i in range(n)]
    tasks: dict[str, Any] = {
        task: {"status": "passed", "attempts": 1, "duration": 0.1, "executed_files": [],
               "tests": {f"{task}::test_a": "passed", f"{task}::test_b": "passed"}}
        for task in ids
    }  # fmt: skip
    tasks[ids[-1]] |= {"status": "failed", "tests": {f"{ids[-1]}::test_a": "failed"}}
    tasks[ids[1]] |= {"status": "skipped", "tests": {f"{ids[1]}::test_a": "skipped"}}
    tasks[ids[2]]["tests"][f"{ids[2]}::test_b"] = "xpassed"
    return {
        "version": 1,
        "plan": {
            "path": "auto",
            "max_parallel": n,
            "shared": [],
            "waves": [ids],
            "tasks": {
                task: {
                    "role": "test-module",
                    "description": "",
                    "files": [],
                    "depends_on": [],
                    "resources": [],
                    "wave": 1,
                    "tests": sorted(tasks[task]["tests"]),
                }
                for task in ids
            },
        },
        "tasks": tasks,
        "untagged": {},
        "findings": [],
        "notes": [],
        "timeline": [],
        "summary": {
            "tasks": n,
            "waves": 1,
            "passed": n - 2,
            "failed": 1,
            "blocked": 0,
            "flaky": 0,
            "errors": 0,
            "warnings": 0,
            "duration": 1.0,
            "seed": None,
            "verdict": "failed",
        },
    }


def boxes(page: str) -> list[tuple[str, str, str]]:
    """The task graph's boxes in page order: (href, tooltip, shown id)."""
    return re.findall(
        r"<a href='([^']*)' class='node[^>]*><title>([^<]*)</title>.*?class='id'>([^<]*)<", page
    )


# -- markup ----------------------------------------------------------------------------


def test_page_is_self_contained() -> None:
    page = render_html(sample())
    tags = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page  # the CSP: nothing can be fetched
    for tag, attrs in tags.tags:
        assert tag not in ("link", "img", "iframe", "object")
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, attrs)
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


def test_all_sections_and_a_section_per_task() -> None:
    data = sample()
    page = render_html(data)
    tags = parse(page)
    assert {"dag", "timeline", "findings", "tasks", "untagged"} <= tags.ids
    assert {f"task-{task}" for task in data["plan"]["tasks"]} <= tags.ids
    links = {
        a.get("href") for tag, a in tags.tags if tag == "a" and "node" in (a.get("class") or "")
    }
    assert links == {f"#task-{task}" for task in data["plan"]["tasks"]}
    svgs = [a.get("class") for tag, a in tags.tags if tag == "svg"]
    assert svgs == ["graph", "tl"]
    assert "Delegation report <span class='verdict st-failed'>✗ FAILED</span>" in page
    assert "order check: 4 worker runs" in page
    for rule in ("file-conflict", "untagged-test", "hidden-ordering-dependency", "flaky"):
        assert f"name='rule' value='{rule}'" in page
    assert "<label for='finding-task'>Task</label>" in page
    assert "blocked\u00a0by <a href='#task-billing'><code>billing</code></a>" in page
    assert "2\u00a0attempts\u00a0(retried)" in page


def test_statuses_are_written_not_only_coloured() -> None:
    page = render_html(sample())
    for task, text in [
        ("models", "✓ passed"), ("billing", "✗ failed"), ("research", "○ not-run"),
        ("api", "⊘ blocked"), ("crashy", "‼ error"), ("docs", "≈ flaky"), ("review", "↷ skipped"),
    ]:  # fmt: skip
        box = re.search(rf"<a href='#task-{task}' class='node[^>]*>.*?</a>", page)
        assert box and text in box.group(0), task
        assert re.search(
            rf"id='task-{task}' data-status='[^']+'><h3><span class='badge[^>]*>{text}<", page
        )
    assert "<span class='sev'>✗ error</span>" in page
    assert "<span class='sev'>▲ warning</span>" in page


def test_everything_is_escaped() -> None:
    page = render_html(sample())
    tags = parse(page)
    assert not [t for t, _ in tags.tags if t == "img"]
    assert not [a for _, a in tags.tags if "onerror" in a]
    assert [t for t, _ in tags.tags].count("script") == 2  # the data and the code
    assert page.count("</script>") == 2
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "test_name[&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;]" in page
    assert "test_amp[a&amp;b&#x27;c]" in page
    # test ids reach the page only through the JSON blob, which keeps them intact
    data = blob(page)
    assert decode(data, data["t"]["models"])[NASTY_TEST] == "passed"


def test_a_hostile_task_id_is_escaped_in_ids_and_links() -> None:
    data = sample()
    weird = "we\"ird<&>'id"
    data["plan"]["tasks"][weird] = data["plan"]["tasks"].pop("research")
    data["plan"]["waves"][0][2] = weird
    data["tasks"][weird] = data["tasks"].pop("research")
    data["findings"][0]["task"] = weird
    page = render_html(data)
    tags = parse(page)
    assert f"task-{weird}" in tags.ids
    assert "#task-we%22ird%3C%26%3E%27id" in {a.get("href") for _, a in tags.tags}
    assert weird not in page
    assert weird in {a.get("data-finding-task") for _, a in tags.tags}
    finding = next(a for t, a in tags.tags if t == "li" and a.get("data-rule") == "file-conflict")
    assert json.loads(finding["data-tasks"] or "") == [weird, "billing"]


def test_tests_are_stored_once_and_decode_in_utf16_units() -> None:
    data = sample()
    page = render_html(data)
    stored = blob(page)
    for task, entry in data["tasks"].items():
        expected = dict.fromkeys(data["plan"]["tasks"][task]["tests"], "not-run") | entry["tests"]
        assert decode(stored, stored["t"][task]) == expected
    assert decode(stored, stored["u"]) == data["untagged"]
    # the third id shares "...test_emoji[🎉" with the second: 🎉 is 2 UTF-16 units
    assert stored["t"]["models"][6:8] == [len("tests/test_models.py::test_emoji[") + 2, "x]"]
    assert NASTY_TEST not in page  # only its escaped forms


def test_timeline_marks_retries_order_checks_and_bisection() -> None:
    page = render_html(sample())
    runs = re.findall(r"<g class='run (run-\w+) out-([\w-]+)'><title>([^<]*)</title>", page)
    kinds = [kind for kind, _, _ in runs]
    assert kinds.count("run-task") == 6
    assert kinds.count("run-retry") == 2
    assert kinds.count("run-order") == 2
    assert kinds.count("run-bisect") == 2
    titles = [title.replace("\u00a0", " ") for _, _, title in runs]
    assert "billing (retry, attempt 2): 1.30 s (from 1.3 s to 2.6 s), 1 test, failed" in titles
    assert "order: reverse: 3.40 s (from 8.1 s to 11.5 s), 9 tests" in titles
    assert "untagged tests: 0.80 s (from 7.2 s to 8 s), 1 test, passed" in titles
    assert "worker 3" not in page  # two slots were enough


def test_lanes_never_overlap() -> None:
    runs: list[dict[str, Any]] = [
        {"start": 0, "end": 2}, {"start": 1, "end": 3}, {"start": 2, "end": 4},
        {"start": 2.5, "end": 5}, {"start": 3, "end": 3.5},
    ]  # fmt: skip
    lanes = _lanes(runs)
    assert lanes == [0, 1, 0, 2, 1]
    for a, lane_a in zip(runs, lanes, strict=True):
        for b, lane_b in zip(runs, lanes, strict=True):
            if a is not b and lane_a == lane_b:
                assert a["end"] <= b["start"] or b["end"] <= a["start"]


def test_a_combined_timeline_has_rows_per_ci_job() -> None:
    # combine puts every job's runs on one clock: each job gets its own rows, in the
    # order the jobs started, and its runs never overlap within a row
    runs: list[dict[str, Any]] = [
        {"kind": "task", "task": "b", "job": "wave-1-2", "start": 0.2, "end": 1.0},
        {"kind": "task", "task": "a", "job": "wave-1-1", "start": 0.0, "end": 1.0},
        {"kind": "task", "task": "c", "job": "wave-1-1", "start": 0.5, "end": 1.5},
        {"kind": "task", "task": "d", "job": "wave-2-1", "start": 2.0, "end": 3.0},
    ]
    lanes, labels = _job_lanes(runs)
    assert labels == ["wave-1-1", "wave-1-1 (2)", "wave-1-2", "wave-2-1"]
    assert lanes == [2, 0, 1, 3]
    data = sample()
    data["timeline"] = runs
    page = render_html(data)
    assert ">wave-1-1 (2)<" in page  # 12 characters: fits the label column
    assert ">wave-2-1<" in page and "worker 1" not in page


def test_verdict_without_the_summary_field() -> None:
    data = sample()
    del data["summary"]["verdict"]
    assert "✗ FAILED" in render_html(data)
    for entry in data["tasks"].values():
        entry["status"] = "passed"
    data["summary"]["errors"] = 0
    assert "<span class='verdict st-passed'>✓ OK</span>" in render_html(data)
    data["summary"]["verdict"] = "failed"
    assert "✗ FAILED" in render_html(data)


def test_an_empty_run() -> None:
    data = {
        "version": 1,
        "plan": {"path": "delegation.yaml", "max_parallel": 1, "waves": [], "tasks": {}},
        "tasks": {},
        "findings": [],
        "summary": {"tasks": 0, "waves": 0, "passed": 0, "failed": 0, "blocked": 0,
                    "flaky": 0, "errors": 0, "warnings": 0, "duration": 0.0, "seed": None},
    }  # fmt: skip
    page = render_html(data)
    assert "The plan has no tasks." in page
    assert "No worker runs" in page
    assert "No findings" in page
    assert "✓ OK" in page


def test_a_one_wave_plan_is_a_grid_failed_task_first() -> None:
    page = render_html(one_wave())
    shown = boxes(page)
    assert len(shown) == 40
    assert shown[0][0] == "#task-tests-test-utils-test-mod39"  # the failed one, not last
    # no edges in one wave: five columns of 200 instead of one column forty boxes tall
    assert "viewBox='0 0 1076 " in page
    assert "All tasks are in one wave; failed ones come first." in page


def test_task_ids_that_cut_alike_stay_apart_in_the_graph() -> None:
    shown = boxes(render_html(one_wave()))
    names = [name for _, _, name in shown]
    assert len(set(names)) == len(names)
    assert names[0] == "tests-test-uti…test-mod39"
    assert all(len(name) <= 25 for name in names)
    # the whole id stays in the tooltip
    assert shown[0][1].startswith("tests-test-utils-test-mod39: failed, 1 test")


def test_skipped_counts_show_and_an_xpass_counts_as_passed() -> None:
    data = one_wave()
    page = render_html(data)
    assert "<div class='count c-skipped'><dt>skipped</dt><dd>1</dd></div>" in page
    tips = {href: tip for href, tip, _ in boxes(page)}
    assert tips["#task-tests-test-utils-test-mod02"] == (
        "tests-test-utils-test-mod02: passed, 2 tests (2 passed, 0 failed, 0 skipped)"
    )
    assert tips["#task-tests-test-utils-test-mod01"].endswith("(0 passed, 0 failed, 1 skipped)")
    # the sample has a skipped task too; a summary that counts them wins
    assert "<dt>skipped</dt><dd>1</dd>" in render_html(sample())
    data["summary"]["skipped"] = 7
    assert "<dt>skipped</dt><dd>7</dd>" in render_html(data)


def test_failed_tasks_come_first_where_dependencies_leave_the_order_free() -> None:
    data = sample()
    data["plan"]["waves"][0] = ["models", "research", "billing"]
    order = [href for href, _, _ in boxes(render_html(data))]
    # wave 1 depends on nothing: billing (failed) first
    assert order[:3] == ["#task-billing", "#task-models", "#task-research"]
    # wave 2 sits near what it depends on, so fewer edges cross: api (on billing and
    # models) above crashy (an error, on models)
    assert order[3:5] == ["#task-api", "#task-crashy"]


# a whole plugin run: it verifies the session end to end, not the report layer alone
@pytest.mark.task("e2e")
def test_a_real_run_renders(shop: pytest.Pytester) -> None:
    """The JSON report of a real run (workers, timeline) has what the page needs."""
    models = shop.path / "tests/test_models.py"
    models.write_text(
        models.read_text().replace("def test_user():\n    pass", "def test_user():\n    assert 0")
    )
    shop.runpytest("--delegation-report=json:r.json")
    data = json.loads((shop.path / "r.json").read_text())
    page = render_html(data)
    assert data["timeline"], "a worker run leaves a timeline"
    assert page.count("<g class='run ") == len(data["timeline"])
    assert re.search(
        r"id='task-user-model' data-status='failed'><h3><span class='badge[^>]*>✗ failed<", page
    )
    assert re.search(r"id='task-order-model' data-status='blocked'>", page)
    assert "✗ FAILED" in page


# -- in Chromium -------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("DELEGATION_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser tests need Playwright: pip install playwright"
    )
    executable = chromium_path()
    if executable is None:
        pytest.skip("the browser tests need Chromium: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def opened(browser: Browser, tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    """The sample page loaded from a file; the list collects console errors, page errors
    and any request for something other than the page itself."""
    path = tmp_path / "report.html"
    path.write_text(render_html(sample()), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: problems.append(f"request: {r.url}") if r.url != path.as_uri() else None,
    )
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready]", state="attached")
    yield page, problems
    page.close()


def visible_findings(page: Page) -> list[str]:
    """The rules of the findings the page shows, read in one go."""
    rules: list[str] = page.eval_on_selector_all(
        "#finding-list > li",
        "items => items.filter(li => li.checkVisibility()).map(li => li.dataset.rule)",
    )
    return rules


def test_in_chromium_the_pictures_show_and_filters_work(
    opened: tuple[Page, list[str]], tmp_path: Path
) -> None:
    page, problems = opened
    assert page.locator("svg.graph").is_visible()
    assert page.locator("svg.tl").is_visible()
    assert page.locator("svg.graph a.node").count() == 7
    box = page.locator("svg.graph").bounding_box()
    assert box and box["width"] > 500 and box["height"] > 150
    assert page.locator("svg.tl g.run").count() == 12
    page.screenshot(path=tmp_path / "desktop.png", full_page=True)

    everything = [
        "file-conflict",
        "untagged-test",
        "hidden-ordering-dependency",
        "boundary-violation",
        "flaky",
    ]
    assert visible_findings(page) == everything
    page.get_by_label("file-conflict").uncheck()
    assert visible_findings(page) == everything[1:]
    assert page.locator("#finding-count").inner_text() == "Showing 4 of 5 findings"
    page.get_by_label("warning").uncheck()
    assert visible_findings(page) == ["hidden-ordering-dependency", "boundary-violation"]
    page.get_by_role("button", name="Show all").click()
    assert visible_findings(page) == everything
    page.select_option("#finding-task", "billing")
    assert visible_findings(page) == [
        "file-conflict",
        "hidden-ordering-dependency",
        "boundary-violation",
    ]
    page.select_option("#finding-task", "#none")
    assert visible_findings(page) == ["untagged-test"]
    page.locator("#task-docs a[data-finding-task]").click()  # "1 finding" of a task's section
    assert visible_findings(page) == ["flaky"]
    assert page.evaluate("location.hash") == "#findings"

    # a task's tests: built from the embedded data when opened, ids shown as text
    page.locator("#task-models details.tests summary").click()
    page.wait_for_selector("#task-models details.tests table")  # toggle events are async
    rows = page.locator("#task-models details.tests tbody td code")
    assert rows.count() == 4
    names = rows.all_inner_texts()
    assert 'test_name["<script>alert(1)</script>"]' in names
    assert "test_emoji[🎉x]" in names
    assert "✗ failed" in page.locator("#task-models details.tests tbody").inner_text()

    page.locator("#task-q").fill("bill")
    assert page.locator("section.task[data-status]:visible").count() == 1
    page.locator("#task-q").fill("")
    page.locator("details.runs summary").click()
    page.wait_for_selector("details.runs table")
    assert page.locator("details.runs tbody tr").count() == 12
    assert problems == []


def test_in_chromium_the_keyboard_reaches_a_task(opened: tuple[Page, list[str]]) -> None:
    page, problems = opened
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(30):  # Tab through the nav and the graph to a task's box
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == "#task-api":
            break
    else:
        pytest.fail("the keyboard never reached the box of task 'api'")
    outline = page.evaluate(
        "getComputedStyle(document.querySelector(\"a.node[href='#task-api'] rect\")).strokeWidth"
    )
    assert outline == "4px"  # the focused box is marked
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#task-api"
    assert page.locator("#task-api").is_visible()
    checkbox = page.get_by_label("flaky")
    checkbox.focus()
    page.keyboard.press("Space")
    assert "flaky" not in visible_findings(page)
    assert problems == []


def test_in_chromium_at_phone_width(opened: tuple[Page, list[str]], tmp_path: Path) -> None:
    page, problems = opened
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(50)
    # nothing wider than the screen but the scrollable pictures
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("svg.graph").is_visible()
    assert page.locator("svg.tl").is_visible()
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    assert problems == []


def open_report(browser: Browser, tmp_path: Path, data: dict[str, Any]) -> Page:
    path = tmp_path / "report.html"
    path.write_text(render_html(data), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready]", state="attached")
    return page


def in_its_box(page: Page, selector: str) -> bool:
    """Whether an element shows whole inside the visible part of its scroll container."""
    inside: bool = page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector), box = el.closest(".scroll");
            const e = el.getBoundingClientRect(), b = box.getBoundingClientRect();
            return e.width > 0 && e.left >= b.left && e.right <= b.left + box.clientWidth &&
                e.top >= b.top && e.bottom <= b.top + box.clientHeight;
        }""",
        selector,
    )
    return inside


def test_in_chromium_a_one_wave_plan_shows_its_failed_task(
    browser: Browser, tmp_path: Path
) -> None:
    page = open_report(browser, tmp_path, one_wave())
    failed = "a.node[href='#task-tests-test-utils-test-mod39']"
    assert in_its_box(page, failed)
    dag = page.locator(".scroll.dag").bounding_box()
    assert dag and dag["width"] > 1000  # the grid, not a narrow column
    # the whole grid fits: nothing to scroll to
    assert page.evaluate(
        "(d => d.scrollHeight <= d.clientHeight && d.scrollWidth <= d.clientWidth)"
        "(document.querySelector('.scroll.dag'))"
    )
    page.close()


def test_in_chromium_a_failed_task_far_right_is_scrolled_into_its_box(
    browser: Browser, tmp_path: Path
) -> None:
    data = sample()
    # a chain of twelve waves, wider than the page; its last task failed
    chain = [f"step-{n}" for n in range(12)]
    data["plan"]["waves"] = [[task] for task in chain]
    data["plan"]["tasks"] = {
        task: {"role": "code-writer", "depends_on": chain[n - 1 : n], "tests": [], "wave": n + 1}
        for n, task in enumerate(chain)
    }
    data["tasks"] = {task: {"status": "passed", "tests": {}} for task in chain}
    data["tasks"]["step-11"]["status"] = "failed"
    data["findings"] = []
    page = open_report(browser, tmp_path, data)
    assert page.evaluate("document.querySelector('.scroll.dag').scrollLeft") > 0
    assert in_its_box(page, "a.node[href='#task-step-11']")
    assert page.evaluate("window.scrollY") == 0  # only the graph's box scrolled
    page.close()
