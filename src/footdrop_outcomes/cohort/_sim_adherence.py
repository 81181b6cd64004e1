"""Generator version 2: weekly adherence, the conservative recovery time that depends on it, device hours.

The fast samplers behind ``simulate_v2._simulate_chunk_v2`` (issue 14: one million patients in a
minute on a busy two-core machine). They draw from the same distributions as the dense sampler
of generator 2.0 (tested in ``tests/cohort/test_simulate_v2_sampler.py`` against statistics of
2.0 cohorts stored in ``tests/data``), but only the patient-weeks somebody looks at:

* a week's completed sessions are drawn only while the patient is in the adherence table, or
  while the conservative recovery time (whose hazard depends on the cumulative adherence of the
  weeks before) is not yet known. The weeks no table shows and no recovery time needs were
  drawn and thrown away before; they are independent of everything that is kept, so leaving
  them out changes no distribution, only the stream of random numbers;
* weeks are simulated in blocks of ``WEEK_BLOCK`` program weeks, each block for the patients
  still needing it, with the recovery search (exact inversion of the cumulative hazard, as
  before) carried from block to block;
* Binomial(k, p) sessions are sums of k Bernoulli draws, as before, against 32-bit uniform
  integers from the raw stream (half the cost of float32 uniforms), and each row gets only as
  many as it has sessions prescribed (a patient prescribed 7 sessions a week no longer consumes
  14 uniforms because others are prescribed 14);
* device hours are drawn for the rows with a device only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.special import expit

#: Program weeks simulated at once. Part of the generator: changing it changes the output for a seed.
WEEK_BLOCK = 8


def binomial_sessions(rng: np.random.Generator, per_week: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Completed sessions ~ Binomial(per_week[i], prob[i, w]) for every cell, as int8.

    A sum of ``per_week[i]`` Bernoulli sessions, each a 32-bit uniform integer ``U`` from the
    generator's raw stream compared with ``floor(p * 2**32)``: ``P(U < floor(p * 2**32))`` is
    ``p`` to within 2**-32 (the float32 uniforms of generator 2.0 had steps of 2**-24). Rows are
    grouped by their number of sessions: the first sessions are drawn for every row prescribed
    that many, the further ones only for rows prescribed more.

    Parameters
    ----------
    rng : numpy.random.Generator
    per_week : (m,) integer array, >= 0
    prob : (m, w) float32 array in [0, 1]
    """
    prob = prob.astype(np.float32, copy=False)
    # float32 times a power of two is exact; the cap keeps p = 1 inside uint32 (then P = 1 - 2**-24)
    threshold = np.minimum(prob * np.float32(2.0**32), np.float32(4294967040.0)).astype(np.uint32)
    out = np.zeros(prob.shape, dtype=np.int8)
    done = 0
    for level in np.unique(per_week):
        level = int(level)
        if level <= done:
            continue
        rows = np.flatnonzero(per_week >= level)
        every = rows.size == per_week.size
        thr = threshold if every else threshold[rows]
        sessions = level - done
        cells = sessions * thr.size
        uniforms = rng.bit_generator.random_raw(-(-cells // 2)).view(np.uint32)[:cells].reshape((sessions, *thr.shape))
        count = np.less(uniforms, thr[None], out=np.empty(uniforms.shape, dtype=bool)).sum(axis=0, dtype=np.int8)
        if every:
            out += count
        else:
            out[rows] += count
        done = level
    return out


def adherence_and_recovery(
    rng: np.random.Generator,
    *,
    n_prog: int,
    propensity: np.ndarray,
    decline_per_week: float,
    weekly_sd: float,
    exercise_offsets: Mapping[str, float],
    per_week: Mapping[str, np.ndarray],
    table_weeks: np.ndarray,
    seek: np.ndarray,
    e: np.ndarray,
    lp: np.ndarray,
    lam: np.ndarray,
    shape: float,
    gamma: float,
    reference: float,
    w0: np.ndarray,
    h0: np.ndarray,
    table_weeks_after_recovery: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[CompletedSessions, np.ndarray, np.ndarray]:
    """Weekly completed sessions and, for the patients in ``seek``, the conservative recovery time.

    Parameters
    ----------
    n_prog : int
        Program weeks (columns of the returned matrices).
    propensity, decline_per_week, weekly_sd, exercise_offsets
        The adherence model: logit P(session done) in program week w is ``propensity -
        decline_per_week * w + weekly_sd * N(0, 1)`` (one draw per patient-week) plus the
        exercise's offset.
    per_week : mapping of exercise to (n,) int8
        Sessions prescribed a week (the same every program week).
    table_weeks : (n,) int
        Leading program weeks the adherence table shows, for every patient not in ``seek``.
    seek : (n,) bool
        Patients whose recovery time is to be found in the program weeks (recovering, on the
        onset clock, cumulative hazard not reached before the program starts).
    e, lp, lam, shape, gamma, reference, w0, h0
        The recovery model: unit-exponential draw, log relative hazard without adherence,
        Weibull scale (weeks) and shape, log HR per unit of cumulative adherence, the adherence
        at which the scale applies, first program week (weeks since onset, float) and the
        cumulative hazard reached before it.
    table_weeks_after_recovery : callable
        ``f(rows, t_weeks)``: the table weeks of patients ``rows`` once their recovery time (weeks
        since onset) is known.

    Returns
    -------
    completed : CompletedSessions
        Drawn for every cell in the table (``completed.take(rows, weeks)[stem]``); zero elsewhere.
    t_weeks : (n,) float
        Recovery time in weeks since onset for ``seek`` patients, NaN for the others.
    table_weeks : (n,) int
        ``table_weeks`` completed with the seek patients' values.
    """
    n = propensity.size
    table_weeks = np.asarray(table_weeks, dtype=np.int64).copy()
    n_blocks = -(-n_prog // WEEK_BLOCK)
    # a block of 8 weeks of int8 counts is one uint64 per patient: rows are stored with a 1-d take
    blocks = {stem: np.zeros((n_blocks, n), dtype=np.uint64) for stem in per_week}
    total_per_week = sum(pw.astype(np.int64) for pw in per_week.values())  # sessions prescribed a week, all exercises
    open_ = seek.copy()  # recovery time not yet found
    table_weeks[seek] = 0
    t_weeks = np.full(n, np.nan)
    cum_p = np.zeros(n)
    cum_c = np.zeros(n)
    hazard = h0.astype(float).copy()  # cumulative hazard at the start of the next block
    for b in range(n_blocks):
        b0, b1 = b * WEEK_BLOCK, min((b + 1) * WEEK_BLOCK, n_prog)
        width = b1 - b0
        rows = np.flatnonzero((table_weeks > b0) | open_)
        if rows.size == 0:
            break
        weeks = np.arange(b0, b1, dtype=np.float32)
        logit_week = (propensity[rows].astype(np.float32)[:, None] - np.float32(decline_per_week) * weeks[None, :]
                      + np.float32(weekly_sd) * rng.standard_normal((rows.size, width), dtype=np.float32))
        tot_c = np.zeros((rows.size, width), dtype=np.int16)
        for stem, pw in per_week.items():
            prob = expit(logit_week + np.float32(exercise_offsets[stem]))
            c_mat = binomial_sessions(rng, pw[rows], prob)
            tot_c += c_mat
            if width < WEEK_BLOCK:  # the last, partial block
                c_mat = np.pad(c_mat, ((0, 0), (0, WEEK_BLOCK - width)))
            blocks[stem][b, rows] = c_mat.view(np.uint64).ravel()
        # recovery search, exact inversion of the cumulative hazard week by week (as generator 2.0)
        s = open_[rows]
        if not s.any():
            continue
        r = rows[s]
        tc = tot_c[s].astype(float)
        cp = cum_p[r, None] + total_per_week[r, None] * np.arange(width)[None, :]  # sessions prescribed in the weeks before each week
        cc = cum_c[r, None] + np.cumsum(tc, axis=1) - tc  # and completed
        exposure = np.divide(cc, cp, out=np.zeros_like(cc), where=cp > 0)
        mult = np.exp(lp[r, None] + gamma * (exposure - reference))
        edges = ((w0[r, None] + np.arange(b0, b1 + 1)[None, :]) / lam[r, None]) ** shape
        cum_h = hazard[r, None] + np.cumsum(mult * np.diff(edges, axis=1), axis=1)
        cross = cum_h >= e[r, None]
        hit = cross.any(axis=1)
        if hit.any():
            rh = r[hit]
            jj = cross[hit].argmax(axis=1)
            ar = np.arange(rh.size)
            h_before = np.where(jj > 0, cum_h[hit][ar, np.maximum(jj - 1, 0)], hazard[rh])
            mult_j = mult[hit][ar, jj]
            t = lam[rh] * (((w0[rh] + b0 + jj) / lam[rh]) ** shape + np.maximum(e[rh] - h_before, 0.0) / mult_j) ** (1 / shape)
            t_weeks[rh] = t
            table_weeks[rh] = table_weeks_after_recovery(rh, t)
            open_[rh] = False
        hazard[r] = cum_h[:, -1]
        cum_p[r] += total_per_week[r] * width
        cum_c[r] += tc.sum(axis=1)
    # not recovered within the program weeks: the hazard goes on at the final cumulative adherence
    r = np.flatnonzero(open_)
    if r.size:
        exposure_end = np.divide(cum_c[r], cum_p[r], out=np.zeros(r.size), where=cum_p[r] > 0)
        mult_end = np.exp(lp[r] + gamma * (exposure_end - reference))
        t = lam[r] * (((w0[r] + n_prog) / lam[r]) ** shape + np.maximum(e[r] - hazard[r], 0.0) / mult_end) ** (1 / shape)
        t_weeks[r] = t
        table_weeks[r] = table_weeks_after_recovery(r, t)
    return CompletedSessions({stem: b.view(np.int8).reshape(n_blocks, n, WEEK_BLOCK) for stem, b in blocks.items()}), t_weeks, table_weeks


class CompletedSessions:
    """Completed sessions of every exercise, stored by blocks of program weeks: ``take(rows, weeks)``."""

    def __init__(self, blocks: dict[str, np.ndarray]) -> None:
        self._blocks = blocks  # exercise -> (block, patient, week within block) int8

    def take(self, rows: np.ndarray, weeks: np.ndarray) -> dict[str, np.ndarray]:
        """The counts of the cells (rows[i], weeks[i]) of every exercise, int8 (0 where nothing was drawn)."""
        out: dict[str, np.ndarray] = {}
        flat = None
        for stem, blocks in self._blocks.items():
            if flat is None:
                n = blocks.shape[1]
                flat = (weeks // WEEK_BLOCK) * (n * WEEK_BLOCK) + rows * WEEK_BLOCK + weeks % WEEK_BLOCK
            out[stem] = blocks.ravel()[flat]
        return out


def device_hours(rng: np.random.Generator, n: int, has_afo: np.ndarray, fes: np.ndarray, propensity: np.ndarray, a_row: np.ndarray,
                 since: np.ndarray, afo_stop: np.ndarray, fes_stop: np.ndarray) -> dict[str, np.ndarray]:
    """Prescribed and worn AFO / FES hours of each adherence row (0 after the device is stopped).

    The model of ``simulate._device_hours`` (version 1), with the worn fraction drawn only for
    the rows of patients who have the device (the others are empty).
    """
    out: dict[str, np.ndarray] = {}
    for dev, has, choices, intercept, scale, cap, stop in (("afo", has_afo, (8.0, 10.0, 12.0), 0.3, 1.1, 1.15, afo_stop),
                                                          ("fes", fes, (4.0, 6.0, 8.0), 0.5, 1.05, 1.1, fes_stop)):
        prescribed = np.where(has, rng.choice(choices, n) * 7, np.nan).astype(np.float32)
        rows = np.flatnonzero(has[a_row])
        pr = a_row[rows]
        # worn / prescribed = min(expit(0.8 propensity + intercept + N(0, 0.5^2)) * scale, cap), while the device is used
        logit_mean = (np.float32(0.8) * propensity.astype(np.float32) + np.float32(intercept))[pr]
        frac = expit(logit_mean + np.float32(0.5) * rng.standard_normal(rows.size, dtype=np.float32))
        np.multiply(frac, np.float32(scale), out=frac)
        np.minimum(frac, np.float32(cap), out=frac)
        worn = np.round(frac * (2 * prescribed)[pr]) / 2  # to the half hour
        worn[since[rows] >= stop[pr]] = 0.0
        hours = np.full(a_row.size, np.nan, dtype=np.float32)
        hours[rows] = worn
        out[f"{dev}_hours_prescribed"] = prescribed[a_row]
        out[f"{dev}_hours"] = hours
    return {k: out[k] for k in ("afo_hours_prescribed", "afo_hours", "fes_hours_prescribed", "fes_hours")}
