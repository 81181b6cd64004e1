"""Benchmark: streaming import of a large extract (time and peak memory).

Usage::

    python benchmarks/bench_import.py [--visit-rows 1000000] [--patients 100000] [--format csv|parquet]

Writes a synthetic extract into a temporary directory (patients, visits with ``visit-rows``
rows, a small adherence file; identity mapping with a few codes and units), then imports it in
a fresh child process that reports wall time and its peak RSS (``ru_maxrss`` and ``VmHWM``,
after imports and after the import). The parent imports only the standard library; a first child writes the
extract. Exit code is always 0.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAPPING = """
format_version = 1
[options]
mrc_minus = "base"
[patients.columns]
{patients}
[patients.codes.sex]
F = "female"
M = "male"
[visits.columns]
{visits}
[visits.units]
day = "weeks"
[adherence.columns]
{adherence}
"""


def write_extract(directory: Path, n_patients: int, visit_rows: int, fmt: str = "csv", seed: int = 1) -> dict[str, Path]:
    """A valid extract: ``visit_rows`` visit rows over ``n_patients`` patients (days in weeks, MRC with +/-)."""
    import numpy as np
    import pandas as pd

    from footdrop_outcomes.cohort.schema import SCHEMAS

    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:07d}" for i in range(n_patients)], dtype=object)
    baseline = rng.integers(0, 5, n_patients)
    severity = np.where(baseline <= 1, "severe", np.where(baseline == 2, "moderate", "mild"))
    patients = pd.DataFrame({
        "patient_id": ids, "age": rng.integers(18, 99, n_patients), "sex": rng.choice(["F", "M"], n_patients),
        "side": rng.choice(["left", "right"], n_patients), "cause": rng.choice(["stroke", "lumbar_radiculopathy"], n_patients),
        "severity": severity, "baseline_mrc": baseline, "diabetes": rng.choice(["yes", "no"], n_patients),
        "hba1c": np.round(rng.uniform(4.5, 9, n_patients), 1), "smoking": "never", "bmi": 27.5,
        "days_to_treatment": rng.integers(0, 30, n_patients), "home_exercise": "yes", "supervised_physio": "no",
        "afo": "none", "fes": "no", "surgery": "none", "site": rng.choice(["S01", "S02", "S03"], n_patients),
        "red_flag_cauda_equina": "no", "red_flag_rapid_worsening": "no", "followup_days": 3640, "followup_end": "study_end",
    })
    per = np.full(n_patients, visit_rows // n_patients)
    per[: visit_rows - per.sum()] += 1
    pid = np.repeat(np.arange(n_patients), per)
    within = np.arange(visit_rows) - np.repeat(np.cumsum(per) - per, per)
    mrc = rng.integers(0, 6, visit_rows)
    mod = rng.choice(["", "+", "-"], visit_rows)
    visits = pd.DataFrame({
        "patient_id": ids[pid], "day": np.round(within * 2.0 + rng.uniform(0, 1.5, visit_rows), 2),  # weeks
        "mrc": [f"{g}{m}" if 1 <= g <= 4 else str(g) for g, m in zip(mrc, mod)],
        "rom_deg": np.round(rng.uniform(-20, 20, visit_rows), 1), "gait_speed": np.round(rng.uniform(0.2, 1.6, visit_rows), 2),
        "falls": rng.integers(0, 3, visit_rows), "afo_needed": rng.choice(["yes", "no"], visit_rows),
    })
    adh = pd.DataFrame({"patient_id": ids[: min(1000, n_patients)], "week": 1})
    for c in SCHEMAS["adherence"].columns:
        if c.endswith("_prescribed") and "hours" not in c:
            adh[c] = 7
        elif c.endswith("_completed"):
            adh[c] = 5
        elif "hours" in c:
            adh[c] = None
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, df in (("patients", patients), ("visits", visits), ("adherence", adh)):
        f = directory / f"{name}.{fmt}"
        df.to_parquet(f, index=False) if fmt == "parquet" else df.to_csv(f, index=False)
        files[name] = f
    cols = {name: "\n".join(f'{c} = "{c}"' for c in SCHEMAS[name].columns) for name in ("patients", "visits", "adherence")}
    files["mapping"] = directory / "mapping.toml"
    files["mapping"].write_text(MAPPING.format(**cols))
    return files


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker(files: dict[str, str], out: str) -> None:
    from footdrop_outcomes.privacy import import_cohort

    base = _peak_mb()
    t = time.perf_counter()
    result = import_cohort(files["mapping"], patients=files["patients"], visits=files["visits"], adherence=files["adherence"], out=out)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "baseline_mb": base, "peak_mb": _peak_mb(), "vmhwm_mb": _vmhwm_mb(), "rows": result.rows}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visit-rows", type=int, default=1_000_000)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--write", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        _worker(spec["files"], spec["out"])
        return
    if args.write:  # child that writes the extract, so the parent stays small
        files = write_extract(Path(args.write), args.patients, args.visit_rows, args.format)
        print(json.dumps({k: str(v) for k, v in files.items()}))
        return
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = subprocess.run([sys.executable, __file__, "--write", str(Path(d) / "extract"), "--patients", str(args.patients),
                              "--visit-rows", str(args.visit_rows), "--format", args.format], capture_output=True, text=True, check=True)
        files = {k: Path(v) for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}
        print(f"wrote extract ({args.visit_rows:,} visit rows, {args.patients:,} patients, {args.format}) in {time.perf_counter() - t:.1f} s; "
              f"visits file {files['visits'].stat().st_size / 2**20:.1f} MB")
        spec = json.dumps({"files": {k: str(v) for k, v in files.items()}, "out": str(Path(d) / "cohort")})
        res = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr)
            return
        r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"import: {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB (VmHWM {r['vmhwm_mb']:.0f} MB; "
              f"{r['baseline_mb']:.0f} MB after imports), rows {r['rows']}")


if __name__ == "__main__":
    main()
