"""Toolkit fit times against R's at 5,000 and 20,000 patients, without and with two busy background processes.

Models (the R reference data, ``tests/data/r_reference``, resampled by patient with new ids):

* ``fit_cox``: ``cause + severity + age + diabetes + smoker + adherence`` on ``surv.csv``
  (R ``coxph(..., ties = "efron")``);
* ``fit_cox_time_varying``: ``adherence_in_interval`` instead of ``adherence``, on ``tv.csv`` (4-week episodes;
  R ``coxph(Surv(start, stop, event) ~ ...)``);
* ``fit_trajectory`` REML: ``strength ~ lw * cause + severity + (1 + lw | id)`` on ``long.csv``
  (R ``lmer``).

R seconds are the product owner's (issue 16): lme4 0.67 / 2.9 s and time-varying coxph 0.23 / 1.1 s
at 5k / 20k. The issue gives no ``coxph`` seconds, only that the old ``fit_cox`` (lifelines
``CoxPHFitter`` + Newton polish + PH test) took 7.4x / 4.7x R's time; the "R s" of ``fit_cox`` is
therefore *implied*: the old path timed here divided by that factor (marked ``*``).

Each fit is timed warm (one untimed call, then the median of ``--repeats``; wall seconds, and
the CPU seconds of this process summed over its threads, which on an overloaded machine is
closer to what the fit would take alone than the wall time), under two thread
settings: ``1`` (the toolkit's default inside fits) and ``all`` (the BLAS library's default
threads, i.e. what the fits did before ``_threads.py``), and under two loads: ``as is`` (whatever
else runs on the machine; the load average is printed) and ``+2 busy`` (two extra
``python -c "while True: pass"`` processes started here and stopped by their process ids).

The ``ratio_to_R`` column divides wall seconds by R's; on a machine shared with other jobs both
the toolkit's and the old path's wall times are inflated by waiting for a core, so
``cpu_ratio_to_R`` is printed too: this process's CPU seconds over R's (for ``fit_cox``: the old
path's CPU seconds divided by the same factor; R's own seconds are single-threaded, so CPU
seconds are the comparable figure for the other fits).

    python benchmarks/bench_vs_r.py [--n 5000 20000] [--repeats 3] [--skip-old] [--only fit_cox] [--loads "as is" "+2 busy"]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._threads import set_threads
from footdrop_outcomes.survival import _zph
from footdrop_outcomes.survival.cox import _design as cox_design
from footdrop_outcomes.survival.cox import fit_cox, fit_cox_time_varying
from footdrop_outcomes.trajectories import fit_trajectory

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "r_reference"
FORMULA = "cause + severity + age + diabetes + smoker + adherence"
TV_FORMULA = "cause + severity + age + diabetes + smoker + adherence_in_interval"
R_SECONDS = {("fit_cox_time_varying", 5000): 0.23, ("fit_cox_time_varying", 20000): 1.1,
             ("fit_trajectory REML", 5000): 0.67, ("fit_trajectory REML", 20000): 2.9}
OLD_RATIO = {5000: 7.4, 20000: 4.7}  # old fit_cox / R coxph, quiet machine (issue 16)


def resample(frame: pd.DataFrame, n: int, seed: int, id_col: str = "id") -> pd.DataFrame:
    """``n`` patients drawn with replacement from ``frame`` (all rows of each), given new ids."""
    rng = np.random.default_rng(seed)
    ids = frame[id_col].unique()
    pick = rng.choice(ids, size=n, replace=True)
    groups = {k: g for k, g in frame.groupby(id_col)}
    return pd.concat([groups[i].assign(**{id_col: k}) for k, i in enumerate(pick)], ignore_index=True)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process (all its threads) over ``repeats`` warm calls."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def old_fit_cox(d: pd.DataFrame) -> None:
    """The pre-issue-16 path: lifelines CoxPHFitter (Efron) + its concordance + the PH test (threads not limited)."""
    from lifelines import CoxPHFitter

    _, x = cox_design(d, FORMULA, "time", "data", d["event"].to_numpy(bool), [])
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
    df["T"], df["E"] = d["time_weeks"].to_numpy(), d["event"].to_numpy()
    cph = CoxPHFitter().fit(df, "T", "E")
    _ = cph.concordance_index_
    _zph.cox_zph(x, cph.params_.to_numpy(), df["T"].to_numpy(), df["E"].to_numpy(bool))


def busy(k: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-old", action="store_true", help="do not time the old lifelines path of fit_cox")
    ap.add_argument("--only", default="", help="time only the fits whose name contains this text (the old path always)")
    ap.add_argument("--loads", nargs="+", default=["as is", "+2 busy"], choices=["as is", "+2 busy"])
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    cat = {"cause": ["compression", "neuropathy", "post_surgical", "radiculopathy", "stroke"],
           "severity": ["mild", "moderate", "severe"]}

    def categorical(d: pd.DataFrame) -> pd.DataFrame:
        return d.assign(**{k: pd.Categorical(d[k], categories=v) for k, v in cat.items()})

    surv, tv, long = (categorical(pd.read_csv(REF / f)) for f in ("surv.csv", "tv.csv", "long.csv"))
    print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.2f} "
          "(the machine is shared with other jobs: 'as is' is not a quiet machine)")
    rows = []
    for n in args.n:
        s, t, lg = resample(surv, n, args.seed), resample(tv, n, args.seed), resample(long, n, args.seed)
        jobs: dict[str, Callable[[], Any]] = {
            "fit_cox": lambda s=s: fit_cox(s, FORMULA, duration_col="time_weeks"),
            "fit_cox + PH test": lambda s=s: fit_cox(s, FORMULA, duration_col="time_weeks", ph_test=True),
            "fit_cox_time_varying": lambda t=t: fit_cox_time_varying(t, TV_FORMULA, id_col="id"),
            "fit_trajectory REML": lambda lg=lg: fit_trajectory(lg, "strength", "time * cause + severity", id_col="id",
                                                                time_col="week"),
        }
        jobs = {k: v for k, v in jobs.items() if args.only in k}
        if not args.skip_old:
            jobs["old fit_cox (lifelines + PH test)"] = lambda s=s: old_fit_cox(s)
        for load in args.loads:
            procs = busy(2) if load == "+2 busy" else []
            try:
                time.sleep(0.5 if procs else 0.0)
                la = os.getloadavg()[0]
                for threads in ("1", "all"):
                    set_threads(1 if threads == "1" else "all")
                    for name, fn in jobs.items():
                        if name.startswith("old") and threads == "1":
                            continue  # the old path never limited threads
                        secs, cpu = timed(fn, args.repeats)  # the fits limit threads themselves (set_threads above)
                        rows.append({"fit": name, "n": n, "threads": threads, "load": load, "load_avg": round(la, 1),
                                     "seconds": secs, "cpu_seconds": round(cpu, 3)})
            finally:
                stop(procs)
                set_threads(None)
    out = pd.DataFrame(rows)
    is_old = out["fit"].str.startswith("old")
    old = out[is_old].set_index(["n", "load"])["seconds"]
    old_cpu = out[is_old].set_index(["n", "load"])["cpu_seconds"]
    r_s, r_cpu = [], []
    for _, row in out.iterrows():
        if row["fit"].startswith("fit_cox") and not row["fit"].startswith("fit_cox_time"):
            key = (row["n"], "as is")
            ok = key in old.index and row["n"] in OLD_RATIO
            r_s.append(f"{old[key] / OLD_RATIO[row['n']]:.3f}*" if ok else "")
            r_cpu.append(old_cpu[key] / OLD_RATIO[row["n"]] if ok else np.nan)
        else:
            r = R_SECONDS.get((row["fit"], row["n"]))
            r_s.append("" if r is None else f"{r:.2f}")
            r_cpu.append(np.nan if r is None else r)
    out["R_seconds"] = r_s
    out["ratio_to_R"] = [f"{sec / float(r.rstrip('*')):.2f}" if r else "" for sec, r in zip(out["seconds"], r_s)]
    out["cpu_ratio_to_R"] = [f"{c / r:.2f}" if np.isfinite(r) else "" for c, r in zip(out["cpu_seconds"], r_cpu)]
    out["seconds"] = out["seconds"].round(3)
    pd.set_option("display.width", 200)
    print(out.to_string(index=False))
    print("\n* implied R time: the old fit_cox path timed here ('as is', library threads) / the issue's factor "
          f"{OLD_RATIO}; no coxph seconds are stated in the issue. cpu_ratio_to_R: CPU seconds over the same "
          "(old path CPU seconds / factor for fit_cox; R's seconds for the others).")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
