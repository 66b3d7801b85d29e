"""Plan problems: collected, never raised one at a time, so a user sees them all at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
import difflib


#: problems of one kind listed before the rest are only counted (as markers.SHOWN)
SHOWN = 50
#: above this many choices, `Suggester` compares a name with the near ones only
EXHAUSTIVE = 200
#: names longer than this get no suggestion among many choices (the index is quadratic)
INDEXED_LENGTH = 64


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan, with where it is and how to fix it."""

    source: str
    line: int | None
    message: str
    #: how many problems this entry stands for: more than 1 for "... and N more"
    count: int = field(default=1, compare=False)

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class PlanError(Exception):
    """The plan cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[PlanProblem]) -> None:
        # by place; an "... and N more" entry after the problems of its line
        self.problems = sorted(
            problems, key=lambda p: (p.source, p.line or 0, p.count > 1, p.message)
        )
        super().__init__(self.render())

    def render(self) -> str:
        count = sum(p.count for p in self.problems)
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


class Suggester:
    """`did_you_mean` for many names against the same choices, in time linear in them.

    difflib compares a name with every choice: fine for a few hundred, quadratic for a
    plan of thousands of tasks. Past `EXHAUSTIVE` choices, only the near ones go to
    difflib: those the name meets when it loses up to two letters and the choice up to
    one (a typo, a swap, a dropped, doubled or added letter or two), found through an
    index of every choice's one-letter deletions.
    """

    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = sorted(set(choices))
        self.index: dict[str, list[str]] | None = None
        if len(self.choices) > EXHAUSTIVE:
            self.index = {}
            for choice in self.choices:
                if len(choice) <= INDEXED_LENGTH:
                    for key in _deletions(choice):
                        self.index.setdefault(key, []).append(choice)

    def __call__(self, name: str) -> str:
        if self.index is None:
            candidates = self.choices
        elif len(name) > INDEXED_LENGTH:
            return ""
        else:
            keys = {key for once in _deletions(name) for key in _deletions(once)}
            near = {choice for key in keys for choice in self.index.get(key, ())}
            candidates = sorted(near)
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        return f"; did you mean '{close[0]}'?" if close else ""


def _deletions(word: str) -> set[str]:
    return {word, *(word[:at] + word[at + 1 :] for at in range(len(word)))}


def shown_number(value: int) -> str:
    """An integer for a message: Python refuses to print one of over 4,300 digits."""
    size = abs(value)
    if size < 10**30:
        return str(value)
    # log10(2) is 0.30103: within one of the exponent, then exact
    exponent = size.bit_length() * 30103 // 100_000
    while 10**exponent > size:
        exponent -= 1
    while 10 ** (exponent + 1) <= size:
        exponent += 1
    return f"a number of {exponent + 1} digits"
