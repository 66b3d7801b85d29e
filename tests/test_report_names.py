"""The words the reports share (report/names.py): short task names, plurals, tallies."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pytest_delegation.report.names import cut
from pytest_delegation.report.names import plural
from pytest_delegation.report.names import short_names
from pytest_delegation.report.names import tally


UTILS = ["tests-test-utils-test-email", "tests-test-utils-test-encoding", "tests-test-utils-test-escape"]  # fmt: skip


def test_ids_that_would_cut_alike_are_cut_in_the_middle_keeping_their_tails() -> None:
    assert [cut(task, 24) for task in UTILS] == ["tests-test-utils-test-e…"] * 3
    assert short_names(UTILS, 24) == {
        "tests-test-utils-test-email": "tests-test-ut…test-email",
        "tests-test-utils-test-encoding": "tests-test-util…encoding",
        "tests-test-utils-test-escape": "tests-test-u…test-escape",
    }


def test_ids_that_fit_or_cut_apart_keep_the_end_cut() -> None:
    names = short_names(["user-model", "tests-test-api-handlers-long", *UTILS[:1]], 24)
    assert names["user-model"] == "user-model"
    assert names["tests-test-api-handlers-long"] == "tests-test-api-handlers…"
    # alone, an id cuts at the end: only a collision moves the cut
    assert names[UTILS[0]] == "tests-test-utils-test-e…"
    assert short_names(UTILS, 25) == {task: task[:24] + "…" for task in UTILS}


def test_a_shared_tail_grows_to_the_word_that_differs() -> None:
    ids = ["x-aaaa-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-1-helpers", "x-aaaa-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-2-helpers"]  # fmt: skip
    assert short_names(ids, 24) == {
        ids[0]: "x-aaaa-bbbbbbb…1-helpers",
        ids[1]: "x-aaaa-bbbbbbb…2-helpers",
    }


def test_ids_no_head_and_tail_tell_apart_stay_alike_and_the_loop_ends() -> None:
    names = short_names(["a" * 30, "a" * 31], 24)
    assert len(set(names.values())) == 1
    assert all(len(name) == 24 for name in names.values())


@given(
    st.lists(
        st.text(alphabet="ab-_", min_size=1, max_size=40).map(lambda s: "task-" + s),
        unique=True,
        max_size=12,
    ),
    st.integers(min_value=1, max_value=30),
)
def test_short_names_fit_and_differ_when_a_tail_can_tell(ids: list[str], width: int) -> None:
    names = short_names(ids, width)
    assert set(names) == set(ids)
    for task, name in names.items():
        assert len(name) <= width
        assert name == task if len(task) <= width else "…" in name
    alike: dict[str, list[str]] = {}
    for task, name in names.items():
        alike.setdefault(name, []).append(task)
    for group in alike.values():
        if len(group) > 1 and width >= 3:
            # only ids whose every suffix short enough to show is the same collide
            longest = width - 2
            assert len({task[-longest:] for task in group}) < len(group)


def test_plural() -> None:
    assert [plural(n, "wave") for n in (0, 1, 2)] == ["0 waves", "1 wave", "2 waves"]


def test_an_xpass_counts_as_passed_and_not_run_in_no_column() -> None:
    outcomes = ["passed", "xpassed", "xfailed", "failed", "error", "skipped", "not-run"]
    assert tally(outcomes) == (3, 2, 1)


def test_a_report_to_a_device_a_pipe_or_a_link_writes_into_it(tmp_path: Path) -> None:
    # found the hard way: --delegation-report=json:/dev/null, run as root, renamed a new
    # file over /dev/null; what is not a regular file is written into, never replaced
    import os
    import threading

    from pytest_delegation.report.files import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_atomic(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert received == ["through the pipe\n"]
    assert fifo.is_fifo()

    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"

    write_atomic(Path(os.devnull), "nothing\n")
    assert Path(os.devnull).is_char_device()
