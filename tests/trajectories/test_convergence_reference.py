"""Mixed models: the documented convergence criterion (gradient and relative change, a loose
stop is converged=False with a warning), reference levels stated, threads limited in fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import ConfigError
from footdrop_outcomes.trajectories import (
    TrajectoryFitWarning,
    _fast,
    fit_trajectory,
    fit_trajectory_gee,
)

REF_DIR = Path(__file__).resolve().parents[1] / "data" / "r_reference"


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "long.csv")


@pytest.fixture(scope="module")
def reml(long):
    return fit_trajectory(long, "strength", "time * cause + severity", id_col="id", time_col="week")


def test_convergence_record_meets_documented_criterion(reml, long):
    conv = reml.info["convergence"]
    assert conv["converged"] and reml.info["converged"]
    assert 0 <= conv["projected_gradient"] <= _fast.GTOL and 0 <= conv["relative_change"] <= _fast.XTOL
    # against R: the REML criterion at least as high as lme4's (its bobyqa stops ~1e-5 in theta)
    r = json.loads((REF_DIR / "r_results.json").read_text())["fits"]["lmer_reml"]["values"]
    assert reml.log_likelihood >= r["loglik"] - 1e-9 * abs(r["loglik"])


def test_loose_stop_is_not_converged(long, monkeypatch):
    """Stopping 2e-7 away from the optimum in theta (every optimiser) fails the criterion: converged=False, warning.

    The issue's case in small: the old rule (gradient below 1e-6 x |deviance|) passed such a stop."""
    real = _fast._newton_polish
    monkeypatch.setattr(_fast, "_newton_polish", lambda theta, *a, **k: real(theta, *a, **k) + 2e-7)
    with pytest.warns(TrajectoryFitWarning, match="did not converge.*relative change"):
        fit = fit_trajectory(long, "strength", "time * cause + severity", id_col="id", time_col="week")
    conv = fit.info["convergence"]
    assert fit.info["converged"] is False and conv["converged"] is False
    assert conv["projected_gradient"] > _fast.GTOL
    assert conv["projected_gradient"] < 1e-6 * abs(2 * fit.log_likelihood)  # the old rule: "converged"


def test_convergence_function_flags_a_point_off_the_optimum(reml):
    bl = reml.blocks

    def fun(th):
        ev = _fast.evaluate(th, bl, True)
        return ev.deviance, ev.gradient

    at = _fast.convergence(np.asarray(reml.theta), bl.q, fun)
    off = _fast.convergence(np.asarray(reml.theta) * 1.01, bl.q, fun)
    assert at["converged"] and not off["converged"]
    assert off["relative_change"] > 1e-3  # the next Newton step goes back by about 1% of theta


def test_reference_argument_changes_contrast_not_fit(reml, long):
    alt = fit_trajectory(long, "strength", "time * cause + severity", id_col="id", time_col="week",
                         reference={"cause": "stroke", "severity": "severe"})
    assert alt.log_likelihood == pytest.approx(reml.log_likelihood, rel=1e-9)
    s, a = reml.summary.set_index("term"), alt.summary.set_index("term")
    assert a.loc["cause[compression]", "reference"] == "cause=stroke"
    # compression vs stroke = -(stroke vs compression), at the reference severity of each fit (no cause x severity term)
    assert a.loc["cause[compression]", "estimate"] == pytest.approx(-s.loc["cause[stroke]", "estimate"], abs=1e-6)
    assert alt.info["reference_levels"]["severity"]["from"] == "reference= argument"
    assert reml.info["reference_levels"]["cause"] == {
        "level": "compression", "from": "first in sorted order (a text column: make it categorical or give reference= to choose)"}
    gee = fit_trajectory_gee(long, "strength", "time + cause", id_col="id", time_col="week", reference={"cause": "stroke"})
    assert gee.summary.set_index("term").loc["cause[compression]", "reference"] == "cause=stroke"
    with pytest.raises(ConfigError, match="does not occur"):
        fit_trajectory(long, "strength", "time + cause", id_col="id", time_col="week", reference={"cause": "als"})
    with pytest.raises(ConfigError, match="numeric"):
        fit_trajectory(long.assign(age=long["id"] % 7), "strength", "time + cause + age", id_col="id", time_col="week",
                       reference={"age": 2})


def test_categorical_order_gives_the_reference(long):
    cat = long.assign(severity=pd.Categorical(long["severity"], categories=["severe", "moderate", "mild"]))
    fit = fit_trajectory(cat, "strength", "time + severity", id_col="id", time_col="week", random="intercept")
    assert fit.summary["term"].tolist() == ["Intercept", "lw", "severity[moderate]", "severity[mild]"]
    assert set(fit.summary["reference"].iloc[2:]) == {"severity=severe"}
