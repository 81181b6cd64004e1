"""Schemas of the three cohort tables, and validation with one clear error.

The schemas are pandera ``DataFrameSchema`` objects. They are the single source of the data
dictionary (``docs/data_dictionary.md`` is generated from them by :func:`data_dictionary`), so
the documentation cannot drift from what loading checks.

Validation runs in three steps, and collects every problem before raising:

1. *types*: each column is converted to its declared dtype; values that cannot be converted
   (text in a number column, 2.5 in an integer column, "maybe" in a yes/no column) are problems;
2. *per-table rules* (pandera, lazy): required and unknown columns, ranges, allowed categories,
   missing values, duplicate keys;
3. *cross-table rules*: visits and adherence weeks of unknown patients, days out of order or
   after the end of follow-up, completed sessions above prescribed ones, severity that
   contradicts the baseline MRC grade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from footdrop_outcomes.cohort.vocabulary import (
    AFO_TYPES,
    CAUSES,
    EXERCISES,
    FOLLOWUP_ENDS,
    SEVERITIES,
    SEVERITY_MRC,
    SEXES,
    SIDES,
    SMOKING,
    SURGERIES,
)

#: Why a patient left the study early (``patients.dropout_reason``, optional column).
DROPOUT_REASONS: tuple[str, ...] = ("withdrawal", "protocol_deviation", "death", "lost_to_follow_up")
from footdrop_outcomes.errors import CohortValidationError, safe_column_name

__all__ = ["SCHEMA_VERSION", "TABLES", "SCHEMAS", "validate_tables", "data_dictionary"]

#: Version of the data model; stored in every cohort manifest.
SCHEMA_VERSION = "1.1"

Table = Literal["patients", "visits", "adherence"]
TABLES: tuple[Table, ...] = ("patients", "visits", "adherence")

_MAX_SESSIONS_PER_WEEK = 28  # four times a day, every day


def _col(dtype: str, description: str, *checks: pa.Check, unit: str = "", nullable: bool = False,
         required: bool = True) -> pa.Column:
    return pa.Column(dtype, list(checks), nullable=nullable, required=required, description=description,
                     metadata={"unit": unit})


def _category(values: tuple[str, ...], description: str, *, nullable: bool = False, required: bool = True) -> pa.Column:
    return _col("category", description, pa.Check.isin(list(values)), nullable=nullable, required=required)


_PATIENT_ID = _col("category", "Pseudonymous patient key (no identifying meaning).", pa.Check.str_length(1, 64))

PATIENTS = pa.DataFrameSchema(
    {
        "patient_id": _PATIENT_ID,
        "age": _col("int64", "Age at onset of foot drop.", pa.Check.in_range(16, 110), unit="years"),
        "sex": _category(SEXES, "Sex."),
        "side": _category(SIDES, "Affected side (empty when not recorded).", nullable=True),
        "cause": _category(CAUSES, "Cause of foot drop."),
        "severity": _category(SEVERITIES, "Severity at onset: severe = MRC 0-1, moderate = MRC 2, mild = MRC 3-4."),
        "baseline_mrc": _col("int64", "Dorsiflexion (tibialis anterior) MRC grade at onset.", pa.Check.in_range(0, 4), unit="MRC 0-5"),
        "diabetes": _col("boolean", "Diabetes mellitus diagnosed (empty when not recorded).", nullable=True),
        "hba1c": _col("float64", "Most recent HbA1c (empty when not measured).", pa.Check.in_range(3.5, 20.0), unit="%", nullable=True),
        "smoking": _category(SMOKING, "Smoking status at onset (empty when not recorded).", nullable=True),
        "bmi": _col("float64", "Body-mass index (empty when not measured).", pa.Check.in_range(12.0, 80.0), unit="kg/m2", nullable=True),
        "days_to_treatment": _col("Int64", "Days from onset to start of treatment (empty when not recorded).", pa.Check.in_range(0, 3650), unit="days since onset", nullable=True),
        "home_exercise": _col("bool", "Home exercise program prescribed."),
        "supervised_physio": _col("bool", "Supervised physiotherapy prescribed."),
        "afo": _category(AFO_TYPES, "Ankle-foot orthosis prescribed, by type (none = no AFO)."),
        "fes": _col("bool", "Functional electrical stimulation (peroneal nerve) prescribed."),
        "surgery": _category(SURGERIES, "Surgery for the foot drop (none = no surgery)."),
        "site": _col("category", "Treating site (pseudonymous code).", pa.Check.str_length(1, 32)),
        "red_flag_cauda_equina": _col("bool", "Red flag: sudden onset with back pain and bladder/bowel loss (urgent review)."),
        "red_flag_rapid_worsening": _col("bool", "Red flag: rapidly worsening weakness after trauma or surgery (urgent review)."),
        "followup_days": _col("int64", "End of observation (last contact, dropout, death or study end).", pa.Check.in_range(0, 3650), unit="days since onset"),
        "followup_end": _category(FOLLOWUP_ENDS, "Why observation ended: end of the study, dropout (lost or withdrawn) or death."),
        # optional columns (schema 1.1): absent in older cohorts, which load unchanged
        "first_contact_day": _col("int64", "Optional. Day the patient was first seen (delayed entry: at risk from then on); "
                                  "absent means every patient was under observation from onset.", pa.Check.in_range(0, 3650),
                                  unit="days since onset", required=False),
        "surgery_day": _col("Int64", "Optional. Day of the foot-drop surgery (empty without surgery or when not recorded).",
                            pa.Check.in_range(0, 3650), unit="days since onset", nullable=True, required=False),
        "dropout_reason": _category(DROPOUT_REASONS, "Optional. Why the patient left the study early (empty when followed "
                                    "to the end, or not recorded).", nullable=True, required=False),
    },
    unique=["patient_id"],
    strict=True,
    name="patients",
    description="One row per patient.",
)

VISITS = pa.DataFrameSchema(
    {
        "patient_id": _PATIENT_ID,
        "day": _col("int64", "Day of the clinic visit.", pa.Check.in_range(0, 3650), unit="days since onset"),
        "mrc": _col("int64", "Dorsiflexion MRC grade.", pa.Check.in_range(0, 5), unit="MRC 0-5"),
        "rom_deg": _col("float64", "Active dorsiflexion range from neutral (negative: cannot reach neutral).", pa.Check.in_range(-45.0, 45.0), unit="degrees", nullable=True),
        "gait_speed": _col("float64", "Comfortable gait speed, 10-metre walk test (empty when not tested).", pa.Check.in_range(0.0, 3.0), unit="m/s", nullable=True),
        "falls": _col("int64", "Falls since the previous visit (since onset at the first visit).", pa.Check.in_range(0, 200), unit="count"),
        "afo_needed": _col("bool", "Clinician judges that an AFO is still needed."),
        "gait_speed_device_off": _col("float64", "Optional. Gait speed, 10-metre walk test, without the AFO or FES device "
                                      "(empty when not tested).", pa.Check.in_range(0.0, 3.0), unit="m/s", nullable=True,
                                      required=False),
    },
    unique=["patient_id", "day"],
    strict=True,
    name="visits",
    description="One row per clinic visit; rows of a patient in increasing day order.",
)

_adherence_columns: dict[str, pa.Column] = {
    "patient_id": _PATIENT_ID,
    "week": _col("int16", "Week since onset: week w covers days 7w to 7w+6.", pa.Check.in_range(0, 520), unit="weeks since onset"),
}
for _stem, (_label, _dose) in EXERCISES.items():
    _adherence_columns[f"{_stem}_prescribed"] = _col(
        "int8", f"{_label}: sessions prescribed this week ({_dose}).", pa.Check.in_range(0, _MAX_SESSIONS_PER_WEEK), unit="sessions"
    )
    _adherence_columns[f"{_stem}_completed"] = _col(
        "int8", f"{_label}: sessions completed this week (at most the prescribed number).", pa.Check.in_range(0, _MAX_SESSIONS_PER_WEEK), unit="sessions"
    )
_adherence_columns.update(
    {
        "afo_hours_prescribed": _col("float32", "AFO wear prescribed this week (empty when no AFO).", pa.Check.in_range(0.0, 168.0), unit="hours", nullable=True),
        "afo_hours": _col("float32", "AFO worn this week (empty when no AFO).", pa.Check.in_range(0.0, 168.0), unit="hours", nullable=True),
        "fes_hours_prescribed": _col("float32", "FES use prescribed this week (empty when no FES).", pa.Check.in_range(0.0, 168.0), unit="hours", nullable=True),
        "fes_hours": _col("float32", "FES used this week (empty when no FES).", pa.Check.in_range(0.0, 168.0), unit="hours", nullable=True),
    }
)
ADHERENCE = pa.DataFrameSchema(
    _adherence_columns,
    unique=["patient_id", "week"],
    strict=True,
    name="adherence",
    description="One row per patient-week with something prescribed; rows of a patient in increasing week order.",
)

SCHEMAS: dict[str, pa.DataFrameSchema] = {"patients": PATIENTS, "visits": VISITS, "adherence": ADHERENCE}

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
#: Columns of the failures table of a :class:`~footdrop_outcomes.errors.CohortValidationError`.
FAILURE_COLUMNS = ("table", "column", "problem", "rows", "n_rows")
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


# ----------------------------------------------------------------------------------------------
# validation


class _Problems:
    """Collects problems as rows of the failures table."""

    def __init__(self, row_offset: Mapping[str, int]):
        self.rows: list[dict[str, object]] = []
        self.row_offset = row_offset

    def add(self, table: str, column: str, problem: str, positions: np.ndarray, df: pd.DataFrame | None = None) -> None:
        """One problem: where it is (table, column, row numbers), never the values (nor patient ids)."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return
        shown = positions[:8] + self.row_offset.get(table, 0)
        rows = ", ".join(map(str, shown)) + (", ..." if positions.size > 8 else "")
        self.rows.append({"table": table, "column": column, "problem": problem, "rows": rows, "n_rows": int(positions.size)})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(FAILURE_COLUMNS))


def _coerce_column(values: pd.Series, dtype: str) -> tuple[pd.Series, np.ndarray, str]:
    """Convert one column to ``dtype``; return the result, positions that failed, and why.

    ``bool`` and ``int*`` columns refuse missing values; their nullable twins ``boolean`` and
    ``Int64`` keep them as ``pd.NA`` (the schema's ``nullable`` flag then decides).
    """
    missing = values.isna().to_numpy()
    if dtype == "category":
        if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.dtype == object:
            return values, np.array([], dtype=np.int64), ""
        text = values.astype("string").to_numpy(dtype=object, na_value=None)
        return pd.Series(pd.Categorical(text), index=values.index), np.array([], dtype=np.int64), ""
    if dtype in ("bool", "boolean"):
        if values.dtype == bool or (dtype == "boolean" and isinstance(values.dtype, pd.BooleanDtype)):
            return values.astype(dtype), np.array([], dtype=np.int64), ""
        if dtype == "bool" and isinstance(values.dtype, pd.BooleanDtype) and not missing.any():
            return values.astype(bool), np.array([], dtype=np.int64), ""
        text = values.astype("string").str.strip().str.lower()
        is_true = text.isin(_TRUE).fillna(False).to_numpy(bool)
        is_false = text.isin(_FALSE).fillna(False).to_numpy(bool)
        why = "not a yes/no value (true/false, yes/no, 1/0)"
        if dtype == "bool":
            bad = np.flatnonzero(~(is_true | is_false))
            return pd.Series(is_true, index=values.index), bad, why
        bad = np.flatnonzero(~(is_true | is_false) & ~missing)
        out = pd.array(is_true, dtype="boolean")
        out[missing] = pd.NA
        return pd.Series(out, index=values.index), bad, why
    # numbers
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.astype("float64")
        unparsable = np.array([], dtype=np.int64)
    else:
        numbers = pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype("float64")
        unparsable = np.flatnonzero(numbers.isna().to_numpy() & ~missing)
    if dtype.startswith("int") or dtype == "Int64":
        nullable = dtype == "Int64"
        arr = numbers.to_numpy(dtype="float64", na_value=np.nan)
        nonint = np.flatnonzero(np.isfinite(arr) & (np.round(arr) != arr))
        bad_missing = np.array([], dtype=np.int64) if nullable else np.flatnonzero(np.isnan(arr) & missing)
        info = np.iinfo(dtype.lower())
        out_of_type = np.flatnonzero(np.isfinite(arr) & ((arr < info.min) | (arr > info.max)))
        bad = np.union1d(np.union1d(unparsable, nonint), np.union1d(bad_missing, out_of_type))
        filled = np.where(np.isfinite(arr), arr, 0)
        filled = np.clip(filled, info.min, info.max)
        why = ("not a whole number (text, fraction or far out of range)" if nullable
               else "not a whole number (missing, text, fraction or far out of range)")
        if nullable:
            out = pd.array(filled.astype("int64"), dtype="Int64")
            out[np.isnan(arr)] = pd.NA
            return pd.Series(out, index=values.index), bad, why
        return pd.Series(filled.astype(dtype), index=values.index), bad, why
    return numbers.astype(dtype), unparsable, "not a number"


def _coerce_table(name: str, df: pd.DataFrame, problems: _Problems) -> tuple[pd.DataFrame, set[int]]:
    """Convert declared columns to their dtypes; return the table and positions with type errors."""
    schema = SCHEMAS[name]
    out = {}
    bad_positions: set[int] = set()
    for col, spec in schema.columns.items():
        if col not in df.columns:
            continue
        converted, bad, why = _coerce_column(df[col].reset_index(drop=True), str(spec.dtype))
        if len(bad):
            problems.add(name, col, why, bad, df.reset_index(drop=True))
            bad_positions.update(bad.tolist())
        out[col] = converted
    extra = {c: df[c].reset_index(drop=True) for c in df.columns if c not in schema.columns}
    result = pd.DataFrame({**out, **extra})
    ordered = [c for c in schema.columns if c in result.columns] + [c for c in result.columns if c not in schema.columns]
    return result[ordered], bad_positions


def _check_with_pandera(name: str, df: pd.DataFrame, skip_rows: set[int], problems: _Problems) -> None:
    schema = SCHEMAS[name]
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        for (column, check), group in fc.groupby([fc["column"].fillna(""), fc["check"].astype(str)], sort=False):
            # pandera's own messages and failure cases hold the values: only the check's name and
            # the row positions are used, and a column name only as safe_column_name shows it
            if check == "column_in_schema":
                header = [str(c) for c in df.columns]
                for case in group["failure_case"]:
                    where = safe_column_name(case, header.index(str(case)) if str(case) in header else None)
                    problems.rows.append({"table": name, "column": where, "problem": "column not in the data model (remove or rename it)", "rows": "all", "n_rows": len(df)})
                continue
            if check == "column_in_dataframe":
                for case in group["failure_case"]:
                    problems.rows.append({"table": name, "column": str(case), "problem": "required column is missing", "rows": "all", "n_rows": len(df)})
                continue
            positions = pd.to_numeric(group["index"], errors="coerce").dropna().astype(np.int64).to_numpy()
            positions = np.unique(np.array([p for p in positions if p not in skip_rows], dtype=np.int64))
            if check.startswith("dtype("):
                continue  # reported by the type step
            problem = _describe_check(check)
            if check == "multiple_fields_uniqueness" or check == "field_uniqueness":
                problem = f"duplicate key ({', '.join(schema.unique or [column])})"
                column = ", ".join(schema.unique or [column])
            problems.add(name, column, problem, positions, df)


def _describe_check(check: str) -> str:
    """The rule a value breaks, from the check's name and the schema's bounds (never the value)."""
    if check == "not_nullable":
        return "missing value not allowed"
    if check.startswith("isin("):
        return f"unknown category; allowed: {check[len('isin('):-1]}"
    if check.startswith("in_range("):
        return f"out of range {check[len('in_range'):]}"
    if check.startswith("str_length("):
        return f"text length out of range {check[len('str_length'):]}"
    return f"fails check {check.split('(')[0]}"


def _order_and_key_checks(name: str, df: pd.DataFrame, time_col: str, problems: _Problems, patients: pd.DataFrame | None) -> None:
    pid = df["patient_id"].astype("string").to_numpy()
    t = df[time_col].to_numpy()
    if patients is not None and "patient_id" in patients.columns:
        known = pd.Index(patients["patient_id"].astype("string"))
        unknown = np.flatnonzero(~pd.Index(pid).isin(known))
        problems.add(name, "patient_id", "patient not in the patients table", unknown, df)
    same_patient = pid[1:] == pid[:-1]
    backwards = np.flatnonzero(same_patient & (t[1:] < t[:-1])) + 1
    problems.add(name, time_col, f"{time_col} goes backwards within a patient (rows must be in increasing {time_col} order)", backwards, df)
    # a patient's rows must be contiguous
    first_seen = pd.Series(np.arange(len(pid))).groupby(pid).agg(["min", "max", "size"])
    scattered = first_seen.index[(first_seen["max"] - first_seen["min"] + 1) != first_seen["size"]]
    if len(scattered):
        positions = np.flatnonzero(pd.Index(pid).isin(scattered))
        problems.add(name, "patient_id", "rows of a patient are not together (sort by patient_id, then time)", positions, df)


def _days(df: pd.DataFrame | None, col: str) -> np.ndarray | None:
    """A day column as float (missing as NaN), or None when absent."""
    if df is None or col not in df.columns:
        return None
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _cross_table_checks(tables: dict[str, pd.DataFrame], problems: _Problems) -> None:
    patients = tables.get("patients")
    if patients is not None and {"severity", "baseline_mrc"} <= set(patients.columns):
        allowed = patients["severity"].astype("string").map({k: v for k, v in SEVERITY_MRC.items()})
        grade = patients["baseline_mrc"].to_numpy()
        bad = [i for i, (ok, g) in enumerate(zip(allowed, grade)) if isinstance(ok, tuple) and g not in ok]
        problems.add("patients", "severity", "contradicts baseline_mrc (severe = MRC 0-1, moderate = 2, mild = 3-4)", np.array(bad, dtype=np.int64), patients)
    followup = _days(patients, "followup_days") if patients is not None else None
    if patients is not None and followup is not None:
        for col, what in (("days_to_treatment", "after the end of follow-up (followup_days)"),
                          ("first_contact_day", "first contact after the end of follow-up (followup_days)"),
                          ("surgery_day", "after the end of follow-up (followup_days)")):
            day = _days(patients, col)
            if day is not None:
                problems.add("patients", col, what, np.flatnonzero(day > followup), patients)  # NaN compares False
    if patients is not None and {"surgery", "surgery_day"} <= set(patients.columns):
        no_surgery = (patients["surgery"].astype("string") == "none").fillna(False).to_numpy(bool)
        bad = np.flatnonzero(no_surgery & patients["surgery_day"].notna().to_numpy())
        problems.add("patients", "surgery_day", "given for a patient without surgery (surgery = none); leave it empty", bad, patients)
    fu = None
    if patients is not None and {"patient_id", "followup_days"} <= set(patients.columns):
        fu = pd.Series(patients["followup_days"].to_numpy(), index=patients["patient_id"].astype("string").to_numpy())
        fu = fu[~fu.index.duplicated()]
    for name, time_col in (("visits", "day"), ("adherence", "week")):
        df = tables.get(name)
        if df is None or not {"patient_id", time_col} <= set(df.columns):
            continue
        _order_and_key_checks(name, df, time_col, problems, patients)
        if fu is not None:
            limit = fu.reindex(df["patient_id"].astype("string").to_numpy()).to_numpy()
            start_day = df[time_col].to_numpy() * (7 if name == "adherence" else 1)
            late = np.flatnonzero(np.isfinite(limit) & (start_day > limit))
            what = "visit after" if name == "visits" else "week starts after"
            problems.add(name, time_col, f"{what} the patient's end of follow-up (patients.followup_days)", late, df)
        if name == "visits" and patients is not None and "first_contact_day" in patients.columns:
            first = pd.Series(_days(patients, "first_contact_day"), index=patients["patient_id"].astype("string").to_numpy())
            first = first[~first.index.duplicated()].reindex(df["patient_id"].astype("string").to_numpy()).to_numpy()
            early = np.flatnonzero(np.isfinite(first) & (df[time_col].to_numpy(dtype="float64") < first))
            problems.add(name, time_col, "visit before the patient's first contact (patients.first_contact_day)", early, df)
    adherence = tables.get("adherence")
    if adherence is not None:
        for stem in EXERCISES:
            p, c = f"{stem}_prescribed", f"{stem}_completed"
            if {p, c} <= set(adherence.columns):
                bad = np.flatnonzero(adherence[c].to_numpy() > adherence[p].to_numpy())
                problems.add("adherence", c, f"more sessions completed than prescribed ({p})", bad, adherence)
        for device in ("afo", "fes"):
            p, h = f"{device}_hours_prescribed", f"{device}_hours"
            if {p, h} <= set(adherence.columns):
                bad = np.flatnonzero(adherence[p].isna().to_numpy() != adherence[h].isna().to_numpy())
                problems.add("adherence", h, f"must be given exactly when {p} is given (empty for both when not prescribed)", bad, adherence)


def _allowed_values(column: pa.Column) -> list[str] | None:
    for check in column.checks:
        if check.name == "isin":
            return list(check.statistics["allowed_values"])
    return None


def normalise_dtypes(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Give categorical columns their declared categories, and ``patient_id`` the patients' ids.

    Closed vocabularies keep their declared order (severity is ordered: mild < moderate <
    severe), so a cohort has the same dtypes whether it was simulated, read from Parquet or
    from CSV. Used by validation and by the simulator (whose tables are valid by construction).
    """
    typed = tables
    # closed vocabularies keep their declared order (severity is ordered: mild < moderate < severe)
    for name in TABLES:
        for col, spec in SCHEMAS[name].columns.items():
            if col not in typed[name].columns:
                continue  # an optional column the table does not have
            dtype = str(spec.dtype)
            if dtype in ("boolean", "Int64") and str(typed[name][col].dtype) != dtype:
                # nullable columns always have the nullable dtype, missing values or not
                typed[name][col] = typed[name][col].astype("float64" if dtype == "Int64" and typed[name][col].dtype == object
                                                             else typed[name][col].dtype).astype(dtype)
            allowed = _allowed_values(spec)
            if allowed is not None:
                # set_categories, not astype: pandas treats unordered dtypes with the same
                # categories in another order as equal, and astype would keep the old order
                values = typed[name][col]
                if not isinstance(values.dtype, pd.CategoricalDtype):
                    values = values.astype("category")
                typed[name][col] = values.cat.set_categories(allowed, ordered=(col == "severity"))
    # categories of patient_id in the child tables follow the patients table, so joins are exact
    ids = pd.Index(typed["patients"]["patient_id"].astype("string").to_numpy(dtype=object))
    for name in TABLES:
        col = typed[name]["patient_id"]
        if isinstance(col.dtype, pd.CategoricalDtype):
            if col.cat.categories.dtype == object and col.cat.categories.equals(ids):
                continue  # already the patients' ids in their order (simulated tables): set_categories would only copy
            col = col.cat.rename_categories(col.cat.categories.astype(str)) if col.cat.categories.dtype != object else col
            typed[name]["patient_id"] = col.cat.set_categories(ids)
        else:
            typed[name]["patient_id"] = pd.Categorical(col.astype("string").to_numpy(dtype=object), categories=ids)
    return typed


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    source: str = "in-memory tables",
    row_offset: Mapping[str, int] | None = None,
) -> dict[str, pd.DataFrame]:
    """Validate and type the three cohort tables.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        ``patients``, ``visits`` and ``adherence`` (all three are required).
    source : str
        Where the tables came from; used in the error message.
    row_offset : mapping of str to int, optional
        Added to 0-based row positions in messages (2 for CSV files: header line plus 1-based
        lines), per table.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables with every column converted to its declared dtype, in schema column order,
        with a fresh ``RangeIndex``.

    Raises
    ------
    CohortValidationError
        With every problem found, each naming the table, column and rows at fault.
    """
    problems = _Problems(row_offset or {})
    missing = [t for t in TABLES if t not in tables]
    if missing:
        for t in missing:
            problems.rows.append({"table": t, "column": "", "problem": "table is missing", "rows": "all", "n_rows": 0})
        raise CohortValidationError(problems.frame(), source)
    typed: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        df = tables[name]
        if len(df) == 0 and name != "adherence":
            problems.rows.append({"table": name, "column": "", "problem": "table is empty", "rows": "none", "n_rows": 0})
        typed[name], bad = _coerce_table(name, df, problems)
        _check_with_pandera(name, typed[name], bad, problems)
    _cross_table_checks(typed, problems)
    if problems.rows:
        raise CohortValidationError(problems.frame(), source)
    return normalise_dtypes(typed)


# ----------------------------------------------------------------------------------------------
# data dictionary


def _rule(column: pa.Column) -> str:
    parts = []
    for check in column.checks:
        stats = check.statistics or {}
        if check.name == "isin":
            parts.append("one of: " + ", ".join(f"`{v}`" for v in stats["allowed_values"]))
        elif check.name == "in_range":
            parts.append(f"{stats['min_value']} to {stats['max_value']}")
        elif check.name == "str_length":
            parts.append(f"text, {stats.get('min_value')}-{stats.get('max_value')} characters")
        else:
            parts.append(check.name)
    return "; ".join(parts)


def data_dictionary() -> str:
    """Render the data dictionary of the cohort model as Markdown, from the schemas.

    Returns
    -------
    str
        The content of ``docs/data_dictionary.md`` (a test checks that the file is current).
    """
    lines = [
        "# Data dictionary",
        "",
        f"Cohort schema version {SCHEMA_VERSION}. Generated from `footdrop_outcomes.cohort.schema`",
        "by `footdrop-outcomes data-dictionary`; do not edit by hand.",
        "",
        "A cohort is three tables keyed by a pseudonymous `patient_id`. Every time is relative to the",
        "onset of foot drop (days or weeks since onset); there are no calendar dates anywhere.",
        "Loading checks every rule below and refuses the whole cohort, naming table, column and rows,",
        "if one is broken. Cross-table rules: visits and adherence weeks belong to known patients,",
        "lie within follow-up (`patients.followup_days`) and are in increasing time order per",
        "patient; no visit comes before the patient's `first_contact_day` (when given), and first",
        "contact, treatment and surgery days are not after `followup_days`; `surgery_day` is empty",
        "when `surgery` is `none`; completed sessions never exceed prescribed ones; device hours are",
        "given exactly when the device is prescribed; severity agrees with the baseline MRC grade.",
        "",
        "**Missing values.** Covariates that real extracts often lack (\"missing allowed: yes\") may be",
        "empty; they are held as pandas nullable types (`boolean`, `Int64`, `category` with NaN,",
        "`float64` with NaN) whether the cohort was simulated, read from Parquet or from CSV, and",
        "\"unknown\" codes in an extract become missing through the mapping file (`[table.unknown]`,",
        "docs/privacy.md). Models leave incomplete rows out only with a `MissingDataWarning` and a",
        "count in their `info`, or use multiple imputation (docs/missing_data.md). The key, cause,",
        "severity and outcome columns are never missing.",
        "",
        "**Optional columns** (\"required: no\") were added in schema 1.1; cohorts without them load",
        "unchanged. Without `first_contact_day` every patient is taken as observed from onset.",
        "",
    ]
    for name, schema in SCHEMAS.items():
        key = ", ".join(f"`{k}`" for k in (schema.unique or []))
        lines += [f"## `{name}`", "", f"{schema.description} Key: {key}.", "",
                  "| column | type | unit | allowed values | missing allowed | required | description |",
                  "|---|---|---|---|---|---|---|"]
        for col_name, col in schema.columns.items():
            unit = (col.metadata or {}).get("unit", "")
            lines.append(
                f"| `{col_name}` | {col.dtype} | {unit} | {_rule(col)} | {'yes' if col.nullable else 'no'} | "
                f"{'yes' if col.required else 'no'} | {col.description} |"
            )
        lines.append("")
    return "\n".join(lines)
