"""Three-level trajectories (visits within patients within sites): truth study and fit times.

Part 1, truth (``--reps`` replicates, seeds 0..reps-1): hand-simulated multi-site data,
``y = 1 + 0.5 lw + 0.3 x + u0 + u1 lw + v0 [+ v1 lw] + e`` with patient SDs 0.4 / 0.1
(correlation -0.25), residual SD 0.3, site intercept SD 0.3 (and a site slope SD 0.1 in the
``site_random="slope"`` arm), ``--sites`` sites x ``--per-site`` patients x 5 visits. Printed per
parameter: mean estimate, bias in empirical SDs, mean model SE / empirical SD, Wald 95%
coverage, each with its Monte Carlo SE.

Part 2, fit time (``--n``): the lme4 reference design ``strength ~ lw * cause + severity +
(1 + lw | id) + (1 | site)`` on tests/data/r_reference_wave2/long_site.csv, resampled to 5k and
20k patients with new ids, assigned at random to 20 sites whose intercepts are shifted by
N(0, 0.4^2). Wall seconds of the whole ``fit_trajectory`` call, warm, median of ``--repeats``,
REML; the two-level fit of the same data beside it. lme4 times for the three-level model are not
in the issue; its two-level times (issue 16: 0.67 s at 5k, 2.9 s at 20k, same machine class) are
printed for scale.

    python benchmarks/study_three_level.py [--reps 200] [--sites 20] [--per-site 25]
                                           [--n 5000 20000] [--repeats 3] [--skip-study] [--skip-timing]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from footdrop_outcomes.trajectories import TrajectoryFitWarning, fit_trajectory

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "r_reference_wave2" / "long_site.csv"
R_TWO_LEVEL_SECONDS = {5000: 0.67, 20000: 2.9}  # lme4 1.1.31, (1 + lw | id), REML, from the issue
TRUTH_FIXED = {"Intercept": 1.0, "lw": 0.5, "x": 0.3}


def simulate(seed: int, n_sites: int, per_site: int, site_sd: float = 0.3, site_slope_sd: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_sites * per_site
    site = np.repeat(np.arange(n_sites), per_site)
    visits = np.array([1.0, 3, 6, 12, 26])
    ids = np.repeat(np.arange(n), visits.size)
    weeks = np.tile(visits, n) * rng.uniform(0.8, 1.2, ids.size)
    lw = np.log1p(weeks)
    xcov = rng.normal(size=n)[ids]
    u = rng.multivariate_normal([0, 0], [[0.4**2, -0.25 * 0.4 * 0.1], [-0.25 * 0.4 * 0.1, 0.1**2]], n)
    v0 = rng.normal(0, site_sd, n_sites)[site]
    v1 = rng.normal(0, site_slope_sd, n_sites)[site] if site_slope_sd > 0 else np.zeros(n)
    y = 1 + 0.5 * lw + 0.3 * xcov + u[ids, 0] + u[ids, 1] * lw + v0[ids] + v1[ids] * lw + rng.normal(0, 0.3, ids.size)
    return pd.DataFrame({"id": ids, "site": site[ids], "weeks": weeks, "x": xcov, "y": y})


def study(reps: int, n_sites: int, per_site: int, site_random: str) -> None:
    slope_sd = 0.1 if site_random == "slope" else 0.0
    truth = {**TRUTH_FIXED, "sd_intercept": 0.4, "sd_slope": 0.1, "corr_intercept_slope": -0.25,
             "sd_site_intercept": 0.3, "sd_residual": 0.3}
    if site_random == "slope":
        truth.update({"sd_site_slope": slope_sd, "corr_site_intercept_slope": 0.0})
    rows: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in truth}
    n_conv = n_boundary = 0
    t0 = time.perf_counter()
    for seed in range(reps):
        data = simulate(seed, n_sites, per_site, site_slope_sd=slope_sd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrajectoryFitWarning)
            fit = fit_trajectory(data, "y", "time + x", id_col="id", site_col="site", site_random=site_random)
        n_conv += fit.info["converged"]
        n_boundary += fit.info["boundary"]
        s = fit.summary.set_index("term")
        for term in TRUTH_FIXED:
            rows[term].append((s.loc[term, "estimate"], s.loc[term, "se"], s.loc[term, "lower"], s.loc[term, "upper"]))
        vc = fit.variance_components.set_index("component")
        for comp in truth:
            if comp in vc.index:
                rows[comp].append((vc.loc[comp, "estimate"], math.nan, vc.loc[comp, "lower"], vc.loc[comp, "upper"]))
    secs = time.perf_counter() - t0
    print(f"\n== truth study: site_random={site_random!r}, {reps} replicates x {n_sites} sites x {per_site} patients x 5 visits "
          f"({secs:.0f} s wall; converged {n_conv}/{reps}, boundary fits {n_boundary}) ==")
    print(f"{'parameter':<28}{'truth':>8}{'mean':>9}{'bias/SD':>9}{'(MCSE)':>8}{'SE/SD':>7}{'cover':>7}{'(MCSE)':>8}{'n CI':>6}")
    for name, vals in rows.items():
        a = np.array(vals, dtype=float)
        est, se, lo, hi = a.T
        sd = est.std(ddof=1)
        bias_sd = (est.mean() - truth[name]) / sd if sd > 0 else math.nan
        ok = np.isfinite(lo) & np.isfinite(hi)
        cover = float(np.mean((lo[ok] <= truth[name]) & (truth[name] <= hi[ok]))) if ok.any() else math.nan
        mcse_cover = math.sqrt(cover * (1 - cover) / ok.sum()) if ok.any() else math.nan
        ratio = float(np.nanmean(se) / sd) if np.isfinite(se).any() else math.nan
        print(f"{name:<28}{truth[name]:>8.3f}{est.mean():>9.4f}{bias_sd:>9.3f}{1 / math.sqrt(len(est)):>8.3f}"
              f"{ratio:>7.2f}{cover:>7.3f}{mcse_cover:>8.3f}{int(ok.sum()):>6}")


def r_design(n: int, seed: int, n_sites: int = 20) -> pd.DataFrame:
    base = pd.read_csv(REF)
    rng = np.random.default_rng(seed)
    ids = base["id"].unique()
    pick = rng.choice(ids, size=n, replace=True)
    groups = dict(tuple(base.groupby("id")))
    site = rng.integers(0, n_sites, n)
    shift = rng.normal(0, 0.4, n_sites)
    parts = [groups[i].assign(id=k, site=f"T{site[k]:02d}", strength=groups[i]["strength"] + shift[site[k]])
             for k, i in enumerate(pick)]
    out = pd.concat(parts, ignore_index=True)
    out["cause"] = pd.Categorical(out["cause"], categories=["compression", *sorted(set(out["cause"]) - {"compression"})])
    return out


def timing(sizes: list[int], repeats: int) -> None:
    print(f"\n== fit time (REML, whole fit_trajectory call, warm, median of {repeats}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start) ==")
    print(f"{'patients':>9}{'visits':>9}{'3-level':>9}{'2-level':>9}{'lme4 2-level':>14}{'evaluations':>13}"
          f"{'proj.grad':>11}{'sd_site':>9}")
    for n in sizes:
        data = r_design(n, seed=n)
        kw = {"id_col": "id", "time_col": "week"}
        fit_trajectory(data, "strength", "time * cause + severity", site_col="site", **kw)  # warm
        t3, t2 = [], []
        fit3 = fit2 = None
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit3 = fit_trajectory(data, "strength", "time * cause + severity", site_col="site", **kw)
            t3.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fit2 = fit_trajectory(data, "strength", "time * cause + severity", **kw)
            t2.append(time.perf_counter() - t0)
        assert fit3 is not None and fit2 is not None
        evals = sum(a["evaluations"] for a in fit3.info["attempts"])
        sd_site = math.sqrt(fit3.site.cov_re.iloc[0, 0])  # type: ignore[union-attr]
        print(f"{n:>9}{fit3.info['n']:>9}{statistics.median(t3):>9.3f}{statistics.median(t2):>9.3f}"
              f"{R_TWO_LEVEL_SECONDS.get(n, math.nan):>14.2f}{evals:>13}{fit3.info['projected_gradient']:>11.1e}{sd_site:>9.3f}")
    print("lme4's times are for the two-level model (the issue gives none for three levels); the machine is shared, "
          "so wall times carry a factor of up to ~2 of noise.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--slope-reps", type=int, default=100)
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--per-site", type=int, default=25)
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-study", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    if not args.skip_timing:
        timing(args.n, args.repeats)
    if not args.skip_study:
        study(args.reps, args.sites, args.per_site, "intercept")
        if args.slope_reps:
            study(args.slope_reps, args.sites, args.per_site, "slope")


if __name__ == "__main__":
    main()
