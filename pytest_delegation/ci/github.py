"""The GitHub Actions workflow: the plan's jobs, their reports as artifacts, one combine.

``waves``: one workflow job per wave, with a matrix leg per job; it needs the wave before.
``dag``: one workflow job per job, needing the jobs of its tasks' dependencies. Every job
runs even when one it needs failed (``!cancelled()``): a failed dependency makes its
dependents' tasks ``blocked`` in their reports, which is the verdict to show. Every
job downloads the task jobs' reports uploaded before it (``delegation-job-*``); the
order-check job's report goes to combine alone: it lists every task, run its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_delegation.ci.jobs import Job
from pytest_delegation.ci.template import github_setup
from pytest_delegation.ci.workflows import COMBINE_JOB
from pytest_delegation.ci.workflows import JOB_ARG
from pytest_delegation.ci.workflows import JOB_VARIABLE
from pytest_delegation.ci.workflows import ORDER_JOB
from pytest_delegation.ci.workflows import REPORT_JSON
from pytest_delegation.ci.workflows import REPORT_JUNIT
from pytest_delegation.ci.workflows import REPORTS
from pytest_delegation.ci.workflows import TASKS_ARG
from pytest_delegation.ci.workflows import TASKS_VARIABLE
from pytest_delegation.ci.workflows import UPSTREAM
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


#: GitHub's most legs in one job's matrix
MATRIX_LIMIT = 256
RUN_ANYWAY = "${{ !cancelled() }}"
SUMMARY = "GITHUB_STEP_SUMMARY"
SUMMARY_ARG = "@DELEGATION_SUMMARY@"
#: the artifact of a task job is this and the job's name
ARTIFACT = "delegation-job-"
ORDER_ARTIFACT = f"delegation-{ORDER_JOB}"


def github_workflow(jobs: Sequence[Job], setup: Setup, schedule: str) -> str:
    no_jobs(jobs)
    base = github_setup(setup.template)
    workflow_jobs: dict[str, Any] = {}
    if schedule == "waves":
        previous: str | None = None
        for number, wave in by_wave(jobs).items():
            check_legs(len(wave), MATRIX_LIMIT, f"wave {number}", "GitHub")
            key = f"wave-{number}"
            workflow_jobs[key] = _wave_job(number, wave, previous, setup, base.job)
            previous = key
    else:
        for job in jobs:
            workflow_jobs[job.name] = _dag_job(job, setup, base.job)
    if setup.order_job:
        workflow_jobs[ORDER_JOB] = _order_job(setup, base.job)
    workflow_jobs[COMBINE_JOB] = _combine_job(list(workflow_jobs), setup, base.job)
    document = {**base.workflow, "jobs": workflow_jobs}
    return header(setup, "github", schedule) + dump(document)


def _wave_job(
    number: int, wave: list[Job], previous: str | None, setup: Setup, job: dict[str, Any]
) -> dict[str, Any]:
    upstream = UPSTREAM if previous is not None else None
    command = job_command(JOB_ARG, TASKS_ARG, setup, upstream)
    legs = [{"job": leg.name, "tasks": ",".join(leg.tasks)} for leg in wave]
    return {
        "name": f"wave {number} (${{{{ matrix.job }}}})",
        **_needs([previous] if previous else []),
        **_runner(job),
        "strategy": {"fail-fast": False, "matrix": {"include": legs}},
        "env": {
            **_env(job),
            JOB_VARIABLE: "${{ matrix.job }}",
            TASKS_VARIABLE: "${{ matrix.tasks }}",
        },
        "steps": [
            *job["steps"],
            *([_download()] if upstream else []),
            _run("Run the tasks", command, {JOB_ARG: JOB_VARIABLE, TASKS_ARG: TASKS_VARIABLE}),
            _upload(f"{ARTIFACT}${{{{ matrix.job }}}}", f"{REPORTS}/", missing="error"),
        ],
    }


def _dag_job(job: Job, setup: Setup, base: dict[str, Any]) -> dict[str, Any]:
    upstream = UPSTREAM if job.needs else None
    return {
        "name": job.name,
        **_needs(list(job.needs)),
        **_runner(base),
        "env": {**_env(base), JOB_VARIABLE: job.name},
        "steps": [
            *base["steps"],
            *([_download()] if upstream else []),
            _run("Run the tasks", job_command(job.name, job.tasks, setup, upstream)),
            _upload(f"{ARTIFACT}{job.name}", f"{REPORTS}/", missing="error"),
        ],
    }


def _order_job(setup: Setup, base: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": ORDER_JOB,
        **_runner(base),
        "env": {**_env(base), JOB_VARIABLE: ORDER_JOB},
        "steps": [
            *base["steps"],
            _run("Check the order of the whole suite", order_command(setup)),
            _upload(ORDER_ARTIFACT, f"{REPORTS}/", missing="error"),
        ],
    }


def _combine_job(needs: list[str], setup: Setup, base: dict[str, Any]) -> dict[str, Any]:
    command = combine_command(UPSTREAM, SUMMARY_ARG)
    return {
        "name": COMBINE_JOB,
        **_needs(needs),
        **_runner(base),
        **({"env": _env(base)} if _env(base) else {}),
        "steps": [
            *base["steps"],
            _download(),
            *([_download(ORDER_ARTIFACT)] if setup.order_job else []),
            _run("Combine the reports", command, {SUMMARY_ARG: SUMMARY}),
            _upload("delegation-report", f"{REPORT_JSON}\n{REPORT_JUNIT}\n", missing="warn"),
        ],
    }


def _needs(needs: list[str]) -> dict[str, Any]:
    return {"needs": needs, "if": RUN_ANYWAY} if needs else {}


def _runner(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if key not in ("env", "steps")}


def _env(job: dict[str, Any]) -> dict[str, Any]:
    env = job.get("env")
    return dict(env) if isinstance(env, dict) else {}


def _run(name: str, argv: list[str], variables: dict[str, str] | None = None) -> dict[str, Any]:
    # bash on every runner (Windows' default is pwsh): the variables are expanded as bash does
    return {"name": name, "shell": "bash", "run": shell(argv, variables)}


def _download(name: str | None = None) -> dict[str, Any]:
    """The reports of the task jobs so far, or the one artifact `name`, into UPSTREAM."""
    which = {"name": name} if name else {"pattern": f"{ARTIFACT}*", "merge-multiple": True}
    return {
        "name": f"Download {name or 'the reports of the jobs before'}",
        "uses": "actions/download-artifact@v7",
        "with": {**which, "path": UPSTREAM},
    }


def _upload(name: str, path: str, missing: str) -> dict[str, Any]:
    return {
        "name": "Upload the reports",
        "if": "always()",
        "uses": "actions/upload-artifact@v6",
        "with": {"name": name, "path": path, "if-no-files-found": missing},
    }
