"""OMOP CDM v5.4 -> foot-drop cohort, with DuckDB as the engine.

:func:`import_omop` reads a CDM (a DuckDB file, or a folder of CDM tables as CSV or Parquet),
finds the foot-drop cohort with the concept sets of :mod:`footdrop_outcomes.sources.concepts`,
turns every calendar date into days since onset inside DuckDB (no date leaves the database
engine), builds the three cohort tables and hands them to the flat import
(:func:`footdrop_outcomes.privacy.import_cohort`: privacy guard, schema, atomic write,
manifest). The rules are listed in ``docs/data_sources.md``; the main ones:

* **entry** (onset, day 0): the first ``condition_occurrence`` in ``foot_drop``;
* **cause**: conditions and procedures around onset, one cause by a documented precedence;
* **strength and gait**: ``measurement`` in ``dorsiflexion_mrc`` / ``gait_speed`` /
  ``rom_dorsiflexion``, units converted from their UCUM unit concepts;
* **AFO / FES** from ``device_exposure``, **surgery** from ``procedure_occurrence``,
  **follow-up** from the ``observation_period`` that holds onset, **death** from ``death``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.vocabulary import SEVERITY_MRC
from footdrop_outcomes.errors import CohortIOError, ConfigError
from footdrop_outcomes.sources._cdm import CdmSource
from footdrop_outcomes.sources._handoff import Origin, SourceProblems, import_frames
from footdrop_outcomes.sources.concepts import concept_set_items, load_concept_sets

__all__ = ["CAUSE_PRECEDENCE", "FEMALE", "MALE", "UNIT_CONVERSIONS", "OmopImport", "OmopOptions", "import_omop"]

#: OMOP gender concepts.
MALE, FEMALE = 8507, 8532
#: OMOP "Yes" / "No" answer concepts (``value_as_concept_id`` of an observation).
_YES = 4188539

#: Default cause precedence (first wins) when a patient has evidence of several causes.
CAUSE_PRECEDENCE: tuple[str, ...] = (
    "post_surgical_spine", "post_surgical_hip_knee", "stroke", "als", "multiple_sclerosis",
    "lumbar_radiculopathy", "peripheral_neuropathy", "peroneal_compression",
)
#: Cause -> (concept set, window start, window end) in days relative to onset (None: no limit).
_CAUSE_EVIDENCE: dict[str, tuple[str, int | None, int]] = {
    "post_surgical_spine": ("cause_spine_surgery", -90, 0),
    "post_surgical_hip_knee": ("cause_hip_knee_arthroplasty", -90, 0),
    "stroke": ("cause_stroke", -365, 30),
    "als": ("cause_als", None, 30),
    "multiple_sclerosis": ("cause_multiple_sclerosis", None, 30),
    "lumbar_radiculopathy": ("cause_lumbar_radiculopathy", -365, 30),
    "peripheral_neuropathy": ("cause_peripheral_neuropathy", None, 30),
    "peroneal_compression": ("cause_peroneal_compression", -365, 30),
}

#: Concept set -> UCUM unit code -> (multiply, add); ``"s"`` for gait speed is the 10-metre walk time.
UNIT_CONVERSIONS: dict[str, dict[str | None, tuple[float, float]]] = {
    "dorsiflexion_mrc": {None: (1.0, 0.0), "{score}": (1.0, 0.0)},
    "dorsiflexion_mrc_onset": {None: (1.0, 0.0), "{score}": (1.0, 0.0)},
    "gait_speed": {"m/s": (1.0, 0.0), "km/h": (1 / 3.6, 0.0), "cm/s": (0.01, 0.0), "[ft_i]/s": (0.3048, 0.0), "s": (np.nan, 0.0)},
    "rom_dorsiflexion": {"deg": (1.0, 0.0), "rad": (57.29577951308232, 0.0)},
    "hba1c": {"%": (1.0, 0.0), "mmol/mol": (1 / 10.929, 2.15)},
    "bmi": {"kg/m2": (1.0, 0.0)},
}
_VISIT_SETS = ("dorsiflexion_mrc", "dorsiflexion_mrc_onset", "gait_speed", "rom_dorsiflexion")
_AFO_SETS = {"rigid": "afo_rigid", "hinged": "afo_hinged", "carbon": "afo_carbon"}
_SURGERY_SETS = {"decompression": "surgery_decompression", "nerve_repair_graft": "surgery_nerve_repair_graft",
                 "tendon_transfer": "surgery_tendon_transfer"}
_SMOKING_SETS = {"current": "smoking_current", "former": "smoking_former", "never": "smoking_never"}
_EXCLUDE = "exclude"


@dataclass(frozen=True)
class OmopOptions:
    """Rules of the OMOP import that a study may change (defaults documented in ``docs/data_sources.md``).

    Attributes
    ----------
    baseline_window_days : int
        The baseline MRC grade is the first dorsiflexion measurement within this many days of onset.
    covariate_window_days : int
        HbA1c, BMI, smoking, diabetes: the latest record up to this many days after onset.
    end_tolerance_days : int
        Follow-up ending within this many days of the CDM's last observation date is
        ``study_end``; earlier, ``dropout``.
    death_window_days : int
        A death up to this many days after the observation period's end ends follow-up as ``death``.
    cause_precedence : tuple of str
        Order in which causes win when a patient has evidence of several.
    two_causes : {"precedence", "exclude"}
        Resolve several causes by ``cause_precedence`` (counted) or exclude the patient.
    before_entry : {"refuse", "ignore"}
        A strength, gait-speed or range-of-motion measurement dated before onset is refused as
        an error of the extract (default) or ignored (counted).
    side_unknown : {"missing", "exclude", "left", "right", "bilateral"}
        Side when no side-specific code is recorded: left empty (default), patient excluded,
        or a given side.
    smoking_unknown : {"missing", "exclude", "never", "former", "current"}
        Smoking status when none is recorded (same choices).
    """

    baseline_window_days: int = 30
    covariate_window_days: int = 30
    end_tolerance_days: int = 30
    death_window_days: int = 30
    cause_precedence: tuple[str, ...] = CAUSE_PRECEDENCE
    two_causes: Literal["precedence", "exclude"] = "precedence"
    before_entry: Literal["refuse", "ignore"] = "refuse"
    side_unknown: Literal["missing", "exclude", "left", "right", "bilateral"] = "missing"
    smoking_unknown: Literal["missing", "exclude", "never", "former", "current"] = "missing"

    def __post_init__(self) -> None:
        if sorted(self.cause_precedence) != sorted(CAUSE_PRECEDENCE):
            raise ConfigError(f"cause_precedence must order every cause once: {', '.join(CAUSE_PRECEDENCE)}")
        choices = {"two_causes": ("precedence", "exclude"), "before_entry": ("refuse", "ignore"),
                   "side_unknown": ("missing", "exclude", "left", "right", "bilateral"),
                   "smoking_unknown": ("missing", "exclude", "never", "former", "current")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"OmopOptions {key} must be one of {', '.join(allowed)}")
        for key in ("baseline_window_days", "covariate_window_days", "end_tolerance_days", "death_window_days"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 0:
                raise ConfigError(f"OmopOptions {key} must be a whole number of days >= 0")


@dataclass
class OmopImport:
    """What :func:`import_omop` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The cohort directory.
    rows : dict of str to int
        Rows written per cohort table.
    handled : dict
        Documented changes (the flat import's, plus the OMOP rules' counts).
    attrition : pandas.DataFrame
        ``step``, ``excluded``, ``remaining``: entered, each exclusion rule in order, included.
        Raw counts: publish them only through release control (``footdrop_outcomes.release``).
    concept_sets : pandas.DataFrame
        ``set_name`` and ``n_concepts``: how many concepts each set resolved to in this CDM.
    """

    path: Path
    rows: dict[str, int]
    handled: dict[str, Any]
    attrition: pd.DataFrame
    concept_sets: pd.DataFrame = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        """The attrition table."""
        return self.attrition

    def plot(self, ax: Any = None) -> Any:
        """Horizontal bars of patients remaining after each step (for the analyst; not a released figure)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.4 * len(self.attrition) + 1))
        ax.barh(self.attrition["step"][::-1], self.attrition["remaining"][::-1])
        ax.set_xlabel("patients remaining")
        return ax

    def __repr__(self) -> str:
        return f"OmopImport({self.path}: {self.rows['patients']} patients, {self.rows['visits']} visits)"


_VIEWS: dict[str, tuple[list[str], bool]] = {
    "person": (["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "care_site_id"], True),
    "observation_period": (["person_id", "observation_period_start_date", "observation_period_end_date"], True),
    "condition_occurrence": (["person_id", "condition_concept_id", "condition_start_date", "condition_source_concept_id"], True),
    "procedure_occurrence": (["person_id", "procedure_concept_id", "procedure_date", "procedure_source_concept_id"], False),
    "device_exposure": (["person_id", "device_concept_id", "device_exposure_start_date", "device_exposure_end_date",
                         "device_source_concept_id"], False),
    "measurement": (["person_id", "measurement_concept_id", "measurement_date", "value_as_number", "unit_concept_id",
                     "measurement_source_concept_id"], True),
    "observation": (["person_id", "observation_concept_id", "observation_date", "value_as_number", "value_as_concept_id",
                     "observation_source_concept_id"], False),
    "death": (["person_id", "death_date"], False),
    "care_site": (["care_site_id", "care_site_source_value"], False),
    "concept": (["concept_id", "vocabulary_id", "concept_code", "standard_concept"], True),
    "concept_ancestor": (["ancestor_concept_id", "descendant_concept_id"], True),
    "concept_relationship": (["concept_id_1", "concept_id_2", "relationship_id"], False),
}
# event tables: (table, concept column, source concept column, date, end date, value, unit, value concept)
_EVENTS = (
    ("condition_occurrence", "condition_concept_id", "condition_source_concept_id", "condition_start_date", None, None, None, None),
    ("procedure_occurrence", "procedure_concept_id", "procedure_source_concept_id", "procedure_date", None, None, None, None),
    ("device_exposure", "device_concept_id", "device_source_concept_id", "device_exposure_start_date", "device_exposure_end_date",
     None, None, None),
    ("measurement", "measurement_concept_id", "measurement_source_concept_id", "measurement_date", None, "value_as_number",
     "unit_concept_id", None),
    ("observation", "observation_concept_id", "observation_source_concept_id", "observation_date", None, "value_as_number",
     None, "value_as_concept_id"),
)


def _resolve_concept_sets(con: Any, items: pd.DataFrame) -> None:
    con.register("_items", items)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _items_r AS
        SELECT i.set_name, i.descendants, i.excluded, c.concept_id AS cid, c.standard_concept AS std
        FROM _items i JOIN concept c ON c.concept_id = i.concept_id WHERE i.concept_id IS NOT NULL
        UNION ALL
        SELECT i.set_name, i.descendants, i.excluded, c.concept_id, c.standard_concept
        FROM _items i JOIN concept c ON c.vocabulary_id = i.vocabulary_id AND c.concept_code = i.concept_code
        WHERE i.concept_id IS NULL""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _cs AS
        WITH roots AS (
            SELECT set_name, descendants, excluded, cid AS root FROM _items_r WHERE std = 'S'
            UNION ALL
            SELECT r.set_name, r.descendants, r.excluded, cr.concept_id_2 FROM _items_r r
            JOIN concept_relationship cr ON cr.concept_id_1 = r.cid AND cr.relationship_id = 'Maps to'
            WHERE coalesce(r.std, '') <> 'S' AND r.descendants),
        members AS (
            SELECT set_name, excluded, cid AS concept_id FROM _items_r
            UNION SELECT set_name, excluded, root FROM roots
            UNION SELECT r.set_name, r.excluded, ca.descendant_concept_id FROM roots r
            JOIN concept_ancestor ca ON ca.ancestor_concept_id = r.root WHERE r.descendants)
        SELECT set_name, concept_id FROM members WHERE NOT excluded
        EXCEPT SELECT set_name, concept_id FROM members WHERE excluded""")


def _events_sql() -> str:
    parts = []
    for table, ccol, scol, date, end, value, unit, vconc in _EVENTS:
        for col in (ccol, scol):
            parts.append(
                f"SELECT '{table}' AS tbl, x._row, x.person_id, s.set_name, x.{date} AS d, "
                f"{'x.' + end if end else 'CAST(NULL AS DATE)'} AS d_end, "
                f"{'CAST(x.' + value + ' AS DOUBLE)' if value else 'CAST(NULL AS DOUBLE)'} AS value, "
                f"{'x.' + unit if unit else 'CAST(NULL AS BIGINT)'} AS unit_id, "
                f"{'x.' + vconc if vconc else 'CAST(NULL AS BIGINT)'} AS value_concept "
                f"FROM {table} x JOIN _cs s ON s.concept_id = x.{col}")
    return "CREATE OR REPLACE TEMP TABLE _ev AS " + "\nUNION\n".join(parts)


def import_omop(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    concept_sets: str | os.PathLike[str] | None = None,
    options: OmopOptions | None = None,
    schema: str = "main",
    pseudonymise_ids: bool = True,
    overwrite: bool = False,
) -> OmopImport:
    """Import a foot-drop cohort from an OMOP CDM v5.4 into a validated cohort directory.

    Parameters
    ----------
    source : path-like
        A DuckDB file (``.duckdb``) holding the CDM tables, or a folder of CDM tables as
        ``<table>.csv`` (``.csv.gz``) or ``<table>.parquet`` (names as in the CDM v5.4 DDL).
    out : path-like
        Cohort directory to write (atomically; must not exist unless ``overwrite=True``).
    concept_sets : path-like, optional
        Folder of edited concept-set JSON files (ATLAS shape) replacing the shipped ones by name
        (:func:`~footdrop_outcomes.sources.load_concept_sets`).
    options : OmopOptions, optional
        Rule settings (windows, cause precedence, what to do with unknown side or smoking).
    schema : str
        Schema of the CDM tables in a DuckDB file.
    pseudonymise_ids : bool
        Replace ``person_id`` by ``P0000001``, ... (default: the CDM's keys link back to it).
    overwrite : bool
        Replace an existing cohort directory.

    Returns
    -------
    OmopImport
        With the attrition table (``.summary``) and the concept sets' sizes.

    Raises
    ------
    CohortValidationError
        Rules broken by the CDM (unknown unit, measurement before onset, no observation period
        at onset, ...) or by the cohort schema: every problem, naming CDM table, column and rows.
    PrivacyError
        The built cohort holds something that looks like an identifier (e.g. a site name).
    CohortIOError
        The CDM cannot be read (missing table or column, wrong type), or ``out`` exists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from footdrop_outcomes.sources import export_omop, import_omop
    >>> from footdrop_outcomes import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as d:
    ...     cdm = export_omop(simulate_cohort(20, seed=3), pathlib.Path(d) / "cdm")
    ...     result = import_omop(cdm, pathlib.Path(d) / "cohort")
    ...     print(result.attrition["remaining"].iloc[-1])
    20
    """
    opts = options or OmopOptions()
    sets = load_concept_sets(concept_sets)
    cdm = CdmSource(source, schema=schema)
    con = cdm.con
    for table, (columns, required) in _VIEWS.items():
        cdm.view(table, columns, required=required)
    problems = SourceProblems(str(cdm.path))
    import duckdb

    try:
        persons, ev, sizes = _query(con, sets)
    except duckdb.Error as err:  # DuckDB's own text may quote a value: never passed on
        raise CohortIOError(f"{cdm.path}: the CDM could not be read ({type(err).__name__}); a value is not of its CDM v5.4 "
                            "type (dates YYYY-MM-DD, whole-number ids and concepts); values are not shown") from None
    finally:
        con.close()
    return _build(cdm, persons, ev, sizes, sets, opts, problems, out, pseudonymise_ids, overwrite)


def _query(con: Any, sets: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The SQL part: concept sets, events and persons, with every date turned into days since onset."""
    _resolve_concept_sets(con, concept_set_items(sets))
    sizes = con.execute("SELECT set_name, count(DISTINCT concept_id) AS n FROM _cs GROUP BY set_name").df()
    sizes = pd.DataFrame({"set_name": list(sets)}).merge(sizes, on="set_name", how="left").fillna({"n": 0})
    sizes = sizes.rename(columns={"n": "n_concepts"}).astype({"n_concepts": "int64"})
    con.execute(_events_sql())
    con.execute("""CREATE OR REPLACE TEMP TABLE _entry AS
        SELECT person_id, min(d) AS idx, arg_min(_row, d) AS entry_row FROM _ev
        WHERE set_name = 'foot_drop' AND tbl = 'condition_occurrence' GROUP BY person_id""")
    persons = con.execute("""
        WITH op AS (
            SELECT n.person_id, max(date_diff('day', n.idx, o.observation_period_end_date)) AS end_day,
                   min(date_diff('day', o.observation_period_end_date, (SELECT max(observation_period_end_date) FROM observation_period))) AS end_gap
            FROM _entry n JOIN observation_period o ON o.person_id = n.person_id
             AND n.idx BETWEEN o.observation_period_start_date AND o.observation_period_end_date GROUP BY n.person_id),
        dth AS (SELECT person_id, min(death_date) AS dd, arg_min(_row, death_date) AS death_row FROM death GROUP BY person_id),
        sites AS (SELECT care_site_id, any_value(care_site_source_value) AS label FROM care_site GROUP BY care_site_id)
        SELECT n.person_id, n.entry_row, p._row AS person_row, p.gender_concept_id AS gender,
               year(n.idx) - p.year_of_birth - CASE
                   WHEN p.month_of_birth IS NULL THEN CASE WHEN month(n.idx) < 7 THEN 1 ELSE 0 END
                   WHEN month(n.idx) < p.month_of_birth OR (month(n.idx) = p.month_of_birth AND day(n.idx) < coalesce(p.day_of_birth, 1)) THEN 1
                   ELSE 0 END AS age,
               p.care_site_id, s.label AS site_label, op.end_day, op.end_gap,
               date_diff('day', n.idx, dth.dd) AS death_day, dth.death_row
        FROM _entry n LEFT JOIN person p ON p.person_id = n.person_id LEFT JOIN op ON op.person_id = n.person_id
        LEFT JOIN dth ON dth.person_id = n.person_id LEFT JOIN sites s ON s.care_site_id = p.care_site_id
        ORDER BY n.person_id""").df()
    ev = con.execute("""
        SELECT e.tbl, e._row, e.person_id, e.set_name, date_diff('day', n.idx, e.d) AS day,
               date_diff('day', n.idx, e.d_end) AS day_end, e.value, e.unit_id, u.concept_code AS unit, e.value_concept
        FROM _ev e JOIN _entry n ON n.person_id = e.person_id
        LEFT JOIN concept u ON u.concept_id = e.unit_id AND e.unit_id <> 0""").df()
    for col in ("tbl", "set_name", "unit"):  # few distinct values: categories keep memory low on big CDMs
        ev[col] = ev[col].astype("category")
    return persons, ev, sizes


def _build(cdm: CdmSource, persons: pd.DataFrame, ev: pd.DataFrame, sizes: pd.DataFrame, sets: dict[str, Any], opts: OmopOptions,
           problems: SourceProblems, out: str | os.PathLike[str], pseudonymise_ids: bool, overwrite: bool) -> OmopImport:
    """The per-person rules on the days-since-onset frames, then the hand-over to the flat import."""

    # ------------------------------------------------------------------ errors of the extract
    missing_person = persons["person_row"].isna()
    problems.add("condition_occurrence", "person_id", "person not in the person table", persons.loc[missing_person, "entry_row"])
    no_period = persons["end_day"].isna() & ~missing_person
    problems.add("condition_occurrence", "condition_start_date",
                 "no observation_period of the person covers the cohort entry (first foot-drop condition)",
                 persons.loc[no_period, "entry_row"])
    early_death = persons["death_day"].notna() & (persons["death_day"] < 0)
    problems.add("death", "death_date", "death before the cohort entry (first foot-drop condition)", persons.loc[early_death, "death_row"])
    ev["day"] = ev["day"].astype("float64")
    ev["day_end"] = ev["day_end"].astype("float64")
    handled: dict[str, Any] = {"measurements_before_onset_ignored": 0, "visit_measurements_after_followup_dropped": 0,
                               "causes_resolved_by_precedence": 0, "followup_capped_at_3650_days": 0,
                               "falls_after_last_visit_not_counted": 0}
    conv_value = ev["value"].to_numpy(dtype="float64", na_value=np.nan).copy()
    for set_name, units in UNIT_CONVERSIONS.items():
        sel = (ev["set_name"] == set_name).to_numpy()
        if not sel.any():
            continue
        unit = ev.loc[sel, "unit"].astype(object).where(ev.loc[sel, "unit"].notna(), None)
        unit_id = ev.loc[sel, "unit_id"]
        given = unit_id.notna() & (unit_id != 0)
        unknown_concept = given & unit.isna()
        known = unit.isin([u for u in units if u is not None])
        no_unit = ~given
        bad = unknown_concept | (given & ~known) | (no_unit & (None not in units))
        allowed = ", ".join(u for u in units if u is not None)
        problems.add("measurement", "unit_concept_id",
                     f"unit of a {set_name} measurement is missing or not one of the UCUM units {allowed}",
                     ev.loc[sel, "_row"][bad.to_numpy()])
        vals = conv_value[sel]
        conv = np.full(vals.shape, np.nan)
        for u, (mult, add) in units.items():
            m = (no_unit.to_numpy() if u is None else (unit == u).to_numpy()) & ~bad.to_numpy()
            if set_name == "gait_speed" and u == "s":
                with np.errstate(divide="ignore", invalid="ignore"):
                    conv[m] = np.where(vals[m] > 0, 10.0 / vals[m], np.nan)
            else:
                conv[m] = vals[m] * mult + add
        conv_value[sel] = conv
    ev["converted"] = conv_value
    visit_ev = ev["set_name"].isin(_VISIT_SETS) & (ev["tbl"] == "measurement")
    before = visit_ev & (ev["day"] < 0)
    if opts.before_entry == "refuse":
        problems.add("measurement", "measurement_date",
                     "strength, gait-speed or range-of-motion measurement before the cohort entry (first foot-drop condition); "
                     "fix the extract or use before_entry='ignore'", ev.loc[before, "_row"])
    else:
        handled["measurements_before_onset_ignored"] = int(before.sum())
    no_value = visit_ev & ev["value"].isna()
    problems.add("measurement", "value_as_number", "strength, gait-speed or range-of-motion measurement without a value",
                 ev.loc[no_value, "_row"])
    problems.raise_if_any()
    ev = ev[~before].reset_index(drop=True)

    # ------------------------------------------------------------------ per-person rules
    p = persons.set_index("person_id")
    entered = len(p)
    steps: list[tuple[str, int]] = []
    keep = pd.Series(True, index=p.index)

    def exclude(step: str, mask: pd.Series) -> None:
        mask = mask.reindex(p.index, fill_value=False).astype(bool) & keep
        steps.append((step, int(mask.sum())))
        keep[mask] = False

    def in_window(set_name: str, lo: float | None, hi: float) -> pd.Series:
        e = ev[(ev["set_name"] == set_name) & (ev["day"] <= hi) & ((ev["day"] >= lo) if lo is not None else True)]
        return pd.Series(True, index=pd.Index(e["person_id"].unique())).reindex(p.index, fill_value=False)

    def latest(set_name: str, hi: float, column: str = "converted") -> pd.Series:
        e = ev[(ev["set_name"] == set_name) & (ev["day"] <= hi)].sort_values(["person_id", "day", "_row"])
        return e.groupby("person_id")[column].last().reindex(p.index)

    def latest_day(set_names: dict[str, str], hi: float) -> pd.Series:
        frames = [ev[(ev["set_name"] == s) & (ev["day"] <= hi)].assign(label=label) for label, s in set_names.items()]
        e = pd.concat(frames).sort_values(["person_id", "day", "_row"])
        return e.groupby("person_id")["label"].last().reindex(p.index)

    exclude("aged under 16 at onset", p["age"] < 16)
    exclude("sex not recorded as female or male", ~p["gender"].isin([MALE, FEMALE]))
    evidence = pd.DataFrame({cause: in_window(set_name, lo, hi) for cause, (set_name, lo, hi) in _CAUSE_EVIDENCE.items()})
    n_causes = evidence.sum(axis=1)
    exclude("no cause recorded", n_causes == 0)
    if opts.two_causes == "exclude":
        exclude("more than one cause recorded", n_causes > 1)
    else:
        handled["causes_resolved_by_precedence"] = int(((n_causes > 1) & keep).sum())
    cause = pd.Series(pd.NA, index=p.index, dtype="object")
    for c in reversed(opts.cause_precedence):
        cause[evidence[c]] = c
    entry_window = (-opts.baseline_window_days, opts.baseline_window_days)
    left = in_window("side_left", *entry_window) | in_window("side_bilateral", *entry_window)
    right = in_window("side_right", *entry_window) | in_window("side_bilateral", *entry_window)
    side = pd.Series(np.where(left & right, "bilateral", np.where(left, "left", np.where(right, "right", None))), index=p.index, dtype=object)
    if opts.side_unknown == _EXCLUDE:
        exclude("affected side not recorded", side.isna())
    elif opts.side_unknown != "missing":
        side = side.fillna(opts.side_unknown)
    smoking = latest_day(_SMOKING_SETS, opts.covariate_window_days)
    if opts.smoking_unknown == _EXCLUDE:
        exclude("smoking status not recorded", smoking.isna())
    elif opts.smoking_unknown != "missing":
        smoking = smoking.fillna(opts.smoking_unknown)

    # follow-up
    end_day = p["end_day"].astype("float64")
    death_day = p["death_day"].astype("float64")
    died = death_day.notna() & (death_day <= end_day + opts.death_window_days)
    followup = np.where(died, death_day, end_day)
    followup_end = np.where(died, "death", np.where(p["end_gap"] <= opts.end_tolerance_days, "study_end", "dropout"))
    capped = followup > 3650
    handled["followup_capped_at_3650_days"] = int((capped & keep.to_numpy()).sum())
    followup_end = np.where(capped, "study_end", followup_end)
    followup = pd.Series(np.minimum(followup, 3650), index=p.index)

    # visits: one per day with a dorsiflexion grade, up to the end of follow-up
    fu_of = followup.reindex(ev["person_id"]).to_numpy()
    after = ev["set_name"].isin(_VISIT_SETS).to_numpy() & (ev["day"].to_numpy() > fu_of)
    handled["visit_measurements_after_followup_dropped"] = int(after.sum())
    ev = ev[~after].reset_index(drop=True)
    mrc = ev[ev["set_name"] == "dorsiflexion_mrc"].sort_values(["person_id", "day", "_row"])
    visits = mrc.groupby(["person_id", "day"], as_index=False).agg(mrc=("converted", "min"), row=("_row", "first"))
    for set_name, col in (("gait_speed", "gait_speed"), ("rom_dorsiflexion", "rom_deg")):
        per_day = ev[ev["set_name"] == set_name].groupby(["person_id", "day"], as_index=False)["converted"].mean()
        visits = visits.merge(per_day.rename(columns={"converted": col}), on=["person_id", "day"], how="left")
    # baseline grade: a grade recorded as "at onset" within the window, else the first visit's grade
    first = visits.groupby("person_id").first()
    baseline = first["mrc"].reindex(p.index)
    base_day = first["day"].reindex(p.index)
    onset = ev[(ev["set_name"] == "dorsiflexion_mrc_onset") & (ev["day"] <= opts.baseline_window_days)]
    onset = onset.sort_values(["person_id", "day", "_row"]).groupby("person_id").first().reindex(p.index)
    has_onset = onset["converted"].notna()
    baseline = baseline.where(~has_onset, onset["converted"])
    base_day = base_day.where(~has_onset, onset["day"])
    exclude(f"no dorsiflexion strength within {opts.baseline_window_days} days of onset",
            baseline.isna() | (base_day > opts.baseline_window_days))
    exclude("full strength (MRC 5) at the first measurement", baseline >= 5)
    steps_frame = pd.DataFrame(steps, columns=["step", "excluded"])
    remaining = entered - steps_frame["excluded"].cumsum()
    attrition = pd.concat([
        pd.DataFrame({"step": ["persons with a foot-drop condition"], "excluded": [0], "remaining": [entered]}),
        steps_frame.assign(remaining=remaining.to_numpy()),
        pd.DataFrame({"step": ["included"], "excluded": [0], "remaining": [int(keep.sum())]}),
    ], ignore_index=True).astype({"excluded": "int64", "remaining": "int64"})

    ids = p.index[keep.to_numpy()]
    visits = visits[visits["person_id"].isin(ids)].sort_values(["person_id", "day"]).reset_index(drop=True)
    # falls since the previous visit (since onset at the first): each fall record to the next visit
    falls = ev[(ev["set_name"] == "falls") & (ev["day"] >= 0) & ev["person_id"].isin(ids)].copy()
    falls["n"] = falls["value"].fillna(1.0)
    visits["falls"] = 0.0
    if len(falls) and len(visits):
        f = pd.merge_asof(falls.sort_values("day")[["person_id", "day", "n"]].rename(columns={"day": "fall_day"}).astype({"fall_day": "float64"}),
                          visits[["person_id", "day"]].astype({"day": "float64"}).sort_values("day").rename(columns={"day": "visit_day"}),
                          left_on="fall_day", right_on="visit_day", by="person_id", direction="forward")
        handled["falls_after_last_visit_not_counted"] = int(f["visit_day"].isna().sum())
        sums = f.dropna(subset=["visit_day"]).groupby(["person_id", "visit_day"])["n"].sum()
        key = pd.MultiIndex.from_arrays([visits["person_id"], visits["day"].astype("float64")])
        visits["falls"] = sums.reindex(key).fillna(0.0).to_numpy()
    # AFO still needed: an afo_needed observation that day, else an AFO worn that day
    need = ev[ev["set_name"] == "afo_needed"].copy()
    need["flag"] = (need["value"].fillna(0).to_numpy(dtype="float64") > 0) | need["value_concept"].eq(_YES).fillna(False).to_numpy(bool)
    need_day = need.groupby(["person_id", "day"])["flag"].max()
    key = pd.MultiIndex.from_arrays([visits["person_id"], visits["day"]])
    observed = need_day.reindex(key).to_numpy(dtype=object)
    afo_dev = ev[ev["set_name"].isin(_AFO_SETS.values()) & ev["person_id"].isin(ids)]
    worn = np.zeros(len(visits), dtype=bool)
    if len(afo_dev) and len(visits):
        m = visits[["person_id", "day"]].reset_index().merge(afo_dev[["person_id", "day", "day_end"]].rename(columns={"day": "start"}), on="person_id")
        m = m[(m["start"] <= m["day"]) & (m["day_end"].isna() | (m["day"] <= m["day_end"]))]
        worn[m["index"].unique()] = True
    visits["afo_needed"] = np.where(pd.isna(observed), worn, observed).astype(bool)

    # patients
    kept = p.loc[ids]
    during = lambda set_name: in_window(set_name, 0, 3650).loc[ids] & (
        _first_day(ev, [set_name], ids) <= followup.loc[ids])
    afo = pd.Series("none", index=ids, dtype=object)
    afo_first = {t: _first_day(ev, [s], ids) for t, s in _AFO_SETS.items()}
    best = pd.Series(np.inf, index=ids)
    for t in ("carbon", "hinged", "rigid"):  # earliest device wins; on the same day rigid > hinged > carbon
        d = afo_first[t].where(afo_first[t] <= followup.loc[ids])
        better = d.notna() & (d <= best)
        afo[better] = t
        best = best.where(~better, d)
    surgery = pd.Series("none", index=ids, dtype=object)
    best = pd.Series(np.inf, index=ids)  # the first surgery after onset (its day is surgery_day)
    for t in ("tendon_transfer", "nerve_repair_graft", "decompression"):
        d = _first_day(ev, [_SURGERY_SETS[t]], ids)
        d = d.where((d >= 0) & (d <= followup.loc[ids]))
        better = d.notna() & (d <= best)
        surgery[better] = t
        best = best.where(~better, d)
    first_visit = visits.groupby("person_id")["day"].min().reindex(ids)
    tx = _first_day(ev, ["treatment_start"], ids)
    days_to_treatment = tx.where(tx.notna(), first_visit)
    site_rank = {cid: f"site{k + 1}" for k, cid in enumerate(sorted(kept["care_site_id"].dropna().unique()))}
    site = [str(lbl) if isinstance(lbl, str) and lbl.strip() else (site_rank.get(cid, "unknown") if pd.notna(cid) else "unknown")
            for lbl, cid in zip(kept["site_label"], kept["care_site_id"])]
    base = baseline.loc[ids]
    severity = base.map({g: s for s, grades in SEVERITY_MRC.items() for g in grades})
    patients = pd.DataFrame({
        "patient_id": [str(int(i)) for i in ids],
        "age": kept["age"].to_numpy(dtype="float64"),
        "sex": np.where(kept["gender"] == MALE, "male", "female"),
        "side": side.loc[ids].to_numpy(dtype=object),
        "cause": cause.loc[ids].to_numpy(dtype=object),
        "severity": severity.to_numpy(dtype=object),
        "baseline_mrc": base.to_numpy(dtype="float64"),
        "diabetes": in_window("diabetes", None, opts.covariate_window_days).loc[ids].to_numpy(bool),
        "hba1c": latest("hba1c", opts.covariate_window_days).loc[ids].to_numpy(dtype="float64"),
        "smoking": smoking.loc[ids].to_numpy(dtype=object),
        "bmi": latest("bmi", opts.covariate_window_days).loc[ids].to_numpy(dtype="float64"),
        "days_to_treatment": days_to_treatment.to_numpy(dtype="float64"),
        "home_exercise": during("home_exercise").to_numpy(bool),
        "supervised_physio": during("supervised_physio").to_numpy(bool),
        "afo": afo.to_numpy(dtype=object),
        "fes": during("fes").to_numpy(bool),
        "surgery": surgery.to_numpy(dtype=object),
        "site": site,
        "red_flag_cauda_equina": in_window("red_flag_cauda_equina", -30, 30).loc[ids].to_numpy(bool),
        "red_flag_rapid_worsening": in_window("red_flag_rapid_worsening", -30, 30).loc[ids].to_numpy(bool),
        "followup_days": followup.loc[ids].to_numpy(dtype="float64"),
        "followup_end": pd.Series(followup_end, index=p.index).loc[ids].to_numpy(dtype=object),
        "surgery_day": best.where(np.isfinite(best)).to_numpy(dtype="float64"),
    })
    visit_frame = pd.DataFrame({
        "patient_id": [str(int(i)) for i in visits["person_id"]],
        "day": visits["day"].to_numpy(dtype="float64"),
        "mrc": visits["mrc"].to_numpy(dtype="float64"),
        "rom_deg": visits["rom_deg"].to_numpy(dtype="float64"),
        "gait_speed": visits["gait_speed"].to_numpy(dtype="float64"),
        "falls": visits["falls"].to_numpy(dtype="float64"),
        "afo_needed": visits["afo_needed"].to_numpy(bool),
    })
    adherence = _empty_adherence()
    origins = {
        "patients": Origin("person", kept["person_row"].to_numpy(dtype=np.int64),
                           {"age": "person.year_of_birth", "sex": "person.gender_concept_id", "site": "care_site.care_site_source_value",
                            "followup_days": "observation_period.observation_period_end_date",
                            "baseline_mrc": "measurement.value_as_number", "hba1c": "measurement.value_as_number",
                            "bmi": "measurement.value_as_number", "days_to_treatment": "procedure_occurrence.procedure_date"}),
        "visits": Origin("measurement", visits["row"].to_numpy(dtype=np.int64),
                         {"day": "measurement.measurement_date", "mrc": "measurement.value_as_number",
                          "gait_speed": "measurement.value_as_number", "rom_deg": "measurement.value_as_number",
                          "falls": "observation.value_as_number"}),
    }
    record = {"cdm": "OMOP CDM v5.4", "source_kind": cdm.kind, "options": {k: (list(v) if isinstance(v, tuple) else v)
                                                                         for k, v in opts.__dict__.items()},
              "attrition": attrition.to_dict("records"), "concept_sets": dict(zip(sizes["set_name"], sizes["n_concepts"].astype(int))),
              "concept_set_files": {name: _digest(items) for name, items in sets.items()}, "rules": handled}
    files = dict(cdm.files)
    result = import_frames({"patients": patients, "visits": visit_frame, "adherence": adherence}, out, source=str(cdm.path),
                           source_files=files, generator="import_omop", record=record, origins=origins,
                           pseudonymise_ids=pseudonymise_ids, overwrite=overwrite)
    return OmopImport(path=result.path, rows=result.rows, handled={**result.handled, "omop": handled}, attrition=attrition,
                      concept_sets=sizes)


def _first_day(ev: pd.DataFrame, set_names: list[str], ids: pd.Index) -> pd.Series:
    e = ev[ev["set_name"].isin(set_names) & (ev["day"] >= 0)]
    return e.groupby("person_id")["day"].min().reindex(ids)


def _digest(items: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def _empty_adherence() -> pd.DataFrame:
    from footdrop_outcomes.cohort.schema import SCHEMAS

    cols = {c: pd.Series([], dtype="float64") for c in SCHEMAS["adherence"].columns}
    cols["patient_id"] = pd.Series([], dtype="string")
    return pd.DataFrame(cols)
