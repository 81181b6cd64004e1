"""Timings of the privacy guard: one 5,000,000-character value, and loading a 100k-patient cohort.

Run ``python benchmarks/bench_guard.py`` (prints figures; no assertions). With ``--busy 2`` it
starts two busy-looping processes first and stops them at the end, to time a loaded machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import footdrop_outcomes as fo
from footdrop_outcomes.guard import PrivacyError, check_privacy, check_text


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--busy", type=int, default=0, help="busy background processes to start")
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        long_key = "A" * 5_000_000
        nasty = "1" + " 1" * 2_500_000 + "x"

        def refuse(tables):
            try:
                check_privacy(tables)
            except PrivacyError:
                return
            raise AssertionError("not refused")

        print(f"busy background processes: {args.busy}")
        print(f"5,000,000-char patient key:        {_best(lambda: refuse({'patients': pd.DataFrame({'patient_id': ['P1', long_key]})}), 3):.3f} s")
        print(f"5,000,001-char site (digits+spaces): {_best(lambda: refuse({'patients': pd.DataFrame({'patient_id': ['P1', 'P2'], 'site': ['S01', nasty]})}), 3):.3f} s")
        print(f"check_text on a 5,000,000-char text: {_best(lambda: _try_text(long_key), 3):.3f} s")
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "c"
            fo.simulate_cohort(args.patients, seed=1).save(path)
            tables = {n: pd.read_parquet(path / f"{n}.parquet") for n in ("patients", "visits", "adherence")}
            print(f"guard on the {args.patients:,}-patient tables: {_best(lambda: check_privacy(tables), 3):.3f} s")
            print(f"load_cohort, {args.patients:,} patients:      {_best(lambda: fo.load_cohort(path), 3):.3f} s")
    finally:
        for p in busy:
            p.kill()
            p.wait()


def _try_text(value: str) -> None:
    try:
        check_text(value, where="bench")
    except PrivacyError:
        pass


if __name__ == "__main__":
    main()
