"""Adherence models on a cohort with 20% of smoking and diabetes unknown: they leave incomplete
patients out only with a MissingDataWarning, count them in ``info``, and give exactly the fit on
the complete cases made by hand (the same cohort with those patients removed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import Cohort, simulate_cohort
from footdrop_outcomes.adherence import adherence_effect, adherence_trend, dose_response
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival import MissingDataWarning

COVS = "severity + diabetes + smoking"


def _subset(c: Cohort, keep: set[str]) -> Cohort:
    """The cohort restricted to the patients ``keep`` (visits, adherence and truth too)."""
    def rows(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["patient_id"].astype(str).isin(keep)].reset_index(drop=True)

    out = Cohort(rows(c.patients), rows(c.visits), rows(c.adherence))
    if c.truth is not None:
        import dataclasses

        out = dataclasses.replace(out, truth=dataclasses.replace(c.truth, patients=rows(c.truth.patients)))
    return out


@pytest.fixture(scope="module")
def holes():
    c = simulate_cohort(700, seed=11, progress=False)
    rng = np.random.default_rng(4)
    p = c.patients.copy()
    p.loc[rng.random(len(p)) < 0.2, "smoking"] = np.nan
    p.loc[rng.random(len(p)) < 0.2, "diabetes"] = pd.NA
    import dataclasses

    cohort = dataclasses.replace(c, patients=p)
    incomplete = (p["smoking"].isna() | p["diabetes"].isna()).to_numpy()
    complete = _subset(c, set(p.loc[~incomplete, "patient_id"].astype(str)))
    return cohort, complete, p.loc[incomplete, "patient_id"].astype(str)


def test_trend_drops_whole_patients_and_matches_hand_made_complete_cases(holes):
    cohort, complete, bad_ids = holes
    with pytest.warns(MissingDataWarning, match="adherence_trend: .* patients"):
        res = adherence_trend(cohort, covariates="smoking + diabetes", max_week=12, cov_struct="independence")
    ref = adherence_trend(complete, covariates="smoking + diabetes", max_week=12, cov_struct="independence")
    info = res.info
    # weeks of the incomplete patients, counted by brute force on the full weekly table
    from footdrop_outcomes.adherence import weekly_adherence

    w = weekly_adherence(cohort)
    w = w[w["weekly_share"].notna() & (w["program_week"] < 12)]
    bad_weeks = w["patient_id"].astype(str).isin(set(bad_ids))
    assert info["n_input"] == len(w) and info["n_dropped_missing"] == int(bad_weeks.sum())
    assert info["n_patients_dropped"] == w.loc[bad_weeks, "patient_id"].nunique()
    assert info["n"] == ref.info["n"] and info["patient_weeks"] == ref.info["patient_weeks"]
    np.testing.assert_allclose(res.summary["estimate"], ref.summary["estimate"], rtol=1e-8)
    np.testing.assert_allclose(res.summary["se"], ref.summary["se"], rtol=1e-8)
    # the truth uses the generator's smoking, so it is the same whichever patients were blanked
    np.testing.assert_allclose(res.summary["truth_marginal"], ref.summary["truth_marginal"], rtol=1e-8)
    with pytest.raises(FootdropError, match="smoking|diabetes"):
        adherence_trend(cohort, covariates="smoking + diabetes", max_week=12, missing="raise")


def test_effect_and_dose_response_drop_once_for_every_model(holes):
    cohort, complete, _ = holes
    with pytest.warns(MissingDataWarning, match="adherence_effect: "):
        res = adherence_effect(cohort, covariates=COVS, outcome="latent")
    ref = adherence_effect(complete, covariates=COVS, outcome="latent")
    assert res.info["n_dropped_missing"] > 0 and set(res.info["dropped_by_variable"]) == {"smoking", "diabetes"}
    assert res.info["n_input"] - res.info["n_dropped_missing"] == res.info["n"] == ref.info["n"]
    assert res.info["episodes"] == ref.info["episodes"]
    pd.testing.assert_series_equal(res.summary["n"], ref.summary["n"])
    np.testing.assert_allclose(res.summary["log_hr_per_10pct"], ref.summary["log_hr_per_10pct"], rtol=1e-7)
    np.testing.assert_allclose(res.summary["se"], ref.summary["se"], rtol=1e-7)
    with pytest.warns(MissingDataWarning, match="dose_response: "):
        d = dose_response(cohort, covariates=COVS, outcome="latent", knots=3)
    dref = dose_response(complete, covariates=COVS, outcome="latent", knots=3)
    assert d.info["n"] == dref.info["n"] == res.info["n"]
    np.testing.assert_allclose(d.summary["log_hr"], dref.summary["log_hr"], rtol=1e-7, atol=1e-10)
    with pytest.raises(FootdropError, match="smoking|diabetes"):
        adherence_effect(cohort, covariates=COVS, outcome="latent", missing="raise")
