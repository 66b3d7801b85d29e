"""The Markdown report escapes user text (issue 10, item 8), checked with a CommonMark parser.

Task ids, test ids, roles, descriptions, messages, fixes, rule names and the plan path
are given links, images, HTML, emphasis, headings, list and quote markers, table pipes,
backtick runs and newlines; rendered by markdown-it (CommonMark with GFM tables), none of
it makes a construct of its own, and each still shows as typed.
"""

from __future__ import annotations

from html.parser import HTMLParser
import re
from typing import Any

from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pytest_delegation.report import markdown
from pytest_delegation.report.markdown import render_markdown


MD = MarkdownIt("commonmark").enable("table")
LINE_END = re.compile(r"\r\n|\r|\n")

HOSTILE = [
    "[click me](https://evil)",
    "![pic](https://evil/x.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "a | b | c",
    "`one` ``two`` ```three",
    "x\n```\n<img src=x onerror=alert(1)>\n```\ny",
    "*em* _em_ **strong** __init__ ~~gone~~ $x$",
    "# heading",
    "\n\n    indented code\n- item\n1. one\n2) two\n> quote\n---\n===\n:---|---:",
    '"]:::passed\n  click t_a "https://evil"\n```',
    "&amp; &#60;b&#62; \\[not a link\\] \\",
    "<https://evil> <a href='https://evil'>x</a>",
    "[ref]\n\n[ref]: https://evil",
    "+ plus\n* star\n___",
    "`",
    " `` ",
]
# distinct hostile task ids, two waves of them
TASKS = [f"{h}-{n}" for n, h in enumerate(HOSTILE)] + ["plain"]
PLAN_PATH = "plans/`x`` y`\n# [a](https://evil) <img src=x onerror=alert(1)>.yaml"
REPRODUCE = [
    "python -m pytest -p no:randomly 'tests/t.py::t[```]' 'tests/t.py::t[x\n```\n<img>]'",
    "python -m pytest '````' '~~~'\n~~~\n````\n    indented",
    "python -m pytest 'tests/t.py::t[[click me](https://evil)]'",
]
STATUSES = ["failed", "passed", "blocked", "flaky", "error", "skipped", "not-run"]
ICON = {"passed": "✅", "flaky": "⚠️", "failed": "❌", "error": "💥", "blocked": "⛔",
        "skipped": "⏭️", "not-run": "⚪"}  # fmt: skip
WAVES = [TASKS[:9], TASKS[9:]]


def _hostile_data(findings_each: int = 1) -> dict[str, Any]:
    plan_tasks = {
        t: {"role": HOSTILE[(n + 3) % len(HOSTILE)] if n % 5 else None,
            "description": HOSTILE[n % len(HOSTILE)], "files": [HOSTILE[n % len(HOSTILE)]],
            "resources": [], "depends_on": WAVES[0][:2] if t in WAVES[1] else [],
            "wave": 1 if t in WAVES[0] else 2, "tests": [f"tests/t.py::t[{t}]"]}
        for n, t in enumerate(TASKS)
    }  # fmt: skip
    tasks = {
        t: {"status": STATUSES[n % len(STATUSES)], "attempts": 1, "duration": 0.25 * n,
            "tests": {f"tests/t.py::t[{t}]": "failed", f"tests/t.py::u[{n}]": "passed"},
            "executed_files": []}
        for n, t in enumerate(TASKS)
    }  # fmt: skip
    findings = [
        {"rule": h if n % 4 == 3 else "hidden-ordering-dependency",
         "severity": "error" if n % 2 else "warning", "task": TASKS[n],
         "test": f"tests/t.py::t[{h}]", "file": h, "message": f"{h} fails after {h}",
         "fix": h, "reproduce": REPRODUCE[n % len(REPRODUCE)]}
        for n, h in enumerate(HOSTILE)
    ] * findings_each  # fmt: skip
    return {
        "version": 1,
        "plan": {"path": PLAN_PATH, "max_parallel": 4, "shared": [], "waves": WAVES,
                 "tasks": plan_tasks},
        "tasks": tasks,
        "untagged": {},
        "findings": findings,
        "notes": [],
        "timeline": [],
        "summary": {"tasks": len(TASKS), "waves": 2, "passed": 3, "failed": 3, "blocked": 3,
                    "flaky": 2, "errors": 8, "warnings": 9, "duration": 1.0, "seed": 7,
                    "verdict": "failed"},
    }  # fmt: skip


class _Html(HTMLParser):
    """The tags, attributes, text and table rows of rendered HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _flat(tokens: list[Token]) -> list[Token]:
    return [t for token in tokens for t in (token, *(_flat(token.children or [])))]


def _lines(text: str) -> list[str]:
    """The lines of `text` as the report shows them: stripped, blank ones dropped."""
    return [line.strip() for line in LINE_END.split(text) if line.strip()]


def _one_line(text: str) -> str:
    return LINE_END.sub(" ", text)


def test_hostile_text_makes_no_link_image_html_or_block() -> None:
    data = _hostile_data()
    text = render_markdown(data)
    assert len(text.encode()) < markdown.LIMIT  # rendered at full detail
    tokens = _flat(MD.parse(text))
    types = {t.type for t in tokens}
    assert not types & {
        "link_open", "image", "em_open", "strong_open", "blockquote_open", "bullet_list_open",
        "ordered_list_open", "hr", "code_block", "softbreak",
    }  # fmt: skip
    # the report's own HTML, and nothing else
    assert {t.content for t in tokens if t.type == "html_inline"} == {"<br/>", "<i>", "</i>"}
    # (a finding's `</details>` and the next one's `<details>` make one block)
    blocks = [line for t in tokens if t.type == "html_block" for line in t.content.splitlines()]
    summary = re.compile(r"<details><summary>(🔴|🟡) <b>[^<>]*</b> [^<>]*</summary>")
    assert [b == "</details>" for b in blocks] == [False, True] * len(data["findings"])
    assert all(summary.fullmatch(b) or b == "</details>" for b in blocks), blocks
    # the report's headings, and nothing else
    headings = [
        (t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"
    ]
    assert [tag for tag, _ in headings] == ["h2", "h3", "h3", "h3"]
    assert headings[0][1] == "Delegation report: ❌ FAILED"
    assert headings[1][1].startswith("Wave 1: ") and headings[2][1].startswith("Wave 2: ")
    assert headings[3][1] == f"Findings ({len(HOSTILE)})"

    html = MD.render(text)
    for bad in ("<a ", "<img", "<script", "<https"):
        assert bad not in html
    page = _Html(html)
    allowed = {"h2", "h3", "p", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
               "details", "summary", "b", "i", "br"}  # fmt: skip
    assert {tag for tag, _ in page.tags} <= allowed
    attrs = {a for _, tag_attrs in page.tags for a in tag_attrs}
    assert attrs <= {
        ("style", "text-align:right"), ("class", "language-bash"), ("class", "language-mermaid"),
    }  # fmt: skip
    # still shown as typed (as text, so `onerror` is harmless)
    shown = "".join(page.text)
    for h in HOSTILE:
        assert "\n".join(_lines(f"{h} fails after {h}")) in shown


def test_hostile_tables_keep_their_columns() -> None:
    data = _hostile_data()
    page = _Html(MD.render(render_markdown(data)))
    header = ["task", "role", "tests", "passed", "failed", "time", "status"]
    assert all(len(row) == 7 for row in page.rows)
    assert [row for row in page.rows if row == header] == [header, header]
    rows = [row for row in page.rows if row != header]
    expected = []
    for wave in WAVES:
        for task in wave:
            plan, entry = data["plan"]["tasks"][task], data["tasks"][task]
            role = " ".join(line.strip() for line in LINE_END.split(plan["role"] or "-")).strip()
            status = entry["status"]
            expected.append(
                [_one_line(task), role, "2", "1", "1", f"{entry['duration']:.2f}s",
                 f"{ICON[status]} {status}"]
            )  # fmt: skip
    assert rows == expected


def test_code_spans_and_blocks_hold_exactly_the_text() -> None:
    data = _hostile_data()
    tokens = _flat(MD.parse(render_markdown(data)))
    spans = [t.content for t in tokens if t.type == "code_inline"]
    assert spans == [_one_line(PLAN_PATH)] + [_one_line(t) for wave in WAVES for t in wave]
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["mermaid"] + ["bash"] * len(HOSTILE)
    assert [f.content for f in fences[1:]] == [f["reproduce"] + "\n" for f in data["findings"]]


def test_graph_labels_stay_in_their_quotes() -> None:
    data = _hostile_data()
    graph = next(t for t in MD.parse(render_markdown(data)) if t.info == "mermaid").content
    node = re.compile(r'    (t_\w+)\["([^"`\n]*)<br/>([a-z-]+)"\]:::(\w+)')
    labels = {}
    for line in graph.splitlines():
        if line.startswith("    "):
            match = node.fullmatch(line)
            assert match, line
            assert "<" not in match[2] and ">" not in match[2]
            labels[_decode(match[2])] = match[3]
        else:
            assert re.fullmatch(r'  (subgraph wave\d\["wave \d"\]|end|t_\w+ --> t_\w+|classDef \w+ [\w:#,]+)|flowchart LR', line), line  # fmt: skip
    assert labels == {t: data["tasks"][t]["status"] for t in TASKS}


def test_summarised_report_escapes_too() -> None:
    # too big for full detail: a findings list cut short, the rest counted by rule
    data = _hostile_data(findings_each=60)
    text = render_markdown(data)
    assert len(text.encode()) <= markdown.LIMIT
    tokens = _flat(MD.parse(text))
    assert not {t.type for t in tokens} & {"link_open", "image", "em_open", "strong_open"}
    assert {t.content for t in tokens if t.type == "html_inline"} <= {"<br/>", "<i>", "</i>"}
    last = _Html(MD.render(text.rsplit("</details>", 1)[1]))
    assert [tag for tag, _ in last.tags] == ["p"]
    assert "more findings: " in "".join(last.text)
    for h in HOSTILE[3::4]:
        assert " ".join(_lines(h)) in "".join(last.text)


# the old module's output for PLAIN (before escaping): a plain report looks the same
PLAIN_OLD = """\
## Delegation report: ❌ FAILED

Plan `ci/delegation.yaml`: 4 tasks in 2 waves; 2 passed, 1 failed, 1 blocked, 0 flaky; 2 errors, 3 warnings; seed 12345.

```mermaid
flowchart LR
  subgraph wave1["wave 1"]
    t_user_model["user-model<br/>failed"]:::failed
    t_api_v2["api_v2<br/>passed"]:::passed
  end
  subgraph wave2["wave 2"]
    t_order_model["order-model<br/>blocked"]:::blocked
    t_docs_site["docs.site<br/>flaky"]:::flaky
  end
  t_user_model --> t_order_model
  t_api_v2 --> t_docs_site
  classDef passed fill:#d4edda,stroke:#1e7e34
  classDef flaky fill:#fff3cd,stroke:#b58105
  classDef failed fill:#f8d7da,stroke:#b21f2d
  classDef error fill:#f8d7da,stroke:#b21f2d
  classDef blocked fill:#e2e3e5,stroke:#6c757d
  classDef skipped fill:#e2e3e5,stroke:#6c757d
  classDef not_run fill:#ffffff,stroke:#6c757d
```

### Wave 1: 1 failed, 1 passed

| task | role | tests | passed | failed | time | status |
|---|---|---:|---:|---:|---:|---|
| `user-model` | code-writer | 2 | 1 | 1 | 1.25s | ❌ failed |
| `api_v2` | - | 1 | 1 | 0 | 0.50s | ✅ passed |

### Wave 2: 1 blocked, 1 flaky

| task | role | tests | passed | failed | time | status |
|---|---|---:|---:|---:|---:|---|
| `order-model` | test_writer | 1 | 0 | 0 | 0.00s | ⛔ blocked |
| `docs.site` | docs | 1 | 1 | 0 | 2.00s | ⚠️ flaky |

### Findings (2)

<details><summary>🔴 <b>boundary-violation</b> user-model, tests/test_user.py::test_save[db-1], src/orders/model.py</summary>

tests/test_user.py::test_save[db-1] ran src/orders/model.py (owned by 'order-model', not a dependency of 'user-model')<br/><i>fix:</i> declare the dependency (depends_on: [order-model]) or move that code into shared: (e.g. @pytest.mark.task("user-model") on &lt;id&gt;)

```bash
python -m pytest -p no:randomly 'tests/test_user.py::test_save[db-1]'
```

</details>
<details><summary>🟡 <b>untagged-test</b> tests/test_misc.py::test_x</summary>

tests/test_misc.py::test_x belongs to no task<br/><i>fix:</i> mark it with a task
</details>
"""


def _plain_data() -> dict[str, Any]:
    def task(role: str | None, deps: list[str], wave: int) -> dict[str, Any]:
        return {"role": role, "description": "does things", "files": [], "resources": [],
                "depends_on": deps, "wave": wave, "tests": []}  # fmt: skip

    def result(status: str, duration: float, tests: dict[str, str]) -> dict[str, Any]:
        return {"status": status, "attempts": 1, "duration": duration, "tests": tests,
                "executed_files": []}  # fmt: skip

    return {
        "version": 1,
        "plan": {
            "path": "ci/delegation.yaml", "max_parallel": 4, "shared": [],
            "waves": [["user-model", "api_v2"], ["order-model", "docs.site"]],
            "tasks": {
                "user-model": task("code-writer", [], 1), "api_v2": task(None, [], 1),
                "order-model": task("test_writer", ["user-model"], 2),
                "docs.site": task("docs", ["api_v2"], 2),
            },
        },
        "tasks": {
            "user-model": result("failed", 1.25, {"tests/test_user.py::test_save[db-1]": "failed",
                                                  "tests/test_user.py::test_load": "passed"}),
            "api_v2": result("passed", 0.5, {"tests/test_api.py::test_get": "passed"}),
            "order-model": result("blocked", 0.0, {"tests/test_order.py::test_a": "not-run"}),
            "docs.site": result("flaky", 2.0, {"tests/test_docs.py::test_b": "passed"}),
        },
        "untagged": {},
        "findings": [
            {"rule": "boundary-violation", "severity": "error", "task": "user-model",
             "test": "tests/test_user.py::test_save[db-1]", "file": "src/orders/model.py",
             "message": "tests/test_user.py::test_save[db-1] ran src/orders/model.py (owned by "
                        "'order-model', not a dependency of 'user-model')",
             "fix": "declare the dependency (depends_on: [order-model]) or move that code into "
                    "shared: (e.g. @pytest.mark.task(\"user-model\") on <id>)",
             "reproduce": "python -m pytest -p no:randomly 'tests/test_user.py::test_save[db-1]'"},
            {"rule": "untagged-test", "severity": "warning", "test": "tests/test_misc.py::test_x",
             "message": "tests/test_misc.py::test_x belongs to no task", "fix": "mark it with a task"},
        ],
        "notes": [],
        "timeline": [],
        "summary": {"tasks": 4, "waves": 2, "passed": 2, "failed": 1, "blocked": 1, "flaky": 0,
                    "errors": 2, "warnings": 3, "duration": 3.75, "seed": 12345,
                    "verdict": "failed"},
    }  # fmt: skip


def test_a_plain_report_looks_as_before() -> None:
    text = render_markdown(_plain_data())
    assert MD.render(text) == MD.render(PLAIN_OLD)
    # the same source but for the escaped brackets of text outside code
    assert text.replace("\\[", "[").replace("\\]", "]") == PLAIN_OLD


def _decode(label: str) -> str:
    return re.sub(r"#(quot|\d+);", lambda m: '"' if m[1] == "quot" else chr(int(m[1])), label)


# text of letters, digits, every ASCII punctuation, spaces and line ends, a little Unicode
TEXT = st.lists(
    st.sampled_from(
        [
            *"aZ09 \t\n\r!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~é✅\u00a0",
            *("```", "\r\n", "1.", "- ", "http://", "<img "),
        ]
    ),
    max_size=30,
).map("".join)


def _inline(source: str) -> list[Token]:
    (paragraph_open, inline, paragraph_close) = MD.parse(source)
    assert (paragraph_open.type, paragraph_close.type) == ("paragraph_open", "paragraph_close")
    return inline.children or []


@example("# a\n\n    b\n1. c\n- d\n===")
@example("_a_ a_b_c [x](y) <b>")
@given(TEXT)
def test_text_shows_as_typed(text: str) -> None:
    lines = _lines(text)
    if not lines:
        assert markdown._text(text, start=True) == ""
        return
    children = _inline(f"{markdown._text(text, start=True)} and {markdown._text(text)}")
    assert {c.type for c in children} <= {"text", "hardbreak"}
    shown = "".join("\n" if c.type == "hardbreak" else c.content for c in children)
    assert shown == "\n".join(lines) + " and " + "\n".join(lines)


@example("a | b \\| c \\")
@example("x\ny")
@given(TEXT)
def test_cell_shows_as_typed_in_one_cell(text: str) -> None:
    row = f"| {markdown._cell(text)} | {markdown._code(text, cell=True)} | end |"
    page = _Html(MD.render(f"| a | b | c |\n|---|---|---|\n{row}\n"))
    cell = " ".join(line.strip() for line in LINE_END.split(text)).strip()
    assert page.rows[1] == [cell, _one_line(text), "end"]


@example("")
@example("`")
@example(" a ")
@example("a``b")
@example(" ")
@given(TEXT)
def test_code_span_shows_as_typed(text: str) -> None:
    children = _inline(f"see {markdown._code(text)} here")
    if not text:
        assert [(c.type, c.content) for c in children] == [("text", "see  here")]
        return
    assert [c.type for c in children] == ["text", "code_inline", "text"]
    assert children[1].content == _one_line(text)


@example("\r")
@example("```\n~~~\n````")
@given(TEXT)
def test_fence_holds_exactly_the_text(text: str) -> None:
    (fence,) = MD.parse(markdown._fence(text, "bash") + "\n\nafter")[:1]
    assert (fence.type, fence.info) == ("fence", "bash")
    assert fence.content == LINE_END.sub("\n", text) + "\n"


@example('#quot;"]\n`')
@given(TEXT)
def test_label_decodes_to_the_text(text: str) -> None:
    label = markdown._label(text)
    assert re.fullmatch(r"[\w \-./#;]*", label)
    assert _decode(label) == text
