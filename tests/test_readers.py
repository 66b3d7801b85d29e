"""Which tests can read a test module's globals (the order check's narrow rounds)."""

from __future__ import annotations

import pytest

from pytest_delegation.collect.readers import state_readers


def test_a_module_is_read_by_its_tests_and_by_the_files_naming_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_a="class Cached:\n    cache = {}\n\ndef test_a1():\n    pass\n\ndef test_a2():\n    pass\n",
        test_b="from test_a import Cached\n\ndef test_b():\n    assert Cached\n",
        test_c="def test_c():\n    pass\n",
    )
    items = pytester.getitems(pytester.path)
    readers = state_readers(items)
    assert readers["test_a"] == {"test_a.py::test_a1", "test_a.py::test_a2", "test_b.py::test_b"}
    assert readers["test_b"] == {"test_b.py::test_b"}
    assert readers["test_c"] == {"test_c.py::test_c"}


def test_a_module_a_conftest_names_is_read_by_every_test(pytester: pytest.Pytester) -> None:
    """A fixture can hand the module's state to any test: no narrow round for it."""
    conftest = pytester.makeconftest("import test_a\n")
    pytester.makepyfile(
        test_a="def test_a():\n    pass\n",
        test_c="def test_c():\n    pass\n",
    )
    items = pytester.getitems(pytester.path)
    readers = state_readers(items, [conftest])
    assert "test_a" not in readers
    assert readers["test_c"] == {"test_c.py::test_c"}
