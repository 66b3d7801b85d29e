"""The generated CI files: their structure, their commands, and the real validators.

actionlint and check-jsonschema (the test extras) must sit beside the interpreter: a
missing validator fails the tests rather than skipping them, so a green run means the
files were checked.
"""

from __future__ import annotations

import json
from pathlib import Path
import shlex
import subprocess
import sys
from typing import Any

import pytest
import yaml

from pytest_delegation.ci.jobs import Job
from pytest_delegation.ci.jobs import plan_jobs
from pytest_delegation.ci.template import TemplateError
from pytest_delegation.ci.template import load_template
from pytest_delegation.ci.workflows import HEADER_MARK
from pytest_delegation.ci.workflows import CiError
from pytest_delegation.ci.workflows import Setup
from pytest_delegation.ci.workflows import combine_command
from pytest_delegation.ci.workflows import job_command
from pytest_delegation.ci.workflows import render_github
from pytest_delegation.ci.workflows import render_gitlab
from pytest_delegation.ci.workflows import render_matrix
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.waves import compute_waves


GRAPH: dict[str, dict[str, Any]] = {
    "a": {},
    "b": {},
    "c": {"depends_on": ["a"]},
    "d": {"depends_on": ["c"], "no_tests": "docs only"},
    "e": {"depends_on": ["d", "b"]},
}
WITH_TESTS = ["a", "b", "c", "e"]
ARGS = ("-p", "no:randomly", "-k", "not slow")

GITHUB_TEMPLATE = """\
name: my checks
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
env:
  FORCE_COLOR: "1"
concurrency:
  group: delegation-${{ github.ref }}
  cancel-in-progress: true
jobs:
  install:
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    env:
      PIP_DISABLE_PIP_VERSION_CHECK: "1"
    services:
      redis:
        image: redis:7
    steps:
      - uses: actions/checkout@v6
      - uses: actions/setup-python@v6
        with:
          python-version: "3.11"
      - run: python -m pip install -e .[test] pytest-delegation
"""

GITLAB_TEMPLATE = """\
stages: [build]
variables:
  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"
default:
  interruptible: true
.delegation-setup:
  image: python:3.11
  before_script:
    - python -m pip install -e .[test]
  cache:
    paths: [.cache/pip]
lint:
  stage: build
  image: python:3.11
  script: [python -m pip install ruff, ruff check .]
"""


def validator(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(
            f"{name} is not installed beside {sys.executable}: install the test extras "
            "(pip install -e '.[test]')"
        )
    return str(path)


def validate(kind: str, files: list[Path]) -> None:
    commands = {
        "github": [
            [validator("actionlint"), "-shellcheck=", "-pyflakes=", *map(str, files)],
            [
                validator("check-jsonschema"),
                "--builtin-schema",
                "vendor.github-workflows",
                *map(str, files),
            ],
        ],
        "gitlab": [
            [
                validator("check-jsonschema"),
                "--builtin-schema",
                "vendor.gitlab-ci",
                *map(str, files),
            ]
        ],
    }[kind]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{shlex.join(command)}\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def plan() -> Any:
    plan = plan_from_dict({"version": 1, "tasks": GRAPH}, Path("delegation.yaml"))
    plan.freeze(compute_waves(plan))
    return plan


def setups(tmp_path: Path, kind: str) -> dict[str, Setup]:
    template = tmp_path / f"{kind}-template.yml"
    template.write_text(GITHUB_TEMPLATE if kind == "github" else GITLAB_TEMPLATE)
    return {
        "plain": Setup(),
        "order": Setup(pytest_args=ARGS, order_job=True),
        "template": Setup(pytest_args=ARGS, template=load_template(template)),
        "template+order": Setup(order_job=True, template=load_template(template)),
    }


def steps_run(job: dict[str, Any]) -> list[str]:
    """The commands of the plugin's own steps (the user's install steps aside)."""
    return [step["run"] for step in job["steps"] if step.get("shell") == "bash"]


# -- commands ----------------------------------------------------------------------------


def test_job_command_follows_the_contract() -> None:
    setup = Setup(pytest_args=("-p", "no:randomly"))
    assert job_command("wave-2-1", ("c", "f"), setup, "delegation-upstream") == [
        "python",
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "--delegation-task=c,f",
        "--delegation-report=json:delegation-reports/wave-2-1.json",
        "--junitxml=delegation-reports/wave-2-1.xml",
        "--delegation-upstream=delegation-upstream",
    ]
    ordered = job_command("task-a", "a", Setup(order_job=True), None)
    assert "--delegation-check=isolation,boundaries" in ordered
    assert not any(arg.startswith("--delegation-upstream") for arg in ordered)
    assert combine_command("up", "summary.md") == [
        "pytest-delegation",
        "combine",
        "up",
        "--report=term",
        "--report=json:delegation-report.json",
        "--report=markdown:summary.md",
        "--junitxml=delegation-junit.xml",
    ]


# -- GitHub ------------------------------------------------------------------------------


def test_github_waves(plan: Any) -> None:
    jobs = plan_jobs(plan, WITH_TESTS)
    text = render_github(jobs, Setup(pytest_args=ARGS, order_job=True), "waves")
    first = text.splitlines()[0]
    assert first.startswith(f"# {HEADER_MARK} from delegation.yaml")
    assert first.endswith("regenerate with: pytest --delegation-ci=github")
    workflow = yaml.safe_load(text)
    # written quoted: a YAML 1.1 reader would take a bare `on` for true
    assert "\n'on':\n" in text
    assert workflow["on"] == ["push", "pull_request"]
    assert list(workflow["jobs"]) == ["wave-1", "wave-2", "wave-4", "order-check", "combine"]
    wave1, wave2, wave4 = (workflow["jobs"][f"wave-{n}"] for n in (1, 2, 4))
    assert "needs" not in wave1 and "if" not in wave1
    assert wave1["strategy"] == {
        "fail-fast": False,
        "matrix": {
            "include": [{"job": "wave-1-1", "tasks": "a"}, {"job": "wave-1-2", "tasks": "b"}]
        },
    }
    assert wave2["needs"] == ["wave-1"] and wave4["needs"] == ["wave-2"]
    assert wave2["if"] == "${{ !cancelled() }}"
    assert wave2["env"]["PYTEST_DELEGATION_JOB"] == "${{ matrix.job }}"
    (run,) = steps_run(wave2)
    assert run == (
        "python -m pytest -p no:randomly -k 'not slow' --delegation-check=isolation,boundaries "
        '--delegation-task="$DELEGATION_TASKS" '
        '--delegation-report=json:delegation-reports/"$PYTEST_DELEGATION_JOB".json '
        '--junitxml=delegation-reports/"$PYTEST_DELEGATION_JOB".xml '
        "--delegation-upstream=delegation-upstream"
    )
    uses = [step.get("uses", "") for step in wave2["steps"]]
    assert uses[:3] == ["actions/checkout@v6", "actions/setup-python@v6", ""]
    download, upload = wave2["steps"][3], wave2["steps"][5]
    assert download["with"] == {
        "pattern": "delegation-job-*",
        "merge-multiple": True,
        "path": "delegation-upstream",
    }
    assert upload["if"] == "always()"
    assert upload["with"] == {
        "name": "delegation-job-${{ matrix.job }}",
        "path": "delegation-reports/",
        "if-no-files-found": "error",
    }
    assert not any("download" in step.get("uses", "") for step in wave1["steps"])
    order = workflow["jobs"]["order-check"]
    assert "needs" not in order
    assert steps_run(order) == [
        "python -m pytest -p no:randomly -k 'not slow' --delegation-check=order "
        "--delegation-report=json:delegation-reports/order-check.json"
    ]
    combine = workflow["jobs"]["combine"]
    assert combine["needs"] == ["wave-1", "wave-2", "wave-4", "order-check"]
    assert combine["if"] == "${{ !cancelled() }}"
    assert steps_run(combine)[-1] == (
        "pytest-delegation combine delegation-upstream --report=term "
        '--report=json:delegation-report.json --report=markdown:"$GITHUB_STEP_SUMMARY" '
        "--junitxml=delegation-junit.xml"
    )
    downloads = [step["with"] for step in combine["steps"] if "download" in step.get("uses", "")]
    assert downloads[1] == {"name": "delegation-order-check", "path": "delegation-upstream"}
    assert combine["steps"][-1]["with"]["name"] == "delegation-report"
    assert combine["steps"][-1]["with"]["path"].split() == [
        "delegation-report.json",
        "delegation-junit.xml",
    ]


def test_github_dag(plan: Any) -> None:
    jobs = plan_jobs(plan, WITH_TESTS, schedule="dag")
    text = render_github(jobs, Setup(), "dag")
    assert text.splitlines()[0].endswith("--delegation-ci=github --delegation-schedule=dag")
    workflow = yaml.safe_load(text)["jobs"]
    assert list(workflow) == ["task-a", "task-b", "task-c", "task-e", "combine"]
    assert "needs" not in workflow["task-a"]
    assert workflow["task-c"]["needs"] == ["task-a"]
    assert workflow["task-e"]["needs"] == ["task-b", "task-c"]
    assert workflow["task-e"]["env"] == {"PYTEST_DELEGATION_JOB": "task-e"}
    assert steps_run(workflow["task-e"]) == [
        "python -m pytest --delegation-task=e "
        "--delegation-report=json:delegation-reports/task-e.json "
        "--junitxml=delegation-reports/task-e.xml --delegation-upstream=delegation-upstream"
    ]
    assert workflow["combine"]["needs"] == ["task-a", "task-b", "task-c", "task-e"]


def test_github_template_is_kept(plan: Any, tmp_path: Path) -> None:
    setup = setups(tmp_path, "github")["template"]
    workflow = yaml.safe_load(render_github(plan_jobs(plan, WITH_TESTS), setup, "waves"))
    assert workflow["name"] == "my checks"
    assert workflow["on"] == {"push": {"branches": ["main"]}, "pull_request": None}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-24.04", name
        assert job["timeout-minutes"] == 30
        assert job["services"] == {"redis": {"image": "redis:7"}}
        assert job["env"]["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
        assert job["steps"][2]["run"] == "python -m pip install -e .[test] pytest-delegation"
    assert workflow["jobs"]["wave-1"]["env"]["PYTEST_DELEGATION_JOB"] == "${{ matrix.job }}"


def test_github_files_pass_actionlint_and_the_schema(plan: Any, tmp_path: Path) -> None:
    files = []
    for schedule in ("waves", "dag"):
        for limit in (None, 1):
            jobs = plan_jobs(plan, WITH_TESTS, schedule=schedule, limit=limit)
            for name, setup in setups(tmp_path, "github").items():
                path = tmp_path / f"github-{schedule}-{limit}-{name}.yml"
                path.write_text(render_github(jobs, setup, schedule))
                files.append(path)
    validate("github", files)


def test_github_matrix_limit(plan: Any) -> None:
    jobs = [Job(f"wave-1-{k}", 1, (f"t{k}",), ()) for k in range(1, 258)]
    with pytest.raises(CiError, match=r"wave 1 has 257 jobs.*--delegation-ci-jobs=256"):
        render_github(jobs, Setup(), "waves")
    render_github(jobs[:256], Setup(), "waves")


def test_no_jobs() -> None:
    for render in (render_github, render_gitlab):
        with pytest.raises(CiError, match="no task of the plan has tests"):
            render([], Setup(), "waves")


# -- GitLab ------------------------------------------------------------------------------


def test_gitlab_waves(plan: Any) -> None:
    jobs = plan_jobs(plan, WITH_TESTS)
    text = render_gitlab(jobs, Setup(pytest_args=ARGS, order_job=True), "waves")
    assert text.splitlines()[0].endswith("regenerate with: pytest --delegation-ci=gitlab")
    pipeline = yaml.safe_load(text)
    assert pipeline["stages"] == [
        "delegation-wave-1",
        "delegation-wave-2",
        "delegation-wave-4",
        "delegation-order-check",
        "delegation-combine",
    ]
    assert pipeline[".delegation-setup"] == {
        "image": "python:3.12",
        "before_script": ["python -m pip install -e . pytest-delegation"],
    }
    wave1, wave2 = pipeline["wave-1"], pipeline["wave-2"]
    assert wave1["extends"] == ".delegation-setup" and "when" not in wave1
    assert wave1["parallel"] == {
        "matrix": [
            {"PYTEST_DELEGATION_JOB": "wave-1-1", "DELEGATION_TASKS": "a"},
            {"PYTEST_DELEGATION_JOB": "wave-1-2", "DELEGATION_TASKS": "b"},
        ]
    }
    # a wave waits for the stage before, and so gets the reports of every earlier wave
    assert "needs" not in wave2 and wave2["when"] == "always"
    assert wave2["stage"] == "delegation-wave-2"
    assert wave2["script"] == [
        "python -m pytest -p no:randomly -k 'not slow' --delegation-check=isolation,boundaries "
        '--delegation-task="$DELEGATION_TASKS" '
        '--delegation-report=json:delegation-reports/"$PYTEST_DELEGATION_JOB".json '
        '--junitxml=delegation-reports/"$PYTEST_DELEGATION_JOB".xml '
        "--delegation-upstream=delegation-reports"
    ]
    assert wave2["artifacts"] == {"when": "always", "paths": ["delegation-reports/"]}
    order = pipeline["order-check"]
    assert order["needs"] == [] and order["stage"] == "delegation-order-check"
    assert order["variables"] == {"PYTEST_DELEGATION_JOB": "order-check"}
    combine = pipeline["combine"]
    assert combine["stage"] == "delegation-combine" and combine["when"] == "always"
    assert combine["needs"] == [
        {"job": name, "artifacts": True} for name in ("wave-1", "wave-2", "wave-4", "order-check")
    ]
    assert combine["script"] == [
        "pytest-delegation combine delegation-reports --report=term "
        "--report=json:delegation-report.json --report=markdown:delegation-report.md "
        "--junitxml=delegation-junit.xml"
    ]
    assert combine["artifacts"]["reports"] == {"junit": "delegation-junit.xml"}
    assert combine["artifacts"]["when"] == "always"


def test_gitlab_dag(plan: Any) -> None:
    pipeline = yaml.safe_load(
        render_gitlab(plan_jobs(plan, WITH_TESTS, schedule="dag"), Setup(), "dag")
    )
    assert pipeline["task-a"]["needs"] == [] and "when" not in pipeline["task-a"]
    assert pipeline["task-e"]["needs"] == [
        {"job": "task-b", "artifacts": True},
        {"job": "task-c", "artifacts": True},
    ]
    assert pipeline["task-e"]["when"] == "always"
    assert pipeline["task-e"]["stage"] == "delegation-wave-4"
    assert pipeline["task-e"]["variables"] == {"PYTEST_DELEGATION_JOB": "task-e"}
    assert pipeline["task-e"]["script"][0].endswith("--delegation-upstream=delegation-reports")


def test_gitlab_template_is_kept(plan: Any, tmp_path: Path) -> None:
    setup = setups(tmp_path, "gitlab")["template"]
    pipeline = yaml.safe_load(render_gitlab(plan_jobs(plan, WITH_TESTS), setup, "waves"))
    assert pipeline["stages"][0] == "build"
    assert pipeline["stages"][-1] == "delegation-combine"
    assert pipeline["variables"] == {"PIP_CACHE_DIR": "$CI_PROJECT_DIR/.cache/pip"}
    assert pipeline["lint"]["stage"] == "build"
    assert pipeline[".delegation-setup"]["image"] == "python:3.11"


def test_gitlab_files_pass_the_schema(plan: Any, tmp_path: Path) -> None:
    files = []
    for schedule in ("waves", "dag"):
        for limit in (None, 1):
            jobs = plan_jobs(plan, WITH_TESTS, schedule=schedule, limit=limit)
            for name, setup in setups(tmp_path, "gitlab").items():
                path = tmp_path / f"gitlab-{schedule}-{limit}-{name}.yml"
                path.write_text(render_gitlab(jobs, setup, schedule))
                files.append(path)
    validate("gitlab", files)


def test_gitlab_limits(plan: Any, tmp_path: Path) -> None:
    jobs = [Job(f"wave-1-{k}", 1, (f"t{k}",), ()) for k in range(1, 202)]
    with pytest.raises(CiError, match=r"wave 1 has 201 jobs.*--delegation-ci-jobs=200"):
        render_gitlab(jobs, Setup(), "waves")
    many = [Job(f"task-t{k}", 1, (f"t{k}",), ()) for k in range(60)]
    needy = Job("task-z", 2, ("z",), tuple(job.name for job in many[:51]))
    with pytest.raises(CiError, match="task-z needs 51 jobs"):
        render_gitlab([*many, needy], Setup(), "dag")
    # past GitLab's 50 needs, combine waits for the earlier stages instead
    pipeline = yaml.safe_load(render_gitlab(many, Setup(), "dag"))
    assert "needs" not in pipeline["combine"] and pipeline["combine"]["when"] == "always"
    path = tmp_path / "many.yml"
    path.write_text(render_gitlab(many, Setup(), "dag"))
    validate("gitlab", [path])


def test_gitlab_template_job_named_like_a_generated_one(plan: Any) -> None:
    template = {".delegation-setup": {"image": "python:3.12"}, "combine": {"script": ["x"]}}
    with pytest.raises(CiError, match="a job named combine"):
        render_gitlab(plan_jobs(plan, WITH_TESTS), Setup(template=template), "waves")


# -- matrix ------------------------------------------------------------------------------


def test_matrix(plan: Any) -> None:
    text = render_matrix(plan_jobs(plan, WITH_TESTS, schedule="dag"))
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text)["include"][3] == {
        "job": "task-e",
        "wave": 4,
        "tasks": "e",
        "needs": ["task-b", "task-c"],
    }


# -- template errors ---------------------------------------------------------------------

BAD_TEMPLATES = {
    "not-yaml": ("name: x\njobs:\n  a: [1, 2\n", 4, "is not valid YAML"),
    "not-a-mapping": ("- a\n- b\n", 1, "not a mapping"),
    "empty": ("", 1, "is empty"),
    "no-jobs": ("name: x\njobs: {}\n", 2, "has no jobs"),
    "two-jobs": (
        "name: x\njobs:\n  a:\n    steps: [{run: x}]\n  b:\n    steps: [{run: x}]\n",
        2,
        "has 2 jobs (a, b)",
    ),
    "steps-not-a-list": ("jobs:\n  a:\n    runs-on: x\n    steps: run it\n", 4, "not a list"),
    "step-not-a-mapping": ("jobs:\n  a:\n    steps:\n      - run it\n", 3, "not a mapping"),
    "strategy": (
        "jobs:\n  a:\n    strategy: {matrix: {py: [1]}}\n    steps: [{run: x}]\n",
        3,
        "has 'strategy'",
    ),
    "env-not-a-mapping": ("jobs:\n  a:\n    env: [x]\n    steps: [{run: x}]\n", 3, "env"),
    "unknown-key": ("jobz:\n  a: {}\n", 1, "unknown workflow key 'jobz'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEMPLATES))
def test_bad_github_template(case: str, tmp_path: Path, plan: Any) -> None:
    text, line, message = BAD_TEMPLATES[case]
    path = tmp_path / "ci-template.yml"
    path.write_text(text)
    with pytest.raises(TemplateError) as info:
        render_github(plan_jobs(plan, WITH_TESTS), Setup(template=load_template(path)), "waves")
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)
    assert "; " in str(info.value)  # and the fix


def test_unreadable_template(tmp_path: Path) -> None:
    path = tmp_path / "missing.yml"
    with pytest.raises(
        TemplateError, match=r"missing.yml: cannot be read .*delegation_ci_template"
    ):
        load_template(path)
    path.write_bytes(b"name: \xff\n")
    with pytest.raises(TemplateError, match="is not UTF-8"):
        load_template(path)


def test_bad_gitlab_template(tmp_path: Path, plan: Any) -> None:
    path = tmp_path / "ci-template.yml"
    path.write_text("stages: [a]\nlint:\n  script: [x]\n")
    with pytest.raises(TemplateError, match=r"no '.delegation-setup' job; add a hidden job"):
        render_gitlab(plan_jobs(plan, WITH_TESTS), Setup(template=load_template(path)), "waves")
    path.write_text("stages: build\n.delegation-setup:\n  image: python:3.12\n")
    with pytest.raises(TemplateError, match=rf"{path}:1: 'stages' is not a list"):
        render_gitlab(plan_jobs(plan, WITH_TESTS), Setup(template=load_template(path)), "waves")


def test_the_validators_reject_a_broken_file(plan: Any, tmp_path: Path) -> None:
    """The checks above mean something: a job needing a job that is not there fails."""
    text = render_github(plan_jobs(plan, WITH_TESTS), Setup(), "waves")
    github = tmp_path / "broken-github.yml"
    github.write_text(text.replace("- wave-1\n", "- wave-9\n", 1))
    with pytest.raises(AssertionError, match="wave-9"):
        validate("github", [github])
    gitlab = tmp_path / "broken-gitlab.yml"
    gitlab.write_text(
        render_gitlab(plan_jobs(plan, WITH_TESTS), Setup(), "waves").replace(
            "when: always", "when: sometimes"
        )
    )
    with pytest.raises(AssertionError, match=r"broken-gitlab\.yml"):
        validate("gitlab", [gitlab])


def test_a_template_read_with_safe_load_keeps_on(plan: Any) -> None:
    template = yaml.safe_load(GITHUB_TEMPLATE)
    assert True in template
    text = render_github(plan_jobs(plan, WITH_TESTS), Setup(template=template), "waves")
    assert yaml.safe_load(text)["on"] == {"push": {"branches": ["main"]}, "pull_request": None}
