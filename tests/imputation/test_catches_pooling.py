"""Rubin's rules refuse fits they cannot pool (kills a surviving mutant of issue 21's mutation
run: a covariance with an infinite entry beside finite estimates was pooled into an infinite SE)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.imputation import pool


class _Fit:
    def __init__(self, params, cov):
        self.params = pd.Series(params, index=["a", "b"], dtype=float)
        self.cov = pd.DataFrame(cov, index=["a", "b"], columns=["a", "b"])
        self.info = {"n": 100}


GOOD = [[0.01, 0.0], [0.0, 0.02]]


@pytest.mark.parametrize("bad", ["params", "cov"])
def test_a_non_finite_estimate_or_covariance_is_refused(bad):
    fits = [_Fit([0.1, 0.2], GOOD), _Fit([0.15, 0.1], GOOD)]
    if bad == "params":
        fits[1] = _Fit([np.nan, 0.1], GOOD)
    else:
        fits[1] = _Fit([0.15, 0.1], [[np.inf, 0.0], [0.0, 0.02]])
    with pytest.raises(FootdropError, match="non-finite"):
        pool(fits)


def test_two_fits_by_hand():
    """Rubin's rules written out for m = 2 (qbar, ubar, b with divisor 1, t = ubar + 1.5 b)."""
    res = pool([_Fit([0.1, 0.2], GOOD), _Fit([0.3, 0.1], GOOD)], dfcom=np.inf).summary.set_index("term")
    b = np.array([0.02, 0.005])  # var of (0.1, 0.3) and (0.2, 0.1), divisor m - 1 = 1
    t = np.array([0.01, 0.02]) + 1.5 * b
    np.testing.assert_allclose(res["estimate"], [0.2, 0.15])
    np.testing.assert_allclose(res["t"], t)
    lam = 1.5 * b / t
    np.testing.assert_allclose(res["df"], 1 / lam**2)  # Rubin (1987): (m - 1) / lambda^2


def test_dfcom_comes_from_the_first_fit_as_in_mice():
    """mice::pool takes the complete-data df from the first fit (getfit(object, 1L))."""
    first, second = _Fit([0.1, 0.2], GOOD), _Fit([0.3, 0.1], GOOD)
    first.info, second.info = {"n": 100}, {"n": 60}
    assert pool([first, second]).info["dfcom"] == 98  # rows - parameters of the first fit


def test_array_params_and_default_columns():
    """Fits with plain arrays (statsmodels on arrays) pool like labelled ones; hazard-ratio
    columns only on request (documented: ``exponentiate=True``)."""

    class Arr:
        def __init__(self, p):
            self.params = np.array(p)
            self.cov = np.array(GOOD)
            self.info = {"n": 100}

    res = pool([Arr([0.1, 0.2]), Arr([0.3, 0.1])])
    np.testing.assert_allclose(res.summary["estimate"], [0.2, 0.15])
    assert "exp_estimate" not in res.summary.columns
    assert "exp_estimate" in pool([Arr([0.1, 0.2]), Arr([0.3, 0.1])], exponentiate=True).summary.columns


def test_given_dfcom_is_used_as_given():
    """A small given dfcom enters the Barnard-Rubin df unchanged (formula written out here)."""
    res = pool([_Fit([0.1, 0.2], GOOD), _Fit([0.3, 0.1], GOOD)], dfcom=1.5)
    assert res.info["dfcom"] == 1.5
    b = np.array([0.02, 0.005])
    t = np.array([0.01, 0.02]) + 1.5 * b
    lam = 1.5 * b / t
    old, obs = 1 / lam**2, (1.5 + 1) / (1.5 + 3) * 1.5 * (1 - lam)
    np.testing.assert_allclose(res.summary["df"], old * obs / (old + obs))
