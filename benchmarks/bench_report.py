"""End-to-end time of ``footdrop-outcomes demo``: simulate, run the outcome report notebook, typeset the PDF.

Each repeat runs the real command in a fresh process (imports, kernel start and all), in a
temporary directory, and reads the phase times the command prints. The goal is under 60 s on
this machine class (2 cores).

    python benchmarks/bench_report.py [--repeats 3] [--n 2000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    exe = shutil.which("footdrop-outcomes", path=str(Path(sys.executable).parent)) or "footdrop-outcomes"
    rows = []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            done = subprocess.run([exe, "demo", "--out", tmp, "--n", str(args.n), "--seed", str(args.seed)],
                                  capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                sys.exit(f"demo failed:\n{done.stdout}\n{done.stderr}")
            phases = dict(re.findall(r"(simulate|run notebook|typeset) ([0-9.]+) s", done.stdout))
            from pypdf import PdfReader

            pages = len(PdfReader(Path(tmp) / "demo-outcome-report.pdf").pages)
            size = (Path(tmp) / "demo-outcome-report.pdf").stat().st_size
            load = os.getloadavg()[0]  # other jobs on the 2 cores inflate the figures: report the load beside them
            rows.append({"wall": wall, **{k: float(v) for k, v in phases.items()}, "pages": pages, "kb": size / 1024, "load": load})
            print(f"repeat {r + 1}: {wall:.1f} s end to end (simulate {phases.get('simulate')} s, notebook {phases.get('run notebook')} s, "
                  f"typeset {phases.get('typeset')} s), {pages} pages, {size / 1024:.0f} KiB; 1-min load average after: {load:.1f}", flush=True)
    med = statistics.median(x["wall"] for x in rows)
    print(f"median end to end over {len(rows)} repeats: {med:.1f} s; goal under 60 s: {'PASS' if med < 60 else 'FAIL'}")


if __name__ == "__main__":
    main()
