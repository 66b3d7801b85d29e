"""Make the example shop a git repository as a parallel batch of agents leaves it.

    python make_branches.py DIR        # then: cd DIR && pytest --delegation-report \
                                       #   --delegation-branches='agents/{task}'

Copies this folder to DIR (which must not exist), commits it as ``main``, and gives four
tasks a branch each, as four agents working side by side would (nothing outside DIR is
touched):

- ``agents/user-model``: a new helper and its test, in its own files: accepted;
- ``agents/research``: a written recommendation, no tests (its plan says why): accepted;
- ``agents/product-model``: a change that breaks its own test: retry, with the output;
- ``agents/api``: also "fixes" ``shop/models/order.py``, order-model's file: retry
  (``out-of-bounds-change``), and never merged.

The shop's three deliberate plan defects (README.md) are still there and still found.
"""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys


HERE = Path(__file__).resolve().parent
IDENTITY = {
    "GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
    "GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.com",
}  # fmt: skip

#: each task's branch: file -> (text to append, or None to write `new` instead)
WORK: dict[str, dict[str, str]] = {
    "user-model": {
        "shop/models/user.py": (
            "\n\ndef display_name(name: str) -> str:\n"
            '    """The name as shown on a receipt: words capitalised."""\n'
            '    return " ".join(word.capitalize() for word in name.split())\n'
        ),
        "tests/models/test_user.py": (
            "\n\ndef test_display_name_capitalises_words() -> None:\n"
            "    from shop.models.user import display_name\n\n"
            '    assert display_name("ada   lovelace") == "Ada Lovelace"\n'
        ),
    },
    "research": {
        "docs/research/recommendation.md": (
            "# Recommendation\n\nStart with the provider whose refunds are synchronous.\n"
        ),
    },
    "product-model": {
        "shop/models/product.py": (
            "\n\ndef _broken_label(self: Product) -> str:\n"
            "    return self.name.upper()\n\n\nProduct.label = _broken_label  # type: ignore\n"
        ),
    },
    "api": {
        "shop/api.py": "\n\n# api: nothing new here; see the order model's fix\n",
        "shop/models/order.py": "\n\n# api: 'fixed' the order model while at it\n",
    },
}


def git(root: Path, *args: str) -> None:
    import os

    subprocess.run(
        ["git", "-C", str(root), "-c", "commit.gpgsign=false", *args],
        check=True,
        capture_output=True,
        env={**os.environ, **IDENTITY},
    )


def main(target: Path) -> None:
    if target.exists():
        raise SystemExit(f"{target} exists; name a folder to create")
    shutil.copytree(
        HERE, target, ignore=shutil.ignore_patterns(".pytest_cache", "__pycache__", "*.json")
    )
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "The shop, before the batch")
    for task, files in WORK.items():
        git(target, "switch", "-q", "-c", f"agents/{task}")
        for name, text in files.items():
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            path.write_text(old + text, encoding="utf-8")
        git(target, "add", "-A")
        git(target, "commit", "-q", "-m", f"{task}: the agent's work")
        git(target, "switch", "-q", "main")
    print(f"{target}: main and {len(WORK)} task branches (git branch --list 'agents/*')")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]).resolve())
