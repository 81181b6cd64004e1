import sys, numpy as np, pandas as pd
files = {600: "./choice_n600_e8.csv", 2000: "./choice_n2000_e8.csv", 4000: "./choice_n4000_e8.csv"}
extra = dict(a.split("=") for a in sys.argv[1:])
rows = []
for n, f in files.items():
    try:
        d = pd.read_csv(f)
    except FileNotFoundError:
        continue
    d = d[d.statistic.str.startswith("recovered_by")]
    tb = d[d.estimator == "turnbull"].set_index(["rep", "statistic"])
    orc = d[d.estimator != "turnbull"].set_index(["rep", "statistic"])["estimate"]
    tb = tb.join(orc.rename("oracle"))
    tb["diff"] = tb["estimate"] - tb["oracle"]
    tb["err"] = tb["estimate"] - tb["truth"]
    tb["cover"] = (tb["lower"] <= tb["truth"]) & (tb["truth"] <= tb["upper"])
    for s, g in tb.groupby(level="statistic"):
        k = len(g)
        rows.append({"n": n, "week": float(s.split()[-1]), "reps": k, "paired": g["diff"].mean(), "paired_se": g["diff"].std() / np.sqrt(k),
                     "bias": g["err"].mean(), "bias_se": g["err"].std() / np.sqrt(k), "coverage": g["cover"].mean(),
                     "cpu_per_fit": g["cpu"].mean()})
r = pd.DataFrame(rows).sort_values(["week", "n"])
r["paired_z"] = r.paired / r.paired_se
print(r.round(5).to_string(index=False))
print("\nlog-log slope of -paired on n (weighted LS, var log|b| ~ (se/b)^2), and n^-1/3 prediction from 600:")
for w, g in r.groupby("week"):
    if len(g) < 2 or (g.paired >= 0).any():
        print(f"week {w:g}: not all negative, no slope"); continue
    x, y = np.log(g.n.to_numpy()), np.log(-g.paired.to_numpy())
    v = (g.paired_se / g.paired).to_numpy() ** 2
    W = 1 / v
    X = np.c_[np.ones_like(x), x]
    cov = np.linalg.inv(X.T @ (W[:, None] * X))
    beta = cov @ X.T @ (W * y)
    b600 = g.paired.iloc[0]
    pred = {int(n): b600 * (n / 600) ** (-1 / 3) for n in g.n.iloc[1:]}
    print(f"week {w:g}: slope {beta[1]:+.2f} (SE {np.sqrt(cov[1,1]):.2f}); n^-1/3 from n=600 predicts "
          + ", ".join(f"{n}: {p:+.4f}" for n, p in pred.items()) + "; measured " + ", ".join(f"{int(n)}: {b:+.4f} ({s:.4f})" for n, b, s in zip(g.n, g.paired, g.paired_se)))

print("\nper-replicate mean of the paired differences over weeks 6, 12, 26 (one number per replicate):")
pts = []
for n, f in files.items():
    try:
        d = pd.read_csv(f)
    except FileNotFoundError:
        continue
    d = d[d.statistic.isin(["recovered_by 6", "recovered_by 12", "recovered_by 26"])]
    tb = d[d.estimator == "turnbull"].set_index(["rep", "statistic"])["estimate"]
    orc = d[d.estimator != "turnbull"].set_index(["rep", "statistic"])["estimate"]
    per = (tb - orc).groupby(level="rep").mean()
    pts.append((n, per.mean(), per.std() / np.sqrt(per.size), per.size))
    print(f"n={n}: {per.mean():+.5f} (MC SE {per.std() / np.sqrt(per.size):.5f}, {per.size} reps)")
n_, b_, s_, _ = map(np.array, zip(*pts))
for name, x in (("constant", np.ones_like(n_, dtype=float)), ("c n^-1/3", n_ ** (-1 / 3)), ("c n^-1/2", n_ ** (-1 / 2))):
    w = 1 / s_**2
    c = np.sum(w * x * b_) / np.sum(w * x * x)
    chi2 = np.sum(w * (b_ - c * x) ** 2)
    print(f"  model {name}: fitted c = {c:+.4g}, chi2 = {chi2:.2f} on {len(n_) - 1} df; at n=600 {c * x[0]:+.5f}, last n {c * x[-1]:+.5f}")
x, y, v = np.log(n_), np.log(-b_), (s_ / b_) ** 2
W = 1 / v; X = np.c_[np.ones_like(x), x]; cov = np.linalg.inv(X.T @ (W[:, None] * X)); beta = cov @ X.T @ (W * y)
print(f"  log-log slope {beta[1]:+.3f} (SE {np.sqrt(cov[1, 1]):.3f})")
