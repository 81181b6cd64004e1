"""Benchmark: the README's main command on a fresh clone, before and after, in one sitting.

Usage::

    python benchmarks/bench_demo_fresh_clone.py [--commits ba5ded3 HEAD] [--rounds 2] [--runs 3] [--busy N]

For each round and each commit (the commits alternate, so slow drift of the machine affects both
alike), this clones the project's own git repository into a new temporary folder, checks out the
commit, and does what the README's command 1 does:

1. ``python3 -m venv .venv && .venv/bin/pip install -e .`` (timed, printed, not part of the demo's time;
   pip's download cache is warm, so this is mostly unpacking and bytecode compilation);
2. ``.venv/bin/footdrop-outcomes demo`` from the clone's root, ``--runs`` times. Run 1 is the **first
   run on a fresh clone**: the installed packages' bytecode is what pip compiled at install (as on
   any fresh machine), the project's own ``src`` has none yet, and ``HOME`` is a new empty folder
   (Matplotlib's and fontconfig's caches and Jupyter's runtime folder start empty). Later runs are
   **warm** (same clone, same ``HOME``).

This differs from ``bench_demo.py``'s "first run", which also ignores the installed packages' own
bytecode (``PYTHONPYCACHEPREFIX`` pointed at an empty folder): harsher than a fresh clone, where pip
has compiled it. Wall time is measured around the command; CPU is user + system of the command and
all its waited-for children (kernel, worker).

``--busy N`` runs N busy loops in the background during the demo runs (not during installs).
Temporary clones are removed at the end, also on Ctrl-C or SIGTERM. Exit code 0.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _sigterm(signum: int, frame: object) -> None:
    raise SystemExit(f"interrupted by signal {signum}")


def _timed(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd} (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _clone(commit: str, where: Path) -> str:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(where)], check=True)
    subprocess.run(["git", "-C", str(where), "checkout", "-q", commit], check=True)
    return subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "MPL", "XDG_", "JUPYTER", "VIRTUAL_ENV", "FOOTDROP_"))}
    env["HOME"] = str(home)
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", nargs="+", default=["ba5ded3", "HEAD"], help="commits to compare (default: the demo when issue 16 was filed, and HEAD)")
    ap.add_argument("--rounds", type=int, default=2, help="fresh clones per commit (default 2)")
    ap.add_argument("--runs", type=int, default=3, help="demo runs per clone: the first, then warm ones (default 3)")
    ap.add_argument("--busy", type=int, default=0, help="busy loops in the background during the demo runs (default 0)")
    ap.add_argument("--python", default="python3", help="interpreter for the venvs (default python3)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _sigterm)
    base = Path(tempfile.mkdtemp(prefix="bench-fresh-clone-"))
    busy: list[subprocess.Popen[bytes]] = []
    rows: dict[str, dict[str, list[tuple[float, float]]]] = {}
    print(f"README command 1 on fresh clones; {args.rounds} round(s) x {len(args.commits)} commit(s), {args.runs} runs each; "
          f"busy loops: {args.busy}; cpus: {os.cpu_count()}; load before: {_loadavg()}", flush=True)
    try:
        for r in range(args.rounds):
            order = args.commits if r % 2 == 0 else list(reversed(args.commits))
            for commit in order:
                where = base / f"r{r}-{commit.replace('/', '_')}"
                short = _clone(commit, where / "clone")
                home = where / "home"
                home.mkdir()
                env = _clean_env(home)
                clone = where / "clone"
                inst = _timed([args.python, "-m", "venv", ".venv"], cwd=clone, env=env)
                pip = _timed([".venv/bin/pip", "install", "-q", "-e", "."], cwd=clone, env=env)
                busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
                try:
                    for k in range(args.runs):
                        wall, cpu = _timed([".venv/bin/footdrop-outcomes", "demo"], cwd=clone, env=env)
                        if not (clone / "reports" / "demo-outcome-report.pdf").is_file():
                            raise SystemExit(f"{commit}: no PDF written")
                        kind = "first" if k == 0 else "warm"
                        rows.setdefault(commit, {}).setdefault(kind, []).append((wall, cpu))
                        print(f"round {r + 1} {commit} ({short}) {kind:5s} run {k + 1}: {wall:6.1f} s wall / {cpu:6.1f} s CPU "
                              f"(install {inst[0] + pip[0]:.0f} s; load {_loadavg()})", flush=True)
                finally:
                    for p in busy:
                        p.kill()
                        p.wait()
                    busy = []
                shutil.rmtree(where, ignore_errors=True)
    finally:
        for p in busy:
            p.kill()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nload after: {_loadavg()}")
    print(f"{'commit':12s} {'first wall (mean, runs)':>26s} {'warm wall (mean, runs)':>25s} {'first CPU':>10s} {'warm CPU':>9s}")
    ref = args.commits[0]
    for commit, kinds in rows.items():
        f, w = kinds.get("first", []), kinds.get("warm", [])
        fw = statistics.mean(x[0] for x in f) if f else float("nan")
        ww = statistics.mean(x[0] for x in w) if w else float("nan")
        fc = statistics.mean(x[1] for x in f) if f else float("nan")
        wc = statistics.mean(x[1] for x in w) if w else float("nan")
        print(f"{commit:12s} {fw:14.1f} ({len(f)}) {'':9s}{ww:11.1f} ({len(w)}) {'':8s}{fc:9.1f} {wc:9.1f}")
    if len(rows) > 1 and ref in rows:
        for commit in args.commits[1:]:
            for kind in ("first", "warm"):
                a, b = rows[ref].get(kind), rows.get(commit, {}).get(kind)
                if a and b:
                    ratio = statistics.mean(x[0] for x in b) / statistics.mean(x[0] for x in a)
                    print(f"{commit} / {ref}, {kind}: {ratio:.0%} of the wall time (goal of issue 16: at most 40%)")


if __name__ == "__main__":
    main()
