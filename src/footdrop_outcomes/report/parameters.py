"""Declared parameters of the report notebooks, checked before any notebook runs.

Each shipped notebook has a schema: one :class:`Param` per name in its ``parameters`` cell (a test
keeps the two in step). :func:`validate_parameters` refuses unknown names, wrong types and values
outside the allowed set or range, naming the parameter, what it got and what is allowed, and
returns the full set of values (defaults filled in) that is injected into the notebook and shown
on the report's title page. A notebook without a declared schema gets one inferred from its
``parameters`` cell (types from the default values).

>>> from footdrop_outcomes.report.parameters import validate_parameters
>>> validate_parameters("outcome_report", {"threshold": "5"}, from_text=True)["threshold"]
5
>>> validate_parameters("outcome_report", {"treshold": 5})
Traceback (most recent call last):
...
footdrop_outcomes.report._errors.ReportParameterError: unknown parameter 'treshold' for notebook outcome_report; did you mean 'threshold'? Allowed: cohort_path, title, causes, threshold, landmarks, alpha, cox_formula, cluster, distribution, mcid, mcid_cause, mcid_severity, small_cell_threshold, internal_use, report_date, data_cutoff, author
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from footdrop_outcomes.cohort.vocabulary import CAUSES, SEVERITIES
from footdrop_outcomes.report._errors import ReportParameterError

__all__ = ["Param", "SCHEMAS", "COHORT_REPORTS", "schema_for", "validate_parameters", "describe_schema", "ParamType", "REPORT_FIELDS",
           "check_report_fields", "resolve_report_date", "resolve_data_cutoff"]

ParamType = Literal["str", "int", "float", "bool", "list[str]", "list[float]"]


@dataclass(frozen=True)
class Param:
    """One declared notebook parameter.

    Attributes
    ----------
    name : str
    type : {"str", "int", "float", "bool", "list[str]", "list[float]"}
    default : object
        The value in the notebook's ``parameters`` cell.
    help : str
    choices : tuple, optional
        Allowed values (for lists: allowed items).
    minimum, maximum : float, optional
        Inclusive bounds for numbers (for lists: for each item).
    """

    name: str
    type: ParamType
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def allowed(self) -> str:
        """What is allowed, in words (used in error messages and ``--help``)."""
        parts = [self.type]
        if self.choices is not None:
            parts.append("one of " + ", ".join(map(str, self.choices)) if not self.type.startswith("list") else
                         "items from " + ", ".join(map(str, self.choices)))
        if self.minimum is not None or self.maximum is not None:
            lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
            hi = "inf" if self.maximum is None else f"{self.maximum:g}"
            parts.append(f"between {lo} and {hi}")
        return ", ".join(parts)


_COHORT = Param("cohort_path", "str", "../data/synthetic/demo",
                "Cohort directory (manifest.json + Parquet tables); relative paths are from the notebook's folder.")
_CAUSES = Param("causes", "list[str]", [], "Causes to include (empty: all).", choices=CAUSES)
_THRESHOLD = Param("threshold", "int", 4, "Dorsiflexion MRC grade that counts as recovery.", minimum=1, maximum=5)
_LANDMARKS = Param("landmarks", "list[float]", [6.0, 12.0, 26.0, 52.0, 78.0],
                   "Landmark times in weeks since onset for recovery probabilities.", minimum=0.5, maximum=260)
_SMALL = Param("small_cell_threshold", "int", 10,
               "Small-cell protection: patient counts from 1 to this are shown as '≤N' (and cells that would reveal them as '*').",
               minimum=5, maximum=100)
_INTERNAL = Param("internal_use", "bool", False,
                  "Internal use only, from Python: allows small_cell_threshold below 5 and stamps every page 'NOT FOR RELEASE'.")
_ALPHA = Param("alpha", "float", 0.05, "1 - confidence level of every interval.", minimum=0.001, maximum=0.5)
_MODELS = (
    Param("cox_formula", "str", "cause + severity + age + diabetes", "Right-hand side of the Cox model (columns of the survival frame)."),
    Param("cluster", "str", "site", "Column for cluster-robust Cox standard errors (empty: model-based)."),
    Param("distribution", "str", "weibull", "Latency distribution of the AFT and cure models.",
          choices=("weibull", "lognormal", "loglogistic")),
)

_MCID = Param("mcid", "float", 0.10, "Minimal clinically important gain in gait speed, m/s (time to MCID).", minimum=0.01, maximum=1.0)
_MCID_PROFILE = (Param("mcid_cause", "str", "stroke", "Cause of the profile whose time to the gait-speed MCID is reported.", choices=CAUSES),
                 Param("mcid_severity", "str", "moderate", "Severity at onset of that profile.", choices=SEVERITIES))
#: Title-page fields of the recovery reports (see :func:`check_report_fields`): exempt from parts of
#: the privacy guard that every other text parameter passes, and checked by their own rules instead.
_REPORT_FIELDS = (
    Param("report_date", "str", "", "Report date, ISO YYYY-MM-DD (empty: today; SOURCE_DATE_EPOCH when set)."),
    Param("data_cutoff", "str", "",
          "Data cut-off date, ISO YYYY-MM-DD (empty: the import date of an imported cohort, 'simulated' for a synthetic one)."),
    Param("author", "str", "", "Author of the report: the analyst or team (may be a person's name; never an e-mail, phone or ID number)."),
)
#: Names of those parameters.
REPORT_FIELDS: tuple[str, ...] = tuple(p.name for p in _REPORT_FIELDS)

_PS_FORMULA = Param("propensity_formula", "str", "C(cause) + C(severity) + age + diabetes",
                    "Propensity model of supervised physiotherapy (patsy right-hand side, survival-frame columns).")

#: Declared schema of each shipped notebook, by notebook name (file stem in ``notebooks/``).
SCHEMAS: dict[str, tuple[Param, ...]] = {
    "outcome_report": (_COHORT, Param("title", "str", "Foot drop outcome report", "Report title (title page, running header, PDF title)."),
                       _CAUSES, _THRESHOLD, _LANDMARKS, _ALPHA, *_MODELS, _MCID, *_MCID_PROFILE, _SMALL, _INTERNAL, *_REPORT_FIELDS),
    "cohort_overview": (_COHORT, Param("title", "str", "Foot drop cohort overview", "Report title."),
                        _CAUSES, _THRESHOLD, _SMALL, _INTERNAL),
    "time_to_recovery": (_COHORT, Param("title", "str", "Foot drop: time to recovery", "Report title."),
                         _CAUSES, _THRESHOLD, _LANDMARKS, _ALPHA, *_MODELS, _SMALL, _INTERNAL, *_REPORT_FIELDS),
    "trajectories": (_COHORT, Param("title", "str", "Foot drop: strength and gait trajectories", "Report title."),
                     _CAUSES, _ALPHA, _MCID, *_MCID_PROFILE, _SMALL, _INTERNAL),
    "adherence_interventions": (_COHORT, Param("title", "str", "Foot drop: adherence and interventions", "Report title."),
                                _CAUSES, _THRESHOLD, _ALPHA, _PS_FORMULA, _SMALL, _INTERNAL),
    "site_comparison": (
        _COHORT, Param("title", "str", "Foot drop: comparison of sites", "Report title."), _CAUSES, _THRESHOLD, _ALPHA,
        Param("case_mix_formula", "str", "severity + age + diabetes + smoking",
              "Case-mix terms of the Cox model of the expected recoveries (patient characteristics, not site practice)."),
        Param("overdispersion", "str", "additive", "Over-dispersion handling of the funnel limits (Spiegelhalter 2005).",
              choices=("additive", "multiplicative", "none")),
        Param("n_draws", "int", 2000, "Posterior draws for the rank intervals.", minimum=200, maximum=100_000),
        Param("rank_seed", "int", 0, "Seed of the rank draws.", minimum=0),
        _SMALL, _INTERNAL, *_REPORT_FIELDS),
    "calibration_report": (
        Param("title", "str", "Simulator v2: calibration and validation against published figures", "Report title."),
        Param("n_patients", "int", 50_000, "Patients per replicate cohort.", minimum=100, maximum=5_000_000),
        Param("replicates", "int", 4, "Replicate cohorts (seeds seed, seed + 1, ...); two or more for a Monte Carlo interval.",
              minimum=2, maximum=100),
        Param("seed", "int", 2026, "Seed of the first replicate cohort.", minimum=0),
        Param("check_path", "str", "", "A saved calibration_check table (Parquet) to report instead of simulating."),
        Param("save_check", "str", "", "Write the calibration_check table to this Parquet file too (empty: not written)."),
    ),
}

#: The shipped notebooks that report on a cohort (all but the simulator's calibration report).
COHORT_REPORTS: tuple[str, ...] = tuple(n for n, ps in SCHEMAS.items() if any(p.name == "cohort_path" for p in ps))

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _infer_type(value: Any) -> ParamType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list | tuple):
        return "list[float]" if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value) else "list[str]"
    return "str"


def schema_for(notebook: str | Path) -> tuple[Param, ...]:
    """The declared schema of a shipped notebook (by name or path), else one inferred from the
    notebook's ``parameters`` cell (each default must be a Python literal)."""
    path = Path(notebook)
    name = path.stem if path.suffix == ".ipynb" else str(notebook)
    if name in SCHEMAS:
        return SCHEMAS[name]
    if path.suffix != ".ipynb" or not path.is_file():
        raise ReportParameterError(f"no declared parameters for {notebook!r}: give a shipped notebook ({', '.join(SCHEMAS)}) or a path to an .ipynb file")
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ReportParameterError(f"{path} must have exactly one cell tagged 'parameters' (found {len(cells)})")
    params = []
    for node in ast.parse(cells[0].source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if not isinstance(target, ast.Name) or node.value is None:
            continue
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ReportParameterError(f"{path}: parameter {target.id!r} must default to a literal (number, string, list), not {ast.unparse(node.value)!r}") from None
        params.append(Param(target.id, _infer_type(default), default, "(declared in the notebook's parameters cell)"))
    return tuple(params)


def _parse_text(p: Param, text: str) -> Any:
    """Turn a command-line string into the parameter's type."""
    t = text.strip()
    if p.type == "str":
        return text
    if p.type == "bool":
        if t.lower() in _TRUE:
            return True
        if t.lower() in _FALSE:
            return False
        raise ReportParameterError(f"parameter {p.name!r} must be true or false, got {text!r}")
    if p.type in ("int", "float"):
        try:
            return int(t) if p.type == "int" else float(t)
        except ValueError:
            raise ReportParameterError(f"parameter {p.name!r} must be {'an integer' if p.type == 'int' else 'a number'}, got {text!r}") from None
    # lists: JSON ("[6, 12]", '["stroke"]') or comma-separated ("6,12" / "stroke,als"); "" or "[]" is empty
    if t.startswith("["):
        try:
            items = json.loads(t)
        except json.JSONDecodeError:
            raise ReportParameterError(f"parameter {p.name!r}: {text!r} is not a JSON list; write e.g. 6,12,26 or [6, 12, 26]") from None
    else:
        items = [s.strip() for s in t.split(",") if s.strip()]
    if p.type == "list[float]":
        try:
            return [float(v) for v in items]
        except (TypeError, ValueError):
            raise ReportParameterError(f"parameter {p.name!r} must be a list of numbers, got {text!r}") from None
    return [str(v) for v in items]


def _check_value(p: Param, value: Any) -> Any:
    """Check a Python value's type and range; return it normalised (tuples → lists, ints → floats)."""
    def bad(what: str) -> ReportParameterError:
        return ReportParameterError(f"parameter {p.name!r} must be {what}, got {value!r} ({type(value).__name__}); allowed: {p.allowed()}")

    def number(v: Any, kind: str) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise bad("an integer" if kind == "int" else "a number")
        if kind == "int":
            if isinstance(v, float):
                if not v.is_integer():
                    raise bad("an integer")
                v = int(v)
        else:
            v = float(v)
            if not math.isfinite(v):
                raise bad("a finite number")
        if (p.minimum is not None and v < p.minimum) or (p.maximum is not None and v > p.maximum):
            raise ReportParameterError(f"parameter {p.name!r} = {v!r} is out of range; allowed: {p.allowed()}")
        return v

    if p.type == "str":
        if not isinstance(value, str):
            raise bad("a string")
        out: Any = value
    elif p.type == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        out = value
    elif p.type in ("int", "float"):
        out = number(value, p.type)
    else:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise bad("a list")
        if p.type == "list[float]":
            out = [number(v, "float") for v in value]
        else:
            if not all(isinstance(v, str) for v in value):
                raise bad("a list of strings")
            out = list(value)
    if p.choices is not None:
        items = out if isinstance(out, list) else [out]
        wrong = [v for v in items if v not in p.choices]
        if wrong:
            from footdrop_outcomes.guard import find_identifiers

            shown = str(wrong[0])
            # echo only what reads like a mistyped code ("strok"), never a value that could be data
            if not re.fullmatch(r"[a-z0-9_]{1,40}", shown) or find_identifiers([shown], kind="text"):
                raise ReportParameterError(f"parameter {p.name!r}: a value is not allowed (not shown: parameter values "
                                           f"are echoed only when they read as codes). Allowed: {', '.join(map(str, p.choices))}")
            hint = difflib.get_close_matches(shown, list(map(str, p.choices)), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else "."
            raise ReportParameterError(f"parameter {p.name!r}: {shown!r} is not allowed{extra} Allowed: {', '.join(map(str, p.choices))}")
    return out


def validate_parameters(notebook: str | Path | Sequence[Param], values: Mapping[str, Any] | None = None, *,
                        from_text: bool = False) -> dict[str, Any]:
    """Check parameters against a notebook's schema; return every parameter's value.

    Parameters
    ----------
    notebook : str, path or sequence of Param
        A shipped notebook's name, a notebook path, or a schema.
    values : mapping
        Parameters to set; the others keep their declared defaults.
    from_text : bool
        Values are command-line strings (``-p threshold 5``, ``-p causes stroke,als``,
        ``-p landmarks 6,12,26``) to convert to the declared types first.

    Returns
    -------
    dict
        Every declared parameter in schema order, validated.

    Raises
    ------
    ReportParameterError
        Unknown name (with the closest declared name), wrong type, value not allowed.
    """
    schema = tuple(notebook) if not isinstance(notebook, str | Path) else schema_for(notebook)
    label = Path(notebook).stem if isinstance(notebook, str | Path) else "this notebook"
    by_name = {p.name: p for p in schema}
    out = {p.name: _check_value(p, p.default) if p.default is not None else None for p in schema}
    values = dict(values or {})
    if "internal_use" in values and from_text:
        raise ReportParameterError("parameter 'internal_use' cannot be set from the command line: a report with a small-cell threshold "
                                   "below 5 is for internal use only, made from Python (render_report(..., parameters={'internal_use': "
                                   "True, ...})), and every page is stamped 'NOT FOR RELEASE'")
    internal = values.get("internal_use") is True
    for key, value in values.items():
        if key not in by_name:
            hint = difflib.get_close_matches(key, list(by_name), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else "."
            raise ReportParameterError(f"unknown parameter {key!r} for notebook {label}{extra} Allowed: {', '.join(by_name)}")
        p = by_name[key]
        if key == "small_cell_threshold" and internal:
            p = Param(p.name, p.type, p.default, p.help, minimum=1, maximum=p.maximum)  # internal use: may go under 5
        if from_text and isinstance(value, str):
            value = _parse_text(p, value)
        if key == "small_cell_threshold" and p.minimum == 5 and isinstance(value, int) and not isinstance(value, bool) and value < 5:
            raise ReportParameterError(f"parameter 'small_cell_threshold' = {value} is below the minimum of 5 for a report that can be "
                                       "released; allowed: int, between 5 and 100. A lower threshold is for internal use only, "
                                       "from Python with internal_use=True, and stamps every page 'NOT FOR RELEASE'")
        out[key] = _check_value(p, value)
    return out


def describe_schema(notebook: str | Path) -> str:
    """One line per parameter: name, type and allowed values, default, help (for ``--help`` and docs)."""
    return "\n".join(f"{p.name} ({p.allowed()}; default {p.default!r}): {p.help}" for p in schema_for(notebook))


# ------------------------------------------------------------------------------------------------
# title-page fields: report date, data cut-off, author

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# an e-mail address, or a run of 5 or more digits however spaced or punctuated (phone, record or
# national ID number): the guard's own rules are strict on labelled numbers, these catch the rest
_CONTACT = (("an e-mail address", re.compile(r"\S@\S")),
            ("a phone, record or ID number", re.compile(r"\d(?:[\s().+/-]*\d){4,}")))
_AUTHOR_MAX = 120


def _is_iso_date(value: str) -> bool:
    import datetime as dt

    if not _ISO_DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_report_fields(params: Mapping[str, Any]) -> None:
    """Check the title-page fields ``report_date``, ``data_cutoff`` and ``author``.

    Every other text parameter passes the privacy guard as it is (a title must not name a person
    or hold a date). These three are *meant* to hold a date or a person's name, so they have
    their own, narrower rules instead (``docs/reports.md``, "Report date, data cut-off, author"):

    * ``report_date`` and ``data_cutoff``: empty (derived, see :func:`resolve_report_date` and
      :func:`resolve_data_cutoff`) or an ISO date ``YYYY-MM-DD`` that exists; nothing else (no
      free text, so no date of a patient can hide in a sentence); the cut-off not after the
      report date;
    * ``author``: may look like a person's name (the analyst is not a patient), but is refused
      when the guard finds anything other than a name in it (an e-mail or web address, a phone,
      record or national ID number, a calendar date, a postcode, a street address), when it holds
      an ``@`` or a run of 5 or more digits however spaced, or when it is longer than 120
      characters.

    Messages name the parameter and the rule, never the value.

    Raises
    ------
    ReportParameterError

    Examples
    --------
    >>> check_report_fields({"report_date": "2026-12-02", "author": "Dr Anna Müller, physiotherapy audit"})
    >>> check_report_fields({"author": "anna.mueller@example.org"})
    Traceback (most recent call last):
    ...
    footdrop_outcomes.report._errors.ReportParameterError: parameter 'author' may name the analyst but must not hold an e-mail address
    """
    from footdrop_outcomes.guard import find_identifiers

    for name in ("report_date", "data_cutoff"):
        value = params.get(name, "")
        if value in ("", None):
            continue
        if not isinstance(value, str) or not _is_iso_date(value.strip()):
            raise ReportParameterError(f"parameter {name!r} must be an ISO date YYYY-MM-DD (a day that exists) or empty")
    cut, rep = str(params.get("data_cutoff") or ""), str(params.get("report_date") or "")
    if cut and rep and cut > rep:
        raise ReportParameterError("parameter 'data_cutoff' is after 'report_date': the data cannot be cut off after the report is dated")
    author = params.get("author", "")
    if author in ("", None):
        return
    if not isinstance(author, str):
        raise ReportParameterError("parameter 'author' must be text")
    if len(author) > _AUTHOR_MAX:
        raise ReportParameterError(f"parameter 'author' must be at most {_AUTHOR_MAX} characters (a name or a team, not a note)")
    for what, pattern in _CONTACT:
        if pattern.search(author):
            raise ReportParameterError(f"parameter 'author' may name the analyst but must not hold {what}")
    other = [reason for reason, _ in find_identifiers([author], kind="text") if "personal names" not in reason]
    if other:
        raise ReportParameterError(f"parameter 'author' may name the analyst but is refused by the privacy guard: {other[0]}")


def resolve_report_date(value: str = "") -> str:
    """The report date as shown: ``value`` when given, else the date of ``SOURCE_DATE_EPOCH`` when
    set (reproducible builds), else today (UTC), as ``YYYY-MM-DD``.

    >>> resolve_report_date("2026-01-31")
    '2026-01-31'
    """
    import datetime as dt
    import os

    if value:
        return value
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).date().isoformat()
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def resolve_data_cutoff(value: str, metadata: Mapping[str, Any]) -> str:
    """The data cut-off as shown: ``value`` when given; else the import date of an imported cohort
    (``metadata["imported_on"]``), ``"simulated"`` for a synthetic one, ``"not recorded"`` otherwise.

    >>> resolve_data_cutoff("", {"imported_on": "2026-11-30"}), resolve_data_cutoff("", {"generator": {"name": "simulate"}})
    ('2026-11-30', 'simulated')
    """
    if value:
        return value
    if metadata.get("imported_on"):
        return str(metadata["imported_on"])
    gen = metadata.get("generator") or {}
    if "seed" in metadata or (gen and not str(gen.get("name", "")).endswith("import_cohort")):
        return "simulated"
    return "not recorded"
