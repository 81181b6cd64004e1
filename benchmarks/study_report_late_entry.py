"""Late entry in the report's recovery curves against the v2 simulator's truth.

Does the report's Turnbull curve with entry (``analyse_recovery(late_entry=True)``) or without it
recover the true share recovered by each landmark? Two samples from one v2 cohort, one cause
(referral delays differ by cause, so truncation is independent of recovery only within a cause):

* the cohort as simulated: patients who recovered before first contact stay in it (seen recovered
  at their first visit);
* a referral sample: those patients removed (a service never sees them), as late entry assumes.

Truth: the share of the cohort's patients of that cause whose latent strength is MRC >= 4 on the
landmark day (``simulate_v2.latent_strength``; recovery is monotone for non-progressive causes).

Usage: ``python benchmarks/study_report_late_entry.py --n 3000 --seeds 1 2 3 --cause peroneal_compression --rater-sd 0``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def one(n: int, seed: int, cause: str, landmarks: list[float], rater_sd: float) -> pd.DataFrame:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.cohort.simulate_v2 import SimulationConfigV2, latent_strength
    from footdrop_outcomes.survival import survival_frame, turnbull

    c = simulate_cohort(n, seed=seed, version=2, progress=False, config=SimulationConfigV2(mrc_rater_sd=rater_sd))
    keep = (c.patients["cause"].astype(str) == cause).to_numpy()
    truth = [float((latent_strength(c, 7 * w)[keep] >= 4).mean()) for w in landmarks]
    f = survival_frame(c)[keep]
    before = latent_strength(c, c.patients["first_contact_day"].to_numpy(float))[keep] >= 4  # recovered before first contact
    rows = []
    for sample, d in (("as simulated", f), ("referral (recovered before contact removed)", f[~before])):
        at_risk = d[d["time"] > d["entry"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain = turnbull(d, landmarks=landmarks).summary
            entry = turnbull(at_risk, landmarks=landmarks, entry_col="entry").summary
        for name, s in (("without entry", plain), ("with entry", entry)):
            r = s[s["statistic"] == "recovered_by"].reset_index(drop=True)
            for i, w in enumerate(landmarks):
                rows.append({"seed": seed, "sample": sample, "n": len(d), "estimator": name, "week": w, "truth": truth[i],
                             "estimate": float(r.loc[i, "estimate"]), "lower": float(r.loc[i, "lower"]), "upper": float(r.loc[i, "upper"])})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--cause", default="peroneal_compression")
    ap.add_argument("--rater-sd", type=float, default=0.0,
                    help="MRC rater error SD (0: a visit grade >= 4 iff latent strength >= 4, so the truth is the observed event)")
    args = ap.parse_args()
    lm = [6.0, 12.0, 26.0, 52.0]
    t0 = time.perf_counter()
    out = pd.concat([one(args.n, s, args.cause, lm, args.rater_sd) for s in args.seeds], ignore_index=True)
    out["bias"] = out["estimate"] - out["truth"]
    out["covered"] = (out["lower"] <= out["truth"]) & (out["truth"] <= out["upper"])
    g = out.groupby(["sample", "estimator", "week"])
    res = g[["truth", "estimate", "bias", "covered"]].mean()
    res["mcse_bias"] = g["bias"].std() / np.sqrt(g.size())
    res["bias_in_mcse"] = res["bias"] / res["mcse_bias"]
    print(res.round(3).to_string())
    print(f"{time.perf_counter() - t0:.0f} s (wall, shared machine)")


if __name__ == "__main__":
    main()
