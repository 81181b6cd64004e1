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


def _figure_texts(released) -> list[str]:
    return [t.get_text() for ax in released.figure.axes for t in ax.texts]


def test_missing_patterns_count_every_patient_once(holes):
    from footdrop_outcomes.report.missing_section import missing_patterns

    pat = missing_patterns(holes)
    cols = [c for c in pat.columns if c not in ("n", "n_missing")]
    assert int(pat["n"].sum()) == len(holes.patients)
    assert not pat.iloc[0][cols].any()  # the complete pattern first
    brute = holes.patients[cols].isna().value_counts()
    for _, r in pat.iterrows():
        assert int(r["n"]) == int(brute[tuple(bool(r[c]) for c in cols)])
        assert int(r["n_missing"]) == int(r[cols].sum())
    assert list(pat["n"].iloc[1:]) == sorted(pat["n"].iloc[1:], reverse=True)


def _grid(released) -> list[list[str]]:
    """The pattern grid as drawn: rows top to bottom, "missing" / "recorded" per covariate."""
    ax = released.figure.axes[0]
    cells = sorted((-p.get_y(), p.get_x(), p.get_facecolor()) for p in ax.patches if p.get_width() == 1)
    rows: dict[float, list[str]] = {}
    for y, _, fc in cells:
        rows.setdefault(y, []).append("missing" if fc[0] > 0.8 else "recorded")  # orange vs blue
    return [rows[y] for y in sorted(rows)]


def test_pattern_figure_draws_common_patterns_without_counts(holes):
    from footdrop_outcomes.report.missing_section import (
        missing_patterns,
        pattern_figure,
    )

    pat = missing_patterns(holes)
    thr = get_threshold()
    cols = [c for c in pat.columns if c not in ("n", "n_missing")]
    assert (pat["n"] <= thr).any() and (pat["n"] > thr).sum() >= 3  # the fixture has small and common patterns
    fig = pattern_figure(pat)
    big = pat[pat["n"] > thr]
    want = [["missing" if r[c] else "recorded" for c in cols] for _, r in big.iterrows()]  # already in display order
    assert _grid(fig) == want  # every common pattern, in order; no small one
    # no count anywhere: the only digits are in covariate names (HbA1c) and "k missing" row labels
    texts = [t.get_text() for ax in fig.figure.axes for t in ax.texts]
    for t in texts:
        assert re.fullmatch(r"complete|\d missing", t), t
    title = fig.figure.axes[0].get_title()
    assert f"patterns of {thr} or fewer patients are not drawn" in title
    assert ("Rarer patterns are not drawn either" in title) == ((pat["n"] > thr).sum() > 12)
    assert [t.get_text() for t in fig.figure.axes[0].get_xticklabels()][:2] == ["Side", "Diabetes"]


def test_pattern_figure_with_one_covariate_keeps_its_title_on_the_page(holes):
    from footdrop_outcomes.report.missing_section import (
        missing_patterns,
        pattern_figure,
    )

    fig = pattern_figure(missing_patterns(holes, columns=["diabetes"])).figure
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width


def test_imputation_comparison_beside_complete_cases(holes):
    from footdrop_outcomes.imputation import fit_imputed, impute
    from footdrop_outcomes.report.missing_section import imputation_comparison
    from footdrop_outcomes.report.tables import hazard_ratio_table

    rec = analyse_recovery(holes, causes=CAUSES)
    cmp_ = imputation_comparison(rec, m=5, seed=3)
    assert cmp_.table is not None and "multiple imputation of diabetes" in str(cmp_.text)
    assert re.findall(r"\d+", str(cmp_.text)) == ["5"]  # m only: no count (Table 18 shows them, protected)
    t = cmp_.table.frame.set_index("Term")
    hr = hazard_ratio_table(rec.cox, rec.model_frame).frame.set_index("Term")
    cc_col, mi_col = t.columns[0], t.columns[1]
    assert cc_col.startswith("Complete cases") and mi_col.startswith("Multiple imputation")
    shown = [i for i in t.index if t.loc[i, cc_col] != "-"]
    assert shown and all(t.loc[i, cc_col] == hr.loc[i, hr.columns[0]] for i in shown)
    # the imputed column is the pooled Cox model refitted independently with the same seed
    ch = rec.choices
    imp = impute(rec.model_frame, m=5, seed=3, columns=["diabetes"], iterations=10, outcome="right")
    pooled = fit_imputed(imp, lambda d: fit_cox(d, ch["cox_formula"], cluster=ch["cluster"], alpha=ch["alpha"],
                                                entry_col=ch["entry_col"]), alpha=ch["alpha"]).summary.set_index("term")
    from footdrop_outcomes.report.analysis import term_label
    from footdrop_outcomes.report.tables import fmt_ci

    for term in pooled.index:
        label = term_label(term)
        if t.loc[label, mi_col] != "-":
            want = fmt_ci(*np.exp(pooled.loc[term, ["estimate", "lower", "upper"]].to_numpy(dtype=float)))
            assert t.loc[label, mi_col] == want
            assert t.loc[label, "Missing information"] == f"{100 * pooled.loc[term, 'fmi']:.0f}%"
    # diabetes is the imputed variable: its missing information is the largest of the shown terms
    fmi = {i: int(t.loc[i, "Missing information"].rstrip("%")) for i in shown if t.loc[i, "Missing information"] != "-"}
    assert max(fmi, key=fmi.get) == "Diabetes"
    # no missing model variable: no table, a sentence
    full = analyse_recovery(simulate_cohort(300, seed=2, version=2, progress=False), causes=CAUSES)
    none_ = imputation_comparison(full, m=2, seed=1)
    assert none_.table is None and "no imputation was needed" in str(none_.text)


def test_imputation_comparison_masks_small_levels(holes):
    """A factor level of threshold or fewer patients (complete cases or all) is masked in both
    columns, as in the hazard-ratio table; the text is withheld if a count in it is small."""
    from footdrop_outcomes.release import ReleasePolicy
    from footdrop_outcomes.report import counts
    from footdrop_outcomes.report.missing_section import imputation_comparison

    rec = analyse_recovery(holes, causes=CAUSES)
    f = rec.model_frame
    n_all = f["severity"].astype(str).value_counts()
    n_cc = f.dropna(subset=["age", "diabetes"])["severity"].astype(str).value_counts()
    # a threshold between the complete cases and all patients of the severe level
    thr = int(n_cc["severe"])
    assert thr < n_all["severe"] and n_cc["moderate"] > thr
    before = counts.get_policy()
    counts.set_policy(ReleasePolicy(thr))
    try:
        t = imputation_comparison(rec, m=2, seed=1).table.frame.set_index("Term")
    finally:
        counts.set_policy(before)
    severe = [i for i in t.index if "severe" in i.lower()]
    moderate = [i for i in t.index if "moderate" in i.lower()]
    assert severe and (t.loc[severe[0]].iloc[:3] == "-").all()
    assert moderate and (t.loc[moderate[0]].iloc[:3] != "-").all()


def test_imputation_comparison_follows_the_report_model_late_entry_and_level(holes):
    """alpha = 0.1 and late entry: the imputed column is the pooled Cox model with entry times and
    90% limits, as the report's own Cox model."""
    from footdrop_outcomes.imputation import fit_imputed, impute
    from footdrop_outcomes.report.analysis import term_label
    from footdrop_outcomes.report.missing_section import imputation_comparison
    from footdrop_outcomes.report.tables import fmt_ci

    rec = analyse_recovery(holes, causes=CAUSES, alpha=0.1, late_entry=True)
    ch = rec.choices
    assert ch["late_entry"] and ch["entry_col"] and ch["alpha"] == 0.1
    t = imputation_comparison(rec, m=3, seed=5).table.frame.set_index("Term")
    assert t.columns[1] == "Multiple imputation: HR (90% CI)"
    imp = impute(rec.model_frame, m=3, seed=5, columns=["diabetes"], iterations=10, outcome="right")
    ref = fit_imputed(imp, lambda d: fit_cox(d, ch["cox_formula"], cluster=rec.cox.info["cluster"], alpha=0.1,
                                             entry_col=ch["entry_col"]), alpha=0.1).summary.set_index("term")
    wrong = fit_imputed(imp, lambda d: fit_cox(d, ch["cox_formula"], cluster=rec.cox.info["cluster"], alpha=0.1),
                        alpha=0.1).summary.set_index("term")
    checked = 0
    for term in ref.index:
        cell = t.loc[term_label(term)].iloc[1]
        if cell != "-":
            assert cell == fmt_ci(*np.exp(ref.loc[term, ["estimate", "lower", "upper"]].to_numpy(dtype=float)))
            checked += 1
    assert checked >= 3
    # the check can tell: without entry times the same cells differ
    assert any(t.loc[term_label(x)].iloc[1] != fmt_ci(*np.exp(wrong.loc[x, ["estimate", "lower", "upper"]].to_numpy(dtype=float)))
               for x in wrong.index if t.loc[term_label(x)].iloc[1] != "-")


def test_imputation_comparison_when_it_cannot_run(holes, monkeypatch):
    from footdrop_outcomes import imputation
    from footdrop_outcomes.report.missing_section import imputation_comparison

    rec = analyse_recovery(holes, causes=CAUSES)
    monkeypatch.setattr(imputation, "impute", lambda *a, **k: (_ for _ in ()).throw(np.linalg.LinAlgError("singular")))
    out = imputation_comparison(rec, m=2, seed=1)
    assert out.table is None and "could not be run (LinAlgError)" in str(out.text)
    monkeypatch.undo()
    no_cox = dataclasses.replace(rec, results={**rec.results, "cox": None})
    out = imputation_comparison(no_cox, m=2, seed=1)
    assert out.table is None and "not fitted" in str(out.text)
