"""Late-entry (left-truncated) Turnbull shares and medians against the conditional truth.

Run: python benchmarks/study_turnbull_late_entry.py [--reps 400] [--n 200] [--seed 2026] [--min-entered K]
[--max-entry 8] [--visits 1 3] [--shape 1.6] [--log FILE] [--out CSV] [--per-rep] [--weeks 6 12 26]
[--start-identified] [--estimators turnbull piecewise]

Referral cohorts: recovery time T of all patients (20% never recover, the rest Weibull with shape
1.6 and scale 14 weeks), first contact uniform on 0-8 weeks, patients recovered before first
contact never seen, then visits every 1-3 weeks (uniform gaps) up to 60 weeks (``--max-entry 0``:
everyone seen from onset, no late entry; ``--visits A B``: gaps uniform on A-B weeks; ``--shape``:
the Weibull shape). Each replicate is
analysed with ``turnbull(entry_col="entry")``; its curve starts at ``s0 = info["curve_start"]``
and estimates ``P(T <= t | T > s0)``, so the truth of each replicate is that conditional share
(``s0`` is a data-dependent start; T is continuous, so ``T > s0`` and ``T >= s0`` agree) and
the conditional median ``F^-1(F(s0) + (1 - F(s0)) / 2)``. An oracle on the same replicates
uses the exact recovery times: the left-truncated Kaplan-Meier estimate from the same ``s0``
(patients who truly recovered by ``s0`` out, the rest entering at ``max(entry, s0)``); it checks
the truth and the design, not the package.

Prints per estimator and statistic: bias, its Monte Carlo SE and bias / MC SE, coverage of the
95% CI with its binomial SE (shares: ``lower``/``upper``; medians by identification: point or
set), and CPU seconds.

``--estimators piecewise`` (or both) also fits ``piecewise_hazard_curve(entry_col="entry",
hazard="constant")`` on the same replicates (``piecewise-linear``: ``hazard="linear"``, the default since
session 11), with the same curve start ``s0``
and truth; its medians are points (model-based).
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SHAPE, SCALE, CURE = 1.6, 14.0, 0.2
FOLLOWUP, MAX_ENTRY = 60.0, 8.0
VISIT_GAP = (1.0, 3.0)
WEEKS = (6.0, 12.0, 26.0)


def cdf(t: np.ndarray | float) -> np.ndarray:
    """P(T <= t) for all patients (the never-recovering fifth included)."""
    return (1 - CURE) * (1 - np.exp(-((np.asarray(t, dtype=float) / SCALE) ** SHAPE)))


def quantile(q: float) -> float:
    """Smallest t with P(T <= t) = q (q < 1 - CURE)."""
    return float(SCALE * (-np.log(1 - q / (1 - CURE))) ** (1 / SHAPE))


def conditional_truth(s0: float) -> dict[str, float]:
    """Shares P(T <= w | T > s0) and the conditional median given T > s0."""
    f0 = float(cdf(s0))
    out = {f"recovered_by {w:g}": float((cdf(w) - f0) / (1 - f0)) for w in WEEKS}
    out["median"] = quantile(f0 + (1 - f0) / 2)
    return out


def referral_sample(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``n`` referred patients: interval (lower, upper], entry and the latent time ``t``."""
    rows: list[tuple[float, float, float, float]] = []
    while len(rows) < n:
        t = np.inf if rng.random() < CURE else SCALE * rng.weibull(SHAPE)
        entry = rng.uniform(0, MAX_ENTRY)
        if t <= entry:  # recovered before first contact: never referred
            continue
        # gaps enough to pass the end of follow-up (40 with the default gaps: mean 80 weeks)
        gaps = rng.uniform(*VISIT_GAP, int(np.ceil(FOLLOWUP / np.mean(VISIT_GAP) * 4 / 3)))
        visits = entry + np.cumsum(np.r_[0.0, gaps])
        visits = visits[visits <= FOLLOWUP]
        after = np.flatnonzero(visits >= t)
        if after.size:
            lo, up = (visits[after[0] - 1] if after[0] > 0 else entry), visits[after[0]]
        else:
            lo, up = visits[-1], np.inf
        rows.append((lo, up, entry, t))
    return pd.DataFrame(rows, columns=["lower", "upper", "entry", "t"])


def km_exact(d: pd.DataFrame, s0: float) -> dict[str, float]:
    """Oracle: left-truncated Kaplan-Meier of the exact times from s0 (same patients, follow-up)."""
    t, e = d["t"].to_numpy(), np.maximum(d["entry"].to_numpy(), s0)
    up, lo = d["upper"].to_numpy(), d["lower"].to_numpy()
    last = np.where(np.isfinite(up), up, lo)  # last visit
    keep = t > s0
    t, e, last = t[keep], e[keep], last[keep]
    event = t <= last
    exit_ = np.where(event, t, last)
    times = np.unique(exit_[event])
    at_risk = (e[None, :] < times[:, None]).sum(1) - (exit_[None, :] < times[:, None]).sum(1)
    deaths = np.array([np.sum(exit_[event] == x) for x in times])
    surv = np.cumprod(1 - deaths / at_risk)
    out = {f"recovered_by {w:g}": float(1 - (surv[times <= w][-1] if (times <= w).any() else 1.0)) for w in WEEKS}
    below = np.flatnonzero(surv <= 0.5)
    out["median"] = float(times[below[0]]) if below.size else np.nan
    return out


def identified_start(d: pd.DataFrame) -> int:
    """``min_entered`` that starts the curve no earlier than the last entry before the first recovery visit
    (smallest finite upper end; the conditional curve is not identified before it), and at the package's
    default (a tenth, at least 10) otherwise: the candidate rule of issue 15 (hT), emulated."""
    up, e = d["upper"].to_numpy(), d["entry"].to_numpy()
    keep = up > e
    default = max(10, int(np.ceil(0.1 * keep.sum())))
    seen = up[keep & np.isfinite(up)]
    return default if seen.size == 0 else max(default, int((e[keep] <= seen.min()).sum()))


def one(rng: np.random.Generator, n: int, min_entered: int | None = None, start_identified: bool = False,
        estimators: tuple[str, ...] = ("turnbull",)) -> list[dict]:
    from footdrop_outcomes.survival import piecewise_hazard_curve, turnbull

    d = referral_sample(rng, n)
    if start_identified:
        min_entered = identified_start(d)
    rows: list[dict] = []
    s0 = np.nan
    for name in estimators:
        fitter = (turnbull if name == "turnbull" else
                  functools.partial(piecewise_hazard_curve, hazard="constant" if name == "piecewise" else "linear"))
        t0 = time.process_time()
        res = fitter(d[["lower", "upper", "entry"]], entry_col="entry", landmarks=list(WEEKS), tau=52,
                     min_entered=min_entered)
        cpu = time.process_time() - t0
        start = res.info["curve_start"]["all"]
        s0 = float(start["start"])
        truth = conditional_truth(s0)
        fit = res.info["innermost_intervals"]["all"] if name == "turnbull" else res.info["piecewise"]["all"]
        for _, r in res.summary.iterrows():
            key = ("median" if r["statistic"] == "median" else f"recovered_by {r['time']:g}"
                   if r["statistic"] == "recovered_by" else None)
            if key is None:
                continue
            rows.append({"estimator": name, "statistic": key, "identification": r["identification"],
                         "estimate": r["estimate"], "lower": r["lower"], "upper": r["upper"], "truth": truth[key],
                         "s0": s0, "straddling": start["straddling"], "converged": fit["converged"], "cpu": cpu})
    for key, est in km_exact(d, s0).items():
        rows.append({"estimator": "oracle KM (exact times)", "statistic": key, "identification": "exact",
                     "estimate": est, "lower": np.nan, "upper": np.nan, "truth": truth[key], "s0": s0,
                     "straddling": 0, "converged": True, "cpu": 0.0})
    return rows


def summarise(res: pd.DataFrame) -> pd.DataFrame:
    res = res.copy()
    res["error"] = res["estimate"] - res["truth"]
    lo = res["lower"].where(np.isfinite(res["lower"]), -np.inf)
    up = res["upper"].where(np.isfinite(res["upper"]), np.inf)
    res["cover"] = (lo <= res["truth"]) & (res["truth"] <= up)
    med = res["statistic"] == "median"
    res.loc[~med, "identification"] = "all"  # shares: every replicate together
    g = res.groupby(["estimator", "statistic", "identification"], sort=False)
    out = g.agg(reps=("error", "size"), truth=("truth", "mean"), bias=("error", "mean"), sd=("error", "std"),
                coverage=("cover", "mean"), cpu=("cpu", "sum")).reset_index()
    out["mc_se"] = out["sd"] / np.sqrt(out["reps"])
    out["bias_in_mc_se"] = out["bias"] / out["mc_se"]
    out["coverage_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["reps"])
    out.loc[out["estimator"].str.startswith("oracle"), ["coverage", "coverage_se"]] = np.nan
    # paired with the oracle on the same replicates (shares): the method's own error, less noisy
    key = ["rep", "statistic"]
    oracle = res[res["estimator"].str.startswith("oracle")].set_index(key)["estimate"]
    pairs = res[~res["estimator"].str.startswith("oracle") & ~med].join(oracle.rename("oracle"), on=key)
    pairs["diff"] = pairs["estimate"] - pairs["oracle"]
    pg = pairs.groupby(["estimator", "statistic"], sort=False)["diff"]
    paired = pd.DataFrame({"minus_oracle": pg.mean(), "minus_oracle_mc_se": pg.std() / np.sqrt(pg.size())})
    out = out.join(paired, on=["estimator", "statistic"])
    return out[["estimator", "statistic", "identification", "reps", "truth", "bias", "mc_se", "bias_in_mc_se",
                "coverage", "coverage_se", "minus_oracle", "minus_oracle_mc_se", "cpu"]]


def main(reps: int, n: int, seed: int, log: Path | None, min_entered: int | None = None,
         per_rep: bool = False, start_identified: bool = False, estimators: tuple[str, ...] = ("turnbull",)) -> pd.DataFrame:
    rng = np.random.default_rng([seed, n])
    rows: list[dict] = []
    t0 = time.perf_counter()
    for i in range(reps):
        # per_rep: replicate r drawn from seed [seed, n, r] (the same data for any number of replicates)
        r_rng = np.random.default_rng([seed, n, i]) if per_rep else rng
        rows.extend({**r, "rep": i} for r in one(r_rng, n, min_entered, start_identified, estimators))
        if log is not None and (i + 1) % 25 == 0:
            with log.open("a") as fh:
                fh.write(f"n={n} rep {i + 1}/{reps} {time.perf_counter() - t0:.0f} s wall\n")
    res = pd.DataFrame(rows)
    res["n"] = n
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--log", type=Path, default=None, help="progress file")
    ap.add_argument("--min-entered", type=int, default=None, help="curve start (default: the package's)")
    ap.add_argument("--out", type=Path, default=None, help="write the replicate rows (csv)")
    ap.add_argument("--max-entry", type=float, default=MAX_ENTRY, help="first contact uniform on 0 to this (weeks)")
    ap.add_argument("--visits", type=float, nargs=2, default=VISIT_GAP, help="gaps between visits (weeks)")
    ap.add_argument("--shape", type=float, default=SHAPE, help="Weibull shape of the recovery times")
    ap.add_argument("--per-rep", action="store_true", help="replicate r from seed [seed, n, r] (default: one stream)")
    ap.add_argument("--start-identified", action="store_true",
                    help="candidate rule: start no earlier than the last entry before the first recovery visit")
    ap.add_argument("--estimators", nargs="+", choices=["turnbull", "piecewise", "piecewise-linear"], default=["turnbull"],
                    help="curves fitted to each replicate (piecewise: piecewise_hazard_curve)")
    ap.add_argument("--weeks", type=float, nargs="+", default=WEEKS, help="landmark weeks of the shares")
    a = ap.parse_args()
    MAX_ENTRY, VISIT_GAP, SHAPE, WEEKS = a.max_entry, tuple(a.visits), a.shape, tuple(a.weeks)
    warnings.simplefilter("ignore")
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    res = main(a.reps, a.n, a.seed, a.log, a.min_entered, a.per_rep, a.start_identified, tuple(a.estimators))
    if a.out is not None:
        res.to_csv(a.out, index=False)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(summarise(res).round(4).to_string(index=False))
    print(f"n = {a.n}, {a.reps} replicates, seed {a.seed}, shape {SHAPE:g}, entry 0-{MAX_ENTRY:g}, visits every "
          f"{VISIT_GAP[0]:g}-{VISIT_GAP[1]:g} weeks: {time.perf_counter() - t_wall:.0f} s wall, "
          f"{time.process_time() - t_cpu:.0f} s CPU")
