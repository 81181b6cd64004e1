"""The per-protocol IPCW row's SE against an independently coded stacked sandwich (issue 21).

The "+ IPCW" row's SE comes from stacked estimating equations: the propensity model, the arm
share, the two pooled-logistic deviation (censoring) models and the weighted Cox model. The
package computes the weights' derivatives analytically (``perprotocol.py``: ``d log(ipcw) /
d gamma`` summed over the weeks so far). A wrong derivative term left the point estimate alone
and survived every test (the perprotocol.py:202-203 survivors of the mutation run).

Outside reference, written here without the package's derivative code: every estimating equation
written out (logistic scores, the arm share, the Breslow-weighted Cox score over dense risk sets),
the weights recomputed from the parameters (stabilised IPTW; IPCW as the product over weeks so
far of P(stay | numerator) / P(stay | denominator)), the Jacobian ``A`` of the summed equations by
central differences, ``B`` from each patient's estimating functions (Lin-Wei residuals for the
Cox part, recomputed here), and ``Var = A^-1 B A^-T``. For exact derivatives the two agree to
rounding; a wrong term in the analytic derivative does not. The censoring models' share of the SE
is checked to be large against the tolerance, so the comparison cannot pass with the censoring
terms dropped or mangled.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import sparse
from scipy.optimize import brentq
from scipy.special import expit

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes._checks import formula_design
from footdrop_outcomes.adherence import itt_per_protocol
from footdrop_outcomes.adherence.weighting import WeightingWarning
from footdrop_outcomes.errors import ConfigError

pp = importlib.import_module("footdrop_outcomes.adherence.perprotocol")
IPCW = "PP: censored at deviation + IPCW"


def _logit(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(sm.Logit(y, x).fit(disp=0, method="newton", maxiter=100).params, dtype=float)


def independent_ipcw_sandwich(frame: pd.DataFrame, ep: pd.DataFrame, confounders: str, covariates: str,
                              h: float = 1e-5) -> dict[str, float]:
    """Log HR and SEs of the IPCW row from the stacked estimating equations, numerical Jacobian."""
    n = len(frame)
    ep = ep.sort_values(["cluster", "start"], kind="stable").reset_index(drop=True)  # each patient's weeks in order
    z = frame["treated"].to_numpy(float)
    xa = formula_design(frame, confounders)[1].to_numpy(float)
    at = ep["at_risk"].to_numpy(bool)
    at_rows = ep.loc[at]
    xd = formula_design(at_rows, f"{confounders} + bs(program_week, df=4) + {covariates}")[1].to_numpy(float)
    xn = formula_design(at_rows, f"{confounders} + bs(program_week, df=4)")[1].to_numpy(float)
    y = at_rows["deviates_now"].to_numpy(float)
    at_cl, cl = at_rows["cluster"].to_numpy(), ep["cluster"].to_numpy()
    onp = ep["on_protocol"].to_numpy(bool)
    pcl = cl[onp]
    bounds = np.cumsum([0, xa.shape[1], 1, xd.shape[1], xn.shape[1], 1])
    a_, p_, d_, n_, b_ = (slice(bounds[i], bounds[i + 1]) for i in range(5))

    pr = ep.loc[onp]
    stop, start = pr["stop"].to_numpy(float), pr["start"].to_numpy(float)
    ev, x = pr["event"].to_numpy(bool), pr["treated"].to_numpy(float)
    tau = np.unique(stop[ev])
    # dense definitions: at risk at tau when start < tau <= stop; an event row at its own stop time
    at_risk = sparse.csr_matrix(((start[:, None] < tau) & (tau <= stop[:, None])).astype(float))
    dies = sparse.csr_matrix((ev[:, None] & (stop[:, None] == tau)).astype(float))

    def weights(th: np.ndarray) -> np.ndarray:
        e = expit(xa @ th[a_])
        p1 = th[p_][0]
        iptw = np.where(z == 1, p1 / e, (1 - p1) / (1 - e))
        log_stay = np.zeros(len(ep))
        log_stay[at] = np.where(y == 1, 0.0, np.log(1 - expit(xn @ th[n_])) - np.log(1 - expit(xd @ th[d_])))
        ipcw = np.exp(pd.Series(log_stay).groupby(cl).cumsum().to_numpy())  # carried on after the record ends
        return iptw[pcl] * ipcw[onp]

    def cox_sums(b: float, w: np.ndarray) -> tuple[np.ndarray, ...]:
        r = w * np.exp(b * x)
        return at_risk.T @ r, at_risk.T @ (r * x), dies.T @ w, dies.T @ (w * x)

    def cox_score(b: float, w: np.ndarray) -> float:
        s0, s1, dn, dn1 = cox_sums(b, w)
        return float(np.sum(dn1 - dn * s1 / s0))

    def total(th: np.ndarray) -> np.ndarray:
        return np.r_[xa.T @ (z - expit(xa @ th[a_])), np.sum(z - th[p_][0]), xd.T @ (y - expit(xd @ th[d_])),
                     xn.T @ (y - expit(xn @ th[n_])), cox_score(th[b_][0], weights(th))]

    th = np.r_[_logit(z, xa), z.mean(), _logit(y, xd), _logit(y, xn), 0.0]
    th[-1] = brentq(lambda b: cox_score(b, weights(th)), -5.0, 5.0, xtol=1e-14)
    k = th.size
    jac = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        jac[:, j] = -(total(th + step) - total(th - step)) / (2 * h)

    w = weights(th)
    s0, s1, dn, _ = cox_sums(th[-1], w)
    xbar = s1 / s0
    resid = (x * (dies @ np.ones(tau.size)) - dies @ xbar) - np.exp(th[-1] * x) * (x * (at_risk @ (dn / s0))
                                                                                     - at_risk @ (xbar * dn / s0))
    psi = np.zeros((n, k))
    psi[:, a_] = xa * (z - expit(xa @ th[a_]))[:, None]
    psi[:, p_] = (z - th[p_][0])[:, None]
    for part, xm in ((d_, xd), (n_, xn)):
        score = xm * (y - expit(xm @ th[part]))[:, None]
        psi[:, part] = np.stack([np.bincount(at_cl, weights=score[:, c], minlength=n) for c in range(score.shape[1])], 1)
    psi[:, b_] = np.bincount(pcl, weights=w * resid, minlength=n)[:, None]
    meat = psi.T @ psi

    def se(a: np.ndarray) -> float:
        inv = np.linalg.inv(a)
        return float(np.sqrt((inv @ meat @ inv.T)[-1, -1]))

    no_censoring = jac.copy()
    no_censoring[-1, bounds[2]:bounds[4]] = 0.0  # the censoring models' estimation ignored
    fixed = jac.copy()
    fixed[-1, :-1] = 0.0  # every weight taken as known
    return {"log_hr": float(th[-1]), "se": se(jac), "se_without_censoring_terms": se(no_censoring), "se_fixed": se(fixed)}


def _fit_and_capture(cohort, **kwargs):
    seen = {}
    real = pp._estimate

    def spy(frame, ep, *, sandwich, **options):
        seen.update(frame=frame.copy(), ep=ep.copy(), options=options)
        return real(frame, ep, sandwich=sandwich, **options)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)  # chance imbalance of a small cohort
        mp.setattr(pp, "_estimate", spy)
        r = itt_per_protocol(cohort, **kwargs)
    return r, seen


@pytest.fixture(scope="module", params=[(600, 5), (400, 2026)], ids=["n600-seed5", "n400-seed2026"])
def fitted(request):
    n, seed = request.param
    cohort = simulate_cohort(n, seed=seed)
    return (*_fit_and_capture(cohort), cohort)


def test_ipcw_row_se_equals_an_independent_stacked_sandwich(fitted):
    r, seen, _ = fitted
    row = r.summary.set_index("analysis").loc[IPCW]
    ref = independent_ipcw_sandwich(seen["frame"], seen["ep"], seen["options"]["confounders"],
                                    seen["options"]["censoring_covariates"])
    assert row["log_hr"] == pytest.approx(ref["log_hr"], abs=1e-9)
    assert row["se_fixed_weights"] == pytest.approx(ref["se_fixed"], rel=1e-7)
    assert row["se"] == pytest.approx(ref["se"], rel=1e-7)
    # the censoring models' estimation moves the SE by far more than the tolerance: a missing or
    # wrong derivative term of the IPCW weights cannot hide inside it
    assert abs(ref["se_without_censoring_terms"] / ref["se"] - 1) > 1e-4
    assert abs(ref["se_fixed"] / ref["se"] - 1) > 1e-2


# ------------------------------------------------------------------------------------------------
# the lagged device-wear covariates of the deviation model, against the recorded wear


def _wear_by_loop(adherence: pd.DataFrame, device: str) -> pd.DataFrame:
    """Per patient and recorded week: mean worn / prescribed over the earlier weeks with a
    prescription, and that of the most recent such week (NaN when there is none), by a plain loop."""
    rows = []
    a = adherence.assign(patient_id=adherence["patient_id"].astype(str)).sort_values(["patient_id", "week"])
    for pid, d in a.groupby("patient_id", sort=False):
        seen: list[float] = []
        for week, hp, hours in zip(d["week"], d[f"{device}_hours_prescribed"], d[f"{device}_hours"], strict=True):
            rows.append((pid, int(week), float(np.mean(seen)) if seen else np.nan, seen[-1] if seen else np.nan))
            if hp > 0 and np.isfinite(hours):  # a week with a prescription and a record of wear
                seen.append(float(hours) / float(hp))
    return pd.DataFrame(rows, columns=["patient_id", "week", "expected_cumulative", "expected_last"])


def _check_wear(r, adherence: pd.DataFrame) -> int:
    ep = r.episodes.assign(patient_id=r.episodes["patient_id"].astype(str), week=r.episodes["week"].astype(int))
    both = ep.merge(_wear_by_loop(adherence, r.info["device"]), on=["patient_id", "week"], how="inner")
    assert len(both) > 0.5 * len(ep)
    # weeks before any week with a prescription: nothing known yet, the model reads 0
    np.testing.assert_allclose(both["wear_cumulative"], both["expected_cumulative"].fillna(0.0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(both["wear_last"], both["expected_last"].fillna(0.0), rtol=1e-12, atol=1e-12)
    return len(both)


def test_lagged_wear_is_the_mean_over_earlier_weeks(fitted):
    r, _, cohort = fitted
    assert _check_wear(r, cohort.adherence) > 1000


def test_weeks_without_a_device_prescription_count_in_neither_sum():
    """A site records weeks with no device prescribed (0 hours prescribed) between prescribed ones:
    they are not weeks of zero wear, and the mean over earlier weeks leaves them out."""
    import dataclasses

    cohort = simulate_cohort(600, seed=5)
    a = cohort.adherence.copy()
    rng = np.random.default_rng(21)
    off = (a["afo_hours_prescribed"].to_numpy(float) > 0) & (rng.random(len(a)) < 0.2)
    a.loc[off, ["afo_hours_prescribed", "afo_hours"]] = 0.0
    changed = dataclasses.replace(cohort, adherence=a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        r = itt_per_protocol(changed)
    assert off.sum() > 1000
    assert _check_wear(r, a) > 1000


def test_n_boot_is_read_only_for_the_bootstrap(monkeypatch):
    """``n_boot`` is the number of bootstrap resamples (docstring: for ``se="bootstrap"``); a sandwich
    fit neither reads nor refuses it (perprotocol.py:303 survivor: checked whatever ``se`` was).
    The fit is stopped where the models would be fitted: the options were accepted by then."""

    class Reached(Exception):
        pass

    def stop(frame, ep, *, sandwich, **options):
        raise Reached(sandwich)

    monkeypatch.setattr(pp, "_estimate", stop)
    cohort = simulate_cohort(300, seed=3)
    with pytest.raises(Reached) as info:
        itt_per_protocol(cohort, se="sandwich", n_boot=5)
    assert info.value.args == (True,)
    with pytest.raises(ConfigError, match="n_boot"):
        itt_per_protocol(cohort, se="bootstrap", n_boot=5)


def test_patients_are_on_protocol_until_the_week_their_stopping_run_starts(fitted):
    """Censoring at deviation (module notes, analysis 3): a device patient is followed until the
    first week of the stopping run and censored there, so that week and every later one are off
    protocol; patients who never stop, and patients without the device, stay on protocol
    (perprotocol.py:361 survivor of the session-6 sample: the deviation week kept on protocol)."""
    from footdrop_outcomes.adherence import discontinuation_times, weekly_adherence

    r, _, cohort = fitted
    dt = discontinuation_times(cohort, kind="afo")
    first = weekly_adherence(cohort).assign(patient_id=lambda d: d["patient_id"].astype(str)).groupby("patient_id")["week"].min()
    stop_week = {str(p): first[str(p)] + t for p, t, e in zip(dt["patient_id"], dt["time"], dt["event"], strict=True) if e}
    ep = r.episodes
    deviated = 0
    for (pid, treated), d in ep.groupby([ep["patient_id"].astype(str), "treated"]):
        week = stop_week.get(pid) if treated else None
        expected = np.ones(len(d), dtype=bool) if week is None else d["week"].to_numpy() < week
        deviated += week is not None and bool((~expected).any())
        assert (d["on_protocol"].to_numpy(bool) == expected).all(), pid
    assert deviated >= 20


# ------------------------------------------------------------------------------------------------
# the rows of the deviation (censoring) models, against their definition


def _deviation_rows_by_loop(adherence: pd.DataFrame, ep: pd.DataFrame, device: str, consecutive: int,
                            threshold: float = 0.05) -> dict[str, set[int]]:
    """Per device patient, the weeks in which a stopping run could start, by a plain loop.

    A stopping run is ``consecutive`` recorded weeks in a row (weeks without a prescription or a
    record of wear skipped) with worn / prescribed below ``threshold``; the patient is at risk of
    starting one from the first recorded week (program week 0) to the week the first run starts,
    or, without one, to the last week from which ``consecutive`` recorded weeks remain."""
    a = adherence.assign(patient_id=adherence["patient_id"].astype(str)).sort_values(["patient_id", "week"])
    weeks_by_patient = ep.assign(patient_id=ep["patient_id"].astype(str)).groupby("patient_id")["week"].agg(list)
    treated = ep.assign(patient_id=ep["patient_id"].astype(str)).groupby("patient_id")["treated"].first()
    out: dict[str, set[int]] = {}
    for pid, d in a.groupby("patient_id", sort=False):
        if pid not in treated.index or not treated[pid]:
            continue
        first = int(d["week"].min())
        ratios = [(int(w), h / hp) for w, hp, h in zip(d["week"], d[f"{device}_hours_prescribed"], d[f"{device}_hours"], strict=True)
                  if hp > 0 and np.isfinite(h)]
        end = None
        for i in range(len(ratios) - consecutive + 1):
            end = ratios[i][0]  # a run could start here
            if all(ratio < threshold for _, ratio in ratios[i:i + consecutive]):
                break  # it does: the deviation week
        out[pid] = set() if end is None else {int(w) for w in weeks_by_patient[pid] if first <= w <= end}
    return out


def _check_deviation_rows(seen: dict, r, adherence: pd.DataFrame, consecutive: int) -> int:
    ep = seen["ep"].assign(patient_id=seen["ep"]["patient_id"].astype(str))
    expected = _deviation_rows_by_loop(adherence, ep, r.info["device"], consecutive)
    got = {pid: {int(w) for w in d.loc[d["at_risk"], "week"]} for pid, d in ep.groupby("patient_id")}
    wrong = [pid for pid in got if got[pid] != expected.get(pid, set())]
    assert not wrong, f"{len(wrong)} patients' deviation-model rows differ from the definition"
    assert set(expected) <= set(got)
    # every deviation week is a row of the models (an event), and nothing after it
    dev = ep.loc[ep["deviates_now"]]
    assert dev["at_risk"].all() and len(dev) == int(ep.loc[ep["at_risk"], "deviates_now"].sum())
    # the weights: constant after a patient's last row of the models (1 without any), as the Cox rows read them
    ipcw = pd.Series(r.episodes["ipcw"].to_numpy(), index=ep.index)
    for pid, d in ep.loc[ep["treated"]].groupby("patient_id"):
        rows = np.flatnonzero(d["at_risk"].to_numpy())
        after = ipcw[d.index].to_numpy()[rows[-1] if rows.size else 0:]
        assert np.all(after == (after[0] if rows.size else 1.0)), pid
    # patients whose record ends with weeks in which no run could start: the rule was met, not assumed
    return sum(len(expected[p]) > 0 and max(expected[p]) < int(d["week"].max())
               for p, d in ep.loc[ep["treated"]].groupby("patient_id") if p in expected)


def test_deviation_model_rows_end_at_the_last_week_a_stopping_run_could_start(fitted):
    """perprotocol.py:365 (session 6, open): the last ``consecutive - 1`` recorded weeks of a patient
    who never stops were rows of the deviation models, although no stopping run can start there
    (a structural non-event); discontinuation_times censors at the last week a run could start."""
    r, seen, cohort = fitted
    assert _check_deviation_rows(seen, r, cohort.adherence, consecutive=2) > 50


def test_deviation_model_rows_with_unprescribed_weeks_and_a_longer_run():
    """Weeks without a prescription are not recorded weeks of a run (they are skipped): with 20% of
    device weeks blanked and runs of 3, the models' rows still end where a run could start."""
    import dataclasses

    cohort = simulate_cohort(400, seed=11)
    a = cohort.adherence.copy()
    rng = np.random.default_rng(7)
    off = (a["afo_hours_prescribed"].to_numpy(float) > 0) & (rng.random(len(a)) < 0.2)
    a.loc[off, ["afo_hours_prescribed", "afo_hours"]] = 0.0
    r, seen = _fit_and_capture(dataclasses.replace(cohort, adherence=a), consecutive=3)
    assert _check_deviation_rows(seen, r, a, consecutive=3) > 30
