"""Ghost counts per entry week (fitted vs true expected) and early curve, choice seeds [9000, n, r]."""
import sys, math, time, warnings
import numpy as np, pandas as pd
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
warnings.simplefilter("ignore")
import study_turnbull_late_entry as S
from footdrop_outcomes.survival._entry import curve_start
from footdrop_outcomes.survival.turnbull import _straddle_weight
from footdrop_outcomes.survival._turnbull_solver import _turnbull_fit, _run_mass

n, reps = int(sys.argv[1]), int(sys.argv[2])
rows = []
for r in range(reps):
    d = S.referral_sample(np.random.default_rng([9000, n, r]), n)
    lo, up, e = d["lower"].to_numpy(), d["upper"].to_numpy(), d["entry"].to_numpy()
    k = max(10, math.ceil(0.1 * e.size))
    lo2, up2, e2, st = curve_start(lo, up, e, min_entered=k)
    s0 = st["start"]
    w = _straddle_weight(lo[up > s0], up2, s0)
    f = _turnbull_fit(lo2, up2, tol=1e-9, max_iter=20000, label="all", entry=e2, weight=w)
    # per patient: B_i p (mass counted after entry) as the solver does
    left, right = f["left"], f["right"]
    ts = np.searchsorted(left, e2, side="left"); kk = np.maximum(ts - 1, 0)
    ts = np.where((ts > 0) & ~np.isfinite(right[kk]), kk, ts)
    bp = _run_mass(f["p"], ts, np.full_like(ts, left.size))
    g_fit = w * (1 - bp) / bp
    F0 = S.cdf(s0)
    g_true = w * (S.cdf(e2) - F0) / (1 - S.cdf(e2))
    wk = np.minimum(np.floor(e2), 7).astype(int)
    for b in range(8):
        m = wk == b
        rows.append({"rep": r, "week": b, "n_pat": m.sum(), "ghost_fit": g_fit[m].sum(), "ghost_true": g_true[m].sum()})
res = pd.DataFrame(rows)
res["diff"] = res["ghost_fit"] - res["ghost_true"]
g = res.groupby("week")
out = pd.DataFrame({"patients": g["n_pat"].mean(), "ghost_fit": g["ghost_fit"].mean(), "ghost_true": g["ghost_true"].mean(),
                    "diff": g["diff"].mean(), "diff_se": g["diff"].std() / np.sqrt(reps)})
out["rel"] = out["diff"] / out["ghost_true"]
tot = res.groupby("rep")[["ghost_fit", "ghost_true", "diff"]].sum()
print(out.round(4).to_string())
print("total ghosts fit %.3f true %.3f diff %.3f (SE %.3f) per rep; n=%d reps=%d" % (tot.ghost_fit.mean(), tot.ghost_true.mean(), tot["diff"].mean(), tot["diff"].std()/np.sqrt(reps), n, reps))
