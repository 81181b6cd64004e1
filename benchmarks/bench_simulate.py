"""Benchmark: wall time and peak memory of ``simulate_cohort``, plus Parquet save / load.

Goals (product owner), on the 2-core reference machine: simulating 100,000 patients takes at most
10 s and 2 GB peak memory; with generator version 2 (issue 14), 1,000,000 patients take at most
60 s and 8 GB.

Usage::

    python benchmarks/bench_simulate.py [--n 100000] [--repeats 3] [--seed 1] [--version 2] [--skip-io]
    python benchmarks/bench_simulate.py --version 2 --n 100000 1000000 --repeats 1 --skip-io [--n-jobs 2]
    python benchmarks/bench_simulate.py --version 2 --n 100000 1000000 --repeats 1 --skip-io --busy 2

``--busy K`` starts K busy loops (``python -c "while True: pass"``) before the measurements and
stops them (by their process ids) afterwards: the issue-14 goal is 1M patients in 60 s with two
busy background processes on the 2-core reference machine.

Every measurement runs in a fresh Python process (this script re-run with ``--worker``), so
each peak-memory figure belongs to that one simulation (or load) alone. The child reports:

* ``baseline RSS``: ``ru_maxrss`` after importing the package, before simulating;
* ``peak RSS``: ``ru_maxrss`` after the simulation (the process high-water mark);
* ``VmHWM``: the same high-water mark read from ``/proc/self/status``, as a cross-check.

Why the cross-check: on Linux ``ru_maxrss`` survives ``exec``, so a child started from a big
parent reports at least the parent's RSS. The parent here imports nothing but the standard
library (about 10-20 MB) to stay well below the child's baseline; the script warns if the two
figures disagree.

Timing is ``time.perf_counter`` around the call alone (imports excluded); the median over
repeats is reported, peak RSS is the largest over repeats. The CPU time of the simulating process
(``time.process_time``, user + system) is printed beside the wall time: on a shared machine it is
the steadier figure. The load average is printed before and after each size. The 100k save / load figures use a
temporary directory that is removed afterwards. Exit code is always 0: this is a benchmark, not
a test, and the test suite times nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

GOAL_N = 100_000
GOAL_SECONDS = 10.0
GOAL_PEAK_MB = 2048.0  # 2 GB, in MiB (ru_maxrss is in KiB on Linux)
GOAL_1M_N, GOAL_1M_SECONDS, GOAL_1M_PEAK_MB = 1_000_000, 60.0, 8192.0  # version 2 (issue 14)
DEFAULT_NS = (1_000, 10_000, 100_000)
SAVE_LOAD_N = 100_000


# ------------------------------------------------------------------------------------------------
# memory helpers (used in both parent and child)


def _maxrss_mb() -> float:
    """Process high-water RSS from getrusage, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes on macOS
        kib /= 1024
    return kib / 1024


def _vmhwm_mb() -> float | None:
    """High-water RSS of the current address space from /proc (None where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ------------------------------------------------------------------------------------------------
# worker side: one measurement per process, one JSON line on stdout


def _worker(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    import footdrop_outcomes as fo  # noqa: PLC0415 - the import is part of what the child measures

    out: dict[str, object] = {
        "mode": args.worker,
        "import_s": time.perf_counter() - t0,
        "baseline_rss_mb": _maxrss_mb(),
        "baseline_vmhwm_mb": _vmhwm_mb(),
    }
    if args.worker == "simulate":
        t, c = time.perf_counter(), time.process_time()
        cohort = fo.simulate_cohort(args.n[0], args.seed, version=args.version, n_jobs=args.n_jobs)
        out["seconds"] = time.perf_counter() - t
        out["cpu_s"] = time.process_time() - c  # less sensitive than wall time to other jobs on a shared machine
    elif args.worker == "save":
        cohort = fo.simulate_cohort(args.n[0], args.seed, version=args.version)
        out["simulate_s"] = time.perf_counter() - t0 - out["import_s"]  # type: ignore[operator]
        target = Path(args.path)
        t = time.perf_counter()
        cohort.save(target)
        out["seconds"] = time.perf_counter() - t
        out["disk_bytes"] = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        out["files"] = {f.name: f.stat().st_size for f in sorted(target.iterdir())}
    elif args.worker == "load":
        t = time.perf_counter()
        cohort = fo.load_cohort(args.path)
        out["seconds"] = time.perf_counter() - t
    else:  # pragma: no cover - argparse restricts the choices
        raise SystemExit(f"unknown worker mode {args.worker!r}")
    out["peak_rss_mb"] = _maxrss_mb()
    out["peak_vmhwm_mb"] = _vmhwm_mb()
    out["patients"] = len(cohort.patients)
    out["visits"] = len(cohort.visits)
    out["adherence"] = len(cohort.adherence)
    print(json.dumps(out))


# ------------------------------------------------------------------------------------------------
# parent side: orchestrates fresh processes, keeps itself small


def _run_child(mode: str, n: int, seed: int, path: str | None = None, version: int = 1, n_jobs: int = 1) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--n", str(n), "--seed", str(seed), "--version", str(version),
           "--n-jobs", str(n_jobs)]
    if path is not None:
        cmd += ["--path", path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {mode} n={n} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summarise(runs: list[dict]) -> dict:
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "min_s": min(r["seconds"] for r in runs),
        "max_s": max(r["seconds"] for r in runs),
        "cpu_s": statistics.median(r.get("cpu_s", float("nan")) for r in runs),
        "baseline_mb": max(r["baseline_rss_mb"] for r in runs),
        "peak_mb": max(r["peak_rss_mb"] for r in runs),
        "peak_vmhwm_mb": max((r["peak_vmhwm_mb"] or 0.0) for r in runs),
        "import_s": statistics.median(r["import_s"] for r in runs),
        "patients": runs[0]["patients"],
        "visits": runs[0]["visits"],
        "adherence": runs[0]["adherence"],
    }


def _check_rss(label: str, runs: list[dict], warnings: list[str]) -> None:
    for r in runs:
        hwm = r.get("peak_vmhwm_mb")
        if hwm is not None and abs(r["peak_rss_mb"] - hwm) > max(5.0, 0.02 * hwm):
            warnings.append(f"{label}: ru_maxrss {r['peak_rss_mb']:.0f} MB differs from VmHWM {hwm:.0f} MB "
                            "(ru_maxrss may include an inherited parent high-water mark)")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, rule, *body])


def _main(args: argparse.Namespace) -> None:
    ns = args.n or list(DEFAULT_NS)
    repeats = max(1, args.repeats)
    version = _run_child_version()
    print(f"footdrop_outcomes {version} | Python {platform.python_version()} | {platform.system()} {platform.release()} "
          f"| {os.cpu_count()} CPUs | {date.today().isoformat()}")
    print(f"generator version {args.version}, n_jobs {args.n_jobs}, seed {args.seed}, {repeats} repeat(s) per size, each in a fresh process; "
          f"parent RSS {_maxrss_mb():.0f} MB; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    warnings: list[str] = []
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, args.busy))]
    if busy:
        print(f"{len(busy)} busy loop(s) running in the background (pids {', '.join(str(b.pid) for b in busy)})\n")
        time.sleep(2.0)
    try:
        results = _simulate_sizes(args, ns, repeats, warnings)
    finally:
        for b in busy:  # only the processes started here
            b.terminate()
        for b in busy:
            b.wait()
    _report(args, results, repeats, warnings)


def _simulate_sizes(args: argparse.Namespace, ns: list[int], repeats: int, warnings: list[str]) -> dict[int, dict]:
    results = {}
    for n in ns:
        runs = []
        load_before = os.getloadavg()[0]
        for i in range(repeats):
            runs.append(_run_child("simulate", n, args.seed, version=args.version, n_jobs=args.n_jobs))
            print(f"  simulate n={n:,} repeat {i + 1}/{repeats}: {runs[-1]['seconds']:.2f} s wall, {runs[-1]['cpu_s']:.2f} s CPU, "
                  f"peak RSS {runs[-1]['peak_rss_mb']:.0f} MB, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
        _check_rss(f"simulate n={n:,}", runs, warnings)
        results[n] = _summarise(runs)
        results[n]["load"] = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    return results


def _report(args: argparse.Namespace, results: dict[int, dict], repeats: int, warnings: list[str]) -> None:
    """Print the simulation table, then measure and print Parquet save / load (unless skipped) and the goal checks."""
    rows = []
    for n, s in results.items():
        rows.append([f"{n:,}", f"{s['patients']:,}", f"{s['visits']:,}", f"{s['adherence']:,}",
                     f"{s['median_s']:.2f}", f"{s['min_s']:.2f}-{s['max_s']:.2f}", f"{s['cpu_s']:.2f}",
                     f"{s['baseline_mb']:.0f}", f"{s['peak_mb']:.0f}", f"{s['peak_mb'] - s['baseline_mb']:.0f}", s["load"]])
    print(f"simulate_cohort(n, seed, version={args.version})  [seconds: median (range) of repeats; RSS: MB = MiB, max over repeats]")
    print(_table(["n", "patients", "visits rows", "adherence rows", "median s", "range s", "median CPU s",
                  "baseline RSS MB", "peak RSS MB", "sim increment MB", "load avg"], rows))
    imp = statistics.median(s["import_s"] for s in results.values())
    print(f"(package import, not timed above: median {imp:.2f} s; baseline RSS = ru_maxrss after imports)\n")

    # -------------------------------------------------------------- save / load at 100k
    io_rows = []
    disk = None
    if not args.skip_io:
        tmp = tempfile.mkdtemp(prefix="bench_footdrop_")
        try:
            save_runs = []
            for i in range(repeats):
                target = os.path.join(tmp, f"cohort_{i}")
                save_runs.append(_run_child("save", SAVE_LOAD_N, args.seed, target, version=args.version))
                print(f"  save n={SAVE_LOAD_N:,} repeat {i + 1}/{repeats}: {save_runs[-1]['seconds']:.2f} s", file=sys.stderr)
            disk = save_runs[0]
            load_runs = []
            for i in range(repeats):
                load_runs.append(_run_child("load", SAVE_LOAD_N, args.seed, os.path.join(tmp, "cohort_0")))
                print(f"  load n={SAVE_LOAD_N:,} repeat {i + 1}/{repeats}: {load_runs[-1]['seconds']:.2f} s, "
                      f"peak RSS {load_runs[-1]['peak_rss_mb']:.0f} MB", file=sys.stderr)
            _check_rss("load", load_runs, warnings)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        sv, ld = _summarise(save_runs), _summarise(load_runs)
        if (ld["patients"], ld["visits"], ld["adherence"]) != (disk["patients"], disk["visits"], disk["adherence"]):
            warnings.append("loaded cohort row counts differ from the saved cohort")
        io_rows.append(["cohort.save(path)", f"{SAVE_LOAD_N:,}", f"{sv['median_s']:.2f}", f"{sv['min_s']:.2f}-{sv['max_s']:.2f}",
                        f"{sv['baseline_mb']:.0f}", f"{sv['peak_mb']:.0f}"])
        io_rows.append(["load_cohort(path)", f"{SAVE_LOAD_N:,}", f"{ld['median_s']:.2f}", f"{ld['min_s']:.2f}-{ld['max_s']:.2f}",
                        f"{ld['baseline_mb']:.0f}", f"{ld['peak_mb']:.0f}"])
        print(f"Parquet save / load of the {SAVE_LOAD_N:,}-patient cohort (temp directory, removed afterwards;"
              " the save process also simulated the cohort, so its peak includes the simulation)")
        print(_table(["operation", "n", "median s", "range s", "baseline RSS MB", "peak RSS MB"], io_rows))
        total = disk["disk_bytes"]
        parts = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in disk["files"].items())
        print(f"on disk: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB) in {len(disk['files'])} files [MB: {parts}]\n")

    # -------------------------------------------------------------- goal check
    if GOAL_N in results:
        s = results[GOAL_N]
        t_ok = s["median_s"] <= GOAL_SECONDS
        m_ok = s["peak_mb"] <= GOAL_PEAK_MB
        print(f"Goal for n = {GOAL_N:,} (<= {GOAL_SECONDS:.0f} s, <= 2 GB peak RSS):")
        print(f"  time   {s['median_s']:6.2f} s   (worst repeat {s['max_s']:.2f} s)  {'PASS' if t_ok else 'FAIL'}")
        print(f"  memory {s['peak_mb']:6.0f} MB  (limit {GOAL_PEAK_MB:.0f} MB)        {'PASS' if m_ok else 'FAIL'}")
        print(f"  overall {'PASS' if t_ok and m_ok else 'FAIL'}")
    else:
        print(f"(goal check needs n = {GOAL_N:,}; not run)")
    if GOAL_1M_N in results:
        s = results[GOAL_1M_N]
        t_ok, m_ok = s["median_s"] <= GOAL_1M_SECONDS, s["peak_mb"] <= GOAL_1M_PEAK_MB
        print(f"Goal for n = {GOAL_1M_N:,} (<= {GOAL_1M_SECONDS:.0f} s, <= 8 GB peak RSS; version 2):")
        print(f"  time   {s['median_s']:6.2f} s   {'PASS' if t_ok else 'FAIL'}")
        print(f"  memory {s['peak_mb']:6.0f} MB  {'PASS' if m_ok else 'FAIL'}")
    for w in warnings:
        print(f"WARNING: {w}")


def _run_child_version() -> str:
    proc = subprocess.run([sys.executable, "-c", "import footdrop_outcomes as f; print(f.__version__)"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", help=f"cohort size(s) (default: {', '.join(f'{n:,}' for n in DEFAULT_NS)})")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process repeats per size (default 3; median reported)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--skip-io", action="store_true", help="skip the 100k save / load measurement")
    parser.add_argument("--version", type=int, choices=[1, 2], default=1, help="generator version (default 1)")
    parser.add_argument("--n-jobs", type=int, default=1, help="chunks simulated at once in threads (default 1)")
    parser.add_argument("--busy", type=int, default=0, help="busy loops to run in the background while simulating (default 0)")
    parser.add_argument("--worker", choices=["simulate", "save", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0
    try:
        _main(args)
    except Exception as err:  # a benchmark reports, it does not fail the caller
        print(f"benchmark error: {type(err).__name__}: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
