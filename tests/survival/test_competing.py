"""Competing events: Aalen-Johansen CIFs, their variance, and the cohort view."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import ConfigError, FootdropError, simulate_cohort
from footdrop_outcomes.survival.competing import _aalen_johansen, competing_frame, cumulative_incidence


def _data(seed: int = 1, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rng.exponential(10, n)  # continuous: no ties
    status = rng.choice(["recovery", "death", "censored"], p=[0.5, 0.2, 0.3], size=n)
    return pd.DataFrame({"time": t, "status": status})


def test_cifs_and_survival_add_up_to_one():
    d = _data()
    c = _aalen_johansen(d["time"].to_numpy(), d["status"].to_numpy(), ["recovery", "death"], 1.96)
    rec = c[c["kind"] == "recovery"].set_index("time")["cif"]
    dea = c[c["kind"] == "death"].set_index("time")["cif"]
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(d["time"], d["status"] != "censored")
    s = km.survival_function_.iloc[:, 0].reindex(rec.index).to_numpy()
    assert np.allclose(rec.to_numpy() + dea.to_numpy() + s, 1.0)


def test_without_competing_events_it_is_one_minus_km_with_greenwood_variance():
    d = _data(2)
    st = np.where(d["status"] == "death", "censored", d["status"])
    c = _aalen_johansen(d["time"].to_numpy(), st, ["recovery"], 1.96)
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(d["time"], st == "recovery")
    s = km.survival_function_.iloc[:, 0].reindex(c["time"]).to_numpy()
    assert np.allclose(c["cif"], 1 - s)
    t = d["time"].to_numpy()
    n = np.array([(t >= x).sum() for x in c["time"]])
    ok = n > 1  # at the last time everyone left has the event: S = 0 and Greenwood is 0 * inf
    with np.errstate(divide="ignore"):
        greenwood = s * np.sqrt(np.cumsum(1 / (n * (n - 1.0))))
    assert np.allclose(c["se"].to_numpy()[ok], greenwood[ok], rtol=1e-10)


def test_matches_lifelines_aalen_johansen_on_untied_data():
    from lifelines import AalenJohansenFitter

    d = _data(3)
    code = d["status"].map({"censored": 0, "recovery": 1, "death": 2}).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aj = AalenJohansenFitter(calculate_variance=True).fit(d["time"], code, event_of_interest=1)
    c = _aalen_johansen(d["time"].to_numpy(), d["status"].to_numpy(), ["recovery", "death"], 1.96)
    rec = c[c["kind"] == "recovery"].set_index("time")
    theirs = aj.cumulative_density_.iloc[:, 0].reindex(rec.index)
    assert np.allclose(rec["cif"], theirs.to_numpy(), atol=1e-12)
    var = aj.variance_
    their_var = (var.iloc[:, 0] if isinstance(var, pd.DataFrame) else var).reindex(rec.index).to_numpy()
    assert np.allclose(rec["se"] ** 2, their_var, rtol=1e-6, atol=1e-12)


def test_cohort_cif_is_below_naive_one_minus_km():
    cohort = simulate_cohort(3000, seed=8)
    res = cumulative_incidence(cohort, group="cause")
    als = res.summary[(res.summary["group"] == "als")]
    assert (als.loc[als["kind"] == "recovery", "cif"] == 0).all()
    assert als.loc[als["kind"] == "death", "events"].iloc[0] > 0
    rec = res.summary[res.summary["kind"] == "recovery"]
    assert (rec["cif"] <= rec["one_minus_km"] + 1e-12).all()
    frame = competing_frame(cohort)
    assert set(frame["status"]) <= {"recovery", "death", "censored"}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert res.plot().get_ylabel().startswith("cumulative incidence")
    plt.close("all")


def test_bad_input():
    with pytest.raises(ConfigError, match="competing"):
        cumulative_incidence(simulate_cohort(50, seed=1), competing=("surgery",))
    d = _data()
    d.loc[0, "time"] = -1
    with pytest.raises(FootdropError, match="finite and >= 0"):
        cumulative_incidence(d)
    d = _data()
    d.loc[0, "status"] = "relapse"
    with pytest.raises(FootdropError, match="relapse"):
        cumulative_incidence(d)
