"""The ``Cohort`` object: three validated tables, metadata and (for synthetic cohorts) the truth.

On disk a cohort is a directory::

    manifest.json        schema version, generator version, seed, config, row counts, SHA-256
    patients.parquet
    visits.parquet
    adherence.parquet
    truth_patients.parquet, truth_parameters.parquet   (synthetic cohorts only)

Writes are atomic: everything goes to a temporary directory beside the target, which is then
renamed into place, so an interrupted or refused write never leaves a half-written cohort.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from footdrop_outcomes._files import move_into_place
from footdrop_outcomes._files import sha256_file as _sha256
from footdrop_outcomes._version import __version__
from footdrop_outcomes.cohort.schema import SCHEMA_VERSION, TABLES, validate_tables
from footdrop_outcomes.errors import CohortIOError
from footdrop_outcomes.privacy.guard import check_privacy  # privacy guard: runs on every load (docs/privacy.md)

__all__ = ["Cohort", "CohortTruth", "load_cohort"]

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CohortTruth:
    """The true generative parameters and latent per-patient values of a synthetic cohort.

    Attributes
    ----------
    parameters : pandas.DataFrame
        Tidy table: ``component`` (e.g. ``recovery_latency``, ``recovery_incidence``,
        ``gait_speed``), ``term``, ``scale`` (e.g. ``log_hazard_ratio``, ``hazard_ratio``,
        ``time_ratio``, ``log_odds_ratio``, ``m/s``), ``value`` and ``description``.
    patients : pandas.DataFrame
        One row per patient: latent recovery day (``inf`` when the patient never recovers),
        whether the patient belongs to the recovering fraction, random effects, adherence
        propensity and other latent quantities (see ``docs/simulation.md``).
    """

    parameters: pd.DataFrame
    patients: pd.DataFrame

    def value(self, component: str, term: str, scale: str | None = None) -> float:
        """Return one true parameter value.

        Parameters
        ----------
        component, term : str
            As in :attr:`parameters`.
        scale : str, optional
            Needed when the term is given on several scales.
        """
        p = self.parameters
        sel = (p["component"] == component) & (p["term"] == term)
        if scale is not None:
            sel &= p["scale"] == scale
        hits = p.loc[sel, "value"]
        if len(hits) != 1:
            raise KeyError(f"truth has {len(hits)} values for component={component!r}, term={term!r}, scale={scale!r}")
        return float(hits.iloc[0])


@dataclass(frozen=True)
class Cohort:
    """A foot-drop cohort: ``patients``, ``visits`` and ``adherence`` tables plus metadata.

    Build one with :func:`footdrop_outcomes.simulate_cohort`, :func:`load_cohort` or
    :meth:`Cohort.from_csv`; the constructor validates the tables.

    Attributes
    ----------
    patients, visits, adherence : pandas.DataFrame
        The validated tables (see ``docs/data_dictionary.md``).
    metadata : dict
        ``schema_version``, ``generator`` (name and version), ``seed``, ``config`` and any
        source information.
    truth : CohortTruth or None
        True parameters and latent values; ``None`` for real cohorts.

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> cohort = simulate_cohort(200, seed=1)
    >>> cohort.n_patients
    200
    """

    patients: pd.DataFrame
    visits: pd.DataFrame
    adherence: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    truth: CohortTruth | None = None
    source: str = field(default="in-memory tables", repr=False, compare=False)
    _validated: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._validated:
            check_privacy({"patients": self.patients, "visits": self.visits, "adherence": self.adherence}, source=self.source)
            typed = validate_tables({"patients": self.patients, "visits": self.visits, "adherence": self.adherence}, source=self.source)
            for name in TABLES:
                object.__setattr__(self, name, typed[name])
            object.__setattr__(self, "_validated", True)
        meta = {"schema_version": SCHEMA_VERSION, **self.metadata}
        object.__setattr__(self, "metadata", meta)

    # -- descriptive ----------------------------------------------------------------------------
    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return len(self.patients)

    def __repr__(self) -> str:
        kind = "synthetic" if self.truth is not None else "real"
        return (
            f"Cohort({kind}: {self.n_patients} patients, {len(self.visits)} visits, "
            f"{len(self.adherence)} adherence weeks, schema {self.metadata.get('schema_version')})"
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """The three tables by name."""
        return {name: getattr(self, name) for name in TABLES}

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the cohort to a directory of Parquet files plus ``manifest.json``, atomically.

        Parameters
        ----------
        path : path-like
            Target directory. It must not exist unless ``overwrite=True``.
        overwrite : bool
            Replace an existing cohort directory (only if it holds a ``manifest.json``).

        Returns
        -------
        pathlib.Path
            The directory written.
        """
        target = Path(path)
        if target.exists():
            if not overwrite:
                raise CohortIOError(f"{target} already exists; choose another path, or replace it with overwrite=True (CLI: --overwrite)")
            if not (target / MANIFEST).exists():
                raise CohortIOError(f"{target} exists and is not a cohort directory (no {MANIFEST}); refusing to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            files = {}
            for name, df in self.tables().items():
                df.to_parquet(tmp / f"{name}.parquet", index=False)
                files[f"{name}.parquet"] = _sha256(tmp / f"{name}.parquet")
            if self.truth is not None:
                self.truth.patients.to_parquet(tmp / "truth_patients.parquet", index=False)
                self.truth.parameters.to_parquet(tmp / "truth_parameters.parquet", index=False)
                for f in ("truth_patients.parquet", "truth_parameters.parquet"):
                    files[f] = _sha256(tmp / f)
            manifest = {
                **self.metadata,
                "package_version": __version__,
                "rows": {name: len(df) for name, df in self.tables().items()},
                "files_sha256": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
            move_into_place(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cohort:
        """Load and validate a cohort directory written by :meth:`save` (see :func:`load_cohort`)."""
        return load_cohort(path)

    @classmethod
    def from_csv(
        cls,
        patients: str | os.PathLike[str],
        visits: str | os.PathLike[str],
        adherence: str | os.PathLike[str],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Cohort:
        """Read a cohort from three CSV files laid out as in the data dictionary, and validate it.

        Error messages give CSV line numbers (the header is line 1).

        Parameters
        ----------
        patients, visits, adherence : path-like
            The three CSV files.
        metadata : dict, optional
            Extra metadata to keep with the cohort (e.g. data source).
        """
        paths = {"patients": Path(patients), "visits": Path(visits), "adherence": Path(adherence)}
        frames = {}
        for name, p in paths.items():
            if not p.is_file():
                raise CohortIOError(f"{name} file {p} does not exist")
            try:
                # numbers and yes/no columns are inferred (fast); a column with stray text stays
                # text and is checked value by value. Ids stay text so leading zeros survive.
                frames[name] = pd.read_csv(p, dtype={"patient_id": str, "site": str}, keep_default_na=False, na_values=[""])
            except pd.errors.EmptyDataError:
                raise CohortIOError(f"{name} file {p} is empty (no header line)") from None
        source = ", ".join(f"{k}={v}" for k, v in paths.items())
        check_privacy(frames, source=source, files=paths, row_offset=2)
        typed = validate_tables(frames, source=source, row_offset={k: 2 for k in paths})
        meta = {"source": {k: str(v) for k, v in paths.items()}, "source_sha256": {k: _sha256(v) for k, v in paths.items()}}
        meta.update(metadata or {})
        return cls(**typed, metadata=meta, source=source, _validated=True)

    def to_csv(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the three tables as CSV files (``patients.csv`` ...) into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, df in self.tables().items():
            final = out / f"{name}.csv"
            tmp = final.with_suffix(".csv.tmp")
            df.to_csv(tmp, index=False)
            tmp.replace(final)
            written[name] = final
        return written


def load_cohort(path: str | os.PathLike[str]) -> Cohort:
    """Load a cohort directory (Parquet tables plus ``manifest.json``) and validate it.

    Parameters
    ----------
    path : path-like
        A directory written by :meth:`Cohort.save` or ``footdrop-outcomes simulate``.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortIOError
        The directory, a table file or the manifest is missing or unreadable.
    CohortValidationError
        A table breaks the schema; the message names table, column and rows.
    """
    root = Path(path)
    if not root.is_dir():
        raise CohortIOError(f"cohort directory {root} does not exist")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise CohortIOError(f"{root} is not a cohort directory: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise CohortIOError(f"{manifest_path} is not valid JSON ({err})") from None
    frames = {}
    for name in TABLES:
        f = root / f"{name}.parquet"
        if not f.is_file():
            raise CohortIOError(f"{root}: table file {f.name} is missing")
        try:
            frames[name] = pd.read_parquet(f)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise CohortIOError(f"{f} could not be read as Parquet ({type(err).__name__}: {err})") from None
    check_privacy(frames, source=str(root), files={name: root / f"{name}.parquet" for name in TABLES})
    typed = validate_tables(frames, source=str(root))
    truth = None
    if (root / "truth_parameters.parquet").is_file() and (root / "truth_patients.parquet").is_file():
        truth = CohortTruth(
            parameters=pd.read_parquet(root / "truth_parameters.parquet"),
            patients=pd.read_parquet(root / "truth_patients.parquet"),
        )
    meta = {k: v for k, v in manifest.items() if k not in ("rows", "files_sha256")}
    meta["source"] = str(root)
    return Cohort(**typed, metadata=meta, truth=truth, source=str(root), _validated=True)


