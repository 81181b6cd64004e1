"""MAR deletion of covariates in a simulated survival frame: the one generator the imputation
tests and ``benchmarks/study_missing_data.py`` share (so their figures are about the same data).

:func:`mar_frames` (generator v1): ``age`` is deleted more often for early recoverers and severe
patients, ``diabetes`` more often for patients seen to recover and early recoverers.
:func:`mar_frames_all` (generator v2, whose truth keeps the HbA1c and BMI values its tables
leave out): every covariate the data model lets be missing -- age, diabetes, smoking, HbA1c,
BMI and days to treatment -- is deleted, each with its own dependence on recovery, early
recovery, severity or the physiotherapy arm. The probabilities depend on always-observed data
only (missing at random, not completely at random), so complete cases are biased and multiple
imputation with the outcome in the imputation model is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["MAR_ALL_COVARIATES", "mar_frames", "mar_frames_all"]

#: The covariates :func:`mar_frames_all` deletes.
MAR_ALL_COVARIATES = ("age", "diabetes", "smoking", "hba1c", "bmi", "days_to_treatment")


def mar_frames(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A survival frame of ``simulate_cohort(n, seed=seed)`` and a copy with MAR holes.

    Parameters
    ----------
    seed : int
        Seed of the cohort; the deletions use ``numpy.random.default_rng([seed, 99])``.
    n : int
        Patients.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The full frame and the frame with holes. Both hold ``age`` as ``Int64`` and
        ``diabetes`` as ``boolean`` (the data model's nullable types), so a model names its
        terms the same on both and on the imputed frames.

    Examples
    --------
    >>> full, holes = mar_frames(1, 200)
    >>> str(holes["diabetes"].dtype), str(holes["age"].dtype), bool(holes["age"].isna().any())
    ('boolean', 'Int64', True)
    """
    from footdrop_outcomes.cohort.simulate import simulate_cohort
    from footdrop_outcomes.survival import survival_frame

    full = survival_frame(simulate_cohort(n, seed=seed))
    full["age"] = full["age"].astype("Int64")
    full["diabetes"] = full["diabetes"].astype("boolean")
    rng = np.random.default_rng([seed, 99])
    recovered = np.isfinite(full["upper"].to_numpy(dtype=float))
    early = (full["time"] < full["time"].median()).to_numpy()
    severe = (full["severity"] == "severe").to_numpy()
    d = full.copy()
    d["age"] = d["age"].mask(rng.random(n) < expit(-1.6 + 1.4 * early + 0.6 * severe))
    d["diabetes"] = d["diabetes"].mask(rng.random(n) < expit(-1.8 + 1.2 * recovered + 0.5 * early))
    return full, d


def mar_frames_all(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A complete survival frame of ``simulate_cohort(n, seed=seed, version=2)`` and a copy with MAR holes in six covariates.

    The full frame takes HbA1c and BMI from the generator's truth (``hba1c_true``,
    ``bmi_true``), so it has no missing covariate. The deletions (``numpy.random.default_rng([seed,
    98])``) depend on ``recovered`` (recovery seen), ``early`` (time below the median),
    ``severe`` and ``physio`` (supervised physiotherapy), all always observed:

    ============================  =====================================
    covariate                     P(deleted) = expit(...)
    ============================  =====================================
    age                           -1.6 + 1.4 early + 0.6 severe
    diabetes                      -1.8 + 1.2 recovered + 0.5 early
    smoking                       -1.7 + 1.0 recovered + 0.5 severe
    hba1c                         -1.4 + 0.8 early + 0.5 physio
    bmi                           -1.8 + 0.9 recovered
    days_to_treatment             -2.0 + 1.0 early + 0.4 physio
    ============================  =====================================

    Parameters
    ----------
    seed : int
        Seed of the cohort and (with 98) of the deletions.
    n : int
        Patients.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The full frame and the frame with holes; ``age`` as ``Int64``, ``diabetes`` as
        ``boolean``, ``smoking`` categorical, ``days_to_treatment`` ``Int64``.

    Examples
    --------
    >>> full, holes = mar_frames_all(1, 300)
    >>> int(full[list(MAR_ALL_COVARIATES)].isna().sum().sum()), bool(holes["bmi"].isna().any())
    (0, True)
    """
    from footdrop_outcomes.cohort.simulate import simulate_cohort
    from footdrop_outcomes.survival import survival_frame

    cohort = simulate_cohort(n, seed=seed, version=2)
    full = survival_frame(cohort)
    true = cohort.truth.patients.set_index("patient_id")
    pid = full["patient_id"].astype(str)
    full["hba1c"] = pid.map(true["hba1c_true"]).to_numpy(dtype=float)
    full["bmi"] = pid.map(true["bmi_true"]).to_numpy(dtype=float)
    full["age"] = full["age"].astype("Int64")
    full["diabetes"] = full["diabetes"].astype("boolean")
    full["days_to_treatment"] = full["days_to_treatment"].astype("Int64")
    rng = np.random.default_rng([seed, 98])
    recovered = np.isfinite(full["upper"].to_numpy(dtype=float)).astype(float)
    early = (full["time"] < full["time"].median()).to_numpy().astype(float)
    severe = (full["severity"] == "severe").to_numpy().astype(float)
    physio = full["supervised_physio"].to_numpy().astype(float)
    lp = {"age": -1.6 + 1.4 * early + 0.6 * severe, "diabetes": -1.8 + 1.2 * recovered + 0.5 * early,
          "smoking": -1.7 + 1.0 * recovered + 0.5 * severe, "hba1c": -1.4 + 0.8 * early + 0.5 * physio,
          "bmi": -1.8 + 0.9 * recovered, "days_to_treatment": -2.0 + 1.0 * early + 0.4 * physio}
    d = full.copy()
    for c in MAR_ALL_COVARIATES:
        d[c] = d[c].mask(rng.random(n) < expit(lp[c]))
    return full, d
