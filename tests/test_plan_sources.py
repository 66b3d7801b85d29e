"""Plans people already write, read by a real session: Markdown, spec-kit, CODEOWNERS,
and the example project's PLAN.md beside its YAML plan (pytester, end to end)."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys

import pytest


pytestmark = pytest.mark.task("e2e")

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"

SOURCES = {
    "app/__init__.py": "",
    "app/models.py": "def model():\n    return 'model'\n",
    "app/api.py": "from app.models import model\n\ndef api():\n    return model()\n",
    "tests/test_models.py": (
        "import pytest\n\npytestmark = pytest.mark.task('{models}')\n\n"
        "def test_model():\n    from app.models import model\n    assert model() == 'model'\n"
    ),
    "tests/test_api.py": (
        "import pytest\n\npytestmark = pytest.mark.task('{api}')\n\n"
        "def test_api():\n    from app.api import api\n    assert api() == 'model'\n"
    ),
}


def project(pytester: pytest.Pytester, models: str, api: str) -> None:
    pytester.makeini("[pytest]\n")
    for path, source in SOURCES.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.replace("{models}", models).replace("{api}", api))


def report(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:  # type: ignore[type-arg]
    result = pytester.runpytest_subprocess(
        "--delegation-report=json:r.json", "--delegation-check=isolation,boundaries", *args
    )
    path = pytester.path / "r.json"
    return result, json.loads(path.read_text()) if path.exists() else {}


def test_codeowners_is_the_plan_when_there_is_no_plan_file(pytester: pytest.Pytester) -> None:
    project(pytester, models="org-models", api="org-api")
    (pytester.path / ".github").mkdir()
    (pytester.path / ".github/CODEOWNERS").write_text(
        "# who reviews what\n/app/ @org/models\n/app/api.py @org/api\n"
    )
    result, data = report(pytester)
    # api's tests run app/models.py, which CODEOWNERS gives to @org/models: api does
    # not depend on models
    assert result.ret == 1
    assert sorted(data["plan"]["tasks"]) == ["org-api", "org-models"]
    rules = {(f["rule"], f.get("task"), f.get("file")) for f in data["findings"]}
    assert ("boundary-violation", "org-api", "app/models.py") in rules


def test_the_ini_option_gives_a_yaml_plan_its_files(pytester: pytest.Pytester) -> None:
    project(pytester, models="org-models", api="org-api")
    pytester.makeini("[pytest]\ndelegation_codeowners = CODEOWNERS\n")
    (pytester.path / "CODEOWNERS").write_text("/app/ @org/models\n/app/api.py @org/api\n")
    # the YAML says what CODEOWNERS cannot: api depends on models
    (pytester.path / "delegation.yaml").write_text(
        "version: 1\ntasks:\n  org-models: {role: code-writer}\n"
        "  org-api: {role: code-writer, depends_on: [org-models]}\n"
    )
    result, data = report(pytester)
    assert result.ret == 0, result.stdout.str()
    assert data["plan"]["tasks"]["org-api"]["files"]
    assert data["plan"]["waves"] == [["org-models"], ["org-api"]]


def test_a_bad_codeowners_line_is_a_usage_error_with_its_line(pytester: pytest.Pytester) -> None:
    project(pytester, models="org-models", api="org-api")
    (pytester.path / "CODEOWNERS").write_text("/app/ @org/models\n/app/api.py org-api\n")
    result = pytester.runpytest_subprocess("--delegation-report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "CODEOWNERS:2" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_a_markdown_plan_as_a_lead_writes_it(pytester: pytest.Pytester) -> None:
    project(pytester, models="implement-the-models", api="implement-the-api")
    (pytester.path / "PLAN.md").write_text(
        "# Batch 1\n\nTask 1: Code Writer - Implement the models (app/models.py)\r\n"
        "[Wait for completion]\r\n"
        "Task 2: **Code Writer** - Implement the API (app/api.py)\r\n"
    )
    result, data = report(pytester, "--delegation-plan=PLAN.md")
    assert result.ret == 0, result.stdout.str()
    assert data["plan"]["waves"] == [["implement-the-models"], ["implement-the-api"]]
    assert data["plan"]["path"] == "PLAN.md"


def test_a_spec_kit_tasks_file(pytester: pytest.Pytester) -> None:
    project(pytester, models="t001", api="t002")
    (pytester.path / "tasks.md").write_text(
        "# Tasks\n\n## Phase 1: Core\n\n- [ ] T001 [P] Models in app/models.py\n\n"
        "## Phase 2: API\n\n- [x] T002 API in app/api.py\n"
    )
    result, data = report(pytester, "--delegation-plan=tasks.md")
    assert result.ret == 0, result.stdout.str()
    assert data["plan"]["waves"] == [["t001"], ["t002"]]


def test_a_broken_markdown_plan_names_the_line(pytester: pytest.Pytester) -> None:
    project(pytester, models="a", api="b")
    (pytester.path / "PLAN.md").write_text(
        "Task 1: Code Writer - A (app/models.py)\nTask 2: Code Witer - B (app/api.py)\n"
    )
    result = pytester.runpytest_subprocess("--delegation-report", "--delegation-plan=PLAN.md")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "PLAN.md:2" in result.stderr.str()


def test_the_example_projects_markdown_plan_gives_the_yaml_plans_verdict(
    pytester: pytest.Pytester,
) -> None:
    shutil.copytree(EXAMPLE, pytester.path / "example")
    folder = pytester.path / "example"
    verdicts = []
    for plan in ("delegation.yaml", "PLAN.md"):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
             f"--delegation-plan={plan}", f"--delegation-report=json:{plan}.json",
             "--delegation-check=isolation,boundaries"],
            cwd=folder, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        data = json.loads((folder / f"{plan}.json").read_text())
        tasks = {t: (r["status"], r.get("blocked_by")) for t, r in data["tasks"].items()}
        findings = sorted(
            {(f["rule"], f.get("task"), f.get("other_task")) for f in data["findings"]}, key=str
        )
        verdicts.append((result.returncode, data["plan"]["waves"], tasks, findings))
    assert verdicts[0] == verdicts[1]


def test_the_readmes_hook_reads_a_plan_from_pyproject(pytester: pytest.Pytester) -> None:
    pytest.importorskip("tomllib")  # the README's example needs Python 3.11+
    project(pytester, models="models", api="api")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("# conftest.py: a plan in pyproject.toml")
    conftest = readme[start : readme.index("```", start)]
    (pytester.path / "conftest.py").write_text(conftest)
    (pytester.path / "pyproject.toml").write_text(
        '[tool.delegation]\nversion = 1\n[tool.delegation.tasks.models]\nfiles = ["app/models.py"]\n'
        '[tool.delegation.tasks.api]\nfiles = ["app/api.py"]\ndepends_on = ["models"]\n'
    )
    result, data = report(pytester)
    assert result.ret == 0, result.stdout.str()
    assert data["plan"]["waves"] == [["models"], ["api"]]
