"""Power examples that change because of simulator v2: two trials, before (v1) and after (v2).

Usage::

    python benchmarks/power_examples.py [--replicates 200] [--pool 30000] [--seed 2026]

Plain loops (the studies layer's ``trial`` design has its own generator, not the v2 cohort model),
standing on the generators themselves: a large cohort is simulated per arm and generator version,
the patients a trial would enrol are selected, and each replicate trial draws ``n`` of them per
arm (without replacement within a trial, independently between trials). Power is the share of
replicates with p < 0.05 (two-sided), with its Monte Carlo SE ``sqrt(p (1 - p) / R)``.

1. **FES vs AFO in chronic stroke.** Stroke patients who still have a foot drop (latent strength
   below MRC 4) and can walk (device-off speed >= 0.1 m/s) 26 weeks after onset are randomised 1:1
   to FES or an AFO, fitted at enrolment; gait speed is measured device-off and device-on at
   enrolment and 6 and 30 weeks later (measurement error as in the generator; dropout by arm as in
   v2). v2 (natural recovery from the truth, ``latent_stroke_gait(..., with_training=False)``):
   off = natural x (1 + training effect of the weeks of use), on = off x (1 + orthotic effect).
   v1 has one speed: the mixed model of section 6, with FES a constant +0.06 m/s and nothing
   else. Analyses:

   * A, FES vs AFO: week-30 device-on speed, ANCOVA on the enrolment device-off speed;
   * B, orthotic effect: device-on minus device-off at enrolment (paired t-test, all patients);
   * C, training effect: device-off speed at week 30 minus at enrolment (paired t-test).

2. **Early vs late decompression of the peroneal nerve.** Peroneal palsies without red flags,
   all decompressed, randomised to surgery 30 or 120 days after onset; the outcome is the time
   from surgery to the first visit graded MRC >= 4 (censored at the last visit), compared with a
   log-rank test. v2 times recovery from surgery and makes it depend on the deficit duration;
   v1 times recovery from onset (the delay has only small effects), so late surgery looks better
   when timed from the operation. Patients already graded MRC >= 4 at the pre-operative visit
   would not be operated and are left out.

Timings and every figure printed are from this machine as it was (shared, busy).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
from lifelines.statistics import logrank_test
from scipy import stats

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.cohort.simulate_v2 import (
    SimulationConfigV2,
    latent_strength,
    latent_stroke_gait,
)
from footdrop_outcomes.cohort.vocabulary import CAUSES

SIZES = (10, 25, 50, 100, 200, 300)
ENROL_WEEK = 26
FOLLOW_WEEKS = (0, 6, 30)


def _only(cause: str) -> dict[str, float]:
    return {c: (1.0 if c == cause else 0.0) for c in CAUSES}


# ------------------------------------------------------------------------------------------------
# 1. FES vs AFO in chronic stroke


def _stroke_pool_v2(n: int, seed: int) -> pd.DataFrame:
    """Latent device-free walking of eligible chronic stroke patients at the trial visits (v2)."""
    cfg = SimulationConfigV2(cause_mix=_only("stroke"))
    c = simulate_cohort(n, seed, cfg)
    day0 = ENROL_WEEK * 7.0
    eligible = (latent_strength(c, day0) < 4) & (latent_stroke_gait(c, day0, with_training=False) >= 0.1)
    out = {f"natural_{w}": latent_stroke_gait(c, day0 + 7.0 * w, with_training=False)[eligible] for w in FOLLOW_WEEKS}
    return pd.DataFrame(out)


def _stroke_pool_v1(n: int, seed: int) -> pd.DataFrame:
    """The v1 mixed-model gait speed of the same kind of patients (no device term yet)."""
    cfg = SimulationConfig(cause_mix=_only("stroke"))
    c = simulate_cohort(n, seed, cfg)
    p, t, g = c.patients, c.truth.patients, cfg.gait_fixed
    sev = p["severity"].astype(str).to_numpy()
    day0 = ENROL_WEEK * 7.0
    eligible = ~(t["will_recover"].to_numpy(bool) & (t["latent_recovery_day"].to_numpy() <= day0))
    sev_int = np.select([sev == "moderate", sev == "severe"], [g["severity[moderate]"], g["severity[severe]"]], 0.0)
    sev_slope = np.select([sev == "moderate", sev == "severe"], [g["lw:severity[moderate]"], g["lw:severity[severe]"]], 0.0)
    intercept = (g["Intercept"] + g["cause[stroke]"] + sev_int + g["age_c"] * (p["age"].to_numpy() - 60) / 10
                 + g["diabetes"] * p["diabetes"].to_numpy(bool) + g["current_smoker"] * (p["smoking"].astype(str) == "current").to_numpy()
                 + t["gait_u0"].to_numpy())
    slope = g["lw"] + g["lw:cause[stroke]"] + sev_slope + t["gait_u1"].to_numpy()
    out = {f"natural_{w}": np.clip(intercept + slope * math.log1p(ENROL_WEEK + w), 0.05, 2.5)[eligible] for w in FOLLOW_WEEKS}
    df = pd.DataFrame(out)
    return df[df["natural_0"] >= 0.1].reset_index(drop=True)


def _stroke_trial(pool: pd.DataFrame, n: int, rng: np.random.Generator, version: int) -> dict[str, float]:
    """One FES-vs-AFO trial of n per arm: p-values of analyses A, B, C and the estimates."""
    cfg = SimulationConfigV2()
    idx = rng.choice(len(pool), size=2 * n, replace=False)
    d = pool.iloc[idx].reset_index(drop=True)
    arm_fes = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    on, off = {}, {}
    for w in FOLLOW_WEEKS:
        nat = d[f"natural_{w}"].to_numpy()
        if version == 2:
            theta = np.where(arm_fes, cfg.device_training_relative["fes"], cfg.device_training_relative["afo"])
            omega = np.where(arm_fes, cfg.device_orthotic_relative["fes"], cfg.device_orthotic_relative["afo"])
            lat_off = nat * (1 + theta * (1 - math.exp(-w / cfg.device_training_weeks)))
            lat_on = lat_off * (1 + omega)
            off[w] = lat_off * (1 + cfg.gait_measurement_cv * rng.normal(size=2 * n))
            on[w] = lat_on * (1 + cfg.gait_measurement_cv * rng.normal(size=2 * n))
        else:  # v1: one speed; FES a constant offset once fitted, nothing for the AFO
            sd = SimulationConfig().gait_sd_residual
            off[w] = nat + sd * rng.normal(size=2 * n)
            on[w] = nat + SimulationConfig().gait_fixed["fes"] * arm_fes + sd * rng.normal(size=2 * n)
    # dropout by week 30 (v2: exponential by arm, FASTEST-calibrated; v1: 15% by 78 weeks for all)
    if version == 2:
        base = -math.log(1 - cfg.dropout_by_end) / (cfg.followup_weeks * 7)
        rate = base * np.exp(np.where(arm_fes, cfg.dropout_log_hr["fes"], cfg.dropout_log_hr["afo"]))
    else:
        rate = np.full(2 * n, -math.log(1 - 0.15) / (78 * 7))
    complete = rng.exponential(1.0, 2 * n) / rate > 30 * 7
    # A: ANCOVA of week-30 device-on speed on arm, adjusted for the enrolment device-off speed
    y, x0, a = on[30][complete], off[0][complete], arm_fes[complete].astype(float)
    X = np.column_stack([np.ones_like(y), a, x0])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = len(y) - 3
    cov = (resid @ resid / dof) * np.linalg.inv(X.T @ X)
    p_a = 2 * stats.t.sf(abs(beta[1] / math.sqrt(cov[1, 1])), dof)
    p_b = stats.ttest_rel(on[0], off[0]).pvalue
    p_c = stats.ttest_rel(off[30][complete], off[0][complete]).pvalue
    return {"p_A": p_a, "p_B": p_b, "p_C": p_c, "est_A": beta[1], "est_B": float(np.mean(on[0] - off[0])),
            "est_C": float(np.mean(off[30][complete] - off[0][complete])), "completed": float(complete.mean())}


# ------------------------------------------------------------------------------------------------
# 2. early vs late decompression


def _decompression_pool(version: int, delay: int, n: int, seed: int) -> tuple[pd.DataFrame, int]:
    """Observed time from surgery to the first visit at MRC >= 4 (days), the event flag and latent truth; operated count."""
    if version == 2:
        cfg2 = SimulationConfigV2(cause_mix=_only("peroneal_compression"), peroneal_decompression_logit=(20.0, 0.0, 0.0, 0.0),
                                  peroneal_surgery_delay=(1.0, float(delay), float(delay), 0.0))
        c = simulate_cohort(n, seed, cfg2)
    else:
        med = dict(SimulationConfig().median_days_to_treatment, peroneal_compression=float(delay))
        cfg1 = SimulationConfig(cause_mix=_only("peroneal_compression"), median_days_to_treatment=med, sd_log_days_to_treatment=0.0)
        c = simulate_cohort(n, seed, cfg1)
    p = c.patients
    keep = (p["surgery"].astype(str) == "decompression").to_numpy() & ~p["red_flag_rapid_worsening"].to_numpy(bool)
    ids = np.flatnonzero(keep)
    surgery = p["days_to_treatment"].to_numpy(dtype=float)
    v = c.visits
    row = v["patient_id"].cat.codes.to_numpy()
    day = v["day"].to_numpy().astype(float)
    mrc = v["mrc"].to_numpy()
    first_visit = np.full(len(p), np.nan)
    pre = day == surgery[row]  # the pre-operative assessment (the treatment-day visit)
    first_visit[row[pre]] = mrc[pre]
    after = day > surgery[row]
    hit = after & (mrc >= 4)
    first = np.full(len(p), np.inf)
    np.minimum.at(first, row[hit], day[hit])
    last = np.full(len(p), -np.inf)
    np.maximum.at(last, row[after], day[after])
    event = np.isfinite(first)
    t = np.where(event, first, last) - surgery
    ok = keep & (first_visit < 4) & np.isfinite(t) & (t > 0)
    truth = c.truth.patients
    lat = truth["latent_recovery_day"].to_numpy() - surgery
    return pd.DataFrame({"time": t[ok], "event": event[ok], "latent_from_surgery": lat[ok],
                         "recovers": truth["will_recover"].to_numpy(bool)[ok]}).reset_index(drop=True), len(ids)


def _expected_events(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Events expected in arm b under no difference (log-rank), for the direction of the effect."""
    t = np.r_[a["time"].to_numpy(), b["time"].to_numpy()]
    e = np.r_[a["event"].to_numpy(), b["event"].to_numpy()].astype(bool)
    in_b = np.r_[np.zeros(len(a), bool), np.ones(len(b), bool)]
    exp = 0.0
    for u in np.unique(t[e]):
        at_risk = t >= u
        exp += np.sum(e & (t == u)) * np.sum(at_risk & in_b) / np.sum(at_risk)
    return exp


def _decompression_trial(early: pd.DataFrame, late: pd.DataFrame, n: int, rng: np.random.Generator) -> dict[str, float]:
    a = early.iloc[rng.choice(len(early), n, replace=False)]
    b = late.iloc[rng.choice(len(late), n, replace=False)]
    res = logrank_test(a["time"], b["time"], a["event"], b["event"])
    # direction of a significant result: late surgery recovering sooner (more observed events than expected)
    late_better = res.p_value < 0.05 and (b["event"].sum() > _expected_events(a, b))
    return {"p": float(res.p_value), "late_better": float(late_better),
            "events_early": float(a["event"].mean()), "events_late": float(b["event"].mean())}


# ------------------------------------------------------------------------------------------------


def _power(ps: np.ndarray) -> tuple[float, float]:
    p = float(np.mean(ps < 0.05))
    return p, math.sqrt(p * (1 - p) / len(ps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--pool", type=int, default=30_000, help="patients simulated per arm and version")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    R = args.replicates
    t0 = time.perf_counter()

    print(f"1. FES vs AFO in chronic stroke (enrolment {ENROL_WEEK} weeks after onset; visits at weeks {FOLLOW_WEEKS} after it)")
    rows = []
    for version in (1, 2):
        pool = (_stroke_pool_v1 if version == 1 else _stroke_pool_v2)(args.pool, args.seed)
        rng = np.random.default_rng([args.seed, version, 1])
        for n in SIZES:
            if 2 * n > len(pool):
                continue
            res = pd.DataFrame([_stroke_trial(pool, n, rng, version) for _ in range(R)])
            for key, label in (("A", "FES vs AFO, week-30 on-speed (ANCOVA)"), ("B", "orthotic effect on - off at enrolment"),
                               ("C", "training effect, off-speed week 30 - 0")):
                pw, se = _power(res[f"p_{key}"].to_numpy())
                rows.append({"generator": f"v{version}", "analysis": label, "n_per_arm": n, "power": pw, "mc_se": se,
                             "mean_estimate_m_s": res[f"est_{key}"].mean(), "completed_30wk": res["completed"].mean(),
                             "eligible_pool": len(pool)})
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.float_format", "{:.3f}".format):
        print(pd.DataFrame(rows).to_string(index=False))

    print("\n2. Early (30 days) vs late (120 days) peroneal decompression: time from surgery to MRC >= 4, log-rank")
    rows = []
    for version in (1, 2):
        early, n_early = _decompression_pool(version, 30, args.pool, args.seed)
        late, n_late = _decompression_pool(version, 120, args.pool, args.seed + 1)
        print(f"  v{version}: decompressed without red flags early {n_early:,} / late {n_late:,}; still MRC < 4 at the "
              "pre-operative visit (analysed):", end="")
        rng = np.random.default_rng([args.seed, version, 2])
        summary = (f" early {len(early):,} / late {len(late):,}; latent share recovering "
                   f"{early['recovers'].mean():.3f} vs {late['recovers'].mean():.3f}; median latent days from surgery among recovering "
                   f"{np.median(early['latent_from_surgery'][early['recovers']]):.0f} vs {np.median(late['latent_from_surgery'][late['recovers']]):.0f}; "
                   f"observed MRC >= 4 by the last visit {early['event'].mean():.3f} vs {late['event'].mean():.3f}")
        print(summary)
        for n in SIZES:
            if n > min(len(early), len(late)):
                continue
            res = pd.DataFrame([_decompression_trial(early, late, n, rng) for _ in range(R)])
            pw, se = _power(res["p"].to_numpy())
            rows.append({"generator": f"v{version}", "n_per_arm": n, "power": pw, "mc_se": se,
                         "significant_late_better": res["late_better"].mean(),
                         "recovered_early": res["events_early"].mean(), "recovered_late": res["events_late"].mean()})
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(pd.DataFrame(rows).to_string(index=False))
    print(f"\n{R} replicate trials per cell; pools of {args.pool:,} simulated patients per arm and version; seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s on this (shared) machine")


if __name__ == "__main__":
    main()
