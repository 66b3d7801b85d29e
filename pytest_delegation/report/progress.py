"""Live lines while the workers run: a wave starts, a task settles, is retried or blocked.

Written through pytest's terminal reporter (so ``--color``, ``NO_COLOR`` and ``-q``
apply), between the test progress lines that the replayed reports produce.
"""

from __future__ import annotations

import textwrap

import pytest

from pytest_delegation.vocab import Status


class Progress:
    """The terminal side of a run: each method is one kind of line."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def say(self, line: str, **markup: bool) -> None:
        # looked up each time: the session (and this) exist before the terminal does
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None and self.config.get_verbosity() >= 0:
            tr.write_line(line, **markup)

    def wave_started(self, wave: int, tasks: list[str]) -> None:
        # wrapped at 80 columns like the report: a wave of many tasks was one long line
        text = f"wave {wave}: {', '.join(tasks)}"
        for line in textwrap.wrap(text, 80, subsequent_indent="  ", break_on_hyphens=False):
            self.say(line, bold=True)

    def retrying(self, task: str, elapsed: float) -> None:
        self.say(f"  {task}: failed, retrying in a fresh worker ({elapsed:.2f}s)", yellow=True)

    def settled(
        self,
        task: str,
        status: Status,
        tests: int,
        elapsed: float,
        attempts: int,
        crash: str | None,
    ) -> None:
        line = f"  {task}: {status}, {tests} test{'s' * (tests != 1)} in {elapsed:.2f}s"
        if attempts > 1:
            line += f" (attempt {attempts})"
        if crash:
            line += f": {crash}"
        if status in (Status.PASSED, Status.SKIPPED):
            self.say(line, green=True)
        elif status == Status.FLAKY:
            self.say(line, yellow=True)
        else:
            self.say(line, red=True)

    def blocked(self, task: str, culprit: str) -> None:
        self.say(f"  {task}: blocked by {culprit}", yellow=True)
