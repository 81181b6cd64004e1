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

import hashlib
import io
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._files import refuse_symlink, staged_directory
from footdrop_outcomes._files import sha256_file as _sha256
from footdrop_outcomes._version import __version__
from footdrop_outcomes.cohort._guard_model import (
    check_privacy,  # the guard (below this layer) with this data model; docs/privacy.md
)
from footdrop_outcomes.cohort.schema import SCHEMA_VERSION, TABLES, validate_tables
from footdrop_outcomes.errors import CohortIOError, ConfigError

__all__ = ["Cohort", "CohortTruth", "load_cohort"]

MANIFEST = "manifest.json"
SAVED_BY, SAVED_BY_SAVE = "saved_by", "footdrop_outcomes.Cohort.save"


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
            check_privacy({"patients": self.patients, "visits": self.visits, "adherence": self.adherence}, source=self.source,
                          key_reference=_key_reference(self.metadata))
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

    def missingness(self, by: str | None = "cause") -> pd.DataFrame:
        """Missing values per column that may be missing, overall or by a patient column.

        Parameters
        ----------
        by : str or None
            A categorical column of the patients table (default ``cause``); visits are grouped
            by their patient's value. None: the whole cohort.

        Returns
        -------
        pandas.DataFrame
            Tidy: ``table``, ``column``, ``group`` (``"all"`` without ``by``), ``n`` (rows),
            ``n_missing``, ``share_missing``; one row per table, nullable column present and
            group (groups without rows are left out). Counts, not values: for a report they go
            through release control.

        Examples
        --------
        >>> from footdrop_outcomes import simulate_cohort
        >>> m = simulate_cohort(200, seed=1).missingness(by=None)
        >>> m.query("column == 'bmi'")[["table", "n"]].values.tolist()
        [['patients', 200]]
        """
        from footdrop_outcomes.cohort.schema import SCHEMAS

        if by is not None and (by not in self.patients.columns or not isinstance(self.patients[by].dtype, pd.CategoricalDtype)):
            raise ConfigError(f"missingness: by must be a categorical column of the patients table (e.g. 'cause'), got {by!r}")
        rows = []
        for name in ("patients", "visits"):
            df = getattr(self, name)
            if by is None:
                group = pd.Series("all", index=df.index)
            elif name == "patients":
                group = df[by].astype(str)
            else:
                of = pd.Series(self.patients[by].astype(str).to_numpy(), index=self.patients["patient_id"].astype(str).to_numpy())
                group = pd.Series(of.reindex(df["patient_id"].astype(str).to_numpy()).to_numpy(), index=df.index)
            for col, spec in SCHEMAS[name].columns.items():
                if not spec.nullable or col not in df.columns:
                    continue
                miss = df[col].isna()
                counts = pd.DataFrame({"n": miss.groupby(group).size(), "n_missing": miss.groupby(group).sum()})
                for g, r in counts.iterrows():
                    rows.append({"table": name, "column": col, "group": str(g), "n": int(r["n"]), "n_missing": int(r["n_missing"])})
        out = pd.DataFrame(rows, columns=["table", "column", "group", "n", "n_missing"])
        out["share_missing"] = out["n_missing"] / out["n"]
        return out

    # -- selection ------------------------------------------------------------------------------
    def subset(
        self,
        patients: Sequence[Any] | np.ndarray | pd.Series | None = None,
        *,
        causes: Sequence[str] | str | None = None,
        severities: Sequence[str] | str | None = None,
        sites: Sequence[str] | str | None = None,
        label: str | None = None,
    ) -> Cohort:
        """The cohort restricted to some patients, with its metadata and (synthetic) truth.

        The criteria are combined with *and*. Visits and adherence weeks follow their patients;
        categorical columns keep their declared levels (so codes and reference levels are the
        same as in the full cohort); the per-patient truth of a synthetic cohort is restricted to
        the kept patients and its parameters are kept. ``metadata["subset"]`` records every
        selection applied (a list, oldest first): the criteria, the patients before and after.

        Parameters
        ----------
        patients : boolean array or sequence of patient ids, optional
            A boolean mask aligned with the rows of :attr:`patients`, or the ids to keep.
        causes, severities, sites : str or sequence of str, optional
            Keep patients with these values of ``cause``, ``severity``, ``site``.
        label : str, optional
            A short description kept in the metadata (e.g. ``"stroke only"``).

        Returns
        -------
        Cohort
            A new, validated cohort; the original is unchanged.

        Raises
        ------
        ConfigError
            A mask of the wrong length, ids or values not in the cohort (counted, not listed),
            or a selection that keeps no patient.

        Examples
        --------
        >>> from footdrop_outcomes import simulate_cohort
        >>> c = simulate_cohort(200, seed=1)
        >>> s = c.subset(causes="stroke", severities=["moderate", "severe"])
        >>> set(s.patients["cause"].astype(str)) == {"stroke"}, len(s.truth.patients) == s.n_patients
        (True, True)
        """
        keep = np.ones(self.n_patients, dtype=bool)
        criteria: dict[str, Any] = {}
        if patients is not None:
            keep &= self._subset_mask(patients)
            criteria["patients"] = int(keep.sum())
        for arg, column, values in (("causes", "cause", causes), ("severities", "severity", severities), ("sites", "site", sites)):
            if values is None:
                continue
            wanted = [values] if isinstance(values, str) else list(values)
            col = self.patients[column]
            allowed = [str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype) else sorted(set(col.astype(str)))
            unknown = [v for v in wanted if not isinstance(v, str) or v not in allowed]
            if unknown or not wanted:
                shown = allowed if column != "site" else f"{len(allowed)} site codes"
                raise ConfigError(f"subset: {arg} must be one or more of {shown}; {len(unknown) or 'no'} value(s) given are not")
            keep &= col.astype(str).isin(wanted).to_numpy()
            criteria[arg] = sorted(wanted)
        if label is not None:
            if not isinstance(label, str):
                raise ConfigError(f"subset: label must be a string, got {type(label).__name__}")
            criteria["label"] = label
        if not keep.any():
            raise ConfigError("subset: the selection keeps no patient; widen the criteria")
        ids = self.patients["patient_id"].astype(str)
        kept = set(ids[keep])
        tables = {"patients": self.patients.loc[keep]}
        for name in ("visits", "adherence"):
            t = getattr(self, name)
            tables[name] = t.loc[t["patient_id"].astype(str).isin(kept).to_numpy()]
        tables = {k: v.reset_index(drop=True) for k, v in tables.items()}
        truth = None
        if self.truth is not None:
            tp = self.truth.patients
            pos = pd.Index(tp["patient_id"].astype(str)).get_indexer(ids[keep])  # in the order of the kept patients
            tp = tp.iloc[pos[pos >= 0]].reset_index(drop=True)
            truth = CohortTruth(parameters=self.truth.parameters.copy(), patients=tp)
        record = {**criteria, "n_patients_before": self.n_patients, "n_patients_after": int(keep.sum()),
                  "visits_after": len(tables["visits"]), "adherence_weeks_after": len(tables["adherence"])}
        meta = dict(self.metadata)
        meta["subset"] = [*list(self.metadata.get("subset", [])), record]
        return Cohort(**tables, metadata=meta, truth=truth, source=f"{self.source} (subset)")

    def _subset_mask(self, patients: Sequence[Any] | np.ndarray | pd.Series) -> np.ndarray:
        """A boolean mask over :attr:`patients` from a mask or from ids (errors count, never list, ids)."""
        arr = np.asarray(patients.to_numpy() if isinstance(patients, pd.Series) else list(patients)
                         if not isinstance(patients, np.ndarray) else patients)
        if arr.dtype == bool:
            if arr.shape != (self.n_patients,):
                raise ConfigError(f"subset: a boolean mask needs one value per patient ({self.n_patients}), got shape {arr.shape}")
            return arr
        if isinstance(patients, str) or arr.ndim != 1:
            raise ConfigError("subset: patients must be a boolean mask or a sequence of patient ids")
        ids = self.patients["patient_id"].astype(str)
        wanted = pd.Index(arr.astype(str))
        unknown = int((~wanted.isin(ids)).sum())
        if unknown:
            raise ConfigError(f"subset: {unknown} of the {len(wanted)} patient ids given are not in the cohort")
        return ids.isin(wanted).to_numpy()

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False, csv: bool = False) -> Path:
        """Write the cohort to a directory of Parquet files plus ``manifest.json``, atomically.

        Parameters
        ----------
        path : path-like
            Target directory. It must not exist unless ``overwrite=True``.
        overwrite : bool
            Replace an existing cohort directory (only if it holds a ``manifest.json``).
        csv : bool
            Also write the three tables as CSV files into the directory's ``csv/`` folder.

        Returns
        -------
        pathlib.Path
            The directory written.

        Raises
        ------
        CohortIOError
            ``path`` exists (without ``overwrite``), is a symbolic link, or cannot be written. On
            any error or interruption the previous directory is unchanged and nothing is left
            behind (no temporary directory, no parent folder created for it).
        """
        target = Path(path)
        refuse_symlink(target)
        if target.exists():
            if not overwrite:
                raise CohortIOError(f"{target} already exists; choose another path, or replace it with overwrite=True (CLI: --overwrite)")
            if not (target / MANIFEST).exists():
                raise CohortIOError(f"{target} exists and is not a cohort directory (no {MANIFEST}); refusing to replace it")
        # a temporary directory beside the target, renamed into place; removed (with any parent
        # folders created for it) on error or interruption (footdrop_outcomes._files)
        with staged_directory(target) as tmp:
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
                SAVED_BY: SAVED_BY_SAVE,  # these files hold a validated cohort: load_cohort may skip re-validating them
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
            if csv:
                self.to_csv(tmp / "csv")
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
            except (EOFError, OSError, UnicodeDecodeError, pd.errors.ParserError, zlib.error) as err:
                # a truncated .gz ends in EOFError; the reader's own text may quote the data: not shown
                raise CohortIOError(f"{name} file {p} could not be read as CSV ({type(err).__name__}); "
                                    "check that it is complete and not damaged") from None
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


def load_cohort(path: str | os.PathLike[str], *, revalidate: bool = False) -> Cohort:
    """Load a cohort directory (Parquet tables plus ``manifest.json``) and validate it.

    The privacy guard always runs. Schema validation (the costliest part at registry scale: about
    three quarters of the load time) is skipped when the directory was written by
    :meth:`Cohort.save`, which only ever holds validated tables, and is unchanged since: the
    manifest says so, names this package and schema version, and the SHA-256 of every table file
    (computed from the very bytes that are parsed) and its row count match the manifest. Anything
    else (an imported or hand-made directory, another version, an edited file) is validated in full.

    Parameters
    ----------
    path : path-like
        A directory written by :meth:`Cohort.save` or ``footdrop-outcomes simulate``.
    revalidate : bool
        Validate the tables in full even when the checksums show they are unchanged since saving.

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
    digests = {}
    for name in TABLES:
        f = root / f"{name}.parquet"
        if not f.is_file():
            raise CohortIOError(f"{root}: table file {f.name} is missing")
        try:
            raw = f.read_bytes()  # hashed and parsed from the same bytes: no change can slip in between
            digests[f.name] = hashlib.sha256(raw).hexdigest()
            frames[name] = pd.read_parquet(io.BytesIO(raw))
            del raw
        except OSError as err:
            raise CohortIOError(f"{f} could not be read ({type(err).__name__})") from None
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise CohortIOError(f"{f} could not be read as Parquet ({type(err).__name__})") from None
    check_privacy(frames, source=str(root), files={name: root / f"{name}.parquet" for name in TABLES},
                  key_reference=_key_reference(manifest))
    if not revalidate and _unchanged_since_save(manifest, digests, frames):
        typed = frames
    else:
        typed = validate_tables(frames, source=str(root))
    truth = None
    if (root / "truth_parameters.parquet").is_file() and (root / "truth_patients.parquet").is_file():
        truth = CohortTruth(
            parameters=pd.read_parquet(root / "truth_parameters.parquet"),
            patients=pd.read_parquet(root / "truth_patients.parquet"),
        )
    meta = {k: v for k, v in manifest.items() if k not in ("rows", "files_sha256", SAVED_BY)}
    meta["source"] = str(root)
    return Cohort(**typed, metadata=meta, truth=truth, source=str(root), _validated=True)




def _key_reference(metadata: Any) -> int:
    """Patients the keys were numbered over: the largest cohort this one was drawn from by
    :meth:`Cohort.subset` (``metadata["subset"]``), else 0. The guard's record-number rule measures
    key numbers against it, so that a saved site or cause of a larger cohort keeps its study numbers."""
    records = metadata.get("subset", []) if isinstance(metadata, dict) else []
    sizes = [r.get("n_patients_before") for r in records if isinstance(r, dict)] if isinstance(records, list) else []
    return max([int(n) for n in sizes if isinstance(n, int | float) and 0 <= n < 1e9], default=0)


def _unchanged_since_save(manifest: dict[str, Any], digests: dict[str, str], frames: dict[str, pd.DataFrame]) -> bool:
    """True when the tables are byte for byte those :meth:`Cohort.save` of this package and schema version wrote."""
    sums, rows = manifest.get("files_sha256"), manifest.get("rows")
    if (manifest.get(SAVED_BY) != SAVED_BY_SAVE or manifest.get("package_version") != __version__
            or manifest.get("schema_version") != SCHEMA_VERSION or not isinstance(sums, dict) or not isinstance(rows, dict)):
        return False
    return all(sums.get(f"{name}.parquet") == digests.get(f"{name}.parquet") and rows.get(name) == len(frames[name]) for name in TABLES)
