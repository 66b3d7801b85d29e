"""Report files on disk: written whole or not at all, so a reader never sees half a report."""

from __future__ import annotations

import os
from pathlib import Path
import stat
import tempfile


#: the destination that means standard output (``--delegation-report=json:-``)
STDOUT = "-"


def write_atomic(path: Path, text: str) -> None:
    """Write a complete file or leave the old one: readers never see half a report.

    Atomic means a new file renamed over the old one, which is only right for a regular
    file: `/dev/null`, `/dev/stdout` or a pipe (``>(jq .)``) is written into as it is,
    never replaced (as root, a rename over /dev/null would put a file in its place), and
    a symbolic link is followed, so the file it points at gets the report.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    path = Path(os.path.realpath(path))
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


def destination_problems(destinations: list[tuple[str, str]], base: Path) -> list[str]:
    """What makes a report file impossible to write, found before the run starts.

    A folder where the file should be, a file where a folder should be, a folder that
    cannot be written to, two formats given one path. A full disk shows only at the end.
    """
    problems = []
    seen: dict[Path, str] = {}
    to_stdout = [kind for kind, dest in destinations if dest == STDOUT]
    if len(to_stdout) > 1:
        problems.append(
            f"--delegation-report: {' and '.join(to_stdout)} both go to standard output (-); "
            "give all but one a file"
        )
    for kind, dest in destinations:
        if dest == STDOUT:
            continue
        path = Path(dest)
        resolved = (base / path).resolve()
        if resolved in seen:
            problems.append(
                f"--delegation-report={kind}:{path}: the {seen[resolved]} report is written "
                "there too; give each format its own file"
            )
            continue
        seen[resolved] = kind
        if resolved.is_dir():
            problems.append(
                f"--delegation-report={kind}:{path}: that is a folder; name a file in it, "
                f"like {path / ('delegation-report.' + _SUFFIX.get(kind, kind))}"
            )
            continue
        folder = resolved.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            problems.append(f"--delegation-report={kind}:{path}: {folder} is a file, not a folder")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(
                f"--delegation-report={kind}:{path}: cannot write in {folder} (permission denied)"
            )
    return problems


_SUFFIX = {"json": "json", "markdown": "md", "html": "html"}
