"""Candidate rule: the curve starts no earlier than the first recovery visit (smallest finite upper end),
before which the conditional curve is not identified. Emulated through min_entered; choice seeds [9000, n, r]."""
import sys, math, warnings
import numpy as np, pandas as pd
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
warnings.simplefilter("ignore")
import study_turnbull_late_entry as S
n, reps, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
stream = len(sys.argv) > 4 and sys.argv[4] == "stream"  # one stream [seed, n] as the docs table
shared = np.random.default_rng([seed, n])
S.WEEKS = (2.0, 3.0, 4.0, 6.0, 12.0, 26.0)
orig = S.referral_sample
rows = []
for r in range(reps):
    rng = shared if stream else np.random.default_rng([seed, n, r])
    d = orig(rng, n)
    up, e = d["upper"].to_numpy(), d["entry"].to_numpy()
    keep = up > e
    r_min = up[keep & np.isfinite(up)].min()
    k = max(max(10, math.ceil(0.1 * keep.sum())), int((e[keep] <= r_min).sum()))
    S.referral_sample = lambda rng_, n_, d=d: d
    out = S.one(rng, n, min_entered=k)
    rows.extend({**x, "rep": r} for x in out)
res = pd.DataFrame(rows)
s = S.summarise(res)
print(s[s.identification == "all"][["estimator", "statistic", "reps", "bias", "mc_se", "bias_in_mc_se", "coverage", "minus_oracle", "minus_oracle_mc_se"]].round(4).to_string(index=False))
print("mean s0", res.s0.mean())
