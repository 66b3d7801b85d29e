"""The user's template for how a CI job installs the project (ini `delegation_ci_template`).

The plugin knows the plan, not how a project is built: checking out, the Python version,
system packages and installing the project are the user's, in a small YAML file they own.

GitHub: a workflow with one job. The workflow's top-level keys (``name``, ``on``,
``permissions``, ``env``, ``concurrency``, ``defaults``, ...) are kept; the job's
``runs-on``, ``container``, ``services``, ``env``, ``timeout-minutes``, ``defaults``,
``permissions`` and ``steps`` are copied into every generated job, which appends its
own steps after the user's (so those must check out and install the project).

GitLab: a pipeline whose hidden job ``.delegation-setup`` (image, before_script,
variables, ...) every generated job ``extends``; its other keys are kept as they are,
and its ``stages`` come before the generated ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from typing import NamedTuple
from typing import NoReturn

import yaml


GITHUB_KEYS = ("name", "run-name", "on", "permissions", "env", "defaults", "concurrency")
#: the keys of the template's job that every generated job copies
GITHUB_JOB_KEYS = (
    "runs-on",
    "container",
    "services",
    "env",
    "timeout-minutes",
    "defaults",
    "permissions",
    "steps",
)
GITLAB_SETUP = ".delegation-setup"
INSTALL = "python -m pip install -e . pytest-delegation"
DEFAULT_GITHUB_WORKFLOW: dict[str, Any] = {"name": "delegation", "on": ["push", "pull_request"]}
DEFAULT_GITHUB_JOB: dict[str, Any] = {
    "runs-on": "ubuntu-latest",
    "steps": [
        {"uses": "actions/checkout@v6"},
        {"uses": "actions/setup-python@v6", "with": {"python-version": "3.12"}},
        {"run": INSTALL},
    ],
}
DEFAULT_GITLAB: dict[str, Any] = {
    GITLAB_SETUP: {"image": "python:3.12", "before_script": [INSTALL]},
}


class TemplateError(ValueError):
    """The template cannot be used; the message names the file, the line and the fix."""


class Template(dict[str, Any]):
    """A loaded template: its data, and the file and lines its keys came from."""

    def __init__(
        self,
        data: dict[Any, Any],
        path: Path | None = None,
        lines: dict[tuple[str, ...], int] | None = None,
    ) -> None:
        super().__init__(data)
        self.path = path
        self.lines = lines or {}


class GithubSetup(NamedTuple):
    #: the workflow's top-level keys, without ``jobs``
    workflow: dict[str, Any]
    #: what every generated job copies
    job: dict[str, Any]


def load_template(path: Path) -> Template:
    """The template at `path`, as a mapping; TemplateError when it is no YAML mapping."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise TemplateError(
            f"{path}: cannot be read ({exc.strerror or exc}); point delegation_ci_template "
            "at a readable YAML file"
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise TemplateError(
            f"{where}: is not valid YAML ({exc.problem or exc}); fix the YAML syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: is not valid YAML ({exc}); fix the YAML syntax") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise TemplateError(
            f"{path}:1: the template is {kind}, not a mapping; write a workflow (GitHub) or "
            f"a pipeline with a '{GITLAB_SETUP}' job (GitLab)"
        )
    # YAML 1.1 reads GitHub's `on:` as the boolean true
    if True in data:
        data = {("on" if key is True else key): value for key, value in data.items()}
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        _key_lines(node, (), lines)
    return Template(data, path, lines)


def github_setup(template: dict[Any, Any] | None) -> GithubSetup:
    """The workflow keys and the job keys the generated GitHub jobs are built on."""
    if template is None:
        return GithubSetup(dict(DEFAULT_GITHUB_WORKFLOW), dict(DEFAULT_GITHUB_JOB))
    problem = _Problems(template)
    if True in template:  # read by yaml.safe_load rather than load_template
        template = {("on" if key is True else key): value for key, value in template.items()}
    for key in template:
        if key not in (*GITHUB_KEYS, "jobs"):
            problem(
                (str(key),),
                f"unknown workflow key '{key}'",
                f"remove it (kept keys: {', '.join(GITHUB_KEYS)})",
            )
    workflow = {key: value for key, value in template.items() if key != "jobs"}
    workflow.setdefault("name", DEFAULT_GITHUB_WORKFLOW["name"])
    workflow.setdefault("on", DEFAULT_GITHUB_WORKFLOW["on"])
    jobs = template.get("jobs")
    one_job = "add one job whose steps check out and install the project"
    if not isinstance(jobs, dict) or not jobs:
        problem(("jobs",), "the workflow has no jobs under 'jobs:'", one_job)
    if len(jobs) > 1:
        problem(
            ("jobs",),
            f"the workflow has {len(jobs)} jobs ({', '.join(map(str, jobs))})",
            "keep one: its runs-on, container, services, env, timeout-minutes and steps "
            "are copied into every generated job",
        )
    (name, job), *_ = jobs.items()
    where = ("jobs", str(name))
    if not isinstance(job, dict):
        problem(where, f"job '{name}' is not a mapping", one_job)
    for key in job:
        if key not in (*GITHUB_JOB_KEYS, "name"):
            problem(
                (*where, str(key)),
                f"job '{name}' has '{key}', which generated jobs do not copy",
                f"remove it (copied keys: {', '.join(GITHUB_JOB_KEYS)})",
            )
    if not isinstance(job.get("env", {}), dict):
        problem(
            (*where, "env"),
            f"the env of job '{name}' is not a mapping",
            "give the variables as NAME: value",
        )
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        problem(
            (*where, "steps"),
            f"the steps of job '{name}' are not a list of steps",
            "list the steps that check out and install the project, each a mapping",
        )
    for step in steps:
        if not isinstance(step, dict):
            problem((*where, "steps"), f"a step of job '{name}' is not a mapping", one_job)
    copied = {key: value for key, value in job.items() if key in GITHUB_JOB_KEYS}
    copied.setdefault("runs-on", DEFAULT_GITHUB_JOB["runs-on"])
    return GithubSetup(workflow, copied)


def gitlab_setup(template: dict[str, Any] | None) -> dict[str, Any]:
    """The pipeline keys the generated GitLab jobs are added to, with `.delegation-setup`."""
    if template is None:
        return {key: dict(value) for key, value in DEFAULT_GITLAB.items()}
    problem = _Problems(template)
    setup = template.get(GITLAB_SETUP)
    if not isinstance(setup, dict):
        problem(
            (GITLAB_SETUP,),
            f"the pipeline has no '{GITLAB_SETUP}' job"
            if setup is None
            else f"'{GITLAB_SETUP}' is not a mapping",
            f"add a hidden job '{GITLAB_SETUP}' with the image and before_script that "
            "install the project: every generated job extends it",
        )
    stages = template.get("stages", [])
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        problem(("stages",), "'stages' is not a list of stage names", "list names, or drop it")
    return dict(template)


class _Problems:
    """Raises a TemplateError at a key's line."""

    def __init__(self, template: dict[Any, Any]) -> None:
        self.path = template.path if isinstance(template, Template) else None
        self.lines = template.lines if isinstance(template, Template) else {}

    def __call__(self, key: tuple[str, ...], problem: str, fix: str) -> NoReturn:
        line = next(
            (self.lines[key[:n]] for n in range(len(key), 0, -1) if key[:n] in self.lines), None
        )
        where = str(self.path) if self.path is not None else "the CI template"
        if line is not None:
            where = f"{where}:{line}"
        raise TemplateError(f"{where}: {problem}; {fix}")


def _key_lines(
    node: yaml.MappingNode, prefix: tuple[str, ...], lines: dict[tuple[str, ...], int]
) -> None:
    """The 1-based line of every key, three levels deep (workflow, jobs, a job's keys)."""
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        path = (*prefix, str(key.value))
        lines.setdefault(path, key.start_mark.line + 1)
        if isinstance(value, yaml.MappingNode) and len(path) < 3:
            _key_lines(value, path, lines)
