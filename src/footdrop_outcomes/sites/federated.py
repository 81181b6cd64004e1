"""Federated (two-stage) analysis: each site writes only released aggregates, the coordinator pools them.

A site runs :func:`site_summary` on its own patients: a Cox model of time to recovery is fitted
locally and only its log hazard ratios with their covariance, and the numbers of patients and
recoveries, are written to a JSON file. Release control (``footdrop_outcomes.release``) decides
what may leave: a site of ``threshold`` or fewer patients writes nothing (:class:`TooFewToRelease`),
a term behind which stand ``threshold`` or fewer patients (a factor level, or everyone else than
that level) is withheld together with its covariances, and counts are written as
:func:`~footdrop_outcomes.release.format_count` text. No patient-level value is written.
:func:`combine_sites` reads the files and meta-analyses one term across sites
(:func:`~footdrop_outcomes.sites.meta_analysis`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._files import (
    discard,
    make_parents,
    move_into_place,
    refuse_symlink,
    remove_created,
    staging_file,
)
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._version import __version__
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.errors import CohortIOError, ConfigError
from footdrop_outcomes.release import (
    ReleasePolicy,
    TooFewToRelease,
    format_count,
    term_support,
)
from footdrop_outcomes.sites.meta import MetaAnalysis, Method, Test, meta_analysis
from footdrop_outcomes.survival import fit_cox, survival_frame

__all__ = ["FORMAT", "SiteSummary", "combine_sites", "read_site_summary", "site_summary"]

#: ``kind`` of a site-summary file.
FORMAT = "footdrop-outcomes site summary"
_FORMAT_VERSION = 1


@dataclass(frozen=True, repr=False, kw_only=True)
class SiteSummary(AnalysisResult):
    """Released aggregates of one site.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per released term: ``term``, ``log_hr``, ``se``.
    cov : pandas.DataFrame
        Covariance of the released log hazard ratios.
    info : dict
        ``site``, ``formula``, ``strata``, ``threshold``, ``n_patients`` and ``events`` (text,
        through :func:`~footdrop_outcomes.release.format_count`), ``withheld_terms``,
        ``converged``, ``version``.
    """

    cov: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """The content of the site file (JSON-ready)."""
        terms = list(self.summary["term"])
        return {
            "kind": FORMAT, "format_version": _FORMAT_VERSION,
            "manifest": {
                "what": "Cox model log hazard ratios with their covariance, numbers of patients and recoveries; "
                        "no patient-level row, no count of 1 to threshold",
                **{k: self.info[k] for k in ("site", "formula", "strata", "threshold", "n_patients", "events",
                                             "withheld_terms", "converged", "version")},
            },
            "terms": terms,
            "log_hr": [float(x) for x in self.summary["log_hr"]],
            "cov": [[float(x) for x in row] for row in self.cov.to_numpy()],
        }

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Forest plot of the site's hazard ratios (95% Wald CIs)."""
        import matplotlib.pyplot as plt

        s = self.summary
        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 0.35 * len(s) + 1.2))
        y = np.arange(len(s))[::-1]
        b, se = s["log_hr"].to_numpy(), s["se"].to_numpy()
        ax.errorbar(np.exp(b), y, xerr=[np.exp(b) - np.exp(b - 1.96 * se), np.exp(b + 1.96 * se) - np.exp(b)],
                    fmt="o", color="black", ecolor="grey", capsize=3)
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels(list(s["term"]))
        ax.set_xlabel(kwargs.get("xlabel", "hazard ratio of recovery (95% CI)"))
        ax.set_title(kwargs.get("title", f"Site {self.info['site']}"))
        return ax


def _withheld(term: str, frame: pd.DataFrame, policy: ReleasePolicy) -> bool:
    n = len(frame)
    support = term_support(term, frame)
    return policy.is_small(support) or (support < n and policy.is_small(n - support))


def site_summary(data: Cohort | pd.DataFrame, *, site: str, formula: str, strata: str | Sequence[str] | None = None,
                 policy: ReleasePolicy | None = None, path: str | os.PathLike[str] | None = None,
                 threshold: int = 4) -> SiteSummary:
    """Fit the site's Cox model and keep only what release control lets leave the site.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        The site's own patients: a cohort, or its :func:`~footdrop_outcomes.survival.survival_frame`.
    site : str
        The site's label (written to the file; no data value).
    formula : str
        Right-hand side of the Cox model, e.g. ``"supervised_physio + severity + age"``. Every site
        must use the same formula.
    strata : str or list of str, optional
        Columns with separate baseline hazards (e.g. ``"cause"``).
    policy : ReleasePolicy, optional
        Small-cell rules (default ``ReleasePolicy()``, threshold 10).
    path : path, optional
        Write the summary there as JSON (atomically; a symbolic link is refused).
    threshold : int
        MRC grade that defines recovery (when ``data`` is a cohort).

    Returns
    -------
    SiteSummary

    Raises
    ------
    TooFewToRelease
        The site has ``threshold`` or fewer patients, or every term is withheld.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> c = simulate_cohort(500, seed=3).subset(sites="S01")
    >>> s = site_summary(c, site="S01", formula="supervised_physio + age", strata="cause")
    >>> list(s.summary["term"])
    ['supervised_physio', 'age']
    """
    policy = ReleasePolicy() if policy is None else policy
    if not isinstance(site, str) or not site.strip():
        raise ConfigError("site_summary: site must be a non-empty label")
    frame = survival_frame(data, threshold=threshold) if isinstance(data, Cohort) else data
    n = len(frame)
    if n <= policy.threshold:
        raise TooFewToRelease(f"site_summary: the site has {policy.threshold} or fewer patients: nothing of it can be released")
    fit = fit_cox(frame, formula, strata=strata)
    terms = list(fit.params.index)
    keep = [t for t in terms if not _withheld(t, frame, policy)]
    if not keep:
        raise TooFewToRelease(f"site_summary: every term of the model stands on {policy.threshold} or fewer patients of the site")
    cov = fit.cov.loc[keep, keep]
    summary = pd.DataFrame({"term": keep, "log_hr": fit.params[keep].to_numpy(), "se": np.sqrt(np.diag(cov.to_numpy()))})
    info = {"method": "site summary (Cox)", "site": site, "formula": fit.info["formula"],
            "strata": None if strata is None else ([strata] if isinstance(strata, str) else list(strata)),
            "threshold": policy.threshold, "n_patients": format_count(n, policy.threshold),
            "events": format_count(int(fit.info["events"]), policy.threshold),
            "withheld_terms": [t for t in terms if t not in keep], "converged": bool(fit.info["converged"]),
            "version": __version__}
    res = SiteSummary(summary=summary, info=info, cov=cov)
    if path is not None:
        _write_json(Path(path), res.to_dict())
    return res


def _write_json(target: Path, content: dict[str, Any]) -> None:
    refuse_symlink(target)
    created = make_parents(target)
    tmp = staging_file(target)
    try:
        tmp.write_text(json.dumps(content, indent=1), encoding="utf-8")
        move_into_place(tmp, target)
    except BaseException:
        discard(tmp)
        remove_created(created)
        raise


def read_site_summary(path: str | os.PathLike[str]) -> SiteSummary:
    """Read a file written by :func:`site_summary` (checks its kind, shapes and numbers)."""
    p = Path(path)
    try:
        content = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CohortIOError(f"{p}: cannot be read as a site summary ({type(err).__name__})") from None
    if not isinstance(content, dict) or content.get("kind") != FORMAT:
        raise CohortIOError(f"{p}: not a site summary (kind is not {FORMAT!r})")
    try:
        terms = [str(t) for t in content["terms"]]
        b = np.asarray(content["log_hr"], dtype=float)
        cov = np.asarray(content["cov"], dtype=float)
        man = dict(content["manifest"])
    except (KeyError, TypeError, ValueError):
        raise CohortIOError(f"{p}: a site summary needs terms, log_hr, cov and manifest") from None
    if b.shape != (len(terms),) or cov.shape != (len(terms), len(terms)) or not np.all(np.isfinite(cov)) or not np.all(np.isfinite(b)):
        raise CohortIOError(f"{p}: log_hr and cov do not match the terms, or hold a non-finite number")
    summary = pd.DataFrame({"term": terms, "log_hr": b, "se": np.sqrt(np.diag(cov))})
    man.setdefault("method", "site summary (Cox)")
    return SiteSummary(summary=summary, info=man, cov=pd.DataFrame(cov, index=terms, columns=terms))


def combine_sites(files: Sequence[str | os.PathLike[str] | SiteSummary], *, term: str, method: Method = "REML",
                  test: Test = "z", alpha: float = 0.05) -> MetaAnalysis:
    """Meta-analyse one term over site summaries (the coordinator's step).

    Parameters
    ----------
    files : sequence of paths or SiteSummary
        Site summaries from :func:`site_summary`, fitted with the same formula.
    term : str
        The term to pool, e.g. ``"supervised_physio"``.
    method, test, alpha
        As :func:`~footdrop_outcomes.sites.meta_analysis`.

    Returns
    -------
    MetaAnalysis
        Sites that withheld the term are left out and named in ``info["sites_without_term"]``.

    Raises
    ------
    ConfigError
        Summaries from different formulas, or fewer than 2 sites with the term.
    """
    sums = [f if isinstance(f, SiteSummary) else read_site_summary(f) for f in files]
    formulas = {(s.info.get("formula"), str(s.info.get("strata"))) for s in sums}
    if len(formulas) > 1:
        raise ConfigError("combine_sites: the site summaries come from different formulas or strata; refit every site with one model")
    y, v, names, without = [], [], [], []
    for s in sums:
        if term in s.cov.index:
            y.append(float(s.summary.set_index("term").loc[term, "log_hr"]))
            v.append(float(s.cov.loc[term, term]))
            names.append(str(s.info.get("site")))
        else:
            without.append(str(s.info.get("site")))
    if len(y) < 2:
        raise ConfigError(f"combine_sites: fewer than 2 site summaries have the term {term!r}")
    res = meta_analysis(y, v, method=method, test=test, sites=names, alpha=alpha, label=f"log hazard ratio, {term}")
    res.info["sites_without_term"] = without
    res.info["term"] = term
    return res
