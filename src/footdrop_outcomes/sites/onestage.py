"""One-stage federated Cox model: sites exchange score and information, never patient rows.

The site-stratified Cox model (a baseline hazard per site, and per any ``strata`` within a site)
has a log partial likelihood that is a sum over sites, and so are its score and information.
Newton-Raphson therefore needs, at each trial ``beta``, only three aggregates per site: the
site's log partial likelihood (a number), score (``p`` numbers) and information (``p x p``).

* Site side: :class:`SiteCox` holds the site's own patients and its design (columns agreed
  across sites: categorical levels from the cohort's declared categories or ``levels=``, so a
  site without a level still has the column). :meth:`SiteCox.evaluate` returns the aggregates
  and refuses (:class:`~footdrop_outcomes.release.TooFewToRelease`, naming the site, never a
  value) when the site has ``threshold`` or fewer patients or recoveries, or when a 0/1 term
  stands on 1 to ``threshold`` of its patients (or all but that many).
* Coordinator: :func:`federated_cox` runs the Newton-Raphson of :func:`~footdrop_outcomes.survival.fit_cox`
  (the same routine, ``survival.cox._polish``: step halving, the same stopping rule) on the
  summed aggregates, so the estimate equals the pooled ``fit_cox(pooled, formula,
  strata=["site", *strata])`` to rounding.
* Transports: in-process :class:`SiteCox` objects; a file exchange between directories
  (:class:`FileExchange` at the coordinator, :func:`serve_site` at each site); Dask
  (:class:`DaskSites`: one task per site per round, the site's data read on the worker from its
  own path and never sent to the client).

Protocol of the file exchange (``docs/multisite.md``): the coordinator writes
``request-<k>.json`` (``kind``, ``run``, ``k``, ``what`` = ``"describe" | "loglik" | "all"``,
``beta``, ``formula``, ``strata``) into every site's exchange directory; the site answers
``response-<k>.json`` with exactly the keys :data:`RESPONSE_KEYS` (or :data:`ERROR_KEYS`); the
request ``what="stop"`` ends :func:`serve_site`. Every file is written beside its target and
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import formula_rhs
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import term_name as _term_name
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._files import (
    discard,
    move_into_place,
    refuse_symlink,
    staging_file,
)
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._version import __version__
from footdrop_outcomes.cohort.cohort import Cohort, load_cohort
from footdrop_outcomes.errors import CohortIOError, ConfigError, FootdropError
from footdrop_outcomes.release import ReleasePolicy, TooFewToRelease
from footdrop_outcomes.survival import _zph, survival_frame
from footdrop_outcomes.survival._design import _forest, parsed_formula
from footdrop_outcomes.survival._input import check_columns
from footdrop_outcomes.survival._missing import drop_incomplete
from footdrop_outcomes.survival.cox import CoxFitWarning, _polish

__all__ = [
    "ERROR_KEYS",
    "RESPONSE_KEYS",
    "DaskSites",
    "ExchangeTimeout",
    "FederatedCoxResult",
    "FileExchange",
    "SiteCox",
    "federated_cox",
    "serve_site",
]

REQUEST_KIND = "footdrop-outcomes federated Cox request"
RESPONSE_KIND = "footdrop-outcomes federated Cox response"
_FORMAT_VERSION = 1
#: Every key of a site's answer (nothing else is ever written or returned).
RESPONSE_KEYS = frozenset({"kind", "format_version", "run", "k", "site", "terms", "loglik", "score", "information",
                           "n", "events"})
#: Every key of a site's refusal.
ERROR_KEYS = frozenset({"kind", "format_version", "run", "k", "site", "error"})

What = Literal["describe", "loglik", "all"]
_WHATS = ("describe", "loglik", "all")
_OUTCOME = "'time' and 'event'"


class ExchangeTimeout(FootdropError, TimeoutError):
    """A site did not answer in time (coordinator), or no request came in time (site)."""


# ------------------------------------------------------------------------------------------------
# site side


def _strata_list(strata: str | Sequence[str] | None) -> list[str]:
    if strata is None:
        return []
    return [strata] if isinstance(strata, str) else [str(s) for s in strata]


def _levels_key(levels: Mapping[str, Sequence[Any]] | None) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    return tuple(sorted((str(k), tuple(v)) for k, v in (levels or {}).items()))


class SiteCox:
    """A site's part of a one-stage federated Cox model: its own patients and design.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        The site's own patients: a cohort (its right-censored view is used, recovery at the
        first visit where it is seen) or one row per patient with ``time`` and ``event``.
    formula : str
        Right-hand side, the same at every site, e.g. ``"supervised_physio + severity + age"``.
        Data-dependent transforms (``scale(age)``, ``bs(age, df=4)``) are refused: they would
        code each site differently.
    strata : str or list of str, optional
        Columns with a separate baseline hazard *within* the site (the site is always its own
        stratum).
    levels : dict, optional
        Levels of categorical variables, reference (first) level first, e.g.
        ``{"severity": ["mild", "moderate", "severe"]}``. Default: the declared categories of a
        pandas categorical (a cohort's columns), so every site has the same columns even when it
        has no patient at some level. A text column needs ``levels``.
    site : str, optional
        The site's label (default: the single value of the data's ``site`` column).
    policy : ReleasePolicy, optional
        Small-cell rule (default ``ReleasePolicy()``, threshold 10).
    threshold : int
        MRC grade that defines recovery, when ``data`` is a cohort (as :func:`site_summary`).
    missing : {"drop", "raise"}
        Rows with a missing model variable (as :func:`~footdrop_outcomes.survival.fit_cox`).

    Attributes
    ----------
    site : str
    terms : tuple of str
        Design columns, in the order of every aggregate.
    formula : str
    strata : list of str

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> s = SiteCox(simulate_cohort(600, seed=3).subset(sites="S01"), "supervised_physio + age")
    >>> out = s.evaluate([0.0, 0.0])
    >>> sorted(out), out["information"].shape
    (['events', 'information', 'loglik', 'n', 'score'], (2, 2))
    """

    def __init__(self, data: Cohort | pd.DataFrame, formula: str, *, strata: str | Sequence[str] | None = None,
                 levels: Mapping[str, Sequence[Any]] | None = None, site: str | None = None,
                 policy: ReleasePolicy | None = None, threshold: int = 4, missing: Literal["drop", "raise"] = "drop") -> None:
        self.policy = ReleasePolicy() if policy is None else policy
        if isinstance(data, Cohort):
            frame = survival_frame(data, threshold=threshold)
        elif isinstance(data, pd.DataFrame):
            frame = data
        else:
            raise ConfigError(f"SiteCox: data must be a Cohort or a pandas DataFrame, got {type(data).__name__}")
        self.site = self._label(frame, site)
        check_columns(frame, duration_col="time", event_col="event", table=f"site {self.site}: data")
        rhs = formula_rhs(formula, outcome=_OUTCOME)
        try:
            required = set(parsed_formula(rhs).required_variables)
        except Exception as exc:  # formulaic parse errors
            raise ConfigError(f"SiteCox: formula {rhs!r} could not be parsed: {exc}") from exc
        # formulaic leaves out the arguments of some transforms (``scale(age)``): add named data columns
        variables = sorted(required | {t for t in re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", rhs) if t in frame.columns})
        self.strata = _strata_list(strata)
        cols = [*variables, *self.strata]
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise FootdropError(f"site {self.site}: data has no column(s) {absent} used in the formula or strata")
        frame, self._dropped = drop_incomplete(frame, cols, missing=missing, model="SiteCox", table=f"site {self.site}: data")
        self.formula = rhs
        self.levels_arg = dict(levels or {})
        x, self.terms, self.levels = self._design(frame, rhs, variables)
        stop = pd.to_numeric(frame["time"]).to_numpy(dtype=float)
        event = frame["event"].to_numpy().astype(bool)
        codes = None
        if self.strata:
            codes = frame.groupby(self.strata, sort=True, observed=True).ngroup().to_numpy(dtype=np.int64)
        self.n = len(frame)
        self.events = int(event.sum())
        self._refusal = self._check_release(x, frame)
        self._prob = _zph.partial_likelihood(x, stop, event, None, codes) if self._refusal is None and self.events else None

    @staticmethod
    def _label(frame: pd.DataFrame, site: str | None) -> str:
        if site is not None:
            if not isinstance(site, str) or not site.strip():
                raise ConfigError("SiteCox: site must be a non-empty label")
            return site
        if "site" in frame.columns:
            values = pd.unique(frame["site"].dropna().astype(str))
            if len(values) == 1:
                return str(values[0])
        raise ConfigError("SiteCox: give site= (the data has no 'site' column with one value)")

    def _design(self, frame: pd.DataFrame, rhs: str, variables: list[str]) -> tuple[np.ndarray, tuple[str, ...], dict[str, tuple[Any, ...]]]:
        """The design on agreed levels (as fit_cox's, without dropping unused levels); intercept removed."""
        from formulaic import model_matrix

        unknown = [k for k in self.levels_arg if k not in variables]
        if unknown:
            raise ConfigError(f"site {self.site}: levels= names variable(s) {unknown} that are not in the formula {rhs!r}")
        levels: dict[str, tuple[Any, ...]] = {}
        cols: dict[str, Any] = {}
        for v in variables:
            col = frame[v]
            if v in self.levels_arg:
                lev = tuple(self.levels_arg[v])
            elif isinstance(col.dtype, pd.CategoricalDtype):
                lev = tuple(col.cat.categories)
            elif col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
                raise ConfigError(f"site {self.site}: data.{v} is a text column; give its levels (levels={{{v!r}: [...]}}, "
                                  "reference first) so that every site codes it the same way")
            else:
                cols[v] = col.array
                continue
            if len(set(map(str, lev))) != len(lev):
                raise ConfigError(f"site {self.site}: the levels of {v!r} repeat a level")
            vals = col.astype(object)
            ok = vals.isin(list(lev)).to_numpy()
            if not ok.all():  # counted, never shown
                raise FootdropError(f"site {self.site}: data.{v} has value(s) that are not among the agreed levels "
                                    f"(rows {frame.index[np.flatnonzero(~ok)[:8]].tolist()}); values are not shown")
            levels[v] = lev
            cols[v] = pd.Categorical(vals, categories=list(lev))
        sub = pd.DataFrame(cols, index=frame.index)
        try:
            mm = model_matrix(parsed_formula(rhs), sub, output="numpy")
        except Exception:  # noqa: BLE001 - formulaic's message may quote data values: only its type is shown
            raise FootdropError(f"site {self.site}: formula {rhs!r} could not be evaluated (formulaic error); check the formula's columns") from None
        if dict(mm.model_spec.transform_state):
            raise ConfigError(f"formula {rhs!r}: data-dependent transforms ({sorted(mm.model_spec.transform_state)}) "
                              "would be computed from each site's own data and code the sites differently; "
                              "transform the column before the analysis with fixed constants")
        terms = [_term_name(c) for c in mm.model_spec.column_names]
        if "Intercept" not in terms:
            raise ConfigError(f"formula {rhs!r}: keep the intercept (no '- 1' or '0 +'): the baseline hazard absorbs it")
        keep = [j for j, t in enumerate(terms) if t != "Intercept"]
        if not keep:
            raise ConfigError(f"formula {rhs!r} has no covariate terms")
        x = np.asfortranarray(np.asarray(mm, dtype=float)[:, keep])
        return x, tuple(terms[j] for j in keep), levels

    def _check_release(self, x: np.ndarray, frame: pd.DataFrame) -> str | None:
        """Why nothing of this site may leave, or None (a reason names the site and terms, never a value)."""
        t = self.policy.threshold
        if self.n <= t:
            return f"site {self.site} has {t} or fewer patients: none of its aggregates can be released"
        if self.events <= t:
            return f"site {self.site} has {t} or fewer recoveries: none of its aggregates can be released"
        binary = np.all((x == 0) | (x == 1), axis=0)
        ones = np.count_nonzero(x == 1, axis=0)
        small = [self.terms[j] for j in np.flatnonzero(binary)
                 if self.policy.is_small(int(ones[j])) or self.policy.is_small(self.n - int(ones[j]))]
        if small:
            return (f"site {self.site}: the term(s) {small} stand on 1 to {t} of the site's patients (or all but 1 to {t}); "
                    "their score would describe those few patients: merge the level or drop the term at every site")
        return None

    @property
    def releasable(self) -> bool:
        """True when :meth:`evaluate` may answer."""
        return self._refusal is None

    def evaluate(self, beta: Sequence[float] | np.ndarray, order: Literal[0, 2] = 2) -> dict[str, Any]:
        """The site's aggregates at ``beta``: nothing else leaves the site.

        Parameters
        ----------
        beta : array (p,)
            Log hazard ratios, in the order of :attr:`terms`.
        order : {0, 2}
            2: log partial likelihood, score and information; 0: the log partial likelihood only
            (``score`` and ``information`` are None).

        Returns
        -------
        dict
            ``loglik`` (float), ``score`` (array p), ``information`` (array p x p), ``n`` and
            ``events`` (int, above the release threshold).

        Raises
        ------
        TooFewToRelease
            The site has ``threshold`` or fewer patients or recoveries, or a 0/1 term stands on
            1 to ``threshold`` of its patients (the message names the site and terms only).
        """
        if self._refusal is not None:
            raise TooFewToRelease(self._refusal)
        b = np.asarray(beta, dtype=float)
        if b.shape != (len(self.terms),) or not np.all(np.isfinite(b)):
            raise ConfigError(f"site {self.site}: beta must be {len(self.terms)} finite numbers, one per term {list(self.terms)}")
        if order not in (0, 2):
            raise ConfigError(f"site {self.site}: order must be 0 or 2, got {order!r}")
        assert self._prob is not None
        with np.errstate(all="ignore"):
            out = self._prob.evaluate(b, order=order)
        if order == 0:
            return {"loglik": float(out), "score": None, "information": None, "n": self.n, "events": self.events}
        ll, u, info = out
        return {"loglik": float(ll), "score": np.asarray(u, dtype=float), "information": np.asarray(info, dtype=float),
                "n": self.n, "events": self.events}

    def answer(self, what: What, beta: Sequence[float] | None, *, run: str = "", k: int = 0) -> dict[str, Any]:
        """The message of one round (JSON-ready): exactly :data:`RESPONSE_KEYS`, or :data:`ERROR_KEYS` on a refusal."""
        head = {"kind": RESPONSE_KIND, "format_version": _FORMAT_VERSION, "run": run, "k": int(k), "site": self.site}
        try:
            if what not in _WHATS:
                raise ConfigError(f"site {self.site}: unknown request {what!r} (one of {list(_WHATS)})")
            if what == "describe":
                if self._refusal is not None:
                    raise TooFewToRelease(self._refusal)
                agg: dict[str, Any] = {"loglik": None, "score": None, "information": None, "n": self.n, "events": self.events}
            else:
                agg = self.evaluate(beta if beta is not None else [], order=2 if what == "all" else 0)
        except FootdropError as err:  # our messages name sites, terms and options, never a value
            return {**head, "error": str(err)}
        return {**head, "terms": list(self.terms), "loglik": agg["loglik"],
                "score": None if agg["score"] is None else [float(v) for v in agg["score"]],
                "information": None if agg["information"] is None else [[float(v) for v in row] for row in agg["information"]],
                "n": agg["n"], "events": agg["events"]}

    def __repr__(self) -> str:
        return f"SiteCox(site={self.site!r}, formula={self.formula!r}, strata={self.strata}, terms={len(self.terms)})"


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


# ------------------------------------------------------------------------------------------------
# coordinator


@dataclass(frozen=True, repr=False, kw_only=True)
class FederatedCoxResult(AnalysisResult):
    """A site-stratified Cox model fitted by exchanging score and information.

    Attributes
    ----------
    summary : pandas.DataFrame
        As :class:`~footdrop_outcomes.survival.CoxResult`: ``term``, ``log_hr``, ``se`` (model-based,
        inverse information), ``hr``, ``hr_lower``, ``hr_upper`` (Wald CI), ``z``, ``p``.
    info : dict
        ``method``, ``formula``, ``strata`` (within sites), ``sites``, ``n_sites``, ``n``,
        ``events``, ``site_counts``, ``transport``, ``iterations`` (Newton steps), ``rounds``
        (rounds of exchange, the first one a ``describe``), ``exchange`` (one record per round:
        ``round``, ``what``, ``loglik``), ``converged``, ``convergence`` (as ``fit_cox``),
        ``log_likelihood_null``, ``lr_chisq``, ``lr_df``, ``lr_p``, ``warnings``, ``version``.
    params : pandas.Series
    cov : pandas.DataFrame
    log_likelihood : float
    alpha : float
    """

    params: pd.Series
    cov: pd.DataFrame
    log_likelihood: float
    alpha: float

    def __repr__(self) -> str:
        i = self.info
        return (f"FederatedCoxResult({i['formula']}, sites={i['n_sites']}, n={i['n']}, events={i['events']}, "
                f"rounds={i['rounds']}, log-likelihood={self.log_likelihood:.3f})")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot of the hazard ratios with their CIs (log axis)."""
        s = self.summary
        level = round(100 * (1 - self.alpha))
        return _forest(ax, list(s["term"]), s["hr"].to_numpy(), s["hr_lower"].to_numpy(), s["hr_upper"].to_numpy(),
                       kwargs.get("xlabel", f"hazard ratio of recovery ({level}% CI)"),
                       kwargs.get("title", f"Federated Cox model ({self.info['n_sites']} sites)"))


def _check_message(m: Any, what: What, p: int | None, terms: list[str] | None, where: str) -> dict[str, Any]:
    """Refuse a malformed answer (and any that carries more than the agreed aggregates)."""
    if not isinstance(m, dict) or m.get("kind") != RESPONSE_KIND:
        raise FootdropError(f"{where}: not a federated Cox response")
    if "error" in m:
        raise FootdropError(f"{where}: the site refused: {m['error']}")
    if set(m) != RESPONSE_KEYS:
        raise FootdropError(f"{where}: the response must hold exactly {sorted(RESPONSE_KEYS)}")
    if terms is not None and list(m["terms"]) != terms:
        raise ConfigError(f"{where}: the site's design has terms {list(m['terms'])}, other sites {terms}; agree on the "
                          "categorical levels (levels=) and the formula at every site")
    if what == "describe":
        return m
    try:
        float(m["loglik"])  # may be -inf far from the optimum (step halving copes); must be a number
        if what == "all":
            u = np.asarray(m["score"], dtype=float)
            info = np.asarray(m["information"], dtype=float)
            if u.shape != (p,) or info.shape != (p, p):
                raise ValueError
    except (TypeError, ValueError):
        raise FootdropError(f"{where}: loglik, score or information missing or of the wrong shape") from None
    return m


class _Summed:
    """The evaluator ``fit_cox``'s Newton routine calls, summing the sites' answers of one round each."""

    def __init__(self, exchange: _Exchange, names: list[str], terms: list[str]) -> None:
        self.exchange, self.names, self.terms = exchange, names, terms
        self.rounds = 1  # the describe round
        self.record: list[dict[str, Any]] = [{"round": 1, "what": "describe", "loglik": None}]
        self.info_zero: np.ndarray | None = None

    def evaluate(self, beta: np.ndarray, order: int = 2) -> Any:
        what: What = "all" if order == 2 else "loglik"
        self.rounds += 1
        msgs = self.exchange.round(self.rounds, what, np.asarray(beta, dtype=float))
        p = len(self.terms)
        msgs = [_check_message(m, what, p, self.terms, f"site {name} (round {self.rounds})")
                for m, name in zip(msgs, self.names)]
        ll = float(sum(float(m["loglik"]) for m in msgs))
        self.record.append({"round": self.rounds, "what": what, "loglik": ll})
        if order == 0:
            return ll
        u = np.sum([np.asarray(m["score"], dtype=float) for m in msgs], axis=0)
        info = np.sum([np.asarray(m["information"], dtype=float) for m in msgs], axis=0)
        info = 0.5 * (info + info.T)
        if self.info_zero is None and not np.any(beta):
            self.info_zero = info
        return ll, u, info


def _as_exchange(sites: Sequence[SiteCox] | _Exchange) -> _Exchange:
    if isinstance(sites, _Exchange):
        return sites
    if isinstance(sites, (str, os.PathLike)) or not isinstance(sites, Sequence) or not sites:
        raise ConfigError("federated_cox: sites must be SiteCox objects, a FileExchange or DaskSites")
    bad = [type(s).__name__ for s in sites if not isinstance(s, SiteCox)]
    if bad:
        raise ConfigError(f"federated_cox: sites must be SiteCox objects (got {bad[:3]}); for directories use FileExchange, "
                          "for Dask DaskSites")
    return _InProcess(sites)


def federated_cox(sites: Sequence[SiteCox] | FileExchange | DaskSites, formula: str, *,
                  strata: str | Sequence[str] | None = None, levels: Mapping[str, Sequence[Any]] | None = None,
                  alpha: float = 0.05, max_steps: int = 100) -> FederatedCoxResult:
    """Fit a site-stratified Cox model by Newton-Raphson on the sites' summed score and information.

    Round 1 (``describe``) asks every site for its terms and numbers of patients and recoveries
    (refusing sites say so, naming themselves); every later round sends ``beta`` and sums the
    sites' log partial likelihoods (and, for a Newton step, scores and informations). The Newton
    routine is :func:`~footdrop_outcomes.survival.fit_cox`'s own (step halving, the same stopping
    rule), so the estimate and its SEs equal the pooled ``fit_cox(pooled, formula,
    strata=["site", *strata])`` to rounding.

    Parameters
    ----------
    sites : sequence of SiteCox, FileExchange or DaskSites
        The transport: in-process site objects, site exchange directories, or Dask tasks.
    formula : str
        Right-hand side; must be the sites' formula.
    strata : str or list of str, optional
        Strata within every site (the sites are always strata).
    levels : dict, optional
        Agreed categorical levels, sent to Dask sites (in-process and file sites set their own).
    alpha : float
        1 - confidence level of the CIs.
    max_steps : int
        Most Newton steps.

    Returns
    -------
    FederatedCoxResult

    Raises
    ------
    FootdropError
        A site refused (too few patients or recoveries, a small-cell term), sites disagree on
        the terms, the information is singular (a term without information at any site), or
        the estimates run off to infinity.
    ExchangeTimeout
        A site did not answer in time.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> c = simulate_cohort(1200, seed=5)
    >>> parts = [SiteCox(c.subset(sites=s), "supervised_physio + age") for s in ["S01", "S02", "S03"]]
    >>> fit = federated_cox(parts, "supervised_physio + age")
    >>> fit.summary["term"].tolist(), fit.info["n_sites"]
    (['supervised_physio', 'age'], 3)
    """
    _check_alpha(alpha)
    rhs = formula_rhs(formula, outcome=_OUTCOME)
    strata_l = _strata_list(strata)
    exchange = _as_exchange(sites)
    exchange.open(rhs, strata_l, levels)
    try:
        first = exchange.round(1, "describe", None)
        names = [str(m.get("site", f"#{i + 1}")) if isinstance(m, dict) else f"#{i + 1}" for i, m in enumerate(first)]
        if len(set(names)) != len(names):
            raise ConfigError(f"federated_cox: site labels repeat ({names}); every site needs its own label")
        first = [_check_message(m, "describe", None, None, f"site {name}") for m, name in zip(first, names)]
        terms = list(first[0]["terms"])
        for m, name in zip(first, names):
            _check_message(m, "describe", None, terms, f"site {name}")
        summed = _Summed(exchange, names, terms)
        beta, ll, info, conv, ll0 = _polish(summed, np.zeros(len(terms)), max_steps=max_steps)  # type: ignore[arg-type]
    finally:
        exchange.close()
    _check_information(summed.info_zero, terms)
    _check_runoff(beta, info, summed.info_zero, sum(int(m["events"]) for m in first), terms)
    texts: list[str] = []
    if not conv["converged"]:
        msg = (f"the federated Cox fit did not meet the convergence criterion after {conv['iterations']} Newton steps "
               f"(score {conv['score_se_units']:.3g} SE units, last relative change {conv['relative_change']:.3g})")
        texts.append(msg)
        warnings.warn(msg, CoxFitWarning, stacklevel=2)
    try:
        cov = linalg.cho_solve(linalg.cho_factor(info, check_finite=False), np.eye(len(terms)), check_finite=False)
    except (linalg.LinAlgError, ValueError) as exc:
        raise FootdropError(f"the summed information matrix is singular at the estimate; check the terms {terms}") from exc
    cov = 0.5 * (cov + cov.T)
    se = np.sqrt(np.diag(cov))
    z = beta / se
    zq = _zq(alpha)
    summary = pd.DataFrame({"term": terms, "log_hr": beta, "se": se, "hr": np.exp(beta), "hr_lower": np.exp(beta - zq * se),
                            "hr_upper": np.exp(beta + zq * se), "z": z, "p": _p_value(z)})
    from scipy.stats import chi2

    lr = 2.0 * (ll - ll0)
    info_d: dict[str, Any] = {
        "method": "one-stage federated Cox (site-stratified, Efron ties): Newton-Raphson on the sites' summed "
                  "log partial likelihood, score and information",
        "formula": rhs, "strata": strata_l or None, "strata_note": "every site is its own stratum (plus strata within it)",
        "sites": names, "n_sites": len(names), "n": sum(int(m["n"]) for m in first),
        "events": sum(int(m["events"]) for m in first),
        "site_counts": {name: {"n": int(m["n"]), "events": int(m["events"])} for m, name in zip(first, names)},
        "transport": exchange.label, "iterations": conv["iterations"], "rounds": summed.rounds,
        "exchange": summed.record, "converged": conv["converged"], "convergence": conv,
        "log_likelihood_null": ll0, "lr_chisq": lr, "lr_df": len(terms), "lr_p": float(chi2.sf(lr, len(terms))),
        "se": "model-based (inverse of the summed information)", "warnings": texts, "version": __version__,
    }
    names_idx = pd.Index(terms, name="term")
    return FederatedCoxResult(summary=summary, info=info_d, params=pd.Series(beta, index=names_idx, name="log_hr"),
                              cov=pd.DataFrame(cov, index=names_idx, columns=names_idx), log_likelihood=float(ll),
                              alpha=alpha)


def _check_information(info0: np.ndarray | None, terms: list[str]) -> None:
    """A term with no information at any site (a level no site has, or constant within every site) is named."""
    if info0 is None:
        return
    d = np.diag(info0)
    zero = [terms[j] for j in np.flatnonzero(d <= 1e-12 * max(float(np.max(np.abs(d))), 1e-300))]
    if zero:
        raise FootdropError(f"term(s) {zero} carry no information at any site (a level no site has, or a covariate constant "
                            "within every site and stratum); drop them (or the level, with levels=) at every site")


def _check_runoff(beta: np.ndarray, info: np.ndarray, info0: np.ndarray | None, events: int, terms: list[str]) -> None:
    """Refuse estimates at infinity, as ``fit_cox`` does, with the column SD estimated from the information at zero.

    ``fit_cox`` scales by each column's SD; the coordinator has no rows, so it uses
    ``sqrt(I0_jj / events)`` (the average risk-set variance of the column at ``beta = 0``).
    """
    i0 = np.diag(info) if info0 is None else np.diag(info0)
    sd = np.sqrt(np.maximum(i0, 0.0) / max(events, 1))
    diag = np.diag(info)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_alone = np.where(diag > 0, 1.0 / np.sqrt(np.abs(diag)), np.inf)
    bad = np.flatnonzero(~np.isfinite(beta) | (np.abs(beta) * sd > 10) | (se_alone * sd > 10))
    if bad.size:
        parts = [f"{terms[j]} (log HR {beta[j]:.3g})" for j in bad[:6]]
        raise FootdropError("the federated Cox estimates run off to infinity (monotone likelihood), so these hazard ratios "
                            "are not identifiable: " + ", ".join(parts) + "; merge levels or remove the term")
