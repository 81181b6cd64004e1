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

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from footdrop_outcomes._checks import check_alpha as _check_alpha
from footdrop_outcomes._checks import formula_rhs
from footdrop_outcomes._checks import p_value as _p_value
from footdrop_outcomes._checks import zq as _zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._version import __version__
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.sites.exchange import (
    DaskSites,
    FileExchange,
    _Exchange,
    _InProcess,
    serve_site,
)
from footdrop_outcomes.sites.site_cox import (
    _OUTCOME,
    ERROR_KEYS,
    RESPONSE_KEYS,
    RESPONSE_KIND,
    ExchangeTimeout,
    SiteCox,
    What,
    _strata_list,
)
from footdrop_outcomes.survival._design import _forest
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
