"""File boundaries read from the code: a task's modules that import another task's module.

Each import, in a task's own ``.py`` files (not test modules or conftests), of a module
owned by a task that is not among the importer's dependencies (direct or transitive) is a
`boundary-violation` with ``"via": "import"``. It complements the run-time check
(``boundaries``): this one misses ``importlib`` and other dynamic reach, that one code
imported but not run by a test. Allowed: the task's own files, its dependencies' and the
plan's ``shared`` files; files no task owns are the run-time check's business.

``import a.b.c`` counts the deepest module of ``a.b.c`` that is a project file (not the
``__init__`` files on the way, or every task would touch every ``__init__``);
``from a.b import c`` the submodule ``a.b.c`` when there is one, else ``a.b``. Imports
count at any depth, except under ``if TYPE_CHECKING:``. Module names come from import
roots (the plan's folder, ``src`` and pytest's ``pythonpath``), resolved as ``sys.path``
and ``importlib`` do: the first root wins, a package over a module over a namespace folder.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import MutableMapping
from collections.abc import Sequence
from dataclasses import dataclass
import fnmatch
import os
from pathlib import Path
import re
from typing import Any
from typing import NamedTuple

from pytest_delegation.checks.findings import Finding
from pytest_delegation.plan.graph import transitive_dependencies
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.ownership import Owners
from pytest_delegation.plan.patterns import Tree


DEFAULT_ROOTS = ("", "src")
# pytest's default `python_files`; conftest files are never project files
DEFAULT_TEST_FILES = ("test_*.py", "*_test.py")
# compiled modules: a name that resolves to one stops there (it is not Python source)
EXTENSION_SUFFIXES = (".so", ".pyd")
# the statements that hold statements
_BODY_ONLY = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.AsyncWith)
# try/except* (3.11+)
_TRY_STAR = getattr(ast, "TryStar", ast.Try)
_COMPOUND = frozenset(
    {*_BODY_ONLY, _TRY_STAR, ast.Try, ast.If, ast.For, ast.AsyncFor, ast.While, ast.Match}
)
# index value of a folder without __init__.py: a module with no file
NAMESPACE = ""
# first item of each cache entry; entries of another format are reparsed
CACHE_FORMAT = 1
# index value of a compiled module: a module with no source
EXTENSION = "\0"


@dataclass(frozen=True)
class Root:
    """An import root: names in it start with `prefix`, their files lie in `folder`.

    `folder` is relative to the plan's folder ('' for the folder itself). A root above the
    plan's folder (pytest's rootdir when the plan lives in `sub/`) has folder '' and the
    prefix of the plan's folder (`sub.`); a name without that prefix is not in the tree.
    """

    folder: str
    prefix: str = ""

    def key(self, name: str) -> str | None:
        """The index key (path without `.py`) of a dotted name in this root, or None."""
        if self.prefix:
            if not name.startswith(self.prefix):
                return None
            name = name[len(self.prefix) :]
        path = name.replace(".", "/")
        return f"{self.folder}/{path}" if self.folder else path

    def name(self, key: str) -> str | None:
        """The dotted name of an index key in this root, or None if it is not importable."""
        if self.folder:
            if not key.startswith(self.folder + "/"):
                return None
            key = key[len(self.folder) + 1 :]
        parts = key.split("/")
        if not all(part.isidentifier() for part in parts):
            return None
        return self.prefix + ".".join(parts)


class Import(NamedTuple):
    """One import statement's target, as written: `import a.b` or `from .a import b, c`."""

    line: int
    #: 'a.b'; '' for `from . import x`.
    module: str
    #: The leading dots of a relative import.
    level: int = 0
    #: The names of a `from` import; () for `import a.b`.
    names: tuple[str, ...] = ()


class ModuleIndex:
    """The tree's modules: index key (`pkg/mod`) -> file, by import root."""

    def __init__(self, files: Iterable[str], roots: Sequence[Root]) -> None:
        self.roots = tuple(roots)
        self.keys: dict[str, str] = {}
        for path in files:
            folder, _, base = path.rpartition("/")
            if base == "__init__.py":
                # the root's own __init__: the root is not a package in it
                if not folder:
                    continue
                key = folder
                # a regular package wins over all
                self.keys[key] = path
            elif base.endswith(".py"):
                key = path[:-3]
                # a module wins over a namespace folder
                if self.keys.get(key, NAMESPACE) == NAMESPACE:
                    self.keys[key] = path
            elif base.endswith(EXTENSION_SUFFIXES):
                stem = base.split(".", 1)[0]
                key = f"{folder}/{stem}" if folder else stem
                # importlib tries extensions before source
                if not self.keys.get(key, NAMESPACE).endswith("__init__.py"):
                    self.keys[key] = EXTENSION
            else:
                continue
            # every folder above a module may be a (namespace) package
            folder = key.rpartition("/")[0]
            while folder:
                # and once one is known, so are the folders above it
                if folder in self.keys:
                    break
                self.keys[folder] = NAMESPACE
                folder = folder.rpartition("/")[0]

    def find(self, name: str, roots: Sequence[Root] | None = None) -> tuple[str, str] | None:
        """(name, file) of a module, trying the roots in order; file '' when it has none.

        As in importlib, a namespace folder counts only when no root has a module or a
        regular package of that name.
        """
        namespace = None
        for root in self.roots if roots is None else roots:
            key = root.key(name)
            if key is not None:
                found = self.keys.get(key)
                if found == NAMESPACE:
                    namespace = (name, "")
                elif found is not None:
                    return name, "" if found == EXTENSION else found
        return namespace

    def deepest(self, name: str, roots: Sequence[Root] | None = None) -> tuple[str, str] | None:
        """The longest prefix of `name` that is a module (`a.b.c`, then `a.b`, then `a`)."""
        while name:
            found = self.find(name, roots)
            if found is not None:
                return found
            name = name.rpartition(".")[0]
        return None

    def name_of(self, path: str) -> tuple[str, bool, Root] | None:
        """(dotted name, is a package, root) of a tree file in the first root naming it."""
        is_package = path == "__init__.py" or path.endswith("/__init__.py")
        key = path.rpartition("/")[0] if is_package else path[:-3]
        for root in self.roots:
            name = root.name(key)
            if name is not None and self.keys.get(key) == path:
                return name, is_package, root
        return None


def import_findings(
    plan: Plan,
    tree: Tree,
    plan_dir: str = "",
    roots: Sequence[str] = DEFAULT_ROOTS,
    pythonpath: Iterable[str | os.PathLike[str]] = (),
    test_files: Sequence[str] = DEFAULT_TEST_FILES,
    cache: MutableMapping[str, Any] | None = None,
) -> list[Finding]:
    """`boundary-violation` findings (``"via": "import"``) for the imports in tasks' files.

    - `tree`: the plan folder's files (``Tree(plan.base)``); files are read from
      ``tree.root``.
    - `plan_dir`: the plan's folder relative to rootdir (``mapping.plan_folder``); the
      findings' paths are rootdir-relative, i.e. prefixed with it. When the plan lies
      outside rootdir (``plan_folder`` gives a value starting with NUL), paths are left
      relative to the plan's folder.
    - `roots`: import roots, folders relative to the plan's folder, in ``sys.path`` order.
    - `pythonpath`: more roots, tried first, as pytest's ``pythonpath`` ini gives them
      (``config.getini("pythonpath")``: absolute paths); a relative one is relative to the
      plan's folder. A root above the plan's folder names its modules with the folder's
      dotted prefix; one outside both ways holds none of the tree's modules and is ignored.
    - `test_files`: basename globs of test modules (pytest's ``python_files`` ini), which
      are neither scanned nor counted as imported; ``conftest.py`` never is either.
    - `cache`: a mapping this function keeps, of JSON data only (for pytest's
      ``config.cache``): each scanned file's import statements, reused while the file's
      size and mtime are the same; entries of files no longer scanned are dropped. Parsing
      is most of the cost, so a warm cache makes the check several times faster.

    One finding per task, importing file and imported file, at the first line importing
    it; sorted by file, line, imported file and task.
    """
    prefix = "" if not plan_dir or plan_dir.startswith("\0") else plan_dir.rstrip("/") + "/"
    all_roots = [*_extra_roots(pythonpath, tree.root), *(_root(r) for r in roots)]
    modules = sorted(p for p in tree.files if p.endswith((".py", *EXTENSION_SUFFIXES)))
    index = ModuleIndex(modules, list(dict.fromkeys(all_roots)))

    def is_test(path: str) -> bool:
        base = path.rpartition("/")[2]
        return base == "conftest.py" or any(fnmatch.fnmatchcase(base, g) for g in test_files)

    owners = Owners(plan, plan_dir)
    # test modules are neither scanned nor counted as imported
    tests = {path for path in modules if is_test(path)}
    # file -> the tasks whose files: hold it (it is their code, shared or not)
    importers: dict[str, tuple[str, ...]] = {}
    for path in modules:
        if path.endswith(".py") and path not in tests:
            owning = owners.tasks(path)
            if owning:
                importers[path] = owning
    waves = {task_id: n for n, wave in enumerate(plan.waves, start=1) for task_id in wave}
    allowed_cache: dict[str, set[str]] = {}
    findings: list[Finding] = []
    folder = os.fspath(tree.root)
    for path, importer_tasks in importers.items():
        reached = _imported_files(index, path, _statements(folder, path, cache))
        for task_id in importer_tasks:
            allowed = allowed_cache.get(task_id)
            if allowed is None:
                allowed = {task_id} | transitive_dependencies(plan.tasks, task_id)
                allowed_cache[task_id] = allowed
            for imported, (line, module) in reached.items():
                # () when shared, unowned or a test module
                owned = () if imported in tests else owners.owning(imported)
                if not owned or allowed.intersection(owned):
                    continue
                findings.append(
                    _finding(plan, task_id, owned, prefix, path, line, module, imported, waves)
                )
    if cache is not None:
        for stale in [path for path in cache if path not in importers]:
            del cache[stale]
    findings.sort(
        key=lambda f: (f.file or "", f.line or 0, f.extra["imported_file"], f.task or "")
    )
    return findings


def _finding(
    plan: Plan,
    task_id: str,
    owned: Sequence[str],
    prefix: str,
    path: str,
    line: int,
    module: str,
    imported: str,
    waves: dict[str, int],
) -> Finding:
    owner = owned[0]
    wave = waves.get(owner)
    deps = list(plan.tasks[task_id].depends_on)
    file, imported_file = prefix + path, prefix + imported
    extra: dict[str, object] = {
        "via": "import",
        "imported_file": imported_file,
        "module": module,
        "owner_wave": wave,
        "declared_dependencies": deps,
    }
    if len(owned) > 1:
        extra["owners"] = list(owned)
    in_wave = f" (wave {wave})" if wave is not None else ""
    return Finding(
        "boundary-violation",
        f"{file}:{line} imports {module} ({imported_file}), owned by '{owner}'{in_wave}; "
        f"'{task_id}' depends on: {', '.join(deps) or 'nothing'}",
        fix=f"declare the dependency (depends_on: [{owner}]) or move the shared code into "
        "the plan's shared: files",
        task=task_id,
        other_task=owner,
        file=file,
        line=line,
        extra=extra,
    )


def _root(folder: str) -> Root:
    folder = folder.replace("\\", "/").strip("/")
    while folder.startswith("./"):
        folder = folder[2:].lstrip("/")
    return Root("" if folder == "." else folder)


def _extra_roots(paths: Iterable[str | os.PathLike[str]], base: Path) -> Iterator[Root]:
    """Roots from absolute (or plan-relative) folders, such as pytest's `pythonpath`."""
    plan_folder = base.resolve()
    for entry in paths:
        path = Path(entry)
        folder = (path if path.is_absolute() else plan_folder / path).resolve()
        if folder == plan_folder or plan_folder in folder.parents:
            yield _root(folder.relative_to(plan_folder).as_posix())
        elif folder in plan_folder.parents:
            parts = plan_folder.relative_to(folder).parts
            if all(part.isidentifier() for part in parts):
                yield Root("", ".".join(parts) + ".")


_HAS_IMPORT = re.compile(rb"\bimport\b")


def _imported_files(
    index: ModuleIndex, path: str, statements: Iterable[Import]
) -> dict[str, tuple[int, str]]:
    """Project files one file imports: file -> (first line, module name as resolved)."""
    own = index.name_of(path)
    found: dict[str, tuple[int, str]] = {}
    for statement in statements:
        for module, file in _targets(index, statement, own):
            if file and file != path and (file not in found or statement.line < found[file][0]):
                found[file] = (statement.line, module)
    return found


def _statements(folder: str, path: str, cache: MutableMapping[str, Any] | None) -> list[Import]:
    """The import statements of a file, from the cache when its size and mtime match."""
    full = os.path.join(folder, path)
    if cache is None:
        return _parse(full, path)
    try:
        stat = os.stat(full)
    except OSError:
        return []
    stamp = [CACHE_FORMAT, stat.st_size, stat.st_mtime_ns]
    entry = cache.get(path)
    if isinstance(entry, list) and len(entry) == 4 and entry[:3] == stamp:
        try:
            return [Import(int(a), str(b), int(c), tuple(map(str, d))) for a, b, c, d in entry[3]]
        except (TypeError, ValueError):
            # not written by this module: parse again
            pass
    found = _parse(full, path)
    cache[path] = [*stamp, [[s.line, s.module, s.level, list(s.names)] for s in found]]
    return found


def _parse(full: str, path: str) -> list[Import]:
    try:
        with open(full, "rb") as file:
            source = file.read()
    except OSError:
        return []
    if not _HAS_IMPORT.search(source):
        return []
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # pytest reports a broken module where it imports it
        return []
    return _imports(tree.body)


def _targets(
    index: ModuleIndex, statement: Import, own: tuple[str, bool, Root] | None
) -> Iterator[tuple[str, str]]:
    """(module name, file) of each project module an import statement reaches."""
    roots: Sequence[Root] | None = None
    base = statement.module
    if statement.level:
        # not a module of any root: Python could not run a relative import
        if own is None:
            return
        name, is_package, root = own
        package = name if is_package else name.rpartition(".")[0]
        for _ in range(statement.level - 1):
            package = package.rpartition(".")[0]
        # beyond the top-level package (ImportError)
        if not package:
            return
        base = f"{package}.{base}" if base else package
        roots = (root,)
    if not statement.names:
        found = index.deepest(base, roots)
        if found is not None:
            yield found
        return
    # the `from` module itself, once a name is not a submodule of it
    whole = None
    for item in statement.names:
        if item != "*":
            sub = index.find(f"{base}.{item}", roots)
            if sub is not None:
                yield sub
                continue
        if whole is None:
            whole = index.deepest(base, roots) or ("", "")
            yield whole


def _imports(body: list[ast.stmt]) -> list[Import]:
    """Every import statement that can run, at any depth; not `if TYPE_CHECKING:` ones.

    Not in source order (see each statement's line). Only compound statements hold
    statements, so expressions are never visited: this walk costs a fraction of the parse.
    """
    found: list[Import] = []
    todo = [body]
    while todo:
        for node in todo.pop():
            if isinstance(node, ast.Import):
                found.extend(Import(node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                names = tuple(alias.name for alias in node.names)
                found.append(Import(node.lineno, node.module or "", node.level or 0, names))
            elif type(node) not in _COMPOUND:
                continue
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    todo.append(node.body)
                todo.append(node.orelse)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
                todo.extend((node.body, node.orelse))
            elif isinstance(node, (ast.Try, _TRY_STAR)):
                todo.extend((node.body, node.orelse, node.finalbody))
                todo.extend(handler.body for handler in node.handlers)
            elif isinstance(node, ast.Match):
                todo.extend(case.body for case in node.cases)
            elif isinstance(node, _BODY_ONLY):
                todo.append(node.body)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
