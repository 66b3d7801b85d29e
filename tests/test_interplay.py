"""Working with pytest's own selection and stopping options, and with pytest-randomly."""

from __future__ import annotations

import json

import pytest


def test_keyword_selection_is_not_an_unverified_task(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report=json:r.json", "--delegation-report", "-k", "user")
    result.assert_outcomes(passed=1, deselected=4)
    assert result.ret == 0
    data = json.loads((shop.path / "r.json").read_text())
    assert data["findings"] == []
    assert data["tasks"]["user-model"]["status"] == "passed"
    assert data["tasks"]["order-model"]["status"] == "not-run"


def test_marker_selection(shop: pytest.Pytester) -> None:
    result = shop.runpytest("--delegation-report", "-m", "task")
    result.assert_outcomes(passed=4, deselected=1)
    result.stdout.fnmatch_lines(["  review * not run"])


def test_last_failed_keeps_wave_order(shop: pytest.Pytester) -> None:
    models = shop.path / "tests/test_models.py"
    source = models.read_text().replace(
        "def test_user():\n    pass", "def test_user():\n    assert 0"
    )
    models.write_text(
        source.replace(
            "def test_stock(self):\n        pass", "def test_stock(self):\n        assert 0"
        )
    )
    first = shop.runpytest("--delegation-report")
    first.assert_outcomes(passed=1, failed=2, skipped=2)
    # in-process, so the order of the two wave-1 tasks is the plan's, not the workers'
    result = shop.runpytest("--delegation-report", "--delegation-workers=0", "--lf", "-v")
    result.assert_outcomes(failed=2, deselected=1)  # --lf skips test_review.py altogether
    ran = [line.split(" ")[0] for line in result.outlines if " FAILED" in line and "::" in line]
    # file order has test_user first; wave 1 lists product-model before user-model
    assert ran[:2] == [
        "tests/test_models.py::TestProduct::test_stock",
        "tests/test_models.py::test_user",
    ]
    result.stdout.no_fnmatch_line("*unverified-task*")


def test_exitfirst_stops_and_the_rest_is_not_run(shop: pytest.Pytester) -> None:
    models = shop.path / "tests/test_models.py"
    models.write_text(
        models.read_text().replace(
            "def test_price(self):\n        pass", "def test_price(self):\n        assert 0"
        )
    )
    for workers in ("0", "2"):
        result = shop.runpytest(
            "--delegation-report=json:r.json",
            "--delegation-report",
            "-x",
            f"--delegation-workers={workers}",
        )
        outcomes = result.parseoutcomes()
        assert outcomes["failed"] == 1
        assert outcomes.get("passed", 0) <= 2  # wave 1 only: test_stock, test_user
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
        tasks = json.loads((shop.path / "r.json").read_text())["tasks"]
        assert tasks["product-model"]["status"] == "failed"
        assert tasks["order-model"]["status"] == tasks["review"]["status"] == "not-run"


def test_maxfail(shop: pytest.Pytester) -> None:
    models = shop.path / "tests/test_models.py"
    source = models.read_text().replace("pass", "assert 0")
    models.write_text(source)
    result = shop.runpytest("--delegation-report", "--maxfail=2")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 2 and "passed" not in outcomes
    # the tests of tasks blocked by the first failure may be reported (as skipped)
    # before the second failure stops the run: the workers race
    assert outcomes.get("skipped", 0) <= 2
    result.stdout.fnmatch_lines(["*stopping after 2 failures*"])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_wave_order_wins_over_pytest_randomly(
    shop: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    pytest.importorskip("pytest_randomly")
    monkeypatch.delenv("PYTEST_ADDOPTS")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    for seed in (1, 2, 3):
        result = shop.runpytest_subprocess(
            "--delegation-report",
            "-v",
            "-p",
            "randomly",
            "-p",
            "no:cacheprovider",
            f"--randomly-seed={seed}",
            f"--delegation-workers={workers}",
        )
        result.stdout.fnmatch_lines([f"Using --randomly-seed={seed}"])
        ran = [
            line.split(" ")[0].split("::")[-1]
            for line in result.outlines
            if " PASSED" in line and "::" in line
        ]
        assert set(ran[:3]) == {"test_price", "test_stock", "test_user"}, ran
        assert ran[3:] == ["test_order", "test_review"], ran
