"""Timings of the survival fits at 1,000 / 5,000 / 20,000 / 100,000 patients.

Run: python benchmarks/bench_survival.py [--sizes 1000 5000 20000 100000] [--repeats 3] [--only log-rank]

Each cohort is simulated once (seed 1); each fit is timed warm (one untimed call first, then the
median of --repeats calls; wall and CPU seconds of this process). R figures quoted by the product owner for the same kind of data
(interval-censored AFT 0.01 / 0.03 / 0.1 s; time-varying Cox 0.04 / 0.23 / 1.1 s; PH test
0.006 / 0.014 / 0.055 s at 1k / 5k / 20k) are printed beside ours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.survival import _zph
from footdrop_outcomes.survival._input import survival_frame
from footdrop_outcomes.survival.cox import _design as cox_design
from footdrop_outcomes.survival.cox import fit_cox, fit_cox_time_varying
from footdrop_outcomes.survival.curves import kaplan_meier, logrank_test, turnbull
from footdrop_outcomes.survival.parametric import fit_cure_model, fit_interval_aft
from footdrop_outcomes.survival.piecewise_hazard import piecewise_hazard_curve
from footdrop_outcomes.survival.timevarying import counting_process

R_SECONDS = {"interval AFT (weibull)": (0.01, 0.03, 0.1), "interval AFT (lognormal)": (0.01, 0.03, 0.1),
             "time-varying Cox": (0.04, 0.23, 1.1), "cox.zph score test": (0.006, 0.014, 0.055)}
R_SIZES = (1000, 5000, 20000)
FORMULA = "cause + severity + age + diabetes + smoking + days_to_treatment + supervised_physio"


def _time(fn, repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process over ``repeats`` warm calls."""
    fn()
    times, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000, 100000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="time only the fits whose name contains this text (e.g. log-rank)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for n in args.sizes:
        cohort = simulate_cohort(n, seed=1)
        frame = survival_frame(cohort)
        frame = frame[frame["cause"] != "als"].copy()  # ALS never recovers: no events in that level
        frame["cause"] = frame["cause"].cat.remove_unused_categories()
        cp = counting_process(cohort)
        cp = cp[cp["cause"] != "als"].copy()
        cp["cause"] = cp["cause"].cat.remove_unused_categories()
        cp["id"] = cp["patient_id"].astype(str)
        cox = fit_cox(frame, FORMULA)
        _, x = cox_design(frame, FORMULA, "time and event", "data", frame["event"].to_numpy(bool), [])
        jobs = {
            "Kaplan-Meier by cause": lambda: kaplan_meier(frame, group="cause"),
            "Turnbull NPMLE by cause": lambda: turnbull(frame, group="cause"),
            "piecewise hazard by cause (cure model, linear: the default)": lambda: piecewise_hazard_curve(frame, group="cause"),
            "piecewise hazard by cause (cure model, constant)": lambda: piecewise_hazard_curve(frame, group="cause",
                                                                                              hazard="constant"),
            "piecewise hazard by cause (plain, linear)": lambda: piecewise_hazard_curve(frame, group="cause", cure=False),
            "log-rank (overall, pairwise, trend)": lambda: logrank_test(frame, group="cause"),
            "log-rank (overall only, as survdiff)": lambda: logrank_test(frame, group="cause", pairwise=False, trend=False),
            "Cox": lambda: fit_cox(frame, FORMULA),
            "Cox + PH test": lambda: fit_cox(frame, FORMULA, ph_test=True),
            "time-varying Cox": lambda: fit_cox_time_varying(cp, FORMULA + " + cumulative_adherence"),
            "interval AFT (weibull)": lambda: fit_interval_aft(frame, FORMULA, distribution="weibull"),
            "interval AFT (lognormal)": lambda: fit_interval_aft(frame, FORMULA, distribution="lognormal"),
            "cure model (weibull)": lambda: fit_cure_model(frame, incidence_formula="cause + severity + age + diabetes",
                                                           latency_formula=FORMULA),
        }
        jobs["cox.zph score test"] = lambda: _zph.cox_zph(x, cox.params.to_numpy(), frame["time"].to_numpy(float),
                                                           frame["event"].to_numpy(bool))
        for name, fn in jobs.items():
            if args.only not in name:
                continue
            secs, cpu = _time(fn, args.repeats)
            r = R_SECONDS.get(name)
            r_s = r[R_SIZES.index(n)] if r and n in R_SIZES else np.nan
            rows.append({"fit": name, "patients": n, "rows": len(cp) if "time-varying" in name else len(frame),
                         "seconds": secs, "cpu_seconds": cpu, "R_seconds": r_s})
    out = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(out.pivot_table(index="fit", columns="patients", values=["seconds", "cpu_seconds"]).round(3).to_string())
    print()
    print(out.round(4).to_string(index=False))
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (2 cores; wall seconds wait for a core when it is high, "
          "CPU seconds much less)")


if __name__ == "__main__":
    main()
