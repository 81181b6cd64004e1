"""Interval-censored AFT with a random site intercept (survival/aft_random.py): what the brute-force
integral, the fixed-AFT reduction and the replicates left unchecked (issue 21).

Mutation sample of session 7 (seed 1) survivors killed here:

* ``aft_random.py:401``: "tau runs to 0" read from ``theta[p - 1]`` (the last fixed coefficient) instead
  of ``theta[p + 1]`` (log tau). Reference: equivariance. Measuring a covariate in units 100 times
  smaller multiplies its coefficient and SE by 100 and changes nothing else (same likelihood, tau,
  site effects); with the coefficient then far below ``log(1e-4)`` the mutant declared tau 0.
* ``aft_random.py:437``: the LR test of tau = 0 with chi2 on 2 df. Reference: the documented
  boundary-corrected test (Self & Liang 1987: a 50:50 mixture of chi2_0 and chi2_1) on
  ``2 (L - L_fixed)``, ``L_fixed`` from :func:`fit_interval_aft` (tested against lifelines).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from footdrop_outcomes.survival import fit_interval_aft
from footdrop_outcomes.survival.aft_random import fit_interval_aft_random

_spec = importlib.util.spec_from_file_location("_aft_random_reference", Path(__file__).with_name("test_frailty_aft.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


@pytest.fixture(scope="module")
def data():
    df = ref.simulate(9)
    return df, fit_interval_aft_random(df, "x1 + x2")


def test_a_covariate_in_smaller_units_changes_only_its_own_coefficient(data):
    df, r = data
    assert r.tau > 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "tau runs to 0"
        s = fit_interval_aft_random(df.assign(x2=df["x2"] / 100.0), "x1 + x2")
    assert np.exp(s.params["x2"]) < 1e-4  # the coefficient itself is far below the tau-zero limit
    assert s.tau == pytest.approx(r.tau, rel=1e-6)
    assert s.log_likelihood == pytest.approx(r.log_likelihood, abs=1e-8)
    assert s.params["x2"] == pytest.approx(100 * r.params["x2"], rel=1e-6)
    assert s.summary.set_index("term").loc["x2", "se"] == pytest.approx(100 * r.summary.set_index("term").loc["x2", "se"], rel=1e-5)
    keep = [t for t in r.params.index if t != "x2"]
    np.testing.assert_allclose(s.params[keep], r.params[keep], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s.sites["effect"], r.sites["effect"], rtol=1e-5, atol=1e-8)


def test_lr_test_of_tau_is_the_boundary_mixture_on_the_fixed_aft(data):
    df, r = data
    fixed = fit_interval_aft(df, "x1 + x2")
    lr = 2 * (r.log_likelihood - fixed.log_likelihood)
    v = r.variance.iloc[0]
    assert v["lr_chisq"] == pytest.approx(lr, abs=1e-6)
    assert lr > 0.5  # a site variance to test: the 1- and 2-df tail areas differ by far more than the tolerance
    assert v["p"] == pytest.approx(0.5 * stats.chi2.sf(lr, 1), rel=1e-6)
    assert abs(0.5 * stats.chi2.sf(lr, 2) / v["p"] - 1) > 0.1


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_every_interval_is_the_documented_wald_interval_at_alpha(alpha):
    """Time ratios ``exp(coef -/+ z se)``, site ratios ``exp(effect -/+ z sd)``, tau ``exp(log tau -/+ z se)``
    with ``z = z_{1 - alpha/2}`` from scipy, and the plot's stated level (aft_random.py:424 survivors:
    ``z / se``, ``theta - z se`` for the upper limit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = fit_interval_aft_random(ref.simulate(10, sites=8, per_site=40), "x1 + x2", alpha=alpha)
    z = stats.norm.ppf(1 - alpha / 2)
    s = r.summary
    assert r.tau > 0 and np.isfinite(s["se"]).all()
    np.testing.assert_allclose(s["time_ratio"], np.exp(s["coef"]), rtol=1e-12)
    np.testing.assert_allclose(s["tr_lower"], np.exp(s["coef"] - z * s["se"]), rtol=1e-12)
    np.testing.assert_allclose(s["tr_upper"], np.exp(s["coef"] + z * s["se"]), rtol=1e-12)
    st = r.sites
    np.testing.assert_allclose(st["lower"], np.exp(st["effect"] - z * st["sd"]), rtol=1e-12)
    np.testing.assert_allclose(st["upper"], np.exp(st["effect"] + z * st["sd"]), rtol=1e-12)
    se_log_tau = s["se"].iloc[-1]
    v = r.variance.iloc[0]
    assert v["lower"] == pytest.approx(r.tau * np.exp(-z * se_log_tau), rel=1e-12)
    assert v["upper"] == pytest.approx(r.tau * np.exp(z * se_log_tau), rel=1e-12)
    assert f"{100 * (1 - alpha):.0f}% interval" in r.plot().get_xlabel()
    plt.close("all")
