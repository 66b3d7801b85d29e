"""Reproduce commands: the plain pytest command a user pastes, run once to prove it fails."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
import shlex
import subprocess
import sys

from pytest_delegation.checks.findings import Finding


def reproduce_command(order: Sequence[str]) -> str:
    return shlex.join(
        ["python", "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *order]
    )


def verified(findings: list[Finding], rootdir: Path, workers: int) -> list[Finding]:
    """Run every reproduce command once, side by side; mark those that did not fail."""
    commands = [f.extra["reproduce"] for f in findings if "reproduce" in f.extra]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        failed = dict(zip(commands, pool.map(lambda c: _fails(c, rootdir), commands), strict=True))
    return [
        replace(f, extra={**f.extra, "reproduce_verified": False})
        if "reproduce" in f.extra and not failed[f.extra["reproduce"]]
        else f
        for f in findings
    ]


def _fails(command: str, rootdir: Path) -> bool:
    """Run the reproduce command once, from rootdir, as a user would: it must exit 1."""
    argv = shlex.split(command)
    argv[0] = sys.executable
    try:
        done = subprocess.run(
            argv, cwd=rootdir, capture_output=True, timeout=300, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 1
