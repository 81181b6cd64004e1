"""REDCap import: the synthetic project (tests/data/redcap/make_fixture.py) against the cohort it encoded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import load_cohort, simulate_cohort
from footdrop_outcomes.errors import CohortValidationError, ConfigError
from footdrop_outcomes.guard import PrivacyError
from footdrop_outcomes.sources import (
    export_redcap,
    import_redcap,
    redcap_mapping_template,
)


def _same(expected: pd.DataFrame, got: pd.DataFrame, keys: list[str]) -> None:
    g = got.assign(patient_id=got["patient_id"].astype(str))
    m = expected.merge(g, on=keys, how="outer", suffixes=("_e", "_g"), indicator=True)
    assert (m["_merge"] == "both").all(), "rows differ"
    for col in expected.columns.drop(keys):
        a, b = m[f"{col}_e"], m[f"{col}_g"]
        num_a = pd.to_numeric(a.astype(object), errors="coerce")
        if num_a.notna().any() and not pd.api.types.is_bool_dtype(a.dtype):
            x, y = num_a.astype(float), pd.to_numeric(b.astype(object), errors="coerce").astype(float)
            ok = np.isclose(x, y, rtol=0, atol=1e-9) | (x.isna() & y.isna())
        else:
            ok = a.astype(object).where(a.notna(), None).map(str) == b.astype(object).where(b.notna(), None).map(str)
        assert ok.all(), f"{col} differs on {int((~ok).sum())} rows"


@pytest.mark.parametrize("labels", [False, True], ids=["raw", "labels"])
def test_project_gives_the_encoded_cohort(redcap_maker: Any, tmp_path: Path, labels: bool) -> None:
    fx = redcap_maker.build()
    paths = redcap_maker.write(fx, tmp_path / "project", labels=labels)
    result = import_redcap(paths["records"], paths["dictionary"], paths["mapping"], tmp_path / "cohort")
    cohort = load_cohort(result.path)
    _same(fx["expected_patients"], cohort.patients, ["patient_id"])
    _same(fx["expected_visits"], cohort.visits, ["patient_id", "day"])
    assert len(cohort.adherence) == 0
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["source_record"]["identifier_fields_not_read"] == 2
    assert set(manifest["source_sha256"]) == {"records", "dictionary", "mapping"}
    # neither the identifier fields' values nor any calendar date reach the cohort files
    blob = b"".join(p.read_bytes() for p in result.path.iterdir())
    onset = fx["raw"].loc[0, "onset_date"]
    for text in ("Smith", "Jones", onset, onset.replace("-", "")):
        assert text.encode() not in blob, text


def test_identifier_flag_is_what_keeps_names_out(redcap_maker: Any, tmp_path: Path) -> None:
    """Without 'Identifier? = y', the name field reaches the import and is refused (so the flag is doing the work)."""
    fx = redcap_maker.build()
    fields = [f[:6] + ("",) if f[0] == "full_name" else f for f in redcap_maker.FIELDS]
    fx["dictionary"] = redcap_maker._dictionary_csv(fields)
    fx["mapping"] = fx["mapping"].replace('drop = ["comments"', 'drop = ["full_name_", "comments"')
    paths = redcap_maker.write(fx, tmp_path / "project")
    with pytest.raises(CohortValidationError) as err:  # a PrivacyError or an unmapped column, never a value shown
        import_redcap(paths["records"], paths["dictionary"], paths["mapping"], tmp_path / "cohort")
    assert "full_name" in err.value.failures["column"].astype(str).str.cat(sep=" ") or isinstance(err.value, PrivacyError)
    assert "Smith" not in str(err.value)


def test_bad_dates_and_conflicting_events_are_named_by_field_and_line(redcap_maker: Any, tmp_path: Path) -> None:
    fx = redcap_maker.build()
    raw = fx["raw"]
    visit_rows = np.flatnonzero((raw["redcap_repeat_instrument"] == "clinic_visit").to_numpy())
    raw.loc[visit_rows[1], "visit_date"] = "02/30/2021"  # no such day
    close_rows = np.flatnonzero((raw["redcap_event_name"] == "closeout_arm_1").to_numpy())
    raw.loc[close_rows[0], "age"] = "41"  # age given again, differently, in another event of record 1
    paths = redcap_maker.write(fx, tmp_path / "project")
    with pytest.raises(CohortValidationError) as err:
        import_redcap(paths["records"], paths["dictionary"], paths["mapping"], tmp_path / "cohort")
    f = err.value.failures.set_index("column")
    assert f.loc["visit_date", "rows"] == str(visit_rows[1] + 2)  # CSV line, header = line 1
    assert f.loc["age", "table"] == "records"
    assert str(close_rows[0] + 2) in f.loc["age", "rows"]
    assert "02/30/2021" not in str(err.value) and "41" not in f["problem"].str.cat()
    assert not (tmp_path / "cohort").exists()


def test_schema_errors_name_redcap_fields_and_lines(redcap_maker: Any, tmp_path: Path) -> None:
    fx = redcap_maker.build()
    raw = fx["raw"]
    row = np.flatnonzero((raw["redcap_repeat_instrument"] == "clinic_visit").to_numpy())[2]
    raw.loc[row, "ta_mrc"] = "7"
    paths = redcap_maker.write(fx, tmp_path / "project")
    with pytest.raises(CohortValidationError) as err:
        import_redcap(paths["records"], paths["dictionary"], paths["mapping"], tmp_path / "cohort")
    rec = err.value.failures.iloc[0]
    assert (rec["table"], rec["column"], rec["rows"]) == ("records", "ta_mrc", str(row + 2))


def test_mapping_template_and_config_errors(redcap_maker: Any, tmp_path: Path) -> None:
    fx = redcap_maker.build()
    paths = redcap_maker.write(fx, tmp_path / "project")
    text = redcap_mapping_template(paths["dictionary"])
    for field in ("onset_date", "interventions___1", "red_flags___2", "visit_date", "walk_time"):
        assert f'"{field}"' in text
    assert '"full_name"' not in text and '"dob"' not in text
    assert "date_dmy" in text and "clinic_visit" in text
    bad = tmp_path / "bad.toml"
    bad.write_text(fx["mapping"].replace('onset = "onset_date"', 'onset = "age"'))
    with pytest.raises(ConfigError, match="onset must name a date field"):
        import_redcap(paths["records"], paths["dictionary"], bad, tmp_path / "c")
    bad.write_text(fx["mapping"].replace('visits = "clinic_visit"', 'visits = "clinic_visits"'))
    with pytest.raises(ConfigError, match="not a form"):
        import_redcap(paths["records"], paths["dictionary"], bad, tmp_path / "c")


def test_round_trip_cohort_redcap_cohort(tmp_path: Path) -> None:
    cohort = simulate_cohort(60, seed=11)
    files = export_redcap(cohort, tmp_path / "project")
    back = load_cohort(import_redcap(files["records"], files["dictionary"], files["mapping"], tmp_path / "cohort").path)
    for name in ("patients", "visits", "adherence"):
        a, b = getattr(cohort, name).reset_index(drop=True), getattr(back, name).reset_index(drop=True)
        assert len(a) == len(b), name
        for col in a.columns:
            x, y = a[col], b[col]
            if col == "age":
                x = x.clip(upper=90)  # top-coded by the import
            if pd.api.types.is_float_dtype(x.dtype):
                assert np.allclose(x.astype(float), y.astype(float), atol=1e-9, equal_nan=True), (name, col)
            else:
                assert (x.astype(str).to_numpy() == y.astype(str).to_numpy()).all(), (name, col)
