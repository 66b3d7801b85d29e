"""Function-entry probes: how the boundaries tracker watches before Python 3.12.

A ``sys.settrace`` callback on every Python call, the only hook those versions have,
cost a task run 2.5x to 7x its plain time (every call goes through the tracing path,
and a suite of small recipes makes millions of them). The tracker needs far less: which
functions of the project's own files ran, once each. So the project's modules get a
probe, ``__pytest_delegation_probe__(k)``, as the first statement of every function (a
lambda evaluates it beside its body): a C-level ``dict.setdefault`` that notes function
``k`` in the order of first runs, a few tens of nanoseconds a call, nothing anywhere else.

Two ways in. Modules imported from now on: an import hook, after pytest's assertion
rewriting hook (a test module or conftest is rewritten, never probed; the controller
drops those files anyway), compiles a project module's source with the probes and
writes no bytecode cache. Modules imported before the worker's plugin was configured (by
a conftest, usually): their functions and methods, found from the module's namespace
and its classes, get the probed code of the same function (same name and first line)
through ``__code__``. A function that only a registry or a closure made at import time
holds is not found that way: `instrument_loaded` says how many it missed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from collections.abc import Iterator
import functools
import hashlib
import importlib.abc
import importlib.machinery
import inspect
from itertools import islice
import marshal
import os
import sys
import tempfile
import types
from typing import Any


#: the global a probed module calls; its value is its `Probed.ran.setdefault`
PROBE = "__pytest_delegation_probe__"


class _Inserter(ast.NodeTransformer):
    """Puts ``PROBE(k)`` first in every function body, numbering from 0."""

    def __init__(self) -> None:
        self.next = 0
        #: k -> (qualified name, first line), as the code object will have them
        self.functions: list[tuple[str, int]] = []
        self.scope: list[str] = []

    def _call(self, node: ast.AST, name: str, line: int) -> ast.Call:
        self.functions.append((".".join([*self.scope, name]), line))
        call = ast.Call(ast.Name(PROBE, ast.Load()), [ast.Constant(self.next)], [])
        self.next += 1
        # on the def line: tracebacks and coverage keep the body's lines as they were
        for part in ast.walk(call):
            part.lineno = part.end_lineno = line  # type: ignore[attr-defined]
            part.col_offset = part.end_col_offset = 0  # type: ignore[attr-defined]
        return call

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        call = self._call(node, node.name, node.lineno)
        self.scope += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.scope[-2:]
        probe = ast.Expr(call)
        ast.copy_location(probe, call)
        body = node.body
        # after the docstring: it stays the function's __doc__
        doc = (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        )
        node.body = [*body[:1], probe, *body[1:]] if doc else [probe, *body]
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        call = self._call(node, "<lambda>", node.lineno)
        self.scope += ["<lambda>", "<locals>"]
        self.generic_visit(node)
        del self.scope[-2:]
        # (probe, body)[1]: the probe first, then the body's value
        pair = ast.Tuple([call, node.body], ast.Load())
        node.body = ast.Subscript(pair, ast.Constant(1), ast.Load())
        ast.copy_location(pair, node)
        ast.copy_location(node.body, node)
        ast.copy_location(node.body.slice, node)
        return node


def probed_code(source: bytes, filename: str) -> tuple[types.CodeType, list[tuple[str, int]]]:
    """A module's code with probes numbered from 0, and (qualname, line) per probe."""
    tree = ast.parse(source, filename)
    inserter = _Inserter()
    tree = inserter.visit(tree)
    # dont_inherit: this module's own `from __future__` flags must not leak into theirs
    code = compile(tree, filename, "exec", dont_inherit=True)
    return code, inserter.functions


class Probed:
    """One probed module: its probes' functions, and which of them ran, in first-run order.

    Numbered within the module, so the same source compiles to the same code in every
    worker, whatever was imported before it: the session's workers share it (`Probes`).
    """

    __slots__ = ("filename", "functions", "ran", "read")

    def __init__(self, filename: str, functions: list[tuple[str, int]]) -> None:
        self.filename = filename
        #: probe k -> (qualified name, first line)
        self.functions = functions
        #: the probes that ran, each once, first run first; ``ran.setdefault`` is what
        #: the module's probes call (a C-level call, nothing else)
        self.ran: dict[int, None] = {}
        #: how many of `ran` were read (see `Probes.firsts`)
        self.read = 0


class Probes:
    """The probes of one worker: the probed modules, and the hook that places them."""

    def __init__(self, watches: Callable[[str], bool], cache: str | None = None) -> None:
        self.watches = watches
        self.modules: list[Probed] = []
        self.finder = _Finder(self)
        #: a folder the session's workers share: probed code compiled once per session
        self.cache = cache

    def code_for(self, source: bytes, filename: str) -> tuple[types.CodeType, Probed]:
        """The module's code with probes, and the record its probes fill."""
        key = _cache_key(source, filename) if self.cache else ""
        found = self._load(key)
        if found is None:
            found = probed_code(source, filename)
            self._store(key, found)
        code, functions = found
        probed = Probed(filename, functions)
        self.modules.append(probed)
        return code, probed

    def firsts(self) -> list[tuple[str, str, int]]:
        """Per module, the first function that ran since the last call: file, name, line."""
        found = []
        for probed in self.modules:
            if len(probed.ran) > probed.read:
                k = next(islice(probed.ran, probed.read, None))
                found.append((probed.filename, *probed.functions[k]))
                probed.read = len(probed.ran)
        return found

    def forget_unread(self) -> None:
        """The functions run since the last `firsts` count as not run (between tests)."""
        for probed in self.modules:
            if len(probed.ran) > probed.read:
                for k in list(islice(probed.ran, probed.read, None)):
                    del probed.ran[k]

    def clear(self) -> None:
        for probed in self.modules:
            probed.ran.clear()
            probed.read = 0

    def _load(self, key: str) -> tuple[types.CodeType, list[tuple[str, int]]] | None:
        """Parsing and compiling a module with probes cost a task run of a small suite a
        quarter of its time, in every worker: another worker of the session's compiled
        code is read back instead."""
        if not key or self.cache is None:
            return None
        try:
            with open(os.path.join(self.cache, key), "rb") as handle:
                code, functions = marshal.load(handle)
            # an entry of another shape is as damaged as a short one
            found = [(str(name), int(line)) for name, line in functions]
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if not isinstance(code, types.CodeType):
            return None
        return code, found

    def _store(self, key: str, found: tuple[types.CodeType, list[tuple[str, int]]]) -> None:
        if not key or self.cache is None:
            return
        try:
            os.makedirs(self.cache, exist_ok=True)
            # written whole, then renamed: a worker reading beside it sees all or nothing
            handle, partial = tempfile.mkstemp(dir=self.cache, prefix=".probed-")
            with os.fdopen(handle, "wb") as out:
                marshal.dump(found, out)
            os.replace(partial, os.path.join(self.cache, key))
        except (OSError, ValueError):
            pass

    def install(self) -> None:
        """The hook goes right after pytest's rewriting hooks, which keep their modules."""
        if self.finder in sys.meta_path:
            return
        at = 0
        for index, finder in enumerate(sys.meta_path):
            if type(finder).__name__ == "AssertionRewritingHook":
                at = index + 1
        sys.meta_path.insert(at, self.finder)

    def uninstall(self) -> None:
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)

    def instrument_loaded(self) -> int:
        """Probe the project modules imported already; returns the functions not reached."""
        missed = 0
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            spec = getattr(module, "__spec__", None)
            if (
                not isinstance(filename, str)
                or not filename.endswith(".py")
                or not self.watches(filename)
                or type(getattr(spec, "loader", None)) is not importlib.machinery.SourceFileLoader
                or PROBE in vars(module)
            ):
                continue
            missed += self._swap(module, filename)
        return missed

    def _swap(self, module: types.ModuleType, filename: str) -> int:
        try:
            with open(filename, "rb") as handle:
                code, record = self.code_for(handle.read(), filename)
        except (OSError, SyntaxError, ValueError):
            return 0
        probed: dict[tuple[str, int], types.CodeType | None] = {}
        #: the functions of the module's body and of its classes' bodies: the ones a
        #: swap must reach (the functions inside them come with their probed code)
        expected: set[tuple[str, int]] = set()
        for inner, outer in _codes(code):
            key = (inner.co_name, inner.co_firstlineno)
            # two functions of one name on one line (lambdas): neither is swapped
            probed[key] = None if key in probed else inner
            if inner.co_flags & inspect.CO_OPTIMIZED and not outer.co_flags & inspect.CO_OPTIMIZED:
                expected.add(key)
        module.__dict__[PROBE] = record.ran.setdefault
        swapped: set[tuple[str, int]] = set()
        for function in _functions(module):
            old = function.__code__
            new = probed.get((old.co_name, old.co_firstlineno))
            if new is not None and new.co_freevars == old.co_freevars:
                function.__code__ = new
                swapped.add((old.co_name, old.co_firstlineno))
        return len({key for key in expected if probed[key] is not None} - swapped)


def _cache_key(source: bytes, filename: str) -> str:
    """Same source and path, same interpreter: the same probed code."""
    digest = hashlib.sha256(source)
    digest.update(f"\0{filename}\0{sys.implementation.cache_tag}\0{PROBE}".encode())
    return digest.hexdigest()


def _codes(code: types.CodeType) -> Iterator[tuple[types.CodeType, types.CodeType]]:
    """Every code object inside `code`, with the one it is a constant of."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield const, code
            yield from _codes(const)


def _functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    """The module's own functions, reachable from its namespace and its classes."""
    filename = module.__file__
    seen: set[int] = set()
    stack: list[Any] = list(vars(module).values())
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, (staticmethod, classmethod)):
            stack.append(value.__func__)
        elif isinstance(value, property):
            stack += [value.fget, value.fset, value.fdel]
        elif isinstance(value, functools.cached_property):
            stack.append(value.func)
        elif isinstance(value, functools.partial):
            stack.append(value.func)
        elif isinstance(value, type) and value.__module__ == module.__name__:
            stack += list(vars(value).values())
        elif isinstance(value, types.FunctionType):
            wrapped = getattr(value, "__wrapped__", None)
            if wrapped is not None:
                stack.append(wrapped)
            if value.__code__.co_filename == filename:
                yield value


class _Finder(importlib.abc.MetaPathFinder):
    """Finds a module as the finders after it would, and probes the project's sources."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        after = sys.meta_path[sys.meta_path.index(self) + 1 :] if self in sys.meta_path else []
        for finder in after:
            find = getattr(finder, "find_spec", None)
            if find is None:
                # a finder of the old protocol: leave the whole search to the import system
                return None
            spec = find(fullname, path, target)
            if spec is None:
                continue
            loader = spec.loader
            origin = spec.origin
            if (
                type(loader) is importlib.machinery.SourceFileLoader
                and isinstance(origin, str)
                and self.probes.watches(origin)
            ):
                spec.loader = _Loader(fullname, origin, self.probes)
            return spec
        return None


class _Loader(importlib.machinery.SourceFileLoader):
    """Runs the source compiled with probes; the probed code goes in no bytecode cache."""

    def __init__(self, fullname: str, path: str, probes: Probes) -> None:
        super().__init__(fullname, path)
        self.probes = probes

    def exec_module(self, module: types.ModuleType) -> None:
        # the plain code stays `get_code`'s: a caller of it alone gets code that runs
        code, probed = self.probes.code_for(self.get_data(self.path), self.path)
        module.__dict__[PROBE] = probed.ran.setdefault
        exec(code, module.__dict__)
