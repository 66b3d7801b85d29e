"""End to end: the plugin on example_project/, as the README tells a newcomer to run it."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import pytest


EXAMPLE = Path(__file__).parent.parent / "example_project"


@pytest.fixture
def example(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(
        EXAMPLE,
        pytester.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    return pytester


def test_example_report(example: pytest.Pytester) -> None:
    result = example.runpytest_subprocess(
        "-p",
        "no:randomly",
        "--delegation-report",
        "--delegation-report=json:report.json",
        "--delegation-check=all",
        "--delegation-seed=1",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the deliberate file conflict
    result.stdout.fnmatch_lines(
        [
            "plan delegation.yaml: 8 tasks in 3 waves, max_parallel 4",
            "wave 1",
            "  order-model * code-writer * PASSED",
            "wave 3",
            "  docs * documentation * 1 * 1 * 0 * PASSED",
            "errors (4)",
            "  file-conflict: task order-model, with product-model*",
            "delegation FAILED: tasks 7 passed, 1 not run; 4 errors, 2 warnings",
        ]
    )
    data = json.loads((example.path / "report.json").read_text())
    assert data["plan"]["waves"] == [
        ["order-model", "product-model", "research", "user-model"],
        ["api"],
        ["docs", "review", "security"],
    ]
    statuses = {task: entry["status"] for task, entry in data["tasks"].items()}
    assert statuses == {
        "user-model": "passed",
        "product-model": "passed",
        "order-model": "passed",
        "research": "not-run",
        "api": "passed",
        "docs": "passed",
        "review": "passed",
        "security": "passed",
    }
    found = sorted((f["rule"], f.get("task"), f.get("other_task")) for f in data["findings"])
    assert found == [
        ("boundary-violation", "product-model", "user-model"),
        ("file-conflict", "order-model", "product-model"),
        ("hidden-ordering-dependency", "order-model", "product-model"),
        ("untagged-test", None, None),
        ("unverified-task", "research", None),
        ("wave-order-dependency", "order-model", "product-model"),
    ]
    ordering = next(f for f in data["findings"] if f["rule"] == "hidden-ordering-dependency")
    assert (
        ordering["culprit_test"]
        == "tests/models/test_product.py::test_clearance_allows_deep_discounts"
    )
    assert ordering["test"] == (
        "tests/models/test_order.py::TestDiscounts::test_discount_above_the_cap_is_refused"
    )
    boundary = next(f for f in data["findings"] if f["rule"] == "boundary-violation")
    assert boundary["file"] == "shop/models/user.py"
    assert boundary["test"] == "tests/models/test_product.py::test_label_names_the_seller"
    conflict = next(f for f in data["findings"] if f["rule"] == "file-conflict")
    assert conflict["files"] == ["shop/models/_money.py"]


def test_example_plain_run_is_untouched(example: pytest.Pytester) -> None:
    result = example.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*delegation report*")


def test_example_plan_lint(example: pytest.Pytester) -> None:
    result = example.runpytest_subprocess(
        "-p", "no:randomly", "--collect-only", "-q", "--delegation-report"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["delegation FAILED: 8 tasks in 3 waves, nothing run; 1 error, 2 warnings"]
    )
