"""The site report's release and counting functions (report/site_section.py) on hand-made results (issue 21).

``test_site_report.py`` renders the whole notebook and scans the PDF for a few patterns; the
mutation sample of session 7 (seed 1) showed what it does not see: the rank-interval figure drawn
with wrong arms or for the wrong horizon, the level of the variance-component CIs, a CI with one
infinite limit printed as an interval, the warning note of the three-level model, and the "not
shown" paths. Here each function gets a small ``SiteAnalysis`` whose numbers are written by hand,
and what it returns (cells, masks, drawn segments, sentences) is checked against the documented
rules, worked out by hand:

* a site's row rests on its patients; an observed count of 1..threshold shows as "≤N" and hides
  that site's O/E, its flag and its rank (O/E table, rank table), and its rank interval is not
  drawn at that horizon; an observed count of 0 is shown (it rests on the site's patients);
* rank intervals are drawn from ``rank_lower`` to ``rank_upper`` around ``rank``, sites in code order;
* the variance-component table states the level ``100 (1 - alpha)``; a component with a
  non-finite limit shows its estimate alone.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.release import MASK, ReleasedFigure, ReleasedTable, ReleasePolicy
from footdrop_outcomes.report import counts
from footdrop_outcomes.report import site_section as ss

T = 10
SITES = {"S01": 40, "S02": 25, "S03": 60, "S04": 33}
H12, HEND = "12 weeks", "end of follow-up"


@pytest.fixture(autouse=True)
def _policy():
    before = counts.get_policy()
    counts.set_policy(ReleasePolicy(T))
    yield
    counts.set_policy(before)


def _comparison() -> SimpleNamespace:
    # observed by 12 weeks: S02 has 4 (1..T: masked), S04 has 0 (shown); by the end all are above T
    obs = {H12: {"S01": 14, "S02": 4, "S03": 30, "S04": 0}, HEND: {"S01": 31, "S02": 19, "S03": 52, "S04": 22}}
    rank = {H12: (2, 4, 1, 3), HEND: (3, 2, 1, 4)}
    rows = []
    for h in (H12, HEND):
        for k, (s, n) in enumerate(SITES.items()):
            o = obs[h][s]
            e = 0.4 * n if h == H12 else 0.8 * n
            r = rank[h][k]
            rows.append({"horizon": h, "site": s, "n": n, "observed": o, "expected": e, "ratio": o / e,
                         "lower_95": 0.5, "upper_95": 1.6, "lower_998": 0.3, "upper_998": 2.0,
                         "flag_95": "above" if s == "S03" else "", "flag_998": "", "rank": r,
                         "rank_lower": max(1, r - 1), "rank_upper": min(4, r + 1)})
    disp = pd.DataFrame({"horizon": [H12, HEND], "phi": [1.3, 1.1], "tau2": [0.01, 0.0]})
    return SimpleNamespace(summary=pd.DataFrame(rows), dispersion=disp)


def _trajectory(upper_site: float = 0.09) -> SimpleNamespace:
    vc = pd.DataFrame({"component": ["sd_site_intercept", "sd_intercept", "sd_residual", "icc_site"],
                       "estimate": [0.05, 0.21, 0.11, 0.04], "lower": [0.02, 0.18, 0.10, np.nan],
                       "upper": [upper_site, 0.24, 0.12, np.nan]})
    return SimpleNamespace(variance_components=vc)


def _analysis(*, comparison=True, trajectory=True, alpha=0.05, warned=()) -> ss.SiteAnalysis:
    return ss.SiteAnalysis(cohort=None, sites=dict(SITES), comparison=_comparison() if comparison else None, adherence=None,
                           trajectory=_trajectory() if trajectory else None,
                           choices={"formula": ss.CASE_MIX, "strata": "cause", "overdispersion": "additive", "n_draws": 100,
                                    "seed": 0, "alpha": alpha, "threshold": 4, "warnings": {"trajectory": list(warned)},
                                    "errors": {} if comparison and trajectory else {"comparison": "FootdropError",
                                                                                    "trajectory": "ConvergenceError"}})


def test_oe_and_rank_tables_mask_what_rests_on_a_small_observed_count():
    sa = _analysis()
    oe = ss.oe_table(sa, H12)
    assert isinstance(oe, ReleasedTable)
    f = oe.frame.set_index("Site")
    assert f.loc["S02", "Observed (O)"] in (f"≤{T}", MASK)  # never the count itself
    assert f.loc["S02", "O/E"] == MASK and f.loc["S02", "Outside limits"] == MASK
    assert f.loc["S02", "Expected (E)"] == "10.0"  # rests on the site's 25 patients
    assert f.loc["S04", "Observed (O)"] == "0" and f.loc["S04", "O/E"] == "0.00"
    assert f.loc["S03", "Outside limits"] == "above 95%" and f.loc["S01", "Outside limits"] == "no"
    rk = ss.rank_table(sa).frame.set_index("Site")
    assert rk.index.tolist() == list(SITES)
    assert rk.loc["S02", f"Rank by {H12} (95% interval)"] == MASK
    assert rk.loc["S02", f"Rank by {HEND} (95% interval)"] == "2 (1 to 3)"
    assert rk.loc["S01", f"Rank by {H12} (95% interval)"] == "2 (1 to 3)"


def test_rank_figure_draws_each_shown_interval_from_its_lower_to_its_upper_rank():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sa = _analysis()
    fig = ss.rank_figure(sa)
    assert isinstance(fig, ReleasedFigure)
    s = sa.comparison.summary
    axes = fig.figure.axes
    assert [ax.get_title() for ax in axes] == [f"recovery by {H12}", f"recovery by {HEND}"]
    for ax, h in zip(axes, (H12, HEND), strict=True):
        w = s[s["horizon"] == h].set_index("site")
        shown = [x for x in sorted(SITES) if not 1 <= w.loc[x, "observed"] <= T]
        lo, hi = ax.get_xlim()
        assert lo < 1 and hi > len(SITES)  # every rank, 1 to the number of sites, inside the axis
        assert ax.yaxis_inverted()  # sites read down in code order, the first at the top (as in the rank table)
        (bars,) = ax.containers
        points = bars.lines[0].get_xydata()
        segments = bars.lines[2][0].get_segments()
        assert len(points) == len(segments) == len(shown)
        for (x, y), seg, site in zip(points, segments, shown, strict=True):
            row = w.loc[site]
            assert y == sorted(SITES).index(site) and x == row["rank"]
            np.testing.assert_allclose(sorted(seg[:, 0]), [row["rank_lower"], row["rank_upper"]])
            np.testing.assert_allclose(seg[:, 1], [y, y])
    plt.close("all")


def test_the_variance_component_table_states_its_level_and_an_open_interval_is_not_printed():
    for alpha, level in ((0.05, 95), (0.2, 80)):
        t = ss.trajectory_table(_analysis(alpha=alpha)).frame
        assert t.columns.tolist() == ["Component", f"Estimate ({level}% CI)"]
    sa = _analysis()
    sa.trajectory.variance_components.loc[0, "upper"] = np.inf  # a site SD whose upper limit is not finite
    cells = ss.trajectory_table(sa).frame.set_index("Component").iloc[:, 0]
    assert cells["SD of site intercepts (m/s)"] == "0.050"
    assert cells["SD of patient intercepts (m/s)"] == "0.210 (0.180 to 0.240)"
    assert cells["Between-site share of variance at onset"] == "0.040"


def test_the_three_level_sentence_carries_the_fits_warning_only_when_there_was_one():
    plain = str(ss.trajectory_text(_analysis()))
    assert "SD of 0.050 m/s" in plain and "4.0% of the variance" in plain and "warning" not in plain
    warned = str(ss.trajectory_text(_analysis(warned=("ConvergenceWarning",))))
    assert "The fit gave a warning (ConvergenceWarning)" in warned


def test_every_section_says_not_shown_when_its_analysis_failed():
    sa = _analysis(comparison=False, trajectory=False)
    for fn in (lambda: ss.oe_table(sa, H12), lambda: ss.rank_table(sa), lambda: ss.rank_figure(sa), lambda: ss.funnel_figure(sa),
               lambda: ss.dispersion_text(sa), lambda: ss.trajectory_table(sa), lambda: ss.trajectory_text(sa),
               lambda: ss.adherence_table(sa)):
        out = fn()
        assert not isinstance(out, (ReleasedTable, ReleasedFigure))
        assert "not shown" in str(out)


def test_the_sites_sentence_gives_each_sites_patients_once():
    text = str(ss.sites_text(_analysis()))
    assert text == "The report compares 4 sites; patients per site: S01 (40), S02 (25), S03 (60), S04 (33)."
