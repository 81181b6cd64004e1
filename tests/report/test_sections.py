"""The trajectories and adherence sections on cohorts where some analyses cannot run as usual."""

from __future__ import annotations

import numpy as np
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import adherence_section as ads
from footdrop_outcomes.report import trajectory_section as ts
from footdrop_outcomes.report.analysis import restrict_causes


@pytest.fixture(scope="module")
def stroke_only():
    return restrict_causes(simulate_cohort(600, 11, progress=False), ["stroke"])


def test_trajectories_drop_constant_terms_and_report_the_mcid(stroke_only):
    t = ts.analyse_trajectories(stroke_only, mcid_cause="stroke", mcid_severity="moderate")
    assert "cause" in t.choices["dropped_terms"] and "cause" not in t.choices["formulas"]["gait_speed"]
    assert np.isfinite(t.mcid["weeks"].iloc[0]) and "gains the minimal clinically important difference" in ts.mcid_text(t)
    # a profile outside the patients analysed is said to be not estimable, not invented
    other = ts.analyse_trajectories(stroke_only, mcid_cause="als")
    assert other.mcid is None and "not estimable" in ts.mcid_text(other)
    assert "cause" in ts.methods_text(t)  # the dropped term is named
    ts.trajectory_figure(t)


def test_adherence_falls_back_to_the_direct_cure_fit_and_reports_failures(stroke_only):
    a = ads.analyse_adherence(stroke_only)
    # adherence_effect's default covariates include cause, constant here: reported, not hidden
    assert "effect" in a.failed and a.effect is None
    assert "Not fitted (adherence and recovery)**: a term of the model does not vary" in ads.methods_text(a)
    # the visit-interval cure model with time-varying adherence is then fitted directly
    assert a.tv_cure is not None and not a.choices["tv_from_adherence_effect"]
    table = ads.recovery_effect_table(a).frame
    assert list(table["Model"]) == ["Cure model on visit intervals, time-varying"]
    assert ads.effect_text(a).startswith("Not fitted on this cohort")


def test_cause_sizes_are_hidden_the_same_way_in_every_table():
    """A cause size hidden in Table 1 (complementary to a small cause) must not be printed by another table,
    or the small cause would follow from the grand total."""
    from footdrop_outcomes.report import analysis, tables

    cohort = simulate_cohort(300, 2, progress=False)  # one cause with at most 10 patients
    rec = analysis.analyse_recovery(cohort)
    t1 = tables.table_one(cohort).frame.loc["Patients"]
    from footdrop_outcomes.report.analysis import CAUSE_SHORT

    shown = {name: t1[name] for name in t1.index if name != "All"}
    # the small cause: its count is "≤10", and its whole column is masked ("-") because every number in it
    # comes from a group of 10 or fewer; a cause hidden to protect it shows "*"
    assert {"≤10", "-"} & set(shown.values()) and "*" in shown.values()
    rt = tables.recovery_table(rec).frame.set_index("Cause")["Patients"]
    ft = tables.followup_table(cohort).frame.set_index("Cause")["Patients"]
    ct = tables.curve_table(rec.results["turnbull_cause"], groups=rec.frame["cause"]).frame.set_index("Group")["Patients"]
    for name, value in shown.items():
        assert rt[name] == value and ft[name] == value, name
        if name in ct.index:
            assert ct[name] == value, name
    assert set(CAUSE_SHORT.values()) >= set(shown)
