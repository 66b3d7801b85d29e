"""Reproduce commands: the plain pytest command a user pastes to see a dependency fail.

Running them once to prove it is the process layer's job (`run.reproduce`).
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import shlex


def reproduce_command(order: Sequence[str]) -> str:
    return shlex.join(
        ["python", "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *order]
    )


def twice_command(test: str) -> str:
    """The test run twice in one interpreter: plain pytest runs a node id given twice once.

    The second session finds the test module already imported, its globals as the first
    run left them, as a second run in one process does.
    """
    args = json.dumps(["-p", "no:randomly", "-p", "no:cacheprovider", test])
    code = f"import sys, pytest; a = {args}; pytest.main(a); sys.exit(pytest.main(a))"
    return shlex.join(["python", "-c", code])
