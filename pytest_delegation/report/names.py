"""Words every report format shares: task ids cut to fit, counted nouns, test tallies.

Pure and shared: the terminal table and the HTML task graph show a task under the same
short name, and the terminal, Markdown and HTML reports count a test in the same column.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_delegation.vocab import FAILING
from pytest_delegation.vocab import Outcome


ELLIPSIS = "…"
#: a cut in the middle starts its tail after one of these, so the tail is whole words
SEPARATORS = frozenset("-_./:[ ")
#: outcomes of the "passed" column: a non-strict xpass passed (pytest reports a strict
#: one as failed); the "failed" column is ``vocab.FAILING``
PASSING = frozenset({Outcome.PASSED, Outcome.XFAILED, Outcome.XPASSED})


def plural(n: int, word: str) -> str:
    """``1 task``, ``0 tasks``, ``3 tasks``."""
    return f"{n} {word}{'s' * (n != 1)}"


def tally(outcomes: Iterable[str]) -> tuple[int, int, int]:
    """(passed, failed, skipped) of some tests' outcomes; not-run counts in none."""
    passed = failed = skipped = 0
    for outcome in outcomes:
        if outcome in PASSING:
            passed += 1
        elif outcome in FAILING:
            failed += 1
        elif outcome == Outcome.SKIPPED:
            skipped += 1
    return passed, failed, skipped


def cut(text: str, width: int) -> str:
    """The text, or its first ``width - 1`` characters and an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def short_names(ids: Iterable[str], width: int) -> dict[str, str]:
    """Each id as shown in ``width`` characters, two ids never shown alike.

    An id that fits is shown whole; a longer one is cut at the end. Ids whose cuts would
    read the same are cut in the middle instead, ``tests-test-ut…test-email``, keeping
    the tail that tells them apart: about half the width, starting at a word, longer
    while they still collide. Only ids that differ nowhere a head and a tail can show
    (in a middle longer than the width) may still read alike.
    """
    if width < 3:
        return {i: cut(i, width) for i in ids}
    shown = {i: cut(i, width) for i in ids}
    # id -> the tail length of its cut in the middle, once it has one
    tails: dict[str, int] = {}
    while True:
        seen: dict[str, list[str]] = {}
        for task, text in shown.items():
            seen.setdefault(text, []).append(task)
        grown = False
        for group in seen.values():
            if len(group) < 2:
                continue
            for task in group:
                if len(task) <= width:
                    continue
                tail = _longer_tail(task, tails.get(task, 0), width)
                if tail is not None:
                    tails[task], grown = tail, True
                    head = width - 1 - tail
                    shown[task] = task[:head] + ELLIPSIS + task[-tail:]
        if not grown:
            return shown


def _longer_tail(text: str, tail: int, width: int) -> int | None:
    """The next tail length to try: first about half the room, then to the next word;
    None when the head would have nothing left."""
    room = width - 1
    longest = room - 1
    if tail >= longest:
        return None
    limit = room // 2 if tail == 0 else longest
    starts = [
        len(text) - i
        for i in range(len(text) - longest, len(text))
        if text[i - 1] in SEPARATORS and tail < len(text) - i <= limit
    ]
    if tail == 0:
        # the longest whole-word tail within half the room, else exactly half
        return max(starts, default=room // 2)
    return min(starts, default=tail + 1)
