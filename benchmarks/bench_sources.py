"""Benchmark: OMOP CDM -> cohort (time, peak memory) and the simulate -> export -> import round trip.

Usage::

    python benchmarks/bench_sources.py speed [--persons 100000] [--measurements 10000000] [--format parquet|csv|duckdb]
    python benchmarks/bench_sources.py roundtrip [--patients 10000]

``speed`` simulates ``persons`` patients, exports them as a CDM (``export_omop``) and pads the
``measurement`` table with rows of concepts outside the concept sets (as in a real warehouse,
where most measurements are other tests) up to ``measurements`` rows, then runs ``import_omop``
in a fresh child process that reports wall time and peak RSS (``ru_maxrss``). The issue's
target: 100,000 persons and 10,000,000 measurement rows in <= 60 s and <= 4 GB.

``roundtrip`` simulates a cohort, exports it to a CDM (Parquet) and to a REDCap project, imports
both, and compares the tables and Kaplan-Meier estimates (median time to recovery and
landmark probabilities) before and after.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from footdrop_outcomes.sources import import_omop
t1 = time.perf_counter()
r = import_omop(sys.argv[1], sys.argv[2])
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import_s": t2 - t1, "startup_s": t1 - t0, "cpu_s": ru.ru_utime + ru.ru_stime, "patients": r.rows["patients"], "visits": r.rows["visits"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _pad_measurements(cdm: Path, fmt: str, target_rows: int, seed: int) -> int:
    import duckdb

    src = cdm / f"measurement.{fmt}" if fmt != "duckdb" else cdm
    con = duckdb.connect(str(cdm) if fmt == "duckdb" else ":memory:")
    table = "main.measurement" if fmt == "duckdb" else f"read_{'parquet' if fmt == 'parquet' else 'csv'}('{src}')"
    n0, n_persons = con.execute(f"SELECT count(*), max(person_id) FROM {table}").fetchone()
    extra = max(0, target_rows - n0)
    # filler rows: other tests (concepts 3,000,000+), spread over persons and dates
    filler = f"""
        SELECT {n0} + i + 1 AS measurement_id, (hash(i + {seed}) % {n_persons}) + 1 AS person_id,
               3000000 + (i % 500) AS measurement_concept_id, DATE '2015-01-01' + CAST(i % 3000 AS INTEGER) AS measurement_date,
               32879 AS measurement_type_concept_id, CAST((i % 1000) / 10.0 AS DECIMAL(18,3)) AS value_as_number
        FROM range({extra}) t(i)"""
    if fmt == "duckdb":
        con.execute(f"INSERT INTO main.measurement BY NAME {filler}")
    else:
        out = cdm / f"measurement_padded.{fmt}"
        opts = "(FORMAT parquet)" if fmt == "parquet" else "(HEADER, DATEFORMAT '%Y-%m-%d')"
        con.execute(f"COPY (SELECT * FROM {table} UNION ALL BY NAME {filler}) TO '{out}' {opts}")
        out.replace(src)
    con.close()
    return n0 + extra


def speed(persons: int, measurements: int, fmt: str) -> None:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.sources import export_omop

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        cohort = simulate_cohort(persons, seed=1)
        cdm = export_omop(cohort, Path(d) / ("cdm.duckdb" if fmt == "duckdb" else "cdm"), format=fmt)
        rows = _pad_measurements(cdm, fmt, measurements, seed=1)
        print(f"built CDM: {persons} persons, {rows} measurement rows ({fmt}) in {time.perf_counter() - t:.1f} s")
        res = subprocess.run([sys.executable, "-c", CHILD, str(cdm), str(Path(d) / "cohort")], capture_output=True, text=True, check=False)
        if res.returncode:
            print(res.stderr[-2000:])
            return
        info = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"import_omop: {info['import_s']:.1f} s (+{info['startup_s']:.1f} s imports), peak RSS {info['peak_rss_mb']:.0f} MB, "
              f"{info['patients']} patients, {info['visits']} visits; CPU time of the child {info['cpu_s']:.1f} s")


def roundtrip(patients: int) -> None:
    import numpy as np

    from footdrop_outcomes import load_cohort, simulate_cohort
    from footdrop_outcomes.sources import (
        export_omop,
        export_redcap,
        import_omop,
        import_redcap,
    )
    from footdrop_outcomes.survival.curves import kaplan_meier

    cohort = simulate_cohort(patients, seed=7)
    before = kaplan_meier(cohort).summary
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        cdm = export_omop(cohort, Path(d) / "cdm", format="parquet")
        t_exp = time.perf_counter() - t
        back = load_cohort(import_omop(cdm, Path(d) / "omop_cohort").path)
        t_imp = time.perf_counter() - t - t_exp
        files = export_redcap(cohort, Path(d) / "redcap")
        back_rc = load_cohort(import_redcap(files["records"], files["dictionary"], files["mapping"], Path(d) / "rc_cohort").path)
    print(f"OMOP export {t_exp:.1f} s, import {t_imp:.1f} s for {patients} patients")
    for label, other in (("OMOP", back), ("REDCap", back_rc)):
        after = kaplan_meier(other).summary
        num = before.select_dtypes("number").columns
        diff = float(np.nanmax(np.abs(before[num].to_numpy(float) - after[num].to_numpy(float))))
        same_visits = len(cohort.visits) == len(other.visits)
        print(f"{label}: {len(other.patients)} patients, visits equal in number: {same_visits}; "
              f"largest difference over the Kaplan-Meier summary ({len(num)} numeric columns): {diff:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--persons", type=int, default=100_000)
    s.add_argument("--measurements", type=int, default=10_000_000)
    s.add_argument("--format", choices=["parquet", "csv", "duckdb"], default="parquet")
    r = sub.add_parser("roundtrip")
    r.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    if args.cmd == "speed":
        speed(args.persons, args.measurements, args.format)
    else:
        roundtrip(args.patients)


if __name__ == "__main__":
    main()
