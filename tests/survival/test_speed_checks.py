"""The input checks' numpy shortcuts (issue 16: a fit's fixed cost) give pandas' answers on every column type.

``missing_mask`` stands for ``pd.isna(frame[cols]).to_numpy()``; ``check_columns`` reads numpy numeric outcome
columns without ``pd.to_numeric`` and checks numpy event columns without ``isin``. Each is compared here with the
pandas expression it replaces, on columns of every type with and without missing or invalid values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival._input import _numbers, check_columns
from footdrop_outcomes.survival._missing import missing_mask


def _columns(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hole = rng.random(n) < 0.2
    f = rng.normal(size=n)
    return pd.DataFrame({
        "float": np.where(hole, np.nan, f),
        "float_full": f,
        "inf": np.where(hole, np.inf, f),
        "int": rng.integers(0, 5, size=n),
        "uint": rng.integers(0, 5, size=n).astype(np.uint16),
        "bool": rng.random(n) < 0.5,
        "cat": pd.Categorical(np.where(hole, None, rng.choice(["a", "b"], size=n)), categories=["b", "a", "c"]),
        "obj": pd.Series(np.where(hole, None, rng.choice(["x", "y"], size=n)), dtype=object),
        "objnan": pd.Series(np.where(hole, np.nan, 1.0), dtype=object),
        "str": pd.array(np.where(hole, None, "s"), dtype="string"),
        "Int64": pd.array(np.where(hole, None, 3), dtype="Int64"),
        "boolean": pd.array(np.where(hole, None, True), dtype="boolean"),
        "date": pd.Series(np.where(hole, np.datetime64("NaT"), np.datetime64("2020-01-01")), dtype="datetime64[ns]"),
        "f32": np.where(hole, np.nan, f).astype(np.float32),
    })


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_missing_mask_is_pandas_isna(seed):
    frame = _columns(seed)
    assert frame["float"].isna().any() and frame["cat"].isna().any()  # the data have holes to find
    for cols in ([c] for c in frame.columns):
        assert np.array_equal(missing_mask(frame, cols), pd.isna(frame[cols]).to_numpy()), cols
    cols = list(frame.columns)
    assert np.array_equal(missing_mask(frame, cols), pd.isna(frame[cols]).to_numpy())
    assert missing_mask(frame, []).shape == (len(frame), 0)
    dup = pd.concat([frame[["float", "int"]], frame[["cat"]].rename(columns={"cat": "float"})], axis=1)
    assert np.array_equal(missing_mask(dup, ["float", "int"]), pd.isna(dup[["float", "int"]]).to_numpy())


def test_numbers_is_to_numeric_coerced():
    frame = _columns(4)
    frame["text_numbers"] = pd.Series(["1.5", "x", "2", None] * 10, dtype=object)
    for c in frame.columns:
        if c == "date":
            continue  # not a time column anyone passes (to_numeric gives nanoseconds either way)
        want = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
        assert np.array_equal(_numbers(frame[c]), want, equal_nan=True), c


EVENTS = {
    "bool": np.array([True, False, True]), "int01": np.array([0, 1, 1]), "int2": np.array([0, 2, 1]),
    "neg": np.array([-1, 0, 1]), "float01": np.array([0.0, 1.0, 1.0]), "half": np.array([0.0, 0.5, 1.0]),
    "nan": np.array([0.0, np.nan, 1.0]), "uint": np.array([0, 1, 1], dtype=np.uint8),
    "obj": pd.Series([0, 1, True], dtype=object), "objbad": pd.Series([0, "1", 1], dtype=object),
    "Int64": pd.array([0, 1, None], dtype="Int64"), "boolean": pd.array([True, False, True], dtype="boolean"),
    "cat": pd.Categorical([0, 1, 1]),
}


@pytest.mark.parametrize("name", list(EVENTS))
def test_event_check_is_the_isin_rule(name):
    e = pd.Series(EVENTS[name])
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0], "event": e})
    ok = bool((e.isin([0, 1, True, False]) & e.notna()).all())
    if ok:
        check_columns(frame, duration_col="time", event_col="event")
    else:
        with pytest.raises(FootdropError, match="events must be 0/1"):
            check_columns(frame, duration_col="time", event_col="event")
    assert name not in ("int2", "neg", "half", "nan", "objbad", "Int64") or not ok  # the invalid ones are refused


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_duration_check_on_numpy_columns(bad):
    for dtype in (float, np.float32):
        frame = pd.DataFrame({"time": np.array([1.0, bad, 3.0], dtype=dtype), "event": [1, 0, 1]})
        with pytest.raises(FootdropError, match="finite and >= 0; rows 1 are not"):
            check_columns(frame, duration_col="time", event_col="event")
    check_columns(pd.DataFrame({"time": np.array([0, 2, 3]), "event": [1, 0, 1]}), duration_col="time")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unique_event_pairs_are_drop_duplicates_then_sorted(seed):
    """The risk sets' buckets: distinct (stratum, event time) pairs in (stratum, time) order, as pandas gives them."""
    from footdrop_outcomes.survival._zph import _unique_pairs

    rng = np.random.default_rng(seed)
    for n, n_strata in ((1, 1), (50, 1), (400, 4), (3000, 7)):
        s = rng.integers(0, n_strata, size=n).astype(np.int64)
        t = np.round(rng.exponential(5, size=n), 1)  # many ties
        want = pd.DataFrame({"s": s, "t": t}).drop_duplicates().sort_values(["s", "t"], kind="stable")
        us, ut = _unique_pairs(s, t)
        assert np.array_equal(us, want["s"].to_numpy()) and us.dtype == want["s"].to_numpy().dtype
        assert np.array_equal(ut, want["t"].to_numpy(dtype=float))
    us, ut = _unique_pairs(np.zeros(0, dtype=np.int64), np.zeros(0))
    assert us.size == ut.size == 0
    # a stratum's last time equal to the next stratum's first: two buckets, not one
    us, ut = _unique_pairs(np.array([1, 0, 0, 1]), np.array([2.0, 2.0, 1.0, 3.0]))
    assert us.tolist() == [0, 0, 1, 1] and ut.tolist() == [1.0, 2.0, 2.0, 3.0]
