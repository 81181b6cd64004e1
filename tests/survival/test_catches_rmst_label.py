"""The RMST's point/set label follows the documented rule on the reported interval (kills turnbull.py:410's
"3 z se" mutant, which changes only the label): point when the identified set is at most
``identification_ratio`` times the width of the reported CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from footdrop_outcomes.survival import turnbull


def _data(seed: int = 5, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.weibull(1.5, n) * 12
    visits = np.array([2.0, 6.0, 12.0, 26.0, 52.0])
    k = np.searchsorted(visits, t)
    lower = np.where(k == 0, 0.0, visits[np.minimum(k, 5) - 1])
    upper = np.where(k < 5, visits[np.minimum(k, 4)], np.inf)
    return pd.DataFrame({"lower": lower, "upper": upper})


def _rmst(ratio: float) -> pd.Series:
    res = turnbull(_data(), landmarks=[12.0], tau=26.0, identification_ratio=ratio)
    return res.summary[res.summary["statistic"] == "rmst"].iloc[0]


def test_rmst_label_follows_the_rule_on_the_reported_interval():
    r = _rmst(0.25)
    w, ci = r["set_upper"] - r["set_lower"], r["upper"] - r["lower"]
    assert w > 0 and ci > w  # a genuine set inside a wider CI
    z = norm.ppf(0.975)
    se = (ci - w) / (2 * z)
    r_rule = w / ci                      # the documented threshold: w <= ratio * (CI width)
    r_wider = w / (w + 3 * z * se)       # what a rule with a wider interval would use
    assert r_wider < r_rule
    assert _rmst((r_wider + r_rule) / 2)["identification"] == "set"
    assert _rmst(min(0.999, r_rule * 1.02))["identification"] == "point"
