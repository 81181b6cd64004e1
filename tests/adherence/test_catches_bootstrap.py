"""The per-protocol bootstrap resamples patients with their own episodes (kills the surviving
perprotocol.py:419 mutant, whose resampled episodes belonged to other patients)."""

from __future__ import annotations

import importlib

import numpy as np

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.adherence import itt_per_protocol

pp = importlib.import_module("footdrop_outcomes.adherence.perprotocol")


def test_every_resample_keeps_each_patients_own_episodes(monkeypatch):
    cohort = simulate_cohort(400, seed=8)
    seen, full = [], {}
    real = pp._estimate

    def spy(fb, eb, *, sandwich, **options):
        if "out" not in full:  # the first call: the fit on the data themselves
            full["ep"] = eb.copy()
            full["out"] = real(fb, eb, sandwich=sandwich, **options)
            return full["out"]
        # a bootstrap resample: record it (no refit needed to check what it holds)
        seen.append((fb["patient_id"].astype(str).to_numpy(), eb[["cluster", "patient_id", "start"]].copy()))
        est, info = full["out"]
        return {k: (b + 0.01 * len(seen), se, fx) for k, (b, se, fx) in est.items()}, info

    monkeypatch.setattr(pp, "_estimate", spy)
    itt_per_protocol(cohort, se="bootstrap", n_boot=20, seed=1)
    assert len(seen) == 20 and "ep" in full
    per_patient = full["ep"].groupby(full["ep"]["patient_id"].astype(str))["start"].apply(lambda s: tuple(np.sort(s.to_numpy())))
    for ids, eb in seen:
        # the episodes of resampled patient k are those of the patient drawn, all of them, in order
        assert (eb["patient_id"].astype(str).to_numpy() == ids[eb["cluster"].to_numpy()]).all()
        got = eb.groupby("cluster")["start"].apply(lambda s: tuple(np.sort(s.to_numpy())))
        assert all(got.loc[k] == per_patient.loc[ids[k]] for k in got.index[:200])
