"""The calibration report PDF: pages, pass/fail and counts checked against the check table."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pypdf import PdfReader

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.calibration import calibration_check, calibration_report
from footdrop_outcomes.errors import ConfigError

_SOURCES = ("P6", "HUTIN")  # P6: a calibration and a validation target; HUTIN: on-off from the tables


@pytest.fixture(scope="module")
def check():
    cohorts = [simulate_cohort(1_500, seed=s, version=2) for s in (1, 2)]
    full = calibration_check(cohorts=cohorts)
    return full[full["source"].isin(_SOURCES)].reset_index(drop=True)


@pytest.fixture(scope="module")
def written(check, tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "calibration.pdf"
    rep = calibration_report(out, n_patients=1_500, replicates=2, seed=1, check=check)
    pages = [p.extract_text() for p in PdfReader(out).pages]
    return rep, pages


def test_one_page_per_source_after_the_title_and_two_set_tables(check, written):
    rep, pages = written
    assert len(pages) == 3 + len(_SOURCES) == rep.info["pages"]
    for src in _SOURCES:
        assert sum(f"Source {src}" in p for p in pages[3:]) == 1


def test_pass_and_fail_follow_the_rule_recomputed_here(check, written):
    _, pages = written
    inside = (check["latent"] >= check["low"]) & (check["latent"] <= check["high"])  # the rule, independently
    for (_, r), ok in zip(check.iterrows(), inside):
        page = next(p for p in pages[3:] if f"Source {r['source']}" in p)
        assert re.search(rf"{r['id']}\s*{str(r['set']).upper()} target\s+\|\s+{'PASS' if ok else 'FAIL'}", page), r["id"]
        note = "reported and not tuned" in page
        if str(r["set"]) == "validation" and not ok:
            assert note
    for which in ("calibration", "validation"):
        sub = inside[(check["set"].astype(str) == which).to_numpy()]
        assert f"{which.capitalize()} set: {int(sub.sum())} of {sub.size} targets pass" in "".join(pages[1:3])
        assert f"{int(sub.sum())} / {sub.size}" in pages[0]


def test_simulated_values_printed_match_the_replicates(check, written):
    _, pages = written
    r = check[check["id"] == "peroneal_dec_mrc5_final"].iloc[0]
    page = next(p for p in pages[3:] if "Source P6" in p)
    assert f"simulated latent {r['latent']:.3f}" in page
    assert np.isfinite(r["latent_se"]) and f"MC SE {r['latent_se']:.4f}" in page


def test_report_refuses_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="replicates"):
        calibration_report(tmp_path / "a.pdf", n_patients=100, replicates=1)
    with pytest.raises(ConfigError, match="pdf"):
        calibration_report(tmp_path / "a.txt", n_patients=100, replicates=2)
