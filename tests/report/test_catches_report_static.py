"""Text with no number from the data is released as it is; text with a number is refused
(issue 21: the mutation run over ``report/counts.py`` found that ``static`` returning nothing
passed every report-counting test, the fast ones used for the mutation run)."""

from __future__ import annotations

import pytest

from footdrop_outcomes.release import ReleasedText, ReleaseError
from footdrop_outcomes.report import counts


def test_static_text_is_released_unchanged_and_numbers_need_a_support():
    s = "Recovery was defined as MRC grade four or more at a visit."
    r = counts.static(s)
    assert isinstance(r, ReleasedText) and str(r) == s
    with pytest.raises(ReleaseError):
        counts.static("3 patients died")
