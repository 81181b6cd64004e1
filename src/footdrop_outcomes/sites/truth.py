"""The simulator's true site effects: read from ``cohort.truth`` (or redrawn from a seed and configuration).

The generator draws the sites' case mix and their effects on recovery, gait speed and adherence
once per cohort, before any patient (``cohort/simulate.py``: ``draw_sites``), and writes them into
``cohort.truth.parameters`` as rows of component ``site_effects`` (term ``sd`` for each SD, the
site code for each site's value) whenever the configuration has a site effect. The rows are saved
and loaded with the cohort's truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig, draw_sites
from footdrop_outcomes.errors import ConfigError

__all__ = ["SITE_EFFECT_SCALES", "simulated_site_effects", "simulated_site_log_frailty"]

#: The site effects the generator can draw, as ``truth.parameters["scale"]`` of component ``site_effects``.
SITE_EFFECT_SCALES: tuple[str, ...] = ("recovery_log_hazard_ratio", "gait_intercept", "gait_slope", "adherence_logit")


def simulated_site_effects(cohort: Cohort) -> pd.DataFrame:
    """True site effects of a simulated cohort, from its truth.

    Parameters
    ----------
    cohort : Cohort
        A cohort from ``simulate_cohort`` (either generator version), or one saved and loaded
        with its truth, or a subset of one.

    Returns
    -------
    pandas.DataFrame
        One row per site (index ``site``: S01, S02, ...) and one column per effect in
        :data:`SITE_EFFECT_SCALES`: the log hazard ratio of recovery (the log frailty), the site
        intercept and slope of the gait model (m/s) and the shift of the adherence propensity
        (logit). ``attrs["sd"]`` holds the configured SD of each. A configuration without site
        effects gives zeros (sites differ only in case mix).

    Raises
    ------
    ConfigError
        If the cohort has no truth (a real cohort).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> from footdrop_outcomes.cohort.simulate import SimulationConfig
    >>> c = simulate_cohort(300, seed=1, config=SimulationConfig(n_sites=4, site_frailty_sd=0.3))
    >>> simulated_site_effects(c).shape
    (4, 4)
    """
    if cohort.truth is None:
        raise ConfigError("simulated_site_effects needs a simulated cohort (this cohort has no truth)")
    p = cohort.truth.parameters
    rows = p[p["component"] == "site_effects"]
    if rows.empty:
        n_sites = int(cohort.truth.value("baseline", "n_sites"))
        out = pd.DataFrame(0.0, index=pd.Index([f"S{j + 1:02d}" for j in range(n_sites)], name="site"), columns=list(SITE_EFFECT_SCALES))
        out.attrs["sd"] = dict.fromkeys(SITE_EFFECT_SCALES, 0.0)
        return out
    sd = rows[rows["term"] == "sd"].set_index("scale")["value"]
    values = rows[rows["term"] != "sd"].pivot(index="term", columns="scale", values="value")
    out = values.reindex(columns=list(SITE_EFFECT_SCALES)).astype(float)
    out.index.name = "site"
    out.columns.name = None
    out.attrs["sd"] = {s: float(sd.get(s, 0.0)) for s in SITE_EFFECT_SCALES}
    return out


def simulated_site_log_frailty(seed: int, config: SimulationConfig | None = None) -> dict[str, float]:
    """Log site frailty on the recovery hazard of ``simulate_cohort(n, seed, config)``, by site code.

    Redrawn with the generator's own ``draw_sites`` from the seed and configuration (the same
    values as ``simulated_site_effects(cohort)["recovery_log_hazard_ratio"]``, which reads them
    from the cohort's truth and needs no seed). Generator version 1 or 2 (a ``SimulationConfigV2``).

    Examples
    --------
    >>> from footdrop_outcomes.cohort.simulate import SimulationConfig
    >>> f = simulated_site_log_frailty(1, SimulationConfig(site_frailty_sd=0.3))
    >>> sorted(f)[:2], len(f)
    (['S01', 'S02'], 8)
    """
    cfg = SimulationConfig() if config is None else config
    version = getattr(cfg, "GENERATOR", 1)
    if version not in (1, 2):
        raise ConfigError("simulated_site_log_frailty: only generator versions 1 and 2")
    # the roots of simulate_cohort (version 1) and simulate_cohort_v2; the sites come from the first child
    root = np.random.SeedSequence(int(seed)) if version == 1 else np.random.SeedSequence([int(seed), 2])
    site_seq, _ = root.spawn(2)
    sites = draw_sites(np.random.default_rng(site_seq), cfg)
    return {code: float(v) for code, v in zip(sites.codes(), sites.log_frailty)}
