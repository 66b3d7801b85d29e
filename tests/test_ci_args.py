"""What a generated CI job repeats of the generating command, and what it needs upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_delegation.ci.args import job_args
from pytest_delegation.ci.needs import blocking
from pytest_delegation.ci.needs import needed
from pytest_delegation.ci.upstream import Upstream
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (
            ["--delegation-ci=github", "-p", "no:randomly", "tests/"],
            ["-p", "no:randomly", "tests/"],
        ),
        (["--delegation-ci", "gitlab", "--delegation-ci-jobs", "3", "-x"], ["-x"]),
        (["--delegation-report", "json:r.json", "--co", "-q"], ["-q"]),
        # a bare --delegation-report keeps the path after it: it is not a report type
        (["--delegation-report", "tests/test_a.py"], ["tests/test_a.py"]),
        (["--delegation-report=markdown:x.md", "--collect-only", "-k", "slow"], ["-k", "slow"]),
        (["--delegation-task=a,b", "--delegation-upstream", "up", "--junitxml=j.xml"], []),
        (["--delegation-check=order", "--delegation-plan=auto"], ["--delegation-plan=auto"]),
    ],
)
def test_a_job_repeats_the_users_arguments_but_not_the_plugins_own(
    given: list[str], kept: list[str]
) -> None:
    assert job_args(given) == tuple(kept)


def plan_of(tasks: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    plan = plan_from_dict(
        {"tasks": {t: {"depends_on": deps} for t, deps in tasks.items()}}, Path("delegation.yaml")
    )
    plan.freeze(compute_waves(plan))
    return plan


def test_a_job_needs_the_reports_of_its_dependencies_run_elsewhere() -> None:
    plan = plan_of({"a": [], "docs": ["a"], "b": ["docs"], "c": ["a", "b"]})
    # docs has no tests, so ran in no job: b needs what docs needs
    assert needed(plan, ["b"], with_tests={"a", "b", "c"}) == ["a"]
    # a task of this job is no upstream
    assert needed(plan, ["b", "c"], with_tests={"a", "b", "c"}) == ["a"]
    assert needed(plan, ["a"], with_tests={"a", "b", "c"}) == []


def test_only_dependencies_that_did_not_pass_block() -> None:
    def up(task: str, status: str, blocked_by: str | None = None) -> Upstream:
        return Upstream(task, status, blocked_by, "wave-1-1", Path("r.json"))

    statuses = {
        "a": up("a", "passed"),
        "b": up("b", "failed"),
        "c": up("c", "blocked", blocked_by="z"),
        "d": up("d", "flaky"),
        "e": up("e", "error"),
    }
    assert blocking(statuses) == {"b": "b", "c": "z", "e": "e"}
