"""Performance measures against hand computation (Morris, White & Crowther 2019, Table 6)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.studies import measures, performance

EST = [0.9, 1.3, 1.1, 0.6, 1.4]
SE = [0.3, 0.2, 0.25, 0.35, 0.3]
TRUTH = 1.0


def test_measures_by_hand():
    m = measures(EST, SE, TRUTH, lower=[e - 1.96 * s for e, s in zip(EST, SE)], upper=[e + 1.96 * s for e, s in zip(EST, SE)],
                 p=[0.01, 0.0001, 0.00001, 0.09, 0.00001], alpha=0.05)
    n = 5
    mean = sum(EST) / n  # 1.06
    ss = sum((e - mean) ** 2 for e in EST)  # 0.0256 + 0.0576 + 0.0016 + 0.2116 + 0.1156 = 0.412
    assert m["bias"] == pytest.approx(0.06)
    assert m["bias_mcse"] == pytest.approx(math.sqrt(ss / (n * (n - 1))))
    emp = math.sqrt(ss / (n - 1))
    assert m["empse"] == pytest.approx(emp) and m["empse"] == pytest.approx(math.sqrt(0.412 / 4))
    assert m["empse_mcse"] == pytest.approx(emp / math.sqrt(2 * (n - 1)))
    mse = sum((e - TRUTH) ** 2 for e in EST) / n  # (0.01 + 0.09 + 0.01 + 0.16 + 0.16) / 5 = 0.086
    assert m["mse"] == pytest.approx(0.086)
    assert m["mse_mcse"] == pytest.approx(math.sqrt(sum(((e - TRUTH) ** 2 - mse) ** 2 for e in EST) / (n * (n - 1))))
    s2 = [s**2 for s in SE]
    mod = math.sqrt(sum(s2) / n)
    assert m["modse"] == pytest.approx(mod) and m["modse"] == pytest.approx(math.sqrt((0.09 + 0.04 + 0.0625 + 0.1225 + 0.09) / 5))
    var_s2 = sum((v - sum(s2) / n) ** 2 for v in s2) / (n - 1)
    assert m["modse_mcse"] == pytest.approx(math.sqrt(var_s2 / (4 * n * mod**2)))
    assert m["relerr_modse"] == pytest.approx(100 * (mod / emp - 1))
    assert m["relerr_modse_mcse"] == pytest.approx(100 * mod / emp * math.sqrt(var_s2 / (4 * n * mod**4) + 1 / (2 * (n - 1))))
    # CIs: 0.9±0.588 yes, 1.3±0.392 yes, 1.1±0.49 yes, 0.6±0.686 yes, 1.4±0.588 yes -> 5/5
    assert m["coverage"] == 1.0 and m["coverage_mcse"] == 0.0
    assert m["power"] == pytest.approx(0.8) and m["power_mcse"] == pytest.approx(math.sqrt(0.8 * 0.2 / 5))


def test_performance_counts_failures_and_skips_them():
    rows = []
    for r, (e, s) in enumerate(zip(EST, SE)):
        rows.append({"point": 0, "replicate": r, "analysis": "a", "method": "cox", "truth": TRUTH, "estimate": e, "se": s,
                     "lower": e - 1.96 * s, "upper": e + 1.96 * s, "p": 0.01, "status": "ok"})
    rows.append({"point": 0, "replicate": 5, "analysis": "a", "method": "cox", "truth": TRUTH, "estimate": np.nan, "se": np.nan,
                 "lower": np.nan, "upper": np.nan, "p": np.nan, "status": "failed"})
    perf = performance(pd.DataFrame(rows))
    row = perf.iloc[0]
    assert (row["n_rep"], row["n_ok"], row["n_failed"]) == (6, 5, 1)
    assert row["bias"] == pytest.approx(0.06) and row["power"] == 1.0


def test_type_one_error_of_a_null_study_is_near_alpha():
    rng = np.random.default_rng(1)
    z = rng.normal(size=4000)
    from scipy import stats

    m = measures(z, np.ones_like(z), 0.0, lower=z - 1.96, upper=z + 1.96, p=2 * stats.norm.sf(np.abs(z)))
    assert abs(m["power"] - 0.05) < 3 * m["power_mcse"]
    assert abs(m["coverage"] - 0.95) < 3 * m["coverage_mcse"]
    assert abs(m["relerr_modse"]) < 3 * m["relerr_modse_mcse"]


def test_no_estimate_gives_nan_measures_but_power():
    m = measures([], None, math.nan, p=[0.01, 0.2], alpha=0.05)
    assert math.isnan(m["bias"]) and math.isnan(m["coverage"]) and m["power"] == 0.5
