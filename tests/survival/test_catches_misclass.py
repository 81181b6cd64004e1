"""Misclassification-aware cure model (survival/misclass.py): what its own tests left unchecked (issue 21).

Mutation sample of session 7 (seed 1) survivors killed here:

* ``misclass.py:238``: the near window ``near=`` replaced by 1 (no window) when the model is built
  (``near or 1.0`` -> ``near and 1.0``): every test passed, none looked at whether the fitted model
  used the ``near`` it was given. Reference: the likelihood written by ``_NearModel`` for the given
  share (its gradient is checked against finite differences and its reduction to the constant-rate
  model in ``test_misclass.py``) evaluated at the reported parameters, with designs built here
  (intercept-only formulas: no standardisation to undo).
* ``misclass.py:219``: "a non-empty frame" read as "more than one row" (``len(frame) == 1``).
"""

from __future__ import annotations

import numpy as np
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival import adherence_exposure, survival_frame
from footdrop_outcomes.survival import misclass as M
from footdrop_outcomes.survival.tv_cure import exposure_matrix


@pytest.fixture(scope="module")
def data():
    c = simulate_cohort(500, seed=47, version=2)
    f = survival_frame(c)
    frame = f[(f["cause"] != "als").to_numpy() & (f["time"].to_numpy() > 0)].copy()
    return frame, c.visits, adherence_exposure(c.adherence)


def _likelihood_at(frame, visits, exposure, params: np.ndarray, rho: float) -> float:
    ids = frame["patient_id"].astype(str).to_numpy()
    t, y1, s1, y2, s2 = M.reading_matrix(visits, ids)
    weeks = int(np.ceil(t.max() / rho)) + 1
    x = exposure_matrix(exposure, ids, weeks, column="cumulative_adherence") / 0.1
    ones = np.ones((ids.size, 1))
    return -float(M._NearModel(ones, ones, x, t, y1, s1, y2, s2, rho, False).negloglik(params)[0])


def test_the_near_window_given_is_the_one_fitted(data):
    frame, visits, exposure = data
    with np.errstate(all="ignore"):
        fit = M.fit_misclassified_cure(frame, visits, incidence_formula="1", latency_formula="1", exposure_table=exposure,
                                       near=0.6)
    params = fit.params.to_numpy()
    assert fit.info["near"] == 0.6
    assert fit.log_likelihood == pytest.approx(_likelihood_at(frame, visits, exposure, params, 0.6), abs=1e-6)
    # the window matters at these parameters: without it (rho = 1) the likelihood is another number
    assert abs(_likelihood_at(frame, visits, exposure, params, 1.0) - fit.log_likelihood) > 1e-3


def test_an_empty_frame_is_refused_and_one_patient_is_not_called_empty(data):
    frame, visits, exposure = data
    kw = {"incidence_formula": "1", "latency_formula": "1", "exposure_table": exposure}
    with pytest.raises(FootdropError, match="non-empty"):
        M.fit_misclassified_cure(frame.iloc[:0], visits, **kw)
    recovered = frame[frame["event"].astype(bool)].iloc[:1]
    # one patient cannot identify the model: its estimates run off to infinity, refused as the cure model refuses
    # them (before: an OverflowError from the summary's exp), not as an empty frame
    with np.errstate(all="ignore"), pytest.raises(FootdropError, match="ran off to infinity"):
        M.fit_misclassified_cure(recovered, visits, **kw)


def test_a_patient_without_readings_after_onset_changes_nothing(data):
    """A patient with no visit after onset has no reading: its likelihood factor is 1, so the fit is the
    fit without them (misclass.py:464 survivor: ``times >= 0`` took log(0) for such a patient's
    padded times, and the derivative in the Weibull shape became NaN)."""
    frame, visits, exposure = data
    kw = {"incidence_formula": "1", "latency_formula": "1", "exposure_table": exposure}
    lone = str(frame["patient_id"].iloc[0])
    v = visits[~((visits["patient_id"].astype(str) == lone) & (visits["day"] > 0))]
    with np.errstate(all="ignore"):
        a = M.fit_misclassified_cure(frame, v, **kw)
        b = M.fit_misclassified_cure(frame[frame["patient_id"].astype(str) != lone], v, **kw)
    assert a.info["n"] == b.info["n"] + 1 and a.info["visits"] == b.info["visits"]
    assert a.log_likelihood == pytest.approx(b.log_likelihood, abs=1e-9)
    np.testing.assert_allclose(a.params, b.params, atol=1e-7)
