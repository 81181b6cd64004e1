"""Every count from 1 to the threshold is hidden, the smallest one included (issue 21).

The mutation run over ``release/suppression.py`` found that ``format_count`` with ``2 <= n`` in
place of ``1 <= n`` (a single patient printed as "1") passed every test: they checked 0, a
middle value, the threshold and one above it, never 1. The expected labels here are the
documented definition written out for every count from 0 to well above the threshold.
"""

from __future__ import annotations

import pytest

from footdrop_outcomes.privacy import at_risk_labels, format_count


@pytest.mark.parametrize("threshold", [5, 10, 11])
def test_format_count_hides_every_count_from_one_to_the_threshold(threshold):
    for n in range(3 * threshold + 1):
        expected = "0" if n == 0 else (f"≤{threshold}" if n <= threshold else str(n))
        assert format_count(n, threshold) == expected, n


@pytest.mark.parametrize(("threshold", "round_to"), [(5, 5), (10, 5), (10, 1), (11, 5), (10, 3)])
def test_at_risk_labels_hide_every_count_from_one_to_the_threshold(threshold, round_to):
    ns = list(range(4 * threshold + 1))
    labels = at_risk_labels(ns, threshold, round_to=round_to)
    for n, label in zip(ns, labels, strict=True):
        if n == 0:
            assert label == "0"
        elif n <= threshold:
            assert label == f"≤{threshold}", n
        else:  # a shown count: a multiple of round_to above the threshold, less than round_to away
            v = int(label)
            assert v % round_to == 0 and v > threshold and abs(v - n) < round_to, (n, label)
