"""impute(): chained equations on an analysis frame -- determinism, types, methods, errors, outcome summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.imputation import fit_imputed, impute, nelson_aalen_at
from footdrop_outcomes.survival import fit_cox, survival_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    f = survival_frame(simulate_cohort(400, seed=5))
    rng = np.random.default_rng(1)
    d = f.copy()
    d["age"] = d["age"].astype(float).mask(rng.random(len(d)) < 0.2)
    d["diabetes"] = d["diabetes"].astype(object).mask(rng.random(len(d)) < 0.15)
    d["smoking"] = d["smoking"].mask(rng.random(len(d)) < 0.25)
    return d


def test_completed_frames_keep_observed_values_and_types(frame):
    imp = impute(frame, m=3, seed=11, columns=["age", "diabetes", "smoking"], iterations=3)
    assert len(imp) == 3 and imp.info["m"] == 3
    assert imp.summary.set_index("variable")["method"].to_dict() == {"age": "pmm", "diabetes": "logistic", "smoking": "multinomial"}
    obs_age = frame["age"].notna()
    for d in imp:
        assert list(d.columns) == list(frame.columns) and d.index.equals(frame.index)
        assert d[["age", "diabetes", "smoking"]].notna().all().all()
        assert d.loc[obs_age, "age"].equals(frame.loc[obs_age, "age"])  # observed cells untouched
        assert set(d.loc[~obs_age, "age"]) <= set(frame.loc[obs_age, "age"])  # pmm: only values seen in the data
        assert isinstance(d["smoking"].dtype, pd.CategoricalDtype) and d["smoking"].dtype == frame["smoking"].dtype
        assert set(d["diabetes"].unique()) <= {True, False}
        assert d["diabetes"].dtype == bool
    # the imputations differ between frames (draws), and imputed categories vary
    assert not imp[0]["age"].equals(imp[1]["age"])
    assert imp[0].loc[frame["smoking"].isna(), "smoking"].nunique() > 1
    assert imp.info["n_incomplete_rows"] == int(frame[["age", "diabetes", "smoking"]].isna().any(axis=1).sum())


def test_deterministic_for_a_seed_and_independent_of_m(frame):
    a = impute(frame, m=2, seed=3, columns=["age", "smoking"], iterations=2)
    b = impute(frame, m=3, seed=3, columns=["age", "smoking"], iterations=2)
    c = impute(frame, m=2, seed=4, columns=["age", "smoking"], iterations=2)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0]["age"].equals(c[0]["age"])


def test_imputation_reproduces_a_strong_relation():
    """age depends on a complete covariate; pmm imputations keep the slope (not the attenuated 0 of mean filling)."""
    rng = np.random.default_rng(2)
    n = 2000
    z = rng.normal(size=n)
    x = 2.0 * z + rng.normal(size=n)
    miss = rng.random(n) < 0.4 * (z > 0) + 0.1  # MAR on z
    d = pd.DataFrame({"z": z, "x": np.where(miss, np.nan, x), "time": rng.exponential(size=n), "event": rng.random(n) < 0.7})
    imp = impute(d, m=5, seed=1, iterations=5)
    slopes = [np.polyfit(f["z"], f["x"], 1)[0] for f in imp]
    assert abs(np.mean(slopes) - 2.0) < 0.1
    # complete-case mean of x is biased (MAR on z); the imputed mean is not
    assert abs(d["x"].mean() - x.mean()) > 0.15
    assert abs(np.mean([f["x"].mean() for f in imp]) - x.mean()) < 0.08


def test_fit_imputed_pools_cox(frame):
    imp = impute(frame, m=3, seed=2, columns=["age", "diabetes"], iterations=3)
    res = fit_imputed(imp, lambda d: fit_cox(d, "severity + age + diabetes"), exponentiate=True)
    assert res.info["m"] == 3 and res.info["imputation"]["columns"] == ["age", "diabetes"]
    s = res.summary.set_index("term")
    assert s.loc["age", "b"] > 0 and s.loc["severity[severe]", "fmi"] < s.loc["age", "fmi"] + 0.5
    assert imp.fit(lambda d: fit_cox(d, "age")).summary.shape[0] == 1
    with pytest.raises(ConfigError, match="imputed"):
        fit_imputed([], lambda d: d)


def test_nelson_aalen_against_lifelines():
    from lifelines import NelsonAalenFitter

    rng = np.random.default_rng(4)
    t = np.round(rng.exponential(10, 300))
    e = rng.random(300) < 0.7
    naf = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(t, e)
    want = naf.cumulative_hazard_.iloc[:, 0].reindex(t).to_numpy()
    assert np.allclose(nelson_aalen_at(t, e), want, rtol=1e-12)


def test_outcome_kinds_and_errors(frame):
    imp = impute(frame, m=1, seed=1, columns=["age"], iterations=1, outcome="interval")
    assert "midpoint" in imp.info["outcome"]
    assert "White & Royston" in impute(frame, m=1, seed=1, columns=["age"], iterations=1).info["outcome"]
    assert impute(frame, m=1, seed=1, columns=["age"], iterations=1, outcome="none").info["outcome"].startswith("not in")
    bad = frame.copy()
    bad.loc[7, "time"] = np.nan
    with pytest.raises(FootdropError, match=r"rows \[7\]"):
        impute(bad, m=1, seed=1, columns=["age"])
    with pytest.raises(ConfigError, match="outcome must be one of"):
        impute(frame, m=1, seed=1, outcome="cure")
    with pytest.raises(ConfigError, match="m must be"):
        impute(frame, m=0, seed=1)
    with pytest.raises(ConfigError, match="seed must be"):
        impute(frame, m=1, seed=-1)
    with pytest.raises(ConfigError, match="does not fit"):
        impute(frame, m=1, seed=1, columns=["age"], methods={"age": "logistic"})
    with pytest.raises(FootdropError, match=r"predictor\(s\) \['bmi'\] have missing values"):
        impute(frame, m=1, seed=1, columns=["age"], predictors=["bmi", "severity"])
    with pytest.raises(FootdropError, match="no observed value"):
        impute(frame.assign(age=np.nan), m=1, seed=1, columns=["age"])
    with pytest.raises(FootdropError, match=r"no column\(s\) \['height'\]"):
        impute(frame, m=1, seed=1, columns=["height"])


def test_categorical_and_binary_imputation_recover_distributions():
    """Three-level and binary variables depending on z, MAR on z: imputed shares match the full data."""
    rng = np.random.default_rng(8)
    n = 3000
    z = rng.normal(size=n)
    eta = np.column_stack([np.zeros(n), 1.5 * z, -1.5 * z + 0.5])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    cat = np.array(["a", "b", "c"])[(p.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)]
    flag = rng.random(n) < 1 / (1 + np.exp(-2 * z))
    miss_c = rng.random(n) < np.where(z > 0, 0.5, 0.1)
    miss_f = rng.random(n) < np.where(z > 0, 0.1, 0.5)
    d = pd.DataFrame({"z": z, "cat": pd.Categorical(np.where(miss_c, None, cat), categories=["a", "b", "c"]),
                      "flag": pd.Series(flag, dtype=object).mask(miss_f), "time": rng.exponential(size=n),
                      "event": np.ones(n, dtype=bool)})
    imp = impute(d, m=5, seed=3, iterations=5, outcome="none")
    assert imp.summary.set_index("variable")["method"].to_dict() == {"cat": "multinomial", "flag": "logistic"}
    truth = pd.Series(cat).value_counts(normalize=True).sort_index()
    cc = d["cat"].value_counts(normalize=True).sort_index()
    shares = pd.concat([f["cat"].value_counts(normalize=True).sort_index() for f in imp], axis=1).mean(axis=1)
    assert np.max(np.abs(cc.to_numpy() - truth.to_numpy())) > 0.05  # complete cases are off (MAR on z)
    assert np.max(np.abs(shares.to_numpy() - truth.to_numpy())) < 0.02
    assert abs(d["flag"].dropna().astype(float).mean() - flag.mean()) > 0.05
    assert abs(np.mean([f["flag"].mean() for f in imp]) - flag.mean()) < 0.02


def test_nullable_dtypes_are_kept():
    rng = np.random.default_rng(1)
    n = 300
    d = pd.DataFrame({"z": rng.normal(size=n), "b": pd.array(rng.random(n) < 0.4, dtype="boolean"),
                      "i": pd.array(rng.integers(20, 90, n), dtype="Int64"),
                      "s": pd.array(rng.choice(["x", "y", "w"], n), dtype="string"),
                      "time": rng.exponential(size=n), "event": rng.random(n) < 0.7})
    for c in ["b", "i", "s"]:
        d.loc[rng.random(n) < 0.2, c] = pd.NA
    imp = impute(d, m=1, seed=1, iterations=2)
    f = imp[0]
    assert f.dtypes.equals(d.dtypes) and not f.isna().any().any()
    assert imp.summary.set_index("variable")["method"].to_dict() == {"b": "logistic", "i": "pmm", "s": "multinomial"}


def test_parallel_chains_give_the_same_frames(frame):
    a = impute(frame, m=3, seed=9, columns=["age", "smoking"], iterations=2)
    b = impute(frame, m=3, seed=9, columns=["age", "smoking"], iterations=2, n_jobs=2)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    with pytest.raises(ConfigError, match="n_jobs"):
        impute(frame, m=1, seed=1, n_jobs=0)
