"""Timings of the privacy guard: long values, worst-case inputs for its patterns, a 100k-patient cohort.

Run ``python benchmarks/bench_guard.py`` in a fresh process (prints figures; no assertions). Every
figure is the best of ``--repeat`` runs, as CPU time of this process (``time.process_time``) and
wall time; the load average is printed before and after, because wall times on a shared machine
are inflated by other work. ``--busy 2`` starts two busy-looping processes first (a loaded machine).

What is timed:

1. one 5,000,000-character value of each worst-case family, as a patient key, a site label, an
   unknown column and a report title (``check_text``): refused by its length before any pattern runs;
2. 100,000 *distinct* values of 59 characters (just under the free-text limit, so every pattern
   runs on every value) of each family, in an unknown column: the real worst case of the patterns
   (RE2: time linear in the text, no backtracking);
3. the guard on the three tables of a simulated 100,000-patient cohort, and ``load_cohort`` of it
   (the issue's bound: no slower than 3.6 s).

Worst-case families: long runs of digits, digits and spaces, digits and dots, ``@`` between
letters, alternating letter / digit, digits and dashes, capitalised words, Latin and Cyrillic
letters mixed (look-alike folding), Arabic-Indic digits (digit folding), zero-width spaces.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import footdrop_outcomes as fo
from footdrop_outcomes.guard import PrivacyError, check_privacy, check_text

LONG = 5_000_000
SHORT = 59  # one character under the free-text limit (60): every pattern runs
N_DISTINCT = 100_000


def _family_value(name: str, n: int, rng: np.random.Generator) -> str:
    """One value of ``n`` characters of a worst-case family (random, so that values are distinct)."""
    digits = rng.integers(0, 10, n).astype(str)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))[rng.integers(0, 26, n)]
    if name == "digits":
        chars = digits
    elif name == "digits+spaces":
        chars = np.where(np.arange(n) % 2 == 0, digits, " ")
    elif name == "digits+dots":
        chars = np.where(np.arange(n) % 2 == 0, digits, ".")
    elif name == "@ between letters":
        chars = np.where(np.arange(n) % 2 == 0, letters, "@")
    elif name == "letter/digit":
        chars = np.where(np.arange(n) % 2 == 0, letters, digits)
    elif name == "digits+dashes":
        chars = np.where(np.arange(n) % 3 == 2, "-", digits)
    elif name == "capitalised words":
        chars = np.where(np.arange(n) % 6 == 0, np.char.upper(letters), np.where(np.arange(n) % 6 == 5, " ", letters))
    elif name == "Latin+Cyrillic":
        chars = np.where(np.arange(n) % 2 == 0, letters, "а")  # Cyrillic a
    elif name == "Arabic-Indic digits":
        chars = np.array([chr(0x660 + int(d)) for d in digits]) if n <= 10_000 else np.where(digits == "0", "٠", "١")
    elif name == "zero-width spaces":
        chars = np.where(np.arange(n) % 2 == 0, letters, "\u200b")
    else:
        raise ValueError(name)
    return "".join(chars.tolist())


FAMILIES = ["digits", "digits+spaces", "digits+dots", "@ between letters", "letter/digit", "digits+dashes",
            "capitalised words", "Latin+Cyrillic", "Arabic-Indic digits", "zero-width spaces"]


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best CPU and best wall time of ``repeat`` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall)


def _refused(tables: dict[str, pd.DataFrame]) -> None:
    try:
        check_privacy(tables)
    except PrivacyError:
        return
    raise AssertionError("not refused")


def _title(value: str) -> None:
    try:
        check_text(value, where="bench")
    except PrivacyError:
        return
    raise AssertionError("not refused")


def _line(label: str, cpu: float, wall: float) -> None:
    print(f"  {label:<58s} cpu {cpu:7.3f} s   wall {wall:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--busy", type=int, default=0, help="busy background processes to start")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-cohort", action="store_true", help="only the long and worst-case values")
    args = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    rng = np.random.default_rng(2026)
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
              f"  (cores: {os.cpu_count()}, busy background processes: {args.busy})")
        print(f"1. one {LONG:,}-character value (best of {args.repeat})")
        worst_long = 0.0
        for fam in FAMILIES:
            v = _family_value(fam, LONG, rng)
            for where, fn in (
                ("patient key", lambda v=v: _refused({"patients": pd.DataFrame({"patient_id": ["P1", v]})})),
                ("site label", lambda v=v: _refused({"patients": pd.DataFrame({"patient_id": ["P1", "P2"], "site": ["S01", v]})})),
                ("unknown column", lambda v=v: _refused({"patients": pd.DataFrame({"patient_id": ["P1", "P2"], "ref": ["0", v]})})),
                ("report title", lambda v=v: _title(v)),
            ):
                cpu, wall = _best(fn, args.repeat)
                worst_long = max(worst_long, wall)
                _line(f"{fam}, {where}", cpu, wall)
        print(f"  slowest: {worst_long:.3f} s wall (bound: 1 s)")
        print(f"2. {N_DISTINCT:,} distinct values of {SHORT} characters in an unknown column (every pattern runs)")
        for fam in FAMILIES:
            values = list({_family_value(fam, SHORT, rng) for _ in range(N_DISTINCT)})
            table = {"patients": pd.DataFrame({"patient_id": [f"P{i:07d}" for i in range(1, len(values) + 1)], "ref": values})}

            def scan(table: dict[str, pd.DataFrame] = table) -> None:
                try:
                    check_privacy(table)
                except PrivacyError:
                    pass

            cpu, wall = _best(scan, 1)
            _line(f"{fam} ({len(values):,} distinct)", cpu, wall)
        if not args.skip_cohort:
            print(f"3. a simulated {args.patients:,}-patient cohort (best of {args.repeat})")
            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / "c"
                fo.simulate_cohort(args.patients, seed=1).save(path)
                tables = {n: pd.read_parquet(path / f"{n}.parquet") for n in ("patients", "visits", "adherence")}
                rows = sum(len(t) for t in tables.values())
                cpu, wall = _best(lambda: check_privacy(tables), args.repeat)
                _line(f"guard on the three tables ({rows:,} rows)", cpu, wall)
                cpu, wall = _best(lambda: fo.load_cohort(path), args.repeat)
                _line("load_cohort (guard included; bound 3.6 s)", cpu, wall)
        print(f"load average at end:   {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    finally:
        for p in busy:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
