"""Packing tasks into a fixed number of CI jobs by their durations (longest first).

LPT (longest processing time first) puts each task, longest first, into the job that is
least loaded so far. It is within 4/3 of the best packing (Graham, 1969) and, with many
tasks per job as in a large suite, close to ``bound``: good enough that nothing slower
is worth its cost here.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import heapq
import math


def pack(durations: Mapping[str, float], jobs: int) -> list[list[str]]:
    """The tasks in at most `jobs` bins, each task once; empty bins are dropped.

    A bin lists its tasks in the order of `durations`, and bins come in the order of
    their first task, so the same input always gives the same jobs.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    for task, seconds in durations.items():
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"task '{task}': duration must be finite and >= 0, not {seconds}")
    position = {task: index for index, task in enumerate(durations)}
    bins: list[list[str]] = [[] for _ in range(min(jobs, len(durations)))]
    # (load, tasks in it, index): on equal load the emptier bin first, so tasks of no
    # recorded length spread over the jobs instead of piling into the first one
    heap = [(0.0, 0, index) for index in range(len(bins))]
    for task in sorted(durations, key=lambda t: (-durations[t], t)):
        load, count, index = heapq.heappop(heap)
        bins[index].append(task)
        heapq.heappush(heap, (load + durations[task], count + 1, index))
    for tasks in bins:
        tasks.sort(key=position.__getitem__)
    return sorted((tasks for tasks in bins if tasks), key=lambda tasks: position[tasks[0]])


def bound(durations: Mapping[str, float], jobs: int) -> float:
    """A lower bound of every packing's makespan: no job is shorter than this."""
    return max(max(durations.values(), default=0.0), sum(durations.values()) / jobs)


def makespan(bins: Sequence[Sequence[str]], durations: Mapping[str, float]) -> float:
    """How long the longest bin takes."""
    return max((sum(durations[task] for task in tasks) for tasks in bins), default=0.0)
