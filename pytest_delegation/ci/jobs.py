"""The plan as CI jobs: which tasks each job runs and which jobs it waits for.

Two schedules. ``waves``: the jobs of a wave wait for every job of the wave before, as a
wave waits on one machine. ``dag``: a job waits only for the jobs that hold its tasks'
dependencies, so a task starts as soon as its own dependencies are done.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import math
import re
import statistics

from pytest_delegation.ci.packing import pack
from pytest_delegation.plan.model import Plan


SCHEDULES = ("waves", "dag")
#: the length a task gets when none of the tasks has a recorded duration
DEFAULT_SECONDS = 1.0


@dataclass(frozen=True)
class Job:
    """One CI job: a name that is a valid job id and file name, its tasks, its needs."""

    name: str
    wave: int
    tasks: tuple[str, ...]
    needs: tuple[str, ...]


def plan_jobs(
    plan: Plan,
    tasks: Sequence[str],
    *,
    schedule: str = "waves",
    durations: Mapping[str, object] | None = None,
    limit: int | None = None,
) -> list[Job]:
    """The jobs that run `tasks` (the tasks with tests, in plan order) under `schedule`.

    `limit` is the most jobs per wave (a wave is one GitHub job whose matrix has a leg per
    job, so the limit is the matrix size): a wave with more tasks has them packed into
    `limit` jobs by their recorded `durations`, longest first, never across waves. A
    task without a recorded duration counts as the median of the known ones.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
    if limit is not None and limit < 1:
        raise ValueError(f"the job limit must be at least 1, not {limit}")
    wave_of = {task: number for number, wave in enumerate(plan.waves, 1) for task in wave}
    runnable = list(dict.fromkeys(tasks))
    unknown = [task for task in runnable if task not in wave_of]
    if unknown:
        raise ValueError(f"not tasks of the plan's waves: {', '.join(unknown)}")
    seconds = task_durations(runnable, durations or {})
    by_wave: dict[int, list[str]] = {}
    for task in runnable:
        by_wave.setdefault(wave_of[task], []).append(task)
    jobs: list[Job] = []
    taken: set[str] = set()
    job_of: dict[str, str] = {}
    previous: tuple[str, ...] = ()
    for number in sorted(by_wave):
        members = by_wave[number]
        if limit is None or len(members) <= limit:
            groups = [[task] for task in members]
        else:
            groups = pack({task: seconds[task] for task in members}, limit)
        names = _names(number, groups, schedule, taken)
        wave_jobs = []
        for name, group in zip(names, groups, strict=True):
            for task in group:
                job_of[task] = name
            wave_jobs.append(Job(name, number, tuple(group), previous))
        if schedule == "dag":
            wave_jobs = [_with_task_needs(job, plan, job_of) for job in wave_jobs]
        jobs.extend(wave_jobs)
        previous = tuple(job.name for job in wave_jobs)
    return jobs


def task_durations(tasks: Sequence[str], recorded: Mapping[str, object]) -> dict[str, float]:
    """Seconds per task: the recorded ones, and the median of those for the rest."""
    known: dict[str, float] = {}
    for task in tasks:
        value = recorded.get(task)
        # the cache is a JSON file anyone may edit: only a plain number counts
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and value >= 0:
                known[task] = float(value)
    fallback = statistics.median(known.values()) if known else DEFAULT_SECONDS
    return {task: known.get(task, fallback) for task in tasks}


def job_id(text: str) -> str:
    """`text` as a CI job id and file name: lowercase letters, digits, '-' and '_'."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "task"


def _names(number: int, groups: list[list[str]], schedule: str, taken: set[str]) -> list[str]:
    names = []
    packed = 0
    for group in groups:
        if schedule == "dag" and len(group) == 1:
            base = f"task-{job_id(group[0])}"
        else:
            packed += 1
            base = f"wave-{number}-{packed}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names.append(name)
    return names


def _with_task_needs(job: Job, plan: Plan, job_of: Mapping[str, str]) -> Job:
    """The job needing the jobs of its tasks' dependencies.

    A dependency without tests has no job: its own dependencies stand in for it.
    """
    needs: set[str] = set()
    seen: set[str] = set()
    pending = [dep for task in job.tasks for dep in plan.tasks[task].depends_on]
    while pending:
        dep = pending.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if dep in job_of:
            needs.add(job_of[dep])
        elif dep in plan.tasks:
            pending.extend(plan.tasks[dep].depends_on)
    needs.discard(job.name)
    return Job(job.name, job.wave, job.tasks, tuple(sorted(needs)))
