"""What one worker run is, as data: built by the runners, started by `process.Launcher`.

A spec says which tests run, for which task and attempt, and what the worker plugin
must do around them (measure files, take state snapshots, keep a polluter's changes);
nothing in it starts a process, so the runners' policy is tested without any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class RunSpec:
    """One worker run.

    ``name`` names its files in the session's work folder (unique per session);
    ``task`` is None for the untagged tests and the order check's runs; ``files`` are
    the test files passed on the command line (the worker collects only those);
    ``options`` are extra keys of the worker plugin's spec (see `worker.protocol`);
    ``env`` is added to the workers' environment; ``label`` says in the timeline what
    a run that is not a task's was for.
    """

    name: str
    task: str | None
    attempt: int
    ids: tuple[str, ...]
    files: tuple[str, ...]
    boundaries: bool = False
    options: Mapping[str, object] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    label: str = ""
