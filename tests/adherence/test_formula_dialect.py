"""One formula dialect and one term-naming scheme across survival, trajectories and adherence."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from footdrop_outcomes import ConfigError
from footdrop_outcomes._checks import formula_design
from footdrop_outcomes.adherence import adherence_trend, fit_propensity, itt_per_protocol
from footdrop_outcomes.survival import fit_cox, survival_frame
from footdrop_outcomes.trajectories import fit_trajectory

FORMULA = "cause + severity + age"


@pytest.fixture(scope="module")
def no_als(cohort_small):
    causes = [c for c in cohort_small.patients["cause"].cat.categories if c != "als"]
    return cohort_small.subset(causes=causes)


def _terms(names) -> set[str]:
    return {t for t in names if t.split("[", 1)[0] in ("cause", "severity", "age")}


def test_the_same_formula_gives_the_same_term_names_in_every_layer(no_als):
    cox = fit_cox(survival_frame(no_als), FORMULA).summary["term"]
    traj = fit_trajectory(no_als, "gait_speed", f"time + {FORMULA}", random="intercept").summary["term"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # positivity / balance caveats are not the point here
        ps = fit_propensity(no_als, "supervised_physio", FORMULA).model["term"]
        itt = itt_per_protocol(no_als, device="afo", outcome="observed", confounders=FORMULA).censoring_model["term"]
    trend = adherence_trend(no_als, covariates=FORMULA, max_week=8, cov_struct="independence").summary["term"]
    reference = _terms(cox)
    assert "severity[moderate]" in reference and "cause[stroke]" in reference and "age" in reference
    for name, terms in (("fit_trajectory", traj), ("fit_propensity", ps), ("ITT censoring model", itt), ("GEE trend", trend)):
        assert _terms(terms) == reference, name
    assert not any(t.startswith("C(") or "[T." in t for t in [*ps, *itt, *trend])


def test_patsy_style_C_is_still_accepted_with_the_same_names(no_als):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fit_propensity(no_als, "supervised_physio", "C(cause) + C(severity) + age")
        b = fit_propensity(no_als, "supervised_physio", FORMULA)
    pd.testing.assert_frame_equal(a.model, b.model)
    pd.testing.assert_series_equal(a.weights, b.weights)
    t = adherence_trend(no_als, covariates="C(smoking) + severity", max_week=8, cov_struct="independence")
    assert {"smoking[current]", "severity[severe]", "supervised_physio", "supervised_physio:program_week"} <= set(t.summary["term"])


def test_booleans_are_numbers_and_C_of_a_number_is_categorical():
    d = pd.DataFrame({"flag": [True, False, True, False], "code": [1, 2, 3, 1], "x": [0.1, 0.5, 0.2, 0.9]})
    assert formula_design(d, "flag + x", rank=False)[0].terms == ("Intercept", "flag", "x")
    assert formula_design(d, "C(code)", rank=False)[0].terms == ("Intercept", "code[2]", "code[3]")
    with pytest.raises(ConfigError, match="C\\(...\\) takes a column name only"):
        formula_design(d, "C(code, Sum)")


def test_trajectories_accept_C_and_name_booleans_as_numbers(no_als):
    from footdrop_outcomes.trajectories import trajectory_frame

    long = trajectory_frame(no_als)
    a = fit_trajectory(long, "gait_speed", "time * C(severity) + age_c", random="intercept")
    b = fit_trajectory(long, "gait_speed", "time * severity + age_c", random="intercept")
    pd.testing.assert_series_equal(a.params, b.params)
    c = fit_trajectory(long.assign(diab=long["diabetes"].astype(bool)), "gait_speed", "time + diab", random="intercept")
    assert list(c.params.index) == ["Intercept", "lw", "diab"]
