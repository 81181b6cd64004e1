"""Benchmark: simulation-study throughput (replicates per second) with 1 and 2 local Dask workers.

Run: python benchmarks/bench_studies.py [--reps 400] [--workers 1 2]

Two studies of the two-arm ``trial`` design (n_per_arm = 100, visit schedule, 10% dropout):

* ``logrank``: the log-rank test only (exact exponential times; the Schoenfeld-check study);
* ``all``: log-rank, Cox, interval-censored AFT, gait-speed mixed model (fast engine) and
  adherence difference on every replicate.

For each number of workers a LocalCluster (processes, one thread each) is started, warmed up (the
workers import the package), and the study is run into a fresh folder through an existing
``Client``, so the figures exclude cluster start-up, which is printed separately. Results of the
1- and 2-worker runs are checked to be identical (all columns but ``seconds``).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from footdrop_outcomes.studies import StudySpec, run_study

TRIAL = {"kind": "trial", "n_per_arm": 100, "log_hr": 0.4, "gait_slope_diff": 0.02, "adherence_diff": 0.05,
         "dropout_by_end": 0.1, "visit_miss_probability": 0.1}
ARM = {"formula": "arm", "term": "arm[treatment]"}
STUDIES = {
    "logrank": {"design": {**TRIAL, "visit_weeks": []}, "analyses": [{"label": "logrank", "method": "logrank"}]},
    "all": {"design": TRIAL, "analyses": [
        {"label": "logrank", "method": "logrank"},
        {"label": "cox", "method": "cox", "options": ARM, "truth": "log_hr"},
        {"label": "aft", "method": "interval_aft", "options": ARM, "truth": "log_hr", "truth_multiplier": -1.0},
        {"label": "slope", "method": "mixed_slope", "options": {"formula": "time * arm", "term": "lw:arm[treatment]"},
         "truth": "gait_slope_diff"},
        {"label": "adherence", "method": "adherence_difference", "truth": "adherence_diff"}]},
}


def _warm() -> bool:
    import footdrop_outcomes.studies.runner  # noqa: F401

    return True


def main() -> None:
    from distributed import Client, LocalCluster

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=400, help="replicates of the 'all' study (the log-rank study runs 10x as many)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk-size", type=int, default=25)
    args = ap.parse_args()
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_studies_"))
    try:
        for study, body in STUDIES.items():
            reps = args.reps * (10 if study == "logrank" else 1)
            spec = StudySpec.from_dict({"name": study, "replicates": reps, "seed": 2026, **body})
            previous = None
            for w in args.workers:
                t0 = time.perf_counter()
                with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                        Client(cluster) as client:
                    client.run(_warm)
                    startup = time.perf_counter() - t0
                    t1 = time.perf_counter()
                    run = run_study(spec, tmp / f"{study}-{w}", scheduler=client, chunk_size=args.chunk_size, progress=False)
                    secs = time.perf_counter() - t1
                res = run.results.drop(columns="seconds")
                same = "" if previous is None else ("yes" if res.equals(previous) else "NO")
                previous = res
                rows.append({"study": study, "workers": w, "replicates": reps, "seconds": round(secs, 2),
                             "replicates_per_s": round(reps / secs, 1), "startup_s": round(startup, 1),
                             "fit_s_per_rep": round(run.results.groupby("replicate")["seconds"].sum().mean(), 4),
                             "identical_to_previous": same})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    df = pd.DataFrame(rows)
    for study in STUDIES:
        d = df[df["study"] == study]
        base = d["replicates_per_s"].iloc[0]
        df.loc[d.index, "speed_up"] = (d["replicates_per_s"] / base).round(2)
    pd.set_option("display.width", 200)
    print(f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
