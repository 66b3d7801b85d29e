"""Unit tests for the worker's shared-state snapshots (`child.state`, `diff_state`)."""

from __future__ import annotations

from collections.abc import Iterator
import importlib
import os
from pathlib import Path
import sys
from typing import Any
import unittest

import pytest

from pytest_delegation.worker.keeper import Keeper
from pytest_delegation.worker.snapshot import diff_state
from pytest_delegation.worker.snapshot import state


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A project folder on sys.path whose modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield str(tmp_path) + "/"
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(folder: str, name: str, text: str) -> None:
    Path(folder, f"{name}.py").write_text(text)
    importlib.invalidate_caches()


def test_data_globals_are_seen_functions_and_classes_are_not(project: str) -> None:
    write(project, "shop_a", "PRICES = {'tea': 2}\nLIMIT = 3\ndef f(): pass\nclass C: pass\n")
    importlib.import_module("shop_a")
    keys = [k for k in state(project) if k.startswith("global ")]
    assert sorted(keys) == ["global shop_a.LIMIT", "global shop_a.PRICES"]


def test_a_change_in_place_and_a_rebinding_are_both_seen(project: str) -> None:
    write(project, "shop_b", "PRICES = {'tea': 2}\nLIMIT = 3\n")
    module: Any = importlib.import_module("shop_b")
    before = state(project)
    module.PRICES["tea"] = 5
    middle = state(project)
    assert diff_state(before, middle) == ["global shop_b.PRICES"]
    module.LIMIT = 4  # same namespace size: the cached names still cover it
    assert diff_state(middle, state(project)) == ["global shop_b.LIMIT"]


def test_the_modules_left_out_are_not_walked_and_still_count_as_imported(
    project: str,
) -> None:
    # the worker leaves out the other test modules around a test (`Child._others`)
    write(project, "test_left", "SEEN = []\n")
    write(project, "test_own", "SEEN = []\n")
    left: Any = importlib.import_module("test_left")
    importlib.import_module("test_own")
    before = state(project, frozenset({"test_left", "test_own"}), "test_own")
    assert "global test_own.SEEN" in before and "global test_left.SEEN" not in before
    left.SEEN.append(1)
    assert (
        diff_state(before, state(project, frozenset({"test_left", "test_own"}), "test_own")) == []
    )
    assert diff_state(
        state(project), state(project, frozenset({"test_left", "test_own"}), "test_own")
    ) == ["global test_left.SEEN (removed)"]


def test_new_globals_and_new_modules_are_seen_after_the_cache_was_filled(
    project: str,
) -> None:
    write(project, "shop_c", "LIMIT = 3\n")
    module: Any = importlib.import_module("shop_c")
    before = state(project)
    module.ADDED = [1]
    write(project, "shop_d", "CACHE = []\n")
    importlib.import_module("shop_d")
    delattr(module, "LIMIT")
    # shop_d's globals came with its import: the import is the one change named
    assert diff_state(before, state(project)) == [
        "file shop_d.py (set)",
        "global shop_c.ADDED (set)",
        "global shop_c.LIMIT (removed)",
        "module shop_d imported",
    ]


def test_a_global_rebound_to_a_function_is_a_change(project: str) -> None:
    write(project, "shop_e", "HOOK = None\n")
    module: Any = importlib.import_module("shop_e")
    before = state(project)
    module.HOOK = print
    assert diff_state(before, state(project)) == ["global shop_e.HOOK"]


def test_modules_outside_the_project_are_left_out(project: str, tmp_path: Path) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-other"
    elsewhere.mkdir()
    write(str(elsewhere), "outside_mod", "DATA = 1\n")
    sys.path.insert(0, str(elsewhere))
    try:
        importlib.import_module("outside_mod")
        assert not [k for k in state(project) if "outside_mod" in k]
    finally:
        sys.path.remove(str(elsewhere))
        sys.modules.pop("outside_mod", None)


def test_environment_and_working_directory(
    project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    before = state(project)
    monkeypatch.setenv("SHOP_MODE", "test")
    monkeypatch.chdir(tmp_path / "empty")
    assert diff_state(before, state(project)) == [
        "environment variable SHOP_MODE (set)",
        "working directory",
    ]


def test_the_keeper_puts_polluted_state_back_before_each_test(
    project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "shop_f", "FLAGS = {}\nMODE = 'normal'\nSEEN = []\nOLD = 1\n")
    module: Any = importlib.import_module("shop_f")
    flags = module.FLAGS
    (tmp_path / "elsewhere").mkdir()
    before = state(project)
    # the polluter
    module.FLAGS["dirty"] = True
    module.MODE = "debug"
    del module.OLD
    monkeypatch.setenv("SHOP_MODE", "test")
    monkeypatch.chdir(tmp_path / "elsewhere")
    keeper = Keeper(project)
    keeper.keep(diff_state(before, state(project)))
    assert not keeper.apply()  # nothing to put back yet
    # the cleaners
    module.FLAGS.clear()
    module.MODE = "normal"
    module.OLD = 2
    monkeypatch.delenv("SHOP_MODE")
    monkeypatch.chdir(project)
    assert keeper.apply()
    assert flags == {"dirty": True} and module.FLAGS is flags  # refilled in place
    assert module.MODE == "debug" and not hasattr(module, "OLD")
    assert os.environ["SHOP_MODE"] == "test" and os.getcwd() == str(tmp_path / "elsewhere")
    module.FLAGS = {}  # rebound: the polluted object comes back
    assert keeper.apply() and module.FLAGS is flags


def test_a_file_left_behind_at_the_top_of_rootdir_is_seen(project: str) -> None:
    Path(project, ".pytest_cache").mkdir()
    before = state(project)
    Path(project, "report.csv").write_text("a,b\n")
    Path(project, "out").mkdir()
    Path(project, ".pytest_cache", "x").write_text("tool files are not the tests'")
    Path(project, "__pycache__").mkdir()
    assert diff_state(before, state(project)) == ["file out/ (set)", "file report.csv (set)"]
    after = state(project)
    Path(project, "report.csv").write_text("a,b\n1,2\n")
    assert diff_state(after, state(project)) == ["file report.csv"]


def test_class_attributes_of_project_classes_are_shared_state(project: str) -> None:
    write(
        project,
        "shop_g",
        "from collections import OrderedDict\n"
        "class Registry:\n"
        "    items = []\n"
        "    debug = False\n"
        "    def method(self): pass\n"
        "    @property\n"
        "    def prop(self): return 1\n"
        "    @classmethod\n"
        "    def make(cls): return cls()\n",
    )
    module: Any = importlib.import_module("shop_g")
    keys = [k for k in state(project) if k.startswith("global ")]
    # OrderedDict is imported, not defined here: which class the name holds is state,
    # but not that class's own attributes
    assert sorted(keys) == [
        "global shop_g.OrderedDict",
        "global shop_g.Registry.debug",
        "global shop_g.Registry.items",
    ]
    before = state(project)
    module.Registry.items.append("x")
    module.Registry.debug = True
    changed = diff_state(before, state(project))
    assert changed == ["global shop_g.Registry.debug", "global shop_g.Registry.items"]
    keeper = Keeper(project)
    keeper.keep(changed)
    module.Registry.items.clear()
    module.Registry.debug = False
    assert keeper.apply()
    assert module.Registry.items == ["x"] and module.Registry.debug is True


def test_a_class_or_function_held_as_a_selection_is_state(project: str) -> None:
    """`pkg.network = SomeNetwork` selects; rebinding it was invisible (issue 11)."""
    write(
        project,
        "nets",
        "class Mainnet: pass\nclass Testnet: pass\nnetwork = Mainnet\n"
        "def real(): pass\ndef fake(): pass\nhandler = real\n"
        "class Config:\n    backend = Mainnet\n",
    )
    module: Any = importlib.import_module("nets")
    keys = sorted(k for k in state(project) if k.startswith("global "))
    # the module's own definitions are not state; the names that select one are
    assert keys == ["global nets.Config.backend", "global nets.handler", "global nets.network"]
    before = state(project)
    module.network = module.Testnet
    module.handler = module.fake
    module.Config.backend = module.Testnet
    assert diff_state(before, state(project)) == [
        "global nets.Config.backend",
        "global nets.handler",
        "global nets.network",
    ]


def test_the_keeper_puts_a_selected_class_back(project: str) -> None:
    write(project, "nets2", "class Mainnet: pass\nclass Testnet: pass\nnetwork = Mainnet\n")
    module: Any = importlib.import_module("nets2")
    before = state(project)
    module.network = module.Testnet
    keeper = Keeper(project)
    keeper.keep(diff_state(before, state(project)))
    module.network = module.Mainnet
    assert keeper.apply() is True
    assert module.network is module.Testnet


def test_a_submodule_imported_during_a_test_is_one_change(project: str) -> None:
    """A CLI suite's 61 victims failed after a test imported `pkg._impl` (issue 11)."""
    Path(project, "clipkg").mkdir()
    write(f"{project}clipkg", "__init__", "COMMANDS = {}\n")
    write(f"{project}clipkg", "_impl", "REGISTRY = {'run': 1}\nclass Loader:\n    cache = []\n")
    package: Any = importlib.import_module("clipkg")
    before = state(project)
    assert state(project)["project modules"] is before["project modules"]  # cached
    importlib.import_module("clipkg._impl")
    # neither _impl's own globals nor the package's new attribute: the import, once
    changed = diff_state(before, state(project))
    assert changed == ["module clipkg._impl imported"]
    keeper = Keeper(project)
    keeper.keep(changed)
    assert not keeper.apply()
    impl = package._impl
    # a cleaner un-imports it; the keeper puts the same module back, not a new import
    del sys.modules["clipkg._impl"]
    del package._impl
    assert keeper.apply()
    assert sys.modules["clipkg._impl"] is impl and package._impl is impl
    after = state(project)
    del sys.modules["clipkg._impl"]
    changed = diff_state(after, state(project))
    assert changed == ["module clipkg._impl imported (removed)"]
    # an un-import is not kept: it would re-import the module in every later test
    keeper = Keeper(project)
    keeper.keep(changed)
    assert keeper.kept == []


def test_modules_imported_from_outside_the_project_are_no_change(
    project: str, tmp_path: Path
) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-lib"
    elsewhere.mkdir()
    write(str(elsewhere), "outside_lib", "DATA = 1\n")
    sys.path.insert(0, str(elsewhere))
    try:
        before = state(project)
        importlib.import_module("outside_lib")
        assert diff_state(before, state(project)) == []
    finally:
        sys.path.remove(str(elsewhere))
        sys.modules.pop("outside_lib", None)


def test_unittest_machinery_on_test_classes_is_not_state(project: str) -> None:
    """`tearDown_exceptions` was named as the state a culprit changed (issue 11)."""
    write(
        project,
        "test_cases",
        "import unittest\n"
        "class Case(unittest.TestCase):\n"
        "    shared = []\n"
        "    @classmethod\n"
        "    def setUpClass(cls):\n"
        "        cls.addClassCleanup(print)\n"
        "    def test_one(self):\n"
        "        self.addCleanup(print)\n",
    )
    module: Any = importlib.import_module("test_cases")
    before = state(project)
    assert [k for k in before if k.startswith("global ")] == ["global test_cases.Case.shared"]
    # a class's whole run, as unittest runs it: setUpClass, the test, doClassCleanups
    # (a new tearDown_exceptions list), _classSetupFailed from the suite
    result = unittest.TestResult()
    unittest.TestSuite([module.Case("test_one")]).run(result)
    assert result.wasSuccessful()
    assert "tearDown_exceptions" in vars(module.Case)
    middle = state(project)
    assert diff_state(before, middle) == []
    # as pytest's unittest plugin runs a class: its fixture calls doClassCleanups
    module.Case.setUpClass()
    assert diff_state(middle, state(project)) == []
    module.Case.doClassCleanups()
    assert diff_state(middle, state(project)) == []
    # pytest's own bookkeeping on classes is not state either
    module.Case._pytest_diamond_inheritance_warning_shown = True
    assert diff_state(middle, state(project)) == []
    # but what a test sets on its class, another test can read: state
    module.Case.shared.append(1)
    module.Case.maxDiff = None
    assert diff_state(middle, state(project)) == [
        "global test_cases.Case.maxDiff (set)",
        "global test_cases.Case.shared",
    ]


def test_a_folder_put_first_again_on_sys_path_is_no_change(
    project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest's prepend import mode does this as it imports a doctest module: it cost
    sortedcontainers two rounds of its whole suite. A new folder is still a change."""
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    before = state(project)
    sys.path.insert(0, sys.path[-1])
    assert diff_state(before, state(project)) == []
    sys.path.insert(0, str(tmp_path / "new"))
    assert diff_state(before, state(project)) == ["sys.path"]
