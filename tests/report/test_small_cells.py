"""Small-cell protection in the reports: no patient count from 1 to the threshold in any table."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest

from footdrop_outcomes.report import counts
from footdrop_outcomes.report.counts import count_percent, protect, show_count

pytestmark = pytest.mark.xdist_group("report-session")  # share the rendered reports with the tests that read them (pytest -n)

THRESHOLD = 10  # the report default (docs/privacy.md)
COUNT_PERCENT = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})*) \(\d+\.\d%\)")


class _Tables(HTMLParser):
    """Header texts and cell texts of every HTML table (one list of rows per table)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _count_cells(nb_path):
    """(table caption-free position, column header, cell text) of every cell that holds a patient count:
    columns headed 'Patients', 'Recoveries' or '... n (%)', and rows headed 'Patients' or '... n (%)'."""
    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html")
            if not html or "<table" not in html:
                continue
            parser = _Tables()
            parser.feed(html)
            for table in parser.tables:
                rows = [r for r in table if r]
                if not rows:
                    continue
                header = rows[0]
                for row in rows[1:]:
                    row_is_count = bool(row) and (row[0] == "Patients" or row[0].endswith("n (%)"))
                    for j, value in enumerate(row):
                        head = header[j] if j < len(header) else ""
                        col_is_count = head in ("Patients", "Recoveries") or head.endswith("n (%)")
                        if (row_is_count and j > 0) or (col_is_count and not (j == 0 and not row_is_count)):
                            out.append((head, row[0], value))
    return out


def _shown_count(text: str) -> int | None:
    """The count a cell shows, or None when it is hidden / not a count."""
    m = re.fullmatch(r"(\d{1,3}(?:,\d{3})*)(?: \(.*\))?", text)
    return int(m.group(1).replace(",", "")) if m else None


@pytest.mark.parametrize("name", ["outcome_report", "cohort_overview", "adherence_interventions"])
def test_no_small_count_in_any_table(rendered, name, pdf_text):
    res = rendered(name)
    text = pdf_text(res.pdf)
    assert res.parameters["small_cell_threshold"] == THRESHOLD
    # every "n (p%)" in the PDF text has n = 0 or n > threshold
    shown = [int(m.group(1).replace(",", "")) for m in COUNT_PERCENT.finditer(text)]
    assert shown, "no n (%) cells found"
    assert [n for n in shown if 1 <= n <= THRESHOLD] == []
    # every count cell of every table (from the executed notebook) is hidden, 0 or above the threshold, and is in the PDF
    cells = _count_cells(res.notebook)
    assert len(cells) > 20
    small = [c for c in cells if (n := _shown_count(c[2])) is not None and 1 <= n <= THRESHOLD]
    assert small == []
    hidden = [c for c in cells if c[2].startswith(f"≤{THRESHOLD}") or c[2] == counts.HIDDEN]
    assert hidden, "the 500-patient cohort has small cells: suppression must have been exercised"
    assert f"≤{THRESHOLD}" in text
    for head, row, value in cells:
        assert value in text, (head, row, value)


def test_at_risk_numbers_under_curves_are_protected(rendered):
    """The at-risk rows under the recovery curves come from privacy.at_risk_labels: multiples of 5 or '≤10'."""
    res = rendered("outcome_report")
    nb = nbformat.read(res.notebook, as_version=4)
    svgs = [o["data"]["image/svg+xml"] for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    risk = [s for s in svgs if "number at risk" in s]
    assert len(risk) >= 3  # by cause, by severity, discontinuation
    for svg in risk:
        texts = re.findall(r"font-size: ([\d.]+)px[^>]*>\s*([^<]*?)\s*</text>", svg)
        size = next(fs for fs, t in texts if t.startswith("number at risk"))  # the at-risk table's font
        labels = [t for fs, t in texts if fs == size and re.fullmatch(r"≤?\d+", t)]
        numbers = [int(t) for t in labels if t.isdigit()]
        assert numbers and all(n == 0 or (n > THRESHOLD and n % 5 == 0) for n in numbers), numbers[:20]
        assert set(labels) - {str(n) for n in numbers} <= {f"≤{THRESHOLD}"}


def test_counts_module_uses_the_privacy_rules():
    counts.set_threshold(10)
    assert show_count(0) == "0" and show_count(10) == "≤10" and show_count(11) == "11" and show_count(1234) == "1,234"
    assert count_percent(7, 100) == "≤10" and count_percent(50, 100) == "50 (50.0%)"
    assert count_percent(12, 15, total_hidden=True) == "12"  # percentage of a hidden total would reveal it
    # complementary suppression: a lone small cell in a row would follow from the totals
    t = pd.DataFrame({"yes": [3, 40, 50], "no": [50, 60, 70]}, index=["a", "b", "c"])
    p = protect(t)
    assert p.text("a", "yes") == "≤10"
    assert sum(p.hidden(r, "yes") for r in ("b", "c")) >= 1 and sum(p.hidden("a", c) for c in ("no",)) == 1
    try:
        counts.set_threshold(5)
        assert show_count(7) == "7" and show_count(5) == "≤5"
    finally:
        counts.set_threshold(10)
    with pytest.raises(ValueError):
        counts.set_threshold(0)


def test_cells_hidden_by_the_protection_stay_hidden_in_table_one():
    """Every cell the protection step hides (primary or complementary) shows as a marker, never as
    'n (%)': checked against suppress_counts run here on each cause x category breakdown."""
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.release import suppress_counts
    from footdrop_outcomes.report.analysis import CAUSE_SHORT
    from footdrop_outcomes.report.tables import table_one

    counts.set_threshold(10)
    checked = complementary = 0
    for seed in (2, 5):
        cohort = simulate_cohort(300, seed, progress=False)
        p = cohort.patients.assign(cause=lambda d: d["cause"].astype(str))
        t1 = table_one(cohort).frame
        names = {c: CAUSE_SHORT[c] for c in p["cause"].unique()}
        blocks = {"Female, n (%)": (p["sex"].astype(str), "female"), "Diabetes, n (%)": (p["diabetes"].astype(bool).astype(str), "True"),
                  "Died, n (%)": (p["followup_end"].astype(str), "death"), "Dropped out, n (%)": (p["followup_end"].astype(str), "dropout"),
                  "Severity severe, n (%)": (p["severity"].astype(str), "severe"), "FES, n (%)": (p["fes"].astype(bool).astype(str), "True")}
        for row, (values, level) in blocks.items():
            tab = pd.crosstab(p["cause"], values)
            tab = tab.sort_index(axis=0).sort_index(axis=1)
            res = suppress_counts(tab, threshold=10)
            for cause in tab.index:
                shown = t1.loc[row, names[cause]]
                if level in tab.columns and res.hidden.loc[cause, level]:
                    checked += 1
                    complementary += not res.primary.loc[cause, level]
                    assert shown in ("≤10", counts.HIDDEN, "-"), (seed, row, cause, shown)  # "-": the whole column is masked
    assert checked >= 10 and complementary >= 1  # both kinds of hidden cells were exercised
