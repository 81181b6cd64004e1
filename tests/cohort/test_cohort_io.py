"""Saving and loading cohorts: round trips, atomic writes, clear I/O errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from footdrop_outcomes import Cohort, CohortIOError, CohortValidationError, load_cohort


def _assert_same(a: Cohort, b: Cohort) -> None:
    for name in ("patients", "visits", "adherence"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_parquet_round_trip_keeps_tables_truth_and_metadata(small_cohort, tmp_path):
    small_cohort.save(tmp_path / "c")
    back = load_cohort(tmp_path / "c")
    _assert_same(small_cohort, back)
    pd.testing.assert_frame_equal(back.truth.parameters, small_cohort.truth.parameters)
    pd.testing.assert_frame_equal(back.truth.patients, small_cohort.truth.patients)
    assert back.metadata["seed"] == 11 and back.metadata["config"] == small_cohort.metadata["config"]
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["rows"]["visits"] == len(small_cohort.visits)
    assert len(manifest["files_sha256"]["patients.parquet"]) == 64


def test_csv_round_trip(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    back = Cohort.from_csv(files["patients"], files["visits"], files["adherence"])
    _assert_same(small_cohort, back)
    assert back.truth is None and len(back.metadata["source_sha256"]["visits"]) == 64


def test_csv_errors_give_line_numbers(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    visits = pd.read_csv(files["visits"], dtype=str)
    visits.loc[0, "mrc"] = "four"
    visits.to_csv(files["visits"], index=False)
    with pytest.raises(CohortValidationError) as info:
        Cohort.from_csv(files["patients"], files["visits"], files["adherence"])
    row = info.value.failures.query("column == 'mrc'").iloc[0]
    assert row["rows"] == "2"  # header is line 1, first data row is line 2
    assert "visits=" in str(info.value)


def test_empty_csv_file_is_refused(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    files["visits"].write_text("")
    with pytest.raises(CohortIOError, match="empty"):
        Cohort.from_csv(files["patients"], files["visits"], files["adherence"])


def test_existing_target_is_refused_without_overwrite(small_cohort, tmp_path):
    small_cohort.save(tmp_path / "c")
    with pytest.raises(CohortIOError, match="already exists"):
        small_cohort.save(tmp_path / "c")
    small_cohort.save(tmp_path / "c", overwrite=True)
    (tmp_path / "notacohort").mkdir()
    with pytest.raises(CohortIOError, match="not a cohort directory"):
        small_cohort.save(tmp_path / "notacohort", overwrite=True)


def test_failed_write_leaves_nothing_behind(small_cohort, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = pd.DataFrame.to_parquet

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    with pytest.raises(OSError, match="disk full"):
        small_cohort.save(tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_cohort(small_cohort, tmp_path, monkeypatch):
    small_cohort.save(tmp_path / "c")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        small_cohort.save(tmp_path / "c", overwrite=True)
    monkeypatch.undo()
    _assert_same(load_cohort(tmp_path / "c"), small_cohort)
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_load_errors_are_clear(small_cohort, tmp_path):
    with pytest.raises(CohortIOError, match="does not exist"):
        load_cohort(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CohortIOError, match="manifest.json is missing"):
        load_cohort(tmp_path / "empty")
    small_cohort.save(tmp_path / "c")
    (tmp_path / "c" / "visits.parquet").unlink()
    with pytest.raises(CohortIOError, match="visits.parquet is missing"):
        load_cohort(tmp_path / "c")
    small_cohort.save(tmp_path / "d")
    (tmp_path / "d" / "adherence.parquet").write_bytes(b"not parquet")
    with pytest.raises(CohortIOError, match="could not be read as Parquet"):
        load_cohort(tmp_path / "d")
    small_cohort.save(tmp_path / "e")
    (tmp_path / "e" / "manifest.json").write_text("{broken")
    with pytest.raises(CohortIOError, match="not valid JSON"):
        load_cohort(tmp_path / "e")


def test_invalid_parquet_table_is_refused_on_load(small_cohort, tmp_path):
    small_cohort.save(tmp_path / "c")
    visits = pd.read_parquet(tmp_path / "c" / "visits.parquet")
    visits.loc[3, "mrc"] = 7
    visits.to_parquet(tmp_path / "c" / "visits.parquet", index=False)
    with pytest.raises(CohortValidationError, match=r"visits\.mrc"):
        load_cohort(tmp_path / "c")


def test_repr_states_size(small_cohort):
    assert "400 patients" in repr(small_cohort) and "synthetic" in repr(small_cohort)
