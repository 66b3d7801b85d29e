"""Getting the plan a run uses: the hook, the YAML file, or one inferred from the tests."""

from __future__ import annotations

from collections.abc import Iterable
import os
from pathlib import Path
import re

import pytest

from pytest_delegation.options import Settings
from pytest_delegation.options import plan_path
from pytest_delegation.plan.codeowners import codeowners_root
from pytest_delegation.plan.codeowners import find_codeowners
from pytest_delegation.plan.codeowners import merge_codeowners
from pytest_delegation.plan.codeowners import plan_from_codeowners
from pytest_delegation.plan.codeowners import read_codeowners
from pytest_delegation.plan.model import MissingPlan
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import dangling_link
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import read_plan_file
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.waves import compute_waves


AUTO = "auto"


def configured_plan(config: pytest.Config, settings: Settings) -> Plan:
    """The plan of this run, amended by hooks, validated, with its waves; else UsageError."""
    path = _plan_path(config, settings)
    try:
        plan = config.hook.pytest_delegation_load_plan(config=config, path=path)
        codeowners = _codeowners_path(config, settings)
        if plan is None:
            plan = _read_plan(config, settings, path, codeowners)
        elif not isinstance(plan, Plan):
            raise pytest.UsageError(
                "pytest_delegation_load_plan returned "
                f"{type(plan).__name__}; return a pytest_delegation.Plan or None"
            )
        if codeowners is not None and not plan.ownership_rules:
            plan = _with_codeowners(plan, codeowners)
        return finish(config, plan)
    except PlanError as exc:
        raise pytest.UsageError(str(exc)) from None


def _read_plan(
    config: pytest.Config, settings: Settings, path: Path, codeowners: Path | None
) -> Plan:
    """The plan file (YAML, Markdown or spec-kit, by content; a CODEOWNERS file by name).

    Without a plan file where the default one would be, the repository's CODEOWNERS
    (``delegation_codeowners``, or the usual places) is the plan: a task per owner.
    """
    if path.name == "CODEOWNERS":
        return _codeowners_plan(path)
    try:
        return load_plan(path)
    except MissingPlan:
        found = codeowners or (find_codeowners(config.rootpath) if settings.plan is None else None)
        if found is None:
            raise pytest.UsageError(missing_plan(path)) from None
        return _codeowners_plan(found)


def _codeowners_path(config: pytest.Config, settings: Settings) -> Path | None:
    if not settings.codeowners:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / settings.codeowners


def _codeowners_plan(path: Path) -> Plan:
    return plan_from_codeowners(_codeowners_text(path), path)


def _codeowners_text(path: Path) -> str:
    try:
        return read_plan_file(path).decode("utf-8-sig")
    except MissingPlan:
        raise pytest.UsageError(
            f"delegation_codeowners: {path} does not exist; point the ini option at the "
            "repository's CODEOWNERS file (.github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS)"
        ) from None
    except UnicodeDecodeError:
        raise PlanError([PlanProblem(str(path), None, "is not UTF-8 text")]) from None


def _with_codeowners(plan: Plan, path: Path) -> Plan:
    """A plan whose tasks take their files from CODEOWNERS (ini ``delegation_codeowners``)."""
    rules, problems = read_codeowners(_codeowners_text(path), path.name)
    if problems:
        raise PlanError(problems)
    root = codeowners_root(path)
    try:
        folder = plan.base.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        folder = ""
    return merge_codeowners(plan, rules, "" if folder == "." else folder)


def _plan_path(config: pytest.Config, settings: Settings) -> Path:
    """`plan_path`, or the same path unresolved where resolving fails.

    ``Path.resolve`` raises on a symbolic link loop (before Python 3.13); the path is
    then kept as written, and reading it says what is wrong with it.
    """
    try:
        return plan_path(config, settings)
    except (OSError, RuntimeError):
        ini = config.inipath if settings.plan_from_ini else None
        base = ini.parent if ini is not None else config.invocation_params.dir
        return Path(os.path.abspath(base / (settings.plan or "delegation.yaml")))


def finish(config: pytest.Config, plan: Plan) -> Plan:
    config.hook.pytest_delegation_modify_plan(config=config, plan=plan)
    plan.freeze(compute_waves(plan))
    return plan


def missing_plan(path: Path) -> str:
    return (
        f"no delegation plan: looked for {path}{dangling_link(path)}.\n"
        "  Write one (see the README's 'plan format'), point --delegation-plan at it,\n"
        "  or try --delegation-plan=auto: one task per test module, all in one wave."
    )


def infer_plan(test_files: Iterable[str], rootdir: Path) -> Plan:
    """One task per test module, all in one wave: a start for a suite without a plan."""
    plan = Plan(path=rootdir / "delegation.yaml")
    taken: set[str] = set()
    for file in sorted(set(test_files)):
        base = re.sub(r"[^a-z0-9]+", "-", file.rsplit(".", 1)[0].lower()).strip("-") or "tests"
        task_id, n = base, 2
        while task_id in taken:
            task_id, n = f"{base}-{n}", n + 1
        taken.add(task_id)
        plan.add_task(Task(id=task_id, role="test-module", tests=("/" + file,)))
    plan.max_parallel = max(plan.max_parallel, len(plan.tasks))
    return plan


def plan_label(plan: Plan, settings: Settings, rootdir: Path) -> str:
    """The plan as the report names it: rootdir-relative, or ``auto``."""
    if settings.plan == AUTO:
        return AUTO
    try:
        return plan.path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return plan.path.as_posix()
