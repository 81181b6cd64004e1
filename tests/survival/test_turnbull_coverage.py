"""Turnbull medians against the latent truth where visits identify them (visits every 1-3 weeks):
shown as points in most replicates, their 95% CIs cover the truth at the nominal rate, checked by
a two-sided binomial bound that a conservative (always covering) or anti-conservative CI fails.
The full study (400 replicates, late entry, the cohort simulator) is
benchmarks/study_turnbull_coverage.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from footdrop_outcomes.survival import turnbull

SHAPE, SCALE, CURE, FOLLOWUP = 1.6, 14.0, 0.2, 60.0
REPS, N = 60, 150


def _truth() -> float:
    # F(t) = (1 - CURE) (1 - exp(-(t / SCALE)^SHAPE)) = 1/2, non-recoverers counted as never recovering
    return float(SCALE * (-np.log(1 - 0.5 / (1 - CURE))) ** (1 / SHAPE))


def _sample(rng: np.random.Generator, n: int) -> pd.DataFrame:
    t = np.where(rng.random(n) < CURE, np.inf, SCALE * rng.weibull(SHAPE, n))
    visits = np.cumsum(rng.uniform(1, 3, (n, 40)), axis=1)
    visits = np.where(visits <= FOLLOWUP, visits, np.inf)
    k = (visits < t[:, None]).sum(axis=1)  # visits before recovery
    last = np.isfinite(visits).sum(axis=1)
    lower = np.where(k > 0, visits[np.arange(n), np.maximum(k - 1, 0)], 0.0)
    upper = np.where(k < last, visits[np.arange(n), np.minimum(k, 39)], np.inf)
    return pd.DataFrame({"lower": lower, "upper": upper})


def test_median_ci_is_nominal_where_visits_identify_it():
    rng = np.random.default_rng(20261202)
    truth = _truth()
    assert truth == pytest.approx(13.83, abs=0.01)
    shown, covered = 0, 0
    for _ in range(REPS):
        m = turnbull(_sample(rng, N), landmarks=[12.0], tau=52).summary.iloc[0]
        assert m["identification"] in ("point", "set")
        if m["identification"] == "point":
            shown += 1
            covered += bool(m["lower"] <= truth <= m["upper"])
    assert shown >= 0.6 * REPS  # dense visits identify the median
    # two-sided: 95% nominal gives covered in [lo, shown - 1] with probability about 0.95 - 0.95^shown;
    # a CI that always covers (conservative) fails the upper bound, one covering 85% the lower
    lo = binom.ppf(0.01, shown, 0.95)
    assert lo <= covered <= shown - 1, (covered, shown)
