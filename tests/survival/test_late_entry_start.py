"""Late-entry Turnbull curves start where enough patients are under observation.

With one patient seen from onset who recovers in the first weeks and everybody else first seen later,
the conditional NPMLE puts (almost) all the mass before the later entries: "everyone recovered by
week 1". The curve now starts at the entry of the ``min_entered``-th patient and estimates
``P(T <= t | T > s0)``; checked against that conditional truth, and the old degenerate answer is
shown to exist (``min_entered=1``) so the check can fail. Coverage over replicates:
benchmarks/study_turnbull_coverage.py ``--part late-entry-start``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from footdrop_outcomes.survival import turnbull

SHAPE, SCALE = 1.4, 10.0  # true recovery time (weeks) ~ Weibull


def _cdf(t: float) -> float:
    return float(stats.weibull_min.cdf(t, SHAPE, scale=SCALE))


def _referral_sample(seed: int, n: int = 300) -> pd.DataFrame:
    """Patients first seen 0.5-6 weeks after onset (those recovered by then never seen), visits every 2 weeks;
    plus one patient seen from onset who recovered between weeks 0.1 and 0.4."""
    rng = np.random.default_rng(seed)
    rows = [(0.1, 0.4, 0.0)]
    while len(rows) < n:
        e = np.round(rng.uniform(0.5, 6.0) * 7) / 7  # first seen on a whole day
        t = stats.weibull_min.rvs(SHAPE, scale=SCALE, random_state=rng)
        if t <= e:
            continue  # recovered before referral: not in the extract
        visits = e + 2.0 * np.arange(1, 40)
        k = int(np.searchsorted(visits, t))
        lo = e if k == 0 else visits[k - 1]
        rows.append((lo, visits[k], e) if visits[k] <= 52 else (min(lo, 52.0), np.inf, e))
    return pd.DataFrame(rows, columns=["lower", "upper", "entry"])


def _share(res, week: float) -> pd.Series:
    s = res.summary
    return s[(s["statistic"] == "recovered_by") & (s["time"] == week)].iloc[0]


def test_one_early_patient_no_longer_takes_all_the_mass():
    d = _referral_sample(3, n=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = turnbull(d, entry_col="entry", landmarks=[6.0, 12.0], min_entered=1)
        new = turnbull(d, entry_col="entry", landmarks=[6.0, 12.0])
    assert _share(old, 12.0)["estimate"] > 0.9  # the degenerate curve the default avoids
    s0 = new.info["curve_start"]["all"]["start"]
    assert 0.5 < s0 < 1.5  # the 10th entry of U(0.5, 6) among 200
    # the early patient's (0.1, 0.4] lies before s0: outside the conditional population
    assert new.info["curve_start"]["all"]["recovered_before_start"] == 1
    truth = {w: (_cdf(w) - _cdf(s0)) / (1 - _cdf(s0)) for w in (6.0, 12.0)}
    for w, want in truth.items():
        r = _share(new, w)
        assert r["lower"] <= want <= r["upper"], (w, r["estimate"], want)
        assert abs(r["estimate"] - want) < 0.2  # SD over seeds ~0.08 at week 6 (few seen that early)
    assert new.summary["population"].str.contains("late entry").all()


def test_min_entered_is_validated_and_onset_entries_change_nothing():
    d = _referral_sample(4, n=120)
    d.loc[:11, "entry"] = 0.0  # 12 seen from onset: the curve starts at 0
    d.loc[:11, "lower"] = np.minimum(d.loc[:11, "lower"], d.loc[:11, "upper"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = turnbull(d, entry_col="entry", landmarks=[6.0])
        b = turnbull(d, entry_col="entry", landmarks=[6.0], min_entered=1)
    assert a.info["curve_start"]["all"]["start"] == 0.0
    pd.testing.assert_frame_equal(a.summary, b.summary)
    with pytest.raises(Exception, match="min_entered"):
        turnbull(d, entry_col="entry", min_entered=0)
