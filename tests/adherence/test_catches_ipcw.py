"""The per-protocol IPCW analysis uses the IPCW weights it reports (issue 21: dropping the IPCW
weights passed the per-protocol test, whose scenario gives them little to correct).

Outside reference: lifelines' ``CoxTimeVaryingFitter`` on the reported on-protocol weekly
episodes, weighted by ``iptw * ipcw``, gives the log HR of the "+ IPCW" row; the weights are not
all 1 among the treated, and the same fit weighted by ``iptw`` alone gives the "censored at
deviation" row (so the two rows differ exactly by the IPCW weights).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from lifelines import CoxTimeVaryingFitter

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import itt_per_protocol
from footdrop_outcomes.adherence.weighting import WeightingWarning


def _lifelines(ep, weight):
    d = ep.assign(w=weight, z=ep["treated"].astype(float), e=ep["event"].astype(int))[["cluster", "start", "stop", "e", "z", "w"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' note on non-integer weights
        f = CoxTimeVaryingFitter().fit(d, id_col="cluster", event_col="e", start_col="start", stop_col="stop", weights_col="w")
    return float(f.params_["z"])


def test_ipcw_row_is_the_cox_fit_weighted_by_the_reported_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)  # chance imbalance of a small cohort
        r = itt_per_protocol(simulate_cohort(400, seed=2026))
    s = r.summary.set_index("analysis")["log_hr"]
    ep = r.episodes
    pp = ep[ep["on_protocol"].to_numpy(bool)]
    treated_w = pp.loc[pp["treated"].to_numpy(bool), "ipcw"]
    assert treated_w.std() > 0.01  # the IPCW weights are not trivial here
    assert _lifelines(pp, pp["iptw"] * pp["ipcw"]) == pytest.approx(s["PP: censored at deviation + IPCW"], abs=1e-6)
    assert _lifelines(pp, pp["iptw"]) == pytest.approx(s["PP: censored at deviation"], abs=1e-6)
    assert abs(s["PP: censored at deviation + IPCW"] - s["PP: censored at deviation"]) > 1e-4
    assert np.isfinite(s.to_numpy()).all()
