"""``recommended`` in ``adherence_effect`` points only at a model the docs measured unbiased on data of this kind (issue 20).

The measurements are read from docs/adherence.md (sections 5 and 5.1) here, not from the code's
``MEASURED`` table, so a claim in the code that the docs do not support fails.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import adherence_effect
from footdrop_outcomes.adherence.outcome import (
    CURE_MODEL,
    MEASURED,
    MISCLASS_MODEL,
    TV_COX,
    grading,
    measured_unbiased,
)
from footdrop_outcomes.cohort.cohort import Cohort

DOCS = Path(__file__).resolve().parents[2] / "docs" / "adherence.md"

#: The docs row behind each (model, kind of outcome) of MEASURED.
DOC_ROWS = {
    (CURE_MODEL, "exact"): "observed, conservatively treated, MRC without rater error",
    (CURE_MODEL, "rated"): "observed, conservatively treated",
    (MISCLASS_MODEL, "rated"): "observed, conservatively treated, misclassification model",
    (MISCLASS_MODEL, "rated+second"): "observed, conservatively treated, misclassification model, second rater at every visit",
    (TV_COX, "latent"): "latent times, recovering conservatively treated patients (time-varying Cox)",
}


def _docs_rows() -> dict[str, dict[str, float]]:
    """Rows of the Monte Carlo tables of docs/adherence.md section 5.1: label -> bias / MC SE, coverage, its MC SE."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### 5.1"):text.index("## 6.")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and re.fullmatch(r"\d+", cells[1]):
            rows[cells[0]] = {"bias": float(cells[4]), "coverage": float(cells[8]), "coverage_mc_se": float(cells[9])}
    return rows


def _docs_unbiased(model: str, kind: str) -> bool:
    r = _docs_rows()[DOC_ROWS[(model, kind)]]
    return abs(r["bias"]) <= 2 and r["coverage"] >= 0.90 and abs(r["coverage"] - 0.95) <= 2 * max(r["coverage_mc_se"], 1e-9)


def test_the_measured_table_is_the_docs_table():
    rows = _docs_rows()
    assert set(MEASURED) == set(DOC_ROWS)
    for key, label in DOC_ROWS.items():
        bias, cover, cover_se = MEASURED[key]
        assert rows[label]["bias"] == pytest.approx(bias, abs=0.05), key
        assert rows[label]["coverage"] == pytest.approx(cover, abs=5e-4), key
        assert rows[label]["coverage_mc_se"] == pytest.approx(cover_se, abs=5e-4), key
        assert measured_unbiased(*key) == _docs_unbiased(*key), key
    assert not measured_unbiased(CURE_MODEL, "rated")  # the documented attenuation (-22.9 MC SE)


def _check(e) -> None:
    """The recommended row, if any, is a model the docs measured unbiased on this kind of outcome."""
    best = e.info["recommended"]
    assert e.summary["recommended"].sum() == (best is not None)
    if best is None:
        assert e.info["recommendation_note"].startswith("nothing is recommended")
        return
    assert e.summary.loc[e.summary["recommended"], "model"].tolist() == [best]
    kind = e.info["grading"]
    if best == MISCLASS_MODEL and e.info["second_rating"]:
        kind = "rated+second"
    assert _docs_unbiased(best, kind), (best, kind)


@pytest.fixture(scope="module")
def v2():
    return simulate_cohort(1500, seed=2041, version=2)


def test_rated_grades_never_recommend_the_cure_model_of_the_first_reading(v2):
    assert grading(v2) == "rated"
    e = adherence_effect(v2, population="conservative")
    _check(e)
    assert e.info["recommended"] != CURE_MODEL
    assert {CURE_MODEL, MISCLASS_MODEL} <= set(e.summary["model"])
    if e.info["recommended"] is None:
        assert "rater error" in e.info["recommendation_note"]
        assert e.info["least_biased"] in set(e.summary["model"])
        # the least biased by the docs' measurements
        rows = _docs_rows()
        assert abs(rows[DOC_ROWS[(e.info["least_biased"], "rated")]]["bias"]) <= abs(rows[DOC_ROWS[(CURE_MODEL, "rated")]]["bias"])


def test_real_data_count_as_rated_grades(v2):
    real = Cohort(patients=v2.patients, visits=v2.visits, adherence=v2.adherence)
    assert grading(real) == "rated"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = adherence_effect(real, covariates="cause + severity + smoking + supervised_physio")
    _check(e)
    assert e.info["recommended"] != CURE_MODEL


def test_exact_grades_recommend_the_cure_model(v2):
    v1 = simulate_cohort(1200, seed=7)
    assert grading(v1) == "exact"
    e = adherence_effect(v1, covariates="cause + severity + smoking + supervised_physio")
    _check(e)
    assert e.info["recommended"] == CURE_MODEL and MISCLASS_MODEL not in set(e.summary["model"])
    exact = dataclasses.replace(v2, visits=v2.visits.assign(mrc=v2.truth.visits["mrc_true"].to_numpy()))
    e2 = adherence_effect(exact, population="conservative", mrc_rater_error=False)
    _check(e2)
    assert e2.info["recommended"] == CURE_MODEL and e2.info["grading"] == "exact"


def test_two_treatment_clocks_recommend_nothing(v2):
    e = adherence_effect(v2, misclassification=False)  # all but ALS: operated patients on the surgical clock too
    _check(e)
    assert e.info["recommended"] is None and e.info["least_biased"] is None
    assert "no true value" in e.info["recommendation_note"]


def test_latent_times_recommend_the_time_varying_cox_model(v2):
    e = adherence_effect(v2, outcome="latent", population="recovering_conservative")
    _check(e)
    assert e.info["recommended"] == TV_COX and e.info["grading"] == "latent"


def test_a_second_rating_is_used_and_judged_by_its_own_measurements(v2):
    """A reliability sample: an independent second rating of a third of the visits, as a visits column."""
    second = v2.truth.visits["mrc_second_rater"].astype(float).to_numpy()
    second[np.arange(second.size) % 3 != 0] = np.nan
    c = dataclasses.replace(v2, visits=v2.visits.assign(mrc_second=second))
    e = adherence_effect(c, population="conservative", second_rating="mrc_second")
    _check(e)
    info = e.fits[MISCLASS_MODEL].info
    assert abs(info["second_readings"] / info["visits"] - 1 / 3) < 0.05  # the second ratings reach the model
    assert e.info["second_rating"] == "mrc_second" and e.info["recommended"] != CURE_MODEL


@pytest.mark.parametrize(("measured", "expected"), [
    ((-1.5, 0.950, 0.040), True), ((1.9, 0.930, 0.050), True),
    ((-2.5, 0.950, 0.040), False),  # biased by more than 2 Monte Carlo SE
    ((-1.0, 0.850, 0.070), False),  # coverage too low
    ((0.5, 0.990, 0.010), False),  # coverage above 0.95 by more than 2 of its MC SEs
    ((float("nan"), float("nan"), float("nan")), False),  # not measured
])
def test_the_rule_for_measured_unbiased(monkeypatch, measured, expected):
    from footdrop_outcomes.adherence import outcome

    monkeypatch.setitem(outcome.MEASURED, ("some model", "rated"), measured)
    assert measured_unbiased("some model", "rated") is expected
    assert not measured_unbiased("unmeasured model", "rated")
