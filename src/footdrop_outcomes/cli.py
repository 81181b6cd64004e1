"""Command-line interface: ``footdrop-outcomes --help``."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from footdrop_outcomes._files import describe_os_error, signals_raise
from footdrop_outcomes._version import __version__
from footdrop_outcomes.errors import CohortValidationError, FootdropError, Interrupted, safe_columns

app = typer.Typer(
    help=(
        "Outcomes research for foot drop: simulate calibrated cohorts with known truth, "
        "validate real de-identified cohorts. Run 'footdrop-outcomes COMMAND --help' for details."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# no rich markup, emoji codes or highlighting: text from files (a code such as "[/x]", a path)
# is printed as it is and can never break the output; colour comes from styles only
out = Console(markup=False, emoji=False, highlight=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False)

#: Exit status of every command (README, "Command line").
EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143

_F = TypeVar("_F", bound=Callable[..., Any])


def _error(message: object) -> None:
    """``error: MESSAGE`` on stderr (never parsed as markup)."""
    err.print(Text.assemble(("error:", "red"), " ", str(message)), soft_wrap=True)  # one line, never wrapped


def _verdict(word: str, style: str, rest: str) -> None:
    out.print(Text.assemble((word, style), rest))


def _guarded(fn: _F) -> _F:
    """Run a command with SIGTERM/SIGINT raising (so clean-up runs), and one-line errors for interruptions and OS errors.

    Exit status: 130 after SIGINT (Ctrl-C), 143 after SIGTERM, 2 for a file that cannot be read or
    written; the commands themselves map refused data to 1 and other errors to 2.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with signals_raise():
                return fn(*args, **kwargs)
        except KeyboardInterrupt as e:  # also Interrupted (SIGTERM, or SIGINT under our handler)
            name = e.signal_name if isinstance(e, Interrupted) else "SIGINT"
            _error(f"interrupted by {name}; temporary output was removed and nothing half-written was left")
            raise typer.Exit(EXIT_SIGTERM if name == "SIGTERM" else EXIT_SIGINT) from None
        except FootdropError as e:  # not handled by the command itself
            _error(e)
            raise typer.Exit(EXIT_UNREADABLE) from None
        except OSError as e:
            where = f" {e.filename}" if e.filename else ""
            _error(f"cannot read or write{where}: {describe_os_error(e)}")
            raise typer.Exit(EXIT_UNREADABLE) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        out.print(f"footdrop-outcomes {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Outcomes research for foot drop."""


@app.command()
@_guarded
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the cohort to (Parquet tables + manifest.json). Must not exist unless --overwrite.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of patients.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Master seed; the same seed gives identical tables.")] = 2026,
    config: Annotated[Optional[Path], typer.Option("--config", exists=True, dir_okay=False, help="JSON file of SimulationConfig overrides (see docs/simulation.md).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing cohort directory.")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Also write the three tables as CSV files into the cohort directory's csv/ folder.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    generator: Annotated[int, typer.Option("--generator", min=1, max=2, help="Generator version: 1 (default; earlier cohorts reproduce) or 2 (docs/simulation.md, section 11; --config then takes SimulationConfigV2 options).")] = 1,
    n_jobs: Annotated[int, typer.Option("--n-jobs", min=1, help="Chunks of 10,000 patients simulated at once, in threads; the tables are the same for any value.")] = 1,
) -> None:
    """Simulate a synthetic cohort with known truth and save it.

    Example: footdrop-outcomes simulate --n 2000 --seed 2026 --out data/synthetic/demo
    """
    from footdrop_outcomes.cohort.recovery import recovery_intervals
    from footdrop_outcomes.cohort.simulate import SimulationConfig, simulate_cohort
    from footdrop_outcomes.cohort.simulate_v2 import SimulationConfigV2

    try:
        config_cls = SimulationConfigV2 if generator == 2 else SimulationConfig
        cfg = config_cls()
        if config is not None:
            try:
                overrides = json.loads(config.read_text())
            except json.JSONDecodeError as e:
                raise FootdropError(f"{config} is not valid JSON ({e})") from None
            cfg = config_cls.from_dict({**cfg.to_dict(), **overrides})
        cohort = simulate_cohort(n, seed, cfg, progress=progress, n_jobs=n_jobs)
        cohort.save(out_dir, overwrite=overwrite, csv=csv)
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    rec = recovery_intervals(cohort)
    out.print(f"wrote {cohort!r} to {out_dir}")
    out.print(f"recovery (MRC >= 4) seen in {int(rec.table['event'].sum())} of {cohort.n_patients} patients; "
              f"seed {seed}, generator {cohort.metadata['generator']['version']}")


@app.command()
@_guarded
def validate(
    path: Annotated[Optional[Path], typer.Argument(help="Cohort directory (manifest.json + Parquet tables).")] = None,
    patients: Annotated[Optional[Path], typer.Option(help="patients CSV (instead of a cohort directory).")] = None,
    visits: Annotated[Optional[Path], typer.Option(help="visits CSV.")] = None,
    adherence: Annotated[Optional[Path], typer.Option(help="adherence CSV.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="k-anonymity: classes of (age band, sex, site, cause) with fewer patients are at risk.")] = 5,
) -> None:
    """Check a cohort against the data model and privacy rules, and print a readable report.

    Exit status 0 when valid, 1 when the cohort breaks the schema or the privacy guard, 2 when it
    cannot be read. Give either a cohort directory or all three CSV files. The report ends with
    the quasi-identifier risk (k-anonymity over age band, sex, site and cause).
    """
    from footdrop_outcomes.cohort.cohort import Cohort, load_cohort
    from footdrop_outcomes.cohort.recovery import recovery_intervals

    csvs = (patients, visits, adherence)
    if (path is None) == all(c is None for c in csvs) or (path is None and any(c is None for c in csvs)):
        _error("give a cohort directory, or all three of --patients, --visits and --adherence")
        raise typer.Exit(2)
    try:
        cohort = load_cohort(path) if path is not None else Cohort.from_csv(patients, visits, adherence)  # type: ignore[arg-type]
    except CohortValidationError as e:
        _print_failures(e.failures, f"Problems in {e.source}", ("table", "column", "problem", "rows", "n_rows"),
                        ("NOT VALID", "red", f": {len(e.failures)} problem(s). Nothing was loaded."))
        raise typer.Exit(1) from None
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    rec = recovery_intervals(cohort)
    table = Table(title=f"{cohort!r}")
    table.add_column("cause")
    table.add_column("patients", justify="right")
    table.add_column("recovered (MRC>=4) at a visit", justify="right")
    merged = cohort.patients[["patient_id", "cause"]].assign(event=rec.table["event"].to_numpy())
    for cause, g in merged.groupby("cause", observed=True):
        table.add_row(str(cause), str(len(g)), f"{int(g['event'].sum())} ({g['event'].mean():.0%})")
    out.print(table)
    _verdict("VALID", "green", f": schema {cohort.metadata.get('schema_version')}, "
                               f"{len(cohort.visits)} visits, {len(cohort.adherence)} adherence weeks.")
    _print_kanonymity(cohort, k)


def _print_failures(failures: Any, title: str, columns: tuple[str, ...], verdict: tuple[str, str, str]) -> None:
    """One table of every problem (a ``CohortValidationError.failures`` frame), then the verdict.

    Only the location columns are printed (file, table, column, problem, rows, counts), never a
    value; a column name is shown only as :func:`~footdrop_outcomes.errors.safe_column_name`
    allows, and nothing is read as markup.
    """
    table = Table(title=Text(title), show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for rec in failures.reindex(columns=list(columns)).fillna("").itertuples(index=False):
        cells = [safe_columns(v) if c == "column" else str(v) for c, v in zip(columns, rec)]
        table.add_row(*(Text(c) for c in cells))
    out.print(table)
    _verdict(*verdict)


def _print_kanonymity(cohort: object, k: int) -> None:
    """Privacy section of ``validate``: k-anonymity summary (never the small classes themselves)."""
    from footdrop_outcomes.privacy import AGE_TOP_CODE, kanonymity

    report = kanonymity(cohort.patients, k=k)  # type: ignore[attr-defined]
    table = Table(title=f"Quasi-identifier risk: classes of ({', '.join(report.quasi_identifiers)}) by size")
    for col in ("class size", "classes", "patients"):
        table.add_column(col, justify="right")
    for rec in report.size_distribution.itertuples(index=False):
        table.add_row(str(rec.class_size), str(rec.classes), str(rec.patients))
    out.print(table)
    colour = "green" if report.is_k_anonymous else "yellow"
    _verdict("privacy", colour, f": {report.summary()}")
    if report.n_ages_over_top_code:
        kind = "synthetic" if getattr(cohort, "truth", None) is not None else "real"
        _verdict("privacy", "yellow", f": {report.n_ages_over_top_code} ages above {AGE_TOP_CODE} are not top-coded "
                                      f"({kind} cohort); 'footdrop-outcomes import' top-codes them for real data (docs/privacy.md).")


@app.command("import")
@_guarded
def import_cmd(
    mapping: Annotated[Path, typer.Option("--mapping", help="Mapping file (TOML): the site's columns, codes and units -> the data model. Template: data/examples/mapping_template.toml.")],
    patients: Annotated[Path, typer.Option("--patients", help="patients file of the extract (.csv, .csv.gz or .parquet).")],
    visits: Annotated[Path, typer.Option("--visits", help="visits file (streamed: any size).")],
    adherence: Annotated[Path, typer.Option("--adherence", help="adherence file (streamed: any size).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Cohort directory to write (atomically). Must not exist unless --overwrite.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing cohort directory.")] = False,
) -> None:
    """Import a de-identified site extract with a mapping file into a validated cohort.

    Refuses direct identifiers and calendar dates (privacy guard), top-codes ages of 90 and over,
    and writes nothing unless every check passes. Exit status 0 when written, 1 when the extract
    is refused (privacy or data model), 2 when a file or the mapping cannot be read.

    Example: footdrop-outcomes import --mapping data/examples/mapping_example.toml
    --patients data/examples/site_extract/patients.csv --visits data/examples/site_extract/visits.csv
    --adherence data/examples/site_extract/adherence.csv --out reports/example-import
    """
    from footdrop_outcomes.privacy import PrivacyError, import_cohort

    try:
        result = import_cohort(mapping, patients=patients, visits=visits, adherence=adherence, out=out_dir, overwrite=overwrite)
    except PrivacyError as e:
        _print_failures(e.failures, "Refused by the privacy guard (values are never shown)",
                        ("file", "table", "column", "problem", "rows", "n_rows"),
                        ("REFUSED", "red", f": {len(e.failures)} column(s) look like direct identifiers or calendar dates. "
                                           "Nothing was written."))
        raise typer.Exit(1) from None
    except CohortValidationError as e:
        _print_failures(e.failures, f"Problems in {e.source} (rows are line numbers in CSV files)",
                        ("table", "column", "problem", "rows", "n_rows"),
                        ("NOT VALID", "red", f": {len(e.failures)} problem(s). Nothing was written."))
        raise typer.Exit(1) from None
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    h = result.handled
    out.print(f"wrote {result!r}")
    out.print(f"handled: {h['ages_top_coded']} ages top-coded to 90, duplicate rows dropped {h['duplicate_rows_dropped']}, "
              f"{h['mrc_modifiers']} MRC grades with +/- read as documented; details in {out_dir / 'manifest.json'}")
    unknown = {column: n for column, n in (h.get("unknown_to_missing") or {}).items() if n}
    if unknown:  # codes the mapping declares "not known" (e.g. smoking "9"), per table.column
        out.print("codes declared unknown, now missing values: " + ", ".join(f"{c} {n}" for c, n in unknown.items()), markup=False)


def _print_source_failures(e: CohortValidationError) -> None:
    from footdrop_outcomes.privacy import PrivacyError

    if isinstance(e, PrivacyError):
        _print_failures(e.failures, "Refused by the privacy guard (values are never shown)",
                        ("file", "table", "column", "problem", "rows", "n_rows"),
                        ("REFUSED", "red", f": {len(e.failures)} problem(s) look like direct identifiers. Nothing was written."))
    else:
        _print_failures(e.failures, f"Problems in {e.source} (rows: CSV line numbers, or 1-based rows of Parquet / DuckDB tables)",
                        ("table", "column", "problem", "rows", "n_rows"),
                        ("NOT VALID", "red", f": {len(e.failures)} problem(s). Nothing was written."))


def _write_text(out_file: Path, text: str, *, replace: bool) -> None:
    """Write a text output atomically (temp file, then rename); ``replace`` allows an existing file."""
    from footdrop_outcomes._files import discard, move_into_place, refuse_symlink, staging_file

    refuse_symlink(out_file)
    if not out_file.parent.is_dir():
        raise FootdropError(f"folder {out_file.parent} does not exist; create it first")
    if not replace and out_file.exists():
        raise FootdropError(f"{out_file} already exists; choose another name")
    tmp = staging_file(out_file)
    try:
        tmp.write_text(text, encoding="utf-8")
        move_into_place(tmp, out_file)
    except BaseException:
        discard(tmp)
        raise
    out.print(f"wrote {out_file}")


def _source_import(run: Callable[[], Any]) -> Any:
    """Run an OMOP/REDCap import: exit 1 when the data are refused (every problem listed), 2 when unreadable."""
    try:
        return run()
    except CohortValidationError as e:
        _print_source_failures(e)
        raise typer.Exit(1) from None
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None


@app.command("import-omop")
@_guarded
def import_omop_cmd(
    source: Annotated[Path, typer.Argument(help="OMOP CDM v5.4: a DuckDB file (.duckdb) or a folder of CDM tables (person.csv, measurement.parquet, ...).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Cohort directory to write (atomically). Must not exist unless --overwrite.")],
    concept_sets: Annotated[Optional[Path], typer.Option("--concept-sets", help="Folder of edited concept-set JSON files (ATLAS shape) replacing the shipped ones by name.")] = None,
    schema: Annotated[str, typer.Option("--schema", help="Schema of the CDM tables inside a DuckDB file.")] = "main",
    two_causes: Annotated[str, typer.Option("--two-causes", help="precedence (documented order) or exclude.")] = "precedence",
    before_entry: Annotated[str, typer.Option("--before-entry", help="refuse (default) or ignore strength/gait measurements dated before onset.")] = "refuse",
    keep_person_ids: Annotated[bool, typer.Option("--keep-person-ids", help="Keep person_id as the patient key (default: replaced by P0000001, ...).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing cohort directory.")] = False,
) -> None:
    """Import a foot-drop cohort from an OMOP CDM v5.4 (rules: docs/data_sources.md).

    Exit status 0 when written, 1 when the CDM breaks a rule or the data model (every problem, by
    CDM table, column and rows) or the privacy guard refuses it, 2 when it cannot be read.

    Example: footdrop-outcomes import-omop cdm/ --out reports/omop-cohort
    """
    from footdrop_outcomes.sources import OmopOptions, import_omop

    result = _source_import(lambda: import_omop(
        source, out_dir, concept_sets=concept_sets, options=OmopOptions(two_causes=two_causes, before_entry=before_entry),  # type: ignore[arg-type]
        schema=schema, pseudonymise_ids=not keep_person_ids, overwrite=overwrite))
    out.print(f"wrote {result!r}")
    # the attrition counts are raw (small exclusions included): they stay in the manifest, inside
    # the secure environment, and reach a report only through release control
    out.print(f"attrition by rule and details in {out_dir / 'manifest.json'}")


@app.command("import-redcap")
@_guarded
def import_redcap_cmd(
    records: Annotated[Path, typer.Option("--records", help="REDCap records export (CSV, raw or labels).")],
    dictionary: Annotated[Path, typer.Option("--dictionary", help="The project's data dictionary (CSV).")],
    mapping: Annotated[Path, typer.Option("--mapping", help="Mapping (TOML) with a [redcap] section; template: mapping-template --redcap DICT.csv.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Cohort directory to write (atomically). Must not exist unless --overwrite.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing cohort directory.")] = False,
) -> None:
    """Import a REDCap project (records export + data dictionary) with a mapping into a validated cohort.

    Fields marked as identifiers in the dictionary are never read; dates become days since onset.
    Exit status 0 when written, 1 when refused (privacy or data model), 2 when a file or the
    mapping cannot be read.

    Example: footdrop-outcomes import-redcap --records records.csv --dictionary dictionary.csv
    --mapping mapping.toml --out reports/redcap-cohort
    """
    from footdrop_outcomes.sources import import_redcap

    result = _source_import(lambda: import_redcap(records, dictionary, mapping, out_dir, overwrite=overwrite))
    out.print(f"wrote {result!r}")
    out.print(f"details in {out_dir / 'manifest.json'}")


@app.command("export-omop")
@_guarded
def export_omop_cmd(
    cohort_dir: Annotated[Path, typer.Argument(help="Cohort directory (simulate, import, ...).")],
    out_path: Annotated[Path, typer.Option("--out", help="Folder (csv, parquet) or DuckDB file (duckdb) to write, atomically.")],
    format: Annotated[str, typer.Option("--format", help="csv, parquet or duckdb.")] = "csv",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Write a cohort as OMOP CDM v5.4 tables (made-up calendar dates; adherence not exported)."""
    from footdrop_outcomes import load_cohort
    from footdrop_outcomes.sources import export_omop

    try:
        path = export_omop(load_cohort(cohort_dir), out_path, format=format, overwrite=overwrite)  # type: ignore[arg-type]
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    out.print(f"wrote {path}")


@app.command("mapping-template")
@_guarded
def mapping_template_cmd(
    redcap: Annotated[Path, typer.Option("--redcap", help="REDCap data dictionary (CSV) to make the mapping from.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write to this file (default: print).")] = None,
) -> None:
    """Write a mapping to complete for a REDCap project, from its data dictionary (docs/data_sources.md)."""
    from footdrop_outcomes.sources import redcap_mapping_template

    text = redcap_mapping_template(redcap)
    if out_file is None:
        typer.echo(text)
        return
    _write_text(out_file, text, replace=False)


# Proposed replacement for the `site-summary` and `combine-sites` commands in src/footdrop_outcomes/cli.py
# (H9, issue 18 item 4). Paste in place of those two commands; the old names stay as hidden aliases.
# Uses only names cli.py already has: app, _guarded, _error, out, typer, Annotated, Optional, Path, EXIT_* codes.


@app.command("site-export")
@_guarded
def site_export_cmd(
    cohort_dir: Annotated[Path, typer.Argument(help="The site's own cohort directory.")],
    formula: Annotated[str, typer.Option("--formula", help="Cox model, the same at every site, e.g. 'supervised_physio + severity + age'.")],
    site: Annotated[Optional[str], typer.Option("--site", help="The site's label (default: the cohort's one site value).")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Two-stage: JSON file of the site's Cox estimates to write (atomically).")] = None,
    serve: Annotated[Optional[Path], typer.Option("--serve", help="One-stage: exchange directory shared with the coordinator; answer its requests until it stops.")] = None,
    strata: Annotated[Optional[str], typer.Option("--strata", help="Column with separate baseline hazards within the site, e.g. cause.")] = None,
    small_cell_threshold: Annotated[int, typer.Option("--small-cell-threshold", min=5, max=100, help="Groups of this many patients or fewer are never written.")] = 10,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="--serve: seconds without a request before giving up.")] = 600.0,
) -> None:
    """Write a site's released aggregates for a federated analysis (docs/multisite.md).

    With --out: the site's Cox log hazard ratios, covariance and counts (two-stage). With --serve:
    answer the coordinator's one-stage rounds (log partial likelihood, score, information) in that
    directory until the coordinator's stop request.
    """
    from footdrop_outcomes import load_cohort
    from footdrop_outcomes.release import ReleasePolicy, TooFewToRelease
    from footdrop_outcomes.sites import serve_site, site_summary

    if (out_file is None) == (serve is None):
        _error("give exactly one of --out FILE (two-stage estimates) and --serve DIR (one-stage exchange)")
        raise typer.Exit(EXIT_UNREADABLE)
    policy = ReleasePolicy(threshold=small_cell_threshold)
    cohort = load_cohort(cohort_dir)
    if serve is not None:
        answered = serve_site(cohort, serve, formula=formula, strata=strata, site=site, policy=policy, timeout=timeout)
        out.print(f"answered {answered} request(s) in {serve}")
        return
    if site is None:
        _error("--out needs --site (the label written to the file)")
        raise typer.Exit(EXIT_UNREADABLE)
    try:
        res = site_summary(cohort, site=site, formula=formula, strata=strata, policy=policy, path=out_file)
    except TooFewToRelease as e:
        _error(e)
        raise typer.Exit(1) from None
    withheld = res.info["withheld_terms"]
    out.print(f"wrote {out_file}: {len(res.summary)} terms" + (f", withheld (small groups): {', '.join(withheld)}" if withheld else ""))


@app.command("site-summary", hidden=True)
@_guarded
def site_summary_cmd(
    cohort_dir: Annotated[Path, typer.Argument(help="The site's own cohort directory.")],
    site: Annotated[str, typer.Option("--site", help="The site's label, written to the file.")],
    formula: Annotated[str, typer.Option("--formula", help="Cox model, the same at every site.")],
    out_file: Annotated[Path, typer.Option("--out", help="JSON file to write (atomically).")],
    strata: Annotated[Optional[str], typer.Option("--strata", help="Column with separate baseline hazards, e.g. cause.")] = None,
    small_cell_threshold: Annotated[int, typer.Option("--small-cell-threshold", min=5, max=100)] = 10,
) -> None:
    """Old name of `site-export --out` (hidden; kept for scripts)."""
    site_export_cmd.__wrapped__(cohort_dir, formula, site=site, out_file=out_file, serve=None, strata=strata,  # type: ignore[attr-defined]
                                small_cell_threshold=small_cell_threshold, timeout=600.0)


@app.command("pool")
@_guarded
def pool_cmd(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Two-stage: site files written by site-export --out.")] = None,
    term: Annotated[Optional[str], typer.Option("--term", help="Two-stage: the term to pool, e.g. supervised_physio.")] = None,
    method: Annotated[str, typer.Option("--method", help="Two-stage: REML or DL.")] = "REML",
    test: Annotated[str, typer.Option("--test", help="Two-stage: z or knha (Hartung-Knapp).")] = "knha",
    one_stage: Annotated[bool, typer.Option("--one-stage", help="Fit the site-stratified Cox model by exchanging score and information.")] = False,
    exchange: Annotated[Optional[list[Path]], typer.Option("--exchange", help="--one-stage: a site's exchange directory (repeat per site).")] = None,
    formula: Annotated[Optional[str], typer.Option("--formula", help="--one-stage: the sites' Cox model.")] = None,
    strata: Annotated[Optional[str], typer.Option("--strata", help="--one-stage: strata within sites (as the sites serve).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="--one-stage: seconds to wait for every site's answer per round.")] = 60.0,
) -> None:
    """Combine the sites (coordinator): two-stage meta-analysis of site files, or a one-stage federated Cox over exchange directories."""
    if one_stage:
        from footdrop_outcomes.sites import FileExchange, federated_cox

        if files or term or not exchange or not formula:
            _error("--one-stage needs --exchange DIR (per site) and --formula, and no site files or --term")
            raise typer.Exit(EXIT_UNREADABLE)
        fit = federated_cox(FileExchange(exchange, timeout=timeout), formula, strata=strata)
        for r in fit.summary.itertuples():
            out.print(f"{r.term}: log HR {r.log_hr:.4f} (SE {r.se:.4f}); HR {r.hr:.3f} (95% CI {r.hr_lower:.3f} to {r.hr_upper:.3f}), p {r.p:.3g}")
        i = fit.info
        out.print(f"{i['n_sites']} sites, {i['n']} patients, {i['events']} recoveries; {i['iterations']} Newton steps in "
                  f"{i['rounds']} rounds; converged: {i['converged']}")
        return
    from footdrop_outcomes.sites import combine_sites

    if not files or not term:
        _error("two-stage pooling needs site files and --term (or give --one-stage --exchange DIR ...)")
        raise typer.Exit(EXIT_UNREADABLE)
    res = combine_sites(files, term=term, method=method, test=test)  # type: ignore[arg-type]
    r = res.summary.iloc[0]
    out.print(f"{term}: log HR {r['estimate']:.4f} (SE {r['se']:.4f}, 95% CI {r['ci_lower']:.4f} to {r['ci_upper']:.4f}, "
              f"p {r['p']:.3g}); tau2 {r['tau2']:.4g}, I2 {r['I2']:.1f}%, Q {r['Q']:.2f} on {r['Q_df']} df; {r['k']} sites")


@app.command("combine-sites", hidden=True)
@_guarded
def combine_sites_cmd(
    files: Annotated[list[Path], typer.Argument(help="Site summary files.")],
    term: Annotated[str, typer.Option("--term")],
    method: Annotated[str, typer.Option("--method")] = "REML",
    test: Annotated[str, typer.Option("--test")] = "knha",
) -> None:
    """Old name of `pool FILES --term T` (hidden; kept for scripts)."""
    pool_cmd.__wrapped__(files, term=term, method=method, test=test, one_stage=False, exchange=None, formula=None,  # type: ignore[attr-defined]
                         strata=None, timeout=60.0)


@app.command("calibration-report")
@_guarded
def calibration_report_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="PDF to write, e.g. reports/calibration.pdf (its folder must exist; an existing file is replaced).")] = Path("reports/calibration.pdf"),
    n: Annotated[int, typer.Option("--n", min=1000, help="Patients per replicate cohort (generator version 2).")] = 50_000,
    replicates: Annotated[int, typer.Option("--replicates", min=2, help="Replicate cohorts, seeds SEED, SEED+1, ...; the Monte Carlo SE needs two or more.")] = 4,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the first replicate.")] = 2026,
) -> None:
    """Write the simulator v2 calibration report (notebook calibration_report.ipynb -> PDF): every published target,
    calibration and validation sets, pass counts.

    Example: footdrop-outcomes calibration-report --out reports/calibration.pdf
    """
    from footdrop_outcomes.report import NotebookExecutionError
    from footdrop_outcomes.report.calibration_section import calibration_report

    try:
        rep = calibration_report(out_file, n, replicates=replicates, seed=seed)
    except NotebookExecutionError as e:
        _notebook_failed(e)
        raise typer.Exit(1) from None
    for _, r in rep.counts.iterrows():
        out.print(f"{r['set']}: {r['passed']} of {r['targets']} targets pass (latent truth); "
                  f"{r['observed_passed']} of {r['observed_checked']} as seen from the tables")
    out.print(f"wrote {out_file} (executed notebook: {rep.info['notebook']})")


@app.command("data-dictionary")
@_guarded
def data_dictionary_cmd(
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write to this file (default: print).")] = None,
) -> None:
    """Print (or write) the data dictionary generated from the table schemas."""
    from footdrop_outcomes.cohort.schema import data_dictionary

    text = data_dictionary()
    if out_file is None:
        typer.echo(text)
    else:
        _write_text(out_file, text, replace=True)


def _notebook_failed(e: Any) -> None:
    """A failing cell, named by position and error class; the error's text (which may quote data) stays in the executed notebook."""
    count = f", execution count {e.execution_count}" if e.execution_count is not None else ""
    kept = f" The executed notebook, with the full error, is at {e.executed_notebook}." if e.executed_notebook else ""
    _error(f"notebook {e.notebook} failed in cell {e.cell_index}{count}: {e.ename}. No PDF was written.{kept}")


def _parameter_pairs(args: list[str]) -> dict[str, str]:
    """``-p KEY VALUE`` / ``--parameter KEY VALUE`` pairs from the extra command-line arguments."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        if args[i] not in ("-p", "--parameter"):
            raise FootdropError(f"unexpected argument {args[i]!r}; give notebook parameters as -p KEY VALUE")
        if len(args) - i < 3:
            raise FootdropError(f"{args[i]} needs a KEY and a VALUE, e.g. -p threshold 5")
        key, value = args[i + 1], args[i + 2]
        if key in values:
            raise FootdropError(f"parameter {key!r} is given twice with -p; give each once")
        values[key] = value
        i += 3
    return values


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_guarded
def report(
    ctx: typer.Context,
    cohort: Annotated[Optional[Path], typer.Option("--cohort", help="Cohort directory (manifest.json + Parquet tables). Required.")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="PDF to write, e.g. reports/NAME.pdf; the executed notebook goes beside it (NAME.ipynb). Required.")] = None,
    notebook: Annotated[str, typer.Option("--notebook", help="Shipped notebook (outcome_report, cohort_overview, time_to_recovery, trajectories, adherence_interventions, site_comparison) or a path to an .ipynb file.")] = "outcome_report",
    list_parameters: Annotated[bool, typer.Option("--list-parameters", help="Print the notebook's parameters (type, allowed values, default) and exit.")] = False,
    figures: Annotated[Optional[Path], typer.Option("--figures", help="Also save every figure of the report into this existing folder for publication: SVG and 300-dpi PNG at a journal's single (85 mm, where it fits) and double (174 mm) column width.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="pdf (default), html or docx. html: one self-contained HTML file (figures embedded, no network, readable on a phone), --out ending in .html; docx: a Word document of the report's text, tables and figures, --out ending in .docx. The PDF and the executed notebook are always written beside it.")] = "pdf",
) -> None:
    """Run a report notebook on a cohort and write its PDF, HTML or Word report (no code in it).

    Notebook parameters: -p KEY VALUE, repeatable; lists as -p causes stroke,als or -p landmarks 6,12,26 (see --list-parameters).

    Parameters are checked against the notebook's declared schema before anything runs: an unknown or mistyped one exits 2. A failing cell exits 1 naming the cell and its error, and writes no PDF.

    Example: footdrop-outcomes report --cohort data/synthetic/demo -p threshold 5 --out reports/outcome.pdf

    Site comparison (multi-site cohorts): footdrop-outcomes report --cohort DIR --notebook site_comparison --out reports/sites.pdf
    """
    from footdrop_outcomes.report import NotebookExecutionError, describe_schema, render_report

    try:
        if list_parameters:
            out.print(describe_schema(notebook), markup=False, highlight=False)
            raise typer.Exit()
        if cohort is None or out_file is None:
            raise FootdropError("give --cohort DIR and --out reports/NAME.pdf")
        if fmt not in ("pdf", "html", "docx"):
            raise FootdropError(f"--format must be pdf, html or docx, got {fmt!r}")
        if out_file.suffix.lower() != f".{fmt}":
            raise FootdropError(f"--format {fmt} needs --out ending in .{fmt}, got {out_file.name}")
        values = _parameter_pairs(list(ctx.args))
        pdf_file = out_file.with_suffix(".pdf")
        res = render_report(notebook, pdf_file, cohort=cohort, parameters=values, from_text=True, html=fmt == "html",
                            figures=figures)
        if fmt == "docx":
            from footdrop_outcomes.report.docx_export import export_docx

            export_docx(res.notebook, out_file)
    except NotebookExecutionError as e:
        _notebook_failed(e)
        raise typer.Exit(1) from None
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    if fmt != "pdf":
        out.print(f"wrote {out_file} (and {res.pdf}, executed notebook: {res.notebook}); "
                  f"ran in {res.seconds['execute']:.1f} s, typeset in {res.seconds['export'] + res.seconds.get('html', 0.0):.1f} s")
        return
    out.print(f"wrote {res.pdf} (executed notebook: {res.notebook}); "
              f"ran in {res.seconds['execute']:.1f} s, typeset in {res.seconds['export']:.1f} s")


@app.command()
@_guarded
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the demo cohort and report.")] = Path("reports"),
    n: Annotated[int, typer.Option("--n", min=50, help="Number of patients to simulate.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Simulation seed.")] = 2026,
) -> None:
    """Simulate a cohort and write the full outcome report: OUT/demo-outcome-report.pdf.

    The cohort goes to OUT/demo-cohort (replaced if present), the executed notebook beside the PDF.
    """
    import time

    from footdrop_outcomes.report import NotebookExecutionError, run_demo

    t0 = time.perf_counter()
    try:
        res = run_demo(out_dir, n=n, seed=seed)
    except NotebookExecutionError as e:
        _notebook_failed(e)
        raise typer.Exit(1) from None
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    s = res.seconds
    out.print(f"simulated {n:,} patients (seed {seed}) into {out_dir / 'demo-cohort'}")
    out.print(f"wrote {res.pdf} (executed notebook: {res.notebook})")
    out.print(f"simulate {s['simulate']:.1f} s, run notebook {s['execute']:.1f} s, typeset {s['export']:.1f} s, "
              f"total {time.perf_counter() - t0:.1f} s")


# ------------------------------------------------------------------------------------------------
# simulation studies (docs/studies.md)

study_app = typer.Typer(help="Simulation studies and power analysis on Dask: run a study specification, report on its results.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("run")
@_guarded
def study_run(
    spec_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Study specification (.toml or .json; see docs/studies.md).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Study folder: study.json and results/*.parquet. Finished replicates in it are not run again (resume).")],
    scheduler: Annotated[str, typer.Option("--scheduler", help="'local' (start a local Dask cluster) or the address of a running scheduler, e.g. tcp://10.0.0.5:8786.")] = "local",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Workers of the local cluster (one thread each).")] = 2,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Replicates per task and per result file.")] = 25,
    threads: Annotated[bool, typer.Option("--threads/--processes", help="Local workers as threads of this process instead of processes.")] = False,
    max_chunks: Annotated[Optional[int], typer.Option("--max-chunks", min=1, help="Stop after this many chunks (run again to finish).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Run (or resume) a simulation study and print its performance table.

    Example: footdrop-outcomes study run study.toml --workers 2 --out studies/logrank
    """
    from footdrop_outcomes.studies import load_spec, performance, run_study

    try:
        spec = load_spec(spec_file)
        run = run_study(spec, out_dir, scheduler=scheduler, workers=workers, processes=not threads, chunk_size=chunk_size,
                        progress=progress, max_chunks=max_chunks)
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    info = run.info
    out.print(f"{spec.name}: ran {info['replicates_run']} replicates in {info['seconds']:.1f} s on {info['scheduler']}; "
              f"{info['replicates_skipped']} were already finished; complete: {info['complete']}")
    _print_performance(performance(run))
    out.print(f"results in {out_dir / 'results'}; report: footdrop-outcomes study report {out_dir}")


def _print_performance(perf: object) -> None:
    import pandas as pd

    assert isinstance(perf, pd.DataFrame)
    cols = [c for c in ("analysis", "truth", "n_ok", "n_failed", "bias", "empse", "modse", "coverage", "power") if c in perf]
    grid = [c for c in perf.columns if c not in {"point", "method", "n_rep", "mse", "relerr_modse"} and c not in cols and not c.endswith("_mcse")]
    table = Table(title="performance (Monte Carlo SE)")
    for c in ["analysis", *grid, *cols[1:]]:
        table.add_column(c, justify="left" if c == "analysis" else "right")
    for _, r in perf.iterrows():
        cells = [str(r["analysis"]), *[str(r[g]) for g in grid]]
        for c in cols[1:]:
            v = r[c]
            if c in {"n_ok", "n_failed"}:
                cells.append(str(int(v)))
            elif pd.isna(v):
                cells.append("-")
            elif f"{c}_mcse" in perf and pd.notna(r[f"{c}_mcse"]):
                cells.append(f"{v:.4g} ({r[f'{c}_mcse']:.2g})")
            else:
                cells.append(f"{v:.4g}")
        table.add_row(*cells)
    out.print(table)


@study_app.command("report")
@_guarded
def study_report(
    study_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A study folder written by 'study run'.")],
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Folder for the report files (default STUDY/report).")] = None,
    target: Annotated[float, typer.Option("--target", min=0.01, max=0.99, help="Target power for the sample-size table.")] = 0.8,
    size: Annotated[Optional[str], typer.Option("--size", help="Grid column of the sample size (default n_per_arm or n).")] = None,
    effect: Annotated[Optional[str], typer.Option("--effect", help="Grid column of the effect size (default the other grid column).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also typeset report.pdf (WeasyPrint).")] = True,
) -> None:
    """Write the study report: performance.csv, power.csv, sample_size.csv, power curves (SVG), report.html and report.pdf.

    Example: footdrop-outcomes study report studies/logrank
    """
    from footdrop_outcomes.studies.report import write_study_report

    try:
        paths = write_study_report(study_dir, out_dir, target=target, size=size, effect=effect, pdf=pdf)
    except FootdropError as e:
        _error(e)
        raise typer.Exit(2) from None
    for name, path in paths.items():
        out.print(f"{name}: {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
