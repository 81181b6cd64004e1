"""recovery_intervals keys categorical patient ids by integer rank: the same intervals, in the same order, as a brute-force loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.cohort.recovery import recovery_intervals


def _brute_force(visits: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Each patient's interval by a plain loop over the patients in text order."""
    rows = []
    for pid in sorted(visits["patient_id"].astype(str).unique()):
        v = visits[visits["patient_id"].astype(str) == pid].sort_values("day", kind="stable")
        days, grades = v["day"].to_numpy(float), v["mrc"].to_numpy()
        hits = np.flatnonzero(grades >= threshold)
        if hits.size:
            k = hits[0]
            rows.append((pid, 0.0 if k == 0 else days[k - 1], days[k], len(v)))
        else:
            rows.append((pid, days[-1], np.inf, len(v)))
    return pd.DataFrame(rows, columns=["patient_id", "lower_day", "upper_day", "n_visits"])


@pytest.mark.parametrize("threshold", [3, 4])
def test_categorical_ids_give_the_brute_force_intervals(threshold):
    rng = np.random.default_rng(5)
    ids = [f"P{i}" for i in (3, 20, 100, 7, 1, 55, 9)]  # text order differs from number and category order
    n = 120
    visits = pd.DataFrame({
        "patient_id": rng.choice(ids, n),
        "day": rng.permutation(np.arange(1, n + 1) * 3),
        "mrc": rng.integers(0, 6, n),
    })
    # categories in a shuffled order, with an unused one: only their text order may matter
    cats = [ids[i] for i in rng.permutation(len(ids))] + ["P999"]
    categorical = visits.assign(patient_id=pd.Categorical(visits["patient_id"], categories=cats))
    got = recovery_intervals(categorical, threshold=threshold).table
    want = _brute_force(visits, threshold)
    assert got["patient_id"].astype(str).tolist() == want["patient_id"].tolist()
    np.testing.assert_array_equal(got["lower_day"].to_numpy(float), want["lower_day"].to_numpy())
    np.testing.assert_array_equal(got["upper_day"].to_numpy(float), want["upper_day"].to_numpy())
    np.testing.assert_array_equal(got["n_visits"].to_numpy(int), want["n_visits"].to_numpy())
    # the text path gives the same table
    plain = recovery_intervals(visits, threshold=threshold).table
    pd.testing.assert_frame_equal(got.reset_index(drop=True), plain.reset_index(drop=True))
