"""Gamma-frailty Cox (survival/frailty.py): what the R comparisons and the EM reference left unchecked (issue 21).

Mutation sample of session 7 (seed 1): the hazard-ratio CI with its ``z`` divided by the SE instead
of multiplied, and "at least 2 groups" read as 3, survived ``test_frailty.py``. References:

* the Wald CI on the log scale, ``exp(b -/+ z_{1 - alpha/2} se)`` (R ``summary.coxph``'s
  ``lower .95`` / ``upper .95``), with ``z`` from scipy, at two levels;
* Klein's (1992) EM written in ``test_frailty.py`` (loaded from there, not from the package) on
  two sites, the smallest number the documented rule accepts.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival.frailty import fit_frailty_cox

_spec = importlib.util.spec_from_file_location("_frailty_reference", Path(__file__).with_name("test_frailty.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_hazard_ratio_and_frailty_cis_are_wald_intervals_at_alpha(alpha):
    df = ref._simulate(5, sites=8, per_site=30)
    r = fit_frailty_cox(df, "x1 + x2", frailty="site", alpha=alpha, profile_ci=False)
    z = stats.norm.ppf(1 - alpha / 2)
    s = r.summary
    assert r.theta > 0
    np.testing.assert_allclose(s["hr_lower"], np.exp(s["log_hr"] - z * s["se"]), rtol=1e-12)
    np.testing.assert_allclose(s["hr_upper"], np.exp(s["log_hr"] + z * s["se"]), rtol=1e-12)
    np.testing.assert_allclose(s["hr"], np.exp(s["log_hr"]), rtol=1e-12)
    f = r.frailties
    np.testing.assert_allclose(f["lower"], np.exp(f["log_frailty"] - z * f["se"]), rtol=1e-12)
    np.testing.assert_allclose(f["upper"], np.exp(f["log_frailty"] + z * f["se"]), rtol=1e-12)
    assert (s["hr_lower"] < s["hr"]).all() and (s["hr"] < s["hr_upper"]).all()
    # the caterpillar plot states the same level (frailty.py:263 survivor: 96% for 95%)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = r.plot()
    assert f"{100 * (1 - alpha):.0f}% CI" in ax.get_xlabel()
    plt.close("all")


def test_two_groups_are_enough_and_one_is_refused():
    df = ref._simulate(21, sites=2, per_site=120)
    assert df["time"].nunique() == len(df)  # no ties: Breslow = Efron, as the EM assumes
    theta = 0.5
    beta_em, ll_em = ref._klein_em(df, theta, np.zeros(2))
    r = fit_frailty_cox(df, "x1 + x2", frailty="site", theta=theta)
    assert r.info["n_groups"] == 2 and len(r.frailties) == 2
    np.testing.assert_allclose(r.params, beta_em, atol=1e-7)
    assert r.log_likelihood - int(df["event"].sum()) == pytest.approx(ll_em, abs=1e-6)
    with pytest.raises(FootdropError, match="at least 2 groups"):
        fit_frailty_cox(df.assign(site=0), "x1 + x2", frailty="site", theta=theta)


def test_row_order_changes_nothing_and_sites_are_listed_in_sorted_order():
    """The frailties table lists the sites sorted (R's level order) whatever the order of the rows;
    every estimate is the same on shuffled rows (frailty.py:377 survivor: sites in order of first
    appearance). Site codes are text here, as in a cohort, so sorted order is not numeric order."""
    df = ref._simulate(8, sites=7, per_site=25)
    df["site"] = df["site"].map(lambda s: f"S{(s * 3) % 7:02d}")
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert shuffled["site"].iloc[0] != "S00"  # first appearance is not sorted order
    a = fit_frailty_cox(df, "x1 + x2", frailty="site", profile_ci=False)
    b = fit_frailty_cox(shuffled, "x1 + x2", frailty="site", profile_ci=False)
    codes = sorted(df["site"].unique())
    for r in (a, b):
        f = r.frailties
        assert f["site"].tolist() == codes
        assert f["n"].tolist() == [int((df["site"] == c).sum()) for c in codes]
        assert f["events"].tolist() == [int(df.loc[df["site"] == c, "event"].sum()) for c in codes]
    assert b.theta == pytest.approx(a.theta, rel=1e-6)
    np.testing.assert_allclose(b.params, a.params, atol=1e-7)
    np.testing.assert_allclose(b.frailties["log_frailty"], a.frailties["log_frailty"], atol=1e-6)


def test_gamma_correction_of_groups_without_events_is_zero():
    """Each group's term ``d - nu log(1 + d/nu) + log G(nu + d) - log G(nu) - d log(nu + d)`` is 0 at d = 0
    (frailty.py:164 survivor: the all-zero case returned 1)."""
    from footdrop_outcomes.survival.frailty import gamma_correction

    for nu in (0.5, 3.0, 1e6):
        assert gamma_correction(np.zeros(4), nu) == 0.0
        assert gamma_correction(np.array([0, 0, 2]), nu) == pytest.approx(gamma_correction(np.array([2]), nu), rel=1e-14)
