"""Simulation study: bias and 95% CI coverage of the mixture cure model against the generator's truth.

Each replicate simulates a cohort with the default :class:`SimulationConfig` except
``adherence_log_hr = 0`` (so the latency is an exact Weibull PH = AFT model with shape 3),
drops ALS (never recovers), fits :func:`fit_cure_model` with the generator's linear predictors
and compares every parameter, and the fraction never recovering by cause, with the truth.

Usage::

    python benchmarks/study_cure_model.py --reps 100 --n 5000 [--seed0 1000] [--out study.csv]

Prints, per parameter: truth, mean estimate, bias, bias / empirical SD, empirical SD, mean SE,
coverage of the 95% CI (with its Monte-Carlo SE), and the same for cure fractions by cause
(truth: the mean of the true 1 - P(recover) over the replicate's patients of that cause).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np
import pandas as pd
from scipy.special import logit

from footdrop_outcomes import SimulationConfig, simulate_cohort
from footdrop_outcomes.survival._input import survival_frame
from footdrop_outcomes.survival.parametric import fit_cure_model

INCIDENCE = "cause + severity + age10 + diabetes + delay30"
LATENCY = "cause + severity + age10 + diabetes + hba1c7 + smoking + delay30 + supervised_physio + surgery_any"
REF = "peroneal_compression"


def truth_params(cfg: SimulationConfig) -> pd.Series:
    """The generator's parameters on the model's scale (logit incidence, AFT latency)."""
    k = cfg.weibull_shape
    rp, inc, lat, med = cfg.recovery_probability, cfg.incidence_log_or, cfg.latency_log_hr, cfg.median_recovery_weeks
    t = {"incidence:Intercept": logit(rp[REF]), "latency:Intercept": math.log(med[REF]) - math.log(math.log(2)) / k}
    for c in ("lumbar_radiculopathy", "stroke", "multiple_sclerosis", "peripheral_neuropathy", "post_surgical_hip_knee", "post_surgical_spine"):
        t[f"incidence:cause[{c}]"] = logit(rp[c]) - logit(rp[REF])
        t[f"latency:cause[{c}]"] = math.log(med[c] / med[REF])
    for name, key in (("severity[moderate]", "severity[moderate]"), ("severity[severe]", "severity[severe]"),
                      ("age10", "age_per_10y"), ("diabetes", "diabetes"), ("delay30", "delay_per_30d")):
        t[f"incidence:{name}"] = inc[key]
    for name, key in (("severity[moderate]", "severity[moderate]"), ("severity[severe]", "severity[severe]"),
                      ("age10", "age_per_10y"), ("diabetes", "diabetes"), ("hba1c7", "hba1c_per_1pct_above_7"),
                      ("smoking[former]", "smoking[former]"), ("smoking[current]", "smoking[current]"),
                      ("delay30", "delay_per_30d"), ("supervised_physio", "supervised_physio"), ("surgery_any", "surgery")):
        t[f"latency:{name}"] = -lat[key] / k  # AFT coefficient = -log HR / shape
    t["latency:log(scale)"] = -math.log(k)  # scale = 1 / shape
    return pd.Series(t)


def analysis_frame(cohort) -> pd.DataFrame:
    """Survival frame without ALS, with the generator's covariate codings."""
    df = survival_frame(cohort, time_unit="weeks")
    df = df[df["cause"] != "als"].copy()
    df["age10"] = (df["age"] - 60) / 10
    df["delay30"] = df["days_to_treatment"] / 30
    df["hba1c7"] = np.where(df["diabetes"], np.maximum(df["hba1c"].fillna(0.0) - 7.0, 0.0), 0.0)
    df["surgery_any"] = df["surgery"].isin(["decompression", "nerve_repair_graft"])  # as the generator
    return df


def one_replicate(n: int, seed: int, cfg: SimulationConfig, truth: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    cohort = simulate_cohort(n, seed, cfg)
    df = analysis_frame(cohort)
    t0 = time.perf_counter()
    fit = fit_cure_model(df, incidence_formula=INCIDENCE, latency_formula=LATENCY)
    elapsed = time.perf_counter() - t0
    se = np.sqrt(np.diag(fit.cov.to_numpy()))
    est = fit.params
    tv = truth[est.index]
    par = pd.DataFrame({"seed": seed, "param": est.index, "truth": tv.to_numpy(), "est": est.to_numpy(), "se": se,
                        "covered": np.abs(est.to_numpy() - tv.to_numpy()) <= 1.959964 * se})
    cf = fit.cure_fractions(by=["cause"])
    p_true = cohort.truth.patients.set_index("patient_id")["recovery_probability"]
    tr = (1 - p_true.reindex(df["patient_id"].astype(str)).to_numpy())
    true_cf = pd.Series(tr, index=df["cause"].astype(str).to_numpy()).groupby(level=0).mean()
    cf["truth"] = true_cf.reindex(cf["cause"].astype(str)).to_numpy()
    cf["covered"] = (cf["lower"] <= cf["truth"]) & (cf["truth"] <= cf["upper"])
    cf["seed"] = seed
    return par, cf, elapsed


def summarise(par: pd.DataFrame) -> pd.DataFrame:
    g = par.groupby("param", sort=False)
    out = pd.DataFrame({
        "truth": g["truth"].first(), "mean_est": g["est"].mean(), "bias": g["est"].mean() - g["truth"].first(),
        "emp_sd": g["est"].std(), "mean_se": g["se"].mean(), "coverage": g["covered"].mean(),
    })
    out["bias_over_sd"] = out["bias"] / out["emp_sd"]
    out["coverage_mcse"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / g.size())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed0", type=int, default=1000)
    ap.add_argument("--out", default=None, help="write the per-replicate parameter table to this CSV")
    args = ap.parse_args()
    cfg = dataclasses.replace(SimulationConfig(), adherence_log_hr=0.0)
    truth = truth_params(cfg)
    pars, cfs, times = [], [], []
    t0 = time.perf_counter()
    for r in range(args.reps):
        par, cf, el = one_replicate(args.n, args.seed0 + r, cfg, truth)
        pars.append(par)
        cfs.append(cf)
        times.append(el)
    par = pd.concat(pars, ignore_index=True)
    cf = pd.concat(cfs, ignore_index=True)
    if args.out:
        par.to_csv(args.out, index=False)
    pd.set_option("display.width", 200)
    s = summarise(par)
    print(f"{args.reps} replicates, n = {args.n} (ALS dropped), seeds {args.seed0}..{args.seed0 + args.reps - 1}; "
          f"total {time.perf_counter() - t0:.0f} s, fit median {np.median(times):.3f} s")
    print(s.round(4).to_string())
    print(f"\nall parameters: mean coverage {s['coverage'].mean():.3f}; range {s['coverage'].min():.2f} to {s['coverage'].max():.2f}; "
          f"max |bias| / emp SD {s['bias_over_sd'].abs().max():.2f}; mean SE / emp SD {np.mean(s['mean_se'] / s['emp_sd']):.3f}")
    g = cf.groupby("cause", observed=True)
    cfs_sum = pd.DataFrame({"mean_truth": g["truth"].mean(), "mean_est": g["cure_fraction"].mean(),
                            "bias": g["cure_fraction"].mean() - g["truth"].mean(), "coverage": g["covered"].mean()})
    print("\nfraction never recovering by cause (truth: mean true 1 - P(recover) over the replicate's patients)")
    print(cfs_sum.round(4).to_string())


if __name__ == "__main__":
    main()
