"""The effective sample size reported with propensity weights is Kish's, per arm (issue 21: the
mutation run over ``adherence/weighting.py`` found that a wrong power in the formula passed every
test). Outside reference: Kish's definition ``(sum w)^2 / sum w^2`` written out here over the
weights the fit reports, its bounds (1 <= ESS <= arm size, equal only for equal weights), and the
formula itself checked by hand on two small sets of weights."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from footdrop_outcomes.adherence import fit_propensity
from footdrop_outcomes.adherence.weighting import WeightingWarning


def _kish(w: np.ndarray) -> float:
    share = w / w.sum()
    return 1.0 / float(np.sum(share * share))


@pytest.mark.parametrize("seed", [1, 2])
def test_effective_sample_size_is_kish_per_arm(seed):
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.normal(size=n)
    z = (rng.random(n) < expit(-0.3 + 1.2 * x)).astype(int)
    df = pd.DataFrame({"x": x, "treated": z})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        ps = fit_propensity(df, "treated", "x")
    w = ps.weights.to_numpy(float)
    t = ps.data["treated"].to_numpy() == 1
    ess = ps.info["effective_sample_size"]
    assert ess["treated"] == pytest.approx(_kish(w[t]), rel=1e-12)
    assert ess["control"] == pytest.approx(_kish(w[~t]), rel=1e-12)
    for arm, m in (("treated", t), ("control", ~t)):
        assert 1.0 <= ess[arm] < m.sum()  # unequal weights lose information


def test_kish_by_hand():
    # weights 1, 1, 2 (sum 4, sum of squares 6): ESS 16 / 6; equal weights: ESS = n
    assert _kish(np.array([1.0, 1.0, 2.0])) == pytest.approx(16.0 / 6.0)
    assert _kish(np.full(7, 0.3)) == pytest.approx(7.0)
