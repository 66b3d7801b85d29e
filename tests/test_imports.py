"""The static import check: a task's modules importing another task's module."""

from __future__ import annotations

import ast
import json
from pathlib import Path
import sys
import textwrap
from typing import Any

import pytest

from pytest_delegation.checks.findings import Finding
from pytest_delegation.checks.imports import import_findings
from pytest_delegation.plan.model import Plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.patterns import Tree
from pytest_delegation.plan.waves import compute_waves


SHOP_TASKS: dict[str, Any] = {
    "user-model": {"files": ["shop/models/user.py"]},
    "product-model": {"files": ["shop/models/product.py"]},
    "order-model": {"files": ["shop/models/order.py"], "depends_on": ["product-model"]},
    "billing": {"files": ["shop/billing/**"], "depends_on": ["order-model"]},
}
SHOP_SHARED = ["shop/contracts.py"]
SHOP_FILES = {
    "shop/__init__.py": "",
    "shop/contracts.py": "class Contract: ...\n",
    "shop/models/__init__.py": "",
    "shop/models/user.py": "class User: ...\n",
    "shop/models/product.py": "class Product: ...\n",
    "shop/models/order.py": "",
    "shop/billing/__init__.py": "",
    "shop/billing/pay.py": "",
}


def make_plan(folder: Path, tasks: dict[str, Any], shared: list[str] | None = None) -> Plan:
    data: dict[str, Any] = {"tasks": tasks}
    if shared:
        data["shared"] = shared
    plan = plan_from_dict(data, folder / "delegation.yaml")
    plan.freeze(compute_waves(plan))
    return plan


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def shop(tmp_path: Path, files: dict[str, str]) -> list[Finding]:
    """The shop plan and tree, with these files added or their text replaced."""
    write(tmp_path, {**SHOP_FILES, **files})
    plan = make_plan(tmp_path, SHOP_TASKS, SHOP_SHARED)
    return import_findings(plan, Tree(tmp_path))


def found(findings: list[Finding]) -> list[tuple[str | None, str | None, int | None, Any, Any]]:
    """(task, file, line, imported file, owner) of each finding, in the order given."""
    return [(f.task, f.file, f.line, f.extra["imported_file"], f.other_task) for f in findings]


def test_direct_import_of_another_tasks_module(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/order.py": "import os\n\nimport shop.models.user\n"})
    assert findings == [
        Finding(
            "boundary-violation",
            "shop/models/order.py:3 imports shop.models.user (shop/models/user.py), owned by "
            "'user-model' (wave 1); 'order-model' depends on: product-model",
            fix="declare the dependency (depends_on: [user-model]) or move the shared code "
            "into the plan's shared: files",
            task="order-model",
            other_task="user-model",
            file="shop/models/order.py",
            line=3,
            extra={
                "via": "import",
                "imported_file": "shop/models/user.py",
                "module": "shop.models.user",
                "owner_wave": 1,
                "declared_dependencies": ["product-model"],
            },
        )
    ]
    assert findings[0].severity == "error"
    assert findings[0].to_json()["via"] == "import"


def test_message_of_a_task_without_dependencies(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/user.py": "from shop.models.product import Product\n"})
    assert [f.message for f in findings] == [
        "shop/models/user.py:1 imports shop.models.product (shop/models/product.py), owned "
        "by 'product-model' (wave 1); 'user-model' depends on: nothing"
    ]
    assert findings[0].extra["declared_dependencies"] == []


def test_from_import_of_a_submodule(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/order.py": "from shop.models import user, product\n"})
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 1, "shop/models/user.py", "user-model")
    ]
    assert findings[0].extra["module"] == "shop.models.user"


def test_from_import_of_a_name_counts_the_module(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/order.py": "from shop.models.user import User\n"})
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 1, "shop/models/user.py", "user-model")
    ]


def test_star_import(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/order.py": "from shop.models.user import *\n"})
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 1, "shop/models/user.py", "user-model")
    ]


def test_relative_imports(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": """\
                from . import user
                from .user import User
                from .product import Product
                from ..contracts import Contract
                from ..billing import pay
                from .. import billing
                """,
        },
    )
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 1, "shop/models/user.py", "user-model"),
        ("order-model", "shop/models/order.py", 5, "shop/billing/pay.py", "billing"),
        ("order-model", "shop/models/order.py", 6, "shop/billing/__init__.py", "billing"),
    ]
    assert [f.extra["module"] for f in findings] == [
        "shop.models.user",
        "shop.billing.pay",
        "shop.billing",
    ]


def test_relative_import_from_a_package_init(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/billing/pay.py": "from . import helpers\n",
            "shop/billing/__init__.py": "from .pay import charge\nfrom ..models import user\n",
        },
    )
    # shop/billing/__init__.py: '.' is shop.billing itself; pay.py is billing's own
    assert found(findings) == [
        ("billing", "shop/billing/__init__.py", 2, "shop/models/user.py", "user-model")
    ]


def test_relative_import_beyond_the_top_level_is_ignored(tmp_path: Path) -> None:
    findings = shop(
        tmp_path, {"shop/models/order.py": "from ... import models\nfrom .... import x\n"}
    )
    assert findings == []


def test_import_of_a_dependencys_module(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/order.py": "import shop.models.product\n"})
    assert findings == []


def test_import_of_a_transitive_dependencys_module(tmp_path: Path) -> None:
    # billing -> order-model -> product-model
    findings = shop(
        tmp_path,
        {
            "shop/billing/pay.py": "from shop.models.product import Product\nimport shop.models.order\n",
        },
    )
    assert findings == []


def test_import_of_a_shared_module(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/user.py": "from shop.contracts import Contract\n"})
    assert findings == []


def test_shared_wins_over_an_owner(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "import b\n", "b.py": ""})
    plan = make_plan(tmp_path, {"one": {"files": ["a.py"]}, "two": {"files": ["b.py"]}}, ["b.py"])
    assert import_findings(plan, Tree(tmp_path)) == []


def test_import_of_an_own_module(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/billing/pay.py": "from shop.billing import helpers\nimport shop.billing.pay\n",
            "shop/billing/helpers.py": "from .pay import charge\n",
        },
    )
    assert findings == []


def test_import_of_an_unowned_module_is_left_to_the_run_time_check(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": "import shop.util\nimport shop\n",
            "shop/util.py": "",
        },
    )
    assert findings == []


def test_outside_modules_are_ignored(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": "import os.path\nimport pytest\nfrom collections import abc\n",
        },
    )
    assert findings == []


def test_package_init_counts_only_the_deepest_module(tmp_path: Path) -> None:
    # shop/__init__.py and shop/models/__init__.py import every model, as packages do;
    # importing shop.models.user runs them, but the import reaches user.py alone
    findings = shop(
        tmp_path,
        {
            "shop/__init__.py": "from shop.models import user, product, order\n",
            "shop/models/__init__.py": "from . import user, product, order\n",
            "shop/billing/pay.py": "import shop.models.user\nimport shop.models\nimport shop\n",
        },
    )
    assert found(findings) == [
        ("billing", "shop/billing/pay.py", 1, "shop/models/user.py", "user-model")
    ]


def test_package_init_owned_by_a_task(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg import a, b\n",
            "pkg/a.py": "",
            "pkg/b.py": "import pkg.a\n",
        },
    )
    plan = make_plan(
        tmp_path,
        {
            "package": {"files": ["pkg/__init__.py"], "depends_on": ["a"]},
            "a": {"files": ["pkg/a.py"]},
            "b": {"files": ["pkg/b.py"], "depends_on": ["a"]},
        },
    )
    # b reaches pkg/__init__.py on the way to pkg.a: not counted against b; the
    # package's own imports are the package task's, and it does not depend on b
    assert found(import_findings(plan, Tree(tmp_path))) == [
        ("package", "pkg/__init__.py", 1, "pkg/b.py", "b")
    ]


def test_import_of_a_missing_submodule_counts_the_deepest_found(tmp_path: Path) -> None:
    findings = shop(tmp_path, {"shop/models/order.py": "import shop.billing.missing\n"})
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 1, "shop/billing/__init__.py", "billing")
    ]
    assert findings[0].extra["module"] == "shop.billing"


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": """\
                from typing import TYPE_CHECKING
                import typing

                if TYPE_CHECKING:
                    from shop.models.user import User
                if typing.TYPE_CHECKING:
                    import shop.billing.pay
                else:
                    import shop.billing
                """,
        },
    )
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 9, "shop/billing/__init__.py", "billing")
    ]


def test_imports_in_functions_classes_and_blocks_count(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": """\
                def total():
                    from shop.models.user import User
                    return User


                class Order:
                    try:
                        import shop.billing.pay
                    except ImportError:
                        pass
                    finally:
                        from shop import billing


                with open(__file__):
                    for _ in range(1):
                        while True:
                            import nothing
                            break
                """,
        },
    )
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 2, "shop/models/user.py", "user-model"),
        ("order-model", "shop/models/order.py", 8, "shop/billing/pay.py", "billing"),
        ("order-model", "shop/models/order.py", 12, "shop/billing/__init__.py", "billing"),
    ]


def test_imports_in_match_cases_count(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": """\
                match 1:
                    case 1:
                        import shop.models.user
                    case _:
                        pass
                """,
        },
    )
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 3, "shop/models/user.py", "user-model")
    ]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* is Python 3.11+")
def test_imports_in_except_star_count(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": """\
                try:
                    pass
                except* ValueError:
                    import shop.models.user
                """,
        },
    )
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 4, "shop/models/user.py", "user-model")
    ]


def test_one_finding_per_imported_file_at_the_first_line(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": """\
                def later():
                    import shop.models.user

                from shop.models.user import User
                from shop.models import user
                """,
        },
    )
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 2, "shop/models/user.py", "user-model")
    ]


def test_findings_are_sorted(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/user.py": "import shop.models.order\nimport shop.models.product\n",
            "shop/models/order.py": "import shop.billing.pay\nimport shop.models.user\n",
            "shop/billing/pay.py": "import shop.models.user\n",
        },
    )
    assert found(findings) == [
        ("billing", "shop/billing/pay.py", 1, "shop/models/user.py", "user-model"),
        ("order-model", "shop/models/order.py", 1, "shop/billing/pay.py", "billing"),
        ("order-model", "shop/models/order.py", 2, "shop/models/user.py", "user-model"),
        ("user-model", "shop/models/user.py", 1, "shop/models/order.py", "order-model"),
        ("user-model", "shop/models/user.py", 2, "shop/models/product.py", "product-model"),
    ]
    assert [f.extra["owner_wave"] for f in findings] == [1, 3, 1, 2, 1]


def test_src_layout(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/app/__init__.py": "",
            "src/app/core.py": "",
            "src/app/api.py": "from app.core import thing\nfrom app import core\n",
        },
    )
    plan = make_plan(
        tmp_path, {"core": {"files": ["src/app/core.py"]}, "api": {"files": ["src/app/api.py"]}}
    )
    findings = import_findings(plan, Tree(tmp_path))
    assert found(findings) == [("api", "src/app/api.py", 1, "src/app/core.py", "core")]
    assert findings[0].extra["module"] == "app.core"
    # without the src root, `app` is nothing of the project's
    assert import_findings(plan, Tree(tmp_path), roots=("",)) == []


def test_a_namespace_folder_in_one_root_does_not_hide_a_package_in_another(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "app/scripts/tool.py": "",  # makes ./app a namespace package of the root ''
            "src/app/__init__.py": "",
            "src/cli.py": "import app\n",
        },
    )
    plan = make_plan(
        tmp_path, {"core": {"files": ["src/app/**"]}, "cli": {"files": ["src/cli.py"]}}
    )
    assert found(import_findings(plan, Tree(tmp_path))) == [
        ("cli", "src/cli.py", 1, "src/app/__init__.py", "core")
    ]


def test_namespace_packages(tmp_path: Path) -> None:
    write(tmp_path, {"ns/sub/one.py": "", "ns/two.py": "from ns.sub import one\nimport ns.sub\n"})
    plan = make_plan(tmp_path, {"one": {"files": ["ns/sub/**"]}, "two": {"files": ["ns/two.py"]}})
    assert found(import_findings(plan, Tree(tmp_path))) == [
        ("two", "ns/two.py", 1, "ns/sub/one.py", "one")
    ]


def test_a_package_wins_over_a_module_of_the_same_name(tmp_path: Path) -> None:
    write(tmp_path, {"lib.py": "", "lib/__init__.py": "", "app.py": "import lib\n"})
    plan = make_plan(
        tmp_path,
        {
            "module": {"files": ["lib.py"]},
            "package": {"files": ["lib/**"]},
            "app": {"files": ["app.py"]},
        },
    )
    assert found(import_findings(plan, Tree(tmp_path))) == [
        ("app", "app.py", 1, "lib/__init__.py", "package")
    ]


def test_a_file_with_a_syntax_error_is_skipped(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/models/order.py": "import shop.models.user\ndef broken(:\n",
            "shop/billing/pay.py": "import shop.models.user\n",
            "shop/billing/null.py": "import shop.models.user\n\0\n",
        },
    )
    assert found(findings) == [
        ("billing", "shop/billing/pay.py", 1, "shop/models/user.py", "user-model")
    ]


def test_test_modules_and_conftests_are_not_scanned(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/billing/test_pay.py": "import shop.models.user\n",
            "shop/billing/pay_test.py": "import shop.models.user\n",
            "shop/billing/conftest.py": "import shop.models.user\n",
        },
    )
    assert findings == []


def test_test_modules_are_not_counted_as_imported(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/billing/test_helpers.py": "",
            "shop/models/order.py": "from shop.billing import test_helpers\n",
        },
    )
    # `from shop.billing import test_helpers` reaches a test module: not project code
    assert findings == []


def test_test_file_globs_follow_python_files(tmp_path: Path) -> None:
    write(tmp_path, {**SHOP_FILES, "shop/billing/check_pay.py": "import shop.models.user\n"})
    plan = make_plan(tmp_path, SHOP_TASKS, SHOP_SHARED)
    assert len(import_findings(plan, Tree(tmp_path))) == 1
    assert import_findings(plan, Tree(tmp_path), test_files=("check_*.py",)) == []


def test_a_file_of_two_tasks_is_checked_for_each(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "import c\n", "c.py": ""})
    plan = make_plan(
        tmp_path,
        {
            "first": {"files": ["a.py"]},
            "second": {"files": ["a.py"], "depends_on": ["owner"]},
            "owner": {"files": ["c.py"]},
        },
    )
    assert found(import_findings(plan, Tree(tmp_path))) == [("first", "a.py", 1, "c.py", "owner")]


def test_plan_in_a_subfolder_prefixes_paths(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    write(folder, {"a.py": "import b\n", "b.py": ""})
    plan = make_plan(folder, {"one": {"files": ["a.py"]}, "two": {"files": ["b.py"]}})
    findings = import_findings(plan, Tree(folder), plan_dir="sub")
    assert found(findings) == [("one", "sub/a.py", 1, "sub/b.py", "two")]
    assert findings[0].message.startswith("sub/a.py:1 imports b (sub/b.py), owned by 'two'")


def test_pythonpath_roots(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    write(
        folder,
        {
            "lib/mod.py": "",
            "a.py": "import mod\nimport sub.lib.mod\n",
            "b.py": "from lib import mod\n",
        },
    )
    plan = make_plan(
        folder,
        {"owner": {"files": ["lib/**"]}, "a": {"files": ["a.py"]}, "b": {"files": ["b.py"]}},
    )
    assert found(import_findings(plan, Tree(folder), plan_dir="sub")) == [
        ("b", "sub/b.py", 1, "sub/lib/mod.py", "owner")
    ]
    # pytest's pythonpath ini: absolute folders; one inside the plan's folder and one
    # above it (rootdir), where the plan folder's modules are named sub.*
    findings = import_findings(
        plan, Tree(folder), plan_dir="sub", pythonpath=[folder / "lib", tmp_path]
    )
    assert found(findings) == [
        ("a", "sub/a.py", 1, "sub/lib/mod.py", "owner"),
        ("b", "sub/b.py", 1, "sub/lib/mod.py", "owner"),
    ]
    assert [f.extra["module"] for f in findings] == ["mod", "lib.mod"]
    # a relative pythonpath entry is relative to the plan's folder
    assert found(import_findings(plan, Tree(folder), plan_dir="sub", pythonpath=["lib"]))[0] == (
        "a",
        "sub/a.py",
        1,
        "sub/lib/mod.py",
        "owner",
    )


def test_relative_import_in_a_root_above_the_plan_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    write(folder, {"a.py": "from . import b\n", "b.py": ""})
    plan = make_plan(folder, {"one": {"files": ["a.py"]}, "two": {"files": ["b.py"]}})
    # only with rootdir on the path is sub/ a package for `from . import b`
    assert import_findings(plan, Tree(folder), plan_dir="sub", roots=()) == []
    findings = import_findings(plan, Tree(folder), plan_dir="sub", roots=(), pythonpath=[tmp_path])
    assert found(findings) == [("one", "sub/a.py", 1, "sub/b.py", "two")]
    assert findings[0].extra["module"] == "sub.b"


def test_files_outside_a_task_are_not_scanned(tmp_path: Path) -> None:
    findings = shop(
        tmp_path,
        {
            "shop/contracts.py": "import shop.models.user\n",
            "shop/util.py": "import shop.models.user\n",
        },
    )
    assert findings == []


def test_deterministic(tmp_path: Path) -> None:
    files = {
        f"pkg/m{i}.py": f"import pkg.m{(i * 7) % 20}\nimport pkg.m{(i * 3) % 20}\n"
        for i in range(20)
    }
    write(tmp_path, files)
    plan = make_plan(tmp_path, {f"t{i}": {"files": [f"pkg/m{i}.py"]} for i in range(20)})
    first = import_findings(plan, Tree(tmp_path))
    assert len(first) == 34  # 40 imports, 4 of them of the module itself, 2 duplicates
    assert first == import_findings(plan, Tree(tmp_path))
    assert [(f.file, f.line) for f in first] == sorted((f.file or "", f.line or 0) for f in first)


def test_cache_skips_unchanged_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {**SHOP_FILES, "shop/models/order.py": "import shop.models.user\n"})
    plan = make_plan(tmp_path, SHOP_TASKS, SHOP_SHARED)
    cache: dict[str, Any] = {}
    first = import_findings(plan, Tree(tmp_path), cache=cache)
    assert found(first) == [
        ("order-model", "shop/models/order.py", 1, "shop/models/user.py", "user-model")
    ]
    # JSON data only, keyed by the scanned files (the shared and unowned ones are not)
    cache = json.loads(json.dumps(cache))
    assert sorted(cache) == [
        "shop/billing/__init__.py",
        "shop/billing/pay.py",
        "shop/models/order.py",
        "shop/models/product.py",
        "shop/models/user.py",
    ]

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a cached file")

    monkeypatch.setattr(ast, "parse", no_parse)
    assert import_findings(plan, Tree(tmp_path), cache=cache) == first
    monkeypatch.undo()

    # a changed file is parsed again; a removed one leaves the cache
    (tmp_path / "shop/models/order.py").write_text("import shop.billing\n\n\n", encoding="utf-8")
    (tmp_path / "shop/billing/pay.py").unlink()
    assert found(import_findings(plan, Tree(tmp_path), cache=cache)) == [
        ("order-model", "shop/models/order.py", 1, "shop/billing/__init__.py", "billing")
    ]
    assert "shop/billing/pay.py" not in cache


def test_cache_entries_of_another_shape_are_parsed_again(tmp_path: Path) -> None:
    write(tmp_path, {**SHOP_FILES, "shop/models/order.py": "import shop.models.user\n"})
    plan = make_plan(tmp_path, SHOP_TASKS, SHOP_SHARED)
    cache: dict[str, Any] = {}
    import_findings(plan, Tree(tmp_path), cache=cache)
    stamp = cache["shop/models/order.py"][:3]
    cache["shop/models/order.py"] = [*stamp, [["x", None]]]
    cache["shop/models/user.py"] = "garbage"
    findings = import_findings(plan, Tree(tmp_path), cache=cache)
    assert found(findings) == [
        ("order-model", "shop/models/order.py", 1, "shop/models/user.py", "user-model")
    ]
    assert cache["shop/models/order.py"] == [*stamp, [[1, "shop.models.user", 0, []]]]
