"""Quasi-identifier risk: k-anonymity over age band, sex, site and cause.

A patient is *at risk* when fewer than ``k`` patients share their combination of quasi-
identifiers (someone who knows a neighbour's age band, sex, clinic and diagnosis could pick
out their row). The report never lists the combinations themselves, only how many classes
and patients are at risk, so it is itself safe to print.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from footdrop_outcomes.errors import ConfigError

__all__ = ["AGE_BANDS", "age_band", "top_code_ages", "KAnonymityReport", "kanonymity", "AGE_TOP_CODE"]

#: Ages at or above this are reported as this value ("90 or older"); see :func:`top_code_ages`.
AGE_TOP_CODE = 90
#: Lower edges of the age bands used as a quasi-identifier; the last band is open ("90+").
AGE_BANDS: tuple[int, ...] = (16, 30, 40, 50, 60, 70, 80, 90)
QUASI_IDENTIFIERS: tuple[str, ...] = ("age_band", "sex", "site", "cause")


def age_band(age: pd.Series) -> pd.Series:
    """Ten-year age bands: ``16-29``, ``30-39``, ..., ``80-89``, ``90+``.

    Examples
    --------
    >>> import pandas as pd
    >>> age_band(pd.Series([18, 45, 89, 95])).tolist()
    ['16-29', '40-49', '80-89', '90+']
    """
    edges = list(AGE_BANDS) + [np.inf]
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(AGE_BANDS[:-1], AGE_BANDS[1:])] + [f"{AGE_BANDS[-1]}+"]
    return pd.cut(age.astype("float64"), bins=edges, right=False, labels=labels).astype("string")


def top_code_ages(age: pd.Series, top: int = AGE_TOP_CODE) -> tuple[pd.Series, int]:
    """Replace ages of ``top`` and over by ``top`` (so 90 means "90 or older").

    Returns the new ages and how many were changed. :func:`import_cohort` applies it to every
    imported (real) cohort; simulated cohorts keep their ages (they describe no one).

    Examples
    --------
    >>> import pandas as pd
    >>> top_code_ages(pd.Series([45, 90, 97]))
    (0    45
    1    90
    2    90
    dtype: int64, 1)
    """
    values = pd.to_numeric(age, errors="coerce")
    over = values > top
    return age.where(~over, top).astype(age.dtype), int(over.sum())


@dataclass(frozen=True)
class KAnonymityReport:
    """k-anonymity of a patients table over quasi-identifiers.

    Attributes
    ----------
    k : int
        Classes with fewer than ``k`` patients are at risk.
    quasi_identifiers : tuple of str
    n_patients, n_classes, min_class_size : int
    n_classes_at_risk, n_patients_at_risk : int
    n_ages_over_top_code : int
        Ages above :data:`AGE_TOP_CODE` (not top-coded; real cohorts imported with
        ``footdrop-outcomes import`` have none).
    size_distribution : pandas.DataFrame
        Number of classes and patients by class size bucket (1, 2, 3-4, 5-10, 11+).
    """

    k: int
    quasi_identifiers: tuple[str, ...]
    n_patients: int
    n_classes: int
    min_class_size: int
    n_classes_at_risk: int
    n_patients_at_risk: int
    n_ages_over_top_code: int
    size_distribution: pd.DataFrame

    @property
    def share_at_risk(self) -> float:
        """Share of patients in classes smaller than ``k``."""
        return self.n_patients_at_risk / self.n_patients if self.n_patients else 0.0

    @property
    def is_k_anonymous(self) -> bool:
        """True when every class has at least ``k`` patients."""
        return self.n_classes_at_risk == 0

    def summary(self) -> str:
        """One sentence for a report or the CLI."""
        return (f"k-anonymity over ({', '.join(self.quasi_identifiers)}) with k={self.k}: {self.n_classes} classes, "
                f"smallest {self.min_class_size}; {self.n_classes_at_risk} classes with fewer than {self.k} patients "
                f"hold {self.n_patients_at_risk} of {self.n_patients} patients ({self.share_at_risk:.1%}).")


def kanonymity(patients: pd.DataFrame, *, k: int = 5, quasi_identifiers: tuple[str, ...] = QUASI_IDENTIFIERS) -> KAnonymityReport:
    """Report re-identification risk of a patients table as k-anonymity.

    Parameters
    ----------
    patients : pandas.DataFrame
        The patients table (``age`` is banded with :func:`age_band` for ``age_band``).
    k : int
        Smallest acceptable class size (default 5).
    quasi_identifiers : tuple of str
        Columns (or ``age_band``) that together could single a patient out.

    Returns
    -------
    KAnonymityReport

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> report = kanonymity(simulate_cohort(500, seed=3).patients, k=5)
    >>> report.n_patients, report.n_classes_at_risk > 0
    (500, True)
    """
    if k < 1:
        raise ConfigError(f"kanonymity: k must be at least 1, got {k}")
    cols = {}
    for q in quasi_identifiers:
        if q == "age_band":
            cols[q] = age_band(patients["age"]).fillna("missing").to_numpy()
        elif q in patients.columns:
            cols[q] = patients[q].astype("string").fillna("missing").to_numpy()
        else:
            raise ConfigError(f"kanonymity: quasi-identifier {q!r} is not a column of the patients table")
    frame = pd.DataFrame(cols)
    sizes = frame.groupby(list(quasi_identifiers), observed=True, sort=False).size().to_numpy() if len(frame) else np.array([], dtype=int)
    buckets = pd.cut(sizes, bins=[0, 1, 2, 4, 10, np.inf], labels=["1", "2", "3-4", "5-10", "11+"])
    dist = pd.DataFrame({"class_size": buckets, "patients": sizes}).groupby("class_size", observed=False).agg(
        classes=("patients", "size"), patients=("patients", "sum")).reset_index()
    dist["class_size"] = dist["class_size"].astype(str)
    at_risk = sizes < k
    n_over = int((pd.to_numeric(patients["age"], errors="coerce") > AGE_TOP_CODE).sum()) if "age" in patients else 0
    return KAnonymityReport(
        k=int(k),
        quasi_identifiers=tuple(quasi_identifiers),
        n_patients=len(frame),
        n_classes=int(sizes.size),
        min_class_size=int(sizes.min()) if sizes.size else 0,
        n_classes_at_risk=int(at_risk.sum()),
        n_patients_at_risk=int(sizes[at_risk].sum()),
        n_ages_over_top_code=n_over,
        size_distribution=dist,
    )
