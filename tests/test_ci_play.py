"""The generated CI jobs, played on this machine: each job's own commands in a fresh copy
of the project, in `needs:` order, artifacts passed by copying, then combine. The
combined report must say what one machine says of the same plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ciplayer import play_github
from ciplayer import sh
from conftest import validate_reports
import pytest
import yaml


PLAN = """\
version: 1
tasks:
  models:
    role: code-writer
    files: [app/models.py]
  api:
    role: code-writer
    files: [app/api.py]
  views:
    role: code-writer
    files: [app/views.py]
    depends_on: [models]
  admin:
    role: code-writer
    files: [app/admin.py]
    depends_on: [api]
  docs:
    role: documentation
    depends_on: [views]
    no_tests: prose
  review:
    role: code-reviewer
    depends_on: [docs, admin]
"""

SOURCES = {
    "app/__init__.py": "",
    "app/models.py": "def model():\n    return 'model'\n",
    "app/api.py": "def api():\n    return 'api'\n",
    "app/views.py": "from app.models import model\n\ndef view():\n    return model()\n",
    "app/admin.py": "from app.api import api\n\ndef admin():\n    return api()\n",
    "tests/test_models.py": "import pytest\n\n@pytest.mark.task('models')\ndef test_model():\n    from app.models import model\n    assert model() == 'model'\n",
    "tests/test_views.py": "import pytest\n\n@pytest.mark.task('views')\ndef test_view():\n    from app.views import view\n    assert view() == 'model'\n",
    "tests/test_admin.py": "import pytest\n\n@pytest.mark.task('admin')\ndef test_admin():\n    from app.admin import admin\n    assert admin() == 'api'\n",
    "tests/test_review.py": "import pytest\n\n@pytest.mark.task('review')\ndef test_review():\n    pass\n",
}

API_OK = "import pytest\n\n@pytest.mark.task('api')\ndef test_api():\n    from app.api import api\n    assert api() == 'api'\n"
API_FAILS = "import pytest\n\n@pytest.mark.task('api')\ndef test_api():\n    assert False, 'the api is broken'\n"


def make_project(root: Path, api_test: str) -> None:
    (root / "delegation.yaml").write_text(PLAN)
    (root / "pytest.ini").write_text("[pytest]\n")
    for path, source in {**SOURCES, "tests/test_api.py": api_test}.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)


def single_machine(project: Path) -> dict[str, Any]:
    result = sh("python -m pytest --delegation-report=json:one.json -q", project, {})
    assert result.returncode in (0, 1), result.stdout + result.stderr
    data: dict[str, Any] = json.loads((project / "one.json").read_text())
    (project / "one.json").unlink()
    return data


def verdicts(data: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {t: (r["status"], r.get("blocked_by")) for t, r in data["tasks"].items()}


def findings(data: dict[str, Any]) -> set[tuple[str, str | None, str | None]]:
    return {(f["rule"], f.get("task"), f.get("test")) for f in data["findings"]}


@pytest.mark.parametrize("schedule", ["waves", "dag"])
@pytest.mark.parametrize("api_test", [API_OK, API_FAILS], ids=["passing", "api-fails"])
def test_the_generated_github_jobs_played_here_agree_with_one_machine(
    tmp_path: Path, schedule: str, api_test: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    make_project(project, api_test)
    generate = sh(
        f"python -m pytest --delegation-ci=github:wf.yml --delegation-schedule={schedule}"
        " --delegation-check=isolation,boundaries",
        project,
        {},
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    workflow = yaml.safe_load((project / "wf.yml").read_text())
    (project / "wf.yml").unlink()
    one = single_machine(project)

    outputs = play_github(project, workflow, tmp_path / "ci")
    combined_dir = outputs["combine-0"]
    combined = json.loads((combined_dir / "delegation-report.json").read_text())

    assert verdicts(combined) == verdicts(one)
    assert findings(combined) == findings(one)
    assert combined["summary"]["verdict"] == one["summary"]["verdict"]
    # every job that ran a worker is a lane of the combined timeline (a job whose
    # tasks were all blocked upstream ran none)
    jobs = {row["job"] for row in combined["timeline"]}
    if api_test is API_OK:
        assert len(jobs) == len(outputs) - 1
    assert "delegation report" in (combined_dir / "step-summary.md").read_text().lower()
    if api_test is API_FAILS:
        assert verdicts(combined)["admin"] == ("blocked", "api")
        assert verdicts(combined)["review"] == ("blocked", "api")
    validate_reports(tmp_path)
