"""Toolkit fit times against R's, measured here on the same data, at 5,000 and 20,000 patients, as is and with two busy loops.

Every model of the shared R reference (``tests/data/r_reference``, ``fit_r.R``), on the reference
tables resampled by patient (new ids; ``--seed``). Each resampled table is written as CSV to a
temporary folder; one ``Rscript benchmarks/r/bench_models.R`` process per (n, load) reads them
before any timing and then times one model at a time on request, so neither R's start-up nor its
CSV reading is counted. Toolkit call and R call of one model run back to back under the same load.

==================  =======================================================  ============================================
model               toolkit call                                             R call (survival 3.5.3 / lme4 1.1.31)
==================  =======================================================  ============================================
``km``              ``kaplan_meier(group="cause", conf_type="log-log",       ``survfit(Surv(time_weeks, event) ~ cause,
                    landmarks=[6, 12, 26, 52, 78], tau=78)``: curves with    conf.type = "log-log")`` + ``summary(fit,
                    CIs, medians with CIs, S(t) at the landmarks, RMST       rmean = 78)$table`` (medians, CIs, RMST) +
                                                                             ``summary(fit, times = landmarks)``
``logrank``         ``logrank_test(group="cause", pairwise=False,            ``survdiff(... ~ cause)`` + ``pchisq``
                    trend=False)``
``cox``             ``fit_cox(FORMULA)`` (the PH test is not computed        ``coxph(..., ties = "efron")`` (computes the
                    unless read; concordance is)                             concordance too)
``cox_zph``         the PH test alone on a fitted ``CoxResult`` (its         ``cox.zph(fit, transform = "km",
                    cache cleared, ``.ph_test`` read)                        terms = FALSE)`` on a fitted ``coxph``
``cox_plus_zph``    ``fit_cox(FORMULA, ph_test=True)``                       ``coxph`` + ``cox.zph``
``cox_tv``          ``fit_cox_time_varying(TV_FORMULA)`` on ``tv.csv``       ``coxph(Surv(start, stop, event) ~ ...)``
                    (4-week blocks; no concordance)                          (computes the concordance too)
``weibull_ic``,     ``fit_interval_aft(FORMULA, distribution=...)`` on       ``survreg(Surv(lower, upper, type =
``lognormal_ic``    ``interval.csv``                                         "interval2") ~ ..., dist = ...)``
``lmer_reml``,      ``fit_trajectory("strength", "time * cause + severity",  ``lmer(strength ~ lw * cause + severity +
``lmer_ml``         method=...)`` (lw = log1p(week))                         (1 + lw | id), REML = ...)`` + ``vcov``,
                                                                             ``VarCorr``, ``logLik``
==================  =======================================================  ============================================

``FORMULA`` is ``cause + severity + age + diabetes + smoker + adherence`` (``adherence_in_interval``
for the time-varying Cox). The estimates of these calls agree with R's (tests/survival, tests/trajectories).

Timing, the same on both sides: one untimed warm call (its warnings are listed); if it took under
0.1 s each timed block runs ``k = ceil(0.1 s / warm)`` calls (at most 100) and block / k is one
repeat. Toolkit and R blocks alternate (toolkit first on even repeats, R first on odd), so both see
the same background load; the median over ``--repeats`` (default 7) is reported, wall seconds and
CPU seconds of the process (Python: ``time.process_time``, all threads; R: ``proc.time()`` user +
system). The toolkit runs with its
default thread setting (one BLAS thread inside fits); R uses the BLAS it was built with (printed).

Loads: ``as is`` (whatever else runs on the machine; the 1-minute load average is printed before each
block) and ``+2 busy`` (two extra ``python -c "while True: pass"`` processes started here, stopped by
their process ids). ``ratio`` = toolkit wall / R wall under the same load; ``ratio_vs_R_as_is`` =
toolkit wall under ``+2 busy`` / R wall ``as is`` (the harsher reading of earlier sessions).

Same computation: in the first load block, outside the timing, each model's estimates from both
sides are compared (coefficients and log-likelihood; KM medians, RMST and recovered-by at the
landmarks; log-rank and PH-test chi-squares; concordance) and the largest relative difference is
printed ("same" within 1e-6, mixed models 1e-3: the R-parity tests' tolerances).

Without ``Rscript`` on PATH (CI machines) only the toolkit is timed and the script says so.

``--old`` also times the pre-issue-16 ``fit_cox`` path (lifelines ``CoxPHFitter`` + its concordance
+ the PH test) ``as is`` and prints its ratio to the ``coxph`` time measured here next to the factor
the issue quoted (7.4x at 5k, 4.7x at 20k); earlier versions of this script had no R and divided that
path's time by the issue's factor to get an *implied* R time.

    python benchmarks/bench_vs_r.py [--n 5000 20000] [--repeats 7] [--seed 1] [--models cox lmer_reml]
                                    [--loads "as is" "+2 busy"] [--old] [--out table.txt]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.survival import fit_interval_aft, kaplan_meier, logrank_test
from footdrop_outcomes.survival.cox import fit_cox, fit_cox_time_varying
from footdrop_outcomes.trajectories import fit_trajectory

HERE = Path(__file__).resolve().parent
REF = HERE.parent / "tests" / "data" / "r_reference"
R_SCRIPT = HERE / "r" / "bench_models.R"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"
TV_FORMULA = "cause + severity + age + diabetes + smoker + adherence_in_interval"
KM_TIMES = [6, 12, 26, 52, 78]
MODELS = ["km", "logrank", "cox", "cox_zph", "cox_plus_zph", "cox_tv", "weibull_ic", "lognormal_ic",
          "lmer_reml", "lmer_ml"]
OLD_RATIO = {5000: 7.4, 20000: 4.7}  # old fit_cox / R coxph, quiet machine (issue 16)
CATEGORIES = {"cause": ["compression", "neuropathy", "post_surgical", "radiculopathy", "stroke"],
              "severity": ["mild", "moderate", "severe"]}
BLOCK_SECONDS = 0.1


def resample(frame: pd.DataFrame, n: int, seed: int, id_col: str = "id") -> pd.DataFrame:
    """``n`` patients drawn with replacement from ``frame`` (all rows of each), given new ids."""
    rng = np.random.default_rng(seed)
    ids = frame[id_col].unique()
    pick = rng.choice(ids, size=n, replace=True)
    groups = {k: g for k, g in frame.groupby(id_col)}
    return pd.concat([groups[i].assign(**{id_col: k}) for k, i in enumerate(pick)], ignore_index=True)


def categorical(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(**{k: pd.Categorical(d[k], categories=v) for k, v in CATEGORIES.items() if k in d})


def calls_per_block(seconds: float) -> int:
    """Calls per timed block: enough for about ``BLOCK_SECONDS`` (1 to 100)."""
    return 1 if seconds >= BLOCK_SECONDS else min(100, math.ceil(BLOCK_SECONDS / max(seconds, 1e-4)))


def warm(fn: Callable[[], Any]) -> tuple[int, list[str]]:
    """One untimed call: calls per timed block and the distinct warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
    return calls_per_block(seconds), sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})


def block(fn: Callable[[], Any], k: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) per call over ``k`` calls timed together."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t0) / k, (time.process_time() - c0) / k


def timed_pair(fn: Callable[[], Any], r: RSession | None, model: str, repeats: int) -> dict[str, Any]:
    """Toolkit and R timed in alternating blocks (toolkit first on even repeats, R first on odd), medians."""
    tk_k, tk_warn = warm(fn)
    r_k, r_warn = r.warm(model) if r is not None else (0, "")
    tk, rr = [], []
    for i in range(repeats):
        for side in (("tk", "r") if i % 2 == 0 else ("r", "tk")):
            if side == "tk":
                tk.append(block(fn, tk_k))
            elif r is not None:
                rr.append(r.block(model, r_k))

    def med(xs: list[tuple[float, float]], j: int) -> float:
        return statistics.median(x[j] for x in xs) if xs else np.nan

    return {"tk_s": med(tk, 0), "tk_cpu": med(tk, 1), "tk_k": tk_k, "R_s": med(rr, 0), "R_cpu": med(rr, 1), "R_k": r_k,
            "tk_warnings": "; ".join(tk_warn), "R_warnings": r_warn}


def toolkit_jobs(s: pd.DataFrame, t: pd.DataFrame, ic: pd.DataFrame, lg: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    """The toolkit call of each model (see the module docstring for the R call it is compared with)."""
    fitted = fit_cox(s, FORMULA, duration_col="time_weeks")

    def ph_alone() -> Any:
        fitted._cache.pop("ph_test", None)
        return fitted.ph_test

    def traj(method: str) -> Callable[[], Any]:
        return lambda: fit_trajectory(lg, "strength", "time * cause + severity", method=method,  # type: ignore[arg-type]
                                      id_col="id", time_col="week")

    return {
        "km": lambda: kaplan_meier(s, group="cause", duration_col="time_weeks", conf_type="log-log",
                                   landmarks=KM_TIMES, tau=max(KM_TIMES)),
        "logrank": lambda: logrank_test(s, group="cause", duration_col="time_weeks", pairwise=False, trend=False),
        "cox": lambda: fit_cox(s, FORMULA, duration_col="time_weeks"),
        "cox_zph": ph_alone,
        "cox_plus_zph": lambda: fit_cox(s, FORMULA, duration_col="time_weeks", ph_test=True),
        "cox_tv": lambda: fit_cox_time_varying(t, TV_FORMULA, id_col="id"),
        "weibull_ic": lambda: fit_interval_aft(ic, FORMULA, distribution="weibull"),
        "lognormal_ic": lambda: fit_interval_aft(ic, FORMULA, distribution="lognormal"),
        "lmer_reml": traj("reml"),
        "lmer_ml": traj("ml"),
    }


def toolkit_values(model: str, res: Any) -> dict[str, float]:
    """The estimates of a toolkit result, keyed as ``values`` in benchmarks/r/bench_models.R."""
    if model == "km":
        sm = res.summary
        out = {f"median[{g}]": e for g, e in sm.loc[sm["statistic"] == "median", ["group", "estimate"]].to_numpy()}
        out |= {f"rmst[{g}]": e for g, e in sm.loc[sm["statistic"] == "rmst", ["group", "estimate"]].to_numpy()}
        rb = sm[sm["statistic"] == "recovered_by"]
        return out | {f"recovered_by[{g},{t:g}]": e for g, t, e in rb[["group", "time", "estimate"]].to_numpy()}
    if model == "logrank":
        return {"chisq": float(res.summary["chisq"].iloc[0])}
    if model in ("cox_zph", "cox_plus_zph"):
        ph = res if model == "cox_zph" else res.ph_test
        return {f"chisq[{t}]": c for t, c in ph[["term", "chisq"]].to_numpy()}
    sm = res.summary
    col = "log_hr" if model.startswith("cox") else ("estimate" if model.startswith("lmer") else "coef")
    out = {f"coef[{t}]": c for t, c in sm[["term", col]].to_numpy() if t != "log(scale)"}
    if model.endswith("_ic"):
        out["log_scale"] = float(sm.set_index("term").loc["log(scale)", "coef"])
    out["loglik"] = float(res.info["log_likelihood"] if model.startswith(("lmer", "weibull", "lognormal"))
                          else res.log_likelihood)
    if model == "cox":
        out["concordance"] = float(res.concordance)
    return out


def compare(tk: dict[str, float], r: dict[str, float], tol: float) -> str:
    """Largest relative difference over the estimates both sides give (NaN on either side skipped); "same" if <= tol."""
    keys = sorted(set(tk) & set(r))
    diffs = [abs(tk[k] - r[k]) / max(abs(r[k]), 1e-12) for k in keys if np.isfinite(tk[k]) and np.isfinite(r[k])]
    unmatched = sorted(set(tk) ^ set(r))
    extra = f"; not matched: {', '.join(unmatched[:4])}{' ...' if len(unmatched) > 4 else ''}" if unmatched else ""
    ll = f"; loglik toolkit - R = {tk['loglik'] - r['loglik']:+.3g}" if "loglik" in tk and "loglik" in r else ""
    worst = max(diffs) if diffs else float("nan")
    verdict = "same" if worst <= tol and not unmatched else "DIFFERENT"
    return f"{verdict} (tolerance {tol:g}): {len(keys)} estimates, max rel diff {worst:.2g}{ll}{extra}"


def old_fit_cox(d: pd.DataFrame) -> None:
    """The pre-issue-16 path: lifelines CoxPHFitter (Efron) + its concordance + the PH test."""
    from lifelines import CoxPHFitter

    from footdrop_outcomes.survival import _zph
    from footdrop_outcomes.survival.cox import _design as cox_design

    _, x = cox_design(d, FORMULA, "time", "data", d["event"].to_numpy(bool), [])
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
    df["T"], df["E"] = d["time_weeks"].to_numpy(), d["event"].to_numpy()
    cph = CoxPHFitter().fit(df, "T", "E")
    _ = cph.concordance_index_
    _zph.cox_zph(x, cph.params_.to_numpy(), df["T"].to_numpy(), df["E"].to_numpy(bool))


class RSession:
    """One ``Rscript bench_models.R`` process on one data folder, timing a model per request."""

    def __init__(self, rscript: str, data_dir: Path) -> None:
        self.proc = subprocess.Popen([rscript, str(R_SCRIPT), str(data_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self._read()
        if line != "READY":
            raise RuntimeError(f"Rscript did not start: {line!r}")

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read()

    def warm(self, model: str) -> tuple[int, str]:
        """One untimed call in R: calls per timed block, and R's warnings (count and first) if any."""
        out = self.ask(f"warm {model}").split(maxsplit=3)
        if len(out) < 3 or out[0] != "WARM":
            raise RuntimeError(f"R failed on {model}: {' '.join(out)}")
        return int(out[1]), "" if out[2] == "0" else f"{out[2]} x {out[3] if len(out) > 3 else ''}"

    def values(self, model: str) -> dict[str, float]:
        """The model's estimates in R (untimed), keyed as :func:`toolkit_values`."""
        out = self.ask(f"values {model}").split()
        if not out or out[0] != "VALUES":
            raise RuntimeError(f"R failed on {model}: {' '.join(out)}")
        return {k: float(v) for k, v in (x.split("=", 1) for x in out[1:])}

    def block(self, model: str, k: int) -> tuple[float, float]:
        """Wall and CPU seconds per call of ``k`` calls timed together in R."""
        out = self.ask(f"block {model} {k}").split()
        if len(out) != 3 or out[0] != "BLOCK":
            raise RuntimeError(f"R failed on {model}: {' '.join(out)}")
        return float(out[1]), float(out[2])

    def close(self) -> None:
        """Ask R to quit (without waiting for an answer); terminate it if it has not ended within 30 s."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait()


def busy(k: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def load_avg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _fmt(x: float) -> str:
    return "" if not np.isfinite(x) else (f"{x:.4f}" if x < 1 else f"{x:.3f}")


def report(rows: list[dict[str, Any]], have_r: bool) -> str:
    """The table: per (n, model) toolkit and R under each load, ratios."""
    out = pd.DataFrame(rows)
    lines = []
    r_as_is = {(r["n"], r["model"]): r["R_s"] for r in rows if r["load"] == "as is"}
    out["ratio"] = out["tk_s"] / out["R_s"]
    out["cpu_ratio"] = out["tk_cpu"] / out["R_cpu"]
    out["ratio_vs_R_as_is"] = [tk / r_as_is.get((n, m), np.nan) for tk, n, m in zip(out["tk_s"], out["n"], out["model"])]
    cols = ["n", "load", "model", "load_avg", "tk_s", "tk_cpu", "tk_k", "R_s", "R_cpu", "R_k", "ratio", "cpu_ratio",
            "ratio_vs_R_as_is"]
    if not have_r:
        cols = ["n", "load", "model", "load_avg", "tk_s", "tk_cpu", "tk_k"]
    shown = out[cols].copy()
    for c in ["tk_s", "tk_cpu", "R_s", "R_cpu"]:
        if c in shown:
            shown[c] = shown[c].map(_fmt)
    for c in ["ratio", "cpu_ratio", "ratio_vs_R_as_is"]:
        if c in shown:
            shown[c] = shown[c].map(lambda v: "" if not np.isfinite(v) else f"{v:.2f}")
    lines.append(shown.to_string(index=False))
    warned = [f"  {ld} n={n} {m}: toolkit: {tw or '-'} | R: {rw or '-'}" for n, ld, m, tw, rw in
              zip(out["n"], out["load"], out["model"], out["tk_warnings"], out["R_warnings"]) if tw or rw]
    if warned:
        lines += ["", "warnings of the untimed warm call (count x first message for R):", *warned]
    if have_r:
        over = out[out["ratio"] > 1.0]
        lines.append("")
        lines.append("models above 1.0x R (wall, same load): " + (
            "none" if over.empty else "; ".join(f"{m} n={n} {ld}: {r:.2f}x" for m, n, ld, r in
                                                 zip(over["model"], over["n"], over["load"], over["ratio"]))))
        mixed = out[out["model"].str.startswith("lmer") & (out["ratio"] > 0.5)]
        lines.append("mixed models above 0.5x lme4 (wall, same load): " + (
            "none" if mixed.empty else "; ".join(f"{m} n={n} {ld}: {r:.2f}x" for m, n, ld, r in
                                                  zip(mixed["model"], mixed["n"], mixed["load"], mixed["ratio"]))))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--loads", nargs="+", default=["as is", "+2 busy"], choices=["as is", "+2 busy"])
    ap.add_argument("--old", action="store_true", help="also time the pre-issue-16 lifelines fit_cox path (as is)")
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # killed: the busy loops and R are still stopped (finally)
    warnings.simplefilter("ignore")
    rscript = shutil.which("Rscript")
    head = [(f"cores: {os.cpu_count()}; load average (1/5/15 min) at start: {load_avg()}; seed {args.seed}; "
             f"repeats {args.repeats}; Python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")]
    if rscript is None:
        head.append("Rscript not found on PATH: timing the toolkit only (no R times, no ratios)")
    print("\n".join(head), flush=True)
    tables = {f: categorical(pd.read_csv(REF / f"{f}.csv")) for f in ("surv", "tv", "interval", "long")}
    rows: list[dict[str, Any]] = []
    old_rows: list[str] = []
    checks: list[str] = []
    r_version = ""
    with tempfile.TemporaryDirectory(prefix="bench_vs_r_") as tmp:
        for n in args.n:
            data = {f: resample(d, n, args.seed) for f, d in tables.items()}
            folder = Path(tmp) / str(n)
            folder.mkdir()
            for f, d in data.items():
                d.to_csv(folder / f"{f}.csv", index=False)
            print(f"n = {n}: {', '.join(f'{f} {len(d):,} rows' for f, d in data.items())}", flush=True)
            jobs = toolkit_jobs(data["surv"], data["tv"], data["interval"], data["long"])
            for load in args.loads:
                procs = busy(2) if load == "+2 busy" else []
                r = None
                try:
                    time.sleep(1.0 if procs else 0.0)
                    if rscript is not None:
                        r = RSession(rscript, folder)
                        r_version = r_version or r.ask("versions").removeprefix("VERSIONS ")
                    la = os.getloadavg()[0]
                    print(f"  load {load!r}: load average {load_avg()}", flush=True)
                    for model in args.models:
                        res = timed_pair(jobs[model], r, model, args.repeats)
                        rows.append({"n": n, "load": load, "model": model, "load_avg": round(la, 2), **res})
                        if r is not None and load == args.loads[0]:
                            same = compare(toolkit_values(model, jobs[model]()), r.values(model),
                                           1e-3 if model.startswith("lmer") else 1e-6)
                            checks.append(f"  n={n} {model}: {same}")
                        r_part = "" if r is None else (f"   R {res['R_s']:8.4f} s (cpu {res['R_cpu']:7.4f})   "
                                                       f"ratio {res['tk_s'] / res['R_s']:5.2f}")
                        print(f"    {model:<13} toolkit {res['tk_s']:8.4f} s (cpu {res['tk_cpu']:7.4f}){r_part}", flush=True)
                    if args.old and load == "as is":
                        old = timed_pair(lambda s=data["surv"]: old_fit_cox(s), None, "old", args.repeats)
                        old_s, old_cpu = old["tk_s"], old["tk_cpu"]
                        cox_r = next((x["R_s"] for x in rows if x["n"] == n and x["load"] == load
                                      and x["model"] == "cox"), np.nan)
                        old_rows.append(f"n={n}: old lifelines fit_cox path {old_s:.3f} s (cpu {old_cpu:.3f}); "
                                        f"/ coxph measured here: {old_s / cox_r:.2f}x (issue 16 quoted "
                                        f"{OLD_RATIO.get(n, float('nan'))}x); implied R time old/factor "
                                        f"{old_s / OLD_RATIO.get(n, float('nan')):.3f} s vs coxph measured {cox_r:.4f} s")
                finally:
                    stop(procs)
                    if r is not None:
                        r.close()
    text = "\n".join([*head, f"R: {r_version or 'not run'}", "", report(rows, rscript is not None),
                      *(["", "same estimates? toolkit against R on the same resampled data (untimed):", *checks]
                        if checks else []), *(
        ["", *old_rows] if old_rows else []), "", f"load average (1/5/15 min) at the end: {load_avg()}"])
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
