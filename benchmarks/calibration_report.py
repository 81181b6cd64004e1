"""Calibration check of simulator version 2: every published target, pass counts by set.

Usage::

    python benchmarks/calibration_report.py [--n 50000] [--replicates 4] [--seed 2026] [--csv out.csv] [--pdf out.pdf]

Simulates ``--replicates`` v2 cohorts of ``--n`` patients (seeds ``seed, seed+1, ...``), computes
every target of ``src/footdrop_outcomes/cohort/calibration/targets.toml`` on the latent truth and,
where the visits show it, from the tables (Monte Carlo SE over replicates), and prints the table
and the pass counts of the calibration and validation sets. Calibration targets were used to set
the v2 parameters; validation targets never were (docs/simulation.md, section 11). ``--pdf`` also
writes the calibration report (one page per source) from the same check table.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from footdrop_outcomes.cohort.calibration import calibration_check, pass_counts
from footdrop_outcomes.report.calibration_section import calibration_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--replicates", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--csv", default=None, help="also write the full table to this CSV file")
    ap.add_argument("--pdf", default=None, help="also write the calibration report PDF (one page per source)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    check = calibration_check(args.n, replicates=args.replicates, seed=args.seed)
    elapsed = time.perf_counter() - t0
    cols = ["set", "id", "value", "low", "high", "latent", "latent_se", "observed", "observed_se", "pass_latent", "pass_observed"]
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.float_format", "{:.3f}".format):
        print(check[cols].to_string(index=False))
        print()
        print(pass_counts(check).to_string(index=False))
    print(f"\n{args.replicates} x {args.n:,} patients, seed {args.seed}: {elapsed:.1f} s")
    if args.csv:
        check.to_csv(args.csv, index=False)
    if args.pdf:
        t1 = time.perf_counter()
        rep = calibration_report(args.pdf, args.n, replicates=args.replicates, seed=args.seed, check=check)
        print(f"wrote {rep.path} (notebook -> PDF) in {time.perf_counter() - t1:.1f} s")


if __name__ == "__main__":
    main()
