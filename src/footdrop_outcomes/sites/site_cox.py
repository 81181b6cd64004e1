"""Site side of the one-stage federated Cox model: :class:`SiteCox` and the message protocol.

A site holds its own patients and answers, for a trial ``beta``, only its log partial likelihood,
score and information (plus its numbers of patients and recoveries), never a patient row. The
coordinator is :func:`~footdrop_outcomes.sites.onestage.federated_cox`; the transports are in
:mod:`footdrop_outcomes.sites.exchange`. The protocol is described in
:mod:`footdrop_outcomes.sites.onestage` and ``docs/multisite.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import formula_rhs
from footdrop_outcomes._checks import term_name as _term_name
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.release import ReleasePolicy, TooFewToRelease
from footdrop_outcomes.survival import _zph, survival_frame
from footdrop_outcomes.survival._design import parsed_formula
from footdrop_outcomes.survival._input import check_columns
from footdrop_outcomes.survival._missing import drop_incomplete

__all__ = ["ERROR_KEYS", "RESPONSE_KEYS", "ExchangeTimeout", "SiteCox"]

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
