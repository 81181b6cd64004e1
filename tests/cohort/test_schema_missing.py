"""Schema 1.1: nullable covariates, optional columns (delayed entry, surgery day, dropout reason,
device-off gait speed), their cross-table rules, and old cohorts loading unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import Cohort, CohortValidationError, load_cohort
from footdrop_outcomes.cohort.schema import SCHEMAS, validate_tables

NULLABLE = {"diabetes": "boolean", "smoking": "category", "days_to_treatment": "Int64", "hba1c": "float64", "bmi": "float64",
            "side": "category"}


@pytest.fixture(scope="module")
def holes(small_cohort):
    """The small cohort with holes in every nullable covariate (positions known) and the optional columns."""
    rng = np.random.default_rng(4)
    p = small_cohort.patients.copy()
    where = {c: np.union1d(np.flatnonzero(rng.random(len(p)) < 0.2), np.flatnonzero(p[c].isna().to_numpy())) for c in NULLABLE}
    for c, rows in where.items():
        p.loc[rows, c] = pd.NA if c in ("diabetes", "days_to_treatment") else np.nan
    first_visit = small_cohort.visits.groupby("patient_id", observed=True)["day"].min()
    p["first_contact_day"] = first_visit.reindex(p["patient_id"]).to_numpy().astype(np.int64)
    operated = (p["surgery"].astype(str) != "none").to_numpy()
    p["surgery_day"] = pd.array(np.where(operated, p["days_to_treatment"].fillna(0).to_numpy(dtype=float), np.nan)).astype("Int64")
    p["dropout_reason"] = np.where(p["followup_end"].astype(str) == "dropout", "lost_to_follow_up", None)
    v = small_cohort.visits.copy()
    v["gait_speed_device_off"] = np.where(rng.random(len(v)) < 0.5, v["gait_speed"] * 0.9, np.nan)
    return Cohort(p, v, small_cohort.adherence), where


def test_nullable_columns_keep_nullable_dtypes_and_their_holes(holes):
    cohort, where = holes
    for c, dtype in NULLABLE.items():
        assert str(cohort.patients[c].dtype) == dtype, c
        assert np.array_equal(np.flatnonzero(cohort.patients[c].isna().to_numpy()), where[c]), c
    assert str(cohort.patients["surgery_day"].dtype) == "Int64"
    assert list(cohort.patients["dropout_reason"].cat.categories) == ["withdrawal", "protocol_deviation", "death", "lost_to_follow_up"]


def test_parquet_and_csv_round_trips_keep_dtypes_and_missing_values(holes, tmp_path):
    cohort, _ = holes
    cohort.save(tmp_path / "c", csv=True)
    back = load_cohort(tmp_path / "c")
    csv = Cohort.from_csv(*(tmp_path / "c" / "csv" / f"{n}.csv" for n in ("patients", "visits", "adherence")))
    for other in (back, csv):
        for name in ("patients", "visits", "adherence"):
            pd.testing.assert_frame_equal(getattr(other, name), getattr(cohort, name))


def test_simulated_cohorts_have_the_nullable_dtypes_without_holes(small_cohort):
    assert str(small_cohort.patients["diabetes"].dtype) == "boolean"
    assert str(small_cohort.patients["days_to_treatment"].dtype) == "Int64"
    assert "first_contact_day" not in small_cohort.patients  # optional columns are not invented


def test_old_cohort_with_plain_dtypes_and_schema_1_0_loads(small_cohort, tmp_path):
    small_cohort.save(tmp_path / "old")
    p = pd.read_parquet(tmp_path / "old" / "patients.parquet")
    p["diabetes"] = p["diabetes"].astype(bool)            # as schema 1.0 stored them
    p["days_to_treatment"] = p["days_to_treatment"].astype(np.int64)
    p.to_parquet(tmp_path / "old" / "patients.parquet", index=False)
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    manifest["schema_version"] = "1.0"
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    back = load_cohort(tmp_path / "old")
    assert back.metadata["schema_version"] == "1.0"
    assert list(back.patients.columns) == [c for c, s in SCHEMAS["patients"].columns.items() if s.required]
    for name in ("patients", "visits", "adherence"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(small_cohort, name))


def _plain(cohort: Cohort) -> dict[str, pd.DataFrame]:
    return {n: df.astype({c: object for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)}) for n, df in cohort.tables().items()}


def _failures(tables) -> pd.DataFrame:
    with pytest.raises(CohortValidationError) as info:
        validate_tables(tables)
    return info.value.failures


def test_visit_before_first_contact_and_first_contact_after_follow_up_are_refused(holes):
    t = _plain(holes[0])
    p, v = t["patients"], t["visits"]
    pid = p.loc[3, "patient_id"]
    p.loc[3, "first_contact_day"] = int(v.loc[v["patient_id"] == pid, "day"].iloc[0]) + 1  # after the first visit
    p.loc[5, "first_contact_day"] = int(p.loc[5, "followup_days"]) + 1
    f = _failures(t)
    early = f.query("table == 'visits' and column == 'day'").iloc[0]
    assert "before the patient's first contact" in early["problem"]
    # patient 3's first visit, and every visit of patient 5 (first contact after the end of follow-up)
    expected = np.r_[np.flatnonzero((v["patient_id"] == pid).to_numpy())[:1], np.flatnonzero((v["patient_id"] == p.loc[5, "patient_id"]).to_numpy())]
    assert early["n_rows"] == len(expected) and early["rows"].split(", ")[:8] == [str(i) for i in expected[:8]]
    late = f.query("table == 'patients' and column == 'first_contact_day'").iloc[0]
    assert "after the end of follow-up" in late["problem"] and late["rows"] == "5"


def test_surgery_day_rules_and_nullable_type_errors(holes):
    t = _plain(holes[0])
    p = t["patients"]
    none = int(np.flatnonzero((p["surgery"] == "none").to_numpy())[0])
    p.loc[none, "surgery_day"] = 10
    p["diabetes"] = p["diabetes"].astype(object)
    p.loc[7, "diabetes"] = "perhaps"
    p["days_to_treatment"] = p["days_to_treatment"].astype(object)
    p.loc[8, "days_to_treatment"] = 2.5
    p["dropout_reason"] = p["dropout_reason"].astype(object)
    p.loc[9, "dropout_reason"] = "moved away"
    f = _failures(t)
    rows = {c: f.query(f"table == 'patients' and column == '{c}'").iloc[0] for c in ("surgery_day", "diabetes", "days_to_treatment", "dropout_reason")}
    assert "without surgery" in rows["surgery_day"]["problem"] and rows["surgery_day"]["rows"] == str(none)
    assert "yes/no" in rows["diabetes"]["problem"] and rows["diabetes"]["rows"] == "7"
    assert "whole number" in rows["days_to_treatment"]["problem"] and rows["days_to_treatment"]["rows"] == "8"
    assert "unknown category" in rows["dropout_reason"]["problem"] and rows["dropout_reason"]["rows"] == "9"
    assert "perhaps" not in f.to_string() and "moved away" not in f.to_string()


def test_required_columns_still_refuse_missing_values(small_cohort):
    t = _plain(small_cohort)
    t["patients"].loc[2, "cause"] = None
    t["patients"]["followup_days"] = t["patients"]["followup_days"].astype(object)
    t["patients"].loc[4, "followup_days"] = None
    f = _failures(t)
    assert ((f["column"] == "cause") & (f["rows"] == "2")).any()
    assert ((f["column"] == "followup_days") & (f["rows"] == "4")).any()


def test_missingness_counts_by_cause_against_a_direct_count(holes):
    cohort, where = holes
    m = cohort.missingness()
    p = cohort.patients
    for col in ("smoking", "diabetes", "days_to_treatment"):
        got = m.query(f"table == 'patients' and column == '{col}'").set_index("group")["n_missing"]
        expected = p[col].isna().groupby(p["cause"].astype(str)).sum()
        assert got.sort_index().to_dict() == expected[expected.index.isin(got.index)].sort_index().astype(int).to_dict()
        assert got.sum() == len(where[col])
    v = m.query("table == 'visits' and column == 'gait_speed_device_off'")
    assert v["n"].sum() == len(cohort.visits) and v["n_missing"].sum() == cohort.visits["gait_speed_device_off"].isna().sum()
    overall = cohort.missingness(by=None).query("table == 'patients' and column == 'smoking'").iloc[0]
    assert overall["group"] == "all" and overall["share_missing"] == pytest.approx(len(where["smoking"]) / len(p))
    with pytest.raises(Exception, match="categorical column"):
        cohort.missingness(by="age")
