"""The forensics command line: a thin layer over the Python API.

Exit codes: 0 done, 1 failed (one line on stderr), 2 wrong usage, 3 done but problems were
recorded in the case (unreadable files, damaged archives, mismatches).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from forensics import __version__
from forensics.errors import ForensicsError

EXIT_FAILED = 1
EXIT_WARNINGS = 3


def _fail(message: str) -> NoReturn:
    raise ForensicsError(message)


_invoked_with: list[str] = []


class ForensicsGroup(click.Group):
    """A group that turns ForensicsError and OS errors into one line on stderr."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        _invoked_with[:] = list(sys.argv[1:] if args is None else args)
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # the reader went away (| head): not a failure of ours
            sys.stderr.close()
            ctx.exit(0)
        except (ForensicsError, OSError) as exc:
            if ctx.meta.get("debug"):
                raise
            text = str(exc) if isinstance(exc, ForensicsError) else f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}"
            click.echo(f"forensics: error: {text}", err=True)
            ctx.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            click.echo("forensics: interrupted; what was done is kept in the case, run the command again to go on",
                       err=True)
            ctx.exit(130)


class Progress:
    """A one-line progress display on stderr, shown only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.files = 0
        self.bytes = 0
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, files: int, size: int) -> None:
        self.files += files
        self.bytes += size
        now = time.monotonic()
        if self.enabled and now - self._last > 0.2:
            self._last = now
            rate = self.bytes / max(now - self._start, 1e-9) / 1e6
            click.echo(f"\r{self.label}: {self.files:,} files, {self.bytes / 1e6:,.1f} MB ({rate:,.0f} MB/s)",
                       err=True, nl=False)

    def done(self) -> None:
        if self.enabled:
            click.echo("\r" + " " * 70 + "\r", err=True, nl=False)


def _command_line() -> list[str]:
    """The command line as the examiner typed it, for the audit log."""
    return ["forensics", *_invoked_with]


def _open(case_dir: Path):  # type: ignore[no-untyped-def]
    from forensics.case import open_case

    return open_case(case_dir)


def _count(n: int, noun: str) -> str:
    """'1 problem', '2 problems'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def parse_size(text: str) -> int:
    """A size such as 512M, 64G or 1048576 in bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned and cleaned[-1] in units else (cleaned, "")
    try:
        return int(float(number) * units[unit])
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size (examples: 1048576, 512M, 64G)") from None


@click.group(cls=ForensicsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forensics")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn data copied from seized servers into court exhibits.

    \b
    Example:
      forensics case init CASE --case-ref OP-2026-001 --examiner "J. Smith"
      forensics ingest CASE /mnt/evidence/server01 --label EXH-1
      forensics catalogue CASE
      forensics verify CASE
    """
    ctx.meta["debug"] = debug


@cli.group()
def case() -> None:
    """Make and inspect case folders."""


@case.command("init")
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--case-ref", required=True, help="The case reference, as it goes on every exhibit.")
@click.option("--examiner", required=True, help="Who is examining the evidence.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone of the case's sources.")
@click.option("--region", help="Country (ISO 3166 code such as GB) of phone numbers written without one; "
              "default: the timezone's country, where it has one.")
def case_init(case_dir: Path, case_ref: str, examiner: str, timezone: str, region: str | None) -> None:
    """Make a new case folder.

    Refuses a folder that already holds anything other than nothing. The default phone
    region (used by extract unless it is given --region) is stored in case.json.

    \b
    Example:
      forensics case init ./op-falcon --case-ref OP-2026-001 --examiner "J. Smith" --timezone Europe/London
      forensics case init ./op-mask --case-ref OP-2026-014 --examiner "J. Smith" --timezone UTC --region GB
    """
    from forensics.case import init_case

    made = init_case(case_dir, case_ref, examiner, timezone, _command_line(), region=region)
    click.echo(f"case {made.case_ref} created in {made.path}")
    if made.region:
        click.echo(f"phone numbers written without a country are read as {made.region} (--region)")


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.argument("paths", nargs=-1, required=True)
@click.option("--label", help="Exhibit reference of this evidence (e.g. EXH-1).")
@click.option("--max-member-size", default="64G", show_default=True,
              help="An archive member expanding past this is recorded as a suspected bomb and skipped.")
@click.option("--max-ratio", default=1000.0, show_default=True, type=float,
              help="An archive member expanding past this many times its compressed size is a suspected bomb.")
@click.option("--full-typing", is_flag=True, help="Type every file with full libmagic (slower; see docs).")
@click.option("--rehash", is_flag=True,
              help="Read again files already catalogued unchanged (to apply other typing or limits).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Files read at once: small files on threads, the rest on worker processes (default: one per "
                   "core, at most 8).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(case_dir: Path, paths: tuple[str, ...], label: str | None, max_member_size: str, max_ratio: float,
           full_typing: bool, rehash: bool, workers: int | None, as_json: bool) -> None:
    """Hash, type and catalogue every file below each PATH; open archives.

    Evidence is opened read-only and never changed. Ingesting the same path again adds
    only what is new or changed. Exit code 3 means problems were recorded (each printed
    on stderr, naming the file).

    \b
    Example:
      forensics ingest ./op-falcon /mnt/seized/web01 /mnt/seized/db-backup.tar.gz --label EXH-1
    """
    from forensics.archives import Limits
    from forensics.ingest import ingest as run_ingest

    opened = _open(case_dir)
    limits = Limits(max_member_size=parse_size(max_member_size), max_ratio=max_ratio)
    progress = Progress("ingest")
    report = run_ingest(opened, list(paths), label=label, limits=limits, full_typing=full_typing,
                        workers=workers, progress=progress, rehash=rehash,
                        on_problem=lambda text: click.echo(f"forensics: warning: {text}", err=True),
                        command=_command_line())
    progress.done()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        problems = len(report.problems)
        click.echo(f"{report.new} new, {report.changed} changed, {report.metadata_changed} with new times only, "
                   f"{report.unchanged} unchanged; {report.members} archive members; "
                   f"{report.bytes_read:,} bytes read; {_count(problems, 'problem')}")
    if report.problems:
        sys.exit(EXIT_WARNINGS)


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print every current row as JSON.")
@click.option("--export", "export_format", type=click.Choice(["hashdeep", "dfxml", "csv"]),  # export.FORMATS; not imported: it loads Polars
              help="Write the catalogue in this format to -o FILE.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File to write the export to.")
@click.option("--errors", is_flag=True, help="List only the entries with an error.")
def catalogue(case_dir: Path, as_json: bool, export_format: str | None, output: Path | None, errors: bool) -> None:
    """Show what the case has received: a summary, the rows, or an export.

    \b
    Examples:
      forensics catalogue ./op-falcon
      forensics catalogue ./op-falcon --json > catalogue.json
      forensics catalogue ./op-falcon --export hashdeep -o known.txt
      hashdeep -a -k known.txt -r /mnt/seized/web01
    """
    import polars as pl

    from forensics.catalogue import SUMMARY_COLUMNS, current, summarise
    from forensics.export import export, for_display

    opened = _open(case_dir)
    if not (errors or export_format or as_json):  # the summary: read only the columns it counts
        summary = summarise(current(opened, SUMMARY_COLUMNS).collect())
        _print_summary(opened.case_ref, summary)
        return
    lazy = current(opened)
    rows = (lazy.filter(pl.col("error").is_not_null()) if errors else lazy).collect()
    if export_format:
        if output is None:
            _fail("--export needs -o FILE")
        from forensics.audit import sha256_file

        with opened.locked():
            count, warnings = export(opened, rows, export_format, output)
            opened.audit.append(_command_line(), "warnings" if warnings else "ok",
                                f"{count} entries exported as {export_format}",
                                details={"export": {"format": export_format, "path": os.path.abspath(output),
                                                    "sha256": sha256_file(output), "entries": count},
                                         "warnings": warnings})
        for warning in warnings:
            click.echo(f"forensics: warning: {warning}", err=True)
        click.echo(f"{count} entries written to {output} ({export_format})")
        return
    if as_json:
        sys.stdout.write(for_display(rows).drop("path_bytes").write_json())
        sys.stdout.write("\n")
        return
    if errors:
        from forensics.evidence import evidence_location
        from forensics.ingest import one_line

        for root, path, root_kind, error in rows.select("root", "path", "root_kind", "error").iter_rows():
            click.echo(one_line(f"{evidence_location(root, path, root_kind)}: {error}"))
        return


def _print_summary(case_ref: str, summary: Any) -> None:
    """The catalogue summary as the examiner reads it."""
    click.echo(f"case {case_ref}: {summary.files:,} files ({summary.archive_members:,} of them inside archives), "
               f"{summary.bytes:,} bytes on disk, {summary.errors:,} with errors")
    click.echo("by kind:")
    for kind, count in summary.by_kind.items():
        click.echo(f"  {count:>10,}  {kind}")
    click.echo("files by type:")
    for mime, count in list(summary.by_mime.items())[:25]:
        click.echo(f"  {count:>10,}  {mime}")
    if len(summary.by_mime) > 25:
        click.echo(f"  ... and {len(summary.by_mime) - 25} more types (--json for all rows)")


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: one per core, at most 8).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(case_dir: Path, workers: int | None, as_json: bool) -> None:
    """Re-read all evidence and check the case against its catalogue and audit trail.

    Names every missing, changed and new file; exits 0 only when everything matches.

    \b
    Example:
      forensics verify ./op-falcon
    """
    from forensics.verify import verify as run_verify

    opened = _open(case_dir)
    progress = Progress("verify")
    with opened.locked():
        report = run_verify(opened, workers=workers, progress=progress, command=_command_line())
    progress.done()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
        click.echo(f"{report.checked:,} files checked: "
                   + ("everything matches" if report.ok else _count(len(report.lines()), "problem")))
    if not report.ok:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--plugins-dir", "plugins_dirs", multiple=True, type=click.Path(path_type=Path),
              help="A folder of extraction plugins (one .py file each); may be given more than once.")
@click.option("--only", multiple=True, help="Run only the plugin of this name; may be given more than once.")
@click.option("--region", help="Country (ISO 3166 code such as GB) of phone numbers written without one; "
              "default: the case's (case init --region).")
@click.option("--mapping", "mappings", multiple=True, type=click.Path(path_type=Path),
              help="A mapping file (TOML) that maps raw tables onto canonical ones without code; "
              "may be given more than once.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def extract(case_dir: Path, plugins_dirs: tuple[Path, ...], only: tuple[str, ...], region: str | None,
            mappings: tuple[Path, ...], as_json: bool) -> None:
    """Read every database-like file into raw tables, then map them onto accounts, payments and calls.

    SQL dumps (MySQL/MariaDB, PostgreSQL), SQLite files and CSV/TSV tables, on disk or
    inside archives, are read into raw/ as Parquet with the place of every row (a source
    read before is not read again). Then every plugin (built-in, --plugins-dir,
    FORENSICS_PLUGINS, entry points) maps the raw tables it accepts onto the canonical
    tables in tables/; the recogniser (plugin generic) maps the tables no other plugin
    accepts when it is sure enough, and writes what it did to
    tables/recognised-mapping.toml for review. A table named in a --mapping file is
    mapped by that file alone. Exit code 3 means problems were recorded (a plugin that
    failed among them).

    \b
    Example:
      forensics extract ./op-falcon
      forensics extract ./op-falcon --plugins-dir ./my-plugins --only spoofer-db --region GB
      cp ./op-falcon/tables/recognised-mapping.toml shop.toml   # review and edit it, then:
      forensics extract ./op-falcon --mapping shop.toml
      forensics tables ./op-falcon
    """
    from forensics.case import check_region
    from forensics.extract import extract as run_extract

    opened = _open(case_dir)
    report = run_extract(opened, _command_line(),
                         on_problem=lambda text: click.echo(f"forensics: warning: {text}", err=True),
                         progress=(lambda text: click.echo(text, err=True)) if sys.stderr.isatty() else None,
                         plugins_dirs=list(plugins_dirs), only=list(only),
                         region=check_region(region) if region else None, mappings=list(mappings))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        sources = report.sources
        tables = sum(len(m["tables"]) for m in sources.read)
        rows = sum(t["rows"] for m in sources.read for t in m["tables"])
        click.echo(f"{len(sources.read)} sources read ({tables} tables, {rows:,} rows); "
                   f"{sources.already_read} read before; {_count(len(sources.problems), 'problem')}")
        made = ", ".join(f"{n} {c:,}" for n, c in report.plugins.rows.items())
        ran = len({run["plugin"] for run in report.plugins.runs})
        unparsed: dict[str, int] = {}
        for run in report.plugins.runs:
            for table, counts in run.get("unparsed", {}).items():
                for column, count in counts.items():
                    unparsed[f"{table}.{column}"] = unparsed.get(f"{table}.{column}", 0) + count
        if unparsed:
            click.echo("values that did not parse, kept as text beside a null: "
                       + ", ".join(f"{k} {v:,}" for k, v in sorted(unparsed.items())))
        click.echo(f"{ran} plugins ran: {made}; "
                   f"{_count(len(report.problems) - len(sources.problems), 'plugin problem')}")
        for used in report.mapping_files:
            click.echo(f"mapping file {used['path']} (sha256 {used['sha256'][:12]}) used")
        if report.plugins.excluded:
            click.echo(f"{len(report.plugins.excluded)} raw tables left unmapped by exclude = true")
        found = report.plugins.recognised
        if found:
            mapped = [f"{r['table']} -> {r['produces']} {r['confidence']:.2f}" for r in found if r["mapped"]]
            refused = len(found) - len(mapped)
            click.echo(f"recogniser: {_count(len(mapped), 'table')} mapped" + (f" ({', '.join(mapped)})" if mapped else "")
                       + f", {refused} not sure enough to map; review {report.plugins.review_file}, "
                       "correct it and pass it back with --mapping")
    if report.problems:
        sys.exit(EXIT_WARNINGS)


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON, with their columns.")
def tables(case_dir: Path, as_json: bool) -> None:
    """List the tables in the case: raw tables (name, rows, format, source file) and the canonical ones.

    \b
    Example:
      forensics tables ./op-falcon
      forensics tables ./op-falcon --json
    """
    from forensics.canonical import canonical_rows
    from forensics.rawtables import read_manifests, table_rows

    opened = _open(case_dir)
    rows = table_rows(list(read_manifests(opened))) + canonical_rows(opened)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no tables yet: run forensics extract CASE")
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        click.echo(f"{row['name']:<{width}}  {row['rows']:>12,}  {row['format']:<9} {row['source_path'] or '-'}  "
                   f"({len(row['columns'])} columns) {row['parquet']}")


@cli.group("plugins")
def plugins_group() -> None:
    """Extraction plugins: list those found, or start a new one."""


@plugins_group.command("list")
@click.option("--plugins-dir", "plugins_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Also look in this folder; may be given more than once.")
@click.option("--json", "as_json", is_flag=True, help="Print the plugins as JSON.")
def plugins_list(plugins_dirs: tuple[Path, ...], as_json: bool) -> None:
    """List the plugins found (name, version, origin, what each produces) and those that failed to load.

    \b
    Example:
      forensics plugins list
      forensics plugins list --plugins-dir ./my-plugins --json
    """
    from forensics.plugins import discover

    found = discover(list(plugins_dirs))
    rows = [{"name": p.name, "version": p.version, "produces": list(p.produces), "origin": p.origin,
             "description": p.description} for p in found.plugins]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "failed": found.failed}, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['name']} {row['version']}  -> {', '.join(row['produces'])}  ({row['origin']})")
            if row["description"]:
                click.echo(f"    {row['description']}")
        for failure in found.failed:
            click.echo(f"FAILED {failure['origin']}: {failure['error']}")
    if found.failed:
        sys.exit(EXIT_WARNINGS)


@plugins_group.command("new")
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Where to write the plugin and its test.")
def plugins_new(name: str, folder: Path) -> None:
    """Write a new plugin NAME.py and its test test_NAME.py, both working as written.

    \b
    Example:
      forensics plugins new spoofer-db --dir ./my-plugins
      python -m pytest ./my-plugins/test_spoofer_db.py
      forensics extract ./op-falcon --plugins-dir ./my-plugins
    """
    from forensics.plugin_template import write_plugin

    plugin_file, test_file = write_plugin(name, folder)
    click.echo(f"wrote {plugin_file} and {test_file}")


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.argument("sql")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="How to print the result.")
def query(case_dir: Path, sql: str, output_format: str) -> None:
    """Run SQL (Polars SQL) over the case's canonical tables and raw tables.

    Canonical tables are named accounts, payments, calls; a raw table by its name with
    every character other than letters, digits and _ replaced by _ (shop.users is
    shop_users), prefixed raw_ where that name is taken.

    \b
    Example:
      forensics query ./op-falcon "SELECT destination_e164, count(*) AS n FROM calls GROUP BY 1 ORDER BY n DESC"
      forensics query ./op-falcon "SELECT * FROM users LIMIT 5" --format csv
    """
    from forensics.query import run_query

    opened = _open(case_dir)
    try:
        frame = run_query(opened, sql)
    except Exception as exc:  # noqa: BLE001 - the examiner's SQL: say what is wrong in one line
        _fail(f"query failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if output_format == "json":
        click.echo(frame.write_json())
    elif output_format == "csv":
        click.echo(frame.write_csv(), nl=False)
    else:
        import polars as pl

        with pl.Config(tbl_rows=50, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            click.echo(str(frame))


@cli.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--ref", required=True, help="The exhibit's reference (e.g. JS/1); names the file in exhibits/.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Also write the workbook here (an .xlsx file).")
@click.option("--table", "tables", multiple=True,
              help="A table to put on sheets (canonical, derived, or raw as `forensics tables` names it); "
                   "may be given more than once. Default: accounts, payments, calls, victims, account_summary.")
@click.option("--where", help="Keep only the rows matching this Polars SQL condition, e.g. \"account_id = '42'\".")
@click.option("--spec", type=click.Path(path_type=Path),
              help="A TOML file listing the sheets: table, name, where, columns, title.")
@click.option("--made-at", help="The time to put on the cover and in the file's properties "
                                "(default: the last change of the case's data).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def exhibit(case_dir: Path, ref: str, output: Path | None, tables: tuple[str, ...], where: str | None,
            spec: Path | None, made_at: str | None, as_json: bool) -> None:
    """Write an Excel exhibit for court: a cover sheet, then one sheet per table.

    The same case and command give a byte-identical file. The workbook is kept in the
    case's exhibits/ folder with its SHA-256 in the audit log (`forensics verify` checks it).

    \b
    Example:
      forensics exhibit ./op-falcon --ref JS/1 -o JS-1.xlsx
      forensics exhibit ./op-falcon --ref JS/2 --table calls --where "account_id = '42'" -o JS-2.xlsx
    """
    from forensics.exhibit import make_exhibit

    if spec and tables:
        _fail("--spec lists the sheets; give either --spec or --table")
    report = make_exhibit(_open(case_dir), ref, output, _command_line(), list(tables) or None, where, spec, made_at)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return
    for sheet in report.sheets:
        names = ", ".join(f"'{s['name']}'" for s in sheet["sheets"])
        click.echo(f"{sheet['table']:<24} {sheet['rows']:>12,} rows  on {names}")
    click.echo(f"exhibit: {report.path} (SHA-256 {report.sha256})")
    if report.copy:
        click.echo(f"copied to: {report.copy}")
    if report.cut_values:
        click.echo(f"values longer than a cell are kept whole in {report.cut_values}")


@cli.group("sample")
def sample_group() -> None:
    """Sample evidence to try the tool on: a seized caller-ID spoofing server."""


@sample_group.command("generate")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--accounts", default=500, show_default=True, type=int, help="User accounts of the service.")
@click.option("--calls", default=20_000, show_default=True, type=int, help="Calls it placed.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Seed of the random data: the same seed and options give byte-identical files.")
def sample_generate(directory: Path, accounts: int, calls: int, seed: int) -> None:
    """Write a copy of a caller-ID spoofing service's seized server to DIRECTORY/server.

    DIRECTORY must not exist or be empty. Beside the server, DIRECTORY/truth.json says what
    the sample holds and what ingest and extract must find in it (it is not evidence).

    \b
    Example:
      forensics sample generate ./seized --calls 100000
      forensics case init ./op-sample --case-ref OP-SAMPLE --examiner "J. Smith" --timezone Europe/London
      forensics ingest ./op-sample ./seized/server
      forensics extract ./op-sample
    """
    from forensics.sample import generate

    started = time.monotonic()
    truth = generate(directory, accounts=accounts, calls=calls, seed=seed)
    facts = truth["service"]
    click.echo(f"sample server written to {directory / 'server'} in {time.monotonic() - started:.1f} s: "
               f"{facts['accounts']:,} accounts, {facts['payments_rows']:,} payments, {facts['calls']:,} calls, "
               f"{facts['distinct_victims']:,} numbers called; truth in {directory / 'truth.json'}")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("forensics-demo"), required=False)
def demo(directory: Path) -> None:
    """Run every stage on a sample seized server: sample, case, ingest, extract, exhibit, verify.

    DIRECTORY (default ./forensics-demo) gets the sample in sample/ (generated unless one
    is there), the case in case/ and the standard exhibit DEMO-1.xlsx; the summary says
    where each is, what was found, and whether every figure is as the sample's
    truth.json says. Exit code 3: something differs or a problem was recorded.

    \b
    Example:
      forensics demo
      forensics sample generate ./big/sample --calls 1000000 && forensics demo ./big
    """
    from forensics.demo import run_demo

    report = run_demo(directory, _command_line(), say=click.echo)
    if not report.ok:
        sys.exit(EXIT_WARNINGS)


@cli.command("log")
@click.argument("case_dir", type=click.Path(path_type=Path))
@click.option("--verify", "check", is_flag=True, help="Check the chain; exit 1 naming the first bad entry.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON lines.")
def log_command(case_dir: Path, check: bool, as_json: bool) -> None:
    """Print the audit trail of the case, or check that it was not altered.

    \b
    Examples:
      forensics log ./op-falcon
      forensics log ./op-falcon --verify
    """
    opened = _open(case_dir)
    if check:
        problems = opened.audit.verify()
        if problems:
            click.echo(f"forensics: error: audit trail altered: first bad entry: {problems[0]}", err=True)
            for problem in problems[1:]:
                click.echo(f"  also: {problem}", err=True)
            sys.exit(EXIT_FAILED)
        count = sum(1 for _ in opened.audit.entries())
        click.echo(f"audit trail intact: {count} entries, each chained to the one before")
        return
    def say(text: str) -> None:  # names that are not UTF-8 come back from JSON as lone surrogates
        click.echo(text.encode("utf-8", "backslashreplace").decode("utf-8"))

    for entry in opened.audit.entries():
        if as_json:
            say(json.dumps(entry, ensure_ascii=False, sort_keys=True))
            continue
        command = " ".join(shlex.quote(part) for part in entry.get("command", []))
        say(f"{entry.get('seq', '?'):>4} {entry.get('time_utc', '?')} {entry.get('user', '?')}@"
            f"{entry.get('host', '?')} [{entry.get('outcome', '?')}] {command}")
        if entry.get("message"):
            say(f"     {entry['message']}")
        for output in entry.get("outputs", []):
            say(f"     -> {output.get('path')} sha256:{output.get('sha256')}")


def main() -> None:
    """Console entry point."""
    os.environ.setdefault("POLARS_SKIP_CPU_CHECK", "1")
    cli(prog_name="forensics")


if __name__ == "__main__":
    main()
