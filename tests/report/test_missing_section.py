"""The report's missing-data section (report/missing_section.py) on cohorts with missing values,
and late entry in the report's recovery analysis. Counts are checked against brute-force counts
of the tables; release rules against their definitions (no count from 1 to the threshold shown,
never a lone small cell in a row whose total is shown)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.release import at_risk_labels
from footdrop_outcomes.report.analysis import CAUSE_SHORT, analyse_recovery
from footdrop_outcomes.report.counts import get_threshold
from footdrop_outcomes.report.missing_section import (
    methods_text,
    missing_data_section,
    missingness_table,
    model_drops,
    model_drops_table,
)
from footdrop_outcomes.survival import MissingDataWarning, fit_cox, survival_frame

CAUSES = ("peroneal_compression", "lumbar_radiculopathy")


@pytest.fixture(scope="module")
def holes():
    c = simulate_cohort(400, seed=2, version=2, progress=False)
    rng = np.random.default_rng(5)
    p = c.patients.copy()
    p.loc[rng.random(len(p)) < 0.2, "smoking"] = np.nan
    p.loc[rng.random(len(p)) < 0.2, "diabetes"] = pd.NA
    return dataclasses.replace(c, patients=p)


def _small_shown(cell: str) -> bool:
    nums = [int(x.replace(",", "")) for x in re.findall(r"(?<![≤\d.])\d[\d,]*(?![\d.%])", cell)]
    return any(1 <= n <= get_threshold() for n in nums)


def test_missingness_table_counts_by_cause_with_suppression(holes):
    p = holes.patients
    t = missingness_table(holes).frame.set_index("Variable")
    thr = get_threshold()
    for col, label in (("diabetes", "Diabetes"), ("smoking", "Smoking"), ("hba1c", "HbA1c")):
        k = int(p[col].isna().sum())
        assert t.loc[label, "All patients"] == f"{k} ({100 * k / len(p):.1f}%)"
        hidden_or_small = 0
        for cause, short in CAUSE_SHORT.items():
            if short not in t.columns:
                continue
            grp = p["cause"].astype(str) == cause
            kc, nc = int(p.loc[grp, col].isna().sum()), int(grp.sum())
            cell = t.loc[label, short]
            assert not _small_shown(cell), (label, short, cell)
            if 1 <= kc <= thr:
                assert cell == f"≤{thr}"
                hidden_or_small += 1
            elif cell == "*":
                hidden_or_small += 1
            elif nc > thr:
                assert cell == f"{kc} ({100 * kc / nc:.1f}%)", (label, short, cell)
        assert hidden_or_small != 1  # a lone small cell could be worked out from the shown total


def test_model_drops_read_the_fits_info(holes):
    frame = survival_frame(holes)
    incomplete = frame["smoking"].isna() | frame["diabetes"].isna()
    with pytest.warns(MissingDataWarning):
        cox = fit_cox(frame, "severity + diabetes + smoking")
    d = model_drops({"Cox": cox, "complete": {"n": len(frame)}}).set_index("model")
    assert d.loc["Cox", "n_given"] == len(frame) and d.loc["Cox", "n_missing"] == incomplete.sum()
    assert d.loc["Cox", "n_analysed"] == (~incomplete).sum() == cox.info["n"]
    assert d.loc["Cox", "variables"] == {"smoking": int(frame["smoking"].isna().sum()), "diabetes": int(frame["diabetes"].isna().sum())}
    assert d.loc["complete", "n_missing"] == 0 and d.loc["complete", "n_analysed"] == len(frame)
    shown = model_drops_table({"Cox": cox}).frame.iloc[0]
    assert shown["Left out (missing values)"] == f"{int(incomplete.sum()):,}" and shown["Analysed"] == f"{int((~incomplete).sum()):,}"
    # a small number left out: shown as <=threshold, and the analysed count hidden (it would give it back)
    few = {"n_input": 300, "n_dropped_missing": 4, "dropped_by_variable": {"smoking": 4}, "n": 296}
    row = model_drops_table({"Few": few}).frame.iloc[0]
    assert row["Left out (missing values)"] == f"≤{get_threshold()}" and row["Analysed"] == "*" and row["Patients given"] == "300"


def test_section_flow_and_methods_on_a_cohort_with_missing_values(holes):
    cohort = holes.subset(causes=list(CAUSES), label="two causes")
    a = analyse_recovery(cohort, cox_formula="cause + severity + age + diabetes + smoking")
    mf = a.model_frame
    incomplete = int((mf["smoking"].isna() | mf["diabetes"].isna()).sum())
    md = a.choices["missing_data"]
    assert md["cox"]["n_dropped_missing"] == incomplete and md["cox"]["n"] == len(mf) - incomplete
    assert md["cox"]["warnings"] and md["aft"]["n_dropped_missing"] == 0  # the AFT model has neither variable
    sec = missing_data_section(cohort, a)
    flow = sec.counts.set_index("label")["n"]
    assert flow["Patients in the cohort"] == len(cohort.patients)
    assert flow["Cox model"] == len(mf) - incomplete and flow["AFT model"] == len(mf)
    assert flow.filter(like="Cox model: missing").iloc[0] == incomplete
    ends = sec.counts[sec.counts["step"] == "followup"]["n"].sum()
    assert ends == flow["Patients in the recovery curves"]
    # every number on the figure is a rounded or protected count
    drawn = " ".join(t.get_text() for t in sec.flow.figure.axes[0].texts)
    assert f"n = {at_risk_labels([len(mf) - incomplete])[0]}" in drawn
    assert not _small_shown(re.sub(r"≤\d+|\d+ shown as|rounded to \d+", "", drawn))
    assert f"left out {incomplete:,}" in str(sec.methods) or f"left out ≤{get_threshold()}" in str(sec.methods)


def test_late_entry_only_where_the_sample_is_a_referral_sample():
    c = simulate_cohort(300, seed=2, version=2, progress=False).subset(causes=list(CAUSES), label="two causes")
    f = survival_frame(c)
    seen_recovered = int((f["event"] & (f["time"] <= f["entry"])).sum())
    assert seen_recovered > 0  # the v2 simulator keeps patients recovered before first contact
    a = analyse_recovery(c)
    assert a.choices["late_entry"] is False and "not a referral sample" in a.choices["late_entry_reason"]
    assert a.cox.info["entry_col"] is None and "not a referral sample" not in str(methods_text(a))  # reason in words
    ref = c.subset(f.loc[f["time"] > f["entry"], "patient_id"].to_numpy(), label="referral sample")
    b = analyse_recovery(ref)
    assert b.choices["late_entry"] is True and b.choices["n_recovered_by_entry"] == 0
    assert b.cox.info["entry_col"] == "entry" and b.aft.info["entry_col"] == "entry"
    assert b.results["km_cause"].info["entry_col"] == "entry" and b.results["turnbull_cause"].info["entry_col"] == "entry"
    # late entry removes the immortal time before first contact: recovery by week 12 is at least as likely as when
    # everyone is counted from onset on the same patients (risk sets only shrink early), and here strictly so
    plain = analyse_recovery(ref, late_entry=False).results["km_cause"].summary
    late = b.results["km_cause"].summary
    key = ["group", "statistic", "time"]
    m = plain.merge(late, on=key, suffixes=("_plain", "_late"))
    m = m[(m["statistic"] == "recovered_by") & (m["time"] == 12)]
    assert len(m) == 2 and (m["estimate_late"] >= m["estimate_plain"] - 1e-12).all() and (m["estimate_late"] > m["estimate_plain"]).any()
    assert "first contact" in str(methods_text(b)) and "left truncation" in str(methods_text(b))
    with pytest.raises(Exception, match="first_contact_day"):
        analyse_recovery(simulate_cohort(60, seed=1, progress=False), late_entry=True)
