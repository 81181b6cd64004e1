"""MAR deletion of covariates in a simulated survival frame: the one generator the imputation
tests and ``benchmarks/study_missing_data.py`` share (so their figures are about the same data).

``age`` is deleted more often for early recoverers and severe patients, ``diabetes`` more often
for patients seen to recover and early recoverers: the probabilities depend on observed data
only (missing at random, not completely at random), so complete cases are biased and multiple
imputation with the outcome in the imputation model is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["mar_frames"]


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
