"""Multiple imputation against simulation truth, with MAR missingness made from simulate_cohort.

Covariates are deleted with probabilities that depend on observed data (the outcome and
severity): missing at random, not completely at random, so the complete-case analysis is biased
and MI (with the outcome in the imputation model) is not. The estimand is what the analysis model
estimates on the full data before deletion; its value is the mean of the full-data estimates over
the replicates. A modest number of replicates keeps the test fast; the 200-replicate study is
``benchmarks/study_missing_data.py``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.imputation import fit_imputed, impute
from footdrop_outcomes.imputation._mar import (
    mar_frames,  # the generator the benchmark uses too
)
from footdrop_outcomes.survival import MissingDataWarning, fit_interval_aft

FORMULA = "severity + age + diabetes"


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    rows = []
    for seed in range(20):
        full, d = mar_frames(500 + seed, 500)
        f = fit_interval_aft(full, FORMULA)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingDataWarning)
            cc = fit_interval_aft(d, FORMULA)
        imp = impute(d, m=5, seed=seed, columns=["age", "diabetes"], iterations=5, outcome="interval")
        mi = fit_imputed(imp, lambda x: fit_interval_aft(x, FORMULA)).summary
        rows.append(pd.DataFrame({"term": f.params.index, "full": f.params.to_numpy(), "cc": cc.params.to_numpy(),
                                  "mi": mi["estimate"].to_numpy(), "lower": mi["lower"].to_numpy(),
                                  "upper": mi["upper"].to_numpy(), "cc_n": cc.info["n"]}))
    return pd.concat(rows, ignore_index=True)


def bias_table(study: pd.DataFrame, col: str) -> pd.DataFrame:
    g = study.groupby("term", sort=False)
    truth = g["full"].mean()
    est = g[col]
    return pd.DataFrame({"bias": est.mean() - truth, "mcse": est.std() / math.sqrt(est.size().iloc[0])})


def test_mi_unbiased_within_2_mcse(study):
    t = bias_table(study, "mi")
    assert np.all(np.abs(t["bias"]) < 2 * t["mcse"]), t


def test_complete_case_biased(study):
    t = bias_table(study, "cc")
    assert study["cc_n"].max() < 400  # a real share of rows was lost
    assert abs(t.loc["Intercept", "bias"]) > 4 * t.loc["Intercept", "mcse"], t  # recovery times too short
    assert (np.abs(t["bias"]) > 2 * t["mcse"]).sum() >= 3, t


def test_mi_coverage_plausible(study):
    truth = study["term"].map(study.groupby("term")["full"].mean())
    covered = (study["lower"] <= truth) & (truth <= study["upper"])
    assert covered.mean() >= 0.88  # 120 intervals: 0.95 nominal, MC SE about 0.02
    assert covered.groupby(study["term"]).mean().min() >= 0.75
