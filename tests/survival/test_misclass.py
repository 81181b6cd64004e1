"""The cure model for misclassified visit readings (survival/misclass.py).

Checked three ways: with no reading error it is the interval-censored cure model of the first
reading (same likelihood and estimates, to rounding); its analytic gradient against finite
differences; and over seeds, on readings drawn from the misclassification model itself (the
generator's latent recovery time read with constant error rates), it recovers the adherence effect
and both error rates, while the cure model of the first reading is attenuated.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import binom

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.recovery import recovery_intervals
from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.survival import (
    adherence_exposure,
    fit_time_varying_cure,
    survival_frame,
)
from footdrop_outcomes.survival import misclass as M
from footdrop_outcomes.survival.tv_cure import exposure_matrix

COV = "cause + severity + age + diabetes + smoking + days_to_treatment + supervised_physio"
OPERATED = ("decompression", "nerve_repair_graft")


def _conservative(c):
    """Patients on the onset clock (generator 2's adherence effect acts there), ALS left out."""
    f = survival_frame(c)
    keep = (f["cause"] != "als").to_numpy() & ~c.patients["surgery"].astype(str).isin(OPERATED).to_numpy()
    return f[keep & (f["time"].to_numpy() > 0)].copy()


def _model_visits(c, ids, a: float, b: float, seed: int):
    """Visits whose MRC is read from the generator's latent state with constant error rates a and b."""
    tp = c.truth.patients.assign(patient_id=c.truth.patients["patient_id"].astype(str)).set_index("patient_id")
    v = c.visits[c.visits["patient_id"].astype(str).isin(set(ids))]
    lat = tp["latent_recovery_day"].reindex(v["patient_id"].astype(str)).to_numpy(dtype=float)
    day = v["day"].to_numpy(float)
    state = np.isfinite(lat) & (lat <= day)
    u = np.random.default_rng(seed).random(state.size)
    read = np.where(state, u >= b, u < a) & (day > 0)
    return v.assign(mrc=np.where(read, 4, 3))


def test_without_reading_error_it_is_the_cure_model_of_the_first_reading():
    c = simulate_cohort(1500, seed=41, version=2)
    exact = dataclasses.replace(c, visits=c.visits.assign(mrc=c.truth.visits["mrc_true"].to_numpy()))
    frame = _conservative(exact)
    ex = adherence_exposure(c.adherence)
    kw = {"incidence_formula": "cause + severity", "latency_formula": "cause + severity + smoking + supervised_physio",
          "exposure_table": ex}
    with np.errstate(all="ignore"):
        cure = fit_time_varying_cure(frame, **kw)
        mis = M.fit_misclassified_cure(frame, exact.visits, error_rates=(0.0, 0.0), **kw)
    assert mis.log_likelihood == pytest.approx(cure.log_likelihood, rel=1e-9)
    np.testing.assert_allclose(mis.params.to_numpy(), cure.params.to_numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(mis.cov)), np.sqrt(np.diag(cure.cov)), rtol=1e-3)
    assert "reading" not in set(mis.summary["component"])


def test_analytic_gradient_matches_finite_differences():
    c = simulate_cohort(600, seed=43, version=2)
    frame = _conservative(c)
    ids = frame["patient_id"].astype(str).to_numpy()
    vis = c.visits.assign(second=c.truth.visits["mrc_second_rater"].to_numpy())
    vis.loc[vis.index % 3 != 0, "second"] = np.nan  # a reliability sample: a second rating at a third of the visits
    t, y1, s1, y2, s2 = M.reading_matrix(vis, ids, second_rating="second")
    assert s2.sum() > 0 and (s2 <= s1).all()
    weeks = int(np.ceil(t.max())) + 1
    x = exposure_matrix(adherence_exposure(c.adherence), ids, weeks, column="cumulative_adherence") / 0.1
    rng = np.random.default_rng(0)
    z = np.c_[np.ones(len(ids)), rng.normal(size=len(ids))]
    v = np.c_[np.ones(len(ids)), rng.normal(size=(len(ids), 2))]
    for fixed in (None, (0.04, 0.08)):
        m = M._Model(z, v, x, t, y1, s1, y2, s2, fixed)
        theta = np.r_[0.8, -0.3, -4.0, 0.2, -0.1, 0.12, math.log(2.5)]
        if fixed is None:
            theta = np.r_[theta, logit(0.05), logit(0.1)]
        step = 1e-5
        num = np.array([(m.negloglik(theta + step * e)[0] - m.negloglik(theta - step * e)[0]) / (2 * step)
                        for e in np.eye(theta.size)])  # central differences
        ana = m.negloglik(theta)[1]
        assert np.max(np.abs(ana - num)) < 1e-6 * np.max(np.abs(ana)) + 1e-4, (ana, num)


def test_reading_matrix_leaves_out_onset_visits_and_pads_with_the_last_time():
    import pandas as pd

    v = pd.DataFrame({"patient_id": ["a", "a", "a", "b"], "day": [0, 14, 7, 21], "mrc": [3, 4, 2, np.nan]})
    t, y1, s1, _, s2 = M.reading_matrix(v, ["a", "b", "c"])
    np.testing.assert_allclose(t, [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(y1, [[0, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(s1, [[1, 1], [0, 0], [0, 0]])
    assert s2.sum() == 0
    with pytest.raises(ConfigError, match="error_rates"):
        M.fit_misclassified_cure(pd.DataFrame({"patient_id": ["a"]}), v, incidence_formula="1", latency_formula="1",
                                 exposure_table=pd.DataFrame({"patient_id": [], "week": [], "cumulative_adherence": []}),
                                 error_rates=(0.6, 0.1))


def test_over_seeds_it_recovers_the_effect_and_the_error_rates_from_misclassified_readings():
    """6 seeds of 1,500 patients (generator 2, conservatively treated): readings drawn from the model (a 0.04, b 0.06).

    The misclassification model's adherence effect is within 3 Monte Carlo SE of the truth and
    its CIs cover in the two-sided 99% binomial range for 95%; the cure model
    of the first reading >= 4, on the same readings, is attenuated (below the truth by more than 3
    MC SE). The error rates are checked within one percentage point.
    """
    a, b = 0.04, 0.06
    est, first, ra, rb, cover = [], [], [], [], 0
    truth = math.nan
    for seed in range(4101, 4107):
        c = simulate_cohort(1500, seed=seed, version=2)
        truth = float(c.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio"))
        frame = _conservative(c)
        ids = frame["patient_id"].astype(str)
        vis = _model_visits(c, set(ids), a, b, seed)
        kw = {"incidence_formula": COV, "latency_formula": COV, "exposure_table": adherence_exposure(c.adherence)}
        with np.errstate(all="ignore"):
            fit = M.fit_misclassified_cure(frame, vis, **kw)
            rec = recovery_intervals(vis).table.set_index("patient_id")
            f1 = frame.assign(lower=rec["lower_day"].reindex(ids).to_numpy() / 7, upper=rec["upper_day"].reindex(ids).to_numpy() / 7)
            naive = fit_time_varying_cure(f1, **kw)
        s = fit.summary.set_index("term")
        g = s.loc["cumulative_adherence per 0.1"]
        est.append(g["coef"])
        cover += int(abs(g["coef"] - truth) <= 1.959964 * g["se"])
        ra.append(s.loc["false recovery rate", "coef"])
        rb.append(s.loc["missed recovery rate", "coef"])
        first.append(naive.params.iloc[-2])
    k = len(est)
    x = np.asarray(est)
    assert abs(x.mean() - truth) < 3 * x.std(ddof=1) / math.sqrt(k), (x.mean(), truth)
    # the error rates within 1 percentage point (measured: a 0.040, b 0.064 over these seeds; b is high by 5 MC SE: the
    # latent-time model is not exactly generator 2's, e.g. recorded instead of latent severity)
    for r, t in ((ra, a), (rb, b)):
        assert abs(float(expit(np.mean(r))) - t) < 0.01, (float(expit(np.mean(r))), t)
    assert binom.ppf(0.005, k, 0.95) <= cover <= k
    x = np.asarray(first)
    assert x.mean() < truth - 3 * x.std(ddof=1) / math.sqrt(k), (x.mean(), truth)


def test_near_and_plateau_states_gradient_and_reduction_to_the_constant_rates():
    """The exploratory extension (``near=``, ``plateau=``): analytic gradient against central differences, and with
    no near window (rho = 1) and no plateau it is the constant-rate likelihood."""
    c = simulate_cohort(600, seed=47, version=2)
    frame = _conservative(c)
    ids = frame["patient_id"].astype(str).to_numpy()
    vis = c.visits.assign(second=c.truth.visits["mrc_second_rater"].to_numpy())
    vis.loc[vis.index % 2 != 0, "second"] = np.nan
    t, y1, s1, y2, s2 = M.reading_matrix(vis, ids, second_rating="second")
    rho = 0.7
    weeks = int(np.ceil(t.max() / rho)) + 1
    x = exposure_matrix(adherence_exposure(c.adherence), ids, weeks, column="cumulative_adherence") / 0.1
    rng = np.random.default_rng(1)
    z = np.c_[np.ones(len(ids)), rng.normal(size=len(ids))]
    v = np.c_[np.ones(len(ids)), rng.normal(size=(len(ids), 2))]
    base = np.r_[0.8, -0.3, -4.0, 0.2, -0.1, 0.12, math.log(2.5), logit(0.03), logit(0.2), logit(0.06)]
    for plateau in (False, True):
        m = M._NearModel(z, v, x, t, y1, s1, y2, s2, rho, plateau)
        theta = np.r_[base, logit(0.3), logit(0.2)] if plateau else base
        step = 1e-5
        num = np.array([(m.negloglik(theta + step * e)[0] - m.negloglik(theta - step * e)[0]) / (2 * step)
                        for e in np.eye(theta.size)])
        ana = m.negloglik(theta)[1]
        assert np.max(np.abs(ana - num)) < 1e-6 * np.max(np.abs(ana)) + 1e-4, (ana, num)
    one = M._NearModel(z, v, x, t, y1, s1, y2, s2, 1.0, False)
    const = M._Model(z, v, x, t, y1, s1, y2, s2, None)
    assert one.negloglik(base)[0] == pytest.approx(const.negloglik(np.r_[base[:7], base[7], base[9]])[0], rel=1e-12)
