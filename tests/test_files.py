"""The safe-output helpers of ``footdrop_outcomes._files`` (used by every command that writes)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from footdrop_outcomes._files import (
    blocked_signals,
    make_parents,
    move_into_place,
    remove_created,
    signals_raise,
    staged_directory,
)
from footdrop_outcomes.errors import CohortIOError, FootdropError, Interrupted


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_staged_directory_replaces_on_success(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with staged_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # nothing visible before the end
    assert _listing(tmp_path) == ["out", "out/new.txt"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), Interrupted("SIGTERM")])
def test_staged_directory_leaves_nothing_on_failure(tmp_path, exc):
    target = tmp_path / "a" / "b" / "out"
    with pytest.raises(type(exc)), staged_directory(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise exc
    assert _listing(tmp_path) == []  # no staging folder, no parent folders made for it


def test_staged_directory_keeps_the_previous_output_on_failure(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError
    assert _listing(tmp_path) == ["out", "out/old.txt"]


def test_remove_created_keeps_folders_someone_else_filled(tmp_path):
    created = make_parents(tmp_path / "a" / "b" / "out")
    assert created == [tmp_path / "a", tmp_path / "a" / "b"]
    (tmp_path / "a" / "other.txt").write_text("x")
    remove_created(created)
    assert _listing(tmp_path) == ["a", "a/other.txt"]


def test_move_into_place_puts_the_old_output_back_when_the_second_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    tmp = tmp_path / ".out.x.tmp"
    tmp.mkdir()
    real_rename = Path.rename

    def failing(self, dst):
        if self == tmp:
            raise PermissionError(13, "Permission denied")
        return real_rename(self, dst)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(CohortIOError, match="previous output, if any, is unchanged"):
        move_into_place(tmp, target)
    assert (target / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.x.tmp", "out"]


def test_blocked_signals_hold_a_signal_until_the_end(tmp_path):
    steps = []
    with signals_raise():
        with pytest.raises(Interrupted) as e, blocked_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("still running after the signal")
        assert e.value.signal_name == "SIGTERM"
    assert steps == ["still running after the signal"]
    assert signal.getsignal(signal.SIGTERM) is not None


def test_signals_raise_restores_the_previous_handlers():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_raise():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before


def test_study_chunk_write_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    from footdrop_outcomes.studies.runner import _write_atomic

    def interrupted(self, path, **kwargs):
        Path(path).write_bytes(b"half")
        raise Interrupted("SIGTERM")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    with pytest.raises(Interrupted):
        _write_atomic(pd.DataFrame({"a": [1]}), tmp_path / "chunk.parquet")
    assert list(tmp_path.iterdir()) == []


def test_errors_are_footdrop_errors_with_the_folder_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FootdropError, match="is not a folder"):
        make_parents(tmp_path / "f" / "out")


def test_staged_outputs_get_a_normal_mode(tmp_path):
    """A cohort folder or PDF written through staging is readable as a plain mkdir/open would make it
    (mkdtemp/mkstemp give 0700/0600, which hides outputs from colleagues on a shared server)."""
    import os

    from footdrop_outcomes._files import staging_dir, staging_file

    mask = os.umask(0o022)
    try:
        d = staging_dir(tmp_path / "cohort")
        f = staging_file(tmp_path / "report.pdf")
        assert (d.stat().st_mode & 0o777, f.stat().st_mode & 0o777) == (0o755, 0o644)
    finally:
        os.umask(mask)
