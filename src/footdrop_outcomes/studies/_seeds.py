"""Replicate seeds: from the master seed and the replicate index only.

The bottom of the studies package (imports nothing from it), so designs, analyses and the spec
can all use it without importing each other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["replicate_seed_sequence", "replicate_seed"]


def replicate_seed_sequence(seed: int, replicate: int) -> np.random.SeedSequence:
    """The seed sequence of one replicate: child ``replicate`` of ``SeedSequence(seed)``.

    >>> s = replicate_seed_sequence(7, 3)
    >>> bool((s.generate_state(2) == np.random.SeedSequence(7).spawn(4)[3].generate_state(2)).all())
    True
    """
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(int(replicate),))


def replicate_seed(seed: int, replicate: int) -> int:
    """An integer seed (63 bits) for one replicate, for functions that take an int seed."""
    return int(replicate_seed_sequence(seed, replicate).generate_state(1, np.uint64)[0] >> np.uint64(1))
