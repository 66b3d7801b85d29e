"""The checks that need only the plan and the collection: run before any test.

The static rules (`static`), the import boundaries (`imports`, cached in pytest's cache
between runs) and, with ``--delegation-diff``, the changed files against the plan
(`changes`, git asked in `git`).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path

import pytest

from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.static import Context
from pytest_delegation.checks.static import static_findings
from pytest_delegation.collect.mapping import Assignment
from pytest_delegation.collect.mapping import TestRef
from pytest_delegation.collect.mapping import plan_folder
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.patterns import Tree


IMPORTS_CACHE = "delegation/imports"


def collection_findings(
    config: pytest.Config,
    plan: Plan,
    assignment: Assignment,
    refs: Mapping[str, TestRef],
    complete: bool,
    plan_file: str,
    boundaries: bool,
    diff: str | None,
) -> Iterator[Finding]:
    context = Context(
        plan=plan,
        tree=Tree(plan.base),
        assignment=assignment,
        refs=refs,
        complete_collection=complete,
        plan_file=plan_file,
    )
    yield from static_findings(context)
    if boundaries:
        yield from _imports(config, plan, context.tree)
    if diff:
        yield from _changes(config.rootpath, plan, diff)


def _imports(config: pytest.Config, plan: Plan, tree: Tree) -> list[Finding]:
    """Static half of the boundaries: what a task's own files import."""
    from pytest_delegation.checks.imports import import_findings

    store = getattr(config, "cache", None)
    cached = store.get(IMPORTS_CACHE, {}) if store is not None else {}
    cache = cached if isinstance(cached, dict) else {}
    findings = import_findings(
        plan,
        tree,
        plan_folder(plan, config.rootpath),
        pythonpath=config.getini("pythonpath"),
        test_files=config.getini("python_files"),
        cache=cache,
    )
    if store is not None:
        store.set(IMPORTS_CACHE, cache)
    return findings


def _changes(rootdir: Path, plan: Plan, ref: str) -> list[Finding]:
    from pytest_delegation.checks.changes import ChangesError
    from pytest_delegation.checks.changes import changed_files
    from pytest_delegation.checks.changes import diff_findings
    from pytest_delegation.checks.changes import task_commits

    try:
        changed = changed_files(rootdir, ref)
        commits = task_commits(rootdir, ref)
    except ChangesError as exc:
        raise pytest.UsageError(str(exc)) from None
    return diff_findings(plan, plan_folder(plan, rootdir), changed, commits, ref=ref)
