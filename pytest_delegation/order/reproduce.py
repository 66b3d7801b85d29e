"""Reproduce commands: the plain pytest command a user pastes to see a dependency fail.

Running them once to prove it is the process layer's job (`run.reproduce`).
"""

from __future__ import annotations

from collections.abc import Sequence
import shlex


def reproduce_command(order: Sequence[str]) -> str:
    return shlex.join(
        ["python", "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *order]
    )
