"""Saving and loading cohorts: round trips, atomic writes, clear I/O errors."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from footdrop_outcomes import Cohort, CohortIOError, CohortValidationError, load_cohort
from footdrop_outcomes.cohort import cohort as cohort_module
from footdrop_outcomes.guard import PrivacyError


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


def _edit_visits(root, *, mrc: int, manifest_changes: dict) -> None:
    """Put ``mrc`` in row 3 of the saved visits and rewrite the manifest's checksum (plus ``manifest_changes``)."""
    visits = pd.read_parquet(root / "visits.parquet")
    visits.loc[3, "mrc"] = mrc
    visits.to_parquet(root / "visits.parquet", index=False)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files_sha256"]["visits.parquet"] = hashlib.sha256((root / "visits.parquet").read_bytes()).hexdigest()
    for key, value in manifest_changes.items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_unchanged_saved_cohort_is_not_revalidated_and_equals_validated_tables(small_cohort, tmp_path, monkeypatch):
    small_cohort.save(tmp_path / "c")
    raw = {name: pd.read_parquet(tmp_path / "c" / f"{name}.parquet") for name in ("patients", "visits", "adherence")}
    expected = cohort_module.validate_tables(raw, source="test")  # what full validation makes of the saved files
    calls = []
    real = cohort_module.validate_tables
    monkeypatch.setattr(cohort_module, "validate_tables", lambda *a, **k: calls.append(1) or real(*a, **k))
    back = load_cohort(tmp_path / "c")
    assert calls == []
    for name in ("patients", "visits", "adherence"):
        pd.testing.assert_frame_equal(getattr(back, name), expected[name], check_exact=True)
    assert "saved_by" not in back.metadata
    load_cohort(tmp_path / "c", revalidate=True)
    assert calls == [1]


@pytest.mark.parametrize("changes", [
    {},  # checksum of the edited file updated, but...
    {"saved_by": None},  # ... not written by Cohort.save (an import, a hand-made directory)
    {"package_version": "0.0.0-older"},
    {"schema_version": "0"},
])
def test_changed_or_foreign_directory_is_validated_in_full(small_cohort, tmp_path, changes):
    small_cohort.save(tmp_path / "c")
    if changes:
        _edit_visits(tmp_path / "c", mrc=7, manifest_changes=changes)
    else:  # the file edited, the manifest left as saved: stale checksum
        visits = pd.read_parquet(tmp_path / "c" / "visits.parquet")
        visits.loc[3, "mrc"] = 7
        visits.to_parquet(tmp_path / "c" / "visits.parquet", index=False)
    with pytest.raises(CohortValidationError, match=r"visits\.mrc"):
        load_cohort(tmp_path / "c")


def test_privacy_guard_runs_even_when_validation_is_skipped(small_cohort, tmp_path):
    small_cohort.save(tmp_path / "c")
    # a 7-digit number (looks like a record number) with a matching checksum and the save marker intact
    _edit_visits(tmp_path / "c", mrc=1234567, manifest_changes={})
    with pytest.raises(PrivacyError, match=r"visits"):
        load_cohort(tmp_path / "c")


def test_repr_states_size(small_cohort):
    assert "400 patients" in repr(small_cohort) and "synthetic" in repr(small_cohort)
