"""Coverage of Turnbull's median CIs against the latent truth: where shown, nominal; elsewhere withheld.

Run: python benchmarks/study_turnbull_coverage.py [--reps 400] [--n 200] [--seed 2026] [--cohort]

Three kinds of data, each with a known latent recovery-time distribution (median of *all*
patients, non-recoverers counted as never recovering):

* ``dense``: visits every 1-3 weeks (random per patient) from onset to 60 weeks, 20% never
  recover, Weibull recovery times (median of all patients 13.0 weeks): the median is
  identified, so it should be shown as a point with a CI covering the truth in about 95% of
  replicates (two-sided 95% binomial bounds printed);
* ``dense, late entry``: the same with first contact uniform on 0-8 weeks, patients recovered
  before first contact not in the data (a referral cohort), analysed with ``entry_col``;
  and ignoring entry, for the bias;
* ``cohort``: the package's simulator (visits at about 2, 6, 12, 26, 52, 78 weeks with jitter):
  medians mostly fall between visit windows and must not be shown as points.

Prints per scenario and identification: replicates, coverage, its Monte Carlo SE, the binomial
bounds for a nominal 95%, the median CI width and the mean estimate minus the truth.
Timings on a busy shared machine are indicative only.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binom

from footdrop_outcomes.errors import ConvergenceError
from footdrop_outcomes.survival import turnbull

SHAPE, SCALE, CURE = 1.6, 14.0, 0.2
FOLLOWUP = 60.0


def dense_truth() -> float:
    """Median of all patients: F(t) = (1 - CURE) (1 - exp(-(t / SCALE)^SHAPE)) = 1/2."""
    q = 0.5 / (1 - CURE)
    return float(SCALE * (-np.log(1 - q)) ** (1 / SHAPE))


def dense_sample(rng: np.random.Generator, n: int, *, late_entry: bool = False) -> pd.DataFrame:
    """Interval-censored recovery with visits every 1-3 weeks; with late entry, a referral cohort."""
    rows: list[tuple[float, float, float]] = []
    while len(rows) < n:
        t = np.where(rng.random() < CURE, np.inf, SCALE * rng.weibull(SHAPE))
        entry = rng.uniform(0, 8) if late_entry else 0.0
        if t <= entry:  # recovered before first contact: never referred
            continue
        visits = entry + np.cumsum(np.r_[0.0, rng.uniform(1, 3, 40)])
        visits = visits[visits <= FOLLOWUP]
        after = np.flatnonzero(visits >= t)
        if after.size:
            lo, up = (visits[after[0] - 1] if after[0] > 0 else entry), visits[after[0]]
        else:
            lo, up = visits[-1], np.inf
        rows.append((lo, up, entry))
    return pd.DataFrame(rows, columns=["lower", "upper", "entry"])


def covers(lower: float, upper: float, truth: float) -> bool:
    lo = lower if np.isfinite(lower) else -np.inf
    up = upper if np.isfinite(upper) else np.inf
    return bool(lo <= truth <= up)


def summarise(res: pd.DataFrame) -> pd.DataFrame:
    out = (res.groupby(["scenario", "identification"], sort=False)
           .agg(truth=("truth", "first"), reps=("cover", "size"), coverage=("cover", "mean"),
                ci_width=("ci_width", "median"), bias=("error", "mean")).reset_index())
    out["mc_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["reps"])
    out["nominal_lo"] = binom.ppf(0.025, out["reps"], 0.95) / out["reps"]
    out["nominal_hi"] = binom.ppf(0.975, out["reps"], 0.95) / out["reps"]
    return out


def main(reps: int, n: int, seed: int, cohort: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = dense_truth()
    rows = []
    scenarios = {"dense": (False, None), "dense, late entry": (True, "entry"), "dense, late entry ignored": (True, None)}
    for name, (late, entry_col) in scenarios.items():
        t0 = time.perf_counter()
        for _ in range(reps):
            d = dense_sample(rng, n, late_entry=late)
            try:
                res = turnbull(d, entry_col=entry_col, landmarks=[12.0], tau=52)
            except ConvergenceError:
                rows.append({"scenario": name, "truth": truth, "identification": "did not converge", "cover": False,
                             "ci_width": np.nan, "error": np.nan})
                continue
            m = res.summary.iloc[0]
            loose = not res.info["innermost_intervals"]["all"].get("converged", True)
            rows.append({"scenario": name, "truth": truth,
                         "identification": m["identification"] + (" (loose stop)" if loose else ""),
                         "cover": covers(m["lower"], m["upper"], truth), "ci_width": m["upper"] - m["lower"],
                         "error": m["estimate"] - truth})
        print(f"{name}: {reps} replicates in {time.perf_counter() - t0:.1f} s", flush=True)
    if cohort:
        sys.path.insert(0, str(Path(__file__).parent))
        from study_turnbull_identifiability import main as cohort_study

        c = cohort_study(reps, n, seed)
        c = c[c["statistic"] == "median"]
        print(c.round(3).to_string(index=False))
    return summarise(pd.DataFrame(rows))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--cohort", action="store_true", help="also run the cohort-simulator study (slow)")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    t = main(a.reps, a.n, a.seed, a.cohort)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(t.round(3).to_string(index=False))
