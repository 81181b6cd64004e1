"""A report section's analysis computed in a worker process while the kernel runs the rest.

A report notebook runs its analyses one after another in one kernel; on a machine with a second
core, :func:`~footdrop_outcomes.report.render.render_report` starts a worker process beside the
kernel that loads the same cohort the same way (:func:`~footdrop_outcomes.report.notebook.load_report_cohort`
with the same release policy) and runs one section's analysis (the adherence section, the
longest). When the notebook reaches that analysis it takes the worker's result, if and only if it
was computed from the same inputs:

* the **key** is a SHA-256 over the package version, the release policy, the analysis's arguments
  and the whole content of the cohort object the notebook passes (:func:`cohort_key`: each
  table's column names, types, index and every cell, by :func:`pandas.util.hash_pandas_object`;
  the metadata as sorted JSON; the simulation truth's tables), computed from the content alone,
  so two processes holding equal cohorts get the same key whatever else differs between them;
  the worker computes it over its own cohort, the kernel over the notebook's, at the moment of
  the call, so a cohort changed in between, another policy or other arguments give another key
  and the notebook computes the analysis itself;
* the worker runs with the kernel's environment (same BLAS / OpenMP thread settings, so the same
  floating-point results) and the same code (same interpreter, same ``PYTHONPATH``);
* worker and kernel share one string-hash seed (``PYTHONHASHSEED``, drawn at random for the run
  unless already set, so a run behaves as one kernel did before): objects that cache the hash of
  a string, such as formulaic's formula terms, keep a valid hash when the result is unpickled in
  the kernel;
* a worker that fails, dies or is still missing its result when the render process goes away
  leaves the notebook to compute the analysis itself (the render process marks a worker that
  ended without a result as failed).

Warnings the worker's analysis raised are raised again in the kernel (they reach the executed
notebook's stderr as they would have). The worker writes nothing to the terminal; its folder (a
private temporary folder, mode 0700) is removed when the report is done or fails. Nothing of it
is a report output.

The worker only helps when a core is free: it repeats the kernel's imports and cohort load (about
2 s of CPU on the demo), so on a machine whose cores are all busy it costs more than it saves. By
default (``FOOTDROP_PREFETCH`` unset or ``auto``) it starts only when the 1-minute load average is
below the number of cores minus one half; ``FOOTDROP_PREFETCH=1`` starts it whenever there are two
cores or more, ``FOOTDROP_PREFETCH=0`` never. The report is the same either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FOLDER_VARIABLE", "SECTIONS", "SWITCH_VARIABLE", "Prefetch", "cohort_key", "give_up", "launch", "reserve", "start", "take"]

#: Kernel environment variable: the worker's folder (set by render_report for one run).
FOLDER_VARIABLE = "FOOTDROP_PREFETCH_DIR"
#: ``FOOTDROP_PREFETCH``: ``0`` never, ``1`` always (two cores or more), unset / ``auto``: when a core is free.
SWITCH_VARIABLE = "FOOTDROP_PREFETCH"
#: Sections a worker can compute: name -> (module, function computing the analysis from a cohort).
SECTIONS = {"adherence": ("footdrop_outcomes.report.adherence_section", "_analyse_adherence")}
#: Largest cohort (patients) for which a worker is started: the worker holds a second copy of the
#: cohort and its analysis in memory beside the kernel's.
MAX_PATIENTS = 200_000

_RESULT, _FAILED = "result.pkl", "failed"


def _canonical(value: Any) -> Any:
    """A JSON-ready stand-in for a metadata value that JSON cannot hold, tagged with its type (numpy
    scalars as Python numbers; arrays and tables by content digest)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        return {"__numpy__": type(value).__name__, "value": value.item()}
    if isinstance(value, np.ndarray):
        h = hashlib.sha256(repr((value.dtype.str, value.shape)).encode())
        if value.dtype.kind == "O":
            h.update(json.dumps(value.ravel().tolist(), sort_keys=True, default=_canonical).encode())
        else:
            h.update(np.ascontiguousarray(value).tobytes())
        return {"__ndarray__": h.hexdigest()}
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        h = hashlib.sha256()
        _table_digest(h, "value", value.to_frame() if isinstance(value, pd.Series | pd.Index) else value)
        return {"__pandas__": type(value).__name__, "digest": h.hexdigest()}
    if isinstance(value, set | frozenset):
        return {"__set__": sorted(_json(v).decode() for v in value)}
    return {"__type__": f"{type(value).__module__}.{type(value).__qualname__}", "repr": repr(value)}


def _tagged(value: Any) -> Any:
    """``value`` with what JSON would merge kept apart: tuples tagged (JSON writes them as lists), mapping
    keys written with their type (JSON writes 1 and "1" alike)."""
    if isinstance(value, dict):
        return {"__dict__": sorted([json.dumps(_tagged(k), sort_keys=True, default=_canonical), _tagged(v)]
                                   for k, v in value.items())}
    if isinstance(value, tuple):
        return {"__tuple__": [_tagged(v) for v in value]}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    return value


def _json(value: Any) -> bytes:
    return json.dumps(_tagged(value), sort_keys=True, default=_canonical, allow_nan=True, separators=(",", ":")).encode()


def _dtype(dtype: Any, h: Any) -> str:
    """A dtype's description; a categorical's categories (values, type and order) go into ``h``."""
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        h.update(_json([str(cats.dtype), bool(dtype.ordered), len(cats)]))
        h.update(pd.util.hash_pandas_object(cats, index=False).to_numpy().tobytes())
        return "category"
    return str(dtype)


def _table_digest(h: Any, name: str, table: Any) -> None:
    """Feed one table's content into ``h``: its name, shape, column names and types (categories
    too), index (names, type, values) and every cell, column by column."""
    import pandas as pd

    if table is None:
        h.update(_json(["table", name, None]))
        return
    if not isinstance(table, pd.DataFrame):
        h.update(_json(["object", name, _canonical(table)]))
        return
    h.update(_json(["table", name, list(table.shape), [repr(c) for c in table.columns],
                    [_dtype(t, h) for t in table.dtypes], [repr(n) for n in table.index.names],
                    [_dtype(t, h) for t in getattr(table.index, "dtypes", [table.index.dtype])],
                    table.attrs]))
    h.update(pd.util.hash_pandas_object(table.index, index=False, categorize=False).to_numpy().tobytes())
    for j in range(table.shape[1]):
        col = table.iloc[:, j]
        if col.dtype == object:  # values of mixed types: their types count too ("1" is not 1)
            h.update(_json(sorted({f"{type(v).__module__}.{type(v).__qualname__}" for v in col.to_numpy()})))
        h.update(pd.util.hash_pandas_object(col, index=False, categorize=False).to_numpy().tobytes())


def cohort_key(section: str, cohort: Any, arguments: Mapping[str, Any]) -> str:
    """SHA-256 of everything the section's analysis depends on: package version, release policy,
    the arguments, and the cohort's content (canonical: the same for equal content in any process).

    The cohort's content is its three tables, its metadata (sorted JSON; values JSON cannot hold
    by type and ``repr``, arrays and tables by content digest) and the simulation truth's two
    tables when there is one. Each table counts by its column names and types (a categorical's
    categories and their order), its index and every cell (:func:`pandas.util.hash_pandas_object`,
    column by column; in a column of Python objects the values' types too).
    """
    from footdrop_outcomes._version import __version__
    from footdrop_outcomes.report.counts import get_policy

    h = hashlib.sha256()
    h.update(_json(["footdrop-prefetch-key", 2, section, __version__, repr(get_policy()),
                    sorted((str(k), repr(v)) for k, v in arguments.items())]))
    for name in ("patients", "visits", "adherence"):
        _table_digest(h, name, getattr(cohort, name))
    h.update(_json(["metadata", cohort.metadata]))
    truth = cohort.truth
    h.update(_json(["truth", truth is not None]))
    if truth is not None:
        _table_digest(h, "truth.parameters", truth.parameters)
        _table_digest(h, "truth.patients", truth.patients)
    return h.hexdigest()


@dataclass
class Prefetch:
    """A running worker (:func:`start`); :meth:`close` stops it and removes its folder."""

    folder: Path
    process: subprocess.Popen[bytes]
    watcher: threading.Thread
    #: What the kernel's environment must add to match the worker's (the shared hash seed).
    kernel_env: dict[str, str]

    def submit(self, section: str, *, cohort_path: str | os.PathLike[str], causes: list[str], small_cell_threshold: int | None,
               internal_use: bool, arguments: Mapping[str, Any]) -> bool:
        """Give a worker of :func:`launch` its job: ``section``'s analysis of the cohort at
        ``cohort_path`` (loaded as the notebook loads it). False (and the worker is told to exit)
        when no worker should compute it: an unknown section, a cohort that is not a saved Parquet
        cohort or larger than :data:`MAX_PATIENTS`. Call once."""
        job = None
        n = _patients_in(Path(cohort_path)) if section in SECTIONS else None
        if n is not None and n <= MAX_PATIENTS:
            job = {"section": section, "cohort_path": str(cohort_path), "causes": list(causes),
                   "small_cell_threshold": small_cell_threshold, "internal_use": bool(internal_use), "arguments": dict(arguments)}
        stdin = self.process.stdin
        try:
            if stdin is not None:
                if job is not None:
                    stdin.write(json.dumps(job).encode("utf-8"))
                stdin.close()  # end of the job: the worker reads to here (nothing: it exits)
        except OSError:  # the worker is gone: the notebook computes the analysis itself
            return False
        return job is not None

    def close(self, *, keep_folder: bool = False) -> None:
        """Stop the worker if it still runs, wait for it, remove its folder (unless ``keep_folder``)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a worker that ignores SIGTERM
                self.process.kill()
                self.process.wait()
        self.watcher.join(timeout=10)
        if not keep_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _enabled() -> bool:
    """The ``FOOTDROP_PREFETCH`` setting, and for ``auto`` whether a core is free now."""
    setting = os.environ.get(SWITCH_VARIABLE, "auto").strip().lower()
    cores = os.cpu_count() or 1
    if setting in ("0", "off", "false", "no") or cores < 2:
        return False
    if setting in ("1", "on", "true", "yes"):
        return True
    try:
        return os.getloadavg()[0] < cores - 0.5
    except OSError:  # no load average on this system
        return True


def _patients_in(cohort_path: Path) -> int | None:
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(cohort_path / "patients.parquet").metadata.num_rows)
    except Exception:  # noqa: BLE001 - not a saved Parquet cohort: no worker
        return None


def reserve() -> Path:
    """A new private folder for a worker that may start later (:func:`start` with ``folder=``), so a
    kernel started before the cohort exists can be told where to look. A folder no worker will use
    must be marked with :func:`give_up`, or the kernel waits for it."""
    return Path(tempfile.mkdtemp(prefix="footdrop-prefetch-"))


def give_up(folder: Path) -> None:
    """Mark a reserved folder as having no result: the notebook computes the analysis itself."""
    with contextlib.suppress(OSError):
        (Path(folder) / _FAILED).touch()


def launch(env: Mapping[str, str], folder: Path | None = None) -> Prefetch | None:
    """Start a worker process now, before its job is known (None when no worker should run: turned
    off, one core, no free core). The worker imports what the analyses need and then waits for its
    job (:meth:`Prefetch.submit`); a worker that gets none exits. ``env`` is the kernel's environment
    (the worker runs with the same thread settings); ``folder``: one from :func:`reserve` (else a new
    one). The worker's string-hash seed is ``env``'s ``PYTHONHASHSEED``, else drawn here and returned
    in ``kernel_env`` for the kernel."""
    if not _enabled():
        return None
    folder = reserve() if folder is None else Path(folder)
    extra = {} if env.get("PYTHONHASHSEED") else {"PYTHONHASHSEED": str(secrets.randbelow(2**32 - 1) + 1)}
    try:
        proc = subprocess.Popen([sys.executable, "-c", "from footdrop_outcomes.report.prefetch import _main; _main()", str(folder)],
                                env={**env, **extra}, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None

    def watch() -> None:  # a worker that ended without a result: the notebook stops waiting for it
        proc.wait()
        if not (folder / _RESULT).exists():
            try:
                (folder / _FAILED).touch()
            except OSError:
                pass

    watcher = threading.Thread(target=watch, name="footdrop-prefetch-watch", daemon=True)
    watcher.start()
    return Prefetch(folder=folder, process=proc, watcher=watcher, kernel_env=extra)


def start(section: str, *, cohort_path: str | os.PathLike[str], causes: list[str], small_cell_threshold: int | None,
          internal_use: bool, arguments: Mapping[str, Any], env: Mapping[str, str], folder: Path | None = None) -> Prefetch | None:
    """Start a worker computing ``section``'s analysis of the cohort at ``cohort_path`` (loaded as
    the notebook loads it), or return None when no worker should run (turned off, one core, a
    cohort that is not a saved Parquet cohort or larger than :data:`MAX_PATIENTS`).

    ``env`` is the kernel's environment (the worker runs with the same thread settings).
    ``folder``: a folder from :func:`reserve` (else a new one); when None is returned it is not
    removed (the caller gives it up).
    """
    if section not in SECTIONS or not _enabled():
        return None
    worker = launch(env, folder)
    if worker is None:
        return None
    if not worker.submit(section, cohort_path=cohort_path, causes=causes, small_cell_threshold=small_cell_threshold,
                         internal_use=internal_use, arguments=arguments):
        worker.close(keep_folder=folder is not None)
        return None
    return worker


def _function(section: str) -> Callable[..., Any]:
    import importlib

    module, name = SECTIONS[section]
    return getattr(importlib.import_module(module), name)


def _main() -> None:
    """Worker process: compute the job in the folder given as the first argument."""
    folder = Path(sys.argv[1])
    try:
        # what every job needs, imported while the job is not known yet (the cohort may still be simulated)
        from footdrop_outcomes.report.counts import DEFAULT_THRESHOLD, set_threshold
        from footdrop_outcomes.report.notebook import load_report_cohort

        for section in SECTIONS:
            _function(section)
        raw = sys.stdin.buffer.read()
        if not raw:  # no job for this worker: nothing to wait for
            (folder / _FAILED).touch()
            return
        job = json.loads(raw.decode("utf-8"))

        t = job["small_cell_threshold"]
        set_threshold(DEFAULT_THRESHOLD if t is None else int(t), internal_use=bool(job["internal_use"]))
        cohort = load_report_cohort(job["cohort_path"], job["causes"])
        key = cohort_key(job["section"], cohort, job["arguments"])
        with warnings.catch_warnings(record=True) as caught:
            result = _function(job["section"])(cohort, **job["arguments"])
        raised = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
        tmp = folder / (_RESULT + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump((key, result, raised), f, protocol=5)
        os.replace(tmp, folder / _RESULT)
    except BaseException:  # noqa: BLE001 - any failure: the notebook computes the analysis itself
        try:
            (folder / _FAILED).touch()
        except OSError:
            pass
        raise SystemExit(1) from None


def take(section: str, cohort: Any, arguments: Mapping[str, Any]) -> tuple[bool, Any]:
    """In the kernel: ``(True, result)`` when a worker of this run computed ``section`` from the
    same inputs (waiting for it if it is still at work), else ``(False, None)``."""
    raw = os.environ.get(FOLDER_VARIABLE)
    if not raw or section not in SECTIONS:
        return False, None
    folder = Path(raw)
    result, failed = folder / _RESULT, folder / _FAILED
    parent = os.getppid()
    while not result.exists():
        if failed.exists() or not folder.is_dir() or os.getppid() != parent:
            return False, None
        time.sleep(0.005)
    try:
        with open(result, "rb") as f:
            key, value, raised = pickle.load(f)  # written by this run's own worker into its private folder
    except Exception:  # noqa: BLE001 - unreadable: compute it here
        return False, None
    if key != cohort_key(section, cohort, arguments):
        return False, None
    for message, category, filename, lineno in raised:
        warnings.warn_explicit(message, category, filename, lineno)
    return True, value
