"""Meta-analysis against R metafor::rma (stored values) and the REML optimum."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.sites import meta_analysis

DATA = Path(__file__).parents[1] / "data" / "r_reference_wave2"
R = json.loads((DATA / "rma_results.json").read_text())["fits"]
SITES = pd.read_csv(DATA / "site_estimates.csv")
NAMES = {"estimate": "estimate", "se": "se", "ci_lb": "ci_lower", "ci_ub": "ci_upper", "pval": "p", "tau2": "tau2",
         "se_tau2": "se_tau2", "I2": "I2", "H2": "H2", "QE": "Q", "QEp": "Q_p"}


@pytest.mark.parametrize(("key", "method", "test"), [("rma_reml_z", "REML", "z"), ("rma_reml_knha", "REML", "knha"),
                                                     ("rma_dl", "DL", "z")])
def test_equals_metafor(key: str, method: str, test: str) -> None:
    row = meta_analysis(SITES["yi"], SITES["vi"], method=method, test=test, sites=SITES["site"]).summary.iloc[0]
    ref = R[key]
    checked = [k for k in ref if k in NAMES]
    assert len(checked) >= 4
    for k in checked:
        assert row[NAMES[k]] == pytest.approx(ref[k], abs=1e-6, rel=1e-6), k


def test_tight_tolerance_reaches_the_reml_maximum() -> None:
    y, v = SITES["yi"].to_numpy(), SITES["vi"].to_numpy()

    def neg_restricted_loglik(t2: float) -> float:
        w = 1 / (v + t2)
        mu = np.sum(w * y) / w.sum()
        return 0.5 * (np.sum(np.log(v + t2)) + np.log(w.sum()) + np.sum(w * (y - mu) ** 2))

    best = optimize.minimize_scalar(neg_restricted_loglik, bounds=(0, 1), method="bounded", options={"xatol": 1e-12})
    res = meta_analysis(y, v, tol=1e-12).summary.iloc[0]
    assert res["tau2"] == pytest.approx(best.x, abs=1e-8)
    # metafor stops at a change of 1e-5: its tau2 is close to, not at, the maximum
    assert abs(R["rma_reml_z"]["tau2"] - best.x) < 1e-5


def test_homogeneous_sites_give_tau2_zero_and_the_fixed_effect() -> None:
    y, v = np.array([0.1, 0.1001, 0.0999]), np.array([0.01, 0.02, 0.04])
    row = meta_analysis(y, v).summary.iloc[0]
    assert row["tau2"] == 0.0
    assert row["estimate"] == pytest.approx(np.sum(y / v) / np.sum(1 / v))
    assert row["se"] == pytest.approx(np.sqrt(1 / np.sum(1 / v)))


def test_forest_plot_and_weights() -> None:
    res = meta_analysis(SITES["yi"], SITES["vi"], sites=SITES["site"])
    assert res.sites["weight"].sum() == pytest.approx(100.0)
    ax = res.plot(exponentiate=True)
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["S01", "S02"]
    assert len(ax.get_yticklabels()) == len(SITES) + 1
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


@pytest.mark.parametrize(("y", "v", "what"), [([0.1], [0.01], "at least 2"), ([0.1, 0.2], [0.01], "variances"),
                                               ([0.1, np.nan], [0.01, 0.01], "position"), ([0.1, 0.2], [0.01, 0.0], "position")])
def test_bad_inputs(y: list[float], v: list[float], what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        meta_analysis(y, v)


def test_unknown_method() -> None:
    with pytest.raises(ConfigError, match="method"):
        meta_analysis([0.1, 0.2], [0.01, 0.01], method="PM")  # type: ignore[arg-type]
