"""Late entry (left truncation) in the curves: Kaplan-Meier against R's survfit(Surv(entry, exit,
event)) and lifelines, Turnbull's conditional NPMLE (on innermost intervals) against an independent
EM on elementary cells, and the refusals; the overall-only log-rank against R's survdiff."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival import kaplan_meier, number_at_risk, turnbull
from footdrop_outcomes.survival._entry import LateEntryWarning

DATA = Path(__file__).resolve().parents[1] / "data" / "r_reference_wave2"


@pytest.fixture(scope="module")
def lt() -> pd.DataFrame:
    return pd.read_csv(DATA / "surv_lt.csv")


@pytest.fixture(scope="module")
def km_lt() -> dict:
    return json.loads((DATA / "r_results.json").read_text())["fits"]["km_lt"]


def _km(lt: pd.DataFrame):
    return kaplan_meier(lt, group="cause", duration_col="time_weeks", event_col="event", entry_col="entry_weeks",
                        landmarks=[6, 12, 26, 52, 78])


def test_km_with_late_entry_matches_R(lt, km_lt):
    s = _km(lt).summary
    med = s[s["statistic"] == "median"].set_index("group")
    for key, col in (("median", "estimate"), ("median_lcl", "lower"), ("median_ucl", "upper")):
        for g, want in km_lt[key].items():
            assert med.loc[g, col] == pytest.approx(want, rel=1e-10), (key, g)
    at = s[s["statistic"] == "recovered_by"].set_index(["group", "time"])
    checked = 0
    for a in km_lt["at"]:
        row = at.loc[(a["strata"], float(a["time"]))]
        assert 1 - row["estimate"] == pytest.approx(a["surv"], rel=1e-10, abs=1e-14)
        if a["lower"] is not None:
            assert 1 - row["upper"] == pytest.approx(a["lower"], rel=1e-9)
            assert 1 - row["lower"] == pytest.approx(a["upper"], rel=1e-9)
            checked += 1
    assert checked >= 18
    # ignoring entry gives other numbers (the test can tell the two apart)
    plain = kaplan_meier(lt, group="cause", duration_col="time_weeks", event_col="event").summary
    plain_at = plain[plain["statistic"] == "recovered_by"].set_index(["group", "time"])
    diffs = [abs(1 - plain_at.loc[(a["strata"], float(a["time"])), "estimate"] - a["surv"]) for a in km_lt["at"]]
    assert max(diffs) > 1e-3


def test_km_at_risk_counts_patients_between_entry_and_exit(lt):
    """n at risk at t = #{entry < t <= exit}, counted by brute force (R's summary(times=) instead
    reports the risk set at the next event time, which can include later entrants)."""
    km = _km(lt)
    s = km.summary.query("statistic == 'recovered_by'")
    table = number_at_risk(km, [6, 12, 26, 52, 78])  # the table under the plot
    for _, r in s.iterrows():
        g = lt[lt["cause"] == r["group"]]
        want = int(((g["entry_weeks"] < r["time"]) & (r["time"] <= g["time_weeks"])).sum())
        assert r["n_at_risk"] == want
        assert table.loc[r["group"], f"{r['time']:g}"] == want


def test_km_with_late_entry_matches_lifelines(lt):
    from lifelines import KaplanMeierFitter

    g = lt[lt["cause"] == "neuropathy"]
    kmf = KaplanMeierFitter().fit(g["time_weeks"], g["event"], entry=g["entry_weeks"])
    ours = kaplan_meier(g, duration_col="time_weeks", event_col="event", entry_col="entry_weeks")
    times = np.array([5.0, 10.0, 20.0, 30.0, 45.0, 60.0])
    want = kmf.survival_function_at_times(times).to_numpy()
    got = ours.survival_at(times)["survival"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_entry_after_exit_is_refused_by_column_and_row(lt):
    bad = lt.head(30).copy()
    bad.loc[[3, 17], "entry_weeks"] = bad.loc[[3, 17], "time_weeks"] + 1.2345
    with pytest.raises(FootdropError, match=r"entry_weeks.*rows 3, 17") as exc:
        kaplan_meier(bad, duration_col="time_weeks", event_col="event", entry_col="entry_weeks")
    assert "1.2345" not in str(exc.value) and str(round(bad.loc[3, "entry_weeks"], 2)) not in str(exc.value)
    iv = pd.DataFrame({"lower": [1.0, 2.0, 4.0], "upper": [3.0, np.inf, 6.0], "first": [0.0, 5.0, 1.0]})
    with pytest.raises(FootdropError, match=r"first.*rows 1\b"):
        turnbull(iv, entry_col="first")
    with pytest.raises(FootdropError, match="no column 'nope'"):
        turnbull(iv, entry_col="nope")


def test_recovered_by_first_contact_is_left_out_with_a_warning():
    d = pd.DataFrame({"time": [2.0, 5.0, 7.0, 9.0, 12.0], "event": [1, 1, 0, 1, 1], "entry": [2.0, 1.0, 1.0, 3.0, 0.0]})
    with pytest.warns(LateEntryWarning, match=r"1 patient.*rows 0\b"):
        km = kaplan_meier(d, entry_col="entry")
    assert km.info["excluded_at_entry"] == {"all": 1}
    # the four left: risk sets {1,2,4}... at t=5: entry<5<=exit -> rows 1,2,3,4 -> S = 3/4; t=9: rows 3,4 -> 3/4 * 1/2
    s = km.survival_at([5.0, 9.0])["survival"].to_numpy()
    np.testing.assert_allclose(s, [3 / 4, 3 / 8])


def _cells_em(lo: np.ndarray, up: np.ndarray, en: np.ndarray, iters: int,
              innermost_only: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
    """Turnbull's (1976) self-consistency with ghosts on every elementary cell after the earliest
    entry, written from the paper with dense indicator matrices (no innermost intervals); with
    ``innermost_only`` only on the cells inside Turnbull's innermost intervals of the recovery
    intervals (a left end q and a right end p with no end strictly between; brute force)."""
    v = np.unique(np.r_[lo, up[np.isfinite(up)], en])
    v = v[v >= en.min()]
    mid = np.r_[(v[:-1] + v[1:]) / 2, v[-1] + 1]
    a = (mid[None, :] > lo[:, None]) & (mid[None, :] <= up[:, None])
    b = mid[None, :] > en[:, None]
    p = np.full(mid.size, 1 / mid.size)
    if innermost_only:
        ends = np.r_[lo, up]
        inner = [(q, r) for q in np.unique(lo) for r in np.unique(up) if q < r and not np.any((ends > q) & (ends < r))]
        p = p * np.any([(mid > q) & (mid < r) for q, r in inner], axis=0)
        p /= p.sum()
    for _ in range(iters):
        new = (a * p / (a @ p)[:, None] + (~b) * p / (b @ p)[:, None]).sum(axis=0)
        p = new / new.sum()
    return mid, p, float(np.log(a @ p).sum() - np.log(b @ p).sum())


def test_turnbull_with_late_entry_is_the_npmle_on_innermost_intervals_not_frydmans():
    """The late-entry fit is the NPMLE among distributions with their mass in Turnbull's innermost
    intervals (an innermost interval holding an entry counts before it: its best placement; checked
    against a direct maximisation in test_turnbull_late_entry_bias.py). Here against the same
    self-consistency run on the elementary cells inside the innermost intervals (equal), and
    Frydman's NPMLE on every elementary cell, which also puts mass on cells ending at an entry
    outside them (fits better, a different curve)."""
    rng = np.random.default_rng(11)
    n = 18
    entry = np.round(rng.uniform(0, 4, n), 1)
    t = entry + rng.exponential(8, n)
    rows = []
    for e, x in zip(entry, t, strict=True):
        visits = e + np.cumsum(np.r_[0.0, np.round(rng.uniform(1, 4, 8), 1)])
        k = np.searchsorted(visits, x)
        rows.append((visits[k - 1], visits[k]) if k < visits.size else (visits[-1], np.inf))
    d = pd.DataFrame(rows, columns=["lower", "upper"]).assign(entry=entry)
    res = turnbull(d, entry_col="entry", landmarks=[4.0, 8.0, 16.0], tau=20)
    lo, up = d["lower"].to_numpy(), d["upper"].to_numpy()
    _, _, ll = _cells_em(lo, up, entry, 4000)
    import importlib

    tb = importlib.import_module("footdrop_outcomes.survival.turnbull")
    fit = tb._turnbull_fit(lo, up, tol=1e-9, max_iter=20_000, label="x", entry=entry)
    mid_r, p_r, ll_r = _cells_em(lo, up, entry, 4000, innermost_only=True)
    assert fit["loglik"] >= ll_r - 1e-6  # the fit is the maximum over the innermost cells
    assert fit["loglik"] == pytest.approx(ll_r, abs=1e-4)
    for r in fit["right"][np.isfinite(fit["right"])]:  # the same masses: the curve at every interval end
        assert fit["p"][fit["right"] <= r].sum() == pytest.approx(p_r[mid_r < r].sum(), abs=2e-3), r
    assert ll >= fit["loglik"] - 1e-6  # Frydman's NPMLE is the maximum over every cell
    assert ll > fit["loglik"] + 1e-3  # and here a different fit (it uses cells outside the innermost intervals)
    # ignoring entry gives a different curve (the check can fail)
    plain = turnbull(d, landmarks=[4.0, 8.0, 16.0], tau=20).summary
    assert not np.allclose(plain["estimate"].iloc[1:3], res.summary["estimate"].iloc[1:3], atol=1e-3)


def test_logrank_overall_alone_matches_R_and_the_full_call():
    from footdrop_outcomes.survival import logrank_test

    ref = json.loads((Path(__file__).resolve().parents[1] / "data" / "r_reference" / "r_results.json").read_text())
    surv = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "r_reference" / "surv.csv")
    alone = logrank_test(surv, group="cause", duration_col="time_weeks", pairwise=False, trend=False)
    assert alone.summary["test"].tolist() == ["overall"] and "trend_scores" not in alone.info
    want = ref["fits"]["logrank"]["values"]
    assert alone.summary["chisq"].iloc[0] == pytest.approx(want["chisq"], rel=1e-10)
    full = logrank_test(surv, group="cause", duration_col="time_weeks").summary
    assert re.fullmatch(r"overall,trend(,pairwise)+", ",".join(full["test"]))
    assert full["chisq"].iloc[0] == alone.summary["chisq"].iloc[0]
