"""Time-varying adherence: the exposure matches the simulator's, so the truth is recoverable."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.survival.cox import fit_cox_time_varying
from footdrop_outcomes.survival.timevarying import adherence_exposure, counting_process


def _truth_outcome(cohort):
    tr, p = cohort.truth.patients, cohort.patients
    lat, fu = tr["latent_recovery_day"].to_numpy(), p["followup_days"].to_numpy()
    seen = tr["will_recover"].to_numpy() & (lat <= fu)
    return pd.DataFrame({"patient_id": p["patient_id"].astype(str), "time": np.where(seen, lat, fu) / 7, "event": seen})


def test_exposure_is_lagged_cumulative_share():
    a = simulate_cohort(50, seed=2).adherence
    exp = adherence_exposure(a)
    one = exp[exp["patient_id"] == exp["patient_id"].iloc[0]]
    p, c = one["prescribed"].to_numpy(), one["completed"].to_numpy()
    assert one["cumulative_adherence"].iloc[0] == 0
    assert one["cumulative_adherence"].iloc[3] == pytest.approx(c[:3].sum() / p[:3].sum())
    assert one["current_adherence"].iloc[3] == pytest.approx(c[2] / p[2])
    assert (exp["gap_weeks"] == 0).all()


def test_counting_process_episodes_tile_follow_up(small_cohort):
    cp = counting_process(small_cohort)
    g = cp.groupby("patient_id", observed=True)
    assert (cp["stop"] > cp["start"]).all()
    assert g["event"].sum().max() <= 1
    # episodes are contiguous and end at the patient's time
    from footdrop_outcomes.survival._input import survival_frame

    frame = survival_frame(small_cohort).set_index("patient_id")
    ends = g["stop"].max()
    assert np.allclose(ends.to_numpy(), frame.loc[ends.index, "time"].to_numpy())
    assert (g["start"].min() == 0).all()
    assert cp["cumulative_adherence"].between(0, 1).all()


def test_time_varying_cox_recovers_true_adherence_effect():
    """On latent recovery times of the recovering patients, the lagged cumulative-adherence
    effect equals the generator's (same exposure definition in both places)."""
    cohort = simulate_cohort(2500, seed=21)
    cp = counting_process(cohort, outcome=_truth_outcome(cohort))
    rec_ids = set(cohort.patients.loc[cohort.truth.patients["will_recover"].to_numpy(), "patient_id"].astype(str))
    d = cp[cp["patient_id"].astype(str).isin(rec_ids)]
    x = pd.DataFrame({
        "id": d["patient_id"].astype(str), "start": d["start"], "stop": d["stop"], "event": d["event"].astype(int),
        "cum": d["cumulative_adherence"], "moderate": (d["severity"] == "moderate") * 1.0, "severe": (d["severity"] == "severe") * 1.0,
        "age10": (d["age"] - 60) / 10, "diabetes": d["diabetes"] * 1.0, "hba": d["diabetes"] * np.maximum(d["hba1c"].fillna(5.0) - 7, 0),
        "current": (d["smoking"] == "current") * 1.0, "former": (d["smoking"] == "former") * 1.0, "delay30": d["days_to_treatment"] / 30,
        "physio": d["supervised_physio"] * 1.0, "surgery": (d["surgery"] != "none") * 1.0,
    })
    for cause in d["cause"].cat.categories[1:]:
        if cause != "als":
            x[cause] = (d["cause"] == cause) * 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' convergence chatter; convergence is checked below
        fit = CoxTimeVaryingFitter().fit(x, id_col="id", start_col="start", stop_col="stop", event_col="event")
    est, se = fit.params_["cum"], fit.standard_errors_["cum"]
    # the toolkit's own counting-process fit agrees with lifelines on the same design
    ours = fit_cox_time_varying(x.rename(columns={"cum": "cumulative"}), " + ".join(c if c != "cum" else "cumulative" for c in x.columns[4:]),
                                id_col="id")
    assert np.allclose(ours.params.to_numpy(), fit.params_.to_numpy(), rtol=1e-4, atol=1e-6)
    truth = cohort.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio") * 10
    assert abs(est - truth) < 3 * se, (est, se, truth)
    assert abs(fit.params_["severe"] - cohort.truth.value("recovery_latency", "severity[severe]", "log_hazard_ratio")) < 3 * fit.standard_errors_["severe"]
