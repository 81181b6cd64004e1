"""Overlap weights (estimand="ATO", Li, Morgan & Zaslavsky 2018): exact balance, the stacked SE against an
independent numerical sandwich and a brute-force bootstrap, and the overlap-population truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.adherence import fit_propensity, weighted_comparison
from footdrop_outcomes.adherence._sandwich import weighted_cox_binary
from footdrop_outcomes.errors import ConfigError


def confounded(n: int, seed: int, effect: float = 0.5, heterogeneous: bool = False) -> pd.DataFrame:
    """Strong confounding by x1 and g; with ``heterogeneous`` the effect on y is 0.5 + x1^2 (larger in the tails of x1,
    where overlap weights are small: ATO < ATE)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    g = rng.random(n) < 0.4
    e = 1 / (1 + np.exp(-(-0.3 + 0.9 * x1 + 0.8 * g)))
    z = rng.random(n) < e
    tau = effect + (x1 ** 2 if heterogeneous else 0.0)
    y = 1 + tau * z + 1.5 * x1 + 1.0 * g + rng.normal(0, 1, n)
    t = rng.exponential(1 / np.exp(0.3 * z + 0.8 * x1 + 0.5 * g))
    c = rng.exponential(2.0, n)
    return pd.DataFrame({"z": z, "x1": x1, "g": g.astype(float), "y": y, "T": np.minimum(t, c), "E": t <= c, "e_true": e,
                         "tau": tau})


def _logit(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    b = np.zeros(x.shape[1])
    for _ in range(30):
        p = 1 / (1 + np.exp(-x @ b))
        step = np.linalg.solve(x.T @ (x * (p * (1 - p))[:, None]), x.T @ (z - p))
        b += step
        if np.abs(step).max() < 1e-10:
            break
    return 1 / (1 + np.exp(-x @ b))


def _estimates(d: pd.DataFrame) -> tuple[float, float]:
    x = np.column_stack([np.ones(len(d)), d["x1"], d["g"]])
    z = d["z"].to_numpy(bool)
    e = _logit(x, z.astype(float))
    w = np.where(z, 1 - e, e)
    y = d["y"].to_numpy()
    md = np.average(y[z], weights=w[z]) - np.average(y[~z], weights=w[~z])
    b, _, _ = weighted_cox_binary(d["T"].to_numpy(), d["E"].to_numpy(), z.astype(float), w)
    return md, b


def test_overlap_weights_balance_every_model_term_exactly():
    d = confounded(800, seed=1)
    ate = fit_propensity(d, "z", "x1 + g")
    ato = fit_propensity(d, "z", "x1 + g", estimand="ATO")
    assert ato.info["estimand"] == "ATO" and ato.info["stabilized"] is False
    assert ato.summary["smd_weighted"].abs().max() < 1e-10  # a property of logistic propensity + overlap weights
    assert ate.summary["smd_weighted"].abs().max() > 1e-4
    w = ato.weights.to_numpy()
    assert (w > 0).all() and (w < 1).all()
    with pytest.raises(ConfigError, match="trim"):
        fit_propensity(d, "z", "x1 + g", estimand="ATO", trim=0.01)
    with pytest.raises(ConfigError, match="estimand"):
        fit_propensity(d, "z", "x1 + g", estimand="ATT")


def test_overlap_mean_difference_se_equals_the_numerical_stacked_sandwich():
    """Independent computation: stack the estimating equations, differentiate numerically, A^-1 B A^-T."""
    d = confounded(500, seed=5)
    s = weighted_comparison(fit_propensity(d, "z", "x1 + g", estimand="ATO"), outcome_col="y").summary
    s = s.set_index("analysis").loc["weighted"]
    x = np.column_stack([np.ones(len(d)), d["x1"], d["g"]])
    z, y = d["z"].to_numpy(float), d["y"].to_numpy()

    def psi(th: np.ndarray) -> np.ndarray:
        e = 1 / (1 + np.exp(-x @ th[:3]))
        w = np.where(z == 1, 1 - e, e)
        return np.column_stack([x * (z - e)[:, None], z * w * (y - th[3]), (1 - z) * w * (y - th[4])])

    e = _logit(x, z)
    a = np.linalg.lstsq(x, np.log(e / (1 - e)), rcond=None)[0]
    w = np.where(z == 1, 1 - e, e)
    th = np.r_[a, np.average(y[z == 1], weights=w[z == 1]), np.average(y[z == 0], weights=w[z == 0])]
    assert s["estimate"] == pytest.approx(th[3] - th[4], abs=1e-8)
    jac = np.column_stack([(psi(th + h).sum(axis=0) - psi(th - h).sum(axis=0)) / 2e-6 for h in 1e-6 * np.eye(5)])
    p = psi(th)
    v = np.linalg.solve(jac, np.linalg.solve(jac, p.T @ p).T)
    c = np.r_[0, 0, 0, 1, -1]
    assert s["se"] == pytest.approx(float(np.sqrt(c @ v @ c)), rel=1e-5)
    # the mean difference is exactly balanced on x1 and g, so the weights' estimation lowers its SE
    assert s["se"] < s["se_fixed_weights"]


def test_overlap_cox_se_matches_a_brute_force_bootstrap():
    d = confounded(600, seed=11)
    s = weighted_comparison(fit_propensity(d, "z", "x1 + g", estimand="ATO"), duration_col="T", event_col="E",
                            outcome_col="y").summary
    s = s[s["analysis"] == "weighted"].set_index("estimand")
    md, b = _estimates(d)
    assert s.loc["mean_difference", "estimate"] == pytest.approx(md, abs=1e-8)
    assert s.loc["log_hr", "estimate"] == pytest.approx(b, abs=1e-8)
    rng = np.random.default_rng(2026)
    boot = np.array([_estimates(d.iloc[rng.integers(0, len(d), len(d))].reset_index(drop=True)) for _ in range(300)])
    sd = boot.std(axis=0, ddof=1)  # relative Monte Carlo error of a bootstrap SD from 300 replicates: about 4%
    for k, estimand in enumerate(("mean_difference", "log_hr")):
        assert s.loc[estimand, "se"] / sd[k] == pytest.approx(1.0, abs=0.15), estimand


def test_overlap_weights_target_the_overlap_population():
    """Heterogeneous effect 0.5 + x1^2: the ATO truth is sum e(1-e) tau / sum e(1-e), the ATE truth mean(tau); each
    estimator within 3.5 SE of its own truth and the two truths far apart."""
    d = confounded(20_000, seed=7, heterogeneous=True)
    h = d["e_true"] * (1 - d["e_true"])
    truth_ato = float(np.sum(h * d["tau"]) / np.sum(h))
    truth_ate = float(d["tau"].mean())
    got = {}
    for est in ("ATE", "ATO"):
        s = weighted_comparison(fit_propensity(d, "z", "x1 + g", estimand=est), outcome_col="y").summary
        got[est] = s.set_index("analysis").loc["weighted"]
    assert abs(got["ATO"]["estimate"] - truth_ato) < 3.5 * got["ATO"]["se"]
    assert abs(got["ATE"]["estimate"] - truth_ate) < 3.5 * got["ATE"]["se"]
    assert abs(got["ATO"]["estimate"] - truth_ate) > 4 * got["ATO"]["se"]  # not the ATE when effects differ
