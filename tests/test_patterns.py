"""gitignore-style patterns of the plan and the project tree they are matched against."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pathspec
import pytest

from pytest_delegation.plan import patterns
from pytest_delegation.plan.patterns import PatternIndex
from pytest_delegation.plan.patterns import PatternSet
from pytest_delegation.plan.patterns import Reach
from pytest_delegation.plan.patterns import Tree
from pytest_delegation.plan.patterns import literal
from pytest_delegation.plan.patterns import pattern_problem
from pytest_delegation.plan.patterns import relative_to
from pytest_delegation.plan.patterns import walk


PATHS = [
    "user.py",
    "shop/user.py",
    "shop/models/user.py",
    "shop/models/order.py",
    "shop/modelsx/a.py",
    "docs/a.md",
    "docs/x.md",
    "docs/sub/b.md",
    "a/docs/c.md",
    "src/a.py",
    "src/a/b.py",
    "README.md",
    "sub/README.md",
    "notes.txt",
]


def matched(*pattern_list: str) -> list[str]:
    pattern_set = PatternSet(pattern_list)
    return [path for path in PATHS if pattern_set.matches(path)]


def test_anchored_literal_matches_exactly_that_path() -> None:
    assert matched("shop/models/user.py") == ["shop/models/user.py"]
    assert matched("/user.py") == ["user.py"]
    assert PatternSet(["shop/models/user.py"]).only_literals


def test_plain_name_matches_at_any_depth() -> None:
    # gitignore: a pattern without a slash before its end matches in every folder
    assert matched("user.py") == ["user.py", "shop/user.py", "shop/models/user.py"]
    assert matched("README.md") == ["README.md", "sub/README.md"]
    assert not PatternSet(["user.py"]).only_literals


def test_double_star_under_a_folder() -> None:
    assert matched("docs/**") == ["docs/a.md", "docs/x.md", "docs/sub/b.md"]


def test_star_does_not_cross_folders_but_a_bare_glob_matches_anywhere() -> None:
    assert matched("src/*.py") == ["src/a.py"]
    assert matched("*.py") == [
        "user.py",
        "shop/user.py",
        "shop/models/user.py",
        "shop/models/order.py",
        "shop/modelsx/a.py",
        "src/a.py",
        "src/a/b.py",
    ]
    assert matched("**/docs/*.md") == ["docs/a.md", "docs/x.md", "a/docs/c.md"]


def test_negation_removes_a_file_from_an_earlier_glob() -> None:
    assert matched("docs/**", "!docs/x.md") == ["docs/a.md", "docs/sub/b.md"]
    # order matters: a later pattern adds it back
    assert "docs/x.md" in matched("docs/**", "!docs/x.md", "docs/x.md")


def test_directory_patterns() -> None:
    # an anchored folder covers everything below it, and no look-alike sibling
    assert matched("shop/models/") == ["shop/models/user.py", "shop/models/order.py"]
    assert matched("shop/models") == ["shop/models/user.py", "shop/models/order.py"]
    assert matched("/docs/") == ["docs/a.md", "docs/x.md", "docs/sub/b.md"]
    # a folder name without a slash before the end matches such a folder anywhere
    assert matched("docs/") == ["docs/a.md", "docs/x.md", "docs/sub/b.md", "a/docs/c.md"]


def test_dot_slash_is_the_plan_folder_with_or_without_globs() -> None:
    assert matched("./src/a.py") == ["src/a.py"]
    assert matched("./src/a.py", "*.txt") == ["src/a.py", "notes.txt"]
    assert matched("./src/*.py", "!./src/a.py") == []


def test_empty_set_matches_nothing() -> None:
    empty = PatternSet([])
    assert not empty
    assert not empty.matches("anything.py")
    assert empty.matching(Tree(Path("/nonexistent"))) == set()
    assert PatternSet(["a.py"])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("shop/models/user.py", "shop/models/user.py"),
        ("/shop/", "shop"),
        ("./a/b.py", "a/b.py"),
        ("././a.py", "a.py"),
        ("user.py", "user.py"),
        ("a*.py", None),
        ("a?.py", None),
        ("[ab].py", None),
        ("a\\b", None),
        ("!a.py", None),
        ("/", None),
    ],
)
def test_literal(pattern: str, expected: str | None) -> None:
    assert literal(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "matches nothing"),
        ("/", "matches nothing"),
        ("//", "matches nothing"),
        ("!", "matches nothing"),
        ("!/", "matches nothing"),
        ("..", "leaves the plan's folder ('..')"),
        ("../a.py", "leaves the plan's folder ('..')"),
        ("a/../../b", "leaves the plan's folder ('..')"),
        ("!../a.py", "leaves the plan's folder ('..')"),
        ("\\", "is not a valid gitignore pattern"),
    ],
)
def test_pattern_problem(pattern: str, fragment: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize("pattern", ["a.py", "docs/**", "!docs/x.md", "a..b", "..a/b", "*.py"])
def test_good_patterns_have_no_problem(pattern: str) -> None:
    assert pattern_problem(pattern) is None


# -- the tree ------------------------------------------------------------------------------


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def test_tree_lists_files_and_prunes_tool_folders(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "setup.py",
        "shop/models/user.py",
        "shop/.hidden.py",
        "docs/index.md",
        ".git/config",
        ".git/objects/ab/cdef",
        "shop/__pycache__/user.cpython-311.pyc",
        "venv/lib/site.py",
        ".venv/lib/site.py",
        "myenv/pyvenv.cfg",
        "myenv/lib/python3.11/site-packages/x.py",
        "node_modules/left-pad/index.js",
        "pkg.egg-info/PKG-INFO",
        ".tox/py311/x.py",
        ".pytest_cache/v/cache",
        "env.cfg/pyvenv.txt",
    )
    assert Tree(tmp_path).files == {
        "setup.py",
        "shop/models/user.py",
        "shop/.hidden.py",
        "docs/index.md",
        "env.cfg/pyvenv.txt",
    }


def test_a_venv_at_the_root_is_not_pruned_by_its_own_marker(tmp_path: Path) -> None:
    # only folders *below* the root are judged by their pyvenv.cfg
    touch(tmp_path, "pyvenv.cfg", "a.py")
    assert Tree(tmp_path).files == {"pyvenv.cfg", "a.py"}


def test_tree_under(tmp_path: Path) -> None:
    touch(tmp_path, "shop/a.py", "shop/b/c.py", "shop-x/d.py", "shopx.py", "zzz.py")
    tree = Tree(tmp_path)
    assert list(tree.under("shop")) == ["shop/a.py", "shop/b/c.py"]
    assert list(tree.under("shop/")) == ["shop/a.py", "shop/b/c.py"]
    assert list(tree.under("nowhere")) == []


def test_walk_stops_at_the_file_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path, *(f"f{n}.py" for n in range(10)))
    monkeypatch.setattr(patterns, "MAX_TREE_FILES", 3)
    assert len(list(walk(tmp_path))) == 3


def test_matching_against_the_tree(tmp_path: Path) -> None:
    touch(tmp_path, "shop/models/user.py", "shop/models/order.py", "shop/api.py", "docs/a.md")
    tree = Tree(tmp_path)
    assert PatternSet(["shop/models/"]).matching(tree) == {
        "shop/models/user.py",
        "shop/models/order.py",
    }
    assert PatternSet(["shop/models/user.py", "shop/not-yet.py"]).matching(tree) == {
        "shop/models/user.py"
    }
    assert PatternSet(["*.py", "!shop/models/**"]).matching(tree) == {"shop/api.py"}
    assert PatternSet(["docs/**"]).matching(tree) == {"docs/a.md"}


def test_relative_to() -> None:
    assert relative_to("pkg/tests/test_a.py", "") == "pkg/tests/test_a.py"
    assert relative_to("pkg/tests/test_a.py", "pkg") == "tests/test_a.py"
    assert relative_to("pkgx/test_a.py", "pkg") is None
    assert relative_to("other/test_a.py", "pkg") is None


# -- the fast paths against the slow ones ------------------------------------------------
# `matching` looks only where an anchored set can match, `matches` and `PatternIndex` skip
# sets that cannot reach a path, and compiled patterns are shared: each must give what
# the plain scan with a freshly compiled spec gives.


def fake_tree(files: Iterable[str]) -> Tree:
    tree = Tree(Path("/nonexistent"))
    tree.__dict__["files"] = frozenset(files)  # what `walk` would have listed
    return tree


def slow_spec(pattern_list: Sequence[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns._for_spec(p) for p in pattern_list)


def slow_matches(pattern_set: PatternSet, path: str) -> bool:
    if not pattern_set.patterns:
        return False
    if pattern_set.only_literals:
        return any(path == lit or path.startswith(lit + "/") for lit in pattern_set.literals)
    return bool(slow_spec(pattern_set.patterns).match_file(path))


def slow_matching(pattern_set: PatternSet, files: set[str]) -> set[str]:
    if not pattern_set.patterns:
        return set()
    if pattern_set.only_literals:
        found = set()
        for lit in pattern_set.literals:
            if lit in files:
                found.add(lit)
            else:
                found.update(path for path in files if path.startswith(lit + "/"))
        return found
    spec = slow_spec(pattern_set.patterns)
    return {path for path in files if spec.match_file(path)}


SEGMENTS = [
    *("a", "b", "pkg", "src", "tests", "x.py", "a.py", "test_a.py", "a b", ".", ".."),
    *("*", "**", "*.py", "a*", "?", "b?", "[ab]", "[!a]*", "test_*.py", "\\*", "#c", ""),
]
pattern_text = st.builds(
    lambda lead, parts, tail: lead + "/".join(parts) + tail,
    st.sampled_from(["", "", "", "/", "./", "!", "!/", "!./", " ", "\\!", "#", "**/"]),
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4),
    st.sampled_from(["", "", "", "/", " ", "//", "/**"]),
)
path_text = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "", "", "./", "/"]),
    st.lists(
        st.sampled_from([s for s in SEGMENTS if s != "**"] + ["c", "docs", "y.md"]),
        min_size=1,
        max_size=4,
    ),
)
SLOW = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def compiles(pattern_list: Sequence[str]) -> bool:
    try:
        slow_spec(pattern_list)
    except Exception:
        return False
    return True


@SLOW
@example(
    pattern_list=["pkg/**", "!pkg/b.py"], files={"./pkg/a.py", "/pkg/b.py"}, probes=["/pkg/c"]
)
@example(
    pattern_list=["/docs", "src/a.py", "pkg/*"],
    files={"docs", "docs/x", "src/a.py", "src/b.py", "pkg/c", "a/docs"},
    probes=["src/a.py/x", "docs.py"],
)
@given(
    pattern_list=st.lists(pattern_text, max_size=4),
    files=st.sets(path_text, max_size=25),
    probes=st.lists(path_text, max_size=5),
)
def test_fast_matching_is_the_full_scan(
    pattern_list: list[str], files: set[str], probes: list[str]
) -> None:
    assume(compiles(pattern_list))
    pattern_set = PatternSet(pattern_list)
    assert pattern_set.matching(fake_tree(files)) == slow_matching(pattern_set, files)
    for path in [*files, *probes]:
        assert pattern_set.matches(path) == slow_matches(pattern_set, path), path


@SLOW
@example(sets=[["pkg/**"], ["*.py"], ["src/"]], paths=["./pkg/a.py", "/pkg/a.py", "/src/x"])
@given(
    sets=st.lists(st.lists(pattern_text, max_size=3), max_size=6),
    paths=st.lists(path_text, min_size=1, max_size=10),
)
def test_pattern_index_asks_every_set_that_can_match(
    sets: list[list[str]], paths: list[str]
) -> None:
    assume(all(compiles(pattern_list) for pattern_list in sets))
    items = [(f"t{n}", PatternSet(pattern_list)) for n, pattern_list in enumerate(sets)]
    index = PatternIndex(items)
    for path in paths:
        expected = [key for key, pattern_set in items if slow_matches(pattern_set, path)]
        assert index.matching(path) == expected, path


@pytest.mark.parametrize(
    ("pattern_list", "reach"),
    [
        (["pkg/a/**"], Reach(dirs=("pkg/a/",))),
        (["/pkg/a/*.py", "pkg/b*/x"], Reach(dirs=("pkg/a/", "pkg/"))),
        (["./src/a/**/*.py"], Reach(dirs=("src/a/",))),
        (["src/a.py", "src/b/**"], Reach(frozenset({"src/a.py"}), ("src/a.py/", "src/b/"))),
        (["/docs", "pkg/**"], Reach(frozenset({"docs"}), ("docs/", "pkg/"))),
        (["pkg/**", "!pkg/x/**", "!*.py"], Reach(dirs=("pkg/",))),  # negations add nothing
        (["!*.py"], Reach()),
        (
            ["shop/models/user.py"],
            Reach(frozenset({"shop/models/user.py"}), ("shop/models/user.py/",)),
        ),
        # anywhere: not anchored, a glob in the first folder, or text pathspec rewrites
        (["pkg/**", "*.py"], None),
        (["docs/"], None),
        (["/a*/b.py"], None),
        (["**/docs/*.md"], None),
        (["pkg/a/** "], None),
        ([" pkg/a/**"], None),
        (["pkg//a/*"], None),
        (["\\#pkg/a/*"], None),
    ],
)
def test_reach(pattern_list: list[str], reach: Reach | None) -> None:
    assert PatternSet(pattern_list).reach == reach


def test_matching_looks_only_where_an_anchored_set_can_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = fake_tree([f"pkg/task_{n}/m.py" for n in range(50)] + ["./pkg/task_7/odd.py"])
    asked: list[str] = []
    pattern_set = PatternSet(["pkg/task_7/**", "!pkg/task_7/skip.py"])
    real = pattern_set.spec.match_file

    def spy(path: str) -> bool:
        asked.append(path)
        return bool(real(path))

    monkeypatch.setattr(pattern_set.spec, "match_file", spy)
    assert pattern_set.matching(tree) == {"pkg/task_7/m.py", "./pkg/task_7/odd.py"}
    # pathspec reads `./x` as `x`, so such a path is always asked
    assert sorted(asked) == ["./pkg/task_7/odd.py", "pkg/task_7/m.py"]


def test_each_pattern_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    patterns._compiled.cache_clear()
    compiled: list[list[str]] = []
    real = pathspec.GitIgnoreSpec.from_lines

    def spy(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
        lines = list(lines)
        compiled.append(lines)
        return real(lines)

    monkeypatch.setattr(pathspec.GitIgnoreSpec, "from_lines", spy)
    for pattern in ("pkg/once/**", "*.once", "!pkg/once/x.py", "./pkg/once.py"):
        assert pattern_problem(pattern) is None
    pattern_set = PatternSet(["pkg/once/**", "*.once", "!pkg/once/x.py", "./pkg/once.py"])
    assert pattern_set.matches("pkg/once/a.py")
    assert not pattern_set.matches("pkg/once/x.py")
    assert pattern_set.matches("pkg/once.py")
    assert PatternSet(["*.once"]).matches("a/b.once")
    # `./pkg/once.py` is given to pathspec as `/pkg/once.py`: two texts, two compilations
    assert sorted(map(tuple, compiled)) == [
        ("!pkg/once/x.py",),
        ("*.once",),
        ("./pkg/once.py",),
        ("/pkg/once.py",),
        ("pkg/once/**",),
    ]
    # a bad pattern is not cached: it is refused each time with the same words
    assert pattern_problem("\\") == pattern_problem("\\")
