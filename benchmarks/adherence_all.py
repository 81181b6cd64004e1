"""Time every adherence analysis on one simulated cohort (default 10,000 patients, follow-up 78 weeks).

Run: python benchmarks/adherence_all.py [--n 10000] [--seed 2026]
Prints wall and CPU seconds per step (CPU: this process, all threads): on a shared machine the
wall time is the CPU time divided by the share of a core the process gets, so compare CPU times.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import (adherence_effect, adherence_metrics, adherence_trend, discontinuation, dose_response, fit_propensity,
                                         itt_per_protocol, table_one, weighted_comparison)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    c = simulate_cohort(args.n, seed=args.seed)
    print(f"{args.n} patients, {len(c.adherence):,} adherence rows")
    steps = {
        "metrics (weekly, per patient, per intervention)": lambda: adherence_metrics(c),
        "table one by supervised_physio": lambda: table_one(c),
        "discontinuation (exercise) KM + Cox": lambda: discontinuation(c, formula="supervised_physio + severity + smoking"),
        "discontinuation (AFO) KM by type": lambda: discontinuation(c, kind="afo", group="afo"),
        "propensity + weights + balance": lambda: fit_propensity(c, "supervised_physio", "C(cause) + C(severity) + age + diabetes"),
        "weighted comparison (Cox, KM; stacked-equation SEs)": lambda: weighted_comparison(fit_propensity(c, "supervised_physio", "C(cause) + C(severity) + age + diabetes")),
        "adherence effect, observed (naive + 2 tv Cox + tv cure)": lambda: adherence_effect(c),
        "adherence trend GEE (binomial, exchangeable, 52 weeks)": lambda: adherence_trend(c),
        "dose-response spline (tv Cox, latent)": lambda: dose_response(c),
        "ITT vs per-protocol (AFO, latent; IPTW + IPCW; sandwich SEs)": lambda: itt_per_protocol(c),
    }
    print(f"{'step':60s} {'wall s':>8s} {'CPU s':>8s}")
    for name, fn in steps.items():
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        print(f"{name:60s} {time.perf_counter() - t0:8.2f} {time.process_time() - c0:8.2f}", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
