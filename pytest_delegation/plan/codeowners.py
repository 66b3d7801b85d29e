"""CODEOWNERS (GitHub's and GitLab's) as a delegation plan: each owner is a task.

A team that has a CODEOWNERS file has already said who owns what; writing it again as
``files:`` would be a second map that drifts from the first. Ownership then follows
CODEOWNERS' own rule, not the plan's: the last matching line names a path's owners
(``Plan.ownership_rules``, answered by ``plan.ownership.Owners``).

CODEOWNERS patterns are gitignore patterns with exceptions; `plan_patterns` gives the
plan's (gitignore-style) patterns for one:

- `/docs/` (anchored), `docs/` and `*.js` (anywhere), `**`: the same in both;
- an anchored pattern whose last part is a wildcard (`docs/*`, `/src/*.py`) owns the files
  of that folder, not those of its subfolders (gitignore would take a whole folder that
  `*` matches): `!docs/*/**` follows it;
- `\\ ` (an escaped space) is a space;
- `!` (negation) and `[...]` (character ranges) are refused: GitHub does not support them.

GitLab's sections (`[Name]`, `^[Optional]`, `[Name][2]`) are read for their default
owners; their approval counts, and GitLab's per-section answer, are not modelled: the
last matching line of the whole file decides, as on GitHub.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
import fnmatch
from pathlib import Path
import re
import unicodedata

from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.patterns import pattern_problem
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem


#: where GitHub looks, in its order, then GitLab's own folder
LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
#: folders a CODEOWNERS file may sit in while its patterns start at the folder above
_HOME_FOLDERS = frozenset({".github", ".gitlab", "docs"})
ROLE = "code-writer"
#: `@user`, `@org/team`, GitLab's `@group/sub/group` and `@@role`
HANDLE = re.compile(r"@@?[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*", re.ASCII)
EMAIL = re.compile(r"[^\s@\\#]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", re.ASCII)
#: a heading `[Name]`, `^[Name]`, `[Name][2]`, then its default owners
SECTION = re.compile(r"(\^?)\[([^\]]*)\](?:\[([^\]]*)\])?(?=[ \t]|$)")
#: what a problem is told to
_Report = Callable[[str], None]
_WILDCARD = re.compile(r"(?<!\\)(?:\\\\)*[*?]")


@dataclass(frozen=True)
class Rule:
    """One CODEOWNERS line: a pattern (as written, escapes kept) and its owners.

    No owners: the line makes the paths it matches unowned (unless a GitLab section gave
    it its default owners).
    """

    pattern: str
    owners: tuple[str, ...]
    line: int


def read_codeowners(text: str, source: str) -> tuple[list[Rule], list[PlanProblem]]:
    """The rules of a CODEOWNERS file in file order, and every problem with its line."""
    rules: list[Rule] = []
    problems: list[PlanProblem] = []
    defaults: tuple[str, ...] = ()
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = raw.removesuffix("\r")
        messages: list[str] = []
        problem = messages.append
        stripped = line.lstrip(" \t")
        heading = SECTION.match(stripped) if stripped.startswith(("[", "^[")) else None
        if heading is not None:
            tokens = _tokens(stripped[heading.end() :], problem)
            defaults = _owners(tokens, problem)
            name, approvals = heading.group(2), heading.group(3)
            if not name.strip():
                problem("a section heading needs a name between '[' and ']' (like '[Docs]')")
            if approvals is not None and not approvals.strip().isdigit():
                problem(
                    f"a section's approvals ('[{approvals}]') must be a number, like "
                    f"'[{name or 'Docs'}][2]'"
                )
        elif stripped.startswith(("[", "^[")) and "]" not in stripped:
            problem(
                "reads as a section heading with no closing ']'; write '[Section name]', "
                "or escape the '[' of a pattern as '\\['"
            )
        else:
            tokens = _tokens(stripped, problem)
            if tokens:
                pattern, owners = tokens[0], _owners(tokens[1:], problem)
                _check_pattern(pattern, len(tokens) == 1, problem)
                if not messages:
                    rules.append(Rule(pattern, owners if tokens[1:] else defaults, number))
        problems.extend(PlanProblem(source, number, message) for message in messages)
    return rules, problems


def _tokens(line: str, problem: _Report) -> list[str]:
    """The blank-separated words of a line, escapes kept, up to a word starting with '#'."""
    tokens: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            if index + 1 == len(line):
                problem("ends with a lone '\\'; escape a space as '\\ ', or drop the '\\'")
                break
            current.append(line[index : index + 2])
            index += 2
            continue
        if char in " \t":
            if current:
                tokens.append("".join(current))
                current = []
        elif char == "#" and not current:
            # a comment: the whole line, or its end after a blank
            break
        else:
            current.append(char)
        index += 1
    if current:
        tokens.append("".join(current))
    return tokens


def _owners(tokens: Sequence[str], problem: _Report) -> tuple[str, ...]:
    """The valid owners among `tokens`, each once (GitHub's names ignore case)."""
    owners: dict[str, str] = {}
    for token in tokens:
        if HANDLE.fullmatch(token) or EMAIL.fullmatch(token):
            owners.setdefault(token.lower(), token)
            continue
        if "*" in token or "." in token:
            hint = "; if it belongs to the pattern, escape the blank before it as '\\ '"
        elif HANDLE.fullmatch("@" + token):
            hint = f"; did you mean '@{token}'?"
        else:
            hint = ""
        problem(f"'{token}' is not an owner: write @user, @org/team or an email address{hint}")
    return tuple(owners.values())


def _check_pattern(pattern: str, alone: bool, problem: _Report) -> None:
    if pattern.startswith("!"):
        problem(
            f"pattern '{pattern}': CODEOWNERS has no negation ('!'; GitHub does not support "
            "it); to leave paths unowned, write their pattern with no owner after a broader one"
        )
        return
    if re.search(r"(?<!\\)(?:\\\\)*\[", pattern):
        problem(
            f"pattern '{pattern}': CODEOWNERS has no character ranges ('[...]'; GitHub does "
            "not support them); name the files, or use '*' or '?'"
        )
        return
    if alone and re.fullmatch(r"@@?[A-Za-z0-9_][A-Za-z0-9_.-]*", pattern):
        problem(
            f"starts with the owner '{pattern}' and has no pattern; a rule is a pattern "
            "followed by its owners (like '*.py @team')"
        )
        return
    for line in plan_patterns(pattern):
        reason = pattern_problem(line)
        if reason:
            problem(f"pattern '{pattern}' {reason}")
            return


def plan_patterns(pattern: str) -> tuple[str, ...]:
    """The plan's gitignore-style patterns that match what a CODEOWNERS pattern matches.

    See the module's docstring for where the two differ.
    """
    body = pattern.replace("\\ ", " ")
    if body != body.strip():
        # gitignore drops a pattern's trailing blanks: keep those escaped
        body = pattern
    if body.endswith("/"):
        return (body,)
    head, _, last = body.lstrip("/").rpartition("/")
    anchored = body.startswith("/") or bool(head)
    if anchored and last != "**" and _WILDCARD.search(last):
        return (body, f"!{body}/**")
    return (body,)


def task_id(owner: str) -> str:
    """A task id for an owner: `@org/Team-Name` -> `org-team-name`, `a.b@x.org` -> `a-b`.

    Ids of different owners may be the same: `owner_task_ids` tells them apart.
    """
    name = owner.lstrip("@")
    if "@" in name:
        name = name.split("@", 1)[0]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    parts = re.split(r"([^a-z0-9]+)", name)
    slug = "".join(
        part if number % 2 == 0 else ("_" if part == "_" else "-")
        for number, part in enumerate(parts)
    ).strip("-_")
    return slug or "owner"


def owner_task_ids(owners: Iterable[str]) -> dict[str, str]:
    """Each owner's task id, by the owner in lowercase (GitHub's names ignore case).

    Owners whose ids are the same are told apart by their names' order, not the file's:
    the first keeps the id, the others get `-2`, `-3`, so moving a line changes no id.
    """
    keys = list(dict.fromkeys(owner.lower() for owner in owners))
    by_slug: dict[str, list[str]] = {}
    for key in keys:
        by_slug.setdefault(task_id(key), []).append(key)
    taken = set(by_slug)
    ids: dict[str, str] = {}
    for slug, group in by_slug.items():
        first, *others = sorted(group)
        ids[first] = slug
        suffix = 2
        for key in others:
            while f"{slug}-{suffix}" in taken:
                suffix += 1
            ids[key] = f"{slug}-{suffix}"
            taken.add(ids[key])
    return {key: ids[key] for key in keys}


def ownership_rules(
    rules: Iterable[Rule], ids: dict[str, str]
) -> tuple[tuple[str, tuple[str, ...], int], ...]:
    """Rules as ``Plan.ownership_rules`` holds them: owners as task ids."""
    return tuple(
        (rule.pattern, tuple(ids[owner.lower()] for owner in rule.owners), rule.line)
        for rule in rules
    )


def _owned_files(rules: Iterable[Rule]) -> dict[str, tuple[list[str], str, int]]:
    """Owner (lowercase) -> (the plan patterns of its rules, its first spelling, first line)."""
    found: dict[str, tuple[list[str], str, int]] = {}
    for rule in rules:
        for owner in rule.owners:
            files, _, _ = found.setdefault(owner.lower(), ([], owner, rule.line))
            files.extend(p for p in plan_patterns(rule.pattern) if p not in files)
    return found


def _description(owner: str) -> str:
    return f"owner {owner} (CODEOWNERS)"


def codeowners_root(path: Path) -> Path:
    """The folder a CODEOWNERS file's patterns start at: the repository's, not `.github/`."""
    return path.parent.parent if path.parent.name in _HOME_FOLDERS else path.parent


def plan_from_codeowners(text: str, path: Path, root: Path | None = None) -> Plan:
    """A plan with a task per owner of a CODEOWNERS file; PlanError lists every problem.

    Patterns start at `root` (by default `codeowners_root(path)`). A plan's patterns start
    at its file's folder, so the plan's path is `root / 'CODEOWNERS'` when the file sits
    in `.github/` (or another folder): problems still name the file where it is.
    """
    root = codeowners_root(path) if root is None else root
    try:
        source = path.relative_to(root).as_posix()
    except ValueError:
        source = path.name
    rules, problems = read_codeowners(text, source)
    if problems:
        raise PlanError(problems)
    owned = _owned_files(rules)
    if not owned:
        raise PlanError(
            [
                PlanProblem(
                    source,
                    None,
                    "names no owner, so it gives no task; add a line 'pattern @owner' "
                    "(like '* @team')",
                )
            ]
        )
    ids = owner_task_ids(owned)
    data = {
        "tasks": {
            ids[key]: {"role": ROLE, "description": _description(owner), "files": files}
            for key, (files, owner, _) in owned.items()
        }
    }
    plan = plan_from_dict(data, path if path.parent == root else root / path.name)
    for key, (_, _, line) in owned.items():
        task = plan.tasks[ids[key]]
        plan.tasks[task.id] = replace(task, line=line, positions={"files": line})
    plan.ownership_rules = ownership_rules(rules, ids)
    return plan


def merge_codeowners(plan: Plan, rules: Sequence[Rule], folder: str = "") -> Plan:
    """A plan's tasks with a CODEOWNERS map's ownership: a new plan, not frozen.

    The task whose id is an owner's task id gets that owner's files (its own ``files:``
    are replaced); an owner with no task becomes a new code-writer task. Where no rule
    matches a path, the ``files:`` of the tasks CODEOWNERS does not name still decide
    (see `plan.ownership`). `folder` is the plan's folder relative to the CODEOWNERS
    root (POSIX, '' when the same): the rules are moved to start there.
    """
    rules = rebase(rules, folder)
    owned = _owned_files(rules)
    ids = owner_task_ids(owned)
    tasks = dict(plan.tasks)
    for key, (files, owner, _) in owned.items():
        found = tasks.get(ids[key])
        if found is None:
            tasks[ids[key]] = Task(
                ids[key], role=ROLE, description=_description(owner), files=tuple(files)
            )
        else:
            positions = {k: v for k, v in found.positions.items() if k != "files"}
            tasks[ids[key]] = replace(found, files=tuple(files), positions=positions)
    return replace(
        plan,
        tasks=tasks,
        lines=dict(plan.lines),
        waves=(),
        ownership_rules=ownership_rules(rules, ids),
        _frozen=False,
    )


def rebase(rules: Sequence[Rule], folder: str) -> list[Rule]:
    """Rules relative to a folder below their root; rules that cannot match there go.

    A pattern that matches anywhere stays; an anchored one loses the folder's parts it
    matches (a wildcard part matches by name; at a `**` the rest is kept as it is).
    """
    parts = [part for part in folder.strip("/").split("/") if part]
    if not parts:
        return list(rules)
    result = []
    for rule in rules:
        pattern = _rebased(rule.pattern, parts)
        if pattern is not None:
            result.append(replace(rule, pattern=pattern))
    return result


def _rebased(pattern: str, folder: list[str]) -> str | None:
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    segments = body.split("/")
    if not pattern.startswith("/") and len(segments) == 1:
        # no slash but a trailing one: it matches at any depth, the folder's too
        return pattern
    for index, name in enumerate(folder):
        if index == len(segments):
            break
        segment = segments[index]
        if segment == "**":
            return "/".join(segments[index:]) + ("/" if directory else "")
        if not fnmatch.fnmatchcase(name, segment.replace("\\ ", " ")):
            return None
    rest = segments[len(folder) :]
    if rest:
        return "/" + "/".join(rest) + ("/" if directory else "")
    # the pattern names this folder, or one holding it: all of it, unless its last part
    # is a wildcard, which owns the files of its folder only
    last = segments[-1]
    return "**" if directory or last == "**" or not _WILDCARD.search(last) else None


def find_codeowners(root: Path) -> Path | None:
    """The CODEOWNERS file of a repository, looked for where GitHub (then GitLab) looks."""
    for location in LOCATIONS:
        candidate = root / location
        if candidate.is_file():
            return candidate
    return None
