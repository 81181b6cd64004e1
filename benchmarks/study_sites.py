"""Multi-site checks against the simulator's truth (issue 18), printed as Markdown.

Parts:

* ``null``: no site effect (``site_frailty_sd = 0``): share of site-horizon points outside the
  95% and 99.8% funnel limits, for each over-dispersion handling, with Monte Carlo SEs (nominal
  5% and 0.2%).
* ``frailty``: a true site frailty (``site_frailty_sd``): of the sites flagged above (below) the
  99.8% and 95% limits, the share whose true frailty is the highest (lowest) of the sites, against
  the chance share 1 / n_sites; and the detection rate of a planted outlier site.
* ``federated``: two-stage (site summaries, REML meta-analysis) vs the pooled site-stratified Cox
  log HR of supervised physiotherapy on 10-site cohorts: share of replicates with
  ``|federated - pooled| < SE(federated)``.

Usage: ``python benchmarks/study_sites.py --part null --reps 500 --n 3000 --seed 2026``.
Each replicate simulates a cohort (one process, plain loop).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.sites import (
    combine_sites,
    compare_sites,
    simulated_site_log_frailty,
    site_summary,
)
from footdrop_outcomes.survival import fit_cox, survival_frame


def _share(k: int, n: int) -> str:
    p = k / n if n else float("nan")
    return f"{p:.4f} (MC SE {np.sqrt(p * (1 - p) / n) if n else float('nan'):.4f}, {k}/{n})"


def part_null(reps: int, n: int, seed: int) -> None:
    modes = ("none", "multiplicative", "additive")
    counts = {m: {"95": 0, "998": 0, "total": 0} for m in modes}
    for r in range(reps):
        frame = survival_frame(simulate_cohort(n, seed + r))
        for m in modes:
            s = compare_sites(frame, overdispersion=m, n_draws=10, seed=r).summary
            counts[m]["95"] += int((s["flag_95"] != "").sum())
            counts[m]["998"] += int((s["flag_998"] != "").sum())
            counts[m]["total"] += len(s)
    print(f"## No site effect: share of site-horizon points outside the limits ({reps} cohorts of {n}, 8 sites, 2 horizons)\n")
    print("| over-dispersion | outside 95% (nominal 0.05) | outside 99.8% (nominal 0.002) |\n|---|---|---|")
    for m in modes:
        c = counts[m]
        print(f"| {m} | {_share(c['95'], c['total'])} | {_share(c['998'], c['total'])} |")


def part_frailty(reps: int, n: int, seed: int, sd: float, outlier: float) -> None:
    cfg = SimulationConfig(site_frailty_sd=sd)
    modes = ("none", "additive")
    hits = {(m, lev): {"extreme": 0, "flagged": 0} for m in modes for lev in ("95", "998")}
    detect = {(m, lev): 0 for m in modes for lev in ("95", "998")}
    n_sites = cfg.n_sites
    for r in range(reps):
        s_seed = seed + r
        truth = simulated_site_log_frailty(s_seed, cfg)
        order = sorted(truth, key=truth.get)
        lowest, highest = order[0], order[-1]
        frame = survival_frame(simulate_cohort(n, s_seed, cfg))
        for m in modes:
            res = compare_sites(frame, overdispersion=m, n_draws=10, seed=r).summary
            res = res[res["horizon"] == "12 weeks"]
            for lev in ("95", "998"):
                f = res[res[f"flag_{lev}"] != ""]
                for _, row in f.iterrows():
                    hits[m, lev]["flagged"] += 1
                    hits[m, lev]["extreme"] += int(row["site"] == (highest if row[f"flag_{lev}"] == "above" else lowest))
    print(f"\n## True site frailty (SD {sd} on the log hazard; {reps} cohorts of {n}, 8 sites, 12-week horizon)\n")
    print(f"Share of flagged sites that are the truly most extreme site in the flagged direction (chance 1/{n_sites} = {1 / n_sites:.3f}):\n")
    print(f"| over-dispersion | limits | flagged site-replicates (of {reps * n_sites}) | share truly most extreme |\n|---|---|---|---|")
    for m in modes:
        for lev in ("95", "998"):
            h = hits[m, lev]
            print(f"| {m} | {'95%' if lev == '95' else '99.8%'} | {h['flagged']} | {_share(h['extreme'], h['flagged'])} |")
    if outlier:
        # planted outlier: no site frailty, then site S01's recovery clock is sped up
        for r in range(reps):
            f = survival_frame(simulate_cohort(n, seed + 10_000 + r))
            # hazard multiplied by exp(outlier) under the simulator's Weibull shape 3 means times
            # divided by exp(outlier / 3) (follow-up too: the whole site clock runs faster)
            mask = (f["site"].astype(str) == "S01").to_numpy()
            f.loc[mask, "time"] = f.loc[mask, "time"] / np.exp(outlier / 3.0)
            for m in modes:
                res = compare_sites(f, overdispersion=m, n_draws=10, seed=r).summary
                row = res[(res["horizon"] == "12 weeks") & (res["site"] == "S01")].iloc[0]
                for lev in ("95", "998"):
                    detect[m, lev] += int(row[f"flag_{lev}"] == "above")
        print(f"\nPlanted outlier (site S01, recovery times divided by exp({outlier}/3): a hazard ratio of about "
              f"{np.exp(outlier):.2f} under the Weibull shape 3, visit-time rounding ignored), detection rate at 12 weeks:\n")
        print("| over-dispersion | 95% | 99.8% |\n|---|---|---|")
        for m in modes:
            print(f"| {m} | {_share(detect[m, '95'], reps)} | {_share(detect[m, '998'], reps)} |")


def part_federated(reps: int, n: int, seed: int) -> None:
    within, diffs, ses = 0, [], []
    formula = "supervised_physio + severity + age"
    for r in range(reps):
        frame = survival_frame(simulate_cohort(n, seed + r, SimulationConfig(n_sites=10)))
        sums = [site_summary(frame[frame["site"] == s], site=str(s), formula=formula, strata="cause")
                for s in sorted(frame["site"].astype(str).unique())]
        fed = combine_sites(sums, term="supervised_physio").summary.iloc[0]
        pooled = fit_cox(frame, formula, strata=["cause", "site"]).params["supervised_physio"]
        within += int(abs(fed["estimate"] - pooled) < fed["se"])
        diffs.append(fed["estimate"] - pooled)
        ses.append(fed["se"])
    print(f"\n## Federated vs pooled (10 sites, {reps} cohorts of {n}): supervised physiotherapy log HR\n")
    print(f"|federated - pooled| < SE(federated): {_share(within, reps)}; mean difference {np.mean(diffs):.4f}, "
          f"largest |difference| {np.max(np.abs(diffs)):.4f}, mean SE {np.mean(ses):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("null", "frailty", "federated", "all"), default="all")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--sd", type=float, default=0.4)
    ap.add_argument("--outlier", type=float, default=0.4)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    if a.part in ("null", "all"):
        part_null(a.reps, a.n, a.seed)
    if a.part in ("frailty", "all"):
        part_frailty(a.reps, a.n, a.seed, a.sd, a.outlier)
    if a.part in ("federated", "all"):
        part_federated(max(1, a.reps // 10), a.n, a.seed)
    print(f"\n({time.perf_counter() - t0:.0f} s wall, on a shared machine)")


if __name__ == "__main__":
    main()
