"""ITT vs per-protocol for a device with no effect: the naive completers analysis shows immortal-time bias."""

from __future__ import annotations

import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import itt_per_protocol
from footdrop_outcomes.errors import ConfigError


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(3000, seed=2026)


def test_itt_and_ipcw_per_protocol_recover_the_null_naive_pp_does_not(cohort):
    r = itt_per_protocol(cohort)
    s = r.summary.set_index("analysis")
    assert cohort.truth.value("recovery_latency", "afo", "log_hazard_ratio") == 0.0
    assert (s["truth"] == 0).all()
    assert abs(s.loc["ITT", "bias_in_se"]) < 3
    assert abs(s.loc["PP: censored at deviation + IPCW", "bias_in_se"]) < 3
    assert abs(s.loc["PP: censored at deviation", "bias_in_se"]) < 3
    naive = s.loc["naive PP: completers only"]
    assert naive["bias_in_se"] > 4 and naive["hr"] > 1.25  # a spurious benefit of the device
    assert naive["n_treated"] == r.info["n_treated"] - r.info["n_deviated"]
    # SEs account for the estimated weights: smaller than the fixed-weight robust SEs (conservative for the ATE)
    assert (s["se"] < s["se_fixed_weights"]).all() and r.info["trim"] is None
    ep = r.episodes
    assert (ep.loc[~ep["treated"], "ipcw"] == 1).all() and ep["ipcw"].gt(0).all()
    assert "cumulative_adherence" in r.censoring_model["term"].tolist()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert r.plot().get_xscale() == "log"
    plt.close("all")


def test_fes_and_bad_options(cohort):
    r = itt_per_protocol(cohort, device="fes", outcome="observed", confounders="C(severity)")
    assert len(r.summary) == 4 and r.info["n"] < len(cohort.patients) / 3  # stroke and MS only
    with pytest.raises(ConfigError, match="device"):
        itt_per_protocol(cohort, device="surgery")
    with pytest.raises(ConfigError, match="se"):
        itt_per_protocol(cohort, se="jackknife")
    with pytest.raises(ConfigError, match="n_boot"):
        itt_per_protocol(cohort, se="bootstrap", n_boot=5)


def test_weighted_cox_matches_lifelines_and_ignores_episode_splits():
    import warnings

    import numpy as np
    import pandas as pd
    from lifelines import CoxPHFitter

    from footdrop_outcomes.adherence.perprotocol import _cox

    rng = np.random.default_rng(1)
    n = 400
    x = rng.integers(0, 2, n)
    t = rng.exponential(1 / np.exp(0.5 * x))
    c = rng.exponential(1.5, n)
    df = pd.DataFrame({"stop": np.minimum(t, c), "event": t <= c, "treated": x.astype(bool), "w": rng.uniform(0.5, 2, n),
                       "cluster": np.arange(n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(df, "stop", "event", weights_col="w", cluster_col="cluster", robust=True)
    b, se = _cox(df, weights="w")
    assert b == pytest.approx(ref.params_["treated"], abs=1e-6)
    assert se == pytest.approx(ref.standard_errors_["treated"], rel=1e-5)
    first = df.assign(start=0.0, stop=df["stop"] / 2, event=False)
    second = df.assign(start=df["stop"] / 2)
    b2, se2 = _cox(pd.concat([first, second], ignore_index=True), weights="w", entry="start")
    assert (b2, se2) == pytest.approx((b, se), rel=1e-9)  # same patients, split in two episodes
