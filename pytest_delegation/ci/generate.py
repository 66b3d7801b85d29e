"""`--delegation-ci`: the plan as CI jobs, written where the CI system reads them.

Nothing runs: the session collects (to know which tasks have tests), then this module
plans the jobs, renders them and writes the file atomically. A file at the destination
that the plugin did not write is never overwritten: it is the user's.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_delegation.ci.args import job_args
from pytest_delegation.ci.jobs import Job
from pytest_delegation.ci.jobs import plan_jobs
from pytest_delegation.ci.template import TemplateError
from pytest_delegation.ci.template import load_template
from pytest_delegation.ci.workflows import HEADER_MARK
from pytest_delegation.ci.workflows import CiError
from pytest_delegation.ci.workflows import Setup
from pytest_delegation.ci.workflows import render_github
from pytest_delegation.ci.workflows import render_gitlab
from pytest_delegation.ci.workflows import render_matrix
from pytest_delegation.collect.cache import durations as recorded_durations
from pytest_delegation.collect.loading import plan_label
from pytest_delegation.options import Settings
from pytest_delegation.plan.model import Plan
from pytest_delegation.report.files import write_atomic


class GenerateError(Exception):
    """The jobs cannot be written; the message names the file and the fix."""


@dataclass(frozen=True)
class Generated:
    target: str
    #: the file written, or None for standard output
    path: Path | None
    text: str
    jobs: Sequence[Job]

    def summary(self, tasks: int) -> str:
        waves = len({job.wave for job in self.jobs})
        where = str(self.path) if self.path is not None else "standard output"
        return (
            f"delegation: wrote {self.target} jobs to {where}: {len(self.jobs)} "
            f"job{'s' * (len(self.jobs) != 1)} for {tasks} task{'s' * (tasks != 1)} "
            f"in {waves} wave{'s' * (waves != 1)}"
        )


def generate(
    plan: Plan,
    with_tests: Collection[str],
    *,
    target: str,
    dest: str,
    base: Path,
    schedule: str,
    durations: Mapping[str, float],
    limit: int | None,
    setup: Setup,
    template: Path | None,
) -> Generated:
    tasks = [t for wave in plan.waves for t in wave if t in with_tests]
    jobs = plan_jobs(plan, tasks, schedule=schedule, durations=durations, limit=limit)
    if template is not None:
        setup = Setup(
            pytest_args=setup.pytest_args,
            order_job=setup.order_job,
            template=load_template(template),
            plan_label=setup.plan_label,
        )
    if target == "github":
        text = render_github(jobs, setup, schedule)
    elif target == "gitlab":
        text = render_gitlab(jobs, setup, schedule)
    else:
        text = render_matrix(jobs)
    if dest == "-":
        return Generated(target, None, text, jobs)
    path = base / dest
    _refuse_foreign(path)
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise GenerateError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    return Generated(target, path, text, jobs)


def _refuse_foreign(path: Path) -> None:
    """A file the plugin did not generate is the user's: say so rather than replace it."""
    if path.is_dir():
        raise GenerateError(f"{path} is a folder: give a file name (--delegation-ci=TARGET:PATH)")
    if not path.exists() or path.suffix == ".json":
        return
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:500]
    except OSError as exc:
        raise GenerateError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if HEADER_MARK not in head:
        raise GenerateError(
            f"{path} exists and was not written by pytest-delegation: it is left as it is; "
            "remove it, or write the jobs elsewhere (--delegation-ci=TARGET:PATH)"
        )


def from_config(
    config: pytest.Config, settings: Settings, plan: Plan, task_of_tests: Collection[str]
) -> Generated:
    """The jobs for this pytest invocation; a usage error when they cannot be written."""
    assert settings.ci is not None
    target, dest = settings.ci
    template = None
    if settings.ci_template:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        template = base / settings.ci_template
    args = job_args(config.invocation_params.args)
    if "order" not in settings.checks:
        # no order-check job: every job runs the checks this command was given
        args += (f"--delegation-check={','.join(settings.checks) or 'none'}",)
    setup = Setup(
        pytest_args=args,
        order_job="order" in settings.checks,
        plan_label=plan_label(plan, settings, config.rootpath),
    )
    try:
        return generate(
            plan,
            set(task_of_tests),
            target=target,
            dest=dest,
            base=config.rootpath,
            schedule=settings.schedule,
            durations=recorded_durations(config),
            limit=settings.ci_jobs,
            setup=setup,
            template=template,
        )
    except (GenerateError, TemplateError, CiError) as exc:
        raise pytest.UsageError(f"--delegation-ci={target}: {exc}") from None
