"""`--delegation-suggest`: the plan this run says you should have, written beside the report.

A plan read from YAML is edited in place of its text (comments, order and layout kept,
only the lines a change needs touched); any other plan (Markdown, spec-kit, CODEOWNERS,
inferred from the tests) is written out as a fresh YAML plan, each change commented.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.suggest import Change
from pytest_delegation.checks.suggest import render_changes
from pytest_delegation.checks.suggest import starting_plan
from pytest_delegation.checks.suggest import suggest
from pytest_delegation.plan.edit import EditError
from pytest_delegation.plan.edit import apply_to_yaml
from pytest_delegation.plan.edit import render_plan
from pytest_delegation.plan.formats import detect
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.files import write_atomic


@dataclass(frozen=True)
class Suggestion:
    path: Path
    changes: Sequence[Change]
    #: why a starting plan gave out no files, when it did not
    note: str | None = None

    def lines(self) -> list[str]:
        if not self.changes:
            tail = f" ({self.note})" if self.note else ""
            return [f"delegation: suggested plan {self.path}: nothing to change{tail}"]
        count = len(self.changes)
        head = f"delegation: suggested plan {self.path}: {count} change{'s' * (count != 1)}"
        return [head, *(f"  {line}" for line in render_changes(self.changes))]


def write_suggestion(
    plan: Plan,
    findings: Sequence[Finding],
    executed: Mapping[str, Collection[str]],
    *,
    dest: Path,
    plan_dir: str,
    inferred: bool,
    tests_of: Mapping[str, Sequence[str]],
    test_files: Collection[str],
    durations: Mapping[str, float],
) -> Suggestion:
    """Work out the changes, write the plan with them (atomically), and say what changed.

    OSError when the file cannot be written: the caller reports it like a report file.
    """
    if inferred:
        changes = starting_plan(plan, executed, findings, test_files=test_files, plan_dir=plan_dir)
        header = (
            "A starting plan for this codebase, inferred by pytest-delegation from what "
            "each test module's tests ran:\none task per test module; review the roles "
            "and descriptions, then check it with: pytest --delegation-report "
            f"--delegation-plan={dest.name}"
        )
        text = render_plan(plan, changes, tests_of, header=header)
    else:
        changes = suggest(plan, findings, executed, plan_dir=plan_dir, durations=durations)
        source = _source_text(plan.path)
        text = ""
        if source is not None and detect(source) == "yaml":
            try:
                text = apply_to_yaml(source, changes)
            except EditError:
                # a shape the editor does not rewrite (a YAML alias it would have to
                # expand): the plan is written out whole, without the user's comments
                text = ""
        if not text:
            header = (
                f"The plan of {plan.path.name}, as YAML, with the changes this run of "
                "pytest-delegation suggests"
            )
            # the plan's own tests: selectors; its markers still map the rest
            text = render_plan(plan, changes, header=header)
    write_atomic(dest, text)
    note = None
    if inferred and not any(executed.values()):
        note = (
            "no test ran a project file under rootdir, so no task got files: run with "
            "the boundaries check, and test the code of this checkout (an editable "
            "install of another checkout runs that one's files)"
        )
    return Suggestion(dest, changes, note)


def _source_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
