"""Released tables, sentences and figures: the only objects a report page accepts.

Each is made by a ``release_*`` function from the content and its *support*, the number of
patients behind it (per row, per cell, per sentence, per curve). A statistic whose support is
1 to the threshold is masked (tables), withheld (sentences) or refused (figures: leave the group
out before drawing). The classes cannot be made any other way.

>>> import pandas as pd
>>> p = ReleasePolicy(10)
>>> t = release_table(pd.DataFrame({"Group": ["a", "b"], "Median": ["4.0", "6.5"]}), p, support=[40, 3], keep=["Group"])
>>> t.frame["Median"].tolist()
['4.0', '-']
>>> str(release_text("ALS: median 12 weeks.", p, support=3))
'Not shown: based on 10 or fewer patients.'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.release.policy import ReleaseError, ReleasePolicy

__all__ = ["ReleasedTable", "ReleasedText", "ReleasedFigure", "release_table", "release_text", "release_figure", "term_support", "MASK"]

#: What a masked table cell shows.
MASK = "-"
_KEY = object()


class ReleasedTable:
    """A table of text cells that passed release control (make it with :func:`release_table`).

    Attributes
    ----------
    frame : pandas.DataFrame
        The cells as shown (text; masked cells are :data:`MASK`).
    masked : pandas.DataFrame
        True where a cell was masked because its support is 1..threshold.
    policy : ReleasePolicy
    """

    __slots__ = ("frame", "masked", "policy")

    def __init__(self, frame: pd.DataFrame, masked: pd.DataFrame, policy: ReleasePolicy, *, _key: object = None) -> None:
        if _key is not _KEY:
            raise ReleaseError("a ReleasedTable is made by footdrop_outcomes.release.release_table, not directly")
        self.frame, self.masked, self.policy = frame, masked, policy

    def __repr__(self) -> str:
        return f"ReleasedTable({self.frame.shape[0]} rows x {self.frame.shape[1]} columns, {int(self.masked.to_numpy().sum())} masked)"


class ReleasedText(str):
    """A sentence or Markdown block that passed release control (make it with :func:`release_text`).
    A ``str``; ``withheld`` is True when it replaced text derived from a small group."""

    withheld: bool
    policy: ReleasePolicy

    def __new__(cls, text: str, policy: ReleasePolicy, withheld: bool = False, *, _key: object = None) -> ReleasedText:
        if _key is not _KEY:
            raise ReleaseError("a ReleasedText is made by footdrop_outcomes.release.release_text, not directly")
        obj = super().__new__(cls, text)
        obj.withheld = withheld
        obj.policy = policy
        return obj


class ReleasedFigure:
    """A matplotlib Figure whose every drawn group is above the threshold (from :func:`release_figure`)."""

    __slots__ = ("figure", "policy")

    def __init__(self, figure: Any, policy: ReleasePolicy, *, _key: object = None) -> None:
        if _key is not _KEY:
            raise ReleaseError("a ReleasedFigure is made by footdrop_outcomes.release.release_figure, not directly")
        self.figure, self.policy = figure, policy


def _check_policy(policy: Any) -> ReleasePolicy:
    if not isinstance(policy, ReleasePolicy):
        raise ReleaseError(f"release needs a ReleasePolicy, got {type(policy).__name__}")
    return policy


def _support_frame(support: Any, frame: pd.DataFrame) -> np.ndarray:
    shape = frame.shape
    if isinstance(support, pd.DataFrame):
        arr = support.to_numpy()
    elif np.isscalar(support):
        arr = np.full(shape, support)
    else:
        arr = np.asarray(list(support) if not isinstance(support, (np.ndarray, pd.Series)) else support)
        if arr.ndim == 1:
            if len(arr) != shape[0]:
                raise ReleaseError(f"release_table: support has {len(arr)} entries for a table of {shape[0]} rows")
            arr = np.repeat(arr.reshape(-1, 1), shape[1], axis=1)
    if arr.shape != shape:
        raise ReleaseError(f"release_table: support of shape {arr.shape} for a table of shape {shape}")
    out = pd.DataFrame(arr).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(out).any():
        raise ReleaseError("release_table: every cell needs a support (number of patients behind it)")
    return out


def release_table(df: pd.DataFrame, policy: ReleasePolicy, *, support: Any, keep: Sequence[str] = ()) -> ReleasedTable:
    """Release a table of text cells.

    Parameters
    ----------
    df : pandas.DataFrame
        Cells already formatted as text (a raw number is refused: format it first).
    policy : ReleasePolicy
    support : int, sequence (one per row) or DataFrame (one per cell)
        Patients behind each statistic. Cells with support 1..threshold are masked.
    keep : sequence of str
        Label columns never masked (group names, term names; no data-derived numbers in them).

    Returns
    -------
    ReleasedTable

    Raises
    ------
    ReleaseError
        A cell that is not text, a support of the wrong shape or missing, or a label column missing.
    """
    policy = _check_policy(policy)
    if not isinstance(df, pd.DataFrame):
        raise ReleaseError(f"release_table needs a DataFrame, got {type(df).__name__}")
    for col in df.columns:
        bad = [i for i, v in enumerate(df[col].tolist()) if not isinstance(v, str)]
        if bad:
            raise ReleaseError(f"release_table: column {col!r}, row {bad[0]}: not text; format numbers before release")
    missing = [c for c in keep if c not in df.columns]
    if missing:
        raise ReleaseError(f"release_table: label columns {missing} not in the table")
    sup = _support_frame(support, df)
    small = (sup >= 1) & (sup <= policy.threshold)
    keep_mask = np.array([c in keep for c in df.columns])
    small[:, keep_mask] = False
    masked = pd.DataFrame(small, index=df.index, columns=df.columns)
    frame = df.copy().astype(object).where(~masked, MASK)
    return ReleasedTable(frame, masked, policy, _key=_KEY)


def release_text(text: str, policy: ReleasePolicy, *, support: int | Iterable[int] | None,
                 replacement: str | None = None) -> ReleasedText:
    """Release a sentence (or Markdown block).

    Parameters
    ----------
    text : str
    policy : ReleasePolicy
    support : int, iterable of int or None
        Patients behind each number in the text (e.g. the size of every group the sentence
        names). ``None`` only for text that states no number derived from the data.
    replacement : str, optional
        Shown instead when some support is 1..threshold (default: "Not shown: based on N or
        fewer patients."); ``""`` drops the text.

    Returns
    -------
    ReleasedText
    """
    policy = _check_policy(policy)
    if not isinstance(text, str):
        raise ReleaseError(f"release_text needs a str, got {type(text).__name__}")
    sizes = [] if support is None else ([support] if np.isscalar(support) else list(support))  # type: ignore[arg-type]
    if support is None and re.search(r"\d", text):
        raise ReleaseError("release_text: text with numbers needs a support (the patients behind them)")
    if any(policy.is_small(n) for n in sizes):
        msg = f"Not shown: based on {policy.threshold} or fewer patients." if replacement is None else replacement
        return ReleasedText(msg, policy, True, _key=_KEY)
    return ReleasedText(text, policy, False, _key=_KEY)


def release_figure(fig: Any, policy: ReleasePolicy, *, support: int | Mapping[str, int]) -> ReleasedFigure:
    """Release a figure: every group it draws (``support``: group -> patients, or the patients
    behind the whole figure) must be above the threshold.

    Raises
    ------
    ReleaseError
        A drawn group of 1..threshold patients (names the group): leave it out before drawing.
    """
    policy = _check_policy(policy)
    fig = getattr(fig, "figure", fig)
    if not hasattr(fig, "savefig"):
        raise ReleaseError(f"release_figure needs a matplotlib Figure, got {type(fig).__name__}")
    sizes = {"(figure)": support} if np.isscalar(support) else dict(support)  # type: ignore[arg-type]
    small = [str(g) for g, n in sizes.items() if policy.is_small(n)]
    if small:
        import matplotlib.pyplot as plt

        plt.close(fig)
        raise ReleaseError(f"release_figure: the figure draws groups of {policy.threshold} or fewer patients ({', '.join(small)}); "
                           "leave them out before drawing")
    return ReleasedFigure(fig, policy, _key=_KEY)


_LEVEL = re.compile(r"^(?:C\()?(\w+)\)?\[(?:T\.)?([^\]]+)\]")


def term_support(term: str, frame: pd.DataFrame) -> int:
    """Patients behind a model term: for a factor level (``cause[stroke]``, ``C(afo)[T.rigid]``,
    ``C(severity)[T.severe]:week``) the patients at that level, else all patients in ``frame``.

    >>> import pandas as pd
    >>> f = pd.DataFrame({"cause": ["a", "a", "b"]})
    >>> term_support("cause[b]", f), term_support("age", f)
    (1, 3)
    """
    m = _LEVEL.match(term)
    if m and m.group(1) in frame.columns:
        col = frame[m.group(1)]
        level = m.group(2)
        values = col.astype(str)
        if level in ("True", "1", "1.0") and set(values.unique()) <= {"True", "False", "1", "0", "1.0", "0.0"}:
            return int(values.isin(["True", "1", "1.0"]).sum())
        return int((values == level).sum())
    if term in frame.columns and frame[term].nunique(dropna=True) == 2:
        return int(frame[term].value_counts().min())  # a yes/no term contrasts the smaller of its two groups
    return len(frame)
