"""Site effects in ``cohort.truth``: written by the generator that draws them, kept on save/load,
applied where documented, and recovered by the models over seeds (issue 18, item 5)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.cohort import load_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.cohort.simulate_v2 import SimulationConfigV2
from footdrop_outcomes.sites.comparison import adherence_by_site
from footdrop_outcomes.sites.truth import (
    SITE_EFFECT_SCALES,
    simulated_site_effects,
    simulated_site_log_frailty,
)
from footdrop_outcomes.survival import survival_frame
from footdrop_outcomes.survival.cure import fit_cure_model
from footdrop_outcomes.trajectories import fit_trajectory

ALL = {"site_frailty_sd": 0.4, "site_gait_sd_intercept": 0.08, "site_gait_sd_slope": 0.02, "site_adherence_logit_sd": 0.3}


@pytest.mark.parametrize("config_class", [SimulationConfig, SimulationConfigV2])
def test_site_effects_are_in_the_truth_as_drawn_and_kept_on_save_and_load(config_class, tmp_path) -> None:
    cfg = config_class(n_sites=5, **ALL)
    c = simulate_cohort(400, seed=3, config=cfg)
    eff = simulated_site_effects(c)
    assert list(eff.index) == ["S01", "S02", "S03", "S04", "S05"]
    assert list(eff.columns) == list(SITE_EFFECT_SCALES)
    assert eff.attrs["sd"] == {"recovery_log_hazard_ratio": 0.4, "gait_intercept": 0.08, "gait_slope": 0.02, "adherence_logit": 0.3}
    # the generator's draws: the same as redrawn from the seed, and not all zero
    redrawn = pd.Series(simulated_site_log_frailty(3, cfg))
    np.testing.assert_array_equal(eff["recovery_log_hazard_ratio"].to_numpy(), redrawn[eff.index].to_numpy())
    assert (eff.abs() > 0).all().all()
    c.save(tmp_path / "c")
    back = simulated_site_effects(load_cohort(tmp_path / "c"))
    pd.testing.assert_frame_equal(back, eff)
    assert back.attrs == eff.attrs
    sub = c.subset(c.patients["site"].astype(str) != "S01")
    pd.testing.assert_frame_equal(simulated_site_effects(sub), eff)


def test_without_site_effects_the_truth_has_no_site_rows_and_zero_effects() -> None:
    c = simulate_cohort(200, seed=1, config=SimulationConfig(n_sites=4))
    assert not (c.truth.parameters["component"] == "site_effects").any()
    eff = simulated_site_effects(c)
    assert eff.shape == (4, 4) and (eff.to_numpy() == 0).all()


def test_a_gait_site_effect_changes_only_gait_speed_by_the_true_site_intercept_and_slope() -> None:
    """The same seed with and without gait site effects: patients and adherence identical, every
    gait speed shifted by the patient's true site intercept + slope x lw (up to rounding to 0.01
    and the 0.05 floor), nothing else in the visits table changed."""
    base = simulate_cohort(1500, seed=8, config=SimulationConfig(n_sites=6))
    cfg = SimulationConfig(n_sites=6, site_gait_sd_intercept=0.1, site_gait_sd_slope=0.03)
    c = simulate_cohort(1500, seed=8, config=cfg)
    pd.testing.assert_frame_equal(c.patients, base.patients)
    pd.testing.assert_frame_equal(c.adherence, base.adherence)
    pd.testing.assert_frame_equal(c.visits.drop(columns="gait_speed"), base.visits.drop(columns="gait_speed"))
    eff = simulated_site_effects(c)
    site = c.patients.set_index("patient_id")["site"].astype(str)
    v_site = site.loc[c.visits["patient_id"]].to_numpy()
    lw = np.log1p(c.visits["day"].to_numpy() / 7.0)
    shift = eff["gait_intercept"].loc[v_site].to_numpy() + eff["gait_slope"].loc[v_site].to_numpy() * lw
    g1, g0 = c.visits["gait_speed"].to_numpy(), base.visits["gait_speed"].to_numpy()
    both = np.isfinite(g1) & np.isfinite(g0) & (g1 > 0.05) & (g0 > 0.05) & (g1 < 2.5) & (g0 < 2.5)
    assert both.mean() > 0.9
    assert np.max(np.abs((g1 - g0)[both] - shift[both])) <= 0.01 + 1e-9
    assert np.std(shift) > 0.05  # the check has something to find


def test_generator_2_applies_the_site_effects_where_documented() -> None:
    """Version 2: a gait site effect changes only the gait columns, non-stroke speeds by the true
    site terms (stroke walking has its own model and is unchanged); an adherence site effect shifts
    every patient's propensity by exactly the site's value in the truth."""
    base = simulate_cohort(1500, seed=8, config=SimulationConfigV2(n_sites=6))
    c = simulate_cohort(1500, seed=8, config=SimulationConfigV2(n_sites=6, site_gait_sd_intercept=0.1, site_gait_sd_slope=0.03))
    pd.testing.assert_frame_equal(c.patients, base.patients)
    pd.testing.assert_frame_equal(c.adherence, base.adherence)
    gait_cols = ["gait_speed", "gait_speed_device_off"]
    pd.testing.assert_frame_equal(c.visits.drop(columns=gait_cols), base.visits.drop(columns=gait_cols))
    eff = simulated_site_effects(c)
    pts = c.patients.set_index("patient_id")
    v_site = pts["site"].astype(str).loc[c.visits["patient_id"]].to_numpy()
    stroke = (pts["cause"].astype(str).loc[c.visits["patient_id"]] == "stroke").to_numpy()
    lw = np.log1p(c.visits["day"].to_numpy() / 7.0)
    shift = eff["gait_intercept"].loc[v_site].to_numpy() + eff["gait_slope"].loc[v_site].to_numpy() * lw
    g1, g0 = c.visits["gait_speed"].to_numpy(dtype=float), base.visits["gait_speed"].to_numpy(dtype=float)
    ok = np.isfinite(g1) & np.isfinite(g0) & (g1 > 0.05) & (g0 > 0.05) & (g1 < 2.5) & (g0 < 2.5)
    assert (ok & ~stroke).sum() > 1000
    assert np.max(np.abs((g1 - g0)[ok & ~stroke] - shift[ok & ~stroke])) <= 0.01 + 1e-9
    np.testing.assert_array_equal(g1[stroke], g0[stroke])
    a = simulate_cohort(1500, seed=8, config=SimulationConfigV2(n_sites=6, site_adherence_logit_sd=0.3))
    gap = a.truth.patients["adherence_propensity"].to_numpy() - base.truth.patients["adherence_propensity"].to_numpy()
    site_shift = simulated_site_effects(a)["adherence_logit"].loc[a.patients["site"].astype(str)].to_numpy()
    np.testing.assert_allclose(gap, site_shift, rtol=0, atol=1e-12)
    assert np.std(site_shift) > 0.1


def _cure_frame(c) -> pd.DataFrame:
    f = survival_frame(c)
    f["hba1c_excess"] = np.where(f["diabetes"].astype(bool), np.maximum(f["hba1c"].fillna(7.0) - 7.0, 0.0), 0.0)
    f["delay30"] = f["days_to_treatment"] / 30
    f["age10"] = (f["age"] - 60) / 10
    f["surg"] = f["surgery"].astype(str).isin(["decompression", "nerve_repair_graft"]).astype(float)
    f["afo_any"] = (f["afo"].astype(str) != "none").astype(float)
    f["site"] = f["site"].astype(str)
    return f


def test_the_true_site_frailty_is_recovered_by_a_correctly_specified_cure_model_over_seeds() -> None:
    """Generator 1 with no ALS and no adherence effect, so the mixture cure model with the true
    incidence and latency terms and site indicators is correctly specified: over 12 cohorts x 5
    site contrasts (log HR of site j vs S01), the z-scores against the truth have mean within 3 MC
    SE of 0 and the 95% intervals cover the truth at a rate within 3 binomial SE of 95%."""
    mix = dict(SimulationConfig().cause_mix)
    als = mix.pop("als")
    mix = {k: v / (1 - als) for k, v in mix.items()} | {"als": 0.0}
    cfg = SimulationConfig(n_sites=6, site_frailty_sd=0.4, adherence_log_hr=0.0, cause_mix=mix)
    zs, seed_means = [], []
    for seed in range(12):
        c = simulate_cohort(2500, seed=900 + seed, config=cfg)
        fit = fit_cure_model(_cure_frame(c), incidence_formula="cause + severity + age10 + diabetes + delay30",
                             latency_formula="cause + severity + age10 + diabetes + hba1c_excess + smoking + delay30"
                                             " + supervised_physio + surg + fes + afo_any + site")
        s = fit.summary
        s = s[(s["measure"] == "hazard_ratio") & s["term"].str.startswith("site[")]
        truth = simulated_site_effects(c)["recovery_log_hazard_ratio"]
        contrast = truth - truth["S01"]
        codes = s["term"].str.slice(5, -1)
        z = (s["coef"].to_numpy() - contrast[codes].to_numpy()) / s["se"].to_numpy()
        zs.extend(z)
        seed_means.append(z.mean())
    zs = np.array(zs)
    # contrasts of one cohort share S01, so the MC SE of the mean uses the cohorts as units
    bias_mc = np.mean(seed_means) / (np.std(seed_means, ddof=1) / np.sqrt(len(seed_means)))
    assert abs(bias_mc) < 3
    assert stats.chi2.ppf(0.001, zs.size) < np.sum(zs**2) < stats.chi2.ppf(0.999, zs.size)
    cover = np.mean(np.abs(zs) < stats.norm.ppf(0.975))
    assert abs(cover - 0.95) < 3 * np.sqrt(0.95 * 0.05 / zs.size)


def test_the_true_site_gait_intercepts_are_recovered_by_the_three_level_model_over_seeds() -> None:
    """Three-level model (visits in patients in sites, the generator's fixed effects): over 12
    cohorts x 8 sites, the centred site BLUPs against the centred true intercepts give z-scores
    (conditional SE) of mean within 3 MC SE of 0 and 95% coverage within 3 binomial SE; the mean
    estimated site SD is within 3 MC SE of the true SD."""
    cfg = SimulationConfig(n_sites=8, site_gait_sd_intercept=0.08)
    formula = "time * (cause + severity) + age_c + diabetes + current_smoker + fes"
    zs, seed_means, sds = [], [], []
    for seed in range(12):
        c = simulate_cohort(1200, seed=300 + seed, config=cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_trajectory(c, "gait_speed", formula, site_col="site", site_random="intercept")
        blup = fit.site_effects().set_index("site")
        truth = simulated_site_effects(c)["gait_intercept"].loc[blup.index]
        est = blup["Intercept"] - blup["Intercept"].mean()
        z = ((est - (truth - truth.mean())) / blup["se_Intercept"]).to_numpy()
        zs.extend(z)
        seed_means.append(z.mean())
        sds.append(float(np.sqrt(fit.site.cov_re.iloc[0, 0])))
    zs = np.array(zs)
    bias_mc = np.mean(zs) / (np.std(zs, ddof=1) / np.sqrt(zs.size))
    assert abs(bias_mc) < 3
    assert stats.chi2.ppf(0.001, zs.size) < np.sum(zs**2) < stats.chi2.ppf(0.999, zs.size)
    cover = np.mean(np.abs(zs) < stats.norm.ppf(0.975))
    assert abs(cover - 0.95) < 3 * np.sqrt(0.95 * 0.05 / zs.size)
    assert abs(np.mean(sds) - 0.08) < 3 * np.std(sds, ddof=1) / np.sqrt(len(sds))


def _shares(c) -> pd.Series:
    a = c.adherence
    pres = [x for x in a.columns if x.endswith("_prescribed") and not x.startswith(("afo_", "fes_"))]
    done = [x[: -len("_prescribed")] + "_completed" for x in pres]
    g = pd.DataFrame({"p": a[pres].sum(axis=1), "d": a[done].sum(axis=1), "id": a["patient_id"].astype(str)}).groupby("id").sum()
    g = g[g["p"] > 0]
    return g["d"] / g["p"]


def test_adherence_by_site_recovers_the_true_site_effect_on_the_share_over_seeds() -> None:
    """The site shift acts on the logit of every session; its true effect on a site's mean share is
    found by simulating the same seed without it (no adherence effect on recovery, so the same
    patients, weeks and random numbers: the shift is added, not drawn in the patients' stream).
    Over 10 cohorts x 12 sites, O - E against that effect (centred on all patients' mean effect)
    gives z-scores of mean within 3 MC SE of 0, of spread within the chi-square 0.1%-99.9% range,
    and 95% intervals covering it within 3 binomial SE. The propensities of the two cohorts differ
    by exactly the site shift written into the truth."""
    zs, seed_means = [], []
    for seed in range(10):
        c = simulate_cohort(2000, seed=40 + seed, config=SimulationConfig(n_sites=12, site_adherence_logit_sd=0.3, adherence_log_hr=0.0))
        c0 = simulate_cohort(2000, seed=40 + seed, config=SimulationConfig(n_sites=12, adherence_log_hr=0.0))
        assert c.adherence.shape == c0.adherence.shape
        shift = simulated_site_effects(c)["adherence_logit"].loc[c.patients["site"].astype(str)].to_numpy()
        gap = c.truth.patients["adherence_propensity"].to_numpy() - c0.truth.patients["adherence_propensity"].to_numpy()
        np.testing.assert_allclose(gap, shift, rtol=0, atol=1e-12)
        effect = _shares(c) - _shares(c0)
        site = c.patients.assign(pid=c.patients["patient_id"].astype(str)).set_index("pid")["site"].astype(str).loc[effect.index]
        theta = effect.groupby(site.to_numpy()).mean() - effect.mean()
        s = adherence_by_site(c).summary.set_index("site")
        z = ((s["difference"] - theta.loc[s.index]) / s["se"]).to_numpy()
        zs.extend(z)
        seed_means.append(z.mean())
    zs = np.array(zs)
    assert np.std(list(theta)) > 0.01  # the sites differ: the check has something to find
    bias_mc = np.mean(seed_means) / (np.std(seed_means, ddof=1) / np.sqrt(len(seed_means)))
    assert abs(bias_mc) < 3
    assert stats.chi2.ppf(0.001, zs.size) < np.sum(zs**2) < stats.chi2.ppf(0.999, zs.size)
    cover = np.mean(np.abs(zs) < stats.norm.ppf(0.975))
    assert abs(cover - 0.95) < 3 * np.sqrt(0.95 * 0.05 / zs.size)
