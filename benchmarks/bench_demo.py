"""Benchmark: ``footdrop-outcomes demo`` end to end, wall and CPU time per phase, fresh process each run.

Usage::

    python benchmarks/bench_demo.py [--runs 3] [--n 2000] [--seed 2026] [--src DIR] [--label NAME] [--cli]
                                    [--busy N] [--no-worker]

Each run is a new child process that imports ``footdrop_outcomes.cli`` (as the command does) and
calls ``report.run_demo`` into a new empty output folder (so the cohort folder is always written
afresh). The child wraps the demo's phases to time them: ``import`` (the CLI's imports),
``simulate`` (``simulate_cohort`` + save), ``execute`` (papermill: kernel start, the notebook's
cells, kernel stop) and ``typeset`` (HTML + WeasyPrint). Wall time is ``time.perf_counter``; CPU
time is user + system of the child **and of its waited-for children** (the Jupyter kernel) from
``resource.getrusage``, so a phase's CPU includes the kernel's when the kernel ended inside it.
``total`` is measured by this parent around the child (interpreter start included); ``other`` is
the total minus the phases (interpreter start, reading parameters, moving files into place).
Since the kernel is started ahead of the notebook run (``render._start_kernel``: before the demo
cohort is simulated) and stopped after it (``render._stop_kernel``), ``execute`` no longer holds the
kernel's CPU: phase ``kernel`` times those two calls, and its CPU is the kernel's whole CPU (the kernel
is reaped when it is stopped). Its wall time is only starting and stopping; the kernel's own start
overlaps ``simulate``. A checkout without ``_stop_kernel`` (``--src`` of an older commit) shows ``-``
there and the kernel's CPU in ``execute``, as before.
With ``--cli`` the runs call the ``footdrop-outcomes demo`` console script itself instead (same
process tree, end-to-end figures only, no phase split).

**First run** = run 1 of a sitting: Python bytecode, Matplotlib's font cache and fontconfig's cache
all start empty (``PYTHONPYCACHEPREFIX``, ``MPLCONFIGDIR`` and ``XDG_CACHE_HOME`` point at new empty
folders, so no ``.pyc`` is read from ``__pycache__`` folders, not even the installed packages'),
as on a fresh clone with a fresh interpreter. The wheels and the OS page cache are not cold (same
venv, same machine). **Warm** = the following runs of the sitting, reusing those caches.
``PYTHONDONTWRITEBYTECODE`` is removed from the children's environment so they may write bytecode.

``--src DIR`` puts another checkout's ``src`` first on ``PYTHONPATH`` (children and the kernel
inherit it), to measure a before and an after in one sitting with the same venv::

    git archive <commit> src notebooks | tar -x -C /tmp/base
    python benchmarks/bench_demo.py --src /tmp/base/src --label before
    python benchmarks/bench_demo.py --label after

``--busy N`` starts N busy loops (``python -c "while True: pass"``) before the runs and stops them
(only those) afterwards: the demo on a machine where other work is running. ``--no-worker`` sets
``FOOTDROP_PREFETCH=0`` (no adherence worker beside the kernel; :mod:`footdrop_outcomes.report.prefetch`),
to measure what the worker brings. The worker is a child of the run, so its CPU is in ``total``
(and in ``execute``: it is reaped when it ends, during the notebook run).

The load average is printed before and after; on a busy machine compare CPU times. Exit code 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time

def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

phases = {}
t0, c0 = time.perf_counter(), cpu()
import footdrop_outcomes.cli  # noqa: F401 - the command's own imports
from footdrop_outcomes.report import render
phases["import"] = (time.perf_counter() - t0, cpu() - c0)

def timed(name, fn):
    def wrapper(*a, **k):
        t, c = time.perf_counter(), cpu()
        try:
            return fn(*a, **k)
        finally:
            w, u = phases.get(name, (0.0, 0.0))
            phases[name] = (w + time.perf_counter() - t, u + cpu() - c)
    return wrapper

import footdrop_outcomes.cohort.simulate as sim
sim.simulate_cohort = timed("simulate", sim.simulate_cohort)
render._execute = timed("execute", render._execute)
render._typeset = timed("typeset", render._typeset)
if hasattr(render, "_stop_kernel"):  # the kernel started ahead of the run (commit c0a43a1 on): its CPU counts when it is reaped
    render._start_kernel = timed("kernel", render._start_kernel)
    render._stop_kernel = timed("kernel", render._stop_kernel)
out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = render.run_demo(out, n=n, seed=seed)
print(json.dumps({"phases": phases, "seconds": res.seconds, "pdf": str(res.pdf)}))
"""

PHASES = ("import", "simulate", "execute", "typeset", "kernel")


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ")[0:3].__str__()
    except OSError:
        return "n/a"


def _pages(pdf: Path) -> int | None:
    try:
        from pypdf import PdfReader

        return len(PdfReader(str(pdf)).pages)
    except Exception:  # noqa: BLE001 - page count is a courtesy
        return None


def run_once(env: dict[str, str], out: Path, n: int, seed: int, cli: bool) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if cli:
        exe = Path(sys.executable).with_name("footdrop-outcomes")
        cmd = [str(exe), "demo", "--out", str(out), "--n", str(n), "--seed", str(seed)]
    else:
        cmd = [sys.executable, "-c", CHILD, str(out), str(n), str(seed)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"demo run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    row = {"total": (wall, cpu), "load": _loadavg()}
    if not cli:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        row.update({k: tuple(v) for k, v in info["phases"].items()})
        row["pages"] = _pages(Path(info["pdf"]))
    else:
        row["pages"] = _pages(out / "demo-outcome-report.pdf")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs in the sitting: the first (empty caches), then warm ones")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--src", type=Path, default=None, help="another checkout's src folder, first on PYTHONPATH")
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--cli", action="store_true", help="run the console script itself (no phase split)")
    ap.add_argument("--keep", type=Path, default=None, help="copy the last run's PDF and notebook here")
    ap.add_argument("--busy", type=int, default=0, help="busy loops running in the background during the runs (default 0)")
    ap.add_argument("--no-worker", action="store_true", help="FOOTDROP_PREFETCH=0: no adherence worker beside the kernel")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=str(root / "pycache"), MPLCONFIGDIR=str(root / "mpl"), XDG_CACHE_HOME=str(root / "xdg"))
    if args.no_worker:
        env["FOOTDROP_PREFETCH"] = "0"
    if args.src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])])
    print(f"demo benchmark: {args.label}; n = {args.n:,}, seed {args.seed}; {args.runs} runs, fresh process each; "
          f"{'console script' if args.cli else 'phases timed in the child'}")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, args.busy))]
    if busy:
        print(f"{len(busy)} busy loop(s) running in the background (pids {', '.join(str(b.pid) for b in busy)})")
        time.sleep(2.0)
    print(f"load average before: {_loadavg()}; cpus: {os.cpu_count()}{'; no adherence worker' if args.no_worker else ''}")
    cols = ("total", *(() if args.cli else PHASES))
    print(f"{'run':<7}" + "".join(f"{c + ' wall/CPU s':>24}" for c in cols) + f"{'pages':>7}  load")
    rows = []
    try:
        for i in range(args.runs):
            out = root / f"run{i}"
            row = run_once(env, out, args.n, args.seed, args.cli)
            rows.append(row)
            name = "first" if i == 0 else f"warm {i}"
            cells = "".join(f"{row[c][0]:>13.1f} / {row[c][1]:>6.1f}  " if c in row else f"{'-':>24}" for c in cols)
            print(f"{name:<7}{cells}{row['pages'] or '-':>7}  {row['load']}", flush=True)
            if args.keep is not None and i == args.runs - 1:
                args.keep.mkdir(parents=True, exist_ok=True)
                for f in ("demo-outcome-report.pdf", "demo-outcome-report.ipynb"):
                    shutil.copy2(out / f, args.keep / f)
            shutil.rmtree(out / "demo-cohort", ignore_errors=True)
        if len(rows) > 1:
            warm = rows[1:]
            print("warm mean: " + ", ".join(f"{c} {sum(r[c][0] for r in warm) / len(warm):.1f} / "
                                           f"{sum(r[c][1] for r in warm) / len(warm):.1f}" for c in cols if c in warm[0]))
    finally:
        for b in busy:  # only the processes started here
            b.terminate()
        for b in busy:
            b.wait()
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average after: {_loadavg()}")


if __name__ == "__main__":
    main()
