"""The cohort a report is written from: no group of 1 to threshold patients in it.

A curve, median, share, landmark estimate or model contrast of a group of 3 patients tells a
reader about those 3 people, whatever table it appears in. Rather than asking every table to
remember that, :func:`release_cohort` leaves the patients of such groups out *before any
analysis runs*, for every grouping a report uses (:data:`PROTECTED_GROUPS`). Leaving out one
group can make another small (the last 4 smokers were all ALS patients), so it repeats until no
group is small. The groups left out are named (never counted) on the report's pages.

>>> from footdrop_outcomes import simulate_cohort
>>> from footdrop_outcomes.release import ReleasePolicy
>>> rc = release_cohort(simulate_cohort(300, seed=1), ReleasePolicy(10))
>>> sizes = rc.cohort.patients["cause"].astype(str).value_counts()
>>> bool(((sizes >= 1) & (sizes <= 10)).any())
False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from footdrop_outcomes.release.policy import ReleaseError, ReleasePolicy, TooFewToRelease

__all__ = ["PROTECTED_GROUPS", "ReleasedCohort", "release_cohort"]

#: Patient columns whose levels are the groups a report is organised by (its curves, medians,
#: landmark tables and per-group models): their small groups are left out with their patients.
#: Other groupings (interventions, covariate levels, sites) stay in the analysis and are masked
#: where they are shown (table cells, model terms and figure groups by their support): leaving
#: patients out for every small covariate level would empty a real cohort of 120 patients.
PROTECTED_GROUPS: tuple[str, ...] = ("cause", "severity")


@dataclass(frozen=True)
class ReleasedCohort:
    """A cohort without small groups.

    Attributes
    ----------
    cohort : Cohort
        The patients kept (every level of every protected column has 0 or more than
        ``policy.threshold`` patients), with their visits and adherence weeks.
    left_out : dict
        Column -> levels whose patients were left out (levels only, never how many).
    policy : ReleasePolicy
    """

    cohort: Any
    policy: ReleasePolicy
    left_out: dict[str, list[str]] = field(default_factory=dict)

    def left_out_text(self, labels: dict[str, str] | None = None) -> str | None:
        """One sentence naming the groups left out (None when none was), e.g. for the title page."""
        if not self.left_out:
            return None
        labels = {"True": "yes", "False": "no", **(labels or {})}
        parts = [f"{col.replace('_', ' ')} " + (", ".join(labels.get(v, v.replace("_", " ")) for v in levels) if col != "site"
                                                 else "(the smallest sites; site codes are not listed)")
                 for col, levels in self.left_out.items()]
        return (f"Groups of {self.policy.threshold} or fewer patients are left out of every table, figure and sentence of "
                f"this report, with their patients: {'; '.join(parts)}.")


def release_cohort(cohort: Any, policy: ReleasePolicy, *, by: tuple[str, ...] = PROTECTED_GROUPS) -> ReleasedCohort:
    """Leave out the patients of every group of 1 to ``policy.threshold`` patients.

    Parameters
    ----------
    cohort : Cohort
    policy : ReleasePolicy
    by : tuple of str
        Patient columns whose levels are groups (those missing from the cohort are skipped).

    Returns
    -------
    ReleasedCohort

    Raises
    ------
    ReleaseError
        ``policy`` is not a ReleasePolicy, or after leaving out small groups no more than
        ``threshold`` patients remain (the report cannot be released).
    """
    if not isinstance(policy, ReleasePolicy):
        raise ReleaseError(f"release_cohort needs a ReleasePolicy, got {type(policy).__name__}")
    p = cohort.patients
    keep = pd.Series(True, index=p.index)
    left: dict[str, list[str]] = {}
    cols = [c for c in by if c in p.columns]
    for _ in range(len(cols) * max(len(p), 1) + 1):
        changed = False
        for col in cols:
            values = p.loc[keep, col].astype(str)
            sizes = values.value_counts()
            small = sorted(str(v) for v, n in sizes.items() if policy.is_small(n))
            if small:
                left.setdefault(col, [])
                left[col] = sorted(set(left[col]) | set(small))
                keep &= ~p[col].astype(str).isin(small)
                changed = True
        if not changed:
            break
    n = int(keep.sum())
    if n <= policy.threshold:
        raise TooFewToRelease(f"after leaving out causes and severity groups of {policy.threshold} or fewer patients, "
                              f"{policy.threshold} or fewer patients remain, so no result of this cohort can be released")
    if n == len(p):
        return ReleasedCohort(cohort=cohort, policy=policy, left_out={})
    sub = cohort.subset(patients=keep.to_numpy())
    meta = dict(sub.metadata)
    meta["subset"] = list(cohort.metadata.get("subset", []))  # how many were left out is not written down
    meta["release"] = {"threshold": policy.threshold, "left_out": left}
    sub = type(sub)(sub.patients, sub.visits, sub.adherence, metadata=meta, truth=sub.truth, source=cohort.source)
    return ReleasedCohort(cohort=sub, policy=policy, left_out=left)
