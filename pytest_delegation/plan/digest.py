"""A plan's fingerprint, so reports of different CI jobs can tell they checked one plan.

It is computed from what the JSON report's ``plan`` section holds (``plan_section``),
never from the file's bytes: a comment or a reordered key does not change it, and a
report written before the digest existed can still be fingerprinted from its section.
"""

from __future__ import annotations

from collections.abc import Mapping
import hashlib
import json
from typing import Any

from pytest_delegation.plan.model import Plan


#: the fields of a task that change what the plan promises (not its description)
TASK_FIELDS = ("role", "files", "depends_on", "resources")


def plan_section(plan: Plan) -> dict[str, Any]:
    """The plan as the JSON report's ``plan`` section has it, without tests and digest."""
    return {
        "max_parallel": plan.max_parallel,
        "shared": list(plan.shared),
        "waves": [list(wave) for wave in plan.waves],
        "tasks": {
            task_id: {
                "role": task.role,
                "files": list(task.files),
                "depends_on": list(task.depends_on),
                "resources": list(task.resources),
            }
            for task_id, task in plan.tasks.items()
        },
    }


def digest_of_section(section: Mapping[str, Any]) -> str:
    """The digest of a JSON report's ``plan`` section (extra keys are ignored)."""
    tasks = section.get("tasks") or {}
    canonical = {
        "max_parallel": section.get("max_parallel"),
        "shared": sorted(section.get("shared") or []),
        "waves": [sorted(wave) for wave in section.get("waves") or []],
        "tasks": {
            str(task_id): {key: _canonical(key, (entry or {}).get(key)) for key in TASK_FIELDS}
            for task_id, entry in sorted(tasks.items())
        },
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_digest(plan: Plan) -> str:
    return digest_of_section(plan_section(plan))


def _canonical(key: str, value: Any) -> Any:
    if key == "role":
        return value or ""
    return sorted(value or [])
