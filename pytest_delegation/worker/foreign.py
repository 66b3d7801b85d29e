"""Which modules a run in a branch's tree imported from the user's checkout instead.

A branch run sets ``PYTEST_DELEGATION_FOREIGN_ROOT`` (the checkout) and
``PYTEST_DELEGATION_FOREIGN_OUT`` (a folder); each process of the run writes there the
checkout files its modules came from, so the branch's tests that tested the checkout's
code are a finding, not a silent pass. Installed packages under the checkout (a
``.venv`` inside it) are not its code.
"""

from __future__ import annotations

import os
import sys


ROOT = "PYTEST_DELEGATION_FOREIGN_ROOT"
OUT = "PYTEST_DELEGATION_FOREIGN_OUT"


def record() -> None:
    root, out = os.environ.get(ROOT), os.environ.get(OUT)
    if not root or not out:
        return
    prefix = os.path.abspath(root).rstrip(os.sep) + os.sep
    installed = tuple(
        os.path.abspath(p).rstrip(os.sep) + os.sep for p in {sys.prefix, sys.base_prefix}
    )
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if not path.startswith(prefix) or path.startswith(installed):
            continue
        if "site-packages" in path.split(os.sep):
            continue
        found.add(path[len(prefix) :].replace(os.sep, "/"))
    if found:
        with open(os.path.join(out, f"{os.getpid()}.txt"), "a", encoding="utf-8") as handle:
            handle.write("".join(f"{name}\n" for name in sorted(found)))
