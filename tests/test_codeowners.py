"""CODEOWNERS as a plan: reading it, owner ids, patterns, and CODEOWNERS' own rule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import re

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from pytest_delegation.checks.static import file_conflicts
from pytest_delegation.plan.codeowners import Rule
from pytest_delegation.plan.codeowners import find_codeowners
from pytest_delegation.plan.codeowners import merge_codeowners
from pytest_delegation.plan.codeowners import owner_task_ids
from pytest_delegation.plan.codeowners import plan_from_codeowners
from pytest_delegation.plan.codeowners import plan_patterns
from pytest_delegation.plan.codeowners import read_codeowners
from pytest_delegation.plan.codeowners import rebase
from pytest_delegation.plan.codeowners import task_id
from pytest_delegation.plan.model import TASK_ID
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.ownership import Owners
from pytest_delegation.plan.patterns import Tree
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.waves import compute_waves


def read(text: str) -> list[Rule]:
    rules, problems = read_codeowners(text, "CODEOWNERS")
    assert problems == []
    return rules


def problems_of(text: str) -> list[str]:
    _, problems = read_codeowners(text, "CODEOWNERS")
    return [str(problem) for problem in problems]


def frozen(plan: Plan) -> Plan:
    plan.freeze(compute_waves(plan))
    return plan


def owners_of(text: str) -> Owners:
    return Owners(frozen(plan_from_codeowners(text, Path("/repo/CODEOWNERS"))))


# -- reading -----------------------------------------------------------------------------


def test_rules_keep_file_order_comments_and_blanks_go() -> None:
    text = (
        "# the default\n"
        "*       @org/Core-Team\n"
        "\n"
        "   # indented comment\n"
        "*.js    @js-owner  # trailing comment @not-an-owner\n"
        "/docs/  docs@example.com @Alice\r\n"
        "/config/ @@maintainer\n"
    )
    assert read(text) == [
        Rule("*", ("@org/Core-Team",), 2),
        Rule("*.js", ("@js-owner",), 5),
        Rule("/docs/", ("docs@example.com", "@Alice"), 6),
        Rule("/config/", ("@@maintainer",), 7),
    ]


def test_escaped_spaces_stay_in_the_pattern() -> None:
    assert read("path\\ with\\ spaces/ @space-owner\n") == [
        Rule("path\\ with\\ spaces/", ("@space-owner",), 1)
    ]
    assert plan_patterns("path\\ with\\ spaces/") == ("path with spaces/",)
    # gitignore drops trailing blanks: an escaped one stays escaped
    assert plan_patterns("name\\ ") == ("name\\ ",)


def test_a_pattern_without_owners_is_unowned() -> None:
    assert read("/apps/ @octocat\n/apps/github\n") == [
        Rule("/apps/", ("@octocat",), 1),
        Rule("/apps/github", (), 2),
    ]


def test_an_owner_named_twice_on_a_line_counts_once() -> None:
    assert read("* @Alice @alice @bob\n") == [Rule("*", ("@Alice", "@bob"), 1)]


def test_an_escaped_hash_is_a_pattern() -> None:
    assert read("\\#file_with_pound.rb @owner\n") == [
        Rule("\\#file_with_pound.rb", ("@owner",), 1)
    ]


def test_gitlab_sections_give_their_default_owners() -> None:
    text = (
        "* @everyone\n"
        "[Documentation][2] @docs-team\n"
        "docs/\n"
        "README.md @tech-lead\n"
        "^[Database] @db-team @dba\n"
        "model/db/\n"
        "[No defaults]\n"
        "scripts/\n"
    )
    assert read(text) == [
        Rule("*", ("@everyone",), 1),
        Rule("docs/", ("@docs-team",), 3),
        Rule("README.md", ("@tech-lead",), 4),
        Rule("model/db/", ("@db-team", "@dba"), 6),
        Rule("scripts/", (), 8),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "docs/ docs-team\n",
            "CODEOWNERS:1: 'docs-team' is not an owner*did you mean '@docs-team'?",
        ),
        ("\n\ndocs/my file.md @x\n", "CODEOWNERS:3: 'file.md' is not an owner*escape the blank*"),
        ("!secret.py @x\n", "CODEOWNERS:1: pattern '!secret.py': CODEOWNERS has no negation*"),
        ("src/[ab].py @x\n", "CODEOWNERS:1: pattern 'src/[ab].py': *no character ranges*GitHub*"),
        ("[Docs @x\n", "CODEOWNERS:1: reads as a section heading with no closing ']'*"),
        ("[] @x\n", "CODEOWNERS:1: a section heading needs a name*"),
        ("[Docs][two] @x\n", "CODEOWNERS:1: a section's approvals ('[two]') must be a number*"),
        ("docs\\\n", "CODEOWNERS:1: ends with a lone '\\'*"),
        ("../outside @x\n", "CODEOWNERS:1: pattern '../outside' leaves the plan's folder*"),
        ("@alice\n", "CODEOWNERS:1: starts with the owner '@alice' and has no pattern*"),
        ("* @x\n* @bad!name\n", "CODEOWNERS:2: '@bad!name' is not an owner*"),
    ],
)
def test_bad_lines_say_where_and_why(text: str, expected: str) -> None:
    found = problems_of(text)
    assert len(found) == 1
    # `*` stands for any text ('[' is not special here, unlike in fnmatch)
    assert re.fullmatch(".*".join(map(re.escape, expected.split("*"))), found[0]), found[0]


def test_every_problem_is_listed_with_its_line() -> None:
    text = "* @ok\nsrc/ team\n!x @a\n/docs/ @docs\n[x] @y oops\n"
    with pytest.raises(PlanError) as info:
        plan_from_codeowners(text, Path("/repo/.github/CODEOWNERS"))
    lines = [(problem.source, problem.line) for problem in info.value.problems]
    assert lines == [
        (".github/CODEOWNERS", 2),
        (".github/CODEOWNERS", 3),
        (".github/CODEOWNERS", 5),
    ]
    assert ".github/CODEOWNERS:2: 'team' is not an owner" in str(info.value)


def test_a_file_that_names_no_owner_is_refused() -> None:
    with pytest.raises(PlanError, match="CODEOWNERS: names no owner"):
        plan_from_codeowners("# nothing yet\n/docs/\n", Path("/repo/CODEOWNERS"))


# -- owner ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("@org/Team-Name", "org-team-name"),
        ("@user", "user"),
        ("@@maintainer", "maintainer"),
        ("@group/with-nested/subgroup", "group-with-nested-subgroup"),
        ("jane.doe+ci@example.com", "jane-doe-ci"),
        ("@snake_case", "snake_case"),
        ("@Zoë", "zoe"),
        ("@__", "owner"),
    ],
)
def test_task_ids(owner: str, expected: str) -> None:
    assert task_id(owner) == expected
    assert TASK_ID.fullmatch(task_id(owner))


def test_ids_that_collide_get_a_number_by_name_not_by_line() -> None:
    ids = owner_task_ids(["@org/team", "@Org-Team", "org-team@example.com", "@org-team-2"])
    assert ids == {
        "@org/team": "org-team-3",
        "@org-team": "org-team",
        "org-team@example.com": "org-team-4",
        "@org-team-2": "org-team-2",
    }
    # the same owners in another order: the same ids
    assert owner_task_ids(reversed(list(ids))) == ids
    assert all(TASK_ID.fullmatch(value) for value in ids.values())


# -- the plan ----------------------------------------------------------------------------


def test_each_owner_is_a_code_writer_task_in_first_seen_order() -> None:
    plan = plan_from_codeowners(
        "* @org/Core\n/docs/ docs@example.com @org/core\n", Path("/repo/CODEOWNERS")
    )
    assert list(plan.tasks) == ["org-core", "docs"]
    core = plan.tasks["org-core"]
    assert core.role == "code-writer"
    assert core.description == "owner @org/Core (CODEOWNERS)"
    assert core.files == ("*", "/docs/")
    assert core.line == 1
    assert plan.tasks["docs"].files == ("/docs/",)
    assert plan.tasks["docs"].line == 2
    assert plan.ownership_rules == (("*", ("org-core",), 1), ("/docs/", ("docs", "org-core"), 2))


def test_a_codeowners_file_in_github_starts_at_the_repository() -> None:
    plan = plan_from_codeowners("/src/ @core\n", Path("/repo/.github/CODEOWNERS"))
    assert plan.base == Path("/repo")
    assert plan_from_codeowners("x @a\n", Path("/repo/CODEOWNERS")).path == Path(
        "/repo/CODEOWNERS"
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/docs/", ("/docs/",)),
        ("docs/", ("docs/",)),
        ("*.js", ("*.js",)),
        ("*", ("*",)),
        ("**/logs", ("**/logs",)),
        ("docs/**", ("docs/**",)),
        ("docs/*", ("docs/*", "!docs/*/**")),
        ("/src/*.py", ("/src/*.py", "!/src/*.py/**")),
        ("/docs/**/*.md", ("/docs/**/*.md", "!/docs/**/*.md/**")),
        ("docs/*/", ("docs/*/",)),
        ("/apps/github", ("/apps/github",)),
        ("src/\\*.py", ("src/\\*.py",)),
    ],
)
def test_pattern_conversion(pattern: str, expected: tuple[str, ...]) -> None:
    assert plan_patterns(pattern) == expected


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("docs/guide.md", ("root-docs",)),
        ("docs/build-app/troubleshooting.md", ("all-docs",)),
        ("lib/x.py", ("lib-owner",)),
        ("pkg/lib/x.py", ("lib-owner",)),
        ("config/app.toml", ("config-owner",)),
        ("pkg/config/app.toml", ("default",)),
        ("web/app.js", ("js",)),
        ("logs/today", ("logger",)),
        ("a/b/logs/today", ("logger",)),
        ("apps/github/x.py", ()),
        ("apps/other.py", ("octocat",)),
        ("path with spaces/a.txt", ("space-owner",)),
        ("README", ("default",)),
    ],
)
def test_what_each_kind_of_pattern_owns(path: str, owners: tuple[str, ...]) -> None:
    text = (
        "* @default\n"
        "*.js @js\n"
        "/docs/ @all-docs\n"
        "docs/* @root-docs\n"
        "lib/ @lib-owner\n"
        "/config/ @config-owner\n"
        "**/logs @logger\n"
        "/apps/ @octocat\n"
        "/apps/github\n"
        "path\\ with\\ spaces/ @space-owner\n"
    )
    assert owners_of(text).tasks(path) == owners


# -- CODEOWNERS' rule through Owners -----------------------------------------------------


def test_the_last_matching_rule_wins() -> None:
    owners = owners_of("/src/ @core\n*.md @docs\n/src/vendor/\n")
    assert owners.tasks("src/app.py") == ("core",)
    assert owners.tasks("src/README.md") == ("docs",)
    assert owners.owns("docs", "src/README.md")
    assert not owners.owns("core", "src/README.md")
    # a later rule with no owner unowns
    assert owners.tasks("src/vendor/lib.py") == ()
    assert owners.tasks("src/vendor/NOTES.md") == ()
    assert not owners.owns("core", "src/vendor/lib.py")
    assert owners.of("src/vendor/lib.py") == (False, ())
    assert owners.tasks("setup.py") == ()
    assert owners.rule("src/README.md") == 1
    assert owners.rule("setup.py") is None


def test_an_earlier_rule_is_overridden_whatever_its_patterns_reach() -> None:
    # the reach index must still find the earlier, anchored rule first
    owners = owners_of("*.py @anyone\n/pkg/ @pkg\n/pkg/gen/*.py @gen\n")
    assert owners.tasks("pkg/a.py") == ("pkg",)
    assert owners.tasks("pkg/gen/b.py") == ("gen",)
    assert owners.tasks("pkg/gen/deep/c.py") == ("pkg",)
    assert owners.tasks("other/d.py") == ("anyone",)


def test_co_owners_come_in_plan_order_and_shared_still_holds(tmp_path: Path) -> None:
    plan = plan_from_codeowners("* @b\n/lib/ @a @b\n", tmp_path / "CODEOWNERS")
    plan.shared = ("lib/contracts.py",)
    owners = Owners(frozen(plan))
    assert owners.tasks("lib/x.py") == ("b", "a")
    assert owners.of("lib/contracts.py") == (True, ())
    assert owners.owning("lib/contracts.py") == ()
    assert owners.tasks("lib/contracts.py") == ("b", "a")


def test_a_yaml_plan_keeps_its_own_rule() -> None:
    plan = plan_from_dict(
        {"tasks": {"a": {"files": ["src/"]}, "b": {"files": ["*.md"]}}}, Path("d.yaml")
    )
    owners = Owners(frozen(plan))
    assert owners.rules == []
    assert owners.tasks("src/README.md") == ("a", "b")


# -- file conflicts ----------------------------------------------------------------------


def write(root: Path, *paths: str) -> Tree:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("", encoding="utf-8")
    return Tree(root)


def test_co_owners_of_one_wave_conflict(tmp_path: Path) -> None:
    tree = write(tmp_path, "lib/a.py", "lib/b.py", "lib/own.py", "src/x.py")
    text = "/src/ @core\n/lib/ @core @org/tools\n/lib/own.py @core\n*.py @core\n/lib/b.py @org/tools @core\n"
    plan = frozen(plan_from_codeowners(text, tmp_path / "CODEOWNERS"))
    findings = list(file_conflicts(plan, tree))
    # line 2 decides nothing (line 4 takes every .py file); line 5 decides lib/b.py
    assert [(f.task, f.other_task, f.file, f.extra["files"]) for f in findings] == [
        ("core", "org-tools", "lib/b.py", ["lib/b.py"])
    ]
    assert findings[0].message == (
        "CODEOWNERS line 5 gives lib/b.py to both 'core' and 'org-tools', tasks of wave 1"
    )
    assert findings[0].extra["codeowners_line"] == 5


def test_a_planned_file_of_co_owners_conflicts(tmp_path: Path) -> None:
    tree = write(tmp_path, "README.md")
    plan = frozen(plan_from_codeowners("/src/new.py @a @b\n", tmp_path / "CODEOWNERS"))
    assert [f.file for f in file_conflicts(plan, tree)] == ["src/new.py"]


def test_overlapping_rules_are_no_conflict(tmp_path: Path) -> None:
    tree = write(tmp_path, "src/app.py", "src/README.md", "docs/index.md")
    plan = frozen(
        plan_from_codeowners("* @all\n/src/ @core\n*.md @docs\n", tmp_path / "CODEOWNERS")
    )
    assert list(file_conflicts(plan, tree)) == []


def test_co_owners_in_different_waves_do_not_conflict(tmp_path: Path) -> None:
    tree = write(tmp_path, "lib/a.py")
    yaml_plan = plan_from_dict(
        {"tasks": {"core": {"files": ["x"]}, "tools": {"depends_on": ["core"]}}},
        tmp_path / "delegation.yaml",
    )
    rules = read("/lib/ @core @tools\n")
    plan = frozen(merge_codeowners(yaml_plan, rules))
    assert list(file_conflicts(plan, tree)) == []


# -- merging with a YAML plan ------------------------------------------------------------


def test_merge_gives_owners_files_and_adds_the_missing_owners(tmp_path: Path) -> None:
    yaml_plan = plan_from_dict(
        {
            "max_parallel": 2,
            "tasks": {
                "core": {"role": "code-writer", "files": ["old/"], "tests": ["tests/core/"]},
                "check": {"role": "test-runner", "depends_on": ["core"]},
                "scripts": {"files": ["scripts/"]},
            },
        },
        tmp_path / "delegation.yaml",
    )
    yaml_plan.freeze(compute_waves(yaml_plan))
    rules = read("/src/ @Core\n*.md docs@example.com\n/scripts/legacy/\n")
    merged = merge_codeowners(yaml_plan, rules)
    assert merged is not yaml_plan
    assert list(merged.tasks) == ["core", "check", "scripts", "docs"]
    assert merged.tasks["core"].files == ("/src/",)
    assert merged.tasks["core"].tests == ("tests/core/",)
    assert merged.tasks["docs"].role == "code-writer"
    assert merged.tasks["docs"].description == "owner docs@example.com (CODEOWNERS)"
    assert merged.max_parallel == 2
    assert merged.ownership_rules == (
        ("/src/", ("core",), 1),
        ("*.md", ("docs",), 2),
        ("/scripts/legacy/", (), 3),
    )
    # not frozen: the caller adds tasks and freezes it
    merged.max_parallel = 3
    owners = Owners(frozen(merged))
    assert owners.tasks("src/a.py") == ("core",)
    assert owners.tasks("old/a.py") == ()
    # where no rule matches, the tasks CODEOWNERS does not name keep their files
    assert owners.tasks("scripts/run.sh") == ("scripts",)
    assert owners.tasks("scripts/legacy/run.sh") == ()
    assert owners.tasks("scripts/NOTES.md") == ("docs",)


def test_tasks_codeowners_does_not_name_keep_the_plans_conflicts(tmp_path: Path) -> None:
    tree = write(tmp_path, "tools/a.py", "src/b.py")
    yaml_plan = plan_from_dict(
        {"tasks": {"x": {"files": ["tools/", "src/"]}, "y": {"files": ["*.py"]}}},
        tmp_path / "delegation.yaml",
    )
    plan = frozen(merge_codeowners(yaml_plan, read("/src/ @core\n")))
    found = [(f.task, f.other_task, f.extra["files"]) for f in file_conflicts(plan, tree)]
    # src/b.py is CODEOWNERS' (core's); tools/a.py is still claimed by both
    assert found == [("x", "y", ["tools/a.py"])]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.py", "*.py"),
        ("docs/", "docs/"),
        ("/pkg/", "**"),
        ("/pkg", "**"),
        ("/pkg/sub/a.py", "/a.py"),
        ("/pkg/sub/", "**"),
        ("/*/sub/x/", "/x/"),
        ("/pkg/**/x.py", "**/x.py"),
        ("**/logs", "**/logs"),
        ("/pkg/*", None),
        ("/other/", None),
        ("/pkg/subtle/", None),
    ],
)
def test_rules_move_to_the_plans_folder(pattern: str, expected: str | None) -> None:
    moved = rebase([Rule(pattern, ("@a",), 1)], "pkg/sub")
    assert [rule.pattern for rule in moved] == ([] if expected is None else [expected])


# -- where the file is -------------------------------------------------------------------


def test_find_codeowners_looks_where_github_looks(tmp_path: Path) -> None:
    assert find_codeowners(tmp_path) is None
    for location in (".gitlab/CODEOWNERS", "docs/CODEOWNERS", "CODEOWNERS", ".github/CODEOWNERS"):
        write(tmp_path, location)
        assert find_codeowners(tmp_path) == tmp_path / location
    (tmp_path / "folder" / "CODEOWNERS").mkdir(parents=True)
    assert find_codeowners(tmp_path / "folder") is None


# -- fuzz --------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
pieces = st.sampled_from(
    [
        "*", "**", "/", "docs/", "/src/", "*.py", "a\\ b", "\\", "\\#x", "!", "[", "]", "[S]",
        "^[Opt]", "[S][2]", "[]", "[S][x]", "#", " # c", "@a", "@org/team", "@@dev", "x@y.org",
        "team", "..", "../x", "\t", " ", "  ", "\r", "\ufeff", "é", "\x00", "@", "a@b",
    ]
)  # fmt: skip
lines = st.lists(st.one_of(pieces, st.text(max_size=6)), max_size=6).map("".join)


@FUZZ
@given(st.lists(lines, max_size=12).map("\n".join))
def test_any_text_gives_rules_or_problems_with_lines(text: str) -> None:
    rules, problems = read_codeowners(text, "CODEOWNERS")
    count = text.count("\n") + 1
    assert all(problem.line is not None and 1 <= problem.line <= count for problem in problems)
    assert all(1 <= rule.line <= count for rule in rules)
    try:
        plan = plan_from_codeowners(text, Path("/repo/CODEOWNERS"))
    except PlanError as exc:
        assert exc.problems
        return
    assert not problems
    owners = Owners(frozen(plan))
    for path in ("a", "docs/x.py", "src/a b/c", "#x"):
        assert set(owners.tasks(path)) <= set(plan.tasks)


def test_a_planned_folder_of_co_owners_conflicts_until_it_has_files(tmp_path: Path) -> None:
    plan = frozen(plan_from_codeowners("/new/ @a @b\n", tmp_path / "CODEOWNERS"))
    assert [f.file for f in file_conflicts(plan, write(tmp_path, "README.md"))] == ["new"]
    assert [f.file for f in file_conflicts(plan, write(tmp_path, "new/x.py"))] == ["new/x.py"]
