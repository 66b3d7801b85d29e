"""The order check's fix text names the shared state a culprit really changed (issue 11).

A submodule a test imports is state; what unittest keeps on its test classes is not.
"""

from __future__ import annotations

import json

import pytest


pytestmark = pytest.mark.task("e2e")


def order_findings(pytester: pytest.Pytester) -> list[dict]:  # type: ignore[type-arg]
    pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-seed=7", "--delegation-check=order", "--delegation-plan=auto",
    )  # fmt: skip
    data = json.loads((pytester.path / "r.json").read_text())
    return [f for f in data["findings"] if f["rule"] == "hidden-ordering-dependency"]


def test_a_submodule_imported_by_a_test_is_the_state_named(pytester: pytest.Pytester) -> None:
    """The victim passes alone; after a test imported `pkg._impl` it sees the attribute."""
    pkg = pytester.mkpydir("pkg")
    (pkg / "__init__.py").write_text("COMMANDS = {}\n")
    (pkg / "_impl.py").write_text("REGISTRY = {'run': 1}\n\nclass Loader:\n    cache = []\n")
    pytester.makepyfile(
        test_a="def test_loads_impl():\n    import pkg._impl\n\n    assert pkg._impl.REGISTRY\n",
        test_b="import pkg\n\n\ndef test_lazy():\n    assert not hasattr(pkg, '_impl')\n",
    )
    [finding] = order_findings(pytester)
    assert finding["kind"] == "victim"
    assert finding["test"] == "test_b.py::test_lazy"
    assert finding["culprit_test"] == "test_a.py::test_loads_impl"
    # the import, once: not _impl's globals, not the package's new attribute
    assert finding["shared_state"] == ["module pkg._impl imported"]
    assert "shared state it changed: module pkg._impl imported" in finding["fix"]


def test_unittest_bookkeeping_is_not_named(pytester: pytest.Pytester) -> None:
    """`tearDown_exceptions`, a new list at every class teardown, was named (issue 11)."""
    pytester.makepyfile(
        shared="FLAGS = {}\n",
        test_c="import unittest\n\nimport shared\n\n\n"
        "class TestPollute(unittest.TestCase):\n"
        "    @classmethod\n"
        "    def setUpClass(cls):\n"
        "        cls.addClassCleanup(print)\n\n"
        "    def test_pollute(self):\n"
        "        shared.FLAGS['dirty'] = True\n",
        test_d="import unittest\n\nimport shared\n\n\n"
        "class TestVictim(unittest.TestCase):\n"
        "    def test_victim(self):\n"
        "        self.assertNotIn('dirty', shared.FLAGS)\n",
    )
    [finding] = order_findings(pytester)
    assert finding["test"] == "test_d.py::TestVictim::test_victim"
    assert finding["culprit_test"] == "test_c.py::TestPollute::test_pollute"
    assert finding["shared_state"] == ["global shared.FLAGS"]
    assert "tearDown_exceptions" not in finding["fix"]


def test_a_submodule_a_test_module_imports_when_collected_is_named(
    pytester: pytest.Pytester,
) -> None:
    """click's suite: 61 victims passed only when an earlier test module, at its import,
    had imported a submodule they reach as an attribute; the fix text named a
    thread-local. The import happens while that module is collected, in no test."""
    pytester.makefile(
        ".yaml",
        delegation="tasks:\n  term: {tests: [test_term.py]}\n  pager: {tests: [test_pager.py]}\n",
    )
    pytester.makepyfile(
        **{
            "pkg/__init__.py": "",
            "pkg/_impl.py": "def page():\n    return 'paged'\n",
            "test_term.py": "import pkg._impl\n\ndef test_term():\n    assert pkg._impl.page()\n",
            "test_pager.py": "import pkg\n\ndef test_pager():\n    assert pkg._impl.page()\n",
        }
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--delegation-report", "--delegation-report=json:r.json",
        "--delegation-check=isolation,order", "--delegation-seed=1",
    )  # fmt: skip
    data = json.loads((pytester.path / "r.json").read_text())
    [finding] = [f for f in data["findings"] if f["rule"] == "hidden-ordering-dependency"]
    assert finding["kind"] == "brittle", result.stdout.str()
    assert finding["test"] == "test_pager.py::test_pager"
    assert (
        finding["shared_state"][0] == "module pkg._impl imported when test_term.py was collected"
    )
    assert "module pkg._impl imported when test_term.py was collected" in finding["fix"]


def test_a_test_modules_own_global_changed_by_its_test_is_named(
    pytester: pytest.Pytester,
) -> None:
    """Snapshots around a test leave out the other test modules (10,000 tests in 1,000
    modules: the canonical replay took 6.5 times a plain order), never the test's own."""
    pytester.makepyfile(
        test_e="SEEN = []\n\n\ndef test_fill():\n    SEEN.append(1)\n",
        test_f="import test_e\n\n\ndef test_empty():\n    assert test_e.SEEN == []\n",
        test_g="def test_other():\n    pass\n",
    )
    [finding] = order_findings(pytester)
    assert finding["test"] == "test_f.py::test_empty"
    assert finding["culprit_test"] == "test_e.py::test_fill"
    assert finding["shared_state"] == ["global test_e.SEEN"]
