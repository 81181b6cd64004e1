"""Recovery intervals: properties of the derivation (hypothesis) and the canonical outcome object."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footdrop_outcomes import ConfigError, FootdropError, Recovery, recovery_intervals

visit_sequences = st.lists(
    st.tuples(st.integers(1, 900), st.integers(0, 5)), min_size=1, max_size=8, unique_by=lambda v: v[0]
)


def _visits(patients: list[list[tuple[int, int]]]) -> pd.DataFrame:
    rows = [(f"P{i}", day, mrc) for i, seq in enumerate(patients) for day, mrc in seq]
    return pd.DataFrame(rows, columns=["patient_id", "day", "mrc"])


@settings(max_examples=200, deadline=None)
@given(st.lists(visit_sequences, min_size=1, max_size=6), st.integers(1, 5))
def test_interval_properties(patients, threshold):
    rec = recovery_intervals(_visits(patients), threshold=threshold).table.set_index("patient_id")
    for i, seq in enumerate(patients):
        seq = sorted(seq)
        r = rec.loc[f"P{i}"]
        days = [d for d, _ in seq]
        hits = [d for d, m in seq if m >= threshold]
        assert r["lower_day"] < r["upper_day"]
        assert r["n_visits"] == len(seq)
        if hits:
            assert r["event"] and r["upper_day"] == hits[0]
            before = [d for d in days if d < hits[0]]
            assert r["lower_day"] == (before[-1] if before else 0)
            assert r["kind"] == ("interval" if before else "left")
            # no visit inside the interval, and every visit up to lower is below the threshold
            assert all(m < threshold for d, m in seq if d <= r["lower_day"])
        else:
            assert not r["event"] and np.isinf(r["upper_day"]) and r["lower_day"] == days[-1]
            assert r["kind"] == "right"


@settings(max_examples=100, deadline=None)
@given(st.lists(visit_sequences, min_size=1, max_size=5))
def test_row_order_does_not_matter(patients):
    v = _visits(patients)
    a = recovery_intervals(v).table
    b = recovery_intervals(v.sample(frac=1, random_state=0)).table
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=100, deadline=None)
@given(st.lists(visit_sequences, min_size=1, max_size=5))
def test_right_censored_views_agree_with_intervals(patients):
    rec = recovery_intervals(_visits(patients))
    first = rec.right_censored(time="first_visit")
    mid = rec.right_censored(time="midpoint")
    t = rec.table
    assert (first["event"] == t["event"]).all() and (mid["event"] == t["event"]).all()
    assert (first["time_day"] >= mid["time_day"]).all()
    assert (mid.loc[t["event"], "time_day"] > t.loc[t["event"], "lower_day"]).all()
    assert (first.loc[~t["event"], "time_day"] == t.loc[~t["event"], "lower_day"]).all()


def test_higher_threshold_never_recovers_earlier(small_cohort):
    r4 = recovery_intervals(small_cohort, threshold=4).table
    r5 = recovery_intervals(small_cohort, threshold=5).table
    both = r4["event"] & r5["event"]
    assert (r5.loc[both, "upper_day"] >= r4.loc[both, "upper_day"]).all()
    assert r5["event"].sum() < r4["event"].sum()


def test_cohort_patients_without_visits_are_right_censored_at_zero(small_cohort):
    visits = small_cohort.visits[small_cohort.visits["patient_id"] != small_cohort.patients["patient_id"].iloc[0]]
    from dataclasses import replace

    cohort = replace(small_cohort, visits=visits.reset_index(drop=True), _validated=False)
    r = recovery_intervals(cohort).table.iloc[0]
    assert r["kind"] == "right" and r["lower_day"] == 0 and r["n_visits"] == 0


def test_from_arrays_validates_once():
    rec = Recovery.from_arrays([0, 3, 10], [5, np.nan, 20])
    assert list(rec.table["kind"]) == ["left", "right", "interval"]
    assert "recovered=2" in repr(rec)
    with pytest.raises(FootdropError, match="greater than lower"):
        Recovery.from_arrays([5], [5])
    with pytest.raises(FootdropError, match=">= 0"):
        Recovery.from_arrays([-1], [5])


def test_bad_threshold_and_columns():
    with pytest.raises(ConfigError, match="threshold"):
        recovery_intervals(pd.DataFrame({"patient_id": ["a"], "day": [3], "mrc": [2]}), threshold=6)
    with pytest.raises(FootdropError, match="lacks column"):
        recovery_intervals(pd.DataFrame({"patient_id": ["a"], "day": [3]}))
    with pytest.raises(FootdropError, match="day 0"):
        recovery_intervals(pd.DataFrame({"patient_id": ["a"], "day": [0], "mrc": [5]}))
    with pytest.raises(ConfigError, match="time must be one of"):
        Recovery.from_arrays([1], [2]).right_censored(time="mean")  # type: ignore[arg-type]
