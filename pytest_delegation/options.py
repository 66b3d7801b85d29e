"""Command-line and ini options: parsing, validation, resolution (CLI, ini, default)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
import os
from pathlib import Path

import pytest

from pytest_delegation.plan.problems import did_you_mean


CHECKS = ("isolation", "order", "boundaries")
#: set for every pytest process the plugin starts (worker, order run, reproduce run): such
#: a process never acts as a controller, whatever its ini or PYTEST_ADDOPTS say
ROLE = "PYTEST_DELEGATION_ROLE"
REPORT_TYPES = ("term", "json", "markdown", "html")
DEFAULTS = {
    "json": "delegation-report.json",
    "markdown": "delegation-report.md",
    "html": "delegation-report.html",
}


def report_type(value: str) -> tuple[str, str | None]:
    kind, sep, dest = value.partition(":")
    if kind not in REPORT_TYPES and (
        "/" in value or "." in value or "::" in value or os.path.exists(value)
    ):
        # `pytest --delegation-report tests/` : the optional value swallowed a path
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a report type; it looks like a test path, which the option "
            "took as its value: write --delegation-report=term, or put paths first"
        )
    if kind not in REPORT_TYPES:
        raise argparse.ArgumentTypeError(
            f"unknown report type '{kind}'{did_you_mean(kind, REPORT_TYPES)} "
            "(use term, json[:PATH], markdown[:PATH] or html[:PATH])"
        )
    if kind == "term":
        if sep:
            raise argparse.ArgumentTypeError("the term report takes no destination")
        return kind, None
    if sep and not dest:
        raise argparse.ArgumentTypeError(f"'{kind}:' needs a file name after the colon")
    return kind, dest or DEFAULTS[kind]


def workers_type(value: str) -> str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{value}' is not a number of workers or 'auto'"
        ) from None
    if number < 0:
        raise argparse.ArgumentTypeError("the number of workers can't be negative")
    return str(number)


def retries_type(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of retries") from None
    if number < 0:
        raise argparse.ArgumentTypeError("the number of retries can't be negative")
    return number


def timeout_type(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of seconds") from None
    if seconds < 0 or seconds != seconds:
        raise argparse.ArgumentTypeError("the timeout must be a positive number of seconds")
    # 0: no limit
    return seconds or None


def _choice(what: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    """An option type accepting one of `choices`, suggesting the nearest on a typo."""

    def parse(value: str) -> str:
        if value not in choices:
            raise argparse.ArgumentTypeError(
                f"'{value}' is not {what}{did_you_mean(value, choices)} "
                f"(use {', '.join(choices[:-1])} or {choices[-1]})"
            )
        return value

    return parse


schedule_type = _choice("a schedule", ("waves", "dag"))
start_type = _choice("a start method", ("fork", "spawn"))
fail_on_type = _choice("a level", ("error", "warning", "never"))


def tasks_type(value: str) -> tuple[str, ...]:
    """``--delegation-task=a,b`` (repeatable): the tasks one CI job runs."""
    words = tuple(w.strip() for w in value.split(",") if w.strip())
    if not words:
        raise argparse.ArgumentTypeError("name a task id (or a comma list of them)")
    return words


CI_TARGETS = ("github", "gitlab", "matrix")
CI_DEFAULTS = {
    "github": ".github/workflows/delegation.yml",
    "gitlab": ".gitlab/delegation.yml",
    "matrix": "-",
}


def ci_type(value: str) -> tuple[str, str]:
    """``--delegation-ci=github|gitlab|matrix[:PATH]``: what to write, and where."""
    target, sep, dest = value.partition(":")
    if target not in CI_TARGETS:
        raise argparse.ArgumentTypeError(
            f"unknown CI target '{target}'{did_you_mean(target, CI_TARGETS)} "
            "(use github[:PATH], gitlab[:PATH] or matrix[:PATH])"
        )
    if sep and not dest:
        raise argparse.ArgumentTypeError(f"'{target}:' needs a file name after the colon")
    return target, dest or CI_DEFAULTS[target]


def jobs_type(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number of jobs") from None
    if number < 1:
        raise argparse.ArgumentTypeError("the job limit must be at least 1")
    return number


def checks_type(value: str) -> tuple[str, ...]:
    words = [w.strip() for w in value.split(",") if w.strip()]
    if words in (["all"], []):
        return CHECKS
    if words == ["none"]:
        return ()
    for word in words:
        if word not in CHECKS:
            raise argparse.ArgumentTypeError(
                f"unknown check '{word}'{did_you_mean(word, (*CHECKS, 'all', 'none'))} "
                f"(use a comma list of {', '.join(CHECKS)}, or all, or none)"
            )
    return tuple(dict.fromkeys(words))


@dataclass(frozen=True)
class Settings:
    reports: tuple[tuple[str, str | None], ...]
    #: None: the default file; "auto": infer one
    plan: str | None
    plan_from_ini: bool
    workers: str
    retries: int
    timeout: float | None
    schedule: str
    checks: tuple[str, ...]
    fail_on: str
    #: ``--delegation-task``: the tasks this run is narrowed to (none: all)
    tasks: tuple[str, ...]
    ignore: tuple[str, ...]
    diff: str | None = None
    seed: int | None = None
    shuffles: int = 2
    start: str = "fork"
    preload: tuple[str, ...] = ()
    #: where the number of workers came from when not from the plugin's own option
    workers_from: str = ""
    #: ``--delegation-ci``: (github|gitlab|matrix, destination or "-")
    ci: tuple[str, str] | None = None
    ci_jobs: int | None = None
    ci_template: str | None = None
    #: ``--delegation-upstream``: the folder of the dependencies' job reports
    upstream: str | None = None
    #: ``--delegation-suggest``: where to write the corrected plan
    suggest: str | None = None
    #: ini ``delegation_codeowners``: a CODEOWNERS file as the ownership map
    codeowners: str | None = None
    #: ``--delegation-branches``: the template naming each task's branch
    branches: str | None = None
    #: ``--delegation-base``: the ref the branches are merged onto
    base: str | None = None
    #: ``--delegation-real-home``: task workers keep the user's HOME and TMPDIR (else
    #: each run gets its own; the order check's runs always do)
    real_home: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.reports) or self.ci is not None


def _ini(config: pytest.Config, name: str) -> str:
    value = config.getini(name)
    return value.strip() if isinstance(value, str) else ""


def _from_ini(config: pytest.Config, name: str, parse: object, default: str) -> object:
    """Validate an ini value the way its option's `type=` would, as a usage error."""
    raw = _ini(config, name) or default
    try:
        return parse(raw)  # type: ignore[operator]
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {name} = {raw}: {exc}") from None


def _flag(config: pytest.Config, name: str) -> bool:
    """A bool ini value; one that is not (``maybe``) is a usage error, not a traceback."""
    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as exc:  # pytest 8 raises the first, 9 the second
        raise pytest.UsageError(f"ini option {name}: {exc} (use true or false)") from None


def resolve(config: pytest.Config) -> Settings:
    opt = config.option
    raw_reports = opt.delegation_report or []
    reports = tuple(dict.fromkeys(raw_reports))
    plan_cli = opt.delegation_plan
    plan_ini = _ini(config, "delegation_plan")
    workers = opt.delegation_workers or _from_ini(
        config, "delegation_workers", workers_type, "auto"
    )
    checks = (
        opt.delegation_check
        if opt.delegation_check is not None
        else _from_ini(config, "delegation_check", checks_type, "isolation,boundaries")
    )
    fail_on = opt.delegation_fail_on or _from_ini(
        config, "delegation_fail_on", fail_on_type, "error"
    )
    return Settings(
        reports=reports,
        plan=plan_cli or plan_ini or None,
        plan_from_ini=bool(plan_ini and not plan_cli),
        workers=str(workers),
        retries=int(
            opt.delegation_retries  # type: ignore[arg-type]
            if opt.delegation_retries is not None
            else _from_ini(config, "delegation_retries", retries_type, "1")
        ),
        timeout=(
            opt.delegation_timeout
            if opt.delegation_timeout is not None
            else _from_ini(config, "delegation_timeout", timeout_type, "0")  # type: ignore[arg-type]
        ),
        schedule=str(
            opt.delegation_schedule
            or _from_ini(config, "delegation_schedule", schedule_type, "waves")
        ),
        checks=tuple(checks),  # type: ignore[arg-type]
        fail_on=str(fail_on),
        tasks=tuple(dict.fromkeys(t for group in opt.delegation_task or () for t in group)),
        diff=opt.delegation_diff,
        seed=opt.delegation_seed,
        shuffles=int(
            opt.delegation_shuffles  # type: ignore[arg-type]
            if opt.delegation_shuffles is not None
            else _from_ini(config, "delegation_shuffles", retries_type, "2")
        ),
        ignore=tuple(config.getini("delegation_ignore")),
        preload=tuple(config.getini("delegation_preload")),
        start=str(
            opt.delegation_start or _from_ini(config, "delegation_start", start_type, "fork")
        ),
        ci=opt.delegation_ci,
        ci_jobs=opt.delegation_ci_jobs,
        ci_template=_ini(config, "delegation_ci_template") or None,
        upstream=opt.delegation_upstream,
        suggest=opt.delegation_suggest,
        codeowners=_ini(config, "delegation_codeowners") or None,
        branches=opt.delegation_branches,
        base=opt.delegation_base,
        real_home=bool(opt.delegation_real_home) or _flag(config, "delegation_real_home"),
    )


def plan_path(config: pytest.Config, settings: Settings) -> Path:
    """Where the plan is: CLI paths are relative to the invocation folder, ini ones to the ini."""
    if settings.plan is None:
        return config.rootpath / "delegation.yaml"
    if settings.plan_from_ini and config.inipath is not None:
        return (config.inipath.parent / settings.plan).resolve()
    return (config.invocation_params.dir / settings.plan).resolve()


def take_over_xdist(config: pytest.Config, settings: Settings) -> Settings:
    """``-n N`` (pytest-xdist) beside ``--delegation-report`` drives the plugin's workers.

    Users type ``-n auto`` by habit; xdist's own workers would then run the tests again
    without the plan (an INTERNALERROR from its workers), so xdist stands down and the
    plugin runs N task workers instead (``--delegation-workers`` wins when given too).
    """
    numprocesses = getattr(config.option, "numprocesses", None)
    if not numprocesses or not config.pluginmanager.hasplugin("xdist"):
        return settings
    config.option.numprocesses = 0
    config.option.dist = "no"
    config.option.tx = []
    if getattr(config.option, "delegation_workers", None):
        return replace(settings, workers_from=f"-n {numprocesses} ignored")
    return replace(settings, workers=str(numprocesses), workers_from=f"from -n {numprocesses}")
