"""Observed and expected events per group of the log-rank test (issue 21: the mutation run over
``survival/curves.py`` found that ``o_over_e`` computed as O x E passed every test). Outside
reference: the expected counts written out from their definition, a brute-force sum over the
distinct event times of ``d_t * n_gt / n_t`` (events at t times the group's share of those at
risk), with ties and censoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import logrank_test


def _brute_expected(t: np.ndarray, e: np.ndarray, g: np.ndarray, labels: list[str]) -> np.ndarray:
    out = np.zeros(len(labels))
    for s in np.unique(t[e == 1]):
        at_risk = t >= s
        d = np.sum((t == s) & (e == 1))
        for k, lab in enumerate(labels):
            out[k] += d * np.sum(at_risk & (g == lab)) / np.sum(at_risk)
    return out


@pytest.mark.parametrize("seed", [4, 5])
def test_observed_expected_and_their_ratio(seed):
    rng = np.random.default_rng(seed)
    n = 150
    g = rng.choice(["a", "b", "c"], n)
    rate = np.select([g == "a", g == "b"], [0.05, 0.08], 0.12)
    t = np.ceil(rng.exponential(1 / rate))  # whole weeks: ties
    c = np.ceil(rng.uniform(5, 40, n))
    df = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int), "g": g})
    oe = logrank_test(df, group="g", duration_col="time").observed_expected.set_index("group")
    labels = list(oe.index)
    obs = np.array([df.loc[df["g"] == lab, "event"].sum() for lab in labels], float)
    exp = _brute_expected(df["time"].to_numpy(), df["event"].to_numpy(), df["g"].to_numpy(), labels)
    np.testing.assert_allclose(oe["observed"].to_numpy(float), obs)
    np.testing.assert_allclose(oe["expected"].to_numpy(float), exp, rtol=1e-10)
    np.testing.assert_allclose(oe["o_minus_e"].to_numpy(float), obs - exp, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(oe["o_over_e"].to_numpy(float), obs / exp, rtol=1e-10)
    assert oe["n"].tolist() == [int((df["g"] == lab).sum()) for lab in labels]
