"""Validation: every kind of bad input gives one clear error naming table, column and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import Cohort, CohortValidationError
from footdrop_outcomes.cohort.schema import validate_tables


def _tables(cohort) -> dict[str, pd.DataFrame]:
    """Plain (object) copies, as a user would build them by hand."""
    out = {}
    for name, df in cohort.tables().items():
        df = df.copy()
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = df[col].astype(object)
        out[name] = df
    return out


def _problems(tables) -> pd.DataFrame:
    with pytest.raises(CohortValidationError) as info:
        validate_tables(tables)
    return info.value.failures


def test_plain_tables_validate(small_cohort):
    typed = validate_tables(_tables(small_cohort))
    pd.testing.assert_frame_equal(typed["visits"], small_cohort.visits)


def test_wrong_type_names_table_column_and_row(small_cohort):
    t = _tables(small_cohort)
    t["patients"]["age"] = t["patients"]["age"].astype(object)
    t["patients"].loc[3, "age"] = "sixty"
    f = _problems(t)
    row = f[(f["table"] == "patients") & (f["column"] == "age")].iloc[0]
    assert "whole number" in row["problem"] and row["rows"] == "3"
    assert "patient_ids" not in f.columns  # rows say where to look; patient keys are never listed


def test_fraction_in_integer_column(small_cohort):
    t = _tables(small_cohort)
    t["visits"]["mrc"] = t["visits"]["mrc"].astype(float)
    t["visits"].loc[5, "mrc"] = 3.5
    f = _problems(t)
    assert ((f["table"] == "visits") & (f["column"] == "mrc") & (f["rows"] == "5")).any()


def test_unknown_category(small_cohort):
    t = _tables(small_cohort)
    t["patients"].loc[7, "cause"] = "gout"
    f = _problems(t)
    row = f[f["column"] == "cause"].iloc[0]
    assert "unknown category" in row["problem"] and "gout" not in row["problem"] and row["rows"] == "7"
    assert "peroneal_compression" in row["problem"]  # allowed values are listed


def test_out_of_range_value(small_cohort):
    t = _tables(small_cohort)
    t["visits"].loc[[2, 9], "gait_speed"] = 7.5
    f = _problems(t)
    row = f[(f["table"] == "visits") & (f["column"] == "gait_speed")].iloc[0]
    assert "out of range" in row["problem"] and row["rows"] == "2, 9" and row["n_rows"] == 2


def test_duplicate_patient_key(small_cohort):
    t = _tables(small_cohort)
    t["patients"] = pd.concat([t["patients"], t["patients"].iloc[[4]]], ignore_index=True)
    f = _problems(t)
    assert f["problem"].str.contains("duplicate key").any()


def test_duplicate_visit_day_is_a_duplicate_key(small_cohort):
    t = _tables(small_cohort)
    v = t["visits"]
    v.loc[1, "day"] = v.loc[0, "day"]
    f = _problems(t)
    assert (f["table"] == "visits").any() and f["problem"].str.contains("duplicate key").any()


def test_visits_of_unknown_patient(small_cohort):
    t = _tables(small_cohort)
    t["visits"].loc[0, "patient_id"] = "NOBODY"
    f = _problems(t)
    row = f[(f["table"] == "visits") & (f["column"] == "patient_id")].iloc[0]
    assert "not in the patients table" in row["problem"] and row["rows"] == "0"


def test_negative_day(small_cohort):
    t = _tables(small_cohort)
    t["visits"].loc[0, "day"] = -3
    f = _problems(t)
    assert ((f["column"] == "day") & f["problem"].str.contains("out of range")).any()


def test_non_increasing_days(small_cohort):
    t = _tables(small_cohort)
    v = t["visits"]
    first_patient = v.index[v["patient_id"] == v.loc[0, "patient_id"]]
    v.loc[first_patient[:2], "day"] = v.loc[first_patient[:2], "day"].to_numpy()[::-1]
    f = _problems(t)
    row = f[f["problem"].str.contains("backwards")].iloc[0]
    assert row["table"] == "visits" and row["column"] == "day" and row["rows"] == "1"


def test_completed_more_than_prescribed(small_cohort):
    t = _tables(small_cohort)
    a = t["adherence"]
    a.loc[10, "toe_lifts_completed"] = a.loc[10, "toe_lifts_prescribed"] + 1
    f = _problems(t)
    row = f[f["column"] == "toe_lifts_completed"].iloc[0]
    assert "more sessions completed than prescribed" in row["problem"] and row["rows"] == "10"


def test_adherence_week_after_follow_up(small_cohort):
    t = _tables(small_cohort)
    a = t["adherence"]
    last = a.groupby("patient_id").tail(1).index[0]
    a.loc[last, "week"] = 400
    f = _problems(t)
    assert ((f["table"] == "adherence") & f["problem"].str.contains("end of follow-up")).any()


def test_severity_contradicting_baseline_grade(small_cohort):
    t = _tables(small_cohort)
    p = t["patients"]
    i = int(np.flatnonzero(p["severity"] == "mild")[0])
    p.loc[i, "baseline_mrc"] = 0
    f = _problems(t)
    row = f[f["column"] == "severity"].iloc[0]
    assert "contradicts baseline_mrc" in row["problem"] and row["rows"] == str(i)


def test_missing_and_unknown_columns(small_cohort):
    t = _tables(small_cohort)
    t["patients"] = t["patients"].drop(columns="sex").assign(full_name="x")
    f = _problems(t)
    assert ((f["column"] == "sex") & f["problem"].str.contains("required column is missing")).any()
    assert ((f["column"] == "full_name") & f["problem"].str.contains("not in the data model")).any()


def test_missing_value_where_not_allowed(small_cohort):
    t = _tables(small_cohort)
    t["visits"]["afo_needed"] = t["visits"]["afo_needed"].astype(object)
    t["visits"].loc[4, "afo_needed"] = None
    f = _problems(t)
    assert ((f["column"] == "afo_needed") & (f["rows"] == "4")).any()


def test_all_problems_are_reported_together_in_one_message(small_cohort):
    t = _tables(small_cohort)
    t["patients"].loc[0, "cause"] = "gout"
    t["visits"].loc[0, "mrc"] = 9
    with pytest.raises(CohortValidationError) as info:
        validate_tables(t)
    msg = str(info.value)
    assert "patients.cause" in msg and "visits.mrc" in msg and "Nothing was loaded" in msg


def test_missing_table():
    with pytest.raises(CohortValidationError, match="table is missing"):
        validate_tables({"patients": pd.DataFrame()})


def test_cohort_constructor_validates(small_cohort):
    t = _tables(small_cohort)
    t["visits"].loc[0, "mrc"] = 6
    with pytest.raises(CohortValidationError, match=r"visits\.mrc"):
        Cohort(**t)
