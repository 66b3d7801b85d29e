"""Findings: what the checks report, with a stable rule id and a fix a person can act on."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pytest_delegation.plan.problems import did_you_mean


ERROR = "error"
WARNING = "warning"

RULES: Mapping[str, str] = {
    "file-conflict": ERROR,
    "resource-conflict": ERROR,
    "unverified-task": ERROR,
    "verification-before-implementation": ERROR,
    "wave-overload": WARNING,
    "untagged-test": WARNING,
    "ambiguous-test": ERROR,
    "hidden-ordering-dependency": ERROR,
    "wave-order-dependency": ERROR,
    "flaky": WARNING,
    "boundary-violation": ERROR,
    "unowned-file": WARNING,
    "unplanned-change": ERROR,
    "out-of-bounds-change": ERROR,
    "merge-conflict": ERROR,
    "integration-failure": ERROR,
    "code-outside-worktree": ERROR,
}
FAIL_ON = {"error": (ERROR,), "warning": (ERROR, WARNING), "never": ()}


@dataclass(frozen=True)
class Finding:
    """One broken promise of the plan.

    `rule` is a key of `RULES`, whose level `severity` takes when not given. `task` is the
    task it concerns and `other_task` the other one involved; `test`, `file` and `line` say
    where. `extra` holds the rule's own details: ``to_json`` puts them beside the fields
    above, so its keys are part of the report format.
    """

    rule: str
    message: str
    fix: str = ""
    severity: str = ""
    task: str | None = None
    other_task: str | None = None
    test: str | None = None
    file: str | None = None
    line: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", RULES[self.rule])

    def where(self) -> str:
        """Where it applies, in the order a person looks for it."""
        parts = []
        if self.task:
            parts.append(f"task {self.task}")
        if self.other_task:
            parts.append(f"with {self.other_task}")
        test_file = self.test.split("::", 1)[0] if self.test else None
        if self.file and self.file != test_file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        elif self.test:
            parts.append(self.test)
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "severity": self.severity}
        for key in ("task", "other_task", "test", "file", "line"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data.update(self.extra)
        data["message"] = self.message
        if self.fix:
            data["fix"] = self.fix
        return data


def parse_ignores(entries: Iterable[str]) -> tuple[set[tuple[str, str | None]], list[str]]:
    """`delegation_ignore` lines (`rule` or `rule:task`) and the problems among them."""
    ignores: set[tuple[str, str | None]] = set()
    problems = []
    for entry in entries:
        for word in entry.replace(",", " ").split():
            rule, _, task = word.partition(":")
            if rule not in RULES:
                problems.append(
                    f"delegation_ignore: unknown rule '{rule}'{did_you_mean(rule, RULES)}"
                )
                continue
            ignores.add((rule, task or None))
    return ignores, problems


def is_ignored(finding: Finding, ignores: set[tuple[str, str | None]]) -> bool:
    return (finding.rule, None) in ignores or (finding.rule, finding.task) in ignores


def fails(findings: Iterable[Finding], fail_on: str) -> bool:
    levels = FAIL_ON[fail_on]
    return any(f.severity in levels for f in findings)
