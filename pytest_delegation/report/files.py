"""Report files on disk: written whole or not at all, so a reader never sees half a report."""

from __future__ import annotations

import os
from pathlib import Path
import tempfile


def write_atomic(path: Path, text: str) -> None:
    """Write a complete file or leave the old one: readers never see half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp's 0600 would hide a CI artifact
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
