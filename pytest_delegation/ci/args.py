"""The pytest arguments a generated CI job repeats: the user's, minus the plugin's own.

`pytest --delegation-ci=github -p no:randomly tests/` makes jobs that run
`python -m pytest -p no:randomly tests/ --delegation-task=...`: the options that say what
to generate, which tasks, which report and whether to collect only are the job's to set.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_delegation.options import REPORT_TYPES


#: options dropped with their value (given as `--opt=value` or `--opt value`)
WITH_VALUE = (
    "--delegation-ci",
    "--delegation-ci-jobs",
    "--delegation-task",
    "--delegation-upstream",
    "--delegation-check",
    "--junitxml",
    "--junit-xml",
)
#: options dropped alone
FLAGS = ("--collect-only", "--co")
#: an option whose value is optional: its next argument is its value when it names a report
OPTIONAL_VALUE = "--delegation-report"


def job_args(args: Sequence[str], also: Sequence[str] = ()) -> tuple[str, ...]:
    """`args` without the plugin's own options; `also`: more options with a value."""
    kept: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in WITH_VALUE or name in also:
            skip = "=" not in arg
            continue
        if name in FLAGS:
            continue
        if name == OPTIONAL_VALUE:
            following = args[index + 1] if index + 1 < len(args) else ""
            skip = "=" not in arg and following.split(":", 1)[0] in REPORT_TYPES
            continue
        kept.append(arg)
    return tuple(kept)
