"""Multi-site studies: federated meta-analysis of site estimates and risk-adjusted site comparison.

An analysis layer beside ``survival`` and ``adherence``: it imports the cohort, survival and
release layers; nothing below imports it. See ``docs/multisite.md``.

* :func:`meta_analysis`: random-effects meta-analysis (REML or DerSimonian-Laird, z or
  Hartung-Knapp), equal to R ``metafor::rma``; forest plot.
* :func:`site_summary` / :func:`combine_sites`: two-stage federated analysis; each site writes only
  released aggregates (Cox log hazard ratios with their covariance, counts above the small-cell
  threshold) and the coordinator meta-analyses them.
* :func:`compare_sites`: observed vs expected recoveries by site (indirect standardisation from a
  case-mix Cox model), funnel plots at 95% and 99.8% with over-dispersion (Spiegelhalter 2005),
  ranks with uncertainty, release control per site; :func:`adherence_by_site`: observed vs
  expected adherence per site.
* :func:`simulated_site_effects`: the simulator's true site effects on recovery, gait speed and
  adherence, from ``cohort.truth`` (component ``site_effects``).
* :class:`SiteCox` / :func:`federated_cox`: one-stage federated site-stratified Cox model; sites
  exchange only their log partial likelihood, score and information per Newton round (in
  process, over files with :class:`FileExchange` / :func:`serve_site`, or as Dask tasks with
  :class:`DaskSites`); equal to the pooled fit.
"""

from footdrop_outcomes.sites.comparison import (
    SiteAdherence,
    SiteComparison,
    adherence_by_site,
    compare_sites,
    funnel_limits,
    overdispersion,
)
from footdrop_outcomes.sites.federated import (
    SiteSummary,
    combine_sites,
    read_site_summary,
    site_summary,
)
from footdrop_outcomes.sites.meta import MetaAnalysis, meta_analysis
from footdrop_outcomes.sites.onestage import (
    DaskSites,
    ExchangeTimeout,
    FederatedCoxResult,
    FileExchange,
    SiteCox,
    federated_cox,
    serve_site,
)
from footdrop_outcomes.sites.truth import SITE_EFFECT_SCALES, simulated_site_effects, simulated_site_log_frailty

__all__ = [
    "SITE_EFFECT_SCALES",
    "DaskSites",
    "ExchangeTimeout",
    "FederatedCoxResult",
    "FileExchange",
    "MetaAnalysis",
    "SiteAdherence",
    "SiteComparison",
    "SiteCox",
    "SiteSummary",
    "adherence_by_site",
    "combine_sites",
    "compare_sites",
    "federated_cox",
    "funnel_limits",
    "meta_analysis",
    "overdispersion",
    "read_site_summary",
    "serve_site",
    "simulated_site_effects",
    "simulated_site_log_frailty",
    "site_summary",
]
