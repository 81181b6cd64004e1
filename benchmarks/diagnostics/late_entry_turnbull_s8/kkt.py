import sys, math, warnings
import numpy as np, pandas as pd
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
warnings.simplefilter("ignore")
import study_turnbull_late_entry as S
from footdrop_outcomes.survival._entry import curve_start
from footdrop_outcomes.survival.turnbull import _straddle_weight
from footdrop_outcomes.survival._turnbull_solver import _turnbull_fit, _truncated_kkt, _loglik
from scipy.optimize import minimize
n, reps = int(sys.argv[1]), int(sys.argv[2])
out = []
for r in range(reps):
    d = S.referral_sample(np.random.default_rng([9000, n, r]), n)
    lo, up, e = d["lower"].to_numpy(), d["upper"].to_numpy(), d["entry"].to_numpy()
    k = max(10, math.ceil(0.1 * e.size))
    lo2, up2, e2, st = curve_start(lo, up, e, min_entered=k)
    s0 = st["start"]
    w = _straddle_weight(lo[up > s0], up2, s0)
    f = _turnbull_fit(lo2, up2, tol=1e-9, max_iter=20000, label="all", entry=e2, weight=w)
    p, start, end, ww, tr = f["p"], f["start"], f["end"], f["w"], f["trunc"]
    _, kkt = _truncated_kkt(p, start, end, ww, tr)
    m = p.size
    fin = np.isfinite(f["right"])
    def Fat(q, t):
        width = f["right"] - f["left"]
        phi = np.where(fin, np.clip((t - f["left"]) / np.where(fin, width, 1), 0, 1), 0)
        return float(phi @ q)
    # polish: L-BFGS on log-masses (softmax) from the fit
    def negll(th):
        q = np.exp(th - th.max()); q /= q.sum()
        c = np.concatenate(([0.0], np.cumsum(q)))
        a = c[end] - c[start]; b = c[m] - c[tr]
        ll = ww @ np.log(a) - ww @ np.log(b)
        ratio, bratio = ww / a, ww / b
        diff = (np.bincount(start, ratio, m + 1) - np.bincount(end, ratio, m + 1) - np.bincount(tr, bratio, m + 1))
        g = np.cumsum(diff)[:m]
        return -ll, -(q * (g - q @ g))
    th0 = np.log(np.maximum(p, 1e-12))
    res = minimize(negll, th0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15})
    q = np.exp(res.x - res.x.max()); q /= q.sum()
    out.append({"rep": r, "kkt": kkt, "conv": f["converged"], "outer": f["outer_steps"], "ll": f["loglik"], "ll_pol": -res.fun,
                "F2": Fat(p, 2), "F2p": Fat(q, 2), "F6": Fat(p, 6), "F6p": Fat(q, 6), "m": m})
o = pd.DataFrame(out)
o["dll"] = o.ll_pol - o.ll
print(o.describe().round(6).to_string())
print("F6 change mean", (o.F6p - o.F6).mean(), "max abs", (o.F6p - o.F6).abs().max())
