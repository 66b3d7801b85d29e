"""Report outputs beyond the terminal: Markdown, junitxml properties, the JSON schema, hooks."""

from __future__ import annotations

from importlib import resources
import json
import subprocess
import sys
from typing import Any
import xml.etree.ElementTree as ET

import pytest

from pytest_delegation.report.markdown import LIMIT
from pytest_delegation.report.markdown import render_markdown


def test_markdown_report(shop: pytest.Pytester) -> None:
    models = shop.path / "tests/test_models.py"
    models.write_text(
        models.read_text().replace("def test_user():\n    pass", "def test_user():\n    assert 0")
    )
    result = shop.runpytest(
        "--delegation-report=markdown:out/summary.md", "--delegation-workers=0"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = (shop.path / "out/summary.md").read_text()
    assert text.startswith("## Delegation report: ❌ FAILED\n")
    assert "```mermaid\nflowchart LR\n" in text
    assert '  subgraph wave1["wave 1"]' in text
    assert 't_user_model["user-model<br/>failed"]:::failed' in text
    assert "  t_user_model --> t_order_model" in text
    assert "| `order-model` | code-writer | 1 | 0 | 0 |" in text
    assert "⛔ blocked |" in text
    assert not [p for p in (shop.path / "out").iterdir() if p.name != "summary.md"]


def test_markdown_findings_with_reproduce_in_details() -> None:
    data = _data(tasks=2)
    data["findings"] = [
        {
            "rule": "hidden-ordering-dependency", "severity": "error", "task": "t0",
            "test": "tests/test_a.py::test_<x>", "message": "fails after <y>",
            "fix": "restore state", "reproduce": "python -m pytest a b",
            "kind": "victim", "declared_dependency": False, "bisect_runs": 3,
        }
    ]  # fmt: skip
    text = render_markdown(data)
    assert (
        "<details><summary>🔴 <b>hidden-ordering-dependency</b> t0, tests/test_a.py::test_&lt;x&gt;</summary>"
        in text
    )
    assert "fails after &lt;y&gt;" in text
    assert "```bash\npython -m pytest a b\n```" in text


def test_markdown_stays_under_64kb_for_a_thousand_tasks() -> None:
    data = _data(tasks=1000, tests_per_task=50, findings=3000)
    text = render_markdown(data)
    assert len(text.encode()) <= LIMIT
    assert "mermaid" not in text  # too many tasks for a readable graph
    assert "more findings" in text
    assert text.startswith("## Delegation report: ")


def test_junitxml_groups_testcases_by_task(shop: pytest.Pytester) -> None:
    for workers in ("0", "2"):
        shop.runpytest(
            "--delegation-report", f"--delegation-workers={workers}", "--junitxml=j.xml"
        )
        cases = ET.parse(shop.path / "j.xml").getroot().iter("testcase")
        tasks = {
            case.get("name"): [
                p.get("value") for p in case.iter("property") if p.get("name") == "delegation_task"
            ]
            for case in cases
        }
        assert tasks == {
            "test_order": ["order-model"], "test_user": ["user-model"],
            "test_price": ["product-model"], "test_stock": ["product-model"],
            "test_review": ["review"],
        }, workers  # fmt: skip


def test_a_plugin_adds_its_own_format(shop: pytest.Pytester) -> None:
    shop.makeconftest(
        """
        from pathlib import Path

        def pytest_delegation_report(config, report):
            lines = [f"{task},{result.status}" for task, result in sorted(report.tasks.items())]
            Path("tasks.csv").write_text("\\n".join(lines) + "\\n")
        """
    )
    shop.runpytest("--delegation-report", "--delegation-workers=0")
    assert (shop.path / "tasks.csv").read_text().splitlines() == [
        "order-model,passed", "product-model,passed", "review,passed", "user-model,passed",
    ]  # fmt: skip


def test_schema_is_shipped_and_checks_reports() -> None:
    import jsonschema

    schema = json.loads(
        resources.files("pytest_delegation").joinpath("report.schema.json").read_text()
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    good = _data(tasks=2)
    jsonschema.validate(good, schema)
    bad = _data(tasks=2)
    bad["tasks"]["t0"]["status"] = "green"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _data(tasks: int, tests_per_task: int = 2, findings: int = 0) -> dict:  # type: ignore[type-arg]
    ids = [f"t{i}" for i in range(tasks)]
    waves = [ids[i : i + 100] for i in range(0, tasks, 100)]
    plan_tasks = {
        t: {"role": "code-writer", "description": "", "files": [], "resources": [],
            "depends_on": [ids[i - 100]] if i >= 100 else [], "wave": i // 100 + 1,
            "tests": []}
        for i, t in enumerate(ids)
    }  # fmt: skip
    results: dict[str, dict[str, object]] = {
        t: {"status": "failed" if i % 7 == 0 else "passed", "attempts": 1, "duration": 0.5,
            "tests": {f"tests/test_{t}.py::test_{n}": "passed" for n in range(tests_per_task)},
            "executed_files": []}
        for i, t in enumerate(ids)
    }  # fmt: skip
    return {
        "version": 1,
        "plan": {"path": "delegation.yaml", "max_parallel": 4, "shared": [], "waves": waves,
                 "tasks": plan_tasks},
        "tasks": results,
        "untagged": {},
        "findings": [
            {"rule": "untagged-test", "severity": "warning", "test": f"tests/x.py::test_{n}",
             "message": f"tests/x.py::test_{n} belongs to no task", "fix": "mark it"}
            for n in range(findings)
        ],
        "notes": [],
        "timeline": [],
        "summary": {"tasks": tasks, "waves": len(waves), "passed": tasks, "failed": 0,
                    "blocked": 0, "flaky": 0, "errors": 0, "warnings": findings,
                    "duration": 1.0, "seed": None, "verdict": "failed"},
    }  # fmt: skip


def test_json_to_standard_output_is_the_report_alone(shop: pytest.Pytester) -> None:
    # an orchestrator's pre-dispatch check: the verdict as JSON on stdout, pytest's own
    # lines on stderr
    result = shop.runpytest_subprocess("--collect-only", "--delegation-report=json:-", "-v")
    assert result.ret == 0
    data = json.loads(result.stdout.str())
    assert data["summary"]["verdict"] == "ok"
    assert sorted(data["plan"]["tasks"]) == [
        "order-model",
        "product-model",
        "review",
        "user-model",
    ]
    assert "collected" in result.stderr.str()
    both = shop.runpytest("--delegation-report=json:-", "--delegation-report=html:-")
    assert both.ret == pytest.ExitCode.USAGE_ERROR


def test_a_second_collect_only_run_maps_the_cached_collection(shop: pytest.Pytester) -> None:
    # a subprocess of its own: pytester's runs write their output files into the
    # project, and a changed file is a reason to collect again
    args = ("--collect-only", "--delegation-report=json:-")

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", *args, *extra]
        return subprocess.run(command, cwd=shop.path, capture_output=True, text=True)

    def verdict() -> dict[str, Any]:
        done = run()
        assert done.returncode == 0, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    first = verdict()
    second = verdict()
    assert any("from pytest's cache" in note for note in second["notes"])
    assert not any("from pytest's cache" in note for note in first["notes"])
    for key in ("tasks", "findings", "untagged"):
        assert second[key] == first[key]
    assert second["plan"]["tasks"] == first["plan"]["tasks"]

    # a changed file collects again, and the new test is there
    models = shop.path / "tests/test_models.py"
    models.write_text(
        models.read_text() + "\n@pytest.mark.task('user-model')\ndef test_new():\n    pass\n"
    )
    third = verdict()
    assert not any("from pytest's cache" in note for note in third["notes"])
    assert "tests/test_models.py::test_new" in third["plan"]["tasks"]["user-model"]["tests"]

    # selecting tests always collects
    verdict()
    assert "from pytest's cache" in run().stdout
    assert "from pytest's cache" not in run("-k", "user").stdout


def test_a_collection_with_errors_is_never_cached(shop: pytest.Pytester) -> None:
    (shop.path / "tests/test_broken.py").write_text("import nowhere_to_be_found\n")
    command = [sys.executable, "-m", "pytest", "--collect-only", "--delegation-report=json:-"]
    for _ in range(2):
        done = subprocess.run(command, cwd=shop.path, capture_output=True, text=True)
        assert done.returncode == pytest.ExitCode.INTERRUPTED
        assert "ERROR collecting tests/test_broken.py" in done.stderr
