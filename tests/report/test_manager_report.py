"""The outcome report for a clinical manager (issue 13, item 5; one median per group, item 3).

Executive summary written from the analysis and released; report date, data cut-off and author
with their own privacy rules (exempt from the name and date rules, nothing else); references and
glossary; figures with plain labels, readable week ticks, legends clear of the axes and one
direction for every recovery curve; one median per group with its population stated.
"""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.guard import PrivacyError
from footdrop_outcomes.release import ReleasePolicy, release_cohort
from footdrop_outcomes.report import ReportParameterError, validate_parameters
from footdrop_outcomes.report import counts, figures, narrative, tables
from footdrop_outcomes.report.analysis import CAUSE_SHORT, analyse_recovery, restrict_causes
from footdrop_outcomes.report.parameters import check_report_fields, resolve_data_cutoff, resolve_report_date
from footdrop_outcomes.report.render import _guard_parameters

matplotlib.use("Agg")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _policy():
    counts.set_threshold(10)
    yield
    counts.set_threshold(10)


@pytest.fixture(scope="module")
def cohort():
    return release_cohort(simulate_cohort(300, 11, progress=False), ReleasePolicy(10)).cohort


@pytest.fixture(scope="module")
def rec(cohort):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyse_recovery(cohort)


# ------------------------------------------------------------------------------------------------
# report date, data cut-off, author: the guard's exemption, both ways


@pytest.mark.parametrize("author", ["Dr Anna Müller", "Anna Müller, outcomes team", "Jean-Luc Picard (physiotherapy audit)",
                                    "O'Neill, Siobhán", "Outcomes and audit team"])
def test_author_may_be_a_persons_name(author):
    params = validate_parameters("outcome_report", {"author": author})
    _guard_parameters(params)  # passes


def test_a_name_is_refused_anywhere_but_the_author():
    _guard_parameters(validate_parameters("outcome_report", {"author": "Dr Anna Müller"}))
    for name in ("title", "cluster"):
        with pytest.raises(PrivacyError):  # the exemption is for the author only
            _guard_parameters(validate_parameters("outcome_report", {name: "Dr Anna Müller"}))


@pytest.mark.parametrize("author", ["anna.mueller@hospital.example", "Anna Müller <anna@example.org>", "Anna Müller +44 20 7946 0958",
                                    "Anna Müller 0161 496 0000", "Anna Müller, MRN 12345678", "NHS 485 777 3456",
                                    "Anna Müller 2026-12-02", "Anna Müller, 10 Downing Street", "A" * 121])
def test_author_with_contact_details_or_numbers_is_refused(author):
    params = validate_parameters("outcome_report", {"author": author})
    with pytest.raises(ReportParameterError, match=r"parameter 'author'") as e:
        _guard_parameters(params)
    assert author not in str(e.value) and "Müller" not in str(e.value)  # the message never quotes the value


@pytest.mark.parametrize("name", ["report_date", "data_cutoff"])
@pytest.mark.parametrize("value", ["2026-12-02", "2024-02-29", ""])
def test_dates_that_parse_are_accepted(name, value):
    _guard_parameters(validate_parameters("time_to_recovery", {name: value}))


@pytest.mark.parametrize("name", ["report_date", "data_cutoff"])
@pytest.mark.parametrize("value", ["02/12/2026", "2026-13-01", "2023-02-29", "2 December 2026", "2026-12-02 by Anna Müller",
                                   "2026-12-2", "today"])
def test_dates_that_do_not_parse_are_refused(name, value):
    with pytest.raises(ReportParameterError, match=rf"parameter {name!r} must be an ISO date") as e:
        _guard_parameters(validate_parameters("time_to_recovery", {name: value}))
    assert value not in str(e.value)


def test_cutoff_after_report_date_is_refused():
    check_report_fields({"report_date": "2026-12-02", "data_cutoff": "2026-12-01"})
    with pytest.raises(ReportParameterError, match="after 'report_date'"):
        check_report_fields({"report_date": "2026-12-02", "data_cutoff": "2026-12-03"})


def test_other_parameters_keep_the_whole_guard():
    """Only the three title-page fields are exempt: a date in the title is still refused."""
    with pytest.raises(PrivacyError):
        _guard_parameters(validate_parameters("outcome_report", {"title": "Outcome report 2026-12-02"}))


def test_report_date_and_cutoff_defaults(monkeypatch):
    import datetime as dt

    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(86400 * 365))  # 1971-01-01
    assert resolve_report_date("") == "1971-01-01"
    assert resolve_report_date("2025-06-30") == "2025-06-30"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    today = dt.datetime.now(dt.timezone.utc).date()
    assert abs((dt.date.fromisoformat(resolve_report_date("")) - today).days) <= 1
    assert resolve_data_cutoff("", {"imported_on": "2026-11-30", "generator": {"name": "x.import_cohort"}}) == "2026-11-30"
    assert resolve_data_cutoff("", simulate_cohort(20, 1, progress=False).metadata) == "simulated"
    assert resolve_data_cutoff("2026-10-01", {"imported_on": "2026-11-30"}) == "2026-10-01"
    assert resolve_data_cutoff("", {}) == "not recorded"


def test_title_page_shows_the_fields_once(cohort, monkeypatch, tmp_path):
    from footdrop_outcomes.report import notebook as nbh

    shown = []
    monkeypatch.setattr(nbh, "_display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
    params = {"cohort_path": str(tmp_path), "title": "T", "threshold": 4, "report_date": "2026-12-02", "data_cutoff": "",
              "author": "Dr Anna Müller"}
    nbh.title_page("T", cohort, cohort_path=str(tmp_path), parameters=params)
    page = "".join(shown)
    assert "<th>Report date</th><td>2026-12-02</td>" in page
    assert "<th>Data cut-off</th><td>simulated</td>" in page
    assert "<th>Author</th><td>Dr Anna Müller</td>" in page
    assert "<th>report_date</th>" not in page and "<th>author</th>" not in page  # not repeated in the parameters table
    with pytest.raises(ReportParameterError):  # the notebook checks them too (run in JupyterLab, not through render_report)
        nbh.title_page("T", cohort, cohort_path=str(tmp_path), parameters={**params, "author": "anna@example.org"})


# ------------------------------------------------------------------------------------------------
# executive summary


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def test_executive_summary_states_the_analysed_numbers(rec, cohort):
    summary = narrative.executive_summary(rec, cohort)
    assert 4 <= len(summary) <= 8
    text = " ".join(summary)
    assert all(not s.withheld for s in summary)
    # who: the number of patients analysed, counted independently
    assert f"analyses {len(cohort.patients)} patients" in text
    # shares by week 12 and by the last landmark: the Turnbull point estimates, recomputed from the curves
    tb = rec.results["turnbull_cause"]
    for c in tb.summary["group"].astype(str).unique():
        at = tb.survival_at([12.0, 78.0], c)
        for week, s in zip((12, 78), at["survival"]):
            sentence = next(x for x in summary if x.startswith(f"By week {week}"))
            assert _pct(1 - s) in sentence, (c, week, sentence)
    # faster / slower: the side of 1 of each Cox CI, checked independently of the wording
    cox = rec.cox.summary.set_index("term")
    comp = next(x for x in summary if x.startswith("Compared with"))
    ref = [c for c in rec.model_frame["cause"].astype(str).unique() if f"cause[{c}]" not in cox.index]
    assert comp.startswith(f"Compared with {narrative._bare(ref[0])},")
    slower = comp.split("recovery was slower", 1)[1].split(";")[0] if "recovery was slower" in comp else ""
    for term, r in cox.iterrows():
        if not term.startswith("cause["):
            continue
        name = narrative._with(term[6:-1])
        if r["hr_upper"] < 1:
            assert name in slower, term
        elif r["hr_lower"] <= 1:
            assert name not in slower, term
    # no cause that is not in the data is named
    for c in set(CAUSE_SHORT) - set(cohort.patients["cause"].astype(str)):
        assert narrative._bare(c) not in text


def test_executive_summary_withholds_small_groups(rec, cohort):
    """Under a threshold above every cause's size, no sentence about a cause survives release."""
    biggest = int(rec.frame["cause"].astype(str).value_counts().max())
    counts.set_threshold(min(100, biggest + 1))
    summary = narrative.executive_summary(rec, cohort)
    released = [s for s in summary if s and not s.withheld]
    for s in released:
        for c in CAUSE_SHORT:
            assert narrative._with(c) not in s, s


def test_executive_summary_on_one_cause_names_no_other(cohort):
    import warnings

    sub = restrict_causes(cohort, ["stroke"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = analyse_recovery(sub)
    text = " ".join(narrative.executive_summary(r, sub))
    assert "after stroke" in text
    for c in set(CAUSE_SHORT) - {"stroke"}:
        assert narrative._bare(c) not in text and CAUSE_SHORT[c] not in text
    sev = r.model_frame["severity"].astype(str).value_counts()
    terms = set(r.cox.summary["term"]) if r.cox is not None else set()
    ref = [lv for lv in sev.index if f"severity[{lv}]" not in terms]
    expected = len(ref) == 1 and sev[ref[0]] > 10 and any(n > 10 for lv, n in sev.items() if lv != ref[0])
    assert ("Compared with " + narrative._bare(ref[0], "severity") in text) == expected if ref else "Compared with" not in text
    intro = narrative.models_intro(r)
    assert "Cause is not in the models" in intro and "peroneal" not in intro


def test_executive_summary_says_what_could_not_be_estimated(rec, cohort):
    from dataclasses import replace

    from footdrop_outcomes.report.degrade import ModelAttempt

    failed = ModelAttempt("Mixture cure model", "cause + severity", None, None, "the fit did not converge")
    broken = replace(rec, results={**rec.results, "cure": None}, attempts={**rec.attempts, "cure": failed})
    text = " ".join(narrative.executive_summary(broken, cohort))
    assert "the mixture cure model could not be fitted because the fit did not converge" in text


# ------------------------------------------------------------------------------------------------
# one median per group, population stated


def test_one_median_per_group(rec):
    t2 = tables.recovery_table(rec).frame
    assert not [c for c in t2.columns if "edian" in c]
    turnbull = tables.curve_table(rec.results["turnbull_cause"]).frame
    assert [c for c in turnbull.columns if "edian" in c] == ["Median weeks, all patients (95% CI)"]
    km = tables.curve_table(rec.results["km_cause"], median=False).frame
    assert not [c for c in km.columns if "edian" in c]
    assert [c for c in km.columns if c.startswith("% by")] == [c for c in turnbull.columns if c.startswith("% by")]
    # the expected-window sentences quote the same (Turnbull, all patients) median as the table
    med = turnbull.set_index("Group")["Median weeks, all patients (95% CI)"]
    for s in narrative.expected_window_text(rec):
        assert "among those who recover" not in s
        cause = s.split(":")[0]
        m = med[cause]
        if m[0].isdigit():  # a median (or range) in weeks: its first number appears in the sentence
            assert m.split()[0] in s
    methods = narrative.methods_text(rec)
    assert "One median per group" in methods and "all patients" in methods


# ------------------------------------------------------------------------------------------------
# references and glossary


def test_every_citation_is_in_the_list(rec):
    cited = " ".join([narrative.methods_text(rec), narrative.models_intro(rec), narrative.section_references("trajectories"),
                      narrative.section_references("adherence")])
    numbers = {int(n) for group in re.findall(r"\[([\d, ]+)\]", cited) for n in group.split(",")}
    full = narrative.references_text()
    listed = [int(n) for n in re.findall(r"^(\d+)\. ", full, flags=re.M)]
    assert listed == list(range(1, len(narrative.REFERENCES) + 1))
    assert numbers and numbers <= set(listed)
    # the time-to-recovery report's shorter list holds every recovery method it cites
    short = [int(n) for n in re.findall(r"^(\d+)\. ", narrative.references_text(recovery_only=True), flags=re.M)]
    recovery_cited = {int(n) for group in re.findall(r"\[([\d, ]+)\]", narrative.methods_text(rec) + narrative.models_intro(rec))
                      for n in group.split(",")}
    assert recovery_cited <= set(short) and short == list(range(1, len(short) + 1))
    assert "Kaplan EL, Meier P" in full and "Turnbull BW" in full and "Farewell VT" in full and "Efron B" in full


def test_glossary_has_the_terms_a_manager_meets():
    g = narrative.glossary_text().lower()
    for term in ("hazard ratio", "censoring", "confidence interval", "median time to recovery", "cure fraction", "mrc grade",
                 "afo", "fes", "turnbull", "icc", "mcid"):
        assert f"**{term}" in g, term


# ------------------------------------------------------------------------------------------------
# figures


def test_week_ticks_are_the_smallest_readable_step():
    for t_max in [3, 7.5, 16, 20, 33, 52, 81, 104, 130, 260, 900]:
        ticks = figures.week_ticks(t_max)
        steps = np.diff(ticks)
        assert ticks[0] == 0 and len(ticks) <= 9 and np.allclose(steps, steps[0])
        assert ticks[-1] <= t_max + 1e-9 < ticks[-1] + steps[0]
        smaller = [s for s in (1, 2, 4, 13, 26, 52) if s < steps[0]]
        assert all(t_max / s > 8 for s in smaller)  # a finer step would give too many ticks


def _extents(fig, artists):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [a.get_window_extent(r) for a in artists]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


@pytest.mark.parametrize("by", ["cause", "severity"])
def test_recovery_curves_rise_with_plain_axes_and_a_clear_legend(rec, by):
    import matplotlib.pyplot as plt

    fig = figures.curve_plot(rec.results[f"turnbull_{by}"], title="t").figure
    ax = fig.axes[0]
    assert ax.get_ylabel() == figures.RECOVERED_LABEL
    assert ax.get_xlabel().startswith("weeks since onset")
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        y = y[np.isfinite(y)]
        if len(y) > 2:
            assert np.all(np.diff(y) >= -1e-9), "a recovery curve falls"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert all(re.fullmatch(r"\d+", x) for x in labels if x), labels
    ylab = [t.get_text() for t in ax.get_yticklabels()]
    assert "100" in ylab and not any("." in x for x in ylab)
    legend = ax.get_legend()
    names = {t.get_text() for t in legend.get_texts()}
    assert not names & {"peroneal_compression", "post_surgical_spine", "mild"}  # readers' names, not codes
    leg, axes = _extents(fig, [legend, ax])
    assert not _overlap(leg, axes)
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    boxes = _extents(fig, ticks)
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)


def test_cumulative_incidence_rises_the_same_way(rec):
    import matplotlib.pyplot as plt

    fig = figures.cumulative_incidence_plot(rec).figure
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith(figures.RECOVERED_LABEL)
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        if len(y) > 2 and line.get_label() in CAUSE_SHORT.values():
            assert np.all(np.diff(y[np.isfinite(y)]) >= -1e-9)
    plt.close(fig)


def test_forest_ticks_are_plain_numbers(rec):
    import matplotlib.pyplot as plt

    fig = figures.model_forest(rec).figure
    for ax in fig.axes:
        if not ax.axison:
            continue
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels and all(re.fullmatch(r"\d+(\.\d+)?", x) for x in labels), labels
        assert "1" in labels
        values = [float(x) for x in labels]
        lo, hi = ax.get_xlim()
        assert all(lo <= v <= hi for v in values)
    plt.close(fig)


def test_an_imported_cohort_is_never_called_simulated(rec, cohort):
    from types import SimpleNamespace

    imported = SimpleNamespace(patients=cohort.patients, truth=None, source="import",
                               metadata={"generator": {"name": "footdrop_outcomes.privacy.import_cohort"}, "source_sha256": {"p": "0" * 64},
                                         "imported_on": "2026-11-30"})
    assert "simulated" not in narrative.limitations_text(rec, imported)
    assert "The data are simulated" in narrative.limitations_text(rec, cohort)


def test_reference_level_is_read_from_main_effects_only():
    frame = pd.DataFrame({"severity": ["mild", "moderate", "severe", "mild"]})
    summary = pd.DataFrame({"term": ["severity[moderate]", "severity[severe]", "severity[mild]:age", "severity[moderate]:age"]})
    ref, rows = narrative._reference_and_terms(summary, frame, "severity")
    assert ref == "mild" and list(rows["term"]) == ["severity[moderate]", "severity[severe]"]
    ref, _ = narrative._reference_and_terms(summary.iloc[2:], frame, "severity")  # interactions only: no reference to name
    assert ref is None


def test_glossary_states_the_reports_threshold():
    counts.set_threshold(20)
    g = narrative.glossary_text()
    assert "from 1 to 20 (the threshold of the report) is shown as '≤20'" in g and "≤10" not in g
    assert not re.search(r"\b\d+ patients\b", g)  # no number a reader would take for a count of patients
