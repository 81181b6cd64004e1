"""Adherence over time by intervention (GEE): the generator's decline and supervised-physio effect, on the marginal scale."""

from __future__ import annotations

import numpy as np
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import AdherenceInputError, adherence_trend
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.errors import ConfigError


@pytest.fixture(scope="module")
def cohort():
    """2,000 patients; adherence effect on recovery off, so the end of the record (recovery) does not depend on adherence."""
    return simulate_cohort(2000, seed=2026, config=SimulationConfig(adherence_log_hr=0.0))


def test_gee_recovers_the_population_averaged_truth(cohort):
    t = adherence_trend(cohort)
    s = t.summary.set_index("term")
    for term in ("supervised_physio", "program_week", "smoking[current]", "supervised_physio:program_week"):
        r = s.loc[term]
        assert abs(r["estimate"] - r["truth_marginal"]) < 3 * r["se"], term
    # marginal effects are attenuated versions of the generator's conditional ones (about 0.785)
    for term in ("supervised_physio", "program_week"):
        ratio = s.loc[term, "truth_marginal"] / s.loc[term, "truth_conditional"]
        assert 0.7 < ratio < 0.85, term
    assert s.loc["program_week", "truth_conditional"] == pytest.approx(-0.015)
    assert s.loc["supervised_physio", "truth_conditional"] == pytest.approx(0.4)
    # the conditional truth is outside the CI: a GEE does not estimate it
    r = s.loc["program_week"]
    assert r["upper"] < 0 and r["lower"] > r["truth_conditional"]
    c = t.curves
    assert set(c["group"]) == {False, True} and c["program_week"].max() == 51
    assert (c["lower"] < c["mean"]).all() and (c["mean"] < c["upper"]).all()
    sup = c[c["group"]].set_index("program_week")["mean"]
    assert sup.is_monotonic_decreasing and abs(sup.iloc[0] - c[c["group"] & (c["program_week"] == 0)]["observed_mean"].iloc[0]) < 0.03
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert t.plot().get_xlabel() == "weeks since program start"
    plt.close("all")


def test_gaussian_ar1_and_options(cohort):
    t = adherence_trend(cohort, family="gaussian", cov_struct="ar1", covariates="", max_week=12, interaction=False)
    s = t.summary.set_index("term")
    assert "truth_marginal" not in s.columns  # only on the logit scale
    assert -0.01 < s.loc["program_week", "estimate"] < 0  # share points per week
    assert np.isfinite(s["se"]).all() and t.info["cov_struct"] == "ar1"
    t2 = adherence_trend(cohort, group="afo", covariates="severity", max_week=6, cov_struct="independence")
    assert t2.curves["group"].nunique() == cohort.patients["afo"].nunique()


def test_bad_options(cohort):
    with pytest.raises(ConfigError, match="family"):
        adherence_trend(cohort, family="poisson")
    with pytest.raises(ConfigError, match="cov_struct"):
        adherence_trend(cohort, cov_struct="unstructured")
    with pytest.raises(AdherenceInputError, match="max_week"):
        adherence_trend(cohort, max_week=1)
    with pytest.raises(AdherenceInputError, match="no column 'nope'"):
        adherence_trend(cohort, group="nope")
    with pytest.raises(AdherenceInputError, match="one group"):
        adherence_trend(cohort, group="home_exercise")
