"""Power curves and sample size; simulated log-rank power against Schoenfeld's formula."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.studies import (StudySpec, power_curve, run_study, sample_size, schoenfeld_events, schoenfeld_power,
                                       trial_expected_events)


def test_schoenfeld_closed_forms():
    d = schoenfeld_events(math.log(0.7), 0.8)
    assert d == pytest.approx((1.959964 + 0.841621) ** 2 / (0.25 * math.log(0.7) ** 2), rel=1e-5)
    assert schoenfeld_power(math.log(0.7), d) == pytest.approx(0.8)
    assert schoenfeld_power(0.0, 100) == pytest.approx(0.025)  # one tail of a two-sided test
    # exponential, no dropout: P(event) = 1 - exp(-lambda tau) per arm
    lam = math.log(2) / 20
    exp = 100 * (1 - math.exp(-lam * 26)) + 100 * (1 - math.exp(-lam * 0.5 * 26))
    assert trial_expected_events({"kind": "trial", "n_per_arm": 100, "visit_weeks": [], "followup_weeks": 26,
                                  "log_hr": math.log(0.5)}) == pytest.approx(exp)
    with pytest.raises(ConfigError, match="weibull_shape = 1"):
        trial_expected_events({"kind": "trial"})


def test_logrank_power_agrees_with_schoenfeld(tmp_path):
    """Exponential times, 1:1, exact follow-up to 26 weeks: simulated vs closed-form power."""
    design = {"kind": "trial", "visit_weeks": [], "followup_weeks": 26, "control_median_weeks": 20}
    spec = StudySpec.from_dict({"name": "schoenfeld", "replicates": 500, "seed": 8, "design": design,
                                "grid": {"n_per_arm": [80, 160], "log_hr": [-0.5]},
                                "analyses": [{"label": "logrank", "method": "logrank"}]})
    run = run_study(spec, tmp_path / "s", workers=1, processes=False, chunk_size=250, progress=False)
    curve = power_curve(run, analysis="logrank", size="n_per_arm", effect="log_hr")
    z = []
    for row in curve.itertuples():
        events = trial_expected_events({**design, "n_per_arm": int(row.n_per_arm), "log_hr": row.log_hr})
        expected = schoenfeld_power(row.log_hr, events)
        mcse = math.sqrt(expected * (1 - expected) / row.n_rep)  # MC error under the formula's power
        assert abs(row.power - expected) < 3 * mcse, (row, expected)
        z.append((row.power - expected) / mcse)
    assert abs(sum(z) / math.sqrt(len(z))) < 3  # jointly


def test_power_curve_and_sample_size_from_results():
    rng = np.random.default_rng(3)
    rows = []
    for n in (20, 40, 80, 160):
        true_power = stats.norm.cdf(0.2 * math.sqrt(n) - 1.96)
        for r in range(300):
            rows.append({"point": n, "replicate": r, "n_per_arm": n, "analysis": "t", "status": "ok",
                         "p": 0.01 if rng.random() < true_power else 0.5})
    res = pd.DataFrame(rows)
    curve = power_curve(res, analysis="t", size="n_per_arm")
    assert curve["n_rep"].tolist() == [300] * 4
    assert (curve["power_lower"] < curve["power"]).all() and (curve["power"] < curve["power_upper"]).all()
    ss = sample_size(curve, size="n_per_arm", target=0.8).iloc[0]
    truth = ((stats.norm.ppf(0.8) + 1.96) / 0.2) ** 2  # 196.2: beyond the grid
    assert math.isnan(ss["n_grid"]) and math.isnan(ss["n_interp"])
    ss = sample_size(curve, size="n_per_arm", target=0.5).iloc[0]
    truth = (1.96 / 0.2) ** 2  # 96.04
    assert ss["n_grid"] == 160 and ss["n_interp_lower"] < truth < ss["n_interp_upper"]
    assert ss["n_grid_sure"] >= ss["n_grid"] >= ss["n_grid_possible"]
    with pytest.raises(ConfigError, match="no results for analysis"):
        power_curve(res, analysis="nope", size="n_per_arm")
    with pytest.raises(ConfigError, match="target power"):
        sample_size(curve, size="n_per_arm", target=1.2)
