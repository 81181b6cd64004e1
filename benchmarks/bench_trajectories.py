"""Fit time of the random intercept + slope mixed model at 1k / 5k / 20k patients.

Two designs, each fitted by the fast engine (profiled REML over per-patient blocks) and by
statsmodels MixedLM through the same function (``engine="statsmodels"``):

* ``R design``: ``strength ~ lw * cause + severity + (1 + lw | id)`` (12 fixed effects), the
  model and data of the lme4 reference timings (tests/data/r_reference/long.csv, 1,000 patients,
  5.6 visits each); 5k and 20k are made by resampling its patients with new ids;
* ``gait design``: the simulator's gait-speed model (24 fixed effects) on simulated cohorts
  (about 5.3 visits with gait speed per patient).

Times are wall-clock seconds of the whole ``fit_trajectory`` call (input checks, design matrix,
fit, summary tables), warm, median of ``--repeats`` for the fast engine and one run for
statsmodels. The log-likelihoods of both engines are printed with their relative difference.

    python benchmarks/bench_trajectories.py [--n 1000 5000 20000] [--repeats 3] [--skip-statsmodels]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.trajectories import TrajectoryFitWarning, fit_trajectory, trajectory_frame

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "r_reference" / "long.csv"
R_SECONDS = {1000: 0.17, 5000: 0.67, 20000: 2.9}  # lme4 1.1.31, REML, from the issue
SM_SECONDS = {1000: 2.3, 5000: 13.7, 20000: 37.9}  # statsmodels out of the box, from the issue


def r_design(n: int, seed: int) -> pd.DataFrame:
    base = pd.read_csv(REF)
    if n == base["id"].nunique():
        return base
    rng = np.random.default_rng(seed)
    ids = base["id"].unique()
    pick = rng.choice(ids, size=n, replace=True)
    groups = dict(tuple(base.groupby("id")))
    parts = [groups[i].assign(id=k) for k, i in enumerate(pick)]
    return pd.concat(parts, ignore_index=True)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-statsmodels", action="store_true")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    header = f"{'design':<12} {'n':>6} {'visits':>7} {'fast s':>8} {'statsmodels s':>14} {'lme4 s':>7} {'logLik fast':>14} {'rel diff':>9} {'max |db|':>9}"
    print(header)
    print("-" * len(header))
    for design in ("R design", "gait design"):
        for n in args.n:
            if design == "R design":
                data = r_design(n, args.seed)
                kw = dict(outcome="strength", formula="time * cause + severity", id_col="id", time_col="week")
            else:
                data = trajectory_frame(simulate_cohort(n, seed=args.seed))
                kw = dict(outcome="gait_speed")
            fit_trajectory(data, **kw)  # warm-up (imports, caches)
            t_fast, fast = timed(lambda: fit_trajectory(data, **kw), args.repeats)
            t_sm, rel, db = float("nan"), float("nan"), float("nan")
            if not args.skip_statsmodels:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TrajectoryFitWarning)
                    t_sm, sm = timed(lambda: fit_trajectory(data, engine="statsmodels", progress=False, **kw), 1)
                rel = abs(fast.log_likelihood - sm.info["statsmodels_llf"]) / abs(sm.info["statsmodels_llf"])
                db = float(np.max(np.abs(fast.params.to_numpy() - np.asarray(sm.info["statsmodels_beta"]))))
            r = f"{R_SECONDS.get(n, float('nan')):.2f}" if design == "R design" else "—"
            print(f"{design:<12} {n:>6} {fast.info['n']:>7} {t_fast:>8.3f} {t_sm:>14.2f} {r:>7} "
                  f"{fast.log_likelihood:>14.3f} {rel:>9.1e} {db:>9.1e}", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
