"""Report layer: notebooks → executed with parameters (papermill) → PDF (nbconvert + WeasyPrint).

>>> from footdrop_outcomes.report import render_report, validate_parameters
>>> sorted(SCHEMAS)
['adherence_interventions', 'calibration_report', 'cohort_overview', 'outcome_report', 'site_comparison', 'time_to_recovery', 'trajectories']

See ``docs/reports.md``. The exporter (``jupyter nbconvert --to footdrop_pdf``) is
:class:`footdrop_outcomes.report.exporter.FootdropPDFExporter`.
"""

from footdrop_outcomes.report._errors import NotebookExecutionError, ReportError, ReportParameterError
from footdrop_outcomes.report.parameters import SCHEMAS, Param, describe_schema, schema_for, validate_parameters
from footdrop_outcomes.report.render import NOTEBOOK_DIR, ReportResult, export_pdf, notebook_path, render_report, run_demo

__all__ = [
    "render_report",
    "run_demo",
    "export_pdf",
    "notebook_path",
    "ReportResult",
    "NOTEBOOK_DIR",
    "SCHEMAS",
    "Param",
    "schema_for",
    "validate_parameters",
    "describe_schema",
    "ReportError",
    "ReportParameterError",
    "NotebookExecutionError",
]
