"""Which reader reads a plan: chosen by what the text holds, whatever the file is called.

- A line ``tasks:`` at the start of a line: YAML (a YAML plan needs one; no Markdown
  plan has one).
- Else spec-kit task lines (``- [ ] T001 ...``): spec-kit's ``tasks.md``
  (``plan.speckit``).
- Else Markdown task lines (``Task 1: Code Writer - ...``): a Markdown task list
  (``plan.markdown``).
- Else YAML, unless the file's name ends in ``.md`` (or ``.markdown``) and the text is not
  a YAML mapping: then the Markdown reader's "no task line" says what is missing,
  rather than YAML's "the plan must be a mapping".

Every reader gives the tree ``positions.read_yaml`` gives, with the file's lines, so
``model.build_plan`` checks every format alike.
"""

from __future__ import annotations

from collections.abc import Callable
import re

from pytest_delegation.plan import markdown
from pytest_delegation.plan import speckit
from pytest_delegation.plan.positions import Map
from pytest_delegation.plan.positions import Node
from pytest_delegation.plan.positions import read_yaml
from pytest_delegation.plan.problems import PlanProblem


Reader = Callable[[str, str], "tuple[Node | None, list[PlanProblem]]"]
READERS: dict[str, Reader] = {
    "yaml": read_yaml,
    "markdown": markdown.read_markdown,
    "speckit": speckit.read_speckit,
}
MARKDOWN_SUFFIXES = (".md", ".markdown")
YAML_TASKS = re.compile(r"^tasks:(?:\s|$)", re.MULTILINE)


def detect(text: str, source: str = "") -> str:
    """The format of a plan text: "yaml", "markdown" or "speckit" (see the docstring)."""
    return _choose(text, source)[0]


def read_plan_text(text: str, source: str) -> tuple[Node | None, list[PlanProblem], str]:
    """The plan's tree (None when there is none), its problems and the format read."""
    kind, read = _choose(text, source)
    if read is not None:
        return (*read, kind)
    return (*READERS[kind](text, source), kind)


def _choose(text: str, source: str) -> tuple[str, tuple[Node | None, list[PlanProblem]] | None]:
    """The format, and the YAML reader's answer when it had to be read to decide."""
    if YAML_TASKS.search(text):
        return "yaml", None
    if speckit.has_task_lines(text):
        return "speckit", None
    if markdown.has_task_lines(text):
        return "markdown", None
    if not source.lower().endswith(MARKDOWN_SUFFIXES):
        return "yaml", None
    read = read_yaml(text, source)
    if isinstance(read[0], Map):
        return "yaml", read
    return "markdown", None
