"""The release-control layer: masking by support, the page gate, the threshold floor, the stamp.

That every view a shipped notebook shows is released is checked by rendering them
(``test_no_small_numbers.py``): the page functions refuse anything else."""

from __future__ import annotations

import re

import dataclasses

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.release import (
    MASK,
    MIN_THRESHOLD,
    NOT_FOR_RELEASE,
    TooFewToRelease,
    PROTECTED_GROUPS,
    ReleasedFigure,
    ReleasedTable,
    ReleasedText,
    ReleaseError,
    ReleasePolicy,
    release_cohort,
    release_figure,
    release_table,
    release_text,
    term_support,
)
from footdrop_outcomes.report import counts
from footdrop_outcomes.report import notebook as nbh


@pytest.fixture(autouse=True)
def _default_policy():
    counts.set_threshold(10)
    yield
    counts.set_threshold(10)


def test_masking_follows_the_support_of_each_cell():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"Group": list("abcdefgh"), "Median": [f"{x:.1f}" for x in rng.uniform(1, 50, 8)],
                       "Share": [f"{x:.0f}%" for x in rng.uniform(0, 100, 8)]})
    support = [0, 1, 5, 10, 11, 12, 40, 3]
    for t in (5, 10, 11):
        out = release_table(df, ReleasePolicy(t), support=support, keep=["Group"])
        small = [1 <= n <= t for n in support]
        assert out.masked["Median"].tolist() == small and out.masked["Share"].tolist() == small
        assert (out.frame.loc[small, ["Median", "Share"]] == MASK).all().all()
        assert (out.frame.loc[[not s for s in small], "Median"] == df.loc[[not s for s in small], "Median"]).all()
        assert out.frame["Group"].tolist() == df["Group"].tolist()  # labels are never masked
    # per-cell support
    cell = pd.DataFrame({"Group": [50] * 8, "Median": [50] * 7 + [2], "Share": [2] + [50] * 7})
    out = release_table(df, ReleasePolicy(), support=cell)
    assert out.frame.loc[7, "Median"] == MASK and out.frame.loc[0, "Share"] == MASK and out.frame.loc[0, "Median"] != MASK


def test_release_table_refuses_raw_numbers_and_bad_support():
    df = pd.DataFrame({"Group": ["a"], "n": [3]})
    with pytest.raises(ReleaseError, match="column 'n', row 0: not text") as e:
        release_table(df, ReleasePolicy(), support=[40])
    assert "3" not in str(e.value).replace("0: not", "")  # no value of the data in the message
    ok = pd.DataFrame({"Group": ["a", "b"], "x": ["1", "2"]})
    with pytest.raises(ReleaseError, match="support has 3 entries"):
        release_table(ok, ReleasePolicy(), support=[40, 40, 40])
    with pytest.raises(ReleaseError, match="needs a support"):
        release_table(ok, ReleasePolicy(), support=[40, None])
    with pytest.raises(ReleaseError, match="ReleasePolicy"):
        release_table(ok, 10, support=40)  # type: ignore[arg-type]


def test_text_is_withheld_when_any_group_behind_it_is_small():
    p = ReleasePolicy()
    assert release_text("Median 12 weeks.", p, support=[40, 11]) == "Median 12 weeks."
    held = release_text("ALS: median 12 weeks.", p, support=[40, 3])
    assert held.withheld and "12" not in held and "10 or fewer" in held
    assert release_text("x 1", p, support=4, replacement="") == ""
    with pytest.raises(ReleaseError, match="needs a support"):
        release_text("2 patients died.", p, support=None)
    assert release_text("No numbers here.", p, support=None) == "No numbers here."


def test_figures_drawing_a_small_group_are_refused():
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    assert isinstance(release_figure(fig, ReleasePolicy(), support={"a": 40, "b": 11}), ReleasedFigure)
    fig2, _ = plt.subplots()
    with pytest.raises(ReleaseError, match=r"groups of 10 or fewer patients \(b\)"):
        release_figure(fig2, ReleasePolicy(), support={"a": 40, "b": 7})
    assert not plt.fignum_exists(fig2.number)  # closed, so it cannot be shown by accident
    plt.close("all")


def test_released_objects_cannot_be_made_directly():
    p = ReleasePolicy()
    with pytest.raises(ReleaseError):
        ReleasedTable(pd.DataFrame(), pd.DataFrame(), p)
    with pytest.raises(ReleaseError):
        ReleasedText("2 patients died", p)
    with pytest.raises(ReleaseError):
        ReleasedFigure(object(), p)


def test_the_page_functions_refuse_anything_unreleased():
    import matplotlib.pyplot as plt

    df = pd.DataFrame({"Group": ["a"], "Deaths": ["2"]})
    with pytest.raises(ReleaseError, match="show_table shows released objects only .*not a DataFrame"):
        nbh.show_table(df, "Table 1")
    with pytest.raises(ReleaseError, match="not a Styler"):
        nbh.show_table(df.style, "Table 1")
    with pytest.raises(ReleaseError, match="markdown shows released objects only"):
        nbh.markdown("2 patients died.")
    with pytest.raises(ReleaseError, match="bullets shows released objects only"):
        nbh.bullets([counts.static("fine"), "2 patients died."])
    fig, _ = plt.subplots()
    with pytest.raises(ReleaseError, match="show_figure shows released objects only"):
        nbh.show_figure(fig)
    assert not plt.fignum_exists(fig.number)


def test_model_terms_of_small_levels_are_masked():
    """On a cohort that was NOT released, a model contrast of a small level is masked by its support."""
    from footdrop_outcomes.report import trajectory_section as ts

    cohort = simulate_cohort(300, 1, progress=False)  # ALS: 10 patients
    n_als = int((cohort.patients["cause"].astype(str) == "als").sum())
    assert 1 <= n_als <= 10
    traj = ts.analyse_trajectories(cohort)
    t = ts.fixed_effects_table(traj).frame.set_index("Term")
    als_rows = [r for r in t.index if "ALS" in r]
    assert als_rows and (t.loc[als_rows] == MASK).all().all()
    assert (t.drop(index=als_rows) != MASK).any(axis=1).all()
    assert term_support("cause[als]", cohort.patients) == n_als
    assert term_support("C(afo)[T.rigid]", cohort.patients) == int((cohort.patients["afo"].astype(str) == "rigid").sum())
    assert term_support("diabetes", cohort.patients) == int(cohort.patients["diabetes"].value_counts().min())


def test_release_cohort_leaves_no_small_group_and_names_what_it_left_out():
    rng = np.random.default_rng(3)
    for seed in range(2):
        cohort = simulate_cohort(200, seed, progress=False)
        # make a cause and an orthosis type small
        p = cohort.patients
        drop = p.index[(p["cause"].astype(str) == "stroke")][int(rng.integers(1, 12)):]
        keep = ~p.index.isin(drop)
        cohort = cohort.subset(patients=keep)
        for t in (5, 10):
            rc = release_cohort(cohort, ReleasePolicy(t))
            q = rc.cohort.patients
            for col in PROTECTED_GROUPS:
                sizes = q[col].astype(str).value_counts()
                assert not ((sizes >= 1) & (sizes <= t)).any(), (seed, t, col)
            n_stroke = int((cohort.patients["cause"].astype(str) == "stroke").sum())
            assert ("stroke" in rc.left_out.get("cause", [])) == (n_stroke <= t)
            sentence = rc.left_out_text({"stroke": "Stroke"}) or ""
            assert not re.search(r"\d", sentence.replace(f"{t} or fewer", ""))  # levels named, never counted
            assert "subset" not in rc.cohort.metadata or rc.cohort.metadata["subset"] == cohort.metadata.get("subset", [])
    with pytest.raises(TooFewToRelease, match="no result of this cohort can be released"):
        release_cohort(simulate_cohort(30, 1, progress=False), ReleasePolicy(10))


def test_the_floor_and_internal_use():
    assert MIN_THRESHOLD == 5 and ReleasePolicy().threshold == 10 and ReleasePolicy().stamp is None
    for t in (1, 4):
        with pytest.raises(ReleaseError, match="below the minimum of 5"):
            ReleasePolicy(t)
        assert ReleasePolicy(t, internal_use=True).stamp == NOT_FOR_RELEASE
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ReleaseError):
            ReleasePolicy(bad)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ReleasePolicy().threshold = 1  # type: ignore[misc]  # frozen
    with pytest.raises(ReleaseError):
        counts.set_threshold(3)
    counts.set_threshold(3, internal_use=True)
    assert counts.get_threshold() == 3 and "NOT FOR RELEASE" in narrative_small_cell()


def narrative_small_cell() -> str:
    from footdrop_outcomes.report.narrative import small_cell_text

    return str(small_cell_text())


def test_internal_use_stamps_every_page(tmp_path):
    """A threshold under 5 is possible only from Python with internal_use, and then every page of
    the PDF says NOT FOR RELEASE (and the title page says why)."""
    from pypdf import PdfReader

    from footdrop_outcomes.report import ReportParameterError, render_report

    cohort = simulate_cohort(150, 2, progress=False).save(tmp_path / "cohort")
    with pytest.raises(ReportParameterError, match="below the minimum of 5"):
        render_report("cohort_overview", tmp_path / "x.pdf", cohort=cohort, parameters={"small_cell_threshold": "3"}, from_text=True)
    assert not (tmp_path / "x.pdf").exists()
    res = render_report("cohort_overview", tmp_path / "internal.pdf", cohort=cohort,
                        parameters={"small_cell_threshold": 3, "internal_use": True})
    pages = [" ".join((p.extract_text() or "").split()) for p in PdfReader(res.pdf).pages]
    assert len(pages) >= 3
    assert all("NOT FOR RELEASE" in p for p in pages)
    assert "internal use only, small-cell threshold 3 is below the minimum for release" in pages[0]
    assert "≤3" in " ".join(pages) and "≤10" not in " ".join(pages)
