"""Table 1 (cohort.table1): every number against an independent computation written here (pandas
group-bys, and the test statistics from their textbook formulas rather than scipy's test functions);
release control of its counts; layering; the compact display."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.table1 import INDENT, NOT_RECORDED, Table1InputError, table_one
from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.release import ReleasePolicy


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return simulate_cohort(800, seed=31, progress=False).patients


def _rows(t) -> pd.DataFrame:
    """The formatted table indexed by (block label, row label)."""
    block, keys = "", []
    for lab in t.table["Characteristic"]:
        if not lab.startswith(INDENT):
            block = lab
        keys.append((block, lab.strip(INDENT)))
    return t.table.set_index(pd.MultiIndex.from_tuples(keys))


def _pct(n: int, d: int) -> str:
    return f"{n} ({100 * n / d:.1f}%)"


def test_cells_match_an_independent_computation(patients):
    t = table_one(patients, by="severity", covariates=["age", "bmi", "sex", "smoking", "diabetes"])
    tab = _rows(t)
    groups = ["mild", "moderate", "severe"]
    cols = {g: f"{g} (N = {(patients['severity'] == g).sum():,})" for g in groups}
    cols["Overall"] = f"Overall (N = {len(patients):,})"
    assert list(t.table.columns) == ["Characteristic", cols["Overall"], *[cols[g] for g in groups], "SMD"]
    for g in [*groups, "Overall"]:
        sub = patients if g == "Overall" else patients[patients["severity"] == g]
        age = sub["age"].to_numpy(float)
        q1, med, q3 = np.quantile(age, [0.25, 0.5, 0.75])  # R type 7, as gtsummary's default
        assert tab.loc[("Age, years, median (Q1-Q3)", "Age, years, median (Q1-Q3)"), cols[g]] == f"{med:.1f} ({q1:.1f}-{q3:.1f})"
        bmi = sub["bmi"].dropna()
        q1, med, q3 = bmi.quantile([0.25, 0.5, 0.75])
        assert tab.loc[("BMI, kg/m², median (Q1-Q3)", "BMI, kg/m², median (Q1-Q3)"), cols[g]] == f"{med:.1f} ({q1:.1f}-{q3:.1f})"
        assert tab.loc[("BMI, kg/m², median (Q1-Q3)", NOT_RECORDED), cols[g]] == str(int(sub["bmi"].isna().sum()))
        recorded = sub["smoking"].dropna()
        for level in ("never", "former", "current"):
            assert tab.loc[("Smoking, n (%)", level), cols[g]] == _pct(int((recorded == level).sum()), len(recorded))
        female = int((sub["sex"] == "female").sum())
        assert tab.loc[("Sex, n (%)", "female"), cols[g]] == _pct(female, len(sub))
        diab = sub["diabetes"].astype("boolean").dropna()
        assert tab.loc[("Diabetes, n (%)", "Diabetes, n (%)"), cols[g]] == _pct(int(diab.sum()), len(diab))
    assert tab.loc[("Sex, n (%)", "Sex, n (%)"), cols["Overall"]] == ""  # a categorical block's heading row is empty
    # the tidy summary holds the same numbers (and stays one row per group; the overall column is .overall)
    s = t.summary.set_index(["variable", "level", "group"])
    assert s.loc[("bmi", "missing", "mild"), "missing"] == patients.loc[patients["severity"] == "mild", "bmi"].isna().sum() > 0
    assert set(t.summary["group"]) == set(groups) and set(t.overall["group"]) == {"Overall"}


def test_smd_by_hand(patients):
    t = table_one(patients, by="supervised_physio", covariates=["age", "sex"], statistic="mean")
    yes, no = patients[patients["supervised_physio"]], patients[~patients["supervised_physio"]]
    expected = (yes["age"].mean() - no["age"].mean()) / np.sqrt((yes["age"].var() + no["age"].var()) / 2)
    smd = t.smd.set_index(["variable", "level"])["smd"]
    assert smd[("age", "")] == pytest.approx(expected, rel=1e-12)
    f1, f0 = (yes["sex"] == "female").mean(), (no["sex"] == "female").mean()
    sd = np.sqrt((f1 * (1 - f1) * len(yes) / (len(yes) - 1) + f0 * (1 - f0) * len(no) / (len(no) - 1)) / 2)
    assert smd[("sex", "female")] == pytest.approx((f1 - f0) / sd, rel=1e-12)
    tab = _rows(t)
    assert tab.loc[("Age, years, mean (SD)", "Age, years, mean (SD)"), "SMD"] == f"{expected:.2f}"
    assert tab.loc[("Age, years, mean (SD)", "Age, years, mean (SD)"), f"Yes (N = {len(yes):,})"] == \
        f"{yes['age'].mean():.1f} ({yes['age'].std():.1f})"
    assert any("Yes minus No" in n for n in t.footnotes)


def _chisq(table: np.ndarray) -> float:
    e = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    x2 = float(((table - e) ** 2 / e).sum())
    return float(stats.chi2.sf(x2, (table.shape[0] - 1) * (table.shape[1] - 1)))


def _kruskal(groups: list[np.ndarray]) -> float:
    allv = np.concatenate(groups)
    ranks = pd.Series(allv).rank().to_numpy()  # mid-ranks for ties
    n, h, pos = len(allv), 0.0, 0
    for g in groups:
        r = ranks[pos:pos + len(g)]
        pos += len(g)
        h += r.sum() ** 2 / len(g)
    h = 12 / (n * (n + 1)) * h - 3 * (n + 1)
    _, ties = np.unique(allv, return_counts=True)
    h /= 1 - (ties**3 - ties).sum() / (n**3 - n)
    return float(stats.chi2.sf(h, len(groups) - 1))


def _anova(groups: list[np.ndarray]) -> float:
    allv = np.concatenate(groups)
    k, n = len(groups), len(allv)
    between = sum(len(g) * (g.mean() - allv.mean()) ** 2 for g in groups) / (k - 1)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - k)
    return float(stats.f.sf(between / within, k - 1, n - k))


def _fisher_2x2(t: np.ndarray) -> float:
    (a, b), (c, d) = t
    r1, c1, n = a + b, a + c, a + b + c + d
    lo, hi = max(0, r1 + c1 - n), min(r1, c1)
    from math import comb

    probs = {x: comb(c1, x) * comb(n - c1, r1 - x) / comb(n, r1) for x in range(lo, hi + 1)}
    return float(sum(p for p in probs.values() if p <= probs[a] * (1 + 1e-7)))


def test_tests_match_textbook_formulas(patients):
    t = table_one(patients, by="severity", covariates=["age", "smoking", "diabetes"], tests=True)
    p = t.tests.set_index("variable")
    groups = ["mild", "moderate", "severe"]
    ages = [patients.loc[patients["severity"] == g, "age"].to_numpy(float) for g in groups]
    assert p.loc["age", "test"] == "Kruskal-Wallis" and p.loc["age", "p"] == pytest.approx(_kruskal(ages), rel=1e-9)
    smoke = pd.crosstab(patients["severity"], patients["smoking"]).reindex(index=groups).to_numpy()
    assert p.loc["smoking", "test"] == "chi-square" and p.loc["smoking", "p"] == pytest.approx(_chisq(smoke), rel=1e-9)
    mean = table_one(patients, by="severity", covariates=["age"], tests=True, statistic="mean").tests.set_index("variable")
    assert mean.loc["age", "test"] == "ANOVA" and mean.loc["age", "p"] == pytest.approx(_anova(ages), rel=1e-9)
    tab = _rows(t)
    assert tab.loc[("Smoking, n (%)", "Smoking, n (%)"), "p-value"] in (f"{_chisq(smoke):.3f}", "<0.001")
    assert any("Kruskal-Wallis" in n and "chi-square" in n for n in t.footnotes)
    assert "p-value" not in table_one(patients, by="severity", covariates=["age"]).table.columns  # only when asked


def test_fisher_when_expected_counts_are_small():
    d = pd.DataFrame({"arm": ["a"] * 8 + ["b"] * 8, "event": [True] * 7 + [False] * 1 + [True] * 1 + [False] * 7})
    t = table_one(d, by="arm", covariates=["event"], tests=True)
    table = np.array([[7, 1], [1, 7]])  # expected counts 4: Fisher
    assert t.tests.loc[0, "test"] == "Fisher exact"
    assert t.tests.loc[0, "p"] == pytest.approx(_fisher_2x2(table), rel=1e-9)
    assert any("Fisher's exact test" in n for n in t.footnotes)


def test_released_counts_are_protected(patients):
    policy = ReleasePolicy(10)
    t = table_one(patients, by="cause", covariates=["age", "sex", "smoking", "bmi", "fes"])
    rel = t.released(policy)
    frame = rel.frame
    for col in frame.columns[1:]:
        for v in frame[col]:
            m = re.match(r"^(\d[\d,]*)(?: \(|$)", v)
            if m and col not in ("SMD",):
                n = int(m.group(1).replace(",", ""))
                assert n == 0 or n > 10, (col, v)
            if v.startswith("≤"):
                assert v == "≤10"
    # a cause of 1..10 patients: its column header hides the size and its summaries are masked
    sizes = patients["cause"].astype(str).value_counts()
    small = [c for c, n in sizes.items() if 1 <= n <= 10]
    for c in small:
        head = next(h for h in frame.columns if h.startswith(f"{c} (N = "))
        assert head == f"{c} (N = ≤10)"
        assert (frame[head].isin(["-", "", "≤10", "*"])).all()
    # raw table: the same cells where nothing is small
    raw = t.table
    assert raw.iloc[:, 0].tolist() == frame.iloc[:, 0].tolist()


def test_released_percentages_never_reveal_a_hidden_missing_count():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"arm": ["a"] * 60 + ["b"] * 60, "smoker": pd.array(rng.random(120) < 0.4, dtype="boolean")})
    d.loc[[0, 1, 2], "smoker"] = pd.NA  # 3 not recorded in arm a
    frame = table_one(d, by="arm", covariates=["smoker"]).released(ReleasePolicy(10)).frame
    row = frame[frame["Characteristic"] == "Smoker, n (%)".replace("Smoker", "smoker")]
    a_col = next(c for c in frame.columns if c.startswith("a (N"))
    assert "%" not in row[a_col].iloc[0]  # count / percent would give the denominator 57, so 60 - 57 = 3
    assert frame.loc[frame["Characteristic"] == INDENT + NOT_RECORDED, a_col].iloc[0] == "≤10"


def test_whole_cohort_labels_and_options(patients):
    t = table_one(patients, by=None, covariates=["age", "cause"], labels={"age": "Age at onset, years"})
    assert list(t.table.columns) == ["Characteristic", f"Overall (N = {len(patients):,})"]
    assert t.table["Characteristic"].iloc[0] == "Age at onset, years, median (Q1-Q3)"
    assert INDENT + "peroneal compression" in t.table["Characteristic"].tolist()
    assert set(t.summary["group"]) == {"Overall"}
    no_overall = table_one(patients, by="sex", covariates=["age"], overall=False)
    assert not any(c.startswith("Overall") for c in no_overall.table.columns) and no_overall.overall.empty


def test_errors_name_the_column_not_the_values():
    d = pd.DataFrame({"g": ["x", None, "y"], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(Table1InputError, match=r"data\.g: the grouping column has missing values in rows \[1\]"):
        table_one(d, by="g", covariates=["v"])
    with pytest.raises(Table1InputError, match="only one group"):
        table_one(pd.DataFrame({"g": [1, 1], "v": [1.0, 2.0]}), by="g", covariates=["v"])
    with pytest.raises(ConfigError, match="not a column"):
        table_one(d, by="nope")
    with pytest.raises(ConfigError, match="are not columns"):
        table_one(d.dropna(), by="g", covariates=["w"])
    with pytest.raises(ConfigError, match="statistic"):
        table_one(d.dropna(), by="g", covariates=["v"], statistic="mode")  # type: ignore[arg-type]


def test_notebook_display_is_the_formatted_table(patients):
    t = table_one(patients, by="supervised_physio", covariates=["age", "bmi", "smoking"])
    html = t._repr_html_()
    assert "Characteristic" in html and NOT_RECORDED in html and "Median (Q1-Q3)" in html
    assert ">nan<" not in html.lower() and ">percent<" not in html and ">level<" not in html  # not the tidy frame


def test_cohort_layer_imports_no_report_or_analysis():
    code = ("import sys, footdrop_outcomes.cohort.table1 as t; t.table_one; "
            "print(sorted(m for m in sys.modules if m.split('.')[:2] and m.split('.')[0] == 'footdrop_outcomes' "
            "and len(m.split('.')) > 1 and m.split('.')[1] in ('report', 'survival', 'trajectories', 'adherence', 'studies')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_adherence_path_still_works(patients):
    from footdrop_outcomes.adherence import table_one as old
    from footdrop_outcomes.adherence.table1 import TableOne

    assert old is table_one
    assert isinstance(old(patients, by="supervised_physio", covariates=["age"]), TableOne)


def _fisher_rxc_exact(table: np.ndarray) -> float:
    """Freeman-Halton exact p for a 2 x 3 table: every table with the same margins, enumerated."""
    from math import factorial, prod

    rows, cols, n = table.sum(1), table.sum(0), table.sum()

    def prob(t: np.ndarray) -> float:
        return prod(map(factorial, rows)) * prod(map(factorial, cols)) / (factorial(n) * prod(factorial(int(x)) for x in t.ravel()))

    p_obs, total = prob(table), 0.0
    for a in range(0, min(rows[0], cols[0]) + 1):
        for b in range(0, min(rows[0] - a, cols[1]) + 1):
            c = rows[0] - a - b
            if c > cols[2]:
                continue
            t = np.array([[a, b, c], [cols[0] - a, cols[1] - b, cols[2] - c]])
            if (t < 0).any():
                continue
            q = prob(t)
            if q <= p_obs * (1 + 1e-7):
                total += q
    return total


def test_monte_carlo_fisher_for_larger_sparse_tables_agrees_with_enumeration():
    # 2 arms x 3 levels with expected counts under 5: the seeded Monte Carlo Fisher test
    d = pd.DataFrame({"arm": ["a"] * 10 + ["b"] * 10,
                      "afo": pd.Categorical(["none"] * 7 + ["rigid"] * 2 + ["carbon"] + ["none"] * 2 + ["rigid"] * 3 + ["carbon"] * 5,
                                            categories=["none", "rigid", "carbon"])})
    t = table_one(d, by="arm", covariates=["afo"], tests=True)
    exact = _fisher_rxc_exact(np.array([[7, 2, 1], [2, 3, 5]]))
    got = t.tests.loc[0, "p"]
    assert t.tests.loc[0, "test"] == "Fisher exact (Monte Carlo)"
    se = np.sqrt(exact * (1 - exact) / 9999)
    assert abs(got - exact) < 4 * se + 1e-4, (got, exact, se)
    assert table_one(d, by="arm", covariates=["afo"], tests=True).tests.loc[0, "p"] == got  # seeded: the same p every run
