"""The simulator's true site frailties, recomputed from the seed (not yet kept in ``cohort.truth``)."""

from __future__ import annotations

import numpy as np

from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.cohort.vocabulary import CAUSES
from footdrop_outcomes.errors import ConfigError

__all__ = ["simulated_site_log_frailty"]


def simulated_site_log_frailty(seed: int, config: SimulationConfig | None = None) -> dict[str, float]:
    """Log site frailty on the recovery hazard of ``simulate_cohort(n, seed, config)`` (version 1), by site code.

    The generator draws the sites' case mix and frailty from the first child of
    ``SeedSequence(seed)`` before any patient (``cohort/simulate.py``, ``_simulate_in_chunks``);
    this repeats those draws. ``CohortTruth`` does not store them yet.

    Examples
    --------
    >>> from footdrop_outcomes.cohort.simulate import SimulationConfig
    >>> f = simulated_site_log_frailty(1, SimulationConfig(site_frailty_sd=0.3))
    >>> sorted(f)[:2], len(f)
    (['S01', 'S02'], 8)
    """
    cfg = SimulationConfig() if config is None else config
    if getattr(cfg, "GENERATOR", 1) != 1:
        raise ConfigError("simulated_site_log_frailty: only generator version 1 configurations")
    site_seq, _ = np.random.SeedSequence(int(seed)).spawn(2)
    rng = np.random.default_rng(site_seq)
    rng.dirichlet(np.full(cfg.n_sites, 2.0), size=len(CAUSES))
    draws = rng.normal(0.0, cfg.site_frailty_sd, size=cfg.n_sites) if cfg.site_frailty_sd > 0 else np.zeros(cfg.n_sites)
    return {f"S{j + 1:02d}": float(draws[j]) for j in range(cfg.n_sites)}
