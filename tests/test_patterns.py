"""gitignore-style patterns of the plan and the project tree they are matched against."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_delegation import patterns
from pytest_delegation.patterns import PatternSet
from pytest_delegation.patterns import Tree
from pytest_delegation.patterns import literal
from pytest_delegation.patterns import pattern_problem
from pytest_delegation.patterns import relative_to
from pytest_delegation.patterns import walk


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
