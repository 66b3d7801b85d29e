"""What a run left behind, for the fault tests (tests/test_faults*.py).

Every process a run starts inherits the test's own TMPDIR (the `own_tmp` fixture of
conftest.py), so a leftover is found by its environment even when it left its process
group or its parent died; the temporary folders a run made are in that TMPDIR.
"""

from __future__ import annotations

import os
from pathlib import Path


def processes_of(folder: Path) -> list[str]:
    """Processes still running that came from a run in `folder`.

    By command line, working directory, or environment: every process a run starts
    inherits the test's own TMPDIR (see `own_tmp`), even one that left its process
    group or whose parent died.
    """
    found = []
    me = os.getpid()
    needle = str(folder)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{entry}/cwd")
            environ = Path(f"/proc/{entry}/environ").read_bytes().decode(errors="replace")
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if needle in cmdline or cwd == needle or f"TMPDIR={needle}/" in environ:
            found.append(f"{entry}: {cmdline.strip()}")
    return found


def temp_folders() -> set[str]:
    return {n for n in os.listdir(os.environ["TMPDIR"]) if n.startswith("pytest-delegation-")}
