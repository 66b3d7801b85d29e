"""Helpers every benchmark script shares: CPU of children, the machine, output tails.

The scripts run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path
import platform
from typing import Any


def children_cpu() -> float:
    """User + system CPU of every child process waited for so far (nan on Windows)."""
    try:
        import resource
    except ImportError:  # Windows has no getrusage
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def machine(**extra: Any) -> dict[str, Any]:
    """What a figure was measured on; scripts add what they know besides."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "date": datetime.date.today().isoformat(),
        **extra,
    }


def finish(
    results: list[dict[str, Any]], info: dict[str, Any], path: str | None, check: bool
) -> int:
    """Write every figure to `path` (if any); 1 when `check` and a target was missed."""
    if path:
        Path(path).write_text(
            json.dumps({"machine": info, "results": results}, indent=1) + "\n", encoding="utf-8"
        )
    return 1 if check and not all(r["met"] for r in results) else 0
