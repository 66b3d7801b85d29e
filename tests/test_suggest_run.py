"""--delegation-suggest in real sessions: the corrected plan comes out, and a second run
with it is clean of the findings it fixed (pytester and the example project, end to end)."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

import pytest
import yaml


pytestmark = pytest.mark.task("e2e")

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
FIXED = {"file-conflict", "boundary-violation", "unowned-file", "hidden-ordering-dependency",
         "wave-overload", "wave-order-dependency"}  # fmt: skip


def run(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--delegation-report=json:report.json", *args],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = folder / "report.json"
    return done, json.loads(report.read_text()) if report.exists() else {}


def rules(data: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in data["findings"]}


def test_the_example_projects_suggested_plan_fixes_what_the_run_found(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.path / "example"
    shutil.copytree(EXAMPLE, folder)
    first, before = run(folder, "--delegation-check=all", "--delegation-suggest=suggested.yaml")
    assert first.returncode == 1
    assert {"file-conflict", "boundary-violation", "hidden-ordering-dependency"} <= rules(before)
    out = " ".join(first.stdout.split())
    assert "suggested plan" in out and "shared: + shop/models/_money.py" in out
    suggested = (folder / "suggested.yaml").read_text()
    # the user's plan, edited: its comments are all still there
    original = (folder / "delegation.yaml").read_text()
    comments = [line.strip() for line in original.splitlines() if line.strip().startswith("#")]
    assert all(comment in suggested for comment in comments)

    _, after = run(folder, "--delegation-check=all", "--delegation-plan=suggested.yaml")
    assert not rules(after) & FIXED, after["findings"]
    assert all(t["status"] == "passed" for t in after["tasks"].values() if t["tests"])


def test_an_inferred_plan_becomes_a_starting_plan(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    files = {
        "app/__init__.py": "",
        "app/money.py": "def cents(x):\n    return round(x * 100)\n",
        "app/users.py": "def user(name):\n    return name.title()\n",
        "app/orders.py": "from app.money import cents\n\ndef total(x):\n    return cents(x)\n",
        "tests/test_users.py": "from app.users import user\n\ndef test_user():\n    assert user('ann') == 'Ann'\n",
        "tests/test_orders.py": (
            "from app.orders import total\nfrom app.money import cents\n\n"
            "def test_total():\n    assert total(1.5) == 150\n\n"
            "def test_cents():\n    assert cents(2) == 200\n"
        ),
        "tests/test_money.py": "from app.money import cents\n\ndef test_cents():\n    assert cents(1) == 100\n",
    }
    for path, source in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    first, _ = run(pytester.path, "--delegation-plan=auto", "--delegation-suggest=delegation.yaml")
    assert first.returncode == 0, first.stdout + first.stderr
    plan = (pytester.path / "delegation.yaml").read_text()
    assert "app/users.py" in plan and "app/orders.py" in plan
    # a file two modules' tests run is shared, as the reason says
    assert "app/money.py" in plan.split("tasks:")[0]
    second, data = run(pytester.path, "--delegation-check=isolation,boundaries")
    assert second.returncode == 0, second.stdout + second.stderr
    assert not rules(data) & FIXED
    owned = {t: e["files"] for t, e in data["plan"]["tasks"].items()}
    assert any("/app/users.py" in f or "app/users.py" in f for fs in owned.values() for f in fs)


def test_a_markdown_plan_gets_a_yaml_suggestion(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "app").mkdir()
    (pytester.path / "app/__init__.py").write_text("")
    (pytester.path / "app/a.py").write_text("def a():\n    return 1\n")
    (pytester.path / "app/b.py").write_text("from app.a import a\n\ndef b():\n    return a()\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests/test_b.py").write_text(
        "import pytest\n\n@pytest.mark.task('write-b')\ndef test_b():\n"
        "    from app.b import b\n    assert b() == 1\n"
    )
    (pytester.path / "PLAN.md").write_text(
        "Task 1: Code Writer - Write A (app/a.py)\n  no_tests: a helper\n"
        "Task 2: Code Writer - Write B (app/b.py)\n"
    )
    _, before = run(
        pytester.path, "--delegation-plan=PLAN.md", "--delegation-check=isolation,boundaries",
        "--delegation-suggest=suggested.yaml",
    )  # fmt: skip
    assert "boundary-violation" in rules(before)
    text = (pytester.path / "suggested.yaml").read_text()
    assert text.startswith("#")  # a fresh YAML plan, saying where it came from
    assert yaml.safe_load(text)["tasks"]["write-b"]["depends_on"] == ["write-a"]
    assert "suggested: boundary-violation: app/b.py (task 'write-b') imports app/a.py" in text
    _, after = run(
        pytester.path,
        "--delegation-plan=suggested.yaml",
        "--delegation-check=isolation,boundaries",
    )
    assert "boundary-violation" not in rules(after)
    assert after["plan"]["waves"] == [["write-a"], ["write-b"]]


def test_a_suggestion_that_cannot_be_written_is_an_error_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    (pytester.path / "taken").mkdir()
    result = pytester.runpytest_subprocess(
        "--delegation-report", "--delegation-plan=auto", "--delegation-suggest=taken"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*ERROR: the suggested plan could not be written to*taken*"])


def test_code_from_another_checkout_is_named_instead_of_an_empty_plan(
    pytester: pytest.Pytester,
) -> None:
    # found on real suites: run in a copy of a project whose editable install points
    # at the original checkout, every file the tests ran was outside rootdir
    elsewhere = pytester.path / "elsewhere"
    (elsewhere / "lib").mkdir(parents=True)
    (elsewhere / "lib/__init__.py").write_text("def f():\n    return 1\n")
    project = pytester.path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text(f"[pytest]\npythonpath = {elsewhere}\n")
    (project / "tests/test_f.py").write_text(
        "from lib import f\n\ndef test_f():\n    assert f() == 1\n"
    )
    done, _ = run(project, "--delegation-plan=auto", "--delegation-suggest=plan.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "nothing to change (no test ran a project file under rootdir" in out


def test_a_generated_suites_suggested_plan_is_clean(pytester: pytest.Pytester) -> None:
    # the benchmark generator's suite with its planted polluter/victim and
    # state-setter/brittle pairs between tasks of one wave, and a max_parallel of 1
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from generate import generate  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    folder = pytester.path / "suite"
    generate(folder, tests=24, tasks=4, waves=2, polluter=True, max_parallel=1)
    first, before = run(folder, "--delegation-check=all", "--delegation-suggest=fixed.yaml")
    assert first.returncode == 1, first.stdout + first.stderr
    assert {"hidden-ordering-dependency", "wave-overload"} <= rules(before)
    _, after = run(folder, "--delegation-check=all", "--delegation-plan=fixed.yaml")
    # the victim is fixed by the plan (its polluter chained after it), the overload by
    # the split; the brittle test gets the order it needs but still fails alone, in its
    # own task's run: a plan cannot fix that, a fixture can, and the reason says so
    left = [(f["rule"], f.get("kind")) for f in after["findings"] if f["rule"] in FIXED]
    assert left == [("hidden-ordering-dependency", "brittle")], after["findings"]
    brittle = next(f for f in after["findings"] if f.get("kind") == "brittle")
    assert brittle["declared_dependency"] is True
    assert "still fails alone" in " ".join(first.stdout.split())
