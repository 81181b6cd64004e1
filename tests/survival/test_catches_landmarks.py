"""Shares recovered by a landmark on interval-censored data: point-identified at a visit,
set-identified between two visits (issue 21: the mutation run over ``survival/turnbull.py``
found that counting a landmark equal to a visit as "between two visits" passed every test).

Outside reference: on one common visit schedule (every patient seen at weeks 4, 8 and 12) the
Turnbull NPMLE puts on each visit interval the share of patients who recovered in it, so the
share recovered by a visit week ``v`` is the plain proportion with ``upper <= v``; between two
visits ``a < t < b`` the data only say it lies in ``[F(a), F(b)]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import turnbull

VISITS = np.array([4.0, 8.0, 12.0])


def _common_schedule(seed: int, n: int = 200) -> pd.DataFrame:
    t = np.random.default_rng(seed).uniform(0.0, 16.0, n)
    lo = np.array([VISITS[VISITS < x].max() if (VISITS < x).any() else 0.0 for x in t])
    up = np.array([VISITS[VISITS >= x].min() if (VISITS >= x).any() else np.inf for x in t])
    return pd.DataFrame({"lower": lo, "upper": up})


@pytest.mark.parametrize("seed", [1, 2])
def test_landmark_shares_at_and_between_visits(seed):
    df = _common_schedule(seed)
    f = {v: float(np.mean(df["upper"] <= v)) for v in (0.0, *VISITS)}  # the NPMLE at the visits
    rows = turnbull(df, landmarks=[2, 4, 6, 8, 10]).summary.query("statistic == 'recovered_by'").set_index("time")
    for v in (4.0, 8.0):  # at a visit: one value
        r = rows.loc[v]
        assert r["identification"] == "point", v
        assert r["estimate"] == pytest.approx(f[v], abs=1e-6)
        assert r["set_lower"] == pytest.approx(f[v], abs=1e-6) and r["set_upper"] == pytest.approx(f[v], abs=1e-6)
        assert r["lower"] < f[v] < r["upper"]
    for t, (a, b) in {2.0: (0.0, 4.0), 6.0: (4.0, 8.0), 10.0: (8.0, 12.0)}.items():  # between visits: the set
        r = rows.loc[t]
        assert r["identification"] == "set", t
        assert r["set_lower"] == pytest.approx(f[a], abs=1e-6) and r["set_upper"] == pytest.approx(f[b], abs=1e-6)
        assert r["lower"] <= f[a] and r["upper"] >= f[b]  # the CI covers the whole identified set


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_no_recovery_by_the_landmark_has_the_exact_binomial_upper_limit(alpha):
    # nobody recovers before week 4: at week 2 the share is 0 of the k patients at risk, and its
    # upper limit is the Clopper-Pearson one for 0 of k, 1 - (alpha/2)^(1/k) (scipy's beta quantile)
    from scipy.stats import beta

    t = np.random.default_rng(3).uniform(4.0, 16.0, 150)
    lo = np.array([VISITS[VISITS < x].max() for x in t])
    up = np.array([VISITS[VISITS >= x].min() if (VISITS >= x).any() else np.inf for x in t])
    row = turnbull(pd.DataFrame({"lower": lo, "upper": up}), landmarks=[2.0], alpha=alpha).summary.query(
        "statistic == 'recovered_by'").iloc[0]
    k = int(row["n_at_risk"])
    assert k == 150  # everyone is seen unrecovered after week 2
    assert row["estimate"] == 0.0 and row["lower"] == 0.0
    assert row["upper"] == pytest.approx(beta.ppf(1 - alpha / 2, 1, k), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 8])
def test_a_median_whose_ci_reaches_across_weeks_without_visits_is_not_a_point(seed):
    # weekly visits except weeks 11 and 12: a CI around the median that reaches across that gap
    # cannot place the median there, however narrow the identified set (documented rule)
    visits = np.r_[np.arange(1.0, 11.0), np.arange(13.0, 31.0)]
    t = np.random.default_rng(seed).uniform(0.0, 24.0, 40)
    lo = np.array([visits[visits < x].max() if (visits < x).any() else 0.0 for x in t])
    up = np.array([visits[visits >= x].min() if (visits >= x).any() else np.inf for x in t])
    r = turnbull(pd.DataFrame({"lower": lo, "upper": up}), min_at_risk=5).summary.query("statistic == 'median'").iloc[0]
    assert r["lower"] <= 10.0 and r["upper"] >= 13.0  # the CI spans the unvisited weeks
    assert r["set_upper"] - r["set_lower"] <= 1.0  # a narrow identified set: a point but for the gap
    assert r["identification"] == "set"
    assert "weeks without visits" in r["note"]


def test_a_curve_flat_at_one_half_leaves_the_median_anywhere_until_the_next_recovery():
    # common schedule: 10 recover in (0, 4], 10 in (4, 8], none in (8, 12], 20 in (12, 16]; the
    # NPMLE is the plain proportions, so S = 1/2 exactly from week 8 until recoveries resume
    # after week 12: every time in [4, 12] can be the median (the earliest curve reaches one
    # half at 4, the latest leaves it at 12)
    lo = np.repeat([0.0, 4.0, 12.0], [10, 10, 20])
    up = np.repeat([4.0, 8.0, 16.0], [10, 10, 20])
    r = turnbull(pd.DataFrame({"lower": lo, "upper": up})).summary.query("statistic == 'median'").iloc[0]
    assert r["set_lower"] == pytest.approx(4.0) and r["set_upper"] == pytest.approx(12.0)
    assert r["identification"] == "set"


@pytest.mark.parametrize("seed", [1, 2])
def test_the_median_ci_starts_at_a_visit_before_the_identified_set(seed):
    # documented: the CI runs from the last visit *before* the earliest curve's crossing (which is
    # at or before the identified set), so on a common schedule its lower limit is a visit week
    # (or 0) strictly below the set
    r = turnbull(_common_schedule(seed)).summary.query("statistic == 'median'").iloc[0]
    assert r["identification"] == "set"
    assert r["lower"] in (0.0, *VISITS)
    assert r["lower"] < r["set_lower"]
