"""Rubin's rules for tables: pool_estimates against pool (itself checked against mice::pool), and
the pooled IPTW comparison and Table 1 against Rubin's rules computed by hand from the m fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.imputation import (
    fit_imputed,
    impute,
    pool,
    pool_estimates,
    pooled_comparison,
    pooled_table_one,
)
from footdrop_outcomes.survival import fit_cox, survival_frame


@pytest.fixture(scope="module")
def imp():
    frame = survival_frame(simulate_cohort(400, seed=21, progress=False))
    rng = np.random.default_rng(2)
    frame["diabetes"] = frame["diabetes"].mask(rng.random(len(frame)) < 0.25)
    frame["smoking"] = frame["smoking"].mask(rng.random(len(frame)) < 0.2)
    return frame, impute(frame, m=4, seed=3, columns=["diabetes", "smoking", "bmi"], iterations=3)


def _rubin(q: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Pooled estimate, within and total variance, written out from Rubin (1987)."""
    m = len(q)
    ubar = np.mean(se**2)
    b = np.sum((q - q.mean()) ** 2) / (m - 1)
    return float(q.mean()), float(ubar), float(ubar + (1 + 1 / m) * b)


def test_pool_estimates_equals_pool_on_cox_fits(imp):
    _, res = imp
    fits = [fit_cox(f, "severity + diabetes + smoking") for f in res]
    ref = pool(fits).summary
    tables = [f.summary.rename(columns={"log_hr": "estimate"}) for f in fits]
    got = pool_estimates(tables, keys=["term"], dfcom=float(ref["dfcom"].iloc[0]))
    assert got["term"].tolist() == ref["term"].tolist()
    for col in ("estimate", "se", "ubar", "b", "t", "df", "riv", "lambda", "fmi", "re", "p", "lower", "upper"):
        np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-10, err_msg=col)


def test_pool_estimates_refuses_mismatched_rows():
    a = pd.DataFrame({"k": ["x", "y"], "estimate": [1.0, 2.0], "se": [0.1, 0.2]})
    with pytest.raises(Exception, match="same rows"):
        pool_estimates([a, a.iloc[:1]], keys=["k"])
    with pytest.raises(Exception, match="missing estimate"):
        pool_estimates([a, a.assign(se=[0.1, np.nan])], keys=["k"])


def test_pooled_table_one_by_hand(imp):
    frame, res = imp
    t1 = pooled_table_one(res, by="supervised_physio", covariates=["bmi", "smoking", "diabetes"], incomplete=frame)
    s = t1.summary.set_index(["variable", "level", "group"])
    for grp in ("False", "True"):
        sel = [f["supervised_physio"].astype(str).to_numpy() == grp for f in res]
        x = [f.loc[k, "bmi"].to_numpy(float) for f, k in zip(res, sel)]
        est, ubar, t = _rubin(np.array([v.mean() for v in x]), np.array([v.std(ddof=1) / np.sqrt(len(v)) for v in x]))
        row = s.loc[("bmi", "", grp)]
        np.testing.assert_allclose([row["estimate"], row["ubar"], row["t"]], [est, ubar, t], rtol=1e-10)
        p = np.array([(f.loc[k, "smoking"].astype(str) == "current").mean() for f, k in zip(res, sel)])
        n = sel[0].sum()
        est, ubar, t = _rubin(100 * p, 100 * np.sqrt(p * (1 - p) / n))
        row = s.loc[("smoking", "current", grp)]
        np.testing.assert_allclose([row["estimate"], row["ubar"], row["t"]], [est, ubar, t], rtol=1e-10)
        missing = frame.loc[frame["supervised_physio"].astype(str) == grp, "smoking"].isna().sum()
        assert row["n_missing"] == missing and row["n"] == n
    assert (t1.summary.loc[t1.summary["variable"] == "smoking", "fmi"] > 0).all()  # imputed: some information lost
    assert set(t1.table.columns) >= {"variable", "level", "False", "True", "SMD", "FMI"}


def test_pooled_comparison_by_hand(imp):
    from footdrop_outcomes.adherence import fit_propensity, weighted_comparison

    _, res = imp
    formula = "severity + age + diabetes + smoking"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weighting diagnostics are not what is tested here
        got = pooled_comparison(res, "supervised_physio", formula)
        last = weighted_comparison(fit_propensity(res[len(res) - 1], "supervised_physio", formula)).summary
    assert len(got.fits) == len(res)  # one fit per completed frame, in order:
    pd.testing.assert_frame_equal(got.fits[-1].summary, last)
    fits = [f.summary for f in got.fits]
    for analysis in ("crude", "weighted"):
        rows = [f.query(f"estimand == 'log_hr' and analysis == '{analysis}'").iloc[0] for f in fits]
        est, ubar, t = _rubin(np.array([r["estimate"] for r in rows]), np.array([r["se"] for r in rows]))
        g = got.summary.query(f"estimand == 'log_hr' and analysis == '{analysis}'").iloc[0]
        np.testing.assert_allclose([g["estimate"], g["ubar"], g["t"]], [est, ubar, t], rtol=1e-10)
        assert g["dfcom"] == res[0]["event"].astype(bool).sum() - 1
        np.testing.assert_allclose(g["ratio"], np.exp(est), rtol=1e-12)


def test_fit_imputed_in_worker_processes_equals_serial(imp):
    _, res = imp
    serial = fit_imputed(res, lambda d: fit_cox(d, "severity + diabetes"))
    forked = fit_imputed(res, lambda d: fit_cox(d, "severity + diabetes"), n_jobs=2)
    pd.testing.assert_frame_equal(serial.summary, forked.summary)


def test_pooled_table_one_keeps_mean_or_percent_in_statistic(imp):
    """pool_estimates' t statistic must not overwrite the documented ``statistic`` column (mean / percent)."""
    _, res = imp
    t1 = pooled_table_one(res, by="supervised_physio", covariates=["bmi", "smoking"])
    s = t1.summary
    assert set(s.loc[s["variable"] == "bmi", "statistic"]) == {"mean"}
    assert set(s.loc[s["variable"] == "smoking", "statistic"]) == {"percent"}
    assert np.allclose(s["t_statistic"], s["estimate"] / s["se"])
    cells = t1.table.set_index(["variable", "level"])
    assert cells.loc[("smoking", "current"), "True"].endswith("%") and not cells.loc[("bmi", ""), "True"].endswith("%")


def test_grouping_column_left_out_of_the_imputation_models_warns(imp):
    from footdrop_outcomes.errors import FootdropWarning

    frame, res = imp
    assert "supervised_physio" in res.info["predictors"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FootdropWarning)
        pooled_table_one(res, by="supervised_physio", covariates=["bmi"])
    without = impute(frame, m=2, seed=1, columns=["bmi"], iterations=1, predictors=["age", "severity"])
    with pytest.warns(FootdropWarning, match="not a predictor"):
        pooled_table_one(without, by="supervised_physio", covariates=["bmi"])
    with pytest.warns(FootdropWarning, match="not a predictor"):
        pooled_comparison(without, "supervised_physio", "severity + age + bmi")
