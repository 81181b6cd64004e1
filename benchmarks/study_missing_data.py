"""Simulation study: missing covariates (MAR) and late entry (left truncation), against truth.

Five parts (``--part mi | pooled | pooled-all | late | speed | all``):

* ``mi``: per replicate a cohort from ``simulate_cohort``; ``age`` and ``diabetes`` are deleted with
  probabilities depending on observed data (early recovery, recovery seen, severity): MAR, not
  MCAR. Fits the Cox model (right-censored view, ``outcome="right"`` imputation) and the Weibull
  interval AFT (``outcome="interval"``) on the full data, the complete cases and after MI
  (``impute`` + ``fit_imputed``). The estimand is the full-data analysis; its value is the mean
  of the full-data estimates over the replicates (the simulator's truth is a cure mixture that
  neither model reproduces exactly). Prints bias with Monte Carlo SE, and 95% CI coverage of that
  value.
* ``pooled``: same MAR data; the IPTW comparison of supervised physiotherapy (propensity on
  severity, age, diabetes; weighted Cox log hazard ratio) and Table 1 (mean age and % with
  diabetes by arm) on the full data, the complete (or available) cases and pooled over
  imputations (``pooled_comparison``, ``pooled_table_one``). Estimand: the full-data value
  (mean over replicates). Bias with MCSE and coverage; percentages also pooled on the logit scale
  (arm ``MI (logit)``).
* ``pooled-all``: every covariate the data model lets be missing (age, diabetes, smoking, HbA1c,
  BMI, days to treatment) deleted under MAR from generator-v2 cohorts
  (``imputation._mar.mar_frames_all``), imputed together, and each one's pooled mean or share
  per arm (Table 1) against the full-data value, complete (available) cases alongside.
* ``late``: Weibull PH data with known coefficients, first contact after onset (gamma delays,
  twice as long for the severe),
  patients recovered before first contact not in the sample; visits every 2 weeks from first
  contact for the interval AFT. Cox and AFT with and without ``entry_col`` against the truth.
* ``speed``: ``impute(m=20)`` on a 20,000-patient survival frame with missing covariates,
  then the pooled Cox model and the pooled mixed model of gait speed (baseline covariates
  merged into the visits of each completed frame). Printed twice, wall and CPU seconds:
  *before* (``set_threads("all")``: BLAS with its own threads, as the imputation ran before it
  held BLAS to the toolkit's limit) and *after* (the default, one thread); then the pooled fits
  with ``fit_imputed(n_jobs=2)``. CPU seconds are what a quiet 2-core machine would take
  serially; on a busy machine wall time is several times that.

Usage::

    python benchmarks/study_missing_data.py --part all --reps 200 [--n 1000] [--m 5] [--n-late 500] [--out rows.csv]
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import numpy as np
import pandas as pd

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes._threads import set_threads
from footdrop_outcomes.imputation import (
    fit_imputed,
    impute,
    pool,
    pooled_comparison,
    pooled_table_one,
)
from footdrop_outcomes.imputation._mar import (
    mar_frames,  # the generator tests/imputation/test_mi_simulation.py uses
)
from footdrop_outcomes.survival import (
    MissingDataWarning,
    fit_cox,
    fit_interval_aft,
    survival_frame,
)

FORMULA = "severity + age + diabetes"


def _rows(model: str, arm: str, fit_params: pd.Series, lower: np.ndarray, upper: np.ndarray, seed: int) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "arm": arm, "seed": seed, "term": fit_params.index, "est": fit_params.to_numpy(),
                         "lower": lower, "upper": upper})


def _wald(fit) -> tuple[np.ndarray, np.ndarray]:
    se = np.sqrt(np.diag(fit.cov.to_numpy()))
    return fit.params.to_numpy() - 1.959964 * se, fit.params.to_numpy() + 1.959964 * se


def part_mi(reps: int, n: int, m: int, seed0: int, aft_se: str = "model", smc: bool = False,
            models: tuple[str, ...] = ("cox", "aft"), outcome_form: str = "spline", out_csv: str | None = None) -> None:
    out, t_imp, share = [], [], []
    t0 = time.perf_counter()
    for r in range(reps):
        if r and r % 25 == 0:  # interim table: a long run shows its figures as it goes
            _mi_table(out, r, n, m, seed0, share, t_imp, t0, aft_se, smc, outcome_form)
        seed = seed0 + r
        full, d = mar_frames(seed, n)
        share.append(d[["age", "diabetes"]].isna().any(axis=1).mean())
        for model, fit_fn, kind in (("cox", lambda x: fit_cox(x, FORMULA), "right"),
                                    ("aft", lambda x: fit_interval_aft(x, FORMULA, robust=aft_se == "robust"), "interval")):
            if model not in models:
                continue
            f = fit_fn(full)
            out.append(_rows(model, "full", f.params, *_wald(f), seed))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MissingDataWarning)
                cc = fit_fn(d)
            out.append(_rows(model, "complete case", cc.params, *_wald(cc), seed))
            t1 = time.perf_counter()
            imp = impute(d, m=m, seed=seed, columns=["age", "diabetes"], iterations=5, outcome=kind,
                         outcome_form=outcome_form, substantive=FORMULA if smc and model == "cox" else None)
            t_imp.append(time.perf_counter() - t1)
            mi = fit_imputed(imp, fit_fn)
            out.append(_rows(model, "MI", mi.params, mi.summary["lower"].to_numpy(), mi.summary["upper"].to_numpy(), seed))
    _mi_table(out, reps, n, m, seed0, share, t_imp, t0, aft_se, smc, outcome_form)
    if out_csv:
        pd.concat(out, ignore_index=True).to_csv(out_csv, index=False)


def _mi_table(out: list[pd.DataFrame], reps: int, n: int, m: int, seed0: int, share: list[float], t_imp: list[float],
              t0: float, aft_se: str = "model", smc: bool = False, outcome_form: str = "spline") -> None:
    a = pd.concat(out, ignore_index=True)
    truth = a[a["arm"] == "full"].groupby(["model", "term"], sort=False)["est"].mean().rename("truth")
    a = a.join(truth, on=["model", "term"])
    a["covered"] = (a["lower"] <= a["truth"]) & (a["truth"] <= a["upper"])
    g = a.groupby(["model", "term", "arm"], sort=False)
    s = pd.DataFrame({"truth": g["truth"].first(), "mean": g["est"].mean(), "bias": g["est"].mean() - g["truth"].first(),
                      "mcse": g["est"].std() / np.sqrt(g.size()), "emp_sd": g["est"].std(), "coverage": g["covered"].mean()})
    s["bias/mcse"] = s["bias"] / s["mcse"]
    s["cov_mcse"] = np.sqrt(s["coverage"] * (1 - s["coverage"]) / g.size())
    # paired: each replicate's estimate minus its own full-data estimate (less noise than the MC SE)
    full = a[a["arm"] == "full"].set_index(["model", "term", "seed"])["est"]
    diff = a.set_index(["model", "term", "seed"])["est"] - full.reindex(a.set_index(["model", "term", "seed"]).index).to_numpy()
    pg = diff.groupby([a["model"].to_numpy(), a["term"].to_numpy(), a["arm"].to_numpy()], sort=False)
    s["bias/paired_se"] = s["bias"] / (pg.std() / np.sqrt(pg.size())).reindex(s.index).replace(0, np.nan)
    print(f"MI under MAR: {reps} replicates of n = {n}, m = {m}, seeds {seed0}..{seed0 + reps - 1}, AFT SEs {aft_se}, "
          f"Cox imputation {'SMC-FCS' if smc else 'FCS'}, outcome form {outcome_form}; "
          f"rows with a missing value {np.mean(share):.1%}; impute median {np.median(t_imp):.2f} s; total {time.perf_counter() - t0:.0f} s")
    print(s.round(4).to_string())
    mi = s.xs("MI", level="arm")
    print(f"\nMI: max |bias|/MCSE {mi['bias/mcse'].abs().max():.2f}; coverage {mi['coverage'].min():.3f} to {mi['coverage'].max():.3f}")
    cc = s.xs("complete case", level="arm")
    print(f"complete case: max |bias|/MCSE {cc['bias/mcse'].abs().max():.1f}; coverage {cc['coverage'].min():.3f} to {cc['coverage'].max():.3f}",
          flush=True)


PS_FORMULA = "severity + age + diabetes"


def _t1_rows(add, summary: pd.DataFrame, arm: str, seed: int, pooled: bool) -> None:
    """Every mean and percentage of a Table 1 (``table_one`` or ``pooled_table_one`` summary), per arm."""
    s = summary[(summary["variable"] != "n") & (summary["level"] != "missing")]
    for _, r in s.iterrows():
        stat = r["statistic"] if pooled else ("mean" if pd.notna(r["mean"]) else "percent")
        if pooled:
            est, lo, hi = r["estimate"], r["lower"], r["upper"]
        else:
            est = r["mean"] if stat == "mean" else r["percent"]
            se = r["sd"] / math.sqrt(r["n"]) if stat == "mean" else 100 * math.sqrt(r["percent"] / 100 * (1 - r["percent"] / 100) / r["n"])
            lo, hi = est - 1.959964 * se, est + 1.959964 * se
        level = f"[{r['level']}]" if r["level"] else ""
        add(f"Table 1 {stat} {r['variable']}{level}, physio={r['group']}", arm, seed, est, lo, hi)


def _logit_pooled_rows(add, imp, summary: pd.DataFrame, seed: int, by: str = "supervised_physio") -> None:
    """Percentages pooled on the logit scale (within variance 1 / (n p (1 - p))), back-transformed: arm ``MI (logit)``."""
    from scipy import stats as st
    from scipy.special import expit, logit

    from footdrop_outcomes.imputation.pooling import barnard_rubin_df

    s = summary[(summary["statistic"] == "percent")]
    m = len(imp)
    for _, r in s.iterrows():
        p = []
        for f in imp:
            g = f[f[by].astype(str) == r["group"]]
            col = g[r["variable"]]
            p.append(float((col.astype(bool) if not r["level"] else col.astype(str) == r["level"]).mean()))
        p = np.array(p)
        n = float(r["n"])
        if np.any((p <= 0) | (p >= 1)):
            continue
        q, u = logit(p), 1.0 / (n * p * (1 - p))
        qbar, ubar, bvar = q.mean(), u.mean(), q.var(ddof=1)
        t = ubar + (1 + 1 / m) * bvar
        df = float(barnard_rubin_df(m, np.array([bvar]), np.array([t]), n - 1.0)[0])
        half = st.t.ppf(0.975, df) * math.sqrt(t)
        level = f"[{r['level']}]" if r["level"] else ""
        add(f"Table 1 percent {r['variable']}{level}, physio={r['group']}", "MI (logit)", seed, 100 * expit(qbar),
            100 * expit(qbar - half), 100 * expit(qbar + half))


def part_pooled(reps: int, n: int, m: int, seed0: int, scenario: str = "v1", out: str | None = None,
                outcome_form: str = "spline") -> None:
    """Pooled IPTW (scenario ``v1`` only) and pooled Table 1 against the full-data value; see the module notes."""
    from footdrop_outcomes.adherence import (
        fit_propensity,
        table_one,
        weighted_comparison,
    )
    from footdrop_outcomes.imputation._mar import MAR_ALL_COVARIATES, mar_frames_all

    rows: list[dict[str, object]] = []
    t0, c0 = time.perf_counter(), time.process_time()

    def add(what: str, arm: str, seed: int, est: float, lower: float, upper: float) -> None:
        rows.append({"quantity": what, "arm": arm, "seed": seed, "est": est, "lower": lower, "upper": upper})

    covs = ["age", "diabetes"] if scenario == "v1" else list(MAR_ALL_COVARIATES)
    for r in range(reps):
        seed = seed0 + r
        full, d = mar_frames(seed, n) if scenario == "v1" else mar_frames_all(seed, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # weighting diagnostics and complete-case warnings: the figures say it
            if scenario == "v1":
                for arm, data in (("full", full), ("complete case", d.dropna(subset=covs).reset_index(drop=True))):
                    w = weighted_comparison(fit_propensity(data, "supervised_physio", PS_FORMULA)).summary
                    w = w[(w["estimand"] == "log_hr") & (w["analysis"] == "weighted")].iloc[0]
                    add("IPTW log HR (weighted)", arm, seed, w["estimate"], w["lower"], w["upper"])
            _t1_rows(add, table_one(full, covariates=covs).summary, "full", seed, False)
            _t1_rows(add, table_one(d, covariates=covs).summary, "complete case", seed, False)  # available cases per variable
            imp = impute(d, m=m, seed=seed, columns=covs, iterations=5, outcome="right", outcome_form=outcome_form)
            if scenario == "v1":
                pc = pooled_comparison(imp, "supervised_physio", PS_FORMULA).summary
                pc = pc[(pc["estimand"] == "log_hr") & (pc["analysis"] == "weighted")].iloc[0]
                add("IPTW log HR (weighted)", "MI", seed, pc["estimate"], pc["lower"], pc["upper"])
            pooled = pooled_table_one(imp, covariates=covs).summary
            _t1_rows(add, pooled, "MI", seed, True)
            _logit_pooled_rows(add, imp, pooled, seed)
        if (r + 1) % 50 == 0 or r + 1 == reps:
            _pooled_table(pd.DataFrame(rows), r + 1, n, m, seed0, t0, c0, f"{scenario}, outcome form {outcome_form}")
            if out:
                pd.DataFrame(rows).to_csv(out, index=False)


def _pooled_table(a: pd.DataFrame, reps: int, n: int, m: int, seed0: int, t0: float, c0: float, scenario: str) -> None:
    truth = a[a["arm"] == "full"].groupby("quantity", sort=False)["est"].mean().rename("truth")
    a = a.join(truth, on="quantity")
    a["covered"] = (a["lower"] <= a["truth"]) & (a["truth"] <= a["upper"])
    g = a.groupby(["quantity", "arm"], sort=False)
    s = pd.DataFrame({"truth": g["truth"].first(), "bias": g["est"].mean() - g["truth"].first(),
                      "mcse": g["est"].std() / np.sqrt(g.size()), "coverage": g["covered"].mean(), "reps": g.size()})
    s["bias/mcse"] = s["bias"] / s["mcse"]
    s["cov_se"] = np.sqrt(s["coverage"] * (1 - s["coverage"]) / s["reps"])
    print(f"\nPooled {'IPTW and ' if scenario.startswith('v1') else ''}Table 1 under MAR ({scenario}): {reps} replicates of n = {n}, m = {m}, "
          f"seeds {seed0}..{seed0 + reps - 1}; total {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU; "
          f"load {os.getloadavg()[0]:.1f}")
    print(s.round(4).to_string(), flush=True)


def truncated_weibull(n: int, seed: int, b: tuple[float, float, float] = (2.5, 0.6, -0.02), sigma: float = 0.7,
                      visit: float = 2.0) -> pd.DataFrame:
    """Weibull AFT (= PH) times seen only if still unrecovered at first contact; 80 weeks of follow-up."""
    rng = np.random.default_rng([seed, 7])
    parts, got = [], 0
    while got < n:
        k = 2 * n
        sev = rng.integers(0, 2, k).astype(float)
        age_c = rng.normal(0, 12, k)
        t = np.exp(b[0] + b[1] * sev + b[2] * age_c + sigma * np.log(rng.exponential(size=k)))
        e = rng.gamma(1.5, 3.0 * (1 + sev))  # severe cases are referred later
        keep = t > e
        t, e, sev, age_c = t[keep], e[keep], sev[keep], age_c[keep]
        end = e + 80
        upper = e + visit * np.ceil((t - e) / visit)
        cens = upper > end
        parts.append(pd.DataFrame({"sev": sev, "age_c": age_c, "entry": e, "time": np.minimum(t, end), "event": t <= end,
                                   "lower": np.where(cens, end, upper - visit), "upper": np.where(cens, np.inf, upper)}))
        got += int(keep.sum())
    return pd.concat(parts, ignore_index=True).iloc[:n]


def part_late(reps: int, n: int, seed0: int) -> None:
    b, sigma = (2.5, 0.6, -0.02), 0.7
    truth = {"cox": pd.Series({"sev": -b[1] / sigma, "age_c": -b[2] / sigma}),
             "aft": pd.Series({"Intercept": b[0], "sev": b[1], "age_c": b[2], "log(scale)": math.log(sigma)})}
    out = []
    t0 = time.perf_counter()
    for r in range(reps):
        d = truncated_weibull(n, seed0 + r, b, sigma)
        for arm, entry in (("with entry", "entry"), ("ignoring entry", None)):
            c = fit_cox(d, "sev + age_c", entry_col=entry)
            out.append(_rows("cox", arm, c.params, *_wald(c), r))
            a = fit_interval_aft(d, "sev + age_c", entry_col=entry)
            out.append(_rows("aft", arm, a.params, *_wald(a), r))
    a = pd.concat(out, ignore_index=True)
    a["truth"] = [truth[mm][t] for mm, t in zip(a["model"], a["term"])]
    a["covered"] = (a["lower"] <= a["truth"]) & (a["truth"] <= a["upper"])
    g = a.groupby(["model", "term", "arm"], sort=False)
    s = pd.DataFrame({"truth": g["truth"].first(), "mean": g["est"].mean(), "bias": g["est"].mean() - g["truth"].first(),
                      "mcse": g["est"].std() / np.sqrt(g.size()), "coverage": g["covered"].mean()})
    s["bias/mcse"] = s["bias"] / s["mcse"]
    print(f"\nLate entry: {reps} replicates of n = {n} (Weibull PH/AFT, gamma(1.5, 3 or 6 if severe) weeks to first contact); "
          f"total {time.perf_counter() - t0:.0f} s")
    print(s.round(4).to_string())


def part_speed(n: int, m: int, seed: int) -> None:
    from footdrop_outcomes.trajectories import fit_trajectory, trajectory_frame

    cohort = simulate_cohort(n, seed=seed)
    frame = survival_frame(cohort)
    frame = frame[frame["cause"] != "als"].reset_index(drop=True)  # no recoveries: not estimable in Cox
    frame["cause"] = frame["cause"].cat.remove_unused_categories()
    n = len(frame)
    rng = np.random.default_rng(seed)
    d = frame.copy()
    d["age"] = d["age"].astype(float).mask(rng.random(n) < 0.2)
    d["diabetes"] = d["diabetes"].mask(rng.random(n) < 0.15)
    d["smoking"] = d["smoking"].mask(rng.random(n) < 0.25)
    long = trajectory_frame(cohort)
    long = long[long["patient_id"].isin(frame["patient_id"])].drop(columns=["age", "age_c", "diabetes", "smoking", "current_smoker"])
    cox_fn = lambda x: fit_cox(x, "cause + severity + age + diabetes + smoking")

    def mixed_fn(f: pd.DataFrame):
        base = f[["patient_id", "age", "diabetes", "smoking"]].assign(
            age_c=lambda x: (x["age"] - 60) / 10, current_smoker=lambda x: (x["smoking"] == "current").astype(float))
        return fit_trajectory(long.merge(base, on="patient_id"), "gait_speed",
                              "time * (cause + severity) + age_c + diabetes + current_smoker", progress=False)

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def since(t: tuple[float, float]) -> str:
        return f"{time.perf_counter() - t[0]:.1f} s wall, {time.process_time() - t[1]:.1f} s CPU"

    print(f"\nSpeed: n = {n} (ALS left out), m = {m}, {int(d[['age', 'diabetes', 'smoking']].isna().any(axis=1).sum())} incomplete rows; "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    for label, threads in (("before (BLAS with its own threads)", "all"), ("after (BLAS held to 1 thread)", None)):
        set_threads(threads)
        t = clock()
        imp = impute(d, m=m, seed=seed, columns=["age", "diabetes", "smoking"], iterations=5)
        t_imp = since(t)
        t = clock()
        cox = fit_imputed(imp, cox_fn)
        t_cox = since(t)
        t = clock()
        mixed = pool([mixed_fn(f) for f in imp])
        t_mixed = since(t)
        print(f"{label}: impute {t_imp}; pooled Cox {t_cox}; pooled mixed model ({len(long)} visits) {t_mixed}; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    set_threads(None)
    t = clock()
    fit_imputed(imp, cox_fn, n_jobs=2)
    t_cox2 = since(t)
    t = clock()
    fit_imputed(imp, mixed_fn, n_jobs=2)
    print(f"after, fits in 2 worker processes: pooled Cox {t_cox2}; pooled mixed model {since(t)} "
          "(CPU of the parent only: the workers' CPU is not counted)", flush=True)
    print(cox.summary[["term", "estimate", "se", "fmi"]].round(4).to_string(index=False))
    print(mixed.summary[["term", "estimate", "se", "fmi"]].head(6).round(4).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["mi", "pooled", "pooled-all", "late", "speed", "all"], default="all")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--n-late", type=int, default=500, help="patients per replicate of the late-entry part")
    ap.add_argument("--seed0", type=int, default=1000)
    ap.add_argument("--outcome-form", choices=["linear", "spline"], default="spline",
                    help="parts mi, pooled, pooled-all: how the outcome summary enters the imputation models (impute's outcome_form)")
    ap.add_argument("--smc", action="store_true", help="part mi: the Cox model's imputations by SMC-FCS (substantive=)")
    ap.add_argument("--models", nargs="+", choices=["cox", "aft"], default=["cox", "aft"], help="part mi: models studied")
    ap.add_argument("--aft-se", choices=["model", "robust"], default="model",
                    help="part mi: the interval AFT's SEs, model-based or robust sandwich (robust=True)")
    ap.add_argument("--out", default=None, help="CSV of the per-replicate rows (pooled parts: written every 50 replicates; part mi: at the end)")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    if args.part in ("mi", "all"):
        part_mi(args.reps, args.n, args.m, args.seed0, args.aft_se, args.smc, tuple(args.models), args.outcome_form, args.out)
    if args.part in ("pooled", "all"):
        part_pooled(args.reps, args.n, args.m, args.seed0, "v1", args.out, args.outcome_form)
    if args.part in ("pooled-all", "all"):
        part_pooled(args.reps, args.n, args.m, args.seed0, "all", args.out and args.out.replace(".csv", "_all.csv"), args.outcome_form)
    if args.part in ("late", "all"):
        part_late(args.reps, args.n_late, args.seed0)
    if args.part in ("speed", "all"):
        part_speed(20_000, 20, 1)


if __name__ == "__main__":
    main()
