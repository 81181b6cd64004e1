"""Transports of the one-stage federated Cox model: in-process, files between directories, Dask.

* :class:`FileExchange` (coordinator side) and :func:`serve_site` (site side): atomic
  ``request-<k>.json`` / ``response-<k>.json`` files in each site's exchange directory.
* :class:`DaskSites`: one task per site per round; the site's data are read on the worker from
  its own path and never sent to the client.

The protocol is described in :mod:`footdrop_outcomes.sites.onestage` and ``docs/multisite.md``.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._files import (
    discard,
    move_into_place,
    refuse_symlink,
    staging_file,
)
from footdrop_outcomes.cohort.cohort import Cohort, load_cohort
from footdrop_outcomes.errors import CohortIOError, ConfigError, FootdropError
from footdrop_outcomes.release import ReleasePolicy
from footdrop_outcomes.sites.site_cox import (
    _FORMAT_VERSION,
    REQUEST_KIND,
    RESPONSE_KIND,
    ExchangeTimeout,
    SiteCox,
    What,
    _levels_key,
)

__all__ = ["DaskSites", "FileExchange", "serve_site"]


# ------------------------------------------------------------------------------------------------
# transports


class _Exchange:
    """One round of exchange: the same request to every site, their answers back (in site order)."""

    label = "exchange"

    def open(self, formula: str, strata: list[str], levels: Mapping[str, Sequence[Any]] | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def round(self, k: int, what: What, beta: np.ndarray | None) -> list[dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        return None


class _InProcess(_Exchange):
    label = "in-process SiteCox objects"

    def __init__(self, sites: Sequence[SiteCox]) -> None:
        self.sites = list(sites)

    def open(self, formula: str, strata: list[str], levels: Mapping[str, Sequence[Any]] | None) -> None:
        for s in self.sites:
            if s.formula != formula or s.strata != strata:
                raise ConfigError(f"site {s.site} was built with formula {s.formula!r} and strata {s.strata}; the coordinator "
                                  f"asks for {formula!r} with strata {strata}: build every site with the same model")

    def round(self, k: int, what: What, beta: np.ndarray | None) -> list[dict[str, Any]]:
        b = None if beta is None else [float(v) for v in beta]
        return [s.answer(what, b, run="in-process", k=k) for s in self.sites]


def _write_json(target: Path, content: dict[str, Any]) -> None:
    refuse_symlink(target)
    tmp = staging_file(target)
    try:
        tmp.write_text(json.dumps(content), encoding="utf-8")
        move_into_place(tmp, target)
    except BaseException:
        discard(tmp)
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is absent (files are renamed into place whole)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise CohortIOError(f"{path}: cannot be read ({type(err).__name__})") from None
    try:
        content = json.loads(text)
    except ValueError:
        raise CohortIOError(f"{path}: not a JSON exchange file") from None
    if not isinstance(content, dict):
        raise CohortIOError(f"{path}: not an exchange file")
    return content


class FileExchange(_Exchange):
    """The coordinator's side of the file exchange: one directory per site.

    Parameters
    ----------
    dirs : sequence of paths
        Each site's exchange directory (it must exist; a site runs :func:`serve_site` on it).
    timeout : float
        Seconds to wait for every answer of a round before :class:`ExchangeTimeout`.
    poll : float
        Seconds between looks for the answers.
    stop_sites : bool
        Write a ``stop`` request at the end, which ends the sites' :func:`serve_site` loops.
    """

    label = "file exchange"

    def __init__(self, dirs: Sequence[str | os.PathLike[str]], *, timeout: float = 60.0, poll: float = 0.01,
                 stop_sites: bool = True) -> None:
        self.dirs = [Path(d) for d in dirs]
        if not self.dirs:
            raise ConfigError("FileExchange: give at least one site exchange directory")
        if len({d.resolve() for d in self.dirs}) != len(self.dirs):
            raise ConfigError("FileExchange: the same exchange directory is given twice")
        self.timeout, self.poll, self.stop_sites = float(timeout), float(poll), bool(stop_sites)
        self.run = ""
        self._request: dict[str, Any] = {}
        self._last_k = 0

    def open(self, formula: str, strata: list[str], levels: Mapping[str, Sequence[Any]] | None) -> None:
        for d in self.dirs:
            if not d.is_dir():
                raise CohortIOError(f"{d}: the site exchange directory does not exist")
            for old in [*d.glob("request-*.json"), *d.glob("response-*.json")]:  # a previous run's files
                discard(old)
        self.run = uuid.uuid4().hex
        self._request = {"kind": REQUEST_KIND, "format_version": _FORMAT_VERSION, "run": self.run,
                         "formula": formula, "strata": strata}

    def round(self, k: int, what: What, beta: np.ndarray | None) -> list[dict[str, Any]]:
        req = {**self._request, "k": int(k), "what": what, "beta": None if beta is None else [float(v) for v in beta]}
        for d in self.dirs:
            _write_json(d / f"request-{k}.json", req)
        self._last_k = k
        out: list[dict[str, Any] | None] = [None] * len(self.dirs)
        deadline = time.monotonic() + self.timeout
        while True:
            for i, d in enumerate(self.dirs):
                if out[i] is None:
                    got = _read_json(d / f"response-{k}.json")
                    if got is not None and got.get("run") == self.run and got.get("k") == k:
                        out[i] = got
            if all(o is not None for o in out):
                return [o for o in out if o is not None]
            if time.monotonic() > deadline:
                late = [str(d) for d, o in zip(self.dirs, out) if o is None]
                raise ExchangeTimeout(f"no response-{k}.json within {self.timeout:g} s in {late}: is serve_site running "
                                      "on each of these directories?")
            time.sleep(self.poll)

    def close(self) -> None:
        if self.stop_sites and self.run:
            for d in self.dirs:
                try:
                    _write_json(d / f"request-{self._last_k + 1}.json",
                                {**self._request, "k": self._last_k + 1, "what": "stop", "beta": None})
                except FootdropError:
                    pass  # a directory that went away: its site times out on its own


def serve_site(data: str | os.PathLike[str] | Cohort | pd.DataFrame, exchange_dir: str | os.PathLike[str], *,
               formula: str, strata: str | Sequence[str] | None = None, levels: Mapping[str, Sequence[Any]] | None = None,
               site: str | None = None, policy: ReleasePolicy | None = None, threshold: int = 4,
               timeout: float = 600.0, poll: float = 0.02, max_requests: int = 200) -> int:
    """Answer a coordinator's requests in ``exchange_dir`` with the site's aggregates (run at the site).

    Reads ``request-<k>.json``, answers ``response-<k>.json`` (keys :data:`RESPONSE_KEYS`, or
    :data:`ERROR_KEYS` when the site refuses) until a ``stop`` request of a run it has answered
    (a stop left in the directory by an earlier run is ignored, so a site may start before or
    after the coordinator).

    Parameters
    ----------
    data : path, Cohort or DataFrame
        The site's cohort directory (read with :func:`~footdrop_outcomes.load_cohort`), or its data.
    exchange_dir : path
        The directory shared with the coordinator (must exist).
    formula, strata, levels, site, policy, threshold
        As :class:`SiteCox`. The site answers only requests for this formula and strata.
    timeout : float
        Seconds without a new request before :class:`ExchangeTimeout`.
    poll : float
        Seconds between looks for a request.
    max_requests : int
        The site answers at most this many requests (each round tells the coordinator a little
        more; a Newton fit needs about 10).

    Returns
    -------
    int
        Number of requests answered.
    """
    ex = Path(exchange_dir)
    if not ex.is_dir():
        raise CohortIOError(f"{ex}: the exchange directory does not exist")
    if isinstance(data, (str, os.PathLike)):
        data = load_cohort(data)
    cox = SiteCox(data, formula, strata=strata, levels=levels, site=site, policy=policy, threshold=threshold)
    answered: set[tuple[str, int]] = set()
    runs: set[str] = set()  # coordinator runs this site has answered
    count = 0
    last = time.monotonic()
    while True:
        found = False
        for path in sorted(ex.glob("request-*.json"), key=lambda p: p.name):
            try:
                req = _read_json(path)
            except CohortIOError:
                continue
            if req is None or req.get("kind") != REQUEST_KIND:
                continue
            run, k = str(req.get("run", "")), req.get("k")
            if not isinstance(k, int) or (run, k) in answered:
                continue
            answered.add((run, k))
            found = True
            if req.get("what") == "stop":
                if run in runs:  # a stop left over from an earlier run (before this site started) is ignored
                    return count
                continue
            runs.add(run)
            if count >= max_requests:
                msg = {"kind": RESPONSE_KIND, "format_version": _FORMAT_VERSION, "run": run, "k": k, "site": cox.site,
                       "error": f"site {cox.site} answers at most {max_requests} requests (max_requests)"}
                _write_json(ex / f"response-{k}.json", msg)
                return count
            if req.get("formula") != cox.formula or list(req.get("strata") or []) != cox.strata:
                msg = {"kind": RESPONSE_KIND, "format_version": _FORMAT_VERSION, "run": run, "k": k, "site": cox.site,
                       "error": f"site {cox.site} serves formula {cox.formula!r} with strata {cox.strata}; the request asks "
                                f"for {req.get('formula')!r} with strata {req.get('strata')}"}
            else:
                beta = req.get("beta")
                msg = cox.answer(req.get("what"), beta, run=run, k=k)  # type: ignore[arg-type]
            _write_json(ex / f"response-{k}.json", msg)
            count += 1
        if found:
            last = time.monotonic()
        elif time.monotonic() - last > timeout:
            raise ExchangeTimeout(f"serve_site: no request in {ex} within {timeout:g} s (site {cox.site})")
        else:
            time.sleep(poll)


@functools.lru_cache(maxsize=64)
def _site_on_worker(path: str, stamp: float, site: str, formula: str, strata: tuple[str, ...],
                    levels: tuple[tuple[str, tuple[Any, ...]], ...], threshold: int, release: int) -> SiteCox:
    """The site's SiteCox, built once per worker from the site's own cohort directory (kept between rounds)."""
    policy = ReleasePolicy(threshold=release, internal_use=release < 5)
    return SiteCox(load_cohort(path), formula, strata=list(strata) or None, levels=dict(levels) or None, site=site,
                   policy=policy, threshold=threshold)


def _dask_answer(path: str, site: str, formula: str, strata: tuple[str, ...], levels: tuple[tuple[str, tuple[Any, ...]], ...],
                 threshold: int, release: int, run: str, k: int, what: What, beta: list[float] | None) -> dict[str, Any]:
    """Runs on the worker: only the aggregates (or a refusal naming the site) go back to the client."""
    head = {"kind": RESPONSE_KIND, "format_version": _FORMAT_VERSION, "run": run, "k": k, "site": site}
    try:
        stamp = (Path(path) / "manifest.json").stat().st_mtime if (Path(path) / "manifest.json").exists() else 0.0
        cox = _site_on_worker(path, stamp, site, formula, strata, levels, threshold, release)
    except FootdropError as err:
        return {**head, "error": str(err)}
    except Exception as err:  # noqa: BLE001 - an unexpected error's text could hold a value: only its type leaves
        return {**head, "error": f"site {site}: the site's model could not be built ({type(err).__name__}); see the site's log"}
    return cox.answer(what, beta, run=run, k=k)


class DaskSites(_Exchange):
    """Sites as Dask tasks: one task per site per round, each reading the site's data on its worker.

    Parameters
    ----------
    client : distributed.Client
    cohorts : mapping
        Site label -> path of the site's cohort directory *as seen by the worker* (only the path
        and ``beta`` are sent; the worker returns only the aggregates).
    workers : mapping, optional
        Site label -> worker address: the site's tasks run only there (a multi-machine set-up,
        where a site's data exist on its own machine).
    threshold : int
        MRC grade that defines recovery.
    policy : ReleasePolicy, optional
        Small-cell rule applied on the workers.
    timeout : float
        Seconds to wait for a round.
    """

    label = "dask"

    def __init__(self, client: Any, cohorts: Mapping[str, str | os.PathLike[str]], *, workers: Mapping[str, str] | None = None,
                 threshold: int = 4, policy: ReleasePolicy | None = None, timeout: float = 300.0) -> None:
        if not cohorts:
            raise ConfigError("DaskSites: give at least one site")
        self.client = client
        self.cohorts = {str(k): str(v) for k, v in cohorts.items()}
        self.workers = dict(workers or {})
        unknown = [w for w in self.workers if w not in self.cohorts]
        if unknown:
            raise ConfigError(f"DaskSites: workers= names site(s) {unknown} that are not in cohorts")
        self.threshold = threshold
        self.release = (ReleasePolicy() if policy is None else policy).threshold
        self.timeout = float(timeout)
        self._config: tuple[Any, ...] = ()
        self.run = ""

    def open(self, formula: str, strata: list[str], levels: Mapping[str, Sequence[Any]] | None) -> None:
        self._config = (formula, tuple(strata), _levels_key(levels), self.threshold, self.release)
        self.run = uuid.uuid4().hex

    def round(self, k: int, what: What, beta: np.ndarray | None) -> list[dict[str, Any]]:
        from distributed import wait

        b = None if beta is None else [float(v) for v in beta]
        futures = []
        for site, path in self.cohorts.items():
            where = {"workers": [self.workers[site]], "allow_other_workers": False} if site in self.workers else {}
            futures.append(self.client.submit(_dask_answer, path, site, *self._config, self.run, k, what, b, pure=False,
                                              key=f"footdrop-fedcox-{self.run}-{k}-{site}", **where))
        try:
            wait(futures, timeout=self.timeout)
        except TimeoutError:
            late = [s for s, f in zip(self.cohorts, futures) if not f.done()]
            for f in futures:
                f.cancel()
            raise ExchangeTimeout(f"dask: site(s) {late} did not answer round {k} within {self.timeout:g} s") from None
        return list(self.client.gather(futures))
