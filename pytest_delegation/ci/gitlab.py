"""The GitLab CI pipeline: a stage per wave, the jobs' reports as artifacts, one combine.

``waves``: one job per wave with a ``parallel:matrix`` entry per job. A wave waits for
the stage before (no ``needs:``), so it gets the artifacts of every earlier wave: a
task's dependency may be several waves back. ``dag``: one job per job whose ``needs:``
are the jobs of its tasks' dependencies, with their artifacts. GitLab unpacks needed
artifacts where they were made, so the reports of earlier jobs arrive in
``delegation-reports/`` beside the job's own, and that folder is the upstream one.
Jobs that wait run ``when: always``: a failed dependency makes its dependents' tasks
``blocked`` in their reports, which is the verdict to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_delegation.ci.jobs import Job
from pytest_delegation.ci.template import GITLAB_SETUP
from pytest_delegation.ci.template import gitlab_setup
from pytest_delegation.ci.workflows import COMBINE_JOB
from pytest_delegation.ci.workflows import JOB_ARG
from pytest_delegation.ci.workflows import JOB_VARIABLE
from pytest_delegation.ci.workflows import ORDER_JOB
from pytest_delegation.ci.workflows import REPORT_JSON
from pytest_delegation.ci.workflows import REPORT_JUNIT
from pytest_delegation.ci.workflows import REPORTS
from pytest_delegation.ci.workflows import TASKS_ARG
from pytest_delegation.ci.workflows import TASKS_VARIABLE
from pytest_delegation.ci.workflows import CiError
from pytest_delegation.ci.workflows import Setup
from pytest_delegation.ci.workflows import by_wave
from pytest_delegation.ci.workflows import check_legs
from pytest_delegation.ci.workflows import combine_command
from pytest_delegation.ci.workflows import dump
from pytest_delegation.ci.workflows import header
from pytest_delegation.ci.workflows import job_command
from pytest_delegation.ci.workflows import no_jobs
from pytest_delegation.ci.workflows import order_command
from pytest_delegation.ci.workflows import shell


#: GitLab's most combinations of one job's parallel:matrix
MATRIX_LIMIT = 200
#: GitLab's most entries in one job's `needs:` (GitLab.com's default)
NEEDS_LIMIT = 50
COMBINE_STAGE = "delegation-combine"
ORDER_STAGE = "delegation-order-check"
SUMMARY = "delegation-report.md"
ARTIFACTS = {"when": "always", "paths": [f"{REPORTS}/"]}


def gitlab_pipeline(jobs: Sequence[Job], setup: Setup, schedule: str) -> str:
    no_jobs(jobs)
    base = gitlab_setup(setup.template)
    waves = by_wave(jobs)
    pipeline_jobs: dict[str, Any] = {}
    if schedule == "waves":
        for index, (number, wave) in enumerate(waves.items()):
            check_legs(len(wave), MATRIX_LIMIT, f"wave {number}", "GitLab")
            pipeline_jobs[f"wave-{number}"] = _wave_job(number, wave, index > 0, setup)
    else:
        for job in jobs:
            pipeline_jobs[job.name] = _dag_job(job, setup)
    if setup.order_job:
        pipeline_jobs[ORDER_JOB] = _order_job(setup)
    pipeline_jobs[COMBINE_JOB] = _combine_job(list(pipeline_jobs))
    taken = sorted(set(pipeline_jobs) & set(base))
    if taken:
        raise CiError(
            f"the CI template has a job named {', '.join(taken)}, as a generated job is; "
            "rename it in the template"
        )
    stages = [f"delegation-wave-{number}" for number in waves]
    stages += [ORDER_STAGE] if setup.order_job else []
    user_stages = [stage for stage in base.pop("stages", []) if stage not in stages]
    document = {"stages": [*user_stages, *stages, COMBINE_STAGE], **base, **pipeline_jobs}
    return header(setup, "gitlab", schedule) + dump(document)


def _wave_job(number: int, wave: list[Job], waits: bool, setup: Setup) -> dict[str, Any]:
    upstream = REPORTS if waits else None
    command = job_command(JOB_ARG, TASKS_ARG, setup, upstream)
    matrix = [{JOB_VARIABLE: job.name, TASKS_VARIABLE: ",".join(job.tasks)} for job in wave]
    return {
        "stage": f"delegation-wave-{number}",
        "extends": GITLAB_SETUP,
        **({"when": "always"} if waits else {}),
        "parallel": {"matrix": matrix},
        "script": [shell(command, {JOB_ARG: JOB_VARIABLE, TASKS_ARG: TASKS_VARIABLE})],
        "artifacts": ARTIFACTS,
    }


def _dag_job(job: Job, setup: Setup) -> dict[str, Any]:
    if len(job.needs) > NEEDS_LIMIT:
        raise CiError(
            f"job {job.name} needs {len(job.needs)} jobs, but GitLab allows {NEEDS_LIMIT}; "
            "pack the tasks into fewer jobs with --delegation-ci-jobs, or use "
            "--delegation-schedule=waves"
        )
    upstream = REPORTS if job.needs else None
    return {
        "stage": f"delegation-wave-{job.wave}",
        "extends": GITLAB_SETUP,
        "needs": [{"job": need, "artifacts": True} for need in job.needs],
        **({"when": "always"} if job.needs else {}),
        "variables": {JOB_VARIABLE: job.name},
        "script": [shell(job_command(job.name, job.tasks, setup, upstream))],
        "artifacts": ARTIFACTS,
    }


def _order_job(setup: Setup) -> dict[str, Any]:
    # its own stage after the waves, so no wave waits for it; `needs: []` starts it at once
    return {
        "stage": ORDER_STAGE,
        "extends": GITLAB_SETUP,
        "needs": [],
        "variables": {JOB_VARIABLE: ORDER_JOB},
        "script": [shell(order_command(setup))],
        "artifacts": ARTIFACTS,
    }


def _combine_job(needs: list[str]) -> dict[str, Any]:
    # past the limit the stage order does the same: it waits for (and gets the artifacts
    # of) every earlier stage
    listed = len(needs) <= NEEDS_LIMIT
    return {
        "stage": COMBINE_STAGE,
        "extends": GITLAB_SETUP,
        **({"needs": [{"job": need, "artifacts": True} for need in needs]} if listed else {}),
        "when": "always",
        "script": [shell(combine_command(REPORTS, SUMMARY))],
        "artifacts": {
            "when": "always",
            "paths": [REPORT_JSON, REPORT_JUNIT, SUMMARY],
            "reports": {"junit": REPORT_JUNIT},
        },
    }
