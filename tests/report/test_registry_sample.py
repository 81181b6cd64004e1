"""The registry-scale sampling rule of the outcome report (issue 16, item 6).

Above ``REGISTRY_SAMPLE_SIZES[section]`` patients the adherence models and the trajectory mixed
models are fitted on a simple random sample of that many patients (seeded, recorded, said in the
methods); descriptive results use every patient; smaller cohorts are analysed whole, as before.
The sections are run with the sizes lowered (monkeypatched) so that small simulated cohorts
cross them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import adherence_section as ads
from footdrop_outcomes.report import analysis
from footdrop_outcomes.report import trajectory_section as ts
from footdrop_outcomes.report.analysis import (
    REGISTRY_SAMPLE_SEED,
    REGISTRY_SAMPLE_SIZES,
    registry_sample,
)


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(600, seed=21, version=2, progress=False)


def _ids(c) -> list[str]:
    return sorted(c.patients["patient_id"].astype(str))


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    return out.sort_values([c for c in ("patient_id", "day", "week") if c in out.columns]).reset_index(drop=True)


# -- the rule itself ----------------------------------------------------------------------------

def test_a_cohort_not_larger_than_the_size_is_returned_whole(cohort):
    for size in (600, 10_000):
        s = registry_sample(cohort, size)
        assert s.cohort is cohort and not s.sampled
        assert s.record == {"sampled": False, "n_cohort": 600, "n_sample": 600, "size": size, "seed": REGISTRY_SAMPLE_SEED}


def test_a_larger_cohort_gives_exactly_size_patients_with_all_their_rows(cohort):
    s = registry_sample(cohort, 150)
    assert s.sampled and s.cohort.n_patients == 150 and s.record["n_sample"] == 150 and s.record["n_cohort"] == 600
    ids = _ids(s.cohort)
    assert len(set(ids)) == 150
    ref = cohort.subset(patients=ids)  # the package's own subset of the same patients
    for name in ("patients", "visits", "adherence"):
        pd.testing.assert_frame_equal(_plain(getattr(s.cohort, name)), _plain(getattr(ref, name)), check_categorical=False)
    assert sorted(s.cohort.truth.patients["patient_id"].astype(str)) == ids
    # every table's ids use the sample's own categories (a groupby by id meets no unobserved patient)
    for name in ("patients", "visits", "adherence"):
        assert len(getattr(s.cohort, name)["patient_id"].cat.categories) == 150
    assert s.cohort.metadata["subset"][-1]["n_patients_before"] == 600
    assert cohort.n_patients == 600  # the cohort itself is unchanged


def test_the_sample_is_deterministic_order_free_nested_and_follows_its_seed(cohort):
    a, b = registry_sample(cohort, 120), registry_sample(cohort, 120)
    assert _ids(a.cohort) == _ids(b.cohort)
    # the same patients in another row order: the same sample
    shuffled = type(cohort)(patients=cohort.patients.sample(frac=1.0, random_state=5).reset_index(drop=True),
                            visits=cohort.visits, adherence=cohort.adherence, metadata=cohort.metadata, truth=cohort.truth,
                            _validated=True)
    assert _ids(registry_sample(shuffled, 120).cohort) == _ids(a.cohort)
    # a smaller sample is part of a larger one (the adherence sample inside the trajectory sample)
    assert set(_ids(registry_sample(cohort, 60).cohort)) < set(_ids(a.cohort))
    # the seed is the one recorded, and another seed draws other patients
    assert a.record["seed"] == REGISTRY_SAMPLE_SEED
    other = registry_sample(cohort, 120, seed=REGISTRY_SAMPLE_SEED + 1)
    assert other.record["seed"] == REGISTRY_SAMPLE_SEED + 1 and _ids(other.cohort) != _ids(a.cohort)


def test_the_sample_is_a_simple_random_sample_over_seeds(cohort):
    """Over 400 seeds every patient is drawn with probability size / n: inclusion counts are
    Binomial(400, 1/6) (mean 66.7, SD 7.45); a rule that prefers some patients (first rows, first ids,
    a fixed stream) fails the chi-square or the extremes."""
    n_seeds, size = 400, 100
    counts = pd.Series(0, index=_ids(cohort))
    for seed in range(n_seeds):
        counts[_ids(registry_sample(cohort, size, seed=seed).cohort)] += 1
    p = size / cohort.n_patients
    expected, sd = n_seeds * p, np.sqrt(n_seeds * p * (1 - p))
    chi2 = float((((counts - expected) / sd) ** 2).sum())  # ~ chi-square with about 600 df (sum fixed: 599)
    assert abs(chi2 - 599) < 5 * np.sqrt(2 * 599), chi2
    assert counts.min() > expected - 5 * sd and counts.max() < expected + 5 * sd


def test_a_size_that_is_not_a_positive_whole_number_is_refused(cohort):
    from footdrop_outcomes.errors import ConfigError

    for bad in (0, -5, 2.5, True):
        with pytest.raises(ConfigError):
            registry_sample(cohort, bad)


# -- the sections -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sampled_sections(cohort):
    mp = pytest.MonkeyPatch()
    mp.setitem(REGISTRY_SAMPLE_SIZES, "adherence", 300)
    mp.setitem(REGISTRY_SAMPLE_SIZES, "trajectories", 400)
    mp.setattr(analysis, "REGISTRY_THRESHOLD", 599)  # the 600-patient cohort is one above it
    try:
        out = ads.analyse_adherence(cohort), ts.analyse_trajectories(cohort)
    finally:
        mp.undo()  # the sizes are back before any other test runs
    return out


def test_adherence_models_use_the_sample_and_the_descriptive_table_every_patient(cohort, sampled_sections):
    aa, _ = sampled_sections
    rec = aa.choices["sample"]
    assert rec == {"sampled": True, "n_cohort": 600, "n_sample": 300, "size": 300, "seed": REGISTRY_SAMPLE_SEED}
    sample_ids = _ids(registry_sample(cohort, 300).cohort)
    assert sorted(aa.patients["patient_id"].astype(str)) == sample_ids
    # models: fitted on the sample's patients only
    assert aa.effect is not None and aa.effect.info["n"] <= 300
    assert aa.comparison is not None and int(aa.comparison.summary["n"].max()) <= 300
    assert aa.discontinuation is not None and int(aa.discontinuation.summary["n"].max()) <= 300
    assert aa.itt is not None and int(aa.itt.summary["n_patients"].max()) <= 300
    assert aa.trend is not None and aa.trend.info["patient_weeks"] <= len(registry_sample(cohort, 300).cohort.adherence)
    # descriptive: the adherence table counts every patient of the cohort
    from footdrop_outcomes.adherence import adherence_metrics

    whole = adherence_metrics(cohort)
    pd.testing.assert_frame_equal(aa.metrics.summary, whole.summary)
    assert int(aa.metrics.summary.set_index("group").loc["home_exercise", "n_patients"]) > 300
    # one chunk (600 patients): the per-week table is kept; the weekly curves are those of every patient
    assert len(aa.metrics.weekly) == len(whole.weekly)
    full = whole.curves(52)
    got = aa.weekly_curves[aa.weekly_curves["program_week"] < 52]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), full.reset_index(drop=True))


def test_adherence_methods_say_so_in_one_sentence_with_the_seed(sampled_sections):
    aa, _ = sampled_sections
    m = str(ads.methods_text(aa))
    assert m.count("**Registry scale**") == 1
    assert f"simple random sample of 300 of them (seed {REGISTRY_SAMPLE_SEED};" in m and "use all 600 patients" in m


def test_trajectory_models_use_the_sample_and_say_so(cohort, sampled_sections):
    _, ta = sampled_sections
    assert ta.choices["sample"] == {"sampled": True, "n_cohort": 600, "n_sample": 400, "size": 400, "seed": REGISTRY_SAMPLE_SEED}
    ids = set(_ids(registry_sample(cohort, 400).cohort))
    assert set(ta.long["patient_id"].astype(str)) <= ids
    for fit in ta.fits.values():
        assert fit.info["groups"] <= 400
    m = str(ts.methods_text(ta))
    assert m.count("**Registry scale**") == 1
    assert f"simple random sample of 400 of the 600 patients (seed {REGISTRY_SAMPLE_SEED};" in m


def test_small_cohorts_are_analysed_whole_as_before(cohort):
    """Default sizes: a 600-patient cohort is not sampled; the models equal fits on the whole cohort and the
    methods carry no registry sentence."""
    from footdrop_outcomes.adherence import adherence_effect
    from footdrop_outcomes.trajectories import fit_trajectory, trajectory_frame

    assert min(REGISTRY_SAMPLE_SIZES.values()) >= 10_000
    aa = ads.analyse_adherence(cohort)
    assert aa.choices["sample"]["sampled"] is False and len(aa.patients) == 600
    assert "Registry scale" not in str(ads.methods_text(aa))
    direct = adherence_effect(cohort, outcome="observed", alpha=0.05)
    pd.testing.assert_frame_equal(aa.effect.summary, direct.summary)
    ta = ts.analyse_trajectories(cohort)
    assert ta.choices["sample"]["sampled"] is False and "Registry scale" not in str(ts.methods_text(ta))
    long = trajectory_frame(cohort)
    fit = fit_trajectory(long, "gait_speed", ta.choices["formulas"]["gait_speed"])
    pd.testing.assert_frame_equal(ta.fits["gait_speed"].summary, fit.summary)
    assert ta.fits["gait_speed"].info["groups"] == fit.info["groups"]


def test_the_sizes_are_the_documented_ones():
    """The report's methods and analysis.py's justification are written for these sizes."""
    assert REGISTRY_SAMPLE_SIZES == {"adherence": 10_000, "trajectories": 100_000}
    assert analysis.REGISTRY_THRESHOLD == 100_000
    assert analysis.REGISTRY_SAMPLE_SEED == REGISTRY_SAMPLE_SEED


def test_descriptive_metrics_in_chunks_equal_the_whole_cohort_at_once(cohort, monkeypatch):
    """A registry's adherence metrics are formed in chunks of patients (no per-week table of the whole
    registry in memory): per patient, by intervention and week by week they equal adherence_metrics at once."""
    from footdrop_outcomes.adherence import adherence_metrics

    whole = adherence_metrics(cohort)
    monkeypatch.setattr(ads, "METRICS_CHUNK", 130)  # 600 patients: five chunks, the last one short
    m, curves = ads._metrics(cohort)
    pd.testing.assert_frame_equal(m.per_patient, whole.per_patient)
    pd.testing.assert_frame_equal(m.summary, whole.summary, rtol=1e-12)
    assert m.info == whole.info and len(m.weekly) == 0

    def by_key(d: pd.DataFrame) -> pd.DataFrame:
        return d.sort_values(["patient_id", "group"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(by_key(m.membership), by_key(whole.membership))
    pd.testing.assert_frame_equal(curves.reset_index(drop=True), whole.curves(10**6).reset_index(drop=True), rtol=1e-9)
    monkeypatch.setattr(ads, "METRICS_CHUNK", 10**6)
    m1, curves1 = ads._metrics(cohort)  # a cohort below the chunk size: adherence_metrics itself
    pd.testing.assert_frame_equal(m1.summary, whole.summary)
    pd.testing.assert_frame_equal(curves1, whole.curves(10**6))


def test_sampling_starts_above_the_registry_threshold_not_above_the_size(cohort, monkeypatch):
    """A cohort larger than the sample size but not above REGISTRY_THRESHOLD is analysed whole (a 10,001-patient
    study must not lose a random patient); one patient above the threshold is sampled to the size."""
    monkeypatch.setitem(REGISTRY_SAMPLE_SIZES, "adherence", 300)
    monkeypatch.setitem(REGISTRY_SAMPLE_SIZES, "trajectories", 400)
    monkeypatch.setattr(analysis, "REGISTRY_THRESHOLD", 600)
    for section in ("adherence", "trajectories"):
        whole = analysis.section_sample(cohort, section)
        assert whole.sampled is False and whole.cohort is cohort
    monkeypatch.setattr(analysis, "REGISTRY_THRESHOLD", 599)
    assert analysis.section_sample(cohort, "adherence").cohort.n_patients == 300
    assert analysis.section_sample(cohort, "trajectories").cohort.n_patients == 400


def test_the_per_week_table_is_kept_below_the_chunk_size(cohort):
    """curves() and plot() of the section's metrics work on a cohort analysed at once (the table is dropped only
    when the metrics are computed in chunks)."""
    aa = ads.analyse_adherence(cohort)
    from footdrop_outcomes.adherence import adherence_metrics

    assert len(aa.metrics.weekly) == len(adherence_metrics(cohort).weekly) > 0
    assert len(aa.metrics.curves()) > 0
