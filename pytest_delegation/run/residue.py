"""What a Python process killed in its first ``tempfile`` call leaves in the temp folder.

Every fresh interpreter, on its first ``tempfile`` call (pytest's capture makes one at
start-up), proves the temp folder writable by creating a file with an eight-character
random name, writing ``blat`` and removing it. A worker, fork server or branch run that
a Ctrl-C, a SIGTERM or a timeout kills inside that instant leaves the file behind, in
the user's temp folder. At the end of the session the files fitting that print exactly
(ours, made since the session began, four bytes at most of ``blat``) are removed; one
younger than a second may be another process's probe in flight, so it is waited for.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import tempfile
import time


#: `tempfile._RandomNameSequence`: eight of these characters, no prefix, no suffix
_NAME = re.compile(r"[a-z0-9_]{8}")
#: a probe lasts microseconds: one this old was left by a process that died in it
SETTLED = 1.0


def leftovers(since: float, folder: str | None = None) -> list[Path]:
    """The probe files made since `since` (a ``time.time()``) and left in `folder`."""
    found = []
    try:
        entries = list(os.scandir(folder or tempfile.gettempdir()))
    except OSError:
        return []
    for entry in entries:
        if not _NAME.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or info.st_uid != os.getuid():
                continue
            if info.st_size > 4 or info.st_mtime < since:
                continue
            with open(entry.path, "rb") as handle:
                if not b"blat".startswith(handle.read(5)):
                    continue
        except OSError:
            continue
        found.append(Path(entry.path))
    return found


def sweep(since: float, folder: str | None = None) -> list[Path]:
    """Remove the probe files our killed processes left; the ones removed."""
    found = leftovers(since, folder)
    if not found:
        return []
    youngest = max(_mtime(path) for path in found)
    wait = youngest + SETTLED - time.time()
    if wait > 0:
        time.sleep(min(wait, SETTLED))
    removed = []
    for path in leftovers(since, folder):
        if time.time() - _mtime(path) < SETTLED:
            continue  # made while we waited: someone else's, in flight
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
