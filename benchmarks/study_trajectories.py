"""Simulation study of the gait-speed mixed model: bias, SE ratio and 95% CI coverage.

Replicates are disjoint blocks of ``--per`` patients from one large simulated cohort (patients
are independent given the seed's site weights, which do not enter the gait model). Each block is
fitted with the default formula (the generator's model) by REML; fixed effects are compared
with ``cohort.truth`` (bias, empirical SD, mean model SE / empirical SD, coverage of the Wald
CI), and so are the variance components (Wald CIs on the log-SD / Fisher-z scale).

    python benchmarks/study_trajectories.py [--replicates 200] [--per 500] [--seed 31]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.trajectories import fit_trajectory, trajectory_frame

VC = ["sd_intercept", "sd_slope", "corr_intercept_slope", "sd_residual"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--per", type=int, default=500)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cohort = simulate_cohort(args.replicates * args.per, seed=args.seed)
    truth = cohort.truth.parameters
    truth = truth[truth["component"] == "gait_speed"].set_index("term")["value"]
    long = trajectory_frame(cohort)
    block = pd.factorize(long["patient_id"])[0] // args.per
    rows = []
    for r in tqdm(range(args.replicates), disable=args.no_progress, desc="replicates"):
        fit = fit_trajectory(long[block == r], "gait_speed")
        s = fit.summary.set_index("term")
        vc = fit.variance_components.set_index("component")
        for term in s.index:
            rows.append((r, "fixed", term, s.loc[term, "estimate"], s.loc[term, "se"], s.loc[term, "lower"], s.loc[term, "upper"], truth[term]))
        for comp in VC:
            est, lo, hi = vc.loc[comp, ["estimate", "lower", "upper"]]
            rows.append((r, "variance", comp, est, np.nan, lo, hi, truth[comp]))
    d = pd.DataFrame(rows, columns=["rep", "kind", "term", "estimate", "se", "lower", "upper", "truth"])
    d["covered"] = (d["lower"] <= d["truth"]) & (d["truth"] <= d["upper"])
    g = d.groupby(["kind", "term"], sort=False)
    out = pd.DataFrame({
        "truth": g["truth"].first(),
        "mean": g["estimate"].mean(),
        "bias": g["estimate"].mean() - g["truth"].first(),
        "emp_sd": g["estimate"].std(),
        "se_ratio": g["se"].mean() / g["estimate"].std(),
        "coverage": g["covered"].mean(),
    })
    pd.set_option("display.width", 160)
    print(out.round(4).to_string())
    fixed = d[d["kind"] == "fixed"]
    print(f"\nreplicates {args.replicates} x {args.per} patients, seed {args.seed}: "
          f"pooled coverage fixed effects {fixed['covered'].mean():.3f} ({len(fixed)} intervals), "
          f"variance components {d[d['kind'] == 'variance']['covered'].mean():.3f}; "
          f"max |bias| / emp_sd (fixed) {np.max(np.abs(out.loc['fixed', 'bias'] / out.loc['fixed', 'emp_sd'])):.3f}; "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
