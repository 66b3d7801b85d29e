"""Plan paths and plans that once crashed, hung or crawled: each a plan problem, at once.

Issue 10, item 9. A symbolic link loop, a folder without permission, a named pipe, a
device or a folder as the plan; `wave: 1000000000`; thousands of unknown dependencies;
a plan over the node limit; patterns of spaces. Every one is a PlanError (pytest's usage
error, exit status 4) naming the file, with the line where there is one, in under a
second.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import os
from pathlib import Path
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
import yaml

from pytest_delegation.plan import positions
from pytest_delegation.plan.graph import graph_problems
from pytest_delegation.plan.model import Task
from pytest_delegation.plan.model import load_plan
from pytest_delegation.plan.model import plan_from_dict
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.plan.problems import PlanProblem
from pytest_delegation.plan.problems import Suggester
from pytest_delegation.plan.problems import did_you_mean
from pytest_delegation.plan.waves import compute_waves


OPTION = "--delegation-plan (or the ini option delegation_plan)"
USAGE_ERROR = pytest.ExitCode.USAGE_ERROR
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")


def quickly(load: Callable[[], object], seconds: float = 1.0) -> PlanError:
    """The PlanError `load()` raises, within `seconds`."""
    start = time.perf_counter()
    with pytest.raises(PlanError) as info:
        load()
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert info.value.problems
    return info.value


def plan_error(path: Path) -> PlanError:
    return quickly(lambda: load_plan(path))


def only(error: PlanError) -> PlanProblem:
    assert len(error.problems) == 1, str(error)
    return error.problems[0]


def write(folder: Path, text: str, name: str = "delegation.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    return pytester.runpytest("--delegation-report", "--collect-only", "-q", *args)


# -- the plan path ---------------------------------------------------------------------------


@needs_symlinks
def test_a_symbolic_link_loop_is_a_plan_error(tmp_path: Path) -> None:
    loop = tmp_path / "delegation.yaml"
    loop.symlink_to(loop.name)
    assert str(only(plan_error(loop))) == (
        f"{loop}: is a symbolic link loop (it never reaches a file); point the link at the "
        f"plan file, or give {OPTION} the plan's own path"
    )


# a whole plugin run: it verifies the session, not the plan layer alone
@pytest.mark.task("e2e")
@needs_symlinks
@pytest.mark.parametrize("given", ["option", "ini", "default"])
def test_a_symbolic_link_loop_is_a_usage_error(pytester: pytest.Pytester, given: str) -> None:
    # the option's path was resolved (a RuntimeError on Python < 3.13: INTERNALERROR), the
    # default one was taken for missing
    name = "delegation.yaml" if given == "default" else "loop.yaml"
    (pytester.path / name).symlink_to(name)
    if given == "ini":
        pytester.makeini(f"[pytest]\ndelegation_plan = {name}\n")
    args = ["--delegation-plan", name] if given == "option" else []
    result = run_collect(pytester, *args)
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the delegation plan has 1 problem:",
            f"  {pytester.path / name}: is a symbolic link loop (it never reaches a file)*",
        ]
    )
    result.stderr.no_fnmatch_line("*INTERNALERROR*")


@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[Path]:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    path = tmp_path / "delegation.yaml"
    os.mkfifo(path)
    yield path


@needs_fifo
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(pipe: Path) -> None:
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_plan(pipe)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(5)
    blocked = reader.is_alive()
    if blocked:
        # set the reader free: a writer that closes at once gives it an end of file
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
    assert not blocked, "load_plan waited for a writer of the named pipe"
    assert isinstance(outcome[0], PlanError)
    assert str(only(outcome[0])) == (
        f"{pipe}: is a named pipe (FIFO), not a regular file, and is not read; save the plan "
        f"to a file and give {OPTION} its path"
    )


# a whole plugin run: it verifies the session, not the plan layer alone
@pytest.mark.task("e2e")
@needs_fifo
def test_a_named_pipe_is_a_usage_error(pytester: pytest.Pytester) -> None:
    os.mkfifo(pytester.path / "delegation.yaml")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    # a subprocess: a run that waits for a writer must fail this test, not hang the suite
    result = pytester.runpytest_subprocess("--delegation-report", "--collect-only", timeout=60)
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines([f"  {pytester.path / 'delegation.yaml'}: is a named pipe*"])


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_is_not_read() -> None:
    # /dev/zero would never end; /dev/null read as an empty plan
    assert str(only(plan_error(Path("/dev/null")))).startswith(
        "/dev/null: is a character device, not a regular file, and is not read"
    )


# a whole plugin run: it verifies the session, not the plan layer alone
@pytest.mark.task("e2e")
def test_a_folder_says_what_to_do(pytester: pytest.Pytester) -> None:
    (pytester.path / "plans").mkdir()
    result = run_collect(pytester, "--delegation-plan", "plans")
    assert result.ret == USAGE_ERROR
    folder = pytester.path / "plans"
    result.stderr.fnmatch_lines(
        [
            f"  {folder}: is a folder, not a plan file; give {OPTION} the plan file's path, "
            f"such as {folder / 'delegation.yaml'}"
        ]
    )


def refused_stat(monkeypatch: pytest.MonkeyPatch, refused: Path) -> None:
    """What `os.stat` says of a path in a folder without permission, for root too."""
    real = os.stat

    def fake(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if isinstance(path, (str, os.PathLike)) and Path(path) == refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", fake)


PERMISSION = (
    "cannot be read: permission denied (on the file, or on a folder it is in); let this "
    f"user read it (chmod), or give {OPTION} a readable copy"
)


# root enters any folder, so a real chmod proves nothing in CI: the permission error
# is faked where the plan is read (os.stat), which is the code path that matters
def test_a_plan_in_a_folder_without_permission_faked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write(tmp_path, "tasks:\n  a: {}\n")
    refused_stat(monkeypatch, plan)
    assert str(only(plan_error(plan))) == f"{plan}: {PERMISSION}"


# a whole plugin run: it verifies the session, not the plan layer alone
@pytest.mark.task("e2e")
def test_a_plan_in_a_folder_without_permission_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `path.exists()` let the PermissionError out: an INTERNALERROR
    plan = write(pytester.path, "tasks:\n  a: {}\n")
    refused_stat(monkeypatch, plan)
    result = run_collect(pytester)
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines([f"  {plan}: {PERMISSION}"])


@needs_symlinks
def test_a_link_to_a_missing_plan_says_so(tmp_path: Path) -> None:
    link = tmp_path / "delegation.yaml"
    link.symlink_to("plans/main.yaml")
    message = only(plan_error(link)).message
    assert f"looked for {link}, a symbolic link to a missing plans/main.yaml" in message


# -- wave ------------------------------------------------------------------------------------


@pytest.mark.parametrize("wave", ["1000000000", "100000000", "10001", "0x7fffffffffffffff"])
def test_a_huge_wave_is_a_plan_problem_with_its_line(tmp_path: Path, wave: str) -> None:
    # 10**9 was a MemoryError, 10**8 seven gigabytes: compute_waves made a list per wave
    plan = write(tmp_path, f"tasks:\n  a: {{}}\n  b:\n    wave: {wave}\n")
    problem = only(plan_error(plan))
    assert str(problem).startswith(
        f"delegation.yaml:4: 'wave' must be at most 10,000, not {int(wave, 0)} (empty waves "
        "are dropped"
    )


def test_a_wave_of_thousands_of_digits(tmp_path: Path) -> None:
    plan = write(tmp_path, "tasks:\n  a:\n    wave: " + "9" * 4000 + "\n")
    assert str(only(plan_error(plan))) == (
        "delegation.yaml:3: 'wave' must be at most 10,000, not a number of 4000 digits "
        "(empty waves are dropped: a smaller number in the same order places the task the "
        "same)"
    )


def test_the_highest_wave_is_allowed_and_layered_densely(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "tasks:\n  a: {}\n  b:\n    wave: 10000\n"))
    assert compute_waves(plan) == (("a",), ("b",))


# a whole plugin run: it verifies the session, not the plan layer alone
@pytest.mark.task("e2e")
def test_a_huge_wave_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write(pytester.path, "tasks:\n  a:\n    wave: 1000000000\n")
    result = run_collect(pytester)
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines(["  delegation.yaml:3: 'wave' must be at most 10,000, not *"])


# -- unknown dependencies ------------------------------------------------------------------


def typo_plan(count: int) -> str:
    """`count` tasks, each depending on a misspelling of its own id."""
    return "tasks:\n" + "".join(f"  t-{i}: {{depends_on: [t-{i}x]}}\n" for i in range(count))


def test_thousands_of_unknown_dependencies_are_listed_up_to_50_quickly(tmp_path: Path) -> None:
    # each suggestion searched every id: 5,000 of them printed nothing in 300 s
    plan = load_plan(write(tmp_path, typo_plan(5000)))
    error = quickly(lambda: compute_waves(plan))
    assert str(error).startswith("the delegation plan has 5000 problems:\n")
    shown = [str(problem) for problem in error.problems]
    assert len(shown) == 51
    assert shown[0] == (
        "delegation.yaml:2: task 't-0' depends on unknown task 't-0x'; did you mean 't-0'?"
    )
    assert shown[49] == (
        "delegation.yaml:51: task 't-49' depends on unknown task 't-49x'; did you mean 't-49'?"
    )
    assert shown[50] == (
        "delegation.yaml:52: ... and 4950 more dependencies on unknown tasks, from here on "
        "(not listed); fix the ones above and run again"
    )


def test_unknown_dependencies_with_other_problems_are_capped_too(tmp_path: Path) -> None:
    text = typo_plan(3000) + "  bad:\n    wave: 0\n"
    error = quickly(lambda: load_plan(write(tmp_path, text)), seconds=2)
    shown = [str(problem) for problem in error.problems]
    assert len(shown) == 52
    assert shown[-2].startswith("delegation.yaml:52: ... and 2950 more dependencies")
    assert shown[-1] == "delegation.yaml:3003: 'wave' must be at least 1, not 0"


def test_many_unknown_dependencies_of_one_task(tmp_path: Path) -> None:
    data = {"tasks": {"a": {"depends_on": [f"x-{i}" for i in range(20_000)]}}}
    plan = plan_from_dict(data, tmp_path / "delegation.yaml")
    error = quickly(lambda: compute_waves(plan))
    assert len(error.problems) == 51
    assert str(error).startswith("the delegation plan has 20000 problems:\n")
    # without lines, the count still comes last
    assert error.problems[-1].message.startswith("... and 19950 more dependencies")


def test_graph_problems_of_thousands_of_tasks_are_quick() -> None:
    tasks = {f"task-{i}": Task(id=f"task-{i}", depends_on=(f"task-{i}-x",)) for i in range(5_000)}
    start = time.perf_counter()
    problems = graph_problems(tasks, "delegation.yaml")
    assert time.perf_counter() - start < 1
    assert len(problems) == 51
    assert problems[0].message.endswith("did you mean 'task-0'?")
    assert sum(problem.count for problem in problems) == 5_000


@pytest.mark.parametrize(
    "name",
    ["user-modle", "user-mode", "usr-model", "user-models", "order-mdel", "xyz", "review-x"],
)
def test_suggestions_among_many_tasks_are_those_among_few(name: str) -> None:
    ids = ["user-model", "order-model", "product-model", "review", "docs"]
    many = [*ids, *(f"filler-{i}-{i * 7}" for i in range(1000))]
    assert Suggester(many)(name) == did_you_mean(name, many) == did_you_mean(name, ids)


def test_a_suggester_among_few_is_did_you_mean() -> None:
    for name in ("depend_on", "rol", "x", ""):
        keys = ["role", "depends_on", "files"]
        assert Suggester(keys)(name) == did_you_mean(name, keys)


# -- the node limit --------------------------------------------------------------------------


@pytest.fixture
def compositions(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The loader of every `yaml.compose_all` of the plan's text."""
    loaders: list[object] = []
    real = yaml.compose_all

    def spy(stream: Any, Loader: Any) -> Any:
        loaders.append(Loader)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose_all", spy)
    return loaders


def test_a_plan_over_the_node_limit_says_so_and_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compositions: list[object]
) -> None:
    # it said "recursive or repeated aliases?" of a plan without any, after reading it
    # with libyaml and again with the pure-Python loader, ten times slower
    monkeypatch.setattr(positions, "MAX_NODES", 1_000)
    text = "tasks:\n" + "".join(f"  t-{i}:\n    files: [f{i}.py]\n" for i in range(300))
    problem = only(plan_error(write(tmp_path, text)))
    assert problem.message == (
        "the plan is too big: it holds more than 1,000 values, the most a plan may hold; "
        "split the work into several plans"
    )
    assert problem.line is not None and problem.line > 1
    assert len(compositions) == 1


def test_a_plan_over_the_node_limit_reads_the_same_without_libyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compositions: list[object]
) -> None:
    monkeypatch.setattr(positions, "MAX_NODES", 1_000)
    path = write(tmp_path, "tasks:\n" + "".join(f"  t-{i}: {{}}\n" for i in range(600)))
    fast = str(plan_error(path))
    monkeypatch.setattr(positions, "FAST_LOADER", None)
    assert str(plan_error(path)) == fast
    assert len(compositions) == 2  # one read each


def test_aliases_over_the_node_limit_say_so(tmp_path: Path, compositions: list[object]) -> None:
    # 10 ** 6 values from eight lines
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcde", "bcdef", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    problem = only(plan_error(write(tmp_path, "\n".join(lines) + "\n")))
    assert problem.message == (
        "the plan expands too far: its aliases repeat values to more than 200,000 in all, "
        "the most a plan may hold; write the values out"
    )
    assert len(compositions) == 1


@pytest.mark.parametrize(
    "text",
    ["tasks: &loop\n  a:\n    depends_on: *loop\n", "tasks:\n  a:\n    files: &x [a, *x]\n"],
)
def test_a_recursive_alias_says_so(tmp_path: Path, text: str) -> None:
    problem = only(plan_error(write(tmp_path, text)))
    assert problem.message == (
        "the plan is recursive: an alias (*name) stands for a value that contains it, so "
        "the plan never ends; write the values out instead"
    )


def test_deep_aliases_say_so(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x]", *(f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 70))]
    problem = only(plan_error(write(tmp_path, "\n".join(lines) + "\n")))
    assert problem.message.startswith("the plan is nested too deeply through aliases: more ")


def test_a_plan_over_the_real_node_limit_is_refused_in_one_read(
    tmp_path: Path, compositions: list[object]
) -> None:
    count = positions.MAX_NODES // 5 + 1
    text = "tasks:\n" + "".join(f"  t{i}: {{files: [f{i}.py]}}\n" for i in range(count))
    # one read, without the cycle collector: 30 s before, about 1 s on a busy machine
    problem = only(quickly(lambda: load_plan(write(tmp_path, text)), seconds=10))
    assert problem.message.startswith("the plan is too big: it holds more than 200,000 values")
    assert len(compositions) == 1


# -- empty patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "files: ['   ']",
            "'files' has an empty pattern ('   ': only whitespace); name a file, folder or "
            "glob, or drop the entry",
        ),
        (
            "files: '  '",
            "'files' has an empty pattern ('  ': only whitespace); name a file, folder or "
            "glob, or drop the entry",
        ),
        (
            "files: ['']",
            "'files' has an empty pattern; name a file, folder or glob, or drop the entry",
        ),
        (
            "tests: [tests/a.py, ' ']",
            "'tests' has an empty pattern (' ': only whitespace); name a test file, folder, "
            "glob or node id, or drop the entry",
        ),
        (
            "depends_on: ['  ']",
            "'depends_on' has an empty task id ('  ': only whitespace); name a task of the "
            "plan, or drop the entry",
        ),
        (
            "resources: ['']",
            "'resources' has an empty resource; name the resource (a database, a port), or "
            "drop the entry",
        ),
    ],
)
def test_an_empty_pattern_is_named_with_its_line(tmp_path: Path, body: str, expected: str) -> None:
    # "must be text, not a string"
    path = write(tmp_path, f"tasks:\n  a:\n    role: code-writer\n    {body}\n")
    assert str(only(plan_error(path))) == f"delegation.yaml:4: {expected}"


def test_an_empty_shared_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, "shared:\n  - lib.py\n  - '   '\ntasks:\n  a: {}\n")
    assert str(only(plan_error(path))).startswith(
        "delegation.yaml:3: 'shared' has an empty pattern ('   ': only whitespace)"
    )


# a whole plugin run: it verifies the session, not the plan layer alone
@pytest.mark.task("e2e")
def test_an_empty_pattern_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write(pytester.path, "tasks:\n  a:\n    files: ['   ']\n")
    result = run_collect(pytester)
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines(["  delegation.yaml:3: 'files' has an empty pattern *"])
