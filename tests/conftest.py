from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path

import jsonschema
import pytest

import pytest_delegation


pytest_plugins = ["pytester"]

INNER_ADDOPTS = "-p pytest_delegation.plugin --delegation-check=isolation,boundaries"

SHOP_PLAN = """\
version: 1
shared: [shop/contracts.py]
tasks:
  user-model:
    role: code-writer
    files: [shop/user.py]
  product-model:
    role: code-writer
    files: [shop/product.py]
  order-model:
    role: code-writer
    files: [shop/order.py]
    depends_on: [user-model, product-model]
  review:
    role: code-reviewer
    depends_on: [order-model]
    tests: [tests/test_review.py]
"""

SHOP_TESTS = {
    "tests/test_models.py": """\
import pytest

@pytest.mark.task("order-model")
def test_order():
    pass

@pytest.mark.task("user-model")
def test_user():
    pass

@pytest.mark.task("product-model")
class TestProduct:
    def test_price(self):
        pass

    def test_stock(self):
        pass
""",
    "tests/test_review.py": """\
def test_review():
    pass
""",
}


SCHEMA = json.loads((Path(pytest_delegation.__file__).parent / "report.schema.json").read_text())


def validate_reports(folder: Path) -> None:
    """Every JSON report a test produced must match the shipped schema."""
    for path in folder.rglob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        if isinstance(data, dict) and data.get("version") == 1 and "summary" in data:
            jsonschema.validate(data, SCHEMA)


@pytest.fixture
def pytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.Pytester]:
    """pytester whose inner runs are deterministic unless a test opts into pytest-randomly."""
    # set after pytester's own set-up, which clears PYTEST_ADDOPTS. Inner runs load only
    # this plugin: every worker then starts in a fifth of the time the installed plugins
    # (hypothesis, pytest-cov...) would take. The order check replays whole suites
    # several times: only the tests about it (and the end-to-end runs) ask for it.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    yield pytester
    validate_reports(pytester.path)


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    """A small project: a plan of four tasks in three waves and passing tests."""
    pytester.makefile(".yaml", delegation=SHOP_PLAN)
    pytester.makeini("[pytest]\n")
    for path, source in SHOP_TESTS.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    return pytester


@pytest.fixture
def own_tmp(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TMPDIR of the test's own: what a run leaves in it is what this run left
    (the fault tests use it; see faultlib.py)."""
    folder = pytester.path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder
