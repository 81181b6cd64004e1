"""Monte Carlo study of the Cox model with a shared gamma site frailty (``fit_frailty_cox``).

Run (one process; appends one row per seed to the CSV, so a run can be stopped and resumed;
progress lines go to ``--log``):

    nice -n 10 python benchmarks/study_frailty.py run --seeds 1-200 --sites 15 --per-site 60 --theta 0.3 \
        --out /tmp/h6/frailty_t03.csv --log /tmp/h6/frailty.log
    nice -n 10 python benchmarks/study_frailty.py run --seeds 1-200 --sites 15 --per-site 60 --theta 0 \
        --out /tmp/h6/frailty_t0.csv --log /tmp/h6/frailty.log
    nice -n 10 python benchmarks/study_frailty.py aft --seeds 1-200 --sites 15 --per-site 50 --theta 0.3 \
        --out /tmp/h6/aft_t03.csv --log /tmp/h6/frailty.log
    python benchmarks/study_frailty.py summarise /tmp/h6/frailty_t03.csv
    python benchmarks/study_frailty.py summarise-aft /tmp/h6/aft_t03.csv

Data per seed: ``sites`` sites of ``per_site`` patients, site frailty ``u ~ Gamma(mean 1, variance
theta)`` (``theta = 0``: no frailty), ``x1 ~ N(0, 1)`` (log HR 0.5) and ``x2 ~ Bernoulli(0.5)`` (log HR
-0.7), Weibull baseline (shape 1.5), uniform censoring. Recorded: coefficients with ``se`` and
``se2``, theta with its profile-likelihood 95% CI, the LR test p-value of theta = 0, CPU seconds.

Part ``aft`` (``fit_interval_aft_random``): Weibull AFT ``log T = 2.5 + 0.4 x1 - 0.3 x2 + tau z_site +
0.6 W`` with ``z ~ N(0, 1)`` (``--theta`` is ``tau``, the SD on the log-time scale), visits every 2 weeks
up to a last visit (a random end of follow-up ~ U(10, 40) weeks, rounded down to a visit): interval-censored when recovery is
seen by then, else right-censored at the last visit. Recorded: every coefficient with
its SE, ``tau`` with its Wald CI (on ``log tau``) and the LR test p-value.

Summary: bias of each estimate in Monte Carlo SE units, SE / empirical SD, Wald 95% coverage of the
coefficients (with ``se`` and with ``se2``) and profile-CI coverage of theta, each with its binomial SE;
with ``theta = 0`` the share of seeds whose LR test rejects at 5% (the size).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

BETA = (0.5, -0.7)


def simulate(seed: int, sites: int, per_site: int, theta: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = sites * per_site
    site = np.repeat(np.arange(sites), per_site)
    u = (rng.gamma(1 / theta, theta, sites) if theta > 0 else np.ones(sites))[site]
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 2, n).astype(float)
    rate = 0.05 * u * np.exp(BETA[0] * x1 + BETA[1] * x2)
    t = (-np.log(rng.uniform(size=n)) / rate) ** (1 / 1.5)
    c = rng.uniform(0, np.quantile(t, 0.9), n)
    return pd.DataFrame({"time": np.minimum(t, c), "event": t <= c, "x1": x1, "x2": x2,
                         "site": [f"S{s:02d}" for s in site]})


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(args: argparse.Namespace) -> None:
    from footdrop_outcomes.survival import fit_frailty_cox

    out = Path(args.out)
    done: set[int] = set()
    if out.exists():
        done = set(pd.read_csv(out)["seed"].astype(int))
    fields = ["seed", "sites", "per_site", "theta_true", "b1", "se1", "se2_1", "b2", "se2", "se2_2",
              "theta", "theta_lower", "theta_upper", "lr_p", "events", "cpu"]
    with out.open("a", newline="") as fh, open(args.log, "a") as log:
        w = csv.writer(fh)
        if not done:
            w.writerow(fields)
        for seed in _seeds(args.seeds):
            if seed in done:
                continue
            df = simulate(seed, args.sites, args.per_site, args.theta)
            t0 = time.process_time()
            r = fit_frailty_cox(df, "x1 + x2", frailty="site")
            cpu = time.process_time() - t0
            s = r.summary.set_index("term")
            v = r.variance.iloc[0]
            w.writerow([seed, args.sites, args.per_site, args.theta,
                        s.loc["x1", "log_hr"], s.loc["x1", "se"], s.loc["x1", "se2"],
                        s.loc["x2", "log_hr"], s.loc["x2", "se"], s.loc["x2", "se2"],
                        r.theta, v["lower"], v["upper"], v["p"], r.info["events"], cpu])
            fh.flush()
            print(f"seed {seed} theta {r.theta:.4f} cpu {cpu:.2f}s", file=log, flush=True)


def summarise(path: str) -> pd.DataFrame:
    d = pd.read_csv(path)
    n = len(d)
    theta = float(d["theta_true"].iloc[0])
    rows = []
    for name, est, se, se2, truth in (("x1", "b1", "se1", "se2_1", BETA[0]), ("x2", "b2", "se2", "se2_2", BETA[1])):
        e = d[est].to_numpy()
        sd = e.std(ddof=1)
        mcse = sd / np.sqrt(n)
        for kind, col in (("se", se), ("se2", se2)):
            s = d[col].to_numpy()
            cover = float(np.mean(np.abs(e - truth) <= 1.959963984540054 * s))
            rows.append({"estimate": f"log HR {name}", "se_kind": kind, "truth": truth, "mean": e.mean(),
                         "bias_mcse": (e.mean() - truth) / mcse, "se_over_sd": s.mean() / sd,
                         "coverage": cover, "coverage_se": np.sqrt(cover * (1 - cover) / n), "n": n})
    th = d["theta"].to_numpy()
    cover = float(np.mean((d["theta_lower"] <= theta) & (theta <= d["theta_upper"])))
    rows.append({"estimate": "theta", "se_kind": "profile CI", "truth": theta, "mean": th.mean(),
                 "bias_mcse": (th.mean() - theta) / (th.std(ddof=1) / np.sqrt(n)), "se_over_sd": np.nan,
                 "coverage": cover, "coverage_se": np.sqrt(cover * (1 - cover) / n), "n": n})
    rej = float(np.mean(d["lr_p"] < 0.05))
    rows.append({"estimate": "LR test theta=0 rejects at 5%", "se_kind": "", "truth": np.nan, "mean": rej,
                 "bias_mcse": np.nan, "se_over_sd": np.nan, "coverage": np.nan,
                 "coverage_se": np.sqrt(rej * (1 - rej) / n), "n": n})
    rows.append({"estimate": "median theta", "se_kind": "", "truth": theta, "mean": float(np.median(th)),
                 "bias_mcse": np.nan, "se_over_sd": np.nan, "coverage": float(np.mean(th == 0)),
                 "coverage_se": np.nan, "n": n})
    out = pd.DataFrame(rows)
    print(f"{path}: {n} seeds, CPU per fit median {d['cpu'].median():.2f}s, events per seed {d['events'].mean():.0f}")
    print("(last row: 'coverage' is the share of seeds with theta_hat = 0)")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return out


AFT_TRUTH = {"Intercept": 2.5, "x1": 0.4, "x2": -0.3, "log(scale)": float(np.log(0.6))}


def simulate_aft(seed: int, sites: int, per_site: int, tau: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = sites * per_site
    site = np.repeat(np.arange(sites), per_site)
    z = rng.normal(size=sites)[site]
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 2, n)
    w = np.log(rng.exponential(size=n))  # standard minimum extreme value: Weibull AFT
    t = np.exp(AFT_TRUTH["Intercept"] + AFT_TRUTH["x1"] * x1 + AFT_TRUTH["x2"] * x2 + tau * z + 0.6 * w)
    last = np.floor(rng.uniform(10, 40, n) / 2) * 2  # last visit: recovery is seen at a visit, so only up to it
    seen = t <= last
    lower = np.where(seen, np.floor(t / 2) * 2, last)
    upper = np.where(seen, lower + 2, np.nan)
    return pd.DataFrame({"lower": lower, "upper": upper, "x1": x1, "x2": x2, "site": [f"S{s:02d}" for s in site]})


def run_aft(args: argparse.Namespace) -> None:
    import warnings

    from footdrop_outcomes.survival import fit_interval_aft_random

    out = Path(args.out)
    done: set[int] = set(pd.read_csv(out)["seed"].astype(int)) if out.exists() else set()
    names = list(AFT_TRUTH)
    fields = ["seed", "sites", "per_site", "tau_true", *[f"{k}_{c}" for k in names for c in ("est", "se")],
              "tau", "tau_lower", "tau_upper", "lr_p", "cpu"]
    with out.open("a", newline="") as fh, open(args.log, "a") as log:
        w = csv.writer(fh)
        if not done:
            w.writerow(fields)
        for seed in _seeds(args.seeds):
            if seed in done:
                continue
            df = simulate_aft(seed, args.sites, args.per_site, args.theta)
            t0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = fit_interval_aft_random(df, "x1 + x2")
            cpu = time.process_time() - t0
            s = r.summary.set_index("term")
            v = r.variance.iloc[0]
            w.writerow([seed, args.sites, args.per_site, args.theta,
                        *[val for k in names for val in (s.loc[k, "coef"], s.loc[k, "se"])],
                        r.tau, v["lower"], v["upper"], v["p"], cpu])
            fh.flush()
            print(f"aft seed {seed} tau {r.tau:.4f} cpu {cpu:.2f}s", file=log, flush=True)


def summarise_aft(path: str) -> pd.DataFrame:
    d = pd.read_csv(path)
    n = len(d)
    rows = []
    for k, truth in [*AFT_TRUTH.items(), ("tau", float(d["tau_true"].iloc[0]))]:
        e = d[f"{k}_est"].to_numpy() if k != "tau" else d["tau"].to_numpy()
        sd = e.std(ddof=1)
        if k == "tau":
            cover = float(np.mean((d["tau_lower"] <= truth) & (truth <= d["tau_upper"])))
            ratio = np.nan
        else:
            s = d[f"{k}_se"].to_numpy()
            cover = float(np.mean(np.abs(e - truth) <= 1.959963984540054 * s))
            ratio = s.mean() / sd
        rows.append({"estimate": k, "truth": truth, "mean": e.mean(), "bias_mcse": (e.mean() - truth) / (sd / np.sqrt(n)),
                     "se_over_sd": ratio, "coverage": cover, "coverage_se": np.sqrt(cover * (1 - cover) / n), "n": n})
    out = pd.DataFrame(rows)
    print(f"{path}: {n} seeds, CPU per fit median {d['cpu'].median():.2f}s; share tau = 0: {np.mean(d['tau'] == 0):.3f}; "
          f"LR test rejects at 5%: {np.mean(d['lr_p'] < 0.05):.3f}")
    print("(tau: coverage of the Wald CI of log tau)")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", default="1-200")
    r.add_argument("--sites", type=int, default=15)
    r.add_argument("--per-site", type=int, default=60)
    r.add_argument("--theta", type=float, default=0.3)
    r.add_argument("--out", required=True)
    r.add_argument("--log", default="/dev/null")
    aft = sub.add_parser("aft")
    aft.add_argument("--seeds", default="1-200")
    aft.add_argument("--sites", type=int, default=15)
    aft.add_argument("--per-site", type=int, default=50)
    aft.add_argument("--theta", type=float, default=0.3, help="tau, the SD of the site intercept on the log-time scale")
    aft.add_argument("--out", required=True)
    aft.add_argument("--log", default="/dev/null")
    s = sub.add_parser("summarise")
    s.add_argument("csv", nargs="+")
    sa = sub.add_parser("summarise-aft")
    sa.add_argument("csv", nargs="+")
    a = p.parse_args(argv)
    if a.cmd == "run":
        run(a)
    elif a.cmd == "aft":
        run_aft(a)
    else:
        for path in a.csv:
            (summarise if a.cmd == "summarise" else summarise_aft)(path)


if __name__ == "__main__":
    main(sys.argv[1:])
