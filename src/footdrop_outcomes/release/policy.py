"""The release policy: which groups are too small for any number derived from them to leave.

>>> ReleasePolicy().threshold, ReleasePolicy().stamp
(10, None)
>>> ReleasePolicy(3, internal_use=True).stamp
'NOT FOR RELEASE'
"""

from __future__ import annotations

from dataclasses import dataclass

from footdrop_outcomes.errors import ConfigError
from footdrop_outcomes.release.suppression import DEFAULT_THRESHOLD

__all__ = ["ReleasePolicy", "ReleaseError", "TooFewToRelease", "MIN_THRESHOLD", "NOT_FOR_RELEASE", "DEFAULT_THRESHOLD"]

#: The lowest threshold a report can be released with (the command line and report parameters
#: cannot go under it; a lower one needs ``internal_use=True`` and stamps every page).
MIN_THRESHOLD = 5
#: The stamp on every page of a report built for internal use.
NOT_FOR_RELEASE = "NOT FOR RELEASE"


class ReleaseError(ConfigError):
    """Something tried to leave the release-control layer without being released, or a policy is
    not allowed (names the object or the option, never a value of the data)."""


class TooFewToRelease(ReleaseError):
    """After leaving out the small groups, no more than the threshold of patients remain: nothing
    of the cohort can be released (a report then says so on its pages instead of failing)."""


@dataclass(frozen=True)
class ReleasePolicy:
    """Small-cell rules of one report.

    Parameters
    ----------
    threshold : int
        Groups of 1 to ``threshold`` patients are small: no count, share, median, curve, CI or
        model estimate derived from one is shown (default 10).
    internal_use : bool
        Allows a ``threshold`` below :data:`MIN_THRESHOLD` (down to 1); every page of such a
        report is stamped "NOT FOR RELEASE". Only from Python, never from the command line.
    round_to : int
        Numbers at risk under curves are rounded to a multiple of this.

    Raises
    ------
    ReleaseError
        ``threshold`` not a whole number >= 1, or below :data:`MIN_THRESHOLD` without
        ``internal_use``.
    """

    threshold: int = DEFAULT_THRESHOLD
    internal_use: bool = False
    round_to: int = 5

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ReleaseError(f"small-cell threshold must be a whole number >= 1, got {t!r}")
        if t < MIN_THRESHOLD and not self.internal_use:
            raise ReleaseError(f"small-cell threshold {t} is below the minimum of {MIN_THRESHOLD} for a report that can be released; "
                               f"a lower threshold is for internal use only (ReleasePolicy(..., internal_use=True), from Python), "
                               f"and stamps every page '{NOT_FOR_RELEASE}'")
        if not isinstance(self.round_to, int) or self.round_to < 1:
            raise ReleaseError(f"round_to must be a whole number >= 1, got {self.round_to!r}")

    def is_small(self, n: object) -> bool:
        """True for a group (or count) of 1 to ``threshold`` patients."""
        return 1 <= int(n) <= self.threshold  # type: ignore[call-overload]

    @property
    def stamp(self) -> str | None:
        """``"NOT FOR RELEASE"`` for an internal-use policy, else None."""
        return NOT_FOR_RELEASE if self.internal_use else None
