"""Where the shortfall enters: the fit with its own ghosts, with the true expected ghosts (true F at each
entry), and with the straddlers' true status, paired with the exact-time KM; choice seeds [9000, n, r]."""
import sys, math, warnings
import numpy as np, pandas as pd
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
warnings.simplefilter("ignore")
import study_turnbull_late_entry as S
from footdrop_outcomes.survival._entry import curve_start
from footdrop_outcomes.survival.turnbull import _straddle_weight
from footdrop_outcomes.survival._turnbull_solver import _turnbull_fit, _npmle
n, reps = int(sys.argv[1]), int(sys.argv[2])
S.WEEKS = (2.0, 4.0, 6.0, 12.0, 26.0)
W = np.array(S.WEEKS)
def shares(left, right, p, t):
    fin = np.isfinite(right)
    width = np.where(fin, right - left, 1.0)
    phi = np.where(fin[None, :], np.clip((t[:, None] - left[None, :]) / width[None, :], 0, 1), 0)
    return phi @ p
rows = []
for r in range(reps):
    d = S.referral_sample(np.random.default_rng([9000, n, r]), n)
    lo, up, e, tt = (d[c].to_numpy() for c in ("lower", "upper", "entry", "t"))
    k = max(10, math.ceil(0.1 * e.size))
    lo2, up2, e2, st = curve_start(lo, up, e, min_entered=k)
    s0 = st["start"]
    keep = up > s0
    w = _straddle_weight(lo[keep], up2, s0)
    f = _turnbull_fit(lo2, up2, tol=1e-9, max_iter=20000, label="all", entry=e2, weight=w)
    left, right = f["left"], f["right"]; m = left.size
    orc = S.km_exact(d, s0)
    o = np.array([orc[f"recovered_by {x:g}"] for x in W])
    rows.append({"rep": r, "fit": "current", **dict(zip(W, shares(left, right, f["p"], W) - o))})
    # true straddle status
    w_true = np.where((lo[keep] < s0), (tt[keep] > s0).astype(float), 1.0)
    z = w_true > 0
    f2 = _turnbull_fit(lo2[z], up2[z], tol=1e-9, max_iter=20000, label="all", entry=e2[z], weight=w_true[z])
    rows.append({"rep": r, "fit": "true straddle status", **dict(zip(W, shares(f2["left"], f2["right"], f2["p"], W) - o))})
    # true expected ghosts: one plain NPMLE with ghost weight w (F(e)-F(s0))/(1-F(e)) on the run [0, tstart)
    start = np.searchsorted(left, lo2, side="left"); end = np.searchsorted(right, up2, side="right")
    ts = np.searchsorted(left, e2, side="left"); kk = np.maximum(ts - 1, 0)
    ts = np.where((ts > 0) & ~np.isfinite(right[kk]), kk, ts)
    g = w * (S.cdf(e2) - S.cdf(s0)) / (1 - S.cdf(e2))
    hg = (ts > 0) & (g > 0)
    ss = np.r_[start, np.zeros(hg.sum(), int)]; ee = np.r_[end, ts[hg]]; ww = np.r_[w, g[hg]]
    z = ww > 0; ss, ee, ww = ss[z], ee[z], ww[z]
    p3, _ = _npmle(np.full(m, 1.0 / m), ss, ee, ww, tol=1e-9, max_iter=20000, label="x", em_steps=50)
    rows.append({"rep": r, "fit": "true expected ghosts", **dict(zip(W, shares(left, right, p3, W) - o))})
res = pd.DataFrame(rows)
g = res.groupby("fit", sort=False)[list(W)]
print(f"n={n} reps={reps}: mean minus oracle (MC SE)")
mean, se = g.mean(), g.std() / np.sqrt(reps)
print(pd.concat({"mean": mean, "mc_se": se}, axis=1).round(4).to_string())
