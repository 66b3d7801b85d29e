"""The temp folder's probe files a killed process leaves (run/residue.py)."""

from __future__ import annotations

import os
from pathlib import Path
import tempfile
import time

import pytest

from pytest_delegation.run import residue


def _file(folder: Path, name: str, content: bytes, age: float = 5.0) -> Path:
    path = folder / name
    path.write_bytes(content)
    when = time.time() - age
    os.utime(path, (when, when))
    return path


def test_the_files_tempfile_probes_with_are_found_and_nothing_else(tmp_path: Path) -> None:
    since = time.time() - 60
    probes = {_file(tmp_path, "pvlk3qge", b"blat"), _file(tmp_path, "a_9zz0q1", b"")}
    _file(tmp_path, "b_9zz0q1", b"bl")  # killed between two bytes of the write
    probes.add(tmp_path / "b_9zz0q1")
    _file(tmp_path, "tmpabcd1", b"data")  # the user's own, same shape, other bytes
    _file(tmp_path, "abcdefghi", b"blat")  # nine characters
    _file(tmp_path, "ABCDEFGH", b"blat")  # tempfile's names are lowercase
    _file(tmp_path, "oldprobe", b"blat", age=120)  # before the session began
    (tmp_path / "dirprobe").mkdir()
    assert set(residue.leftovers(since, str(tmp_path))) == probes


def test_the_sweep_removes_them_and_keeps_the_rest(tmp_path: Path) -> None:
    since = time.time() - 60
    _file(tmp_path, "pvlk3qge", b"blat")
    kept = _file(tmp_path, "userfile", b"mine")
    assert residue.sweep(since, str(tmp_path)) == [tmp_path / "pvlk3qge"]
    assert sorted(tmp_path.iterdir()) == [kept]


def test_a_probe_younger_than_a_second_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One may be another process's probe in flight: removed only once it has settled."""
    monkeypatch.setattr(residue, "SETTLED", 0.2)
    since = time.time() - 60
    _file(tmp_path, "young123", b"blat", age=0.0)
    start = time.monotonic()
    assert residue.sweep(since, str(tmp_path)) == [tmp_path / "young123"]
    assert time.monotonic() - start >= 0.1
    assert list(tmp_path.iterdir()) == []


def test_the_pattern_is_the_one_tempfile_uses() -> None:
    """A name from tempfile's own generator fits: guards a change in CPython."""
    names = tempfile._RandomNameSequence()  # type: ignore[attr-defined]
    for _ in range(50):
        assert residue._NAME.fullmatch(next(names))
