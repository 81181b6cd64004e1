"""Late entry (left truncation): Cox against R's coxph(Surv(entry, exit, event)), the AFT likelihood
conditioned on survival past entry against a plain scipy computation and against simulation truth,
and the missing-value accounting of Cox, AFT and cure models."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival import (
    MissingDataWarning,
    fit_cox,
    fit_cure_model,
    fit_interval_aft,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "r_reference_wave2"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((DATA / "r_results.json").read_text())["fits"]


@pytest.fixture(scope="module")
def lt() -> pd.DataFrame:
    return pd.read_csv(DATA / "surv_lt.csv")


def by_r_name(series: pd.Series) -> pd.Series:
    return series.rename(lambda t: re.sub(r"^(\w+)\[(.+)\]$", r"\1\2", t))


def rel(got: pd.Series, want: dict) -> float:
    w = pd.Series(want)
    return float(np.max(np.abs(got.loc[w.index] - w) / np.abs(w)))


def test_cox_late_entry_matches_r(ref, lt):
    fit = fit_cox(lt, FORMULA, duration_col="time_weeks", event_col="event", entry_col="entry_weeks")
    r = ref["cox_lt"]
    assert rel(by_r_name(fit.params), r["coef"]) < 1e-6
    assert rel(by_r_name(fit.summary.set_index("term")["se"]), r["se"]) < 1e-6
    assert fit.log_likelihood == pytest.approx(r["loglik"], rel=1e-9)
    assert fit.info["n"] == r["n"] and fit.info["events"] == r["nevent"]
    assert fit.info["entry_col"] == "entry_weeks" and fit.info["n_late_entry"] == int((lt["entry_weeks"] > 0).sum())
    assert fit.concordance is None and fit.ph_test["term"].iloc[-1] == "GLOBAL"


def test_ignoring_entry_matches_r_and_differs(ref, lt):
    fit0 = fit_cox(lt, FORMULA, duration_col="time_weeks")
    r0 = ref["cox_ignoring_entry"]
    assert rel(by_r_name(fit0.params), r0["coef"]) < 1e-6
    assert rel(by_r_name(fit0.summary.set_index("term")["se"]), r0["se"]) < 1e-6
    # the two analyses differ by more than rounding: entry is really used
    fit = fit_cox(lt, FORMULA, duration_col="time_weeks", entry_col="entry_weeks")
    assert np.max(np.abs(fit.params - fit0.params)) > 1e-3


def test_zero_entry_is_the_ordinary_fit(lt):
    a = fit_cox(lt, "severity + age", duration_col="time_weeks")
    b = fit_cox(lt.assign(e0=0.0), "severity + age", duration_col="time_weeks", entry_col="e0")
    assert np.allclose(a.params, b.params, rtol=1e-9, atol=1e-12)
    assert np.allclose(a.cov, b.cov, rtol=1e-8)


def test_stratified_and_clustered_late_entry_run(lt):
    fit = fit_cox(lt.assign(site=lt["id"] % 7), "age + diabetes", duration_col="time_weeks", entry_col="entry_weeks",
                  strata="severity", cluster="site")
    assert fit.info["n_clusters"] == 7 and np.all(np.isfinite(fit.summary["se"]))


def test_entry_errors_name_rows_not_values(lt):
    bad = lt.copy()
    bad.loc[5, "entry_weeks"] = bad.loc[5, "time_weeks"] + 1
    with pytest.raises(FootdropError, match=r"entry_weeks must be below time_weeks.*rows \[5\]") as err:
        fit_cox(bad, "age", duration_col="time_weeks", entry_col="entry_weeks")
    assert str(bad.loc[5, "entry_weeks"]) not in str(err.value)
    bad.loc[5, "entry_weeks"] = np.nan
    with pytest.raises(FootdropError, match=r"entry_weeks: entry times must be finite.*rows \[5\]"):
        fit_cox(bad, "age", duration_col="time_weeks", entry_col="entry_weeks")
    with pytest.raises(FootdropError, match="no column 'first_contact'"):
        fit_cox(lt, "age", duration_col="time_weeks", entry_col="first_contact")


def test_common_path_is_unchanged(lt):
    """Without and with entry: the same Newton-Raphson path; late entry only changes the risk sets."""
    plain = fit_cox(lt, "age + diabetes", duration_col="time_weeks")
    late = fit_cox(lt, "age + diabetes", duration_col="time_weeks", entry_col="entry_weeks")
    assert plain.info["engine"].startswith("Newton-Raphson") and plain.info["late_entry"].startswith("none")
    assert "delayed-entry" in late.info["engine"] and plain.concordance is not None


# ------------------------------------------------------------------------------------------------
# missing covariates: counted and warned, or refused


def test_cox_drops_missing_rows_with_warning(lt):
    d = lt.copy()
    d.loc[[3, 8, 9], "age"] = np.nan
    d.loc[[9, 20], "smoker"] = np.nan
    with pytest.warns(MissingDataWarning, match=r"fit_cox: 4 of 966 rows .* \(age: 3, smoker: 2\)"):
        fit = fit_cox(d, "age + smoker", duration_col="time_weeks", entry_col="entry_weeks")
    assert fit.info["n"] == 962 and fit.info["n_dropped_missing"] == 4 and fit.info["n_input"] == 966
    assert fit.info["dropped_by_variable"] == {"age": 3, "smoker": 2}
    ref = fit_cox(d.drop(index=[3, 8, 9, 20]), "age + smoker", duration_col="time_weeks", entry_col="entry_weeks")
    assert np.allclose(fit.params, ref.params, rtol=1e-12)
    assert ref.info["n_dropped_missing"] == 0
    with pytest.raises(FootdropError, match=r"data\.age has 3 missing value\(s\) \(rows \[3, 8, 9\]"):
        fit_cox(d, "age", duration_col="time_weeks", missing="raise")
    # a variable not in the model does not drop rows
    assert fit_cox(d, "diabetes", duration_col="time_weeks").info["n_dropped_missing"] == 0


def test_aft_drops_missing_rows_with_warning(lt):
    d = lt.assign(lower=lt["time_weeks"] - 1.0, upper=np.where(lt["event"] == 1, lt["time_weeks"], np.inf))
    d["lower"] = d["lower"].clip(lower=0.0)
    d.loc[[2, 4], "diabetes"] = np.nan
    with pytest.warns(MissingDataWarning, match=r"fit_interval_aft: 2 of 966 rows .* \(diabetes: 2\)"):
        fit = fit_interval_aft(d, "age + diabetes")
    assert fit.info["n"] == 964 and fit.info["n_dropped_missing"] == 2
    with pytest.raises(FootdropError, match=r"data\.diabetes has 2 missing value"):
        fit_interval_aft(d, "age + diabetes", missing="raise")


# ------------------------------------------------------------------------------------------------
# AFT with left truncation


def _truncated_weibull(n: int, seed: int, b: tuple[float, float, float] = (2.5, 0.6, -0.02), sigma: float = 0.7,
                       visit: float = 2.0) -> pd.DataFrame:
    """Weibull AFT times seen only when still unrecovered at first contact; then visits every ``visit`` weeks."""
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(o) for o in out) < n:
        k = 2 * n
        sev = rng.integers(0, 2, k).astype(float)
        age = rng.normal(60, 12, k)
        w = np.log(rng.exponential(size=k))  # standard extreme value (min)
        t = np.exp(b[0] + b[1] * sev + b[2] * (age - 60) + sigma * w)
        entry = rng.gamma(1.5, 3.0, k)
        keep = t > entry
        e, t, sev, age = entry[keep], t[keep], sev[keep], age[keep]
        # visits at entry + visit * j, administrative end 80 weeks after entry
        j = np.ceil((t - e) / visit)
        upper = e + visit * j
        lower = upper - visit
        cens = upper > e + 80
        lower = np.where(cens, e + 80, lower)
        upper = np.where(cens, np.inf, upper)
        out.append(pd.DataFrame({"sev": sev, "age_c": age - 60, "entry": e, "lower": lower, "upper": upper}))
    return pd.concat(out, ignore_index=True).iloc[:n]


def _plain_weibull_negll(theta: np.ndarray, x: np.ndarray, lo: np.ndarray, up: np.ndarray, e: np.ndarray) -> float:
    """-log L of the left-truncated interval-censored Weibull AFT, written out plainly."""
    b, sigma = theta[:-1], math.exp(theta[-1])
    eta = x @ b

    def surv(t: np.ndarray) -> np.ndarray:  # S(t) = exp(-exp((log t - eta) / sigma)); S(0) = 1, S(inf) = 0
        with np.errstate(divide="ignore"):
            return np.exp(-np.exp((np.log(t) - eta) / sigma))

    lo_eff = np.maximum(lo, e)
    p = surv(lo_eff) - np.where(np.isfinite(up), surv(np.where(np.isfinite(up), up, 1.0)), 0.0)
    return -float(np.sum(np.log(p) - np.log(surv(e))))


def test_truncated_aft_matches_plain_likelihood():
    d = _truncated_weibull(600, seed=11)
    fit = fit_interval_aft(d, "sev + age_c", entry_col="entry")
    x = np.column_stack([np.ones(len(d)), d["sev"], d["age_c"]])
    args = (x, d["lower"].to_numpy(), d["upper"].to_numpy(), d["entry"].to_numpy())
    opt = optimize.minimize(_plain_weibull_negll, np.r_[2.0, 0.0, 0.0, 0.0], args=args, method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 40000, "maxfev": 40000})
    assert fit.log_likelihood == pytest.approx(-opt.fun, abs=1e-6)
    assert np.allclose(fit.params.to_numpy(), opt.x, atol=2e-4)
    # the same likelihood at our estimate, written out plainly, equals the reported maximum
    assert -_plain_weibull_negll(fit.params.to_numpy(), *args) == pytest.approx(fit.log_likelihood, rel=1e-10)
    # the analytic Hessian: SEs agree with a numerical Hessian of the plain likelihood
    th = fit.params.to_numpy()
    h = np.empty((4, 4))
    eps = 1e-4
    for i in range(4):
        for j in range(4):
            def f(di: float, dj: float, i: int = i, j: int = j) -> float:
                t = th.copy()
                t[i] += di
                t[j] += dj
                return _plain_weibull_negll(t, *args)
            h[i, j] = (f(eps, eps) - f(eps, -eps) - f(-eps, eps) + f(-eps, -eps)) / (4 * eps * eps)
    assert np.allclose(np.sqrt(np.diag(np.linalg.inv(h))), fit.summary["se"], rtol=1e-3)
    assert fit.info["n_late_entry"] == len(d) and fit.info["entry_col"] == "entry"


def test_truncated_aft_unbiased_and_naive_biased():
    """Over 40 seeds: the truncation-aware estimate is within 2 MCSE of truth; ignoring entry is biased."""
    truth = np.array([2.5, 0.6, -0.02, math.log(0.7)])
    est, naive = [], []
    for seed in range(40):
        d = _truncated_weibull(400, seed=1000 + seed)
        est.append(fit_interval_aft(d, "sev + age_c", entry_col="entry").params.to_numpy())
        naive.append(fit_interval_aft(d, "sev + age_c").params.to_numpy())
    est, naive = np.array(est), np.array(naive)
    bias = est.mean(axis=0) - truth
    mcse = est.std(axis=0, ddof=1) / math.sqrt(len(est))
    assert np.all(np.abs(bias) < 2.5 * mcse), (bias, mcse)  # 4 parameters: 2.5 MCSE keeps the family-wise level
    nbias = naive.mean(axis=0) - truth
    nmcse = naive.std(axis=0, ddof=1) / math.sqrt(len(naive))
    assert abs(nbias[0]) > 5 * nmcse[0]  # ignoring entry overstates recovery time


def test_truncated_aft_errors(lt):
    d = _truncated_weibull(50, seed=3)
    d.loc[4, "entry"] = d.loc[4, "upper"] + 1
    with pytest.raises(FootdropError, match=r"upper must be above entry.*rows \[4\]"):
        fit_interval_aft(d, "sev", entry_col="entry")
    with pytest.raises(FootdropError, match="no column 'first'"):
        fit_interval_aft(d, "sev", entry_col="first")


def test_cure_model_drops_missing_rows_with_warning(lt):
    d = lt.assign(lower=(lt["time_weeks"] - 1.0).clip(lower=0.0), upper=np.where(lt["event"] == 1, lt["time_weeks"], np.inf))
    d.loc[[1, 6], "age"] = np.nan
    d.loc[[6, 7], "smoker"] = np.nan  # only in the incidence part
    with pytest.warns(MissingDataWarning, match=r"fit_cure_model: 3 of 966 rows .* \(smoker: 2, age: 2\)"):
        fit = fit_cure_model(d, incidence_formula="smoker", latency_formula="age")
    assert fit.info["n"] == 963 and fit.info["n_dropped_missing"] == 3
    with pytest.raises(FootdropError, match=r"data\.smoker has 2 missing value"):
        fit_cure_model(d, incidence_formula="smoker", latency_formula="age", missing="raise")
