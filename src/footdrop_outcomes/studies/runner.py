"""Run a simulation study on Dask, one Parquet file per finished chunk of replicates.

Replicates are grouped into chunks (one grid point, consecutive replicate indices); each chunk is
one Dask task, run by :func:`run_chunk` on a worker. The client writes each finished chunk to
``OUT/results/p{point}_r{first}_{last}.parquet`` atomically (a temporary file in the same folder,
then :func:`os.replace`), so a killed run leaves only whole chunk files, and running the same
specification into the same folder again skips every finished replicate (resume). The folder's
``study.json`` holds the specification and its SHA-256; a different specification is refused.

Results do not depend on the number of workers, the chunk size or the order in which chunks
finish: every replicate's data come from its own seed sequence (see
:mod:`footdrop_outcomes.studies.spec`), and :func:`load_results` sorts rows by point, replicate
and analysis. Only the ``seconds`` column (wall time of each analysis) differs between runs.

A failed analysis (no convergence, a non-finite estimate or standard error, any error raised by
the fit) is recorded as a row with ``status = "failed"`` and the error message, never dropped;
warnings raised during a fit are kept in the ``warnings`` column.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from footdrop_outcomes._files import describe_os_error, discard, make_parents, move_into_place, refuse_symlink, remove_created, staging_file
from footdrop_outcomes._version import __version__
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.studies.analyses import RESULT_FIELDS, run_analysis
from footdrop_outcomes.studies.designs import generate
from footdrop_outcomes.studies.spec import StudySpec, replicate_seed_sequence

__all__ = ["StudyRun", "run_replicate", "run_chunk", "plan_chunks", "run_study", "load_results", "completed_replicates",
           "RESULT_COLUMNS"]

#: Columns of the results table, in order (grid parameters follow ``replicate``).
RESULT_COLUMNS = ("point", "replicate", "analysis", "method", "truth", *RESULT_FIELDS, "status", "error", "warnings",
                  "n", "events", "seconds")
_CHUNK_FILE = re.compile(r"^p(\d{4,})_r(\d{7,})_(\d{7,})\.parquet$")


@dataclass(frozen=True)
class StudyRun:
    """A finished (or partly finished) study run.

    Attributes
    ----------
    spec : StudySpec
    path : pathlib.Path
        The output folder.
    results : pandas.DataFrame
        One row per replicate, grid point and analysis (see :data:`RESULT_COLUMNS`).
    info : dict
        ``chunks_run`` (this call), ``chunks_skipped`` (finished before), ``replicates_run``,
        ``seconds``, ``workers``, ``scheduler``, ``complete``.
    """

    spec: StudySpec
    path: Path
    results: pd.DataFrame
    info: dict[str, Any]

    def __repr__(self) -> str:
        failed = int((self.results["status"] != "ok").sum()) if len(self.results) else 0
        return (f"StudyRun({self.spec.name!r}: {self.results[['point', 'replicate']].drop_duplicates().shape[0]} replicates x "
                f"{len(self.spec.analyses)} analyses, {failed} failed fits, complete={self.info.get('complete')})")


# ------------------------------------------------------------------------------------------------
# replicates (run on the workers)


def run_replicate(spec: StudySpec, point: int, replicate: int) -> pd.DataFrame:
    """Simulate and analyse one replicate of one grid point; one row per analysis.

    Depends only on the specification, the point and the replicate index, so any replicate can be
    rerun alone:

    >>> from footdrop_outcomes.studies.spec import StudySpec
    >>> spec = StudySpec.from_dict({"name": "x", "replicates": 2, "seed": 5,
    ...     "design": {"kind": "trial", "n_per_arm": 40, "log_hr": 0.5, "visit_weeks": []},
    ...     "analyses": [{"label": "lr", "method": "logrank"}]})
    >>> a, b = run_replicate(spec, 0, 1), run_replicate(spec, 0, 1)
    >>> bool(a["p"].iloc[0] == b["p"].iloc[0]) and a["status"].iloc[0]
    'ok'
    """
    design = spec.points()[point]
    data = generate(design, replicate_seed_sequence(spec.seed, replicate))
    rows = []
    for a in spec.analyses:
        t0 = time.perf_counter()
        error = ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = run_analysis(a.method, data, alpha=spec.alpha, **a.option_dict)
            except ConfigError:
                raise  # a mistake in the specification: stop the study
            except Exception as e:  # noqa: BLE001 - every failed fit is recorded, never dropped
                res = {k: math.nan for k in RESULT_FIELDS}
                error = f"{type(e).__name__}: {e}"[:500]
        needs_estimate = a.method != "logrank"
        finite = np.isfinite(res["p"]) and (not needs_estimate or (np.isfinite(res["estimate"]) and np.isfinite(res["se"])))
        if not error and not finite:
            error = "non-finite estimate, standard error or p-value"
        msgs = sorted({f"{w.category.__name__}: {w.message}"[:200] for w in caught})
        rows.append({"point": point, "replicate": replicate, **spec.point_values(point), "analysis": a.label, "method": a.method,
                     "truth": spec.truth_value(a, design), **res, "status": "ok" if not error else "failed", "error": error,
                     "warnings": " | ".join(msgs), "n": int(data.info.get("n", len(data.frame))),
                     "events": int(data.info.get("events", -1)), "seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def run_chunk(spec_json: str, point: int, replicates: Sequence[int]) -> pd.DataFrame:
    """Run a chunk of replicates (the Dask task); the specification travels as canonical JSON."""
    spec = StudySpec.from_json(spec_json)
    return pd.concat([run_replicate(spec, point, r) for r in replicates], ignore_index=True)


# ------------------------------------------------------------------------------------------------
# bookkeeping


def _chunk_name(point: int, first: int, last: int) -> str:
    return f"p{point:04d}_r{first:07d}_{last:07d}.parquet"


def completed_replicates(out: str | os.PathLike[str]) -> set[tuple[int, int]]:
    """``(point, replicate)`` pairs with a finished chunk file in ``OUT/results``."""
    done: set[tuple[int, int]] = set()
    folder = Path(out) / "results"
    if folder.is_dir():
        for f in folder.iterdir():
            m = _CHUNK_FILE.match(f.name)
            if m:
                p, a, b = (int(x) for x in m.groups())
                done.update((p, r) for r in range(a, b + 1))
    return done


def plan_chunks(spec: StudySpec, chunk_size: int, done: set[tuple[int, int]] | None = None) -> list[tuple[int, list[int]]]:
    """The chunks still to run: runs of consecutive unfinished replicates, at most ``chunk_size`` long.

    Ordered by replicate block, then grid point, so an interrupted study has about as many
    replicates at every point.

    >>> from footdrop_outcomes.studies.spec import StudySpec
    >>> spec = StudySpec.from_dict({"name": "x", "replicates": 5, "seed": 1, "grid": {"n_per_arm": [10, 20]},
    ...     "design": {"kind": "trial"}, "analyses": [{"label": "lr", "method": "logrank"}]})
    >>> plan_chunks(spec, 2, done={(0, 0), (0, 1)})
    [(1, [0, 1]), (0, [2, 3]), (1, [2, 3]), (0, [4]), (1, [4])]
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1; got {chunk_size}")
    done = done or set()
    n_points = len(spec.points())
    chunks = []
    for block in range(0, spec.replicates, chunk_size):
        for p in range(n_points):
            todo = [r for r in range(block, min(block + chunk_size, spec.replicates)) if (p, r) not in done]
            run: list[int] = []
            for r in todo:  # split at gaps so file names stay first..last ranges
                if run and r != run[-1] + 1:
                    chunks.append((p, run))
                    run = []
                run.append(r)
            if run:
                chunks.append((p, run))
    return chunks


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    tmp = staging_file(path, error=FootdropError)
    try:
        df.to_parquet(tmp, index=False)
        move_into_place(tmp, path, error=FootdropError)
    except BaseException:
        discard(tmp)  # an interrupted write leaves nothing (a killed process: removed by the next run)
        raise


def _prepare_folder(spec: StudySpec, out: Path) -> None:
    """Create (or check, to resume) a study folder. A refused folder is left as it was; folders made for it are removed."""
    refuse_symlink(out, error=FootdropError)
    manifest = out / "study.json"
    if out.exists() and not out.is_dir():
        raise FootdropError(f"{out} exists and is not a folder; choose another --out")
    created = make_parents(out, error=FootdropError)
    try:
        for d in (out, out / "results"):
            refuse_symlink(d, error=FootdropError)
            if not d.exists():
                d.mkdir()
                created.append(d)
    except OSError as err:
        remove_created(created)
        raise FootdropError(f"cannot create the study folder {out} ({describe_os_error(err)})") from None
    try:
        _check_or_write_manifest(spec, out, manifest)
    except BaseException:
        remove_created(created)
        raise
    for stale in (out / "results").glob(".*.tmp"):  # partial writes of a killed run
        stale.unlink(missing_ok=True)


def _check_or_write_manifest(spec: StudySpec, out: Path, manifest: Path) -> None:
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except json.JSONDecodeError:
            raise FootdropError(f"{manifest} is not valid JSON; remove the folder or choose another --out") from None
        if old.get("spec_sha256") != spec.sha256():
            raise ConfigError(f"{out} holds results of a different study specification (SHA-256 {str(old.get('spec_sha256'))[:12]}..., "
                              f"this one {spec.sha256()[:12]}...); choose another output folder to start a new study")
    else:
        body = {"spec": spec.to_dict(), "spec_sha256": spec.sha256(), "package_version": __version__,
                "result_columns": list(RESULT_COLUMNS)}
        tmp = staging_file(manifest, error=FootdropError)
        try:
            tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
            move_into_place(tmp, manifest, error=FootdropError)
        except BaseException:
            discard(tmp)
            raise


def load_results(out: str | os.PathLike[str]) -> pd.DataFrame:
    """All finished results of a study folder, sorted by point, replicate and analysis order."""
    out = Path(out)
    spec = load_study_spec(out)
    files = sorted(f for f in (out / "results").glob("*.parquet") if _CHUNK_FILE.match(f.name))
    if not files:
        return pd.DataFrame(columns=[*RESULT_COLUMNS[:2], *spec.grid_keys, *RESULT_COLUMNS[2:]])
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    order = {a.label: i for i, a in enumerate(spec.analyses)}
    df["_a"] = df["analysis"].map(order)
    df = df.sort_values(["point", "replicate", "_a"], kind="stable").drop(columns="_a").reset_index(drop=True)
    return df


def load_study_spec(out: str | os.PathLike[str]) -> StudySpec:
    """The specification stored in a study folder's ``study.json``."""
    manifest = Path(out) / "study.json"
    if not manifest.exists():
        raise FootdropError(f"{out} is not a study folder (no study.json); run 'footdrop-outcomes study run' first")
    return StudySpec.from_dict(json.loads(manifest.read_text())["spec"])


# ------------------------------------------------------------------------------------------------
# the runner


@contextlib.contextmanager
def _client(scheduler: Any, workers: int, processes: bool) -> Iterator[tuple[Any, str]]:
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler, "client"
        return
    if scheduler in (None, "local"):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                          dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            yield client, f"local ({workers} worker{'s' if workers != 1 else ''}, {'processes' if processes else 'threads'})"
        return
    if not isinstance(scheduler, str):
        raise ConfigError(f"scheduler must be 'local', a scheduler address (tcp://host:8786) or a distributed.Client; got {scheduler!r}")
    with Client(scheduler) as client:
        yield client, scheduler


def run_study(
    spec: StudySpec,
    out: str | os.PathLike[str],
    *,
    scheduler: Any = "local",
    workers: int = 2,
    processes: bool = True,
    chunk_size: int = 25,
    progress: bool = True,
    max_chunks: int | None = None,
) -> StudyRun:
    """Run (or resume) a study on Dask and stream results to ``out``.

    Parameters
    ----------
    spec : StudySpec
    out : path
        Output folder: ``study.json`` and ``results/*.parquet``. Finished replicates found there
        are not run again.
    scheduler : "local", str or distributed.Client
        ``"local"`` starts a :class:`distributed.LocalCluster` for this run; a string such as
        ``"tcp://10.0.0.5:8786"`` connects to a running scheduler (its workers need
        footdrop-outcomes installed; the client writes the files); a ``Client`` is used as is.
    workers : int
        Workers of the local cluster (one thread each).
    processes : bool
        Local workers as processes (default) or threads of this process.
    chunk_size : int
        Replicates per task and per file.
    progress : bool
        Show a progress bar (replicates).
    max_chunks : int, optional
        Stop after this many chunks (a partial run; run again to finish).

    Returns
    -------
    StudyRun
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1; got {workers!r}")
    out = Path(out)
    _prepare_folder(spec, out)
    done = completed_replicates(out)
    chunks = plan_chunks(spec, chunk_size, done)
    skipped = len(done)
    if max_chunks is not None:
        chunks = chunks[:max_chunks]
    t0 = time.perf_counter()
    used = "none"
    n_reps = sum(len(r) for _, r in chunks)
    if chunks:
        spec_json = spec.to_json()
        from distributed import as_completed

        with _client(scheduler, workers, processes) as (client, used), \
                tqdm(total=n_reps, desc=f"study {spec.name}", unit="rep", disable=not progress) as bar:
            futures = {client.submit(run_chunk, spec_json, p, reps, pure=False): (p, reps) for p, reps in chunks}
            try:
                for fut in as_completed(futures):
                    p, reps = futures[fut]
                    df = fut.result()
                    _write_atomic(df, out / "results" / _chunk_name(p, reps[0], reps[-1]))
                    bar.update(len(reps))
                    fut.release()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    results = load_results(out)
    total = spec.replicates * len(spec.points())
    have = results[["point", "replicate"]].drop_duplicates().shape[0] if len(results) else 0
    info = {"chunks_run": len(chunks), "replicates_run": n_reps, "replicates_skipped": skipped, "seconds": time.perf_counter() - t0,
            "workers": workers, "scheduler": used, "complete": have == total}
    return StudyRun(spec=spec, path=out, results=results, info=info)
