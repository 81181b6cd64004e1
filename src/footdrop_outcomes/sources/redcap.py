"""REDCap records export + data dictionary -> foot-drop cohort, through the flat import's mapping.

:func:`import_redcap` reads a REDCap project's data dictionary (the standard CSV: ``Variable /
Field Name``, ``Form Name``, ``Field Type``, ``Field Label``, ``Choices, Calculations, OR Slider
Labels``, ``Text Validation Type OR Show Slider Number``, ``Identifier?``, ...) and a records
export (CSV, raw or labels; classic or longitudinal, with repeating instruments), and a mapping:
the flat import's mapping TOML (:func:`footdrop_outcomes.privacy.load_mapping`; columns are
REDCap field names, checkbox options as ``field___code``) plus a ``[redcap]`` section::

    [redcap]
    onset = "onset_date"          # date field of day 0 (foot-drop onset), per record
    visits = "clinic_visit"       # repeating instrument of the visits (or visit_events = [...])
    adherence = "weekly_diary"    # repeating instrument of the adherence weeks (optional)

What happens, in order:

1. fields marked ``Identifier? = y`` in the dictionary are never read (not even into memory);
2. a labels export is turned back into field names and raw codes with the dictionary;
3. rows are split by ``redcap_repeat_instrument`` / ``redcap_event_name`` into the patient row
   of each record (non-repeating forms; several events are merged, a field given two different
   values is refused), visit rows and adherence rows;
4. every date or datetime field (by its validation type) becomes whole days since the
   record's onset date; the dates are then dropped (the onset field too);
5. the three frames go to :func:`footdrop_outcomes.privacy.import_cohort` with the rest of the
   mapping (codes, units, MRC notations, yes/no): the same guard, schema, manifest and atomic
   write as a flat extract. Errors name the records file, REDCap field and CSV lines.

:func:`redcap_mapping_template` writes a mapping to complete from the dictionary's fields,
choices and validation types.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes.cohort.schema import SCHEMAS, TABLES
from footdrop_outcomes.errors import CohortIOError, ConfigError
from footdrop_outcomes.privacy.importing import ImportResult
from footdrop_outcomes.sources._handoff import Origin, SourceProblems

__all__ = ["RedcapDictionary", "export_redcap", "import_redcap", "read_dictionary", "redcap_mapping_template"]

_SYSTEM = {"redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group",
           "redcap_survey_identifier"}
_LABEL_SYSTEM = {"event name": "redcap_event_name", "repeat instrument": "redcap_repeat_instrument",
                 "repeat instance": "redcap_repeat_instance", "data access group": "redcap_data_access_group",
                 "survey identifier": "redcap_survey_identifier"}
_DATE_VALIDATION = re.compile(r"^(date|datetime|datetime_seconds)_(ymd|dmy|mdy)$")
_NO_COLUMN = {"descriptive"}
_CHOICE_TYPES = {"radio", "dropdown", "checkbox"}
_REDCAP_KEYS = {"onset", "visits", "visit_events", "adherence", "adherence_events"}


@dataclass(frozen=True)
class RedcapDictionary:
    """A parsed REDCap data dictionary.

    Attributes
    ----------
    fields : pandas.DataFrame
        One row per field: ``name``, ``form``, ``type``, ``label``, ``choices`` (dict code ->
        label), ``validation``, ``identifier`` (bool).
    record_id : str
        The record-id field (the dictionary's first field).
    """

    fields: pd.DataFrame
    record_id: str

    def columns_of(self, name: str) -> list[str]:
        """Export columns of a field (``field___code`` for each checkbox option)."""
        row = self.fields.loc[name]
        if row["type"] == "checkbox":
            return [f"{name}___{_checkbox_code(c)}" for c in row["choices"]]
        return [] if row["type"] in _NO_COLUMN else [name]

    def is_date(self, name: str) -> bool:
        """Whether the field holds dates or date-times (by its validation type)."""
        return bool(_DATE_VALIDATION.match(str(self.fields.loc[name, "validation"])))


def _checkbox_code(code: str) -> str:
    return re.sub(r"[^0-9a-z_]", "_", code.strip().lower())


def _parse_choices(text: str, kind: str) -> dict[str, str]:
    if kind == "yesno":
        return {"1": "Yes", "0": "No"}
    if kind == "truefalse":
        return {"1": "True", "0": "False"}
    if kind not in _CHOICE_TYPES or not text.strip():
        return {}
    out = {}
    for part in text.split("|"):
        code, _, label = part.partition(",")
        out[code.strip()] = label.strip()
    return out


def _find(columns: list[str], start: str) -> str | None:
    for c in columns:
        if c.strip().lower().startswith(start):
            return c
    return None


def read_dictionary(path: str | os.PathLike[str]) -> RedcapDictionary:
    """Read a REDCap data dictionary CSV.

    Parameters
    ----------
    path : path-like
        The dictionary as downloaded from REDCap (Project setup > Data dictionary).

    Returns
    -------
    RedcapDictionary

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from footdrop_outcomes import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = export_redcap(simulate_cohort(5, seed=1), pathlib.Path(tmp) / "p")
    ...     d = read_dictionary(files["dictionary"])
    >>> d.record_id, d.fields.loc["visit_date", "validation"]
    ('record_id', 'date_ymd')
    """
    p = Path(path)
    if not p.is_file():
        raise CohortIOError(f"{p} does not exist")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CohortIOError(f"{p} could not be read as a REDCap data dictionary ({type(err).__name__})") from None
    cols = list(raw.columns)
    need = {"name": "variable", "form": "form name", "type": "field type", "label": "field label", "choices": "choices",
            "validation": "text validation type", "identifier": "identifier"}
    found = {k: _find(cols, v) for k, v in need.items()}
    missing = [need[k] for k, v in found.items() if v is None and k in ("name", "form", "type")]
    if missing:
        raise CohortIOError(f"{p} is not a REDCap data dictionary: no column starting with {', '.join(repr(m) for m in missing)}")
    fields = pd.DataFrame({k: (raw[v].str.strip() if v is not None else "") for k, v in found.items()})
    fields["type"] = fields["type"].str.lower()
    fields["identifier"] = fields["identifier"].astype(str).str.strip().str.lower().isin(["y", "yes", "1"])
    fields["choices"] = [_parse_choices(t, k) for t, k in zip(fields["choices"], fields["type"])]
    fields["label"] = fields["label"].str.replace(r"<[^>]*>", "", regex=True).str.strip()
    if fields["name"].duplicated().any() or (fields["name"] == "").any():
        raise CohortIOError(f"{p}: field names must be unique and non-empty")
    return RedcapDictionary(fields=fields.set_index("name", drop=False), record_id=str(fields["name"].iloc[0]))


def _form_key(text: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(text).strip().lower()).strip("_")


def _records(path: Path, d: RedcapDictionary, problems: SourceProblems) -> tuple[pd.DataFrame, str]:
    """The records export with field-name columns and raw codes; identifiers never read."""
    if not path.is_file():
        raise CohortIOError(f"{path} does not exist")
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CohortIOError(f"{path} could not be read as a REDCap records export ({type(err).__name__})") from None
    identifiers = {c for name in d.fields.index[d.fields["identifier"]] for c in d.columns_of(name)}
    known = {c: name for name in d.fields.index for c in d.columns_of(name)}
    if header and header[0] == d.record_id:
        kind, rename = "raw", {}
        for i, c in enumerate(header):
            if c not in known and c not in _SYSTEM and not c.endswith("_complete") and not c.endswith("_timestamp"):
                problems.add("records", f"<column {i + 1}>", "column is not a field of the data dictionary (export and "
                             "dictionary of different projects or versions?)", None)
    else:
        kind, rename = "labels", {}
        by_label: dict[str, list[str]] = {}
        for name, row in d.fields.iterrows():
            if row["type"] == "checkbox":
                for code, label in row["choices"].items():
                    by_label.setdefault(f"{row['label']} (choice={label})", []).append(f"{name}___{_checkbox_code(code)}")
            elif row["type"] not in _NO_COLUMN:
                by_label.setdefault(row["label"], []).append(name)
        for i, c in enumerate(header):
            key = c.strip()
            if i == 0:
                rename[c] = d.record_id
            elif key.lower() in _LABEL_SYSTEM:
                rename[c] = _LABEL_SYSTEM[key.lower()]
            elif key in by_label and len(by_label[key]) == 1:
                rename[c] = by_label[key][0]
            elif key in by_label:
                problems.add("records", f"<column {i + 1}>", "two dictionary fields have this label: export raw data instead", None)
            elif not re.fullmatch(r"complete\?(\.\d+)?", key.lower()):  # pandas numbers repeated "Complete?" headers
                problems.add("records", f"<column {i + 1}>", "column header is not a field label of the data dictionary", None)
    problems.raise_if_any()
    keep = [c for c in header if rename.get(c, c) not in identifiers and (rename.get(c, c) in known or rename.get(c, c) in _SYSTEM
                                                                         or rename.get(c, c) == d.record_id)]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], usecols=keep, encoding="utf-8-sig")
    frame = frame.rename(columns=rename)
    frame["_line"] = np.arange(len(frame)) + 2
    if kind == "labels":  # labels back to raw codes
        for col in frame.columns:
            name = known.get(col)
            if name is None:
                continue
            row = d.fields.loc[name]
            if row["type"] == "checkbox":
                frame[col] = frame[col].map({"Checked": "1", "Unchecked": "0"}, na_action="ignore").where(frame[col].notna(), None)
            elif row["choices"]:
                back = {label: code for code, label in row["choices"].items()}
                mapped = frame[col].map(back)
                frame[col] = mapped.where(mapped.notna(), frame[col])  # a value that is not a label stays (refused later)
    return frame, kind


def _days_since_onset(frame: pd.DataFrame, col: str, onset: pd.Series, validation: str, problems: SourceProblems,
                      field: str) -> pd.Series:
    order = _DATE_VALIDATION.match(validation)
    dayfirst = bool(order and order.group(2) == "dmy")
    text = frame[col]
    present = text.notna() & (text.astype(str).str.strip() != "")
    parsed = pd.to_datetime(text.where(present), errors="coerce", dayfirst=dayfirst, format="mixed")
    bad = present & parsed.isna()
    problems.add("records", field, "not a date of the field's validation type", frame.loc[bad, "_line"])
    days = (parsed.dt.normalize() - onset).dt.days
    return days.astype("float64")


def import_redcap(
    records: str | os.PathLike[str],
    dictionary: str | os.PathLike[str],
    mapping: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> ImportResult:
    """Import a REDCap project (records export + data dictionary) into a validated cohort directory.

    Parameters
    ----------
    records : path-like
        The records export, CSV (raw or labels; classic or longitudinal; repeating instruments).
    dictionary : path-like
        The project's data dictionary CSV.
    mapping : path-like
        The flat import's mapping TOML with REDCap field names as columns and a ``[redcap]``
        section (``onset``, ``visits`` or ``visit_events``, optionally ``adherence``); see
        :func:`redcap_mapping_template`.
    out : path-like
        Cohort directory to write (atomically; must not exist unless ``overwrite=True``).
    overwrite : bool
        Replace an existing cohort directory.

    Returns
    -------
    ImportResult

    Raises
    ------
    CohortValidationError
        Bad dates, conflicting values over events, or the mapped data break the data model:
        every problem, naming the records file, REDCap field and CSV lines (never a value).
    PrivacyError
        A mapped field looks like an identifier (fields marked as identifiers are never read).
    ConfigError
        The mapping is invalid.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from footdrop_outcomes import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as d:
    ...     files = export_redcap(simulate_cohort(20, seed=4), pathlib.Path(d) / "project")
    ...     result = import_redcap(files["records"], files["dictionary"], files["mapping"], pathlib.Path(d) / "c")
    ...     print(result.rows["patients"], result.rows["visits"] > 0)
    20 True
    """
    records, dictionary, mapping_path = Path(records), Path(dictionary), Path(mapping)
    try:
        spec = tomllib.loads(mapping_path.read_text(encoding="utf-8"))
    except OSError:
        raise CohortIOError(f"{mapping_path} could not be read") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{mapping_path} is not valid TOML ({err})") from None
    rc = spec.pop("redcap", None)
    if not isinstance(rc, dict):
        raise ConfigError(f"{mapping_path}: a [redcap] section is needed (onset, visits or visit_events, adherence)")
    unknown = set(rc) - _REDCAP_KEYS
    if unknown:
        raise ConfigError(f"{mapping_path}: [redcap] has unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(_REDCAP_KEYS))}")
    d = read_dictionary(dictionary)
    onset_field = rc.get("onset")
    if onset_field not in d.fields.index or not d.is_date(str(onset_field)):
        raise ConfigError(f"{mapping_path}: [redcap] onset must name a date field of the dictionary")
    for key in ("visits", "adherence"):
        form = rc.get(key)
        if form is not None and form not in set(d.fields["form"]):
            raise ConfigError(f"{mapping_path}: [redcap] {key} = {form!r} is not a form (instrument) of the dictionary")
    if rc.get("visits") is None and not rc.get("visit_events"):
        raise ConfigError(f"{mapping_path}: [redcap] needs visits (a repeating instrument) or visit_events (event names)")
    problems = SourceProblems(str(records))
    frame, kind = _records(records, d, problems)
    rid = d.record_id
    instrument = frame["redcap_repeat_instrument"].map(_form_key) if "redcap_repeat_instrument" in frame else pd.Series("", index=frame.index)
    instrument = instrument.where(frame.get("redcap_repeat_instrument", pd.Series(index=frame.index)).notna(), "")
    event = frame["redcap_event_name"].map(_form_key) if "redcap_event_name" in frame else pd.Series("", index=frame.index)

    def rows_of(form_key: str | None, events_key: str) -> np.ndarray:
        sel = np.zeros(len(frame), dtype=bool)
        if form_key:
            sel |= (instrument == _form_key(form_key)).to_numpy()
        events = {_form_key(e) for e in rc.get(events_key, [])}
        if events:
            sel |= (event.isin(events) & (instrument == "")).to_numpy()
        return sel

    is_visit = rows_of(rc.get("visits"), "visit_events")
    is_adh = rows_of(rc.get("adherence"), "adherence_events")
    is_patient = ~is_visit & ~is_adh & (instrument == "").to_numpy()
    forms_v = {rc["visits"]} if rc.get("visits") else set()  # visit events: the fields mapped under [visits]
    forms_a = {rc["adherence"]} if rc.get("adherence") else set()
    mapped_v = set(spec.get("visits", {}).get("columns", {}).values())
    mapped_a = set(spec.get("adherence", {}).get("columns", {}).values())

    def columns_for(forms: set[Any], mapped: set[str]) -> list[str]:
        cols = []
        for name in d.fields.index:
            if name == rid or d.fields.loc[name, "identifier"]:
                continue
            for c in d.columns_of(name):
                if (d.fields.loc[name, "form"] in forms or c in mapped) and c in frame.columns:
                    cols.append(c)
        return cols

    visit_cols = columns_for(forms_v, mapped_v)
    adh_cols = columns_for(forms_a, mapped_a)
    patient_cols = [c for c in frame.columns if c not in _SYSTEM and c not in ("_line", rid) and c not in visit_cols and c not in adh_cols]

    # the patient row of each record: non-repeating rows merged over events
    prow = frame[is_patient]
    merged = prow.groupby(rid, sort=False)[patient_cols].first()
    for col in patient_cols:
        n_values = prow.groupby(rid, sort=False)[col].nunique()
        conflict = n_values[n_values > 1].index
        if len(conflict):
            problems.add("records", col, "the record has different values of this field in several events",
                         prow.loc[prow[rid].isin(conflict), "_line"])
    merged = merged.reset_index()
    merged["_line"] = prow.groupby(rid, sort=False)["_line"].first().to_numpy()
    onset_dates = pd.to_datetime(merged[onset_field], errors="coerce", format="mixed",
                                 dayfirst=bool(re.search("dmy$", str(d.fields.loc[onset_field, "validation"])))).dt.normalize()
    problems.add("records", onset_field, "onset date missing or not a date (day 0 of the record)", merged.loc[onset_dates.isna(), "_line"])
    onset_of = pd.Series(onset_dates.to_numpy(), index=merged[rid].astype(str))

    frames_out: dict[str, pd.DataFrame] = {}
    renamed: dict[str, str] = {}
    origins: dict[str, Origin] = {}
    for table, sub, cols in (("patients", merged, patient_cols), ("visits", frame[is_visit], visit_cols), ("adherence", frame[is_adh], adh_cols)):
        sub = sub.reset_index(drop=True)
        onset = onset_of.reindex(sub[rid].astype(str)).reset_index(drop=True)
        out_cols: dict[str, pd.Series] = {"patient_id": sub[rid]}  # the key, staged under the data model's name
        for c in cols:
            if c == onset_field:
                continue
            field = c.split("___")[0]
            if field in d.fields.index and d.is_date(field):
                new = f"day_{len(renamed) + 1}"  # days since onset; the field name may read as a date to the guard
                renamed[c] = new
                out_cols[new] = _days_since_onset(sub, c, onset, str(d.fields.loc[field, "validation"]), problems, c)
            else:
                out_cols[c] = sub[c]
        frames_out[table] = pd.DataFrame(out_cols)
        back = {v: k for k, v in renamed.items()}
        columns_map = {"patient_id": f"records.{rid}",
                       **{k: f"records.{back.get(v, v)}" for k, v in spec.get(table, {}).get("columns", {}).items()},
                       **{v: f"records.{k}" for k, v in renamed.items()}}
        origins[table] = Origin("records", sub["_line"].to_numpy(dtype=np.int64), columns_map)
    problems.raise_if_any()

    # the mapping, with date fields renamed, dropped fields removed (never staged), onset handled here
    flat = {k: v for k, v in spec.items() if k not in TABLES}
    for table in TABLES:
        section = dict(spec.get(table, {}))
        if table == "adherence" and not section and not rc.get("adherence"):
            section = {"columns": {c: c for c in SCHEMAS["adherence"].columns if SCHEMAS["adherence"].columns[c].required}}
            frames_out["adherence"] = pd.DataFrame({c: pd.Series([], dtype="float64" if c != "patient_id" else "string")
                                                    for c in section["columns"]})
        columns = {k: "patient_id" if v == rid else renamed.get(v, v) for k, v in section.get("columns", {}).items()}
        drop = {renamed.get(c, c) for c in section.get("drop", [])} | {onset_field}
        used = set(columns.values())
        frames_out[table] = frames_out[table][[c for c in frames_out[table].columns if c in used or c not in drop]]
        section["columns"] = columns
        section["drop"] = []
        flat[table] = section
    for table in TABLES:  # the record id is the key of every table
        flat[table]["columns"]["patient_id"] = "patient_id"
    record = {"source": "REDCap", "export": kind, "redcap": rc, "identifier_fields_not_read": int(d.fields["identifier"].sum()),
              "date_fields_converted": sorted(renamed), "mapping": str(mapping_path)}
    pseudo = bool(flat.get("options", {}).get("pseudonymise_ids", False))
    return _import_with_mapping(frames_out, flat, out, records=records, dictionary=dictionary, mapping_path=mapping_path,
                                record=record, origins=origins, pseudonymise_ids=pseudo, overwrite=overwrite)


def _import_with_mapping(frames: dict[str, pd.DataFrame], flat: dict[str, Any], out: str | os.PathLike[str], *, records: Path,
                         dictionary: Path, mapping_path: Path, record: dict[str, Any], origins: dict[str, Origin],
                         pseudonymise_ids: bool, overwrite: bool) -> ImportResult:
    """Stage the frames and import them with the REDCap mapping (not an identity mapping)."""
    from footdrop_outcomes.sources import _handoff

    return _handoff.import_frames(frames, out, source=str(records), source_files={"records": records, "dictionary": dictionary,
                                                                                 "mapping": mapping_path},
                                  generator="import_redcap", record=record, origins=origins, pseudonymise_ids=pseudonymise_ids,
                                  overwrite=overwrite, mapping=flat)


def redcap_mapping_template(dictionary: str | os.PathLike[str]) -> str:
    """A mapping to complete for a REDCap project, from its data dictionary.

    Lists every field (identifiers excluded) under ``drop`` with its form, type, choices and
    validation as comments, every cohort column with an empty field name to fill, a code table
    per choice field, and the ``[redcap]`` section with the date fields and the repeating forms
    to choose from. The analyst moves fields from ``drop`` to ``columns``.

    Parameters
    ----------
    dictionary : path-like
        The project's data dictionary CSV.

    Returns
    -------
    str
        TOML text (not valid until completed: the empty names are refused by the import).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from footdrop_outcomes import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = export_redcap(simulate_cohort(5, seed=1), pathlib.Path(tmp) / "p")
    ...     text = redcap_mapping_template(files["dictionary"])
    >>> "[redcap]" in text and 'visits = ""' in text
    True
    """
    d = read_dictionary(dictionary)
    lines = ["# Mapping template made from the REDCap data dictionary; complete it, then run import-redcap.",
             "format_version = 1", 'description = ""', "", "[options]", "pseudonymise_ids = false", "", "[redcap]"]
    dates = [n for n in d.fields.index if d.is_date(n)]
    forms = list(dict.fromkeys(d.fields["form"]))
    lines.append(f'onset = ""           # date field of day 0; date fields: {", ".join(dates) or "none"}')
    lines.append(f'visits = ""          # repeating instrument of the visits; forms: {", ".join(forms)}')
    lines.append('# adherence = ""     # repeating instrument of adherence weeks (optional)')
    idents = [n for n in d.fields.index if d.fields.loc[n, "identifier"]]
    if idents:
        lines.append(f"# identifier fields, never read: {', '.join(idents)}")
    for table in ("patients", "visits"):
        lines += ["", f"[{table}]", "drop = ["]
        for name in d.fields.index:
            row = d.fields.loc[name]
            if row["identifier"] or row["type"] in _NO_COLUMN:
                continue
            info = f"form {row['form']}, {row['type']}" + (f", {row['validation']}" if row["validation"] else "")
            for c in d.columns_of(name):
                lines.append(f'    "{c}",  # {info}')
        lines += ["]", f"[{table}.columns]"]
        for col, spec in SCHEMAS[table].columns.items():
            lines.append(f'{col} = ""  # {"required" if spec.required else "optional"}: {spec.description}'[:160])
    for name in d.fields.index:
        row = d.fields.loc[name]
        if row["choices"] and row["type"] != "checkbox" and not row["identifier"]:
            lines += ["", f"# choices of {name} (put this table under [patients.codes.<column>] or [visits.codes.<column>])"]
            lines += [f'# "{code}" = ""  # {label}' for code, label in row["choices"].items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# cohort -> REDCap project (for demos, training and the round trip)

_DATE_FIELDS = {("patients", "days_to_treatment"): "treatment_start_date", ("patients", "followup_days"): "followup_end_date",
                ("patients", "surgery_day"): "surgery_date", ("patients", "first_contact_day"): "first_contact_date",
                ("visits", "day"): "visit_date"}
_FORMS = {"patients": "enrolment", "visits": "clinic_visit", "adherence": "adherence_week"}


def export_redcap(cohort: Any, folder: str | os.PathLike[str], *, onset: str = "2020-01-01", overwrite: bool = False) -> dict[str, Path]:
    """Write a cohort as a REDCap project: data dictionary, raw records export and a completed mapping.

    The project is classic with two repeating instruments (``clinic_visit``, ``adherence_week``);
    categories become dropdowns with numeric codes (the mapping's code tables), yes/no columns
    yes/no fields, day columns date fields counted from a made-up onset date (``onset`` plus
    a few days per record; the dates carry nothing beyond the days). :func:`import_redcap` reads
    the three files back to the same cohort.

    Parameters
    ----------
    cohort : Cohort
        Any cohort.
    folder : path-like
        Folder to write ``dictionary.csv``, ``records.csv`` and ``mapping.toml`` into (atomically).
    onset : str
        First made-up onset date (ISO).
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    dict of str to pathlib.Path
        ``records``, ``dictionary`` and ``mapping``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from footdrop_outcomes import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as d:
    ...     files = export_redcap(simulate_cohort(30, seed=2), pathlib.Path(d) / "project")
    ...     result = import_redcap(files["records"], files["dictionary"], files["mapping"], pathlib.Path(d) / "cohort")
    ...     print(result.rows["patients"])
    30
    """
    from footdrop_outcomes._files import staged_directory

    target = Path(folder)
    if target.exists() and not overwrite:
        raise CohortIOError(f"{target} already exists; choose another path, or replace it with overwrite=True")
    tables = {name: getattr(cohort, name).reset_index(drop=True) for name in TABLES}
    ids = tables["patients"]["patient_id"].astype(str).to_numpy()
    start = pd.Timestamp(onset)
    onset_of = pd.Series([start + pd.Timedelta(days=int(k % 365)) for k in range(len(ids))], index=ids)
    dictionary = [("record_id", "enrolment", "text", "Record ID", "", ""), ("onset_date", "enrolment", "text", "Date of onset", "", "date_ymd")]
    mapping: dict[str, Any] = {"redcap": {"onset": "onset_date", "visits": "clinic_visit", "adherence": "adherence_week"}}
    columns: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frame = tables[name]
        section: dict[str, Any] = {"columns": {"patient_id": "record_id"}, "codes": {}}
        out = pd.DataFrame({"record_id": frame["patient_id"].astype(str)})
        if name == "patients":
            out["onset_date"] = onset_of.reindex(ids).dt.strftime("%Y-%m-%d").to_numpy()
        for col, spec in SCHEMAS[name].columns.items():
            if col == "patient_id" or col not in frame.columns:
                continue
            values = frame[col]
            dtype = str(spec.dtype)
            label = (spec.description or col)[:100]
            if (name, col) in _DATE_FIELDS:
                field = _DATE_FIELDS[(name, col)]
                when = onset_of.reindex(frame["patient_id"].astype(str)).to_numpy() + pd.to_timedelta(
                    pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64"), unit="D")
                out[field] = pd.Series(when).dt.strftime("%Y-%m-%d").fillna("").to_numpy()
                dictionary.append((field, _FORMS[name], "text", label, "", "date_ymd"))
            elif dtype == "category":
                field = col
                levels = sorted(values.dropna().astype(str).unique())
                codes = {str(k + 1): v for k, v in enumerate(levels)}
                back = {v: c for c, v in codes.items()}
                out[field] = values.astype(object).map(lambda v, back=back: back.get(str(v), "") if pd.notna(v) else "").to_numpy()
                dictionary.append((field, _FORMS[name], "dropdown", label, " | ".join(f"{c}, {v}" for c, v in codes.items()), ""))
                section["codes"][col] = codes
            elif dtype in ("bool", "boolean"):
                field = col
                out[field] = values.astype(object).map(lambda v: "" if pd.isna(v) else str(int(bool(v)))).to_numpy()
                dictionary.append((field, _FORMS[name], "yesno", label, "", ""))
            else:
                field = col
                nums = pd.to_numeric(values, errors="coerce")
                whole = dtype.lower().startswith("int")
                out[field] = nums.map(lambda v, whole=whole: "" if pd.isna(v) else (str(int(v)) if whole else repr(float(v)))).to_numpy()
                dictionary.append((field, _FORMS[name], "text", label, "", "integer" if whole else "number"))
            section["columns"][col] = field
        if not section["codes"]:
            del section["codes"]
        mapping[name] = section
        columns[name] = out
    rows = []
    for name in TABLES:
        frame = columns[name].copy()
        if name == "patients":
            frame.insert(1, "redcap_repeat_instrument", "")
            frame.insert(2, "redcap_repeat_instance", "")
        else:
            frame.insert(1, "redcap_repeat_instrument", _FORMS[name])
            frame.insert(2, "redcap_repeat_instance", (frame.groupby("record_id").cumcount() + 1).astype(str).to_numpy())
        rows.append(frame)
    records = pd.concat(rows, ignore_index=True).fillna("")
    order = {rid: k for k, rid in enumerate(ids)}
    records = records.iloc[np.lexsort((records.index.to_numpy(), records["record_id"].map(order).to_numpy()))]
    fields_order = [f[0] for f in dictionary]
    records = records[["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", *fields_order[1:]]]
    dict_frame = pd.DataFrame([{"Variable / Field Name": f[0], "Form Name": f[1], "Section Header": "", "Field Type": f[2],
                                "Field Label": f[3], "Choices, Calculations, OR Slider Labels": f[4], "Field Note": "",
                                "Text Validation Type OR Show Slider Number": f[5], "Text Validation Min": "", "Text Validation Max": "",
                                "Identifier?": "", "Branching Logic (Show field only if...)": "", "Required Field?": "",
                                "Custom Alignment": "", "Question Number (surveys only)": "", "Matrix Group Name": "",
                                "Matrix Ranking?": "", "Field Annotation": ""} for f in dictionary])
    with staged_directory(target) as tmp:
        dict_frame.to_csv(tmp / "dictionary.csv", index=False)
        records.to_csv(tmp / "records.csv", index=False)
        (tmp / "mapping.toml").write_text(_toml(mapping), encoding="utf-8")
    return {"records": target / "records.csv", "dictionary": target / "dictionary.csv", "mapping": target / "mapping.toml"}


def _toml(mapping: dict[str, Any]) -> str:
    def q(v: str) -> str:
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["# Made by footdrop_outcomes.sources.export_redcap", "format_version = 1", 'description = "REDCap project exported from a cohort"',
             "", "[options]", "pseudonymise_ids = false", "", "[redcap]"]
    lines += [f"{k} = {q(v)}" for k, v in mapping["redcap"].items()]
    for name in TABLES:
        sec = mapping[name]
        lines += ["", f"[{name}.columns]"] + [f"{k} = {q(v)}" for k, v in sec["columns"].items()]
        for col, codes in sec.get("codes", {}).items():
            lines += ["", f"[{name}.codes.{col}]"] + [f"{q(c)} = {q(v)}" for c, v in codes.items()]
    return "\n".join(lines) + "\n"
