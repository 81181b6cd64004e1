"""Table 1 by group with standardised mean differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.adherence import table_one
from footdrop_outcomes.adherence.table1 import Table1InputError
from footdrop_outcomes.errors import ConfigError


def test_hand_made_table():
    d = pd.DataFrame({"arm": ["a", "a", "b", "b"], "age": [60.0, 70.0, 50.0, np.nan], "female": [True, False, True, True],
                      "cause": pd.Categorical(["x", "y", "x", "x"])})
    t = table_one(d, by="arm", covariates=["age", "female", "cause"], statistic="mean")
    tab = t.table.set_index("Characteristic")
    assert tab.loc["Age, years, mean (SD)", "a (N = 2)"] == "65.0 (7.1)"
    assert tab.loc["\u2003Not recorded", "b (N = 2)"] == "1"
    assert tab.loc["female, n (%)", "b (N = 2)"] == "2 (100.0%)"
    assert tab.loc["\u2003y", "a (N = 2)"] == "1 (50.0%)"
    assert tab.loc["Cause of foot drop, n (%)", "Overall (N = 4)"] == ""
    smd = t.smd.set_index(["variable", "level"])["smd"]
    assert smd[("female", "")] == pytest.approx((1 - 0.5) / np.sqrt((0.5 + 0) / 2))  # b minus a
    assert np.isnan(smd[("age", "")])  # one non-missing age in b: SD undefined
    assert "SMD" in t.table.columns
    # the tidy summary keeps its columns and one row per group (pooled_table_one reads it)
    s = t.summary.set_index(["variable", "level", "group"])
    assert s.loc[("age", "", "a"), "mean"] == 65.0 and s.loc[("age", "missing", "b"), "missing"] == 1


def test_simulated_cohort_shows_confounding(cohort_small):
    t = table_one(cohort_small, by="supervised_physio")
    smd = t.smd.set_index(["variable", "level"])["smd"]
    assert smd[("severity", "severe")] > 0.1 and smd[("severity", "mild")] < -0.1  # severe patients get more physio
    assert t.info["groups"] == 2
    many = table_one(cohort_small, by="afo")
    assert "SMD" in many.table.columns and many.info["groups"] == 4 and "largest absolute" in many.footnotes[1]
    assert (many.smd["smd"].dropna() >= 0).all()


def test_errors(cohort_small):
    with pytest.raises(ConfigError, match="not a column"):
        table_one(cohort_small, by="nope")
    with pytest.raises(Table1InputError, match="only one group"):
        table_one(pd.DataFrame({"g": [1, 1], "x": [1.0, 2.0]}), by="g", covariates=["x"])
    with pytest.raises(ConfigError, match="are not columns"):
        table_one(pd.DataFrame({"g": [1, 2], "x": [1.0, 2.0]}), by="g", covariates=["y"])


def test_plot(cohort_small):
    import matplotlib

    matplotlib.use("Agg")
    assert table_one(cohort_small).plot().get_xlabel().startswith("absolute")
