"""fit_cox_time_varying on counting-process data with holes: 20% of patients miss smoking or
diabetes (every episode of theirs) and some episodes miss the time-varying covariate. The fit
leaves them out with a MissingDataWarning, counts rows and patients (checked by brute force), and
equals lifelines' CoxTimeVaryingFitter on the complete rows built by hand (dummy-coded)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival import (
    MissingDataWarning,
    counting_process,
    fit_cox_time_varying,
)


@pytest.fixture(scope="module")
def episodes():
    cohort = simulate_cohort(400, seed=8, progress=False)
    cp = counting_process(cohort).reset_index(drop=True)
    rng = np.random.default_rng(3)
    pids = cohort.patients["patient_id"].astype(str)
    no_smk = set(pids[rng.random(len(pids)) < 0.2])
    no_dia = set(pids[rng.random(len(pids)) < 0.2])
    pid = cp["patient_id"].astype(str)
    cp["smoking"] = cp["smoking"].where(~pid.isin(no_smk))
    cp["diabetes"] = cp["diabetes"].astype("boolean").where(~pid.isin(no_dia))
    cp["cumulative_adherence"] = cp["cumulative_adherence"].where(rng.random(len(cp)) >= 0.05)  # holes inside follow-up
    return cp


def test_drops_and_counts_episodes_and_patients_then_matches_lifelines(episodes):
    cp = episodes
    bad = (cp["smoking"].isna() | cp["diabetes"].isna() | cp["cumulative_adherence"].isna()).to_numpy()
    pid = cp["patient_id"].astype(str)
    with pytest.warns(MissingDataWarning, match=rf"fit_cox_time_varying: {bad.sum()} of {len(cp)} rows .*from {pid[bad].nunique()} of"):
        res = fit_cox_time_varying(cp, "diabetes + smoking + cumulative_adherence")
    i = res.info
    assert i["n_dropped_missing"] == bad.sum() and i["n"] == (~bad).sum()
    assert i["n_patients_input"] == pid.nunique() and i["n_patients_with_dropped_rows"] == pid[bad].nunique()
    assert i["n_patients_dropped"] == len(set(pid) - set(pid[~bad])) and i["n_subjects"] == pid[~bad].nunique()
    assert set(i["dropped_by_variable"]) == {"smoking", "diabetes", "cumulative_adherence"}
    # independent fit on the hand-made complete episodes (a patient keeps the episodes that have every value)
    d = cp.loc[~bad]
    x = pd.DataFrame({"id": d["patient_id"].astype(str), "start": d["start"], "stop": d["stop"], "event": d["event"].astype(int),
                      "diabetes": d["diabetes"].astype(bool) * 1.0, "current": (d["smoking"] == "current") * 1.0,
                      "former": (d["smoking"] == "former") * 1.0, "cum": d["cumulative_adherence"].astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' convergence chatter
        ll = CoxTimeVaryingFitter().fit(x, id_col="id", start_col="start", stop_col="stop", event_col="event")
    ours = res.params.rename({"diabetes": "diabetes", "smoking[current]": "current", "smoking[former]": "former",
                              "cumulative_adherence": "cum"})
    np.testing.assert_allclose(ours[ll.params_.index].to_numpy(), ll.params_.to_numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.summary.set_index("term")["se"].rename(lambda t: {"smoking[current]": "current",
                               "smoking[former]": "former", "cumulative_adherence": "cum"}.get(t, t))[ll.params_.index].to_numpy(),
                               ll.standard_errors_.to_numpy(), rtol=1e-3)


def test_raise_names_column(episodes):
    with pytest.raises(FootdropError, match="smoking"):
        fit_cox_time_varying(episodes, "smoking + severity", missing="raise")
