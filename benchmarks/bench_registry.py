"""Registry-scale benchmark (issue 16, item 6): the whole pipeline on 1,000,000 patients.

Steps, each in a fresh child process (this script re-run with ``--worker STEP``) so that each
peak-memory figure belongs to that step alone:

``simulate``    ``simulate_cohort(n, seed, version=...)`` and ``Cohort.save`` to a temporary directory
``load``        ``load_cohort`` (Parquet read, privacy guard, schema validation)
``guard``       the privacy guard alone on the three tables (``check_privacy``)
``curves``      ``survival_frame``, then Turnbull NPMLE and Kaplan-Meier by cause
``cox``         ``fit_cox(cause + severity + age + diabetes, cluster="site")`` as the outcome report fits it
``aft``         interval-censored Weibull AFT ``cause + severity + age``
``mixed``       the report's two mixed models (gait speed, strength; ``analyse_trajectories``): on the visit table of
                the registry sample when the cohort has more than ``REGISTRY_THRESHOLD`` patients
``sections``    (not run by default) the outcome report's analyses in this process, one by one, as its
                notebook calls them (``load_report_cohort``, ``analyse_recovery``, ``analyse_trajectories``,
                ``analyse_adherence``, ``table_one``, ``missing_data_section``): wall, CPU, resident memory after each and
                its peak during each (sampled every 50 ms), to find the part of the report that does not scale
``report``      ``render_report("outcome_report", ..., cohort=...)``: the full outcome report to PDF

The analysis steps read the saved Parquet tables back *without* the guard and the validation
(``Cohort(..., _validated=True)``): those are timed once, in ``load`` and ``guard``. ``report``
loads through ``load_cohort`` as a user would, inside the notebook's kernel.

Figures per step: wall time (``perf_counter``), CPU time (user + system of the child and of its
own children, e.g. the report's Jupyter kernel), peak RSS: the largest of ``ru_maxrss`` of the child
(cross-checked with ``/proc/self/status`` VmHWM), of its largest waited-for child process (the kernel)
and of the whole process tree's summed RSS, sampled from ``/proc`` every 0.25 s by this parent (the
report step's figure is the notebook runner and its kernel together). The report step ends with a
verdict against the goal (300 s wall, 16 GB); a summary table of all steps closes the run.
The machine this runs on is shared: the CPU figures move far less than the wall times under load,
and the 1-minute load average is printed beside each step.

Usage::

    python benchmarks/bench_registry.py                       # 1,000,000 patients, simulator v2, all steps
    python benchmarks/bench_registry.py --version 1           # simulator v1
    python benchmarks/bench_registry.py --n 100000 --steps sections   # the report's analyses one by one
    python benchmarks/bench_registry.py --n 20000             # a quick run
    python benchmarks/bench_registry.py --steps load guard --profile load   # cProfile a step (top 25 by cumulative time)

Goal (issue 16): the whole outcome report on 1M patients in at most 5 minutes and 16 GB peak
memory on the 2-core machine. Exit code is always 0: this is a benchmark, not a test.

Registry scale: above ``footdrop_outcomes.report.analysis.REGISTRY_THRESHOLD`` (100,000) patients the report
fits the adherence models (10,000) and the trajectory mixed models (100,000) on a seeded simple random
sample; the header line prints the rule in force.
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
import threading
import time
from pathlib import Path

STEPS = ("simulate", "load", "guard", "curves", "cox", "aft", "mixed", "sections", "report")
DEFAULT_STEPS = tuple(s for s in STEPS if s != "sections")
GOAL_REPORT_S, GOAL_PEAK_MB = 300.0, 16 * 1024.0
TABLES = ("patients", "visits", "adherence")


def _maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    kib = resource.getrusage(who).ru_maxrss
    return kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024


def _vmhwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cpu_s() -> float:
    """User + system CPU of this process and of its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# ------------------------------------------------------------------------------------------------
# worker side


def _fast_load(path: Path):
    """The saved tables as a Cohort without the guard or validation (both timed in their own steps)."""
    import pandas as pd

    from footdrop_outcomes.cohort.cohort import Cohort

    frames = {name: pd.read_parquet(path / f"{name}.parquet") for name in TABLES}
    return Cohort(**frames, source=str(path), _validated=True)


def _model_frame(cohort):
    """The outcome report's model frame: causes without any observed recovery left out (as analyse_recovery)."""
    import pandas as pd

    from footdrop_outcomes.survival import survival_frame

    frame = survival_frame(cohort, threshold=4)
    events = frame.groupby(frame["cause"].astype(str), observed=True)["event"].sum()
    frame = frame[~frame["cause"].astype(str).isin([c for c, e in events.items() if e == 0])].copy()
    for col in ("cause", "severity"):
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].cat.remove_unused_categories()
    return frame


def _run_step(step: str, args: argparse.Namespace, out: dict) -> None:
    import footdrop_outcomes as fo

    path = Path(args.path)
    if step == "simulate":
        t, c = time.perf_counter(), _cpu_s()
        cohort = fo.simulate_cohort(args.n, args.seed, version=args.version, progress=False)
        out["parts"] = {"simulate": [time.perf_counter() - t, _cpu_s() - c]}
        t2, c2 = time.perf_counter(), _cpu_s()
        cohort.save(path, overwrite=True)
        out["parts"]["save"] = [time.perf_counter() - t2, _cpu_s() - c2]
        out["disk_mb"] = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
        out["rows"] = {name: len(getattr(cohort, name)) for name in TABLES}
        return
    if step == "load":
        cohort = fo.load_cohort(path)
        out["rows"] = {name: len(getattr(cohort, name)) for name in TABLES}
        return
    if step == "guard":
        import pandas as pd

        from footdrop_outcomes.guard import check_privacy

        frames = {name: pd.read_parquet(path / f"{name}.parquet") for name in TABLES}
        t, c = time.perf_counter(), _cpu_s()
        check_privacy(frames, source=str(path))
        out["parts"] = {"check_privacy": [time.perf_counter() - t, _cpu_s() - c]}
        return
    if step == "sections":
        _sections(path, out)
        return
    if step == "report":
        from footdrop_outcomes.report import render_report

        pdf = Path(args.path).parent / "registry-outcome-report.pdf"
        res = render_report("outcome_report", pdf, cohort=path, timeout=3600)
        out["pdf_kb"] = pdf.stat().st_size / 1024
        out["result"] = type(res).__name__
        return
    cohort = _fast_load(path)
    t, c = time.perf_counter(), _cpu_s()
    if step == "curves":
        from footdrop_outcomes.survival import kaplan_meier, survival_frame, turnbull

        frame = survival_frame(cohort, threshold=4)
        out["parts"] = {"survival_frame": [time.perf_counter() - t, _cpu_s() - c]}
        lm = [6.0, 12.0, 26.0, 52.0, 78.0]
        t1, c1 = time.perf_counter(), _cpu_s()
        turnbull(frame, group="cause", landmarks=lm)
        out["parts"]["turnbull"] = [time.perf_counter() - t1, _cpu_s() - c1]
        t1, c1 = time.perf_counter(), _cpu_s()
        kaplan_meier(frame, group="cause", landmarks=lm)
        out["parts"]["kaplan_meier"] = [time.perf_counter() - t1, _cpu_s() - c1]
    elif step == "cox":
        from footdrop_outcomes.survival import fit_cox

        frame = _model_frame(cohort)
        t1, c1 = time.perf_counter(), _cpu_s()
        fit_cox(frame, "cause + severity + age + diabetes", cluster="site")
        out["parts"] = {"fit_cox": [time.perf_counter() - t1, _cpu_s() - c1]}
    elif step == "aft":
        from footdrop_outcomes.survival import fit_interval_aft

        frame = _model_frame(cohort)
        t1, c1 = time.perf_counter(), _cpu_s()
        fit_interval_aft(frame, "cause + severity + age", distribution="weibull")
        out["parts"] = {"fit_interval_aft": [time.perf_counter() - t1, _cpu_s() - c1]}
    elif step == "mixed":
        from footdrop_outcomes.report.trajectory_section import analyse_trajectories

        analyse_trajectories(cohort)
    else:  # pragma: no cover - argparse restricts the choices
        raise SystemExit(f"unknown step {step!r}")


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _maxrss_mb()


def _sections(path: Path, out: dict) -> None:
    """The outcome report notebook's analyses, one by one, with the parameters of its defaults."""
    import matplotlib

    matplotlib.use("Agg")
    from footdrop_outcomes.report import adherence_section as ads
    from footdrop_outcomes.report import analysis
    from footdrop_outcomes.report import missing_section as mds
    from footdrop_outcomes.report import notebook as nbh
    from footdrop_outcomes.report import trajectory_section as ts

    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            done.wait(0.05)

    threading.Thread(target=sample, daemon=True).start()
    out["parts"], out["memory"] = {}, {}
    kept: dict = {}

    def part(name: str, fn) -> None:
        peak[0] = _rss_mb()
        t, c = time.perf_counter(), _cpu_s()
        kept[name] = fn()
        out["parts"][name] = [time.perf_counter() - t, _cpu_s() - c]
        out["memory"][name] = [_rss_mb(), max(peak[0], _rss_mb())]

    nbh.setup(10, internal_use=False)
    part("load_report_cohort", lambda: nbh.load_report_cohort(str(path), []))
    cohort = kept["load_report_cohort"]
    part("analyse_recovery", lambda: analysis.analyse_recovery(
        cohort, causes=[], threshold=4, landmarks=[6.0, 12.0, 26.0, 52.0, 78.0], alpha=0.05,
        cox_formula="cause + severity + age + diabetes", cluster="site", distribution="weibull"))
    part("analyse_trajectories", lambda: ts.analyse_trajectories(cohort, alpha=0.05))
    part("analyse_adherence", lambda: ads.analyse_adherence(cohort, threshold=4, alpha=0.05))
    from footdrop_outcomes.report import tables

    part("table_one", lambda: tables.table_one(cohort, threshold=4))
    part("missing_data_section", lambda: mds.missing_data_section(cohort, kept["analyse_recovery"]))
    done.set()


def _worker(args: argparse.Namespace) -> None:
    import warnings

    warnings.simplefilter("ignore")  # a benchmark: warnings (convergence, missing data) are not what is measured here
    t0 = time.perf_counter()
    import footdrop_outcomes  # noqa: F401

    out: dict = {"step": args.worker, "import_s": time.perf_counter() - t0, "baseline_mb": _maxrss_mb()}
    t, c = time.perf_counter(), _cpu_s()
    if args.profile == args.worker:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.runcall(_run_step, args.worker, args, out)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        out["profile"] = buf.getvalue()
    else:
        _run_step(args.worker, args, out)
    out["wall_s"] = time.perf_counter() - t
    out["cpu_s"] = _cpu_s() - c
    out["peak_mb"] = _maxrss_mb()
    out["vmhwm_mb"] = _vmhwm_mb()
    out["children_peak_mb"] = _maxrss_mb(resource.RUSAGE_CHILDREN)
    print(json.dumps(out))


# ------------------------------------------------------------------------------------------------
# parent side: imports only the standard library, starts one child per step


def _tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants now, from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _tree_rss_mb(root: int) -> float:
    """Resident memory (MB) of ``root`` and all its descendants now, from ``/proc`` (0 where unreadable)."""
    total = 0
    for pid in _tree_pids(root):
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total / 2**20


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree every ``interval`` seconds; ``peak_mb`` is the largest sum seen.

    Each sample reads ``/proc`` (a few ms of this parent's CPU; the steps' CPU figures are the child's own).
    """

    def __init__(self, pid: int, interval: float = 0.25, limit_mb: float | None = None) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb, self.limit_mb = pid, interval, 0.0, limit_mb
        self.over_limit = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self._stop_event.is_set():
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))
            if self.limit_mb is not None and self.peak_mb > self.limit_mb and not self.over_limit:
                self.over_limit = True  # stop the step before it takes the shared machine's memory
                _kill_tree(self.pid)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _kill_tree(pid: int) -> None:
    """SIGKILL the step and every descendant by process id (the report's kernel runs in a session of its own)."""
    pids = _tree_pids(pid) if os.path.isdir("/proc") else [pid]
    for p in reversed(pids):
        try:
            os.kill(p, 9)
        except (ProcessLookupError, PermissionError):
            pass


def _child(step: str, args: argparse.Namespace, path: Path) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", step, "--n", str(args.n), "--seed", str(args.seed),
           "--version", str(args.version), "--path", str(path)]
    if args.profile:
        cmd += ["--profile", args.profile]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = _TreeSampler(proc.pid, limit_mb=args.stop_above_gb * 1024 if args.stop_above_gb else None)
    sampler.start()
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=args.stop_after or None)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_tree(proc.pid)
        stdout, stderr = proc.communicate()
    sampler.stop()
    if proc.returncode != 0:
        wall = time.perf_counter() - t
        if timed_out:
            why = f"stopped after {wall:.0f} s wall (--stop-after {args.stop_after:.0f} s): still running"
        elif sampler.over_limit:
            why = (f"stopped after {wall:.0f} s wall: the process tree's memory passed {args.stop_above_gb:g} GB "
                   "(--stop-above-gb)")
        else:
            why = f"exit {proc.returncode}: " + "\n".join(stderr.strip().splitlines()[-15:])
        return {"step": step, "error": why, "wall_s": wall, "tree_peak_mb": sampler.peak_mb}
    out = json.loads(stdout.strip().splitlines()[-1])
    out["tree_peak_mb"] = sampler.peak_mb
    return out


def _peak(r: dict) -> float:
    """The step's peak memory: the largest of its own peak RSS, its largest child's and the sampled process-tree sum."""
    return max(r.get("peak_mb", 0.0), r.get("children_peak_mb", 0.0), r.get("tree_peak_mb", 0.0))


def _fmt(r: dict) -> str:
    if "error" in r:
        return (f"{r['step']:<9} FAILED after {r['wall_s']:.1f} s (process tree peak RSS {r.get('tree_peak_mb', 0):.0f} MB)"
                f"\n{r['error']}")
    kid = r.get("children_peak_mb", 0.0)
    line = (f"{r['step']:<9} wall {r['wall_s']:8.1f} s  cpu {r['cpu_s']:8.1f} s  peak RSS {_peak(r):7.0f} MB"
            f" (process tree sampled {r.get('tree_peak_mb', 0):.0f}; this process {r['peak_mb']:.0f}, VmHWM"
            f" {r['vmhwm_mb'] or 0:.0f}; largest child {kid:.0f}; after imports {r['baseline_mb']:.0f})"
            f"  load avg {r['load']:.1f}")
    for name, (w, c) in r.get("parts", {}).items():
        line += f"\n{'':<11}{name}: wall {w:.1f} s, cpu {c:.1f} s"
        if name in r.get("memory", {}):
            after, top = r["memory"][name]
            line += f", resident after {after:.0f} MB, peak during {top:.0f} MB"
    if "rows" in r:
        line += f"\n{'':<11}rows: " + ", ".join(f"{k} {v:,}" for k, v in r["rows"].items())
    if "disk_mb" in r:
        line += f"; {r['disk_mb']:.0f} MB on disk"
    if r["step"] == "report":
        line += f"\n{'':<11}{_verdict(r)}"
    if "profile" in r:
        line += "\n" + r["profile"]
    return line


def _verdict(r: dict) -> str:
    if "error" in r:
        return (f"goal <= {GOAL_REPORT_S:.0f} s wall and <= {GOAL_PEAK_MB / 1024:.0f} GB: FAIL (the step did not finish: "
                f"{r['error'].splitlines()[0]}; process tree peak {r.get('tree_peak_mb', 0) / 1024:.2f} GB when it ended)")
    ok_t, ok_m = r["wall_s"] <= GOAL_REPORT_S, _peak(r) <= GOAL_PEAK_MB
    return (f"goal <= {GOAL_REPORT_S:.0f} s wall and <= {GOAL_PEAK_MB / 1024:.0f} GB peak RSS of the process tree: "
            f"time {'PASS' if ok_t else 'FAIL'} ({r['wall_s']:.1f} s; cpu {r['cpu_s']:.1f} s), "
            f"memory {'PASS' if ok_m else 'FAIL'} ({_peak(r) / 1024:.2f} GB) -> {'PASS' if ok_t and ok_m else 'FAIL'}")


def _table(results: list[dict]) -> str:
    rows = [f"{'step':<9} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'load':>5}"]
    for r in results:
        if "error" in r:
            rows.append(f"{r['step']:<9} {r['wall_s']:8.1f} {'failed':>8} {r.get('tree_peak_mb', 0):8.0f}")
        else:
            rows.append(f"{r['step']:<9} {r['wall_s']:8.1f} {r['cpu_s']:8.1f} {_peak(r):8.0f} {r['load']:5.1f}")
    return "\n".join(rows)


def _sample_rule() -> str:
    """The report's registry-sample sizes and seed, read from the package's source without importing it (this
    parent process imports only the standard library)."""
    import ast

    try:
        src = (Path(__file__).resolve().parents[1] / "src" / "footdrop_outcomes" / "report" / "analysis.py").read_text()
        found = {}
        for node in ast.parse(src).body:
            if isinstance(node, ast.AnnAssign | ast.Assign):
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("REGISTRY_SAMPLE_SIZES", "REGISTRY_SAMPLE_SEED", "REGISTRY_THRESHOLD"):
                    found[target.id] = ast.literal_eval(node.value)
        sizes = ", ".join(f"{k} {v:,}" for k, v in found["REGISTRY_SAMPLE_SIZES"].items())
        return (f"above {found['REGISTRY_THRESHOLD']:,} patients the models are fitted on a random sample: {sizes} patients "
                f"(seed {found['REGISTRY_SAMPLE_SEED']})")
    except (OSError, KeyError, SyntaxError, ValueError):
        return "not found in src/footdrop_outcomes/report/analysis.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--version", type=int, choices=(1, 2), default=2, help="simulator version (default 2, as the demo)")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(DEFAULT_STEPS),
                    help="steps to run (default: all but 'sections')")
    ap.add_argument("--profile", choices=STEPS, default=None, help="run this step under cProfile and print the top 25 functions")
    ap.add_argument("--stop-after", type=float, default=900.0,
                    help="stop a step still running after this many seconds wall (0: never; default 900, 3x the goal)")
    ap.add_argument("--stop-above-gb", type=float, default=20.0,
                    help="stop a step whose process tree passes this much resident memory (0: never; default 20 GB, "
                         "above the 16 GB goal and below what a 24 GB shared machine can give)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the cohort in this directory (reused if it exists and 'simulate' is not a step)")
    ap.add_argument("--worker", choices=STEPS, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    print(f"registry benchmark: {args.n:,} patients, simulator v{args.version}, seed {args.seed}; "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; 1-min load average {os.getloadavg()[0]:.1f} at start "
          "(the machine is shared: wall times include waiting for the CPU, CPU times do not)", flush=True)
    print(f"registry sample rule: {_sample_rule()}", flush=True)
    tmp = None
    if args.keep is None:
        tmp = tempfile.mkdtemp(prefix="bench-registry-")
        path = Path(tmp) / "cohort"
    else:
        path = args.keep
    try:
        steps = list(args.steps)
        if "simulate" not in steps and not (path / "manifest.json").is_file():
            steps.insert(0, "simulate")
        results = []
        for step in (s for s in STEPS if s in steps):
            r = _child(step, args, path)
            r["load"] = os.getloadavg()[0]
            results.append(r)
            print(_fmt(r), flush=True)
            if step == "simulate" and "error" in r:
                break
        print("\nsummary (peak = process tree incl. the report's Jupyter kernel; wall includes waiting for the CPU)")
        print(_table(results))
        rep = [r for r in results if r["step"] == "report"]
        if rep:
            print(f"verdict, full outcome report on {args.n:,} patients: {_verdict(rep[0])}", flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
