"""Risk-adjusted site comparison: expected counts by brute force, release control, and checks against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.release import MASK, ReleasePolicy
from footdrop_outcomes.sites import (
    compare_sites,
    funnel_limits,
    overdispersion,
    simulated_site_log_frailty,
)
from footdrop_outcomes.survival import fit_cox, survival_frame

FORMULA = "severity + age + diabetes"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return survival_frame(simulate_cohort(1500, seed=21))


def _brute_expected(frame: pd.DataFrame, horizon: float | None) -> tuple[pd.Series, pd.Series]:
    """Per site: Breslow cumulative hazard summed over patients up to min(T, h), and the variance
    sum_j d_j p_j (1 - p_j) of O - E, by explicit loops over event times."""
    fit = fit_cox(frame, FORMULA, strata="cause")
    b = fit.params
    x = pd.DataFrame({"severity[moderate]": frame["severity"].astype(str).eq("moderate").astype(float),
                      "severity[severe]": frame["severity"].astype(str).eq("severe").astype(float),
                      "age": frame["age"].astype(float), "diabetes": frame["diabetes"].astype(float)})
    risk = np.exp(x[list(b.index)].to_numpy() @ b.to_numpy())
    t, ev = frame["time"].to_numpy(), frame["event"].to_numpy(bool)
    site = frame["site"].astype(str).to_numpy()
    out = np.zeros(len(frame))
    var = dict.fromkeys(np.unique(site), 0.0)
    for cause in frame["cause"].astype(str).unique():
        rows = np.flatnonzero(frame["cause"].astype(str).to_numpy() == cause)
        for u in np.unique(t[rows][ev[rows]]):
            if horizon is not None and u > horizon:
                continue
            d = np.sum(ev[rows] & (t[rows] == u))
            at_risk = rows[t[rows] >= u]
            jump = d / risk[at_risk].sum()
            stop = t[rows] if horizon is None else np.minimum(t[rows], horizon)
            out[rows[stop >= u]] += jump * risk[rows[stop >= u]]
            for s in var:
                p = risk[at_risk][site[at_risk] == s].sum() / risk[at_risk].sum()
                var[s] += d * p * (1 - p)
    return pd.Series(out).groupby(site).sum(), pd.Series(var)


def test_expected_equals_brute_force_breslow(frame: pd.DataFrame) -> None:
    res = compare_sites(frame, formula=FORMULA, overdispersion="none", n_draws=50)
    for horizon, label in ((12.0, "12 weeks"), (None, "end of follow-up")):
        s = res.summary[res.summary["horizon"] == label].set_index("site")
        brute, var = _brute_expected(frame, horizon)
        assert np.allclose(s["expected"], brute[s.index], rtol=1e-8)
        assert np.allclose(s["factor"] * s["expected"], var[s.index], rtol=1e-8)
        assert (s["factor"] < 1).all()
        obs = frame[frame["event"] & ((frame["time"] <= horizon) if horizon else True)].groupby(
            frame["site"].astype(str)).size()
        assert (s["observed"] == obs.reindex(s.index, fill_value=0)).all()
    # Breslow: expected recoveries of everyone by the end of follow-up = the recoveries observed
    end = res.dispersion.set_index("horizon").loc["end of follow-up", "expected_all"]
    assert end == pytest.approx(frame["event"].sum(), rel=1e-9)


def test_funnel_limits_and_overdispersion_by_hand() -> None:
    lo, hi = funnel_limits(np.array([25.0]), 0.998, factor=0.8)
    sd = np.sqrt(0.8 / 100)
    assert lo[0] == pytest.approx((1 - stats.norm.ppf(0.999) * sd) ** 2)
    assert hi[0] == pytest.approx((1 + stats.norm.ppf(0.999) * sd) ** 2)
    z = np.arange(-5.0, 5.0)  # winsorised at the 10% and 90% quantiles: -4.1 and 3.1
    e = np.full(10, 50.0)
    phi, tau2 = overdispersion(z, e)
    zw = np.clip(z, np.quantile(z, 0.1), np.quantile(z, 0.9))
    assert phi == pytest.approx(np.mean(zw**2))
    w = 4 * e
    assert tau2 == pytest.approx((10 * phi - 9) / (w.sum() - np.sum(w**2) / w.sum()))


def test_release_control(frame: pd.DataFrame) -> None:
    small = frame.copy()
    small["site"] = small["site"].astype(str)
    small.loc[small.index[:8], "site"] = "S99"  # a site of 8 patients
    res = compare_sites(small, formula=FORMULA, n_draws=10)
    assert "S99" not in set(res.summary["site"]) and res.info["sites_not_shown"] == 1
    s = res.summary.reset_index(drop=True)
    tab = res.released()
    big = s["observed"] > 10
    assert big.any()
    assert (tab.frame.loc[big, "observed"] == s.loc[big, "observed"].astype(str)).all()
    assert (tab.frame.loc[big, "O/E"] == s.loc[big, "ratio"].map("{:.2f}".format)).all()
    # with a threshold at the smallest observed count, that count and what would reveal it are masked
    low = int(s["observed"].min())
    assert low >= 1
    policy = ReleasePolicy(threshold=low, internal_use=low < 5)
    tab2 = compare_sites(small, formula=FORMULA, n_draws=10, policy=policy).released()
    lowest = s["observed"].idxmin()
    for col in ("observed", "O/E", "rank (95% interval)"):
        assert tab2.frame.loc[lowest, col] == MASK
    assert tab2.frame.loc[lowest, "expected"] != MASK
    import matplotlib.pyplot as plt

    axes = res.plot()
    assert len(axes) == 2
    plt.close(axes[0].figure)


def test_bad_options(frame: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="overdispersion"):
        compare_sites(frame, overdispersion="beta")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="horizons"):
        compare_sites(frame, horizons=(-1.0,))
    holed = frame.copy()
    holed["age"] = holed["age"].astype(float)
    holed.loc[holed.index[5], "age"] = np.nan
    with pytest.raises(FootdropError, match="age"):
        compare_sites(holed, formula=FORMULA)


def test_false_alarms_without_site_effect_near_nominal() -> None:
    """No site effect: points outside the 95% and 99.8% Poisson limits over 8 cohorts x 8 sites x 2 horizons."""
    out95 = out998 = total = 0
    for seed in range(8):
        s = compare_sites(simulate_cohort(1500, seed=500 + seed), formula=FORMULA, overdispersion="none", n_draws=10).summary
        out95 += int((s["flag_95"] != "").sum())
        out998 += int((s["flag_998"] != "").sum())
        total += len(s)
    assert total == 128
    # two-sided binomial bounds (each tail < 0.2% at the nominal rate)
    assert stats.binom.ppf(0.002, total, 0.05) <= out95 <= stats.binom.ppf(0.998, total, 0.05)
    assert out998 <= stats.binom.ppf(0.998, total, 0.002)


def test_flags_and_ranks_follow_the_true_site_frailty() -> None:
    """True frailty SD 0.6: sites flagged above (below) the 95% limits have a higher (lower) true
    frailty than the median site far more often than the 50% of chance, and O/E ranks follow the truth."""
    cfg = SimulationConfig(site_frailty_sd=0.6)
    right = flagged = 0
    rhos = []
    for seed in range(4):
        truth = pd.Series(simulated_site_log_frailty(700 + seed, cfg))
        s = compare_sites(simulate_cohort(2000, 700 + seed, cfg), formula=FORMULA, overdispersion="none", n_draws=10).summary
        s = s[s["horizon"] == "12 weeks"].set_index("site")
        med = truth.median()
        for site, row in s[s["flag_95"] != ""].iterrows():
            flagged += 1
            right += int((truth[site] > med) == (row["flag_95"] == "above"))
        rhos.append(stats.spearmanr(s["ratio"], truth[s.index]).statistic)
    assert flagged >= 4
    assert stats.binom.sf(right - 1, flagged, 0.5) < 0.01  # more often right than chance
    assert np.mean(rhos) > 0.5
