"""Plan problems: collected, never raised one at a time, so a user sees them all at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import difflib


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan, with where it is and how to fix it."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class PlanError(Exception):
    """The plan cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[PlanProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.source, p.line or 0, p.message))
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = (
            "the delegation plan has 1 problem:"
            if count == 1
            else (f"the delegation plan has {count} problems:")
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' did you mean ...?' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
