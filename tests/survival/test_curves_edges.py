"""Curves at their edges: a curve that drops to 0 at its first time (the median's CI limits are
missing, as R's survfit prints them), and a group that late entry leaves with nobody at risk (its
rows say so; the other groups are as if fitted alone)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import kaplan_meier, turnbull
from footdrop_outcomes.survival._entry import LateEntryWarning
from footdrop_outcomes.survival.curves import NO_ONE_AT_RISK, CurveWarning

# R 4.2.2, survival 3.5.3: print(survfit(Surv(time, event) ~ 1)) -> median, 0.95LCL, 0.95UCL
R_MEDIANS = [
    ([3.0] * 5, [1] * 5, (3.0, np.nan, np.nan)),  # everyone recovers at the first time
    ([3.0], [1], (3.0, np.nan, np.nan)),  # a one-patient group that recovered
    ([1.0, 2, 3, 3], [0, 1, 1, 1], (3.0, 2.0, np.nan)),  # the curve reaches 0 at its last time
]


@pytest.mark.parametrize(("time", "event", "expected"), R_MEDIANS)
def test_median_and_limits_where_the_curve_drops_to_zero_match_R(time, event, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)
        s = kaplan_meier(pd.DataFrame({"time": time, "event": event})).summary
    med = s.query("statistic == 'median'").iloc[0]
    np.testing.assert_array_equal([med["estimate"], med["lower"], med["upper"]], expected)
    assert med["note"] == "upper limit not reached"


def _fit_both(method, data, alone, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)
        with pytest.warns(LateEntryWarning, match="group 'a': 1 patient"):
            both = method(data, group="g", entry_col="entry", **kw)
        warnings.simplefilter("ignore", LateEntryWarning)
        single = method(alone, group="g", entry_col="entry", **kw)
    return both, single


def _compare(both, single):
    s = both.summary
    empty = s[s["group"] == "a"]
    assert len(empty) == 1 + 2 + 1  # median, two landmarks, rmst
    assert (empty["n"] == 0).all() and (empty["events"] == 0).all()
    assert empty[["estimate", "lower", "upper"]].isna().all().all()
    assert (empty["note"] == NO_ONE_AT_RISK).all()
    assert (empty["identification"] == "not identifiable").all() and not empty["identified"].any()
    assert list(s.columns) == list(single.summary.columns)
    pd.testing.assert_frame_equal(s[s["group"] == "b"].reset_index(drop=True), single.summary.reset_index(drop=True))
    assert both.info["excluded_at_entry"]["a"] == 1
    both.plot()


def test_kaplan_meier_group_with_nobody_at_risk_after_late_entry():
    b = pd.DataFrame({"time": [5.0, 6, 7, 4, 8, 9], "event": [1, 0, 1, 1, 1, 0], "entry": [1.0, 1, 2, 0, 0, 0], "g": "b"})
    a = pd.DataFrame({"time": [3.0], "event": [1], "entry": [3.0], "g": "a"})  # recovered when first seen
    both, single = _fit_both(kaplan_meier, pd.concat([a, b], ignore_index=True), b, landmarks=[2, 6], tau=8)
    _compare(both, single)


def test_turnbull_group_with_nobody_at_risk_after_late_entry():
    rng = np.random.default_rng(3)
    lo = rng.integers(0, 8, 30).astype(float)
    b = pd.DataFrame({"lower": lo, "upper": np.where(rng.random(30) < 0.8, lo + 1, np.inf),
                      "entry": np.zeros(30), "g": "b"})
    a = pd.DataFrame({"lower": [2.0], "upper": [3.0], "entry": [3.0], "g": "a"})
    both, single = _fit_both(turnbull, pd.concat([a, b], ignore_index=True), b, landmarks=[2, 6], tau=8)
    _compare(both, single)


@pytest.mark.parametrize("alpha", [np.float64(0.1), np.array(0.1), 0.1])
def test_alpha_as_numpy_scalar_or_0d_array(alpha):
    df = pd.DataFrame({"time": [1.0, 2, 3, 4, 5, 6], "event": [1, 0, 1, 1, 0, 1]})
    ref = kaplan_meier(df, alpha=0.1, tau=6).summary
    pd.testing.assert_frame_equal(kaplan_meier(df, alpha=alpha, tau=6).summary, ref)
