"""The weighted Cox model of a binary covariate (the IPTW/IPCW hazard ratios' engine) refuses a
fit with no information with the documented error (issue 21: the mutation run over
``adherence/_sandwich.py`` found that accepting zero information, which then divides by zero,
passed every test). Outside reference: with every patient in one arm the partial likelihood
does not depend on the log hazard ratio, so its information is exactly 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from footdrop_outcomes.adherence._sandwich import weighted_cox_binary
from footdrop_outcomes.errors import ConvergenceError


@pytest.mark.parametrize("arm", [0.0, 1.0])
def test_one_arm_only_has_no_information(arm):
    rng = np.random.default_rng(0)
    n = 30
    stop = rng.exponential(10.0, n)
    event = rng.random(n) < 0.7
    with pytest.raises(ConvergenceError, match="no information"):
        weighted_cox_binary(stop, event, np.full(n, arm), np.ones(n))


def test_both_arms_give_the_unweighted_two_group_estimate():
    # two arms, no ties, no weights: against lifelines' Cox fit of the same data
    rng = np.random.default_rng(1)
    n = 120
    x = (rng.random(n) < 0.5).astype(float)
    t = rng.exponential(np.where(x == 1, 6.0, 10.0))
    c = rng.uniform(2, 25, n)
    stop, event = np.minimum(t, c), t <= c
    b, info, _ = weighted_cox_binary(stop, event, x, np.ones(n))
    ref = CoxPHFitter().fit(pd.DataFrame({"T": stop, "E": event.astype(int), "x": x}), "T", "E")
    assert b == pytest.approx(float(ref.params_["x"]), rel=1e-6)
    assert 1.0 / np.sqrt(info) == pytest.approx(float(ref.standard_errors_["x"]), rel=1e-6)
