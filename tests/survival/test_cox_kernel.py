"""The Cox Newton kernel (``_zph.partial_likelihood``) and the O(n log n) concordance, against
independent implementations: the bucket/sparse Efron sums of ``_zph.efron``/``information``
(kept for the PH test), an explicit loop over event times, and brute-force pair counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.survival import _zph
from footdrop_outcomes.survival.cox import _score, fit_cox


def _efron_loop(x, beta, stop, event, start, strata, w):
    """Log partial likelihood, score and information (Efron, R's case weighting) by a loop over event times."""
    n, p = x.shape
    s = np.zeros(n, dtype=int) if strata is None else strata
    t0 = np.full(n, -np.inf) if start is None else start
    w = np.ones(n) if w is None else w
    eta = x @ beta
    r = w * np.exp(eta)
    ll, u, info = 0.0, np.zeros(p), np.zeros((p, p))
    for st in np.unique(s):
        for t in np.unique(stop[event & (s == st)]):
            dead = (stop == t) & event & (s == st)
            risk = (stop >= t) & (t0 < t) & (s == st)
            d = int(dead.sum())
            wbar = w[dead].mean()
            ll += (w[dead] * eta[dead]).sum()
            u += (w[dead, None] * x[dead]).sum(0)
            s0, d0 = r[risk].sum(), r[dead].sum()
            s1, d1 = r[risk] @ x[risk], r[dead] @ x[dead]
            s2 = (x[risk].T * r[risk]) @ x[risk]
            d2 = (x[dead].T * r[dead]) @ x[dead]
            for k in range(d):
                f = k / d
                den = s0 - f * d0
                xbar = (s1 - f * d1) / den
                ll -= wbar * np.log(den)
                u -= wbar * xbar
                info += wbar * ((s2 - f * d2) / den - np.outer(xbar, xbar))
    return ll, u, info


def _random_outcome(rng, trial):
    n = int(rng.integers(5, 120))
    p = int(rng.integers(1, 4))
    x = rng.normal(size=(n, p)) + rng.normal(0, 20, p)  # large column means: centring must not lose digits
    tied = trial % 2 == 1
    stop = rng.integers(1, int(rng.integers(2, 15)), n).astype(float) if tied else rng.exponential(size=n)
    event = rng.random(n) < rng.uniform(0.3, 1.0)
    event[0] = True
    strata = None if trial % 3 == 0 else rng.integers(0, int(rng.integers(1, 4)), n)
    start = None
    if trial % 4 == 1:  # late entry: (start, stop] with start < stop
        start = stop * rng.uniform(0, 0.95, n) * (rng.random(n) < 0.6)
    w = None if trial % 5 else rng.uniform(0.2, 3.0, n)
    beta = rng.normal(0, 0.05, p)
    return x, stop, event, start, strata, w, beta


def test_kernel_equals_loop_and_bucket_sums():
    """Tied and untied times, strata, late entry, case weights; columns with large means."""
    rng = np.random.default_rng(20261202)
    for trial in range(120):
        x, stop, event, start, strata, w, beta = _random_outcome(rng, trial)
        ll, u, info = _zph.partial_likelihood(x, stop, event, start, strata, w).evaluate(beta)
        ll_ref, u_ref, i_ref = _efron_loop(x, beta, stop, event, start, strata, w)
        assert ll == pytest.approx(ll_ref, rel=1e-11, abs=1e-9), trial
        np.testing.assert_allclose(u, u_ref, rtol=1e-8, atol=1e-8 * (1 + np.abs(u_ref).max()), err_msg=str(trial))
        np.testing.assert_allclose(info, i_ref, rtol=1e-8, atol=1e-9 * np.abs(i_ref).max(), err_msg=str(trial))
        ef = _zph.efron(x, x @ beta, _zph.risk_sets(stop, event, start, strata), w)
        assert ll == pytest.approx(ef.loglik, rel=1e-11, abs=1e-9)
        np.testing.assert_allclose(info, _zph.information(x, ef), rtol=1e-8, atol=1e-9 * np.abs(i_ref).max())
        np.testing.assert_allclose(u, _score(x, ef), rtol=1e-8, atol=1e-8 * (1 + np.abs(u_ref).max()))
        assert _zph.partial_likelihood(x, stop, event, start, strata, w).evaluate(beta, order=0) == ll


def test_kernel_leaves_out_rows_never_at_risk_and_many_strata():
    """Rows censored before their stratum's first event, or whose (start, stop] holds no event time,
    add nothing; more than 64 strata take the one-pass backward sum."""
    rng = np.random.default_rng(5)
    n = 600
    x = rng.normal(size=(n, 2))
    stop = rng.integers(1, 6, n).astype(float)
    event = rng.random(n) < 0.5
    strata = rng.integers(0, 90, n)
    start = np.where(rng.random(n) < 0.3, stop - 0.5, 0.0)  # (t - 0.5, t] holds no earlier event time
    beta = np.array([0.2, -0.1])
    for st in (None, strata):
        for en in (None, start):
            ll, u, info = _zph.partial_likelihood(x, stop, event, en, st).evaluate(beta)
            ll_ref, u_ref, i_ref = _efron_loop(x, beta, stop, event, en, st, None)
            assert ll == pytest.approx(ll_ref, rel=1e-11)
            np.testing.assert_allclose(u, u_ref, atol=1e-9)
            np.testing.assert_allclose(info, i_ref, rtol=1e-9, atol=1e-10)


def test_newton_count_and_precision_on_tied_data():
    """Heavily tied times (recovery seen at visits): converged far inside the criterion, few steps."""
    rng = np.random.default_rng(11)
    n = 3000
    d = pd.DataFrame({"a": rng.normal(size=n), "g": rng.integers(0, 2, n)})
    d["time"] = np.ceil(rng.exponential(size=n) * np.exp(-0.7 * d["a"] + 0.4 * d["g"]) * 10)
    d["event"] = rng.random(n) < 0.85
    fit = fit_cox(d, "a + g")
    conv = fit.info["convergence"]
    assert conv["converged"] and conv["score_se_units"] < 1e-10 and conv["iterations"] <= 7
    # the score at the estimate by the loop is zero in SE units
    x = d[["a", "g"]].to_numpy(float)
    _, u, info = _efron_loop(x, fit.params.to_numpy(), d["time"].to_numpy(float), d["event"].to_numpy(bool), None, None, None)
    assert float(np.sqrt(u @ np.linalg.solve(info, u))) < 1e-8
    np.testing.assert_allclose(fit.cov_model.to_numpy(), np.linalg.inv(info), rtol=1e-9)


def _count_brute(v, q):
    less = equal = 0
    for i in np.flatnonzero(q):
        less += int((v[i + 1:] < v[i]).sum())
        equal += int((v[i + 1:] == v[i]).sum())
    return less, equal


def test_count_smaller_after_equals_brute_force():
    """Sizes across powers of two (the algorithm works on the bits of the position), ties, negative values."""
    rng = np.random.default_rng(3)
    for n in [1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 257, 1000]:
        for _ in range(5):
            v = rng.integers(-5, int(rng.integers(1, 3 * n + 2)), n).astype(np.int64)
            q = rng.random(n) < 0.6
            assert _zph._count_smaller_after(v, q) == _count_brute(v, q), n


def test_concordance_equals_brute_force_on_larger_data():
    """2,000 rows, tied times, tied risk scores, three strata: the pair counts equal an O(n^2) count."""
    rng = np.random.default_rng(7)
    n = 2000
    t = rng.integers(1, 60, n).astype(float)
    e = rng.random(n) < 0.7
    eta = np.round(rng.normal(size=n), 1)
    s = rng.integers(0, 3, n)
    c, counts = _zph.concordance(t, e, eta, s)
    same = s[:, None] == s[None, :]
    later = same & ((t[None, :] > t[:, None]) | ((t[None, :] == t[:, None]) & ~e[None, :])) & e[:, None]
    conc = int((later & (eta[None, :] < eta[:, None])).sum())
    disc = int((later & (eta[None, :] > eta[:, None])).sum())
    tied = int((later & (eta[None, :] == eta[:, None])).sum())
    assert counts == {"concordant": conc, "discordant": disc, "tied_risk": tied, "comparable": conc + disc + tied}
    assert c == pytest.approx((conc + tied / 2) / (conc + disc + tied), rel=1e-14)
