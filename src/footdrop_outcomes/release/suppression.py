"""Small-cell protection: one utility for every count the toolkit publishes.

:func:`suppress_counts` protects a table of counts (a one-way ``Series`` or a two-way
``DataFrame``) together with its row, column and grand totals:

1. **Primary suppression** hides every count from 1 to ``threshold`` (default 10), in the body
   and in the totals. Zeros are shown.
2. **Complementary suppression** hides further cells so that no hidden cell can be worked out
   from the totals. Write the table with its totals as an (R+1) x (C+1) array; negate the
   total row and column (but not the grand total) and every row and every column sums to
   zero. Hidden cells are the edges of a bipartite graph between row lines and column lines.
   A hidden cell is determined exactly by the published numbers if and only if it is a
   *bridge* of that graph (it lies on no cycle); on a cycle, adding +1, -1, +1 ... around it
   keeps every total. So while some hidden cell is a bridge, the cheapest path of published
   non-zero cells that closes a cycle through it is hidden as well (Dijkstra, cost = the count,
   so as few people as possible disappear from the table).
3. **Audit with non-negativity.** A cycle of small cells alone is not enough: counts cannot be
   negative, so a reader can bound every cell of a cycle of small counts inside 1..threshold.
   For each primary cell a linear program finds the smallest and largest value consistent with
   the published cells, the totals and non-negativity; while some primary cell is pinned inside
   1..threshold, the smallest published count above the threshold in its row or column is
   hidden too, and steps 2-3 repeat.

Totals are assumed known to a reader even when a table is printed without them (cohort sizes
are public elsewhere), so protection always covers them.

:func:`at_risk_labels` and :func:`format_count` do the same job for plot annotations (numbers
at risk under a survival curve), where counts are not cells of a two-way table.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd

from footdrop_outcomes.errors import ConfigError

__all__ = ["SuppressedCounts", "suppress_counts", "format_count", "at_risk_labels", "DEFAULT_THRESHOLD"]

#: Counts from 1 to this are never shown (a common rule for health statistics).
DEFAULT_THRESHOLD = 10
TOTAL = "Total"


@dataclass(frozen=True)
class SuppressedCounts:
    """A protected count table.

    Attributes
    ----------
    table : pandas.DataFrame
        The counts with ``Total`` row and column (when ``margins=True``), nullable ``Int64``;
        hidden cells are ``<NA>``. A ``Series`` input gives a one-column frame named ``count``.
    hidden : pandas.DataFrame
        ``True`` where a cell is hidden (same shape as ``table``).
    primary : pandas.DataFrame
        ``True`` where a cell is hidden because it is from 1 to ``threshold``.
    threshold : int
        The suppression threshold used.
    """

    table: pd.DataFrame
    hidden: pd.DataFrame
    primary: pd.DataFrame
    threshold: int

    @property
    def n_hidden(self) -> int:
        """Number of hidden cells (primary and complementary)."""
        return int(self.hidden.to_numpy().sum())

    def formatted(self, marker: str = "*") -> pd.DataFrame:
        """The table as text, ``marker`` in hidden cells (explain it in a footnote).

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.DataFrame({"a": [3, 40], "b": [50, 60]}, index=["x", "y"])
        >>> suppress_counts(t).formatted()
                a    b Total
        x       *    *    53
        y       *    *   100
        Total  43  110   153
        """
        text = self.table.astype("string").astype(object)
        return text.where(~self.hidden, marker)

    def footnote(self, marker: str = "*") -> str:
        """A sentence explaining the marker, for a caption or table note."""
        return (f"{marker} hidden to protect privacy: counts from 1 to {self.threshold}, and further counts "
                "from which they could be worked out.")


def _check_counts(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        raise ConfigError("suppress_counts needs at least one cell")
    arr = np.asarray(values, dtype="float64")
    if not np.isfinite(arr).all():
        raise ConfigError("suppress_counts: counts must not be missing or infinite (give 0 for empty cells)")
    if (arr < 0).any() or (np.round(arr) != arr).any():
        raise ConfigError("suppress_counts: counts must be whole numbers >= 0")
    return arr.astype(np.int64)


def _bridges(n_rows: int, n_cols: int, hidden: np.ndarray) -> list[tuple[int, int]]:
    """Hidden cells that lie on no cycle of the row-column graph of hidden cells."""
    n = n_rows + n_cols
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    edges = list(zip(*np.nonzero(hidden)))
    for k, (i, j) in enumerate(edges):
        adj[i].append((n_rows + j, k))
        adj[n_rows + j].append((i, k))
    disc = [-1] * n
    low = [0] * n
    out: list[tuple[int, int]] = []
    clock = 0
    for root in range(n):
        if disc[root] != -1 or not adj[root]:
            continue
        disc[root] = low[root] = clock
        clock += 1
        stack = [(root, -1, iter(adj[root]))]
        while stack:
            node, via, it = stack[-1]
            advanced = False
            for nxt, k in it:
                if k == via:
                    continue
                if disc[nxt] == -1:
                    disc[nxt] = low[nxt] = clock
                    clock += 1
                    stack.append((nxt, k, iter(adj[nxt])))
                    advanced = True
                    break
                low[node] = min(low[node], disc[nxt])
            if not advanced:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > disc[parent]:
                        out.append((int(edges[via][0]), int(edges[via][1])))
    return out


def _close_cycle(counts: np.ndarray, hidden: np.ndarray, cell: tuple[int, int], allow_zero: bool) -> list[tuple[int, int]] | None:
    """Cheapest set of published cells whose hiding puts ``cell`` on a cycle (None if impossible)."""
    n_rows, n_cols = counts.shape
    start, goal = n_rows + cell[1], cell[0]  # path from the cell's column back to its row
    dist = {start: 0.0}
    prev: dict[int, tuple[int, tuple[int, int]]] = {}
    heap = [(0.0, start)]
    while heap:
        d, node = heapq.heappop(heap)
        if d > dist.get(node, np.inf):
            continue
        if node == goal:
            break
        if node < n_rows:
            nbrs = [(n_rows + j, (node, j)) for j in range(n_cols)]
        else:
            nbrs = [(i, (i, node - n_rows)) for i in range(n_rows)]
        for nxt, c in nbrs:
            if c == cell:
                continue
            if hidden[c]:
                w = 1e-6
            elif counts[c] > 0:
                w = float(counts[c])
            elif allow_zero:
                w = 1e9
            else:
                continue
            nd = d + w
            if nd < dist.get(nxt, np.inf):
                dist[nxt] = nd
                prev[nxt] = (node, c)
                heapq.heappush(heap, (nd, nxt))
    if goal not in dist:
        return None
    path = []
    node = goal
    while node != start:
        node, c = prev[node]
        path.append(c)
    return [c for c in path if not hidden[c]]


def _pinned(counts: np.ndarray, hidden: np.ndarray, primary: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    """Primary cells whose every value consistent with the published cells, the totals and
    non-negativity lies in 1..``threshold`` (linear programs: min and max of each cell)."""
    from scipy.optimize import linprog

    cells = list(zip(*np.nonzero(hidden)))
    if not cells:
        return []
    pos = {c: k for k, c in enumerate(cells)}
    n_rows, n_cols = counts.shape
    eq, rhs = [], []
    # augmented table: the body cells of each line sum to its total (last row / column)
    for by_row, lines, size in ((True, range(n_rows), n_cols), (False, range(n_cols), n_rows)):
        for line in lines:
            a, b = np.zeros(len(cells)), 0.0
            for k in range(size):
                c = (line, k) if by_row else (k, line)
                sign = -1.0 if k == size - 1 else 1.0
                if hidden[c]:
                    a[pos[c]] += sign
                else:
                    b -= sign * counts[c]
            eq.append(a)
            rhs.append(b)
    out = []
    for c in cells:
        if not primary[c]:
            continue
        obj = np.zeros(len(cells))
        obj[pos[c]] = 1.0
        lo = linprog(obj, A_eq=np.array(eq), b_eq=np.array(rhs), bounds=(0, None), method="highs")
        hi = linprog(-obj, A_eq=np.array(eq), b_eq=np.array(rhs), bounds=(0, None), method="highs")
        top = np.inf if hi.status == 3 else -hi.fun
        if lo.status == 0 and lo.fun > 0.5 and top < threshold + 0.5:
            out.append((int(c[0]), int(c[1])))
    return out


def _widen(counts: np.ndarray, hidden: np.ndarray, cell: tuple[int, int], threshold: int) -> bool:
    """Hide the smallest published count above ``threshold`` in the row or column of ``cell``
    (so that the cell can be traded against a large count); False when there is none."""
    i, j = cell
    line = [(i, k) for k in range(counts.shape[1])] + [(k, j) for k in range(counts.shape[0])]
    options = [c for c in line if not hidden[c] and counts[c] > threshold]
    if not options:
        options = [c for c in zip(*np.nonzero(~hidden)) if counts[c] > threshold]
    if not options:
        return False
    hidden[min(options, key=lambda c: (counts[c], c))] = True
    return True


def _protect(counts: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Primary and complementary masks for an augmented table (body plus totals)."""
    primary = (counts >= 1) & (counts <= threshold)
    hidden = primary.copy()
    for _ in range(counts.size + 1):
        _close_all_cycles(counts, hidden)
        pinned = _pinned(counts, hidden, primary, threshold)
        if not pinned or not _widen(counts, hidden, pinned[0], threshold):
            break
    return primary, hidden


def _close_all_cycles(counts: np.ndarray, hidden: np.ndarray) -> None:
    """Hide further cells until no hidden cell is a bridge (so none follows exactly from the totals)."""
    for _ in range(counts.size + 1):
        bridges = _bridges(*counts.shape, hidden)
        if not bridges:
            break
        i, j = bridges[0]
        path = _close_cycle(counts, hidden, (i, j), allow_zero=False)
        if path is None:
            path = _close_cycle(counts, hidden, (i, j), allow_zero=True)
        if path is None:  # cannot happen: hiding everything always works for 2 x 2 and larger
            hidden[:] = True
            return
        for c in path:
            hidden[c] = True


def suppress_counts(
    table: pd.DataFrame | pd.Series,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    margins: bool = True,
) -> SuppressedCounts:
    """Hide small counts and every count that would let a reader work them out.

    Parameters
    ----------
    table : pandas.Series or pandas.DataFrame
        Counts (whole numbers >= 0) without totals: one-way (``Series``, e.g.
        ``patients["cause"].value_counts()``) or two-way (``DataFrame``, e.g. ``pd.crosstab``).
    threshold : int
        Counts from 1 to ``threshold`` are hidden (default 10; 0 hides nothing).
    margins : bool
        Include the ``Total`` row and column in the result. Protection always assumes the
        totals are known, whether shown or not.

    Returns
    -------
    SuppressedCounts
        ``.table`` (hidden cells ``<NA>``), ``.hidden``, ``.primary``, ``.formatted()``.

    Examples
    --------
    >>> import pandas as pd
    >>> from footdrop_outcomes import simulate_cohort
    >>> p = simulate_cohort(300, seed=1).patients
    >>> out = suppress_counts(pd.crosstab(p["cause"], p["sex"]))
    >>> bool(((out.table >= 1) & (out.table <= 10)).any().any())
    False
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 0:
        raise ConfigError(f"suppress_counts: threshold must be a whole number >= 0, got {threshold!r}")
    if isinstance(table, pd.Series):
        frame = table.to_frame(name=str(table.name) if table.name is not None else "count")
    elif isinstance(table, pd.DataFrame):
        frame = table
    else:
        raise ConfigError(f"suppress_counts: give a pandas Series or DataFrame of counts, not {type(table).__name__}")
    body = _check_counts(frame.to_numpy())
    full = np.zeros((body.shape[0] + 1, body.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = body
    full[:-1, -1] = body.sum(axis=1)
    full[-1, :-1] = body.sum(axis=0)
    full[-1, -1] = body.sum()
    primary, hidden = _protect(full, int(threshold))
    index = pd.Index(list(frame.index) + [TOTAL], name=frame.index.name)
    columns = pd.Index(list(frame.columns) + [TOTAL], name=frame.columns.name)
    values = pd.DataFrame(full, index=index, columns=columns).astype("Int64")
    hidden_df = pd.DataFrame(hidden, index=index, columns=columns)
    primary_df = pd.DataFrame(primary, index=index, columns=columns)
    values = values.mask(hidden_df)
    if not margins:
        values, hidden_df, primary_df = (x.iloc[:-1, :-1] for x in (values, hidden_df, primary_df))
    return SuppressedCounts(table=values, hidden=hidden_df, primary=primary_df, threshold=int(threshold))


def format_count(n: int, threshold: int = DEFAULT_THRESHOLD) -> str:
    """One count as text for a plot or sentence: ``"<=10"`` style when from 1 to ``threshold``.

    Examples
    --------
    >>> format_count(0), format_count(7), format_count(42)
    ('0', '≤10', '42')
    """
    n = int(n)
    if n < 0:
        raise ConfigError(f"format_count: a count cannot be negative ({n})")
    return f"≤{threshold}" if 1 <= n <= threshold else str(n)


def at_risk_labels(
    counts: pd.Series | pd.DataFrame | np.ndarray | list[int],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    round_to: int = 5,
) -> pd.Series | pd.DataFrame | list[str]:
    """Labels for numbers at risk (or any running counts) under a plot.

    Numbers at risk fall over time, and the drop between two time points is the number of
    events plus censorings: if both were shown exactly, a drop of 3 would reveal 3 people. So
    counts above ``threshold`` are rounded to the nearest ``round_to`` (default 5; 1 turns
    rounding off) and counts from 1 to ``threshold`` are shown as ``≤threshold``.

    Parameters
    ----------
    counts : Series, DataFrame, array or list of int
        Numbers at risk, e.g. one column per group and one row per time point.
    threshold : int
        Counts from 1 to ``threshold`` are hidden.
    round_to : int
        Round shown counts to a multiple of this (a rounded count is never shown as a value
        from 1 to ``threshold``).

    Returns
    -------
    Same shape as ``counts``, as text.

    Examples
    --------
    >>> at_risk_labels([212, 150, 37, 9, 0])
    ['210', '150', '35', '≤10', '0']
    """
    if round_to < 1:
        raise ConfigError(f"at_risk_labels: round_to must be at least 1, got {round_to}")

    def one(n: object) -> str:
        if pd.isna(n):  # type: ignore[arg-type]
            return ""
        v = int(n)  # type: ignore[call-overload]
        if 1 <= v <= threshold:
            return f"≤{threshold}"
        r = int(round(v / round_to) * round_to) if v > 0 else 0
        # a count just above the threshold goes up to the first multiple of round_to above it
        # (showing it as threshold + 1 would be an unrounded count: 11 under a "rounded to 5" note)
        first = (threshold // round_to + 1) * round_to
        return str(max(r, first) if v > threshold else r)

    if isinstance(counts, pd.DataFrame):
        return counts.apply(lambda col: col.map(one))
    if isinstance(counts, pd.Series):
        return counts.map(one)
    return [one(n) for n in np.asarray(counts).ravel()]
