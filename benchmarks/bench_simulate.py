"""Speed and peak memory of simulate_cohort; goal: 100,000 patients in <= 10 s and <= 2 GB.

Run: python benchmarks/bench_simulate.py [--sizes 1000 10000 100000] [--repeats 3]

Each measurement runs in a fresh process (so peak RSS is the simulation's own), and reports
the process's RSS after imports and its peak RSS after simulating. Save/load of the largest
cohort (Parquet + validation on load) is timed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worker(n: int, repeats: int, io: bool) -> None:
    import resource

    from footdrop_outcomes import load_cohort, simulate_cohort

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cohort = simulate_cohort(n, seed=1)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"n": n, "visits": len(cohort.visits), "adherence": len(cohort.adherence), "seconds": statistics.median(times),
           "rss_after_import_mb": base, "peak_rss_mb": peak}
    if io:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            cohort.save(Path(tmp) / "c")
            out["save_s"] = time.perf_counter() - t0
            out["disk_mb"] = sum(f.stat().st_size for f in (Path(tmp) / "c").iterdir()) / 1e6
            t0 = time.perf_counter()
            load_cohort(Path(tmp) / "c")
            out["load_validate_s"] = time.perf_counter() - t0
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--io", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.repeats, args.io)
        return
    print(f"{'patients':>9} {'visits':>9} {'adherence':>10} {'median s':>9} {'RSS import MB':>14} {'peak RSS MB':>12}")
    for n in args.sizes:
        io = n == max(args.sizes)
        cmd = [sys.executable, __file__, "--worker", str(n), "--repeats", str(args.repeats)] + (["--io"] if io else [])
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(f"{r['n']:>9} {r['visits']:>9} {r['adherence']:>10} {r['seconds']:>9.2f} {r['rss_after_import_mb']:>14.0f} {r['peak_rss_mb']:>12.0f}")
        if n == 100_000:
            ok = r["seconds"] <= 10 and r["peak_rss_mb"] <= 2048
            print(f"goal (100,000 patients <= 10 s and <= 2 GB peak): {'PASS' if ok else 'FAIL'}")
        if io:
            print(f"save {r['save_s']:.2f} s, {r['disk_mb']:.1f} MB on disk; load + validate {r['load_validate_s']:.2f} s")


if __name__ == "__main__":
    main()
