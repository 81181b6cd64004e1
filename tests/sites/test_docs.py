"""docs/multisite.md: its worked example runs, and the truth helper matches the simulator."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.sites import simulated_site_log_frailty

DOC = Path(__file__).parents[2] / "docs" / "multisite.md"


def test_worked_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert blocks
    namespace: dict[str, object] = {}
    try:
        for code in blocks:
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    finally:
        plt.close("all")
    assert namespace["fed"].summary["k"].iloc[0] == 10  # type: ignore[attr-defined]


def test_true_site_frailty_matches_the_linear_predictor() -> None:
    cfg = SimulationConfig(site_frailty_sd=0.5)
    a, b = simulate_cohort(400, 11, cfg), simulate_cohort(400, 11)
    diff = a.truth.patients["latency_linear_predictor"].to_numpy() - b.truth.patients["latency_linear_predictor"].to_numpy()
    f = simulated_site_log_frailty(11, cfg)
    assert np.allclose(diff, a.patients["site"].astype(str).map(f).to_numpy(), atol=1e-12)
    assert np.std(list(f.values())) > 0.1
