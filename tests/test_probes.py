"""Function-entry probes, the boundaries tracker's way of watching before Python 3.12.

Pure parts (the probed code) and the import hook and the swap on real modules of a
temporary package; they run on every Python, though the tracker uses them before 3.12.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import sys
import traceback
import types

import pytest

from pytest_delegation.worker.probes import PROBE
from pytest_delegation.worker.probes import Probes
from pytest_delegation.worker.probes import probed_code


SOURCE = '''\
from __future__ import annotations
import functools


def deco(f):
    @functools.wraps(f)
    def wrapper(*args):
        return f(*args)
    return wrapper


@deco
def decorated(x: int) -> int:
    """the docstring stays"""
    return x + 1


class Shape:
    def area(self):
        return 1

    @staticmethod
    def unit():
        return 2

    @property
    def side(self):
        return 3

    class Inner:
        def deep(self):
            return 4


square = lambda x: x * x
REGISTRY = [lambda: 5]


def fails():
    raise ValueError("line 37")
'''


def run_probed(source: str) -> tuple[dict[str, object], dict[int, None], list[tuple[str, int]]]:
    code, functions = probed_code(source.encode(), "/p/mod.py")
    ran: dict[int, None] = {}
    namespace: dict[str, object] = {PROBE: ran.setdefault, "__name__": "mod"}
    exec(code, namespace)
    return namespace, ran, functions


def test_every_function_gets_its_probe_with_the_code_objects_name_and_line() -> None:
    namespace, ran, functions = run_probed(SOURCE)
    # defining the module ran one function: the decorator
    assert [functions[k][0] for k in ran] == ["deco"]
    assert functions == [
        ("deco", 5), ("deco.<locals>.wrapper", 7), ("decorated", 13), ("Shape.area", 19),
        ("Shape.unit", 23), ("Shape.side", 27), ("Shape.Inner.deep", 31), ("<lambda>", 35),
        ("<lambda>", 36), ("fails", 39),
    ]  # fmt: skip
    # the names and lines are the code objects' own (what sys.monitoring reports)
    shape = namespace["Shape"]
    assert (shape.area.__code__.co_name, shape.area.__code__.co_firstlineno) == ("area", 19)  # type: ignore[attr-defined]
    if sys.version_info >= (3, 11):
        assert shape.Inner.deep.__code__.co_qualname == "Shape.Inner.deep"  # type: ignore[attr-defined]


def test_a_probed_function_behaves_as_before_and_tells_it_ran() -> None:
    namespace, ran, functions = run_probed(SOURCE)
    decorated = namespace["decorated"]
    assert decorated(1) == 2  # type: ignore[operator]
    assert decorated.__doc__ == "the docstring stays"
    shape = namespace["Shape"]()  # type: ignore[operator]
    assert (shape.area(), shape.unit(), shape.side, shape.Inner().deep()) == (1, 2, 3, 4)
    assert namespace["square"](3) == 9  # type: ignore[operator]
    ran_names = [functions[k][0] for k in ran]
    assert ran_names == [
        "deco", "deco.<locals>.wrapper", "decorated", "Shape.area", "Shape.unit", "Shape.side",
        "Shape.Inner.deep", "<lambda>",
    ]  # fmt: skip
    # each once, however often it runs
    decorated(2)  # type: ignore[operator]
    assert len(ran) == 8


def test_tracebacks_keep_the_lines_of_the_source() -> None:
    namespace, _, _ = run_probed(SOURCE)
    with pytest.raises(ValueError) as info:
        namespace["fails"]()  # type: ignore[operator]
    assert traceback.extract_tb(info.value.__traceback__)[-1].lineno == 40


def test_the_future_flags_of_the_plugin_stay_out_of_the_probed_module() -> None:
    # this test module has `from __future__ import annotations`; the probed one has not
    namespace, _, _ = run_probed("def f(x: int) -> int:\n    return x\n")
    assert namespace["f"].__annotations__ == {"x": int, "return": int}


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.SimpleNamespace]:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "early.py").write_text(SOURCE)
    (root / "pkg" / "late.py").write_text("def late():\n    return 'late'\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    probes = Probes(lambda filename: filename.startswith(str(root)))
    yield types.SimpleNamespace(root=root, probes=probes)
    probes.uninstall()
    for name in [n for n in sys.modules if n == "pkg" or n.startswith("pkg.")]:
        del sys.modules[name]


def ran_functions(probes: Probes) -> list[str]:
    return [m.functions[k][0] for m in probes.modules for k in m.ran]


def test_a_module_imported_after_the_hook_is_probed_and_caches_no_bytecode(
    package: types.SimpleNamespace,
) -> None:
    import importlib

    package.probes.install()
    late = importlib.import_module("pkg.late")
    assert late.late() == "late"
    assert ran_functions(package.probes) == ["late"]
    ran_in = [m.filename for m in package.probes.modules if m.ran]
    assert ran_in == [str(package.root / "pkg" / "late.py")]
    # no .pyc of probed code: a plain run afterwards would call a probe nobody defined
    cached = list((package.root / "pkg").glob("__pycache__/late*.pyc"))
    assert cached == []


def test_a_module_imported_before_gets_probed_code_through_its_functions(
    package: types.SimpleNamespace,
) -> None:
    import importlib

    early = importlib.import_module("pkg.early")
    held = early.Shape.area  # a reference taken before: the same function object
    missed = package.probes.instrument_loaded()
    # only the lambda that a list holds is out of reach
    assert missed == 1
    assert early.decorated(1) == 2 and held(early.Shape()) == 1
    assert early.Shape.unit() == 2 and early.Shape().side == 3
    assert early.Shape.Inner().deep() == 4 and early.square(2) == 4
    assert early.REGISTRY[0]() == 5
    assert ran_functions(package.probes) == [
        "deco.<locals>.wrapper", "decorated", "Shape.area", "Shape.unit", "Shape.side",
        "Shape.Inner.deep", "<lambda>",
    ]  # fmt: skip
    # a second call probes nothing twice
    assert package.probes.instrument_loaded() == 0


def test_a_second_worker_reads_the_probed_code_back_whatever_it_imported_before(
    package: types.SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    from pytest_delegation.worker import probes as probes_module

    cache = tmp_path / "cache"
    first = Probes(package.probes.watches, str(cache))
    first.install()
    importlib.import_module("pkg.late")
    first.uninstall()
    assert len(list(cache.iterdir())) == 2  # pkg/__init__.py and pkg/late.py
    for name in [n for n in sys.modules if n == "pkg" or n.startswith("pkg.")]:
        del sys.modules[name]

    def compiled(*args: object) -> None:
        raise AssertionError("compiled again instead of read back")

    # another worker imports another module first: its probes are numbered per module
    second = Probes(package.probes.watches, str(cache))
    second.install()
    try:
        importlib.import_module("pkg.early")
        monkeypatch.setattr(probes_module, "probed_code", compiled)
        late = importlib.import_module("pkg.late")
        assert late.late() == "late"
    finally:
        second.uninstall()
    assert [(m.filename.rpartition("/")[2], m.functions) for m in second.modules][-1] == (
        "late.py",
        [("late", 1)],
    )
    assert [f[1:] for f in second.firsts()] == [("deco", 5), ("late", 1)]
    assert second.firsts() == []


def test_a_damaged_cache_entry_is_compiled_again(
    package: types.SimpleNamespace, tmp_path: Path
) -> None:
    import importlib

    cache = tmp_path / "cache"
    cache.mkdir()
    probes = Probes(package.probes.watches, str(cache))
    source = (package.root / "pkg" / "late.py").read_bytes()
    from pytest_delegation.worker.probes import _cache_key

    (cache / _cache_key(source, str(package.root / "pkg" / "late.py"))).write_bytes(b"\x00junk")
    probes.install()
    try:
        assert importlib.import_module("pkg.late").late() == "late"
    finally:
        probes.uninstall()
    assert [f[1:] for f in probes.firsts()] == [("late", 1)]
