"""k-anonymity report and age top-coding."""

from __future__ import annotations

import pandas as pd
import pytest

from footdrop_outcomes import ConfigError
from footdrop_outcomes.privacy import age_band, kanonymity, top_code_ages


def test_report_counts_classes_and_patients():
    p = pd.DataFrame({"age": [20, 21, 22, 55, 95], "sex": ["female"] * 4 + ["male"], "site": ["S1"] * 5, "cause": ["stroke"] * 5})
    r = kanonymity(p, k=3)
    assert (r.n_classes, r.min_class_size, r.n_classes_at_risk, r.n_patients_at_risk) == (3, 1, 2, 2)
    assert r.n_ages_over_top_code == 1 and not r.is_k_anonymous
    assert r.size_distribution.set_index("class_size").loc["1", "classes"] == 2
    assert "2 of 5 patients" in r.summary()
    assert kanonymity(p, k=1).is_k_anonymous


def test_bands_and_top_coding():
    assert age_band(pd.Series([16, 29, 30, 90, 104])).tolist() == ["16-29", "16-29", "30-39", "90+", "90+"]
    coded, n = top_code_ages(pd.Series([89, 90, 91, 104]))
    assert coded.tolist() == [89, 90, 90, 90] and n == 2


def test_bad_options():
    p = pd.DataFrame({"age": [20], "sex": ["f"], "site": ["S"], "cause": ["c"]})
    with pytest.raises(ConfigError):
        kanonymity(p, k=0)
    with pytest.raises(ConfigError, match="postcode"):
        kanonymity(p, quasi_identifiers=("postcode",))
