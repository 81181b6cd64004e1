"""Counts in report sentences and table cells, checked against the threshold and against the
protection's own hidden cells (issue 21: a death count printed raw and hidden cells printed as
"n (%)" passed every report test).

The methods text is built from a small cohort in which exactly four patients who were never
seen recovered are recorded as having died (the truth, set here); every count of patients the
text states ("N patients", "N of M patients") must then be 0, above the threshold, or "≤10".
"""

from __future__ import annotations

import re
import warnings

import pandas as pd

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.report import counts
from footdrop_outcomes.report.analysis import analyse_recovery
from footdrop_outcomes.report.narrative import methods_text

THRESHOLD = 10
_COUNT = re.compile(r"(≤?[\d,]+) (?:of (?:the )?(?:≤?[\d,]+) )?patients")


def _shown_counts(text: str) -> list[str]:
    out = []
    for m in _COUNT.finditer(text):
        out += re.findall(r"≤?[\d,]+", m.group(0))
    return out


def test_every_patient_count_in_the_methods_text_respects_the_threshold():
    c = simulate_cohort(300, 3, progress=False)
    p, v = c.patients, c.visits
    best = v.groupby(v["patient_id"].astype(str), observed=True)["mrc"].max()
    pid = p["patient_id"].astype(str)
    never = (pid.map(best) < 4).to_numpy() & (p["followup_end"].astype(str) == "dropout").to_numpy()
    died = p.index[never][:4]
    assert len(died) == 4
    p.loc[died, "followup_end"] = "death"
    counts.set_threshold(THRESHOLD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # model warnings on a small cohort are not what this test is about
        text = str(methods_text(analyse_recovery(c, cox_formula="severity", cluster=None)))
    shown = _shown_counts(text)
    assert shown, "no patient count found: the pattern no longer matches the text"
    for s in shown:
        if s.startswith("≤"):
            assert s == f"≤{THRESHOLD}"
            continue
        n = int(s.replace(",", ""))
        assert n == 0 or n > THRESHOLD, f"a count from 1 to {THRESHOLD} is printed: {s!r}"
    assert re.search(rf"≤{THRESHOLD} patients died", text)


def test_hidden_cells_never_show_a_count_or_a_percentage():
    counts.set_threshold(THRESHOLD)
    # 3 is small; complementary suppression must hide a further cell in its row and column
    prot = counts.protect(pd.DataFrame({"yes": [3, 40, 25], "no": [50, 60, 30]}, index=["a", "b", "c"]))
    hidden = prot.result.hidden
    assert hidden.to_numpy().sum() >= 4  # a lone small cell is a bridge: at least a 2 x 2 cycle
    for row in hidden.index:
        for col in hidden.columns:
            shown = prot.percent(row, col)
            if hidden.loc[row, col]:
                n = prot.count(row, col)
                assert "%" not in shown and str(n) not in shown.replace(f"≤{THRESHOLD}", ""), (row, col, shown)
                assert shown in (f"≤{THRESHOLD}", counts.HIDDEN)
            elif not hidden.loc[row, "Total"]:
                n, tot = prot.count(row, col), prot.count(row, "Total")
                assert shown == f"{n} ({100 * n / tot:.1f}%)" or n == 0 or tot == 0
