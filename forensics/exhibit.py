"""Exhibits: Excel workbooks for court, made from a case's tables, reproducible to the byte.

A workbook holds a cover sheet (case, exhibit, examiner, tool, command, the time of the
data, every source with its SHA-256, and row counts reconciled from source to sheet) and
one sheet per table, continued on "calls (2)" and so on past a sheet's 1,048,576 rows.
The workbook is written in the case's exhibits/ folder (and copied to -o), atomically,
and its SHA-256 goes into the audit log, where `forensics verify` finds it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tomllib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import polars as pl
import pyarrow.parquet as pq

from forensics import __version__
from forensics.audit import sha256_file
from forensics.canonical import DERIVED, PROVENANCE, TABLES, Column
from forensics.case import Case
from forensics.errors import ForensicsError
from forensics.rawtables import read_manifests
from forensics.xlsx import (
    CHUNK_ROWS,
    DEFLATE_NAME,
    MAX_ROWS,
    STYLE_HEADER,
    STYLE_TITLE,
    SheetColumn,
    SheetResult,
    XlsxWriter,
    sheet_name,
    write_atomic,
)

STANDARD = ("accounts", "payments", "calls", "victims", "account_summary")
SHEET_ROWS = MAX_ROWS - 1  # data rows under the header
SPEC_SHEET_KEYS = {"table", "name", "where", "columns", "title"}
DERIVED_FROM = {"victims": ("calls",), "account_summary": ("accounts", "payments", "calls")}
DATA_PATHS = ("catalogue", "raw/", "tables/")  # the case's data, as the audit trail names it


@dataclass
class SheetSpec:
    """One table to put on sheets: which, filtered how, which columns, under what name."""

    table: str
    name: str | None = None
    where: str | None = None
    columns: list[str] | None = None
    title: str | None = None


@dataclass
class TableRef:
    """A table of the case an exhibit can show."""

    name: str
    kind: str  # canonical, derived or raw
    parquet: Path
    declared: tuple[Column, ...] = ()
    source: dict[str, Any] | None = None  # raw: the source's manifest
    raw_info: dict[str, Any] | None = None  # raw: the table's entry in it


@dataclass
class SheetPlan:
    """A sheet spec resolved against the case: its table, its rows and where they come from."""

    spec: SheetSpec
    table: TableRef
    parquet: Path  # the table, or its filtered copy in the case's tmp/
    rows: int
    columns: list[SheetColumn]
    constants: dict[str, str | None] = field(default_factory=dict)  # columns the same on every row (raw sources)
    conditions: list[str] = field(default_factory=list)  # the filters its rows meet (its own and --where)
    parts: list[tuple[str, int, int]] = field(default_factory=list)  # sheet name, first row, rows
    results: list[SheetResult] = field(default_factory=list)


@dataclass
class ExhibitReport:
    """What exhibit wrote."""

    path: Path
    sha256: str
    copy: Path | None
    sheets: list[dict[str, Any]]
    made_at: str
    cut_values: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"path": str(self.path), "sha256": self.sha256, "copy": str(self.copy) if self.copy else None,
                "made_at": self.made_at, "sheets": self.sheets, "cut_values": self.cut_values}


def load_spec(path: Path) -> tuple[str | None, list[SheetSpec]]:
    """Read an exhibit spec (TOML): an optional title and [[sheet]] entries; errors name the file and the place."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ForensicsError(f"--spec {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ForensicsError(f"--spec {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"title", "sheet"})
    if unknown:
        raise ForensicsError(f"--spec {path}: unknown key {unknown[0]!r} (use title and [[sheet]])")
    sheets = data.get("sheet")
    if not isinstance(sheets, list) or not sheets:
        raise ForensicsError(f"--spec {path}: no [[sheet]] entries")
    specs = []
    for n, entry in enumerate(sheets, start=1):
        where = f"--spec {path}: sheet {n}"
        bad = sorted(set(entry) - SPEC_SHEET_KEYS)
        if bad:
            raise ForensicsError(f"{where}: unknown key {bad[0]!r} (known: {', '.join(sorted(SPEC_SHEET_KEYS))})")
        if not isinstance(entry.get("table"), str):
            raise ForensicsError(f"{where}: needs table = \"NAME\"")
        columns = entry.get("columns")
        if columns is not None and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise ForensicsError(f"{where}: columns must be a list of column names")
        for key in ("name", "where", "title"):
            if key in entry and not isinstance(entry[key], str):
                raise ForensicsError(f"{where}: {key} must be text")
        specs.append(SheetSpec(entry["table"], entry.get("name"), entry.get("where"), columns, entry.get("title")))
    title = data.get("title")
    return (title if isinstance(title, str) else None), specs


def case_tables(case: Case) -> list[TableRef]:
    """Every table an exhibit can show: canonical and derived ones, then the raw ones."""
    refs = []
    for name, declared in [*TABLES.items(), *DERIVED.items()]:
        path = case.path / "tables" / f"{name}.parquet"
        if path.exists():
            kind = "canonical" if name in TABLES else "derived"
            refs.append(TableRef(name, kind, path, declared + (PROVENANCE if kind == "canonical" else ())))
    for manifest in read_manifests(case):
        for table in manifest["tables"]:
            refs.append(TableRef(table["name"], "raw", case.path / table["parquet"], (), manifest, table))
    return refs


def resolve_table(name: str, refs: list[TableRef]) -> TableRef:
    """The table named: a canonical or derived name, a raw table's name, raw:NAME, or NAME@SHA256-PREFIX."""
    wanted, _, prefix = name.partition("@")
    raw_only = wanted.startswith("raw:")
    wanted = wanted.removeprefix("raw:")
    if not raw_only and not prefix:
        for ref in refs:
            if ref.kind != "raw" and ref.name == wanted:
                return ref
    matches = [r for r in refs if r.kind == "raw" and r.name == wanted
               and (not prefix or (r.source or {}).get("sha256", "").startswith(prefix.lower()))]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = sorted({r.name for r in refs})
        hint = f"; tables in this case: {', '.join(known)}" if known else "; run forensics extract first"
        raise ForensicsError(f"table {name}: no such table{hint}")
    choices = ", ".join(f"{m.name}@{(m.source or {})['sha256'][:12]} ({(m.source or {})['path']})" for m in matches)
    raise ForensicsError(f"table {name}: {len(matches)} raw tables have this name; name one of: {choices}")


def _columns(ref: TableRef, schema: pl.Schema, chosen: list[str] | None, where: str) -> list[SheetColumn]:
    """The sheet's columns with headers and notes; provenance and locator columns always follow the chosen ones."""
    declared = {c.name: c for c in ref.declared}
    trailing = [n for n in schema if n.startswith("_")]
    if chosen is not None:
        if not chosen:
            raise ForensicsError(f"{where}: columns is empty; name at least one column, or leave columns out")
        repeated = sorted({c for c in chosen if chosen.count(c) > 1})
        if repeated:
            raise ForensicsError(f"{where}: columns names {', '.join(repeated)} more than once")
        missing = [c for c in chosen if c not in schema]
        if missing:
            raise ForensicsError(f"{where}: {ref.name} has no column {', '.join(missing)} "
                                 f"(its columns: {', '.join(schema)})")
        names = [c for c in chosen if c not in trailing] + trailing
    else:
        names = list(schema)
    raw_types = {c["name"]: c.get("declared_type") for c in (ref.raw_info or {}).get("columns", [])}
    columns = []
    for name in names:
        dtype = schema[name]
        header = name
        if isinstance(dtype, pl.Datetime):
            header = f"{name} (UTC)" if dtype.time_zone else f"{name} (no timezone in the source)"
        note = declared[name].description if name in declared else None
        if ref.kind == "raw":
            if name in raw_types:
                note = f"declared in the source as {raw_types[name] or 'no type'}; kept as written"
            elif name in LOCATOR_NOTES:
                note = LOCATOR_NOTES[name]
        columns.append(SheetColumn(name, header, note))
    return columns


LOCATOR_NOTES = {
    "_line": "line of the source the row starts on", "_offset": "byte offset of the row in the source",
    "_rowid": "SQLite rowid of the row", "_source_sha256": "SHA-256 of the source file",
    "_source_path": "the source's path in the catalogue (archive members as outer.zip!inner/file)",
    "_source_table": "the table in the source",
}


def _frame(ref: TableRef) -> pl.LazyFrame:
    """The table as a sheet shows it: a raw table gets its source named on every row."""
    frame = pl.scan_parquet(ref.parquet, glob=False)
    return frame.with_columns(pl.lit(v, pl.String).alias(k) for k, v in _constants(ref).items())


def _condition(where: str, label: str) -> pl.Expr:
    """A Polars SQL condition as an expression: one condition, never a clause (ORDER BY, LIMIT, a second query)."""
    try:
        return pl.sql_expr(where)
    except Exception as exc:  # noqa: BLE001 - Polars raises several kinds for a bad condition
        raise ForensicsError(f"{label}: {where!r} is not a condition: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _filtered(frame: pl.LazyFrame, conditions: list[str], label: str) -> pl.LazyFrame:
    """The frame keeping the rows where every condition holds; a condition that does not apply fails naming the table."""
    expressions = [_condition(where, label) for where in conditions]
    try:
        filtered = frame.filter(pl.all_horizontal(expressions))
        filtered.collect_schema()
        return filtered
    except Exception as exc:  # noqa: BLE001 - Polars raises several kinds for a bad condition
        raise ForensicsError(f"{label}: the condition {' AND '.join(conditions)!r} does not apply: "
                             f"{_first_line(exc)}") from None


def plan_sheets(case: Case, specs: list[SheetSpec], work: Path, extra: tuple[str, ...] = ()) -> list[SheetPlan]:
    """Resolve every sheet before anything is written: tables, columns, filters (filtered copies go to work/).

    extra: conditions every sheet must meet besides its own (--where).
    """
    refs = case_tables(case)
    if not refs:
        raise ForensicsError(f"{case.path}: no tables yet; run forensics extract first")
    resolved = []
    for n, spec in enumerate(specs, start=1):
        ref = resolve_table(spec.table, refs)
        label = f"sheet {n} ({spec.table})"
        frame = _frame(ref)
        columns = _columns(ref, frame.collect_schema(), spec.columns, label)
        conditions = [c for c in (spec.where, *extra) if c]
        resolved.append((spec, ref, columns, _filtered(frame, conditions, label) if conditions else None, label,
                         conditions))
    plans = []
    for n, (spec, ref, columns, filtered, label, conditions) in enumerate(resolved, start=1):
        parquet = ref.parquet
        if filtered is not None:
            work.mkdir(parents=True, exist_ok=True)
            parquet = work / f"sheet{n}.parquet"
            try:
                filtered.select(c.name for c in columns).sink_parquet(parquet)
            except pl.exceptions.PolarsError as exc:  # a condition that only fails on the values (types)
                raise ForensicsError(f"{label}: the condition does not apply: {_first_line(exc)}") from None
        plans.append(SheetPlan(spec, ref, parquet, pq.ParquetFile(parquet).metadata.num_rows, columns,
                               constants={} if filtered is not None else _constants(ref), conditions=conditions))
    return plans


def _constants(ref: TableRef) -> dict[str, str | None]:
    """Columns a raw table's rows get on the sheet: its source, named on every row."""
    if ref.kind != "raw":
        return {}
    source = ref.source or {}
    return {"_source_sha256": source.get("sha256"), "_source_path": source.get("path"), "_source_table": ref.name}


def _batches(plan: SheetPlan) -> Iterator[pl.DataFrame]:
    """The sheet's rows in batches of CHUNK_ROWS, streamed from its Parquet file.

    Polars streams the file (a third of the time of pyarrow's batches turned into frames);
    the batches are cut to exactly CHUNK_ROWS rows whatever sizes it gives, since the
    sheets' bytes depend on where chunks start. Where nothing is stored (only constant
    columns) or this Polars cannot stream batches, pyarrow reads them.
    """
    names = [c.name for c in plan.columns]
    stored = [n for n in names if n not in plan.constants]
    if stored and hasattr(pl.LazyFrame, "collect_batches"):
        read: Iterator[pl.DataFrame] = pl.scan_parquet(plan.parquet, glob=False).select(stored).collect_batches(
            chunk_size=CHUNK_ROWS)
    else:  # pyarrow's batches stop at row groups for some columns (dictionaries): cut again too
        read = (pl.DataFrame(pl.from_arrow(batch))
                for batch in pq.ParquetFile(plan.parquet).iter_batches(batch_size=CHUNK_ROWS, columns=stored))
    for frame in _exact_batches(read, CHUNK_ROWS):
        if plan.constants:
            frame = frame.with_columns(pl.lit(v, pl.String).alias(k) for k, v in plan.constants.items())
        yield frame.select(names)


def _exact_batches(frames: Iterator[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """The frames' rows again, in batches of exactly ``rows`` (the last may be shorter)."""
    waiting: list[pl.DataFrame] = []
    held = 0
    for frame in frames:
        if not waiting and len(frame) == rows:
            yield frame
            continue
        waiting.append(frame)
        held += len(frame)
        while held >= rows:
            joined = pl.concat(waiting, rechunk=False) if len(waiting) > 1 else waiting[0]
            yield joined.slice(0, rows)
            rest = joined.slice(rows)
            waiting, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield pl.concat(waiting, rechunk=False) if len(waiting) > 1 else waiting[0]


def _take(batches: Iterator[pl.DataFrame], rows: int, carry: list[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Exactly ``rows`` rows from the batches; what is left of the last batch stays in carry for the next sheet."""
    while rows > 0:
        batch = carry.pop() if carry else next(batches, None)
        if batch is None:
            return
        if len(batch) > rows:
            carry.append(batch.slice(rows))
            batch = batch.slice(0, rows)
        rows -= len(batch)
        yield batch


def data_made_at(case: Case) -> str:
    """The time of the last change of the case's data, from the audit trail.

    That is the last entry that wrote the catalogue, a raw table or a canonical table with
    bytes other than those recorded before (an ingest or extract that found something
    new, typed or run by the demo); entries that rewrote the same bytes, exhibits, verify
    and log do not count, so making an exhibit again gives the same file.
    """
    when = case.created
    known: dict[str, str] = {}
    for entry in case.audit.entries():
        changed = False
        for output in entry.get("outputs", []):
            path = output.get("path", "") if isinstance(output, dict) else ""
            if path.startswith(DATA_PATHS) and known.get(path) != output.get("sha256"):
                known[path] = output.get("sha256", "")
                changed = True
        if changed:
            when = entry.get("time_utc", when)
    return _iso(when)


def _iso(text: str) -> str:
    """An ISO 8601 time as UTC to the second (W3CDTF, as document properties want it)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ForensicsError(f"--made-at {text!r}: not an ISO 8601 time (e.g. 2026-03-01T12:00:00Z)") from None
    if moment.tzinfo is None:
        raise ForensicsError(f"--made-at {text!r}: give the timezone (Z or +01:00)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exhibit_file_name(ref: str) -> str:
    """The exhibit's file name in the case's exhibits/ folder."""
    cleaned = re.sub(r"[^\w.-]+", "_", ref).strip("._")
    if not cleaned:
        raise ForensicsError("--ref must hold a letter or digit")
    return f"{cleaned}.xlsx"


def _reconcile(plan: SheetPlan, refs: list[TableRef]) -> list[list[Any]]:
    """Cover rows: per source of a sheet's table, the rows in the raw table, the table, and on the sheets."""
    rows: list[list[Any]] = []
    sheets = "; ".join(f"rows {first + 1:,}-{first + count:,} on '{name}'" if count else f"none on '{name}'"
                       for name, first, count in plan.parts)
    if plan.table.kind == "canonical":
        keys = ["_source_path", "_source_sha256", "_source_table", "_extractor"]
        in_table = pl.scan_parquet(plan.table.parquet, glob=False).group_by(keys).len("table").collect()
        shown = pl.scan_parquet(plan.parquet, glob=False).group_by(keys).len("sheet").collect()
        counts = (in_table.join(shown, on=keys, how="left", nulls_equal=True)
                  .with_columns(pl.col("sheet").fill_null(0)).sort(keys, nulls_last=True))
        raw = {(r.source or {}).get("sha256", "") + "\0" + r.name: r for r in refs if r.kind == "raw"}
        for row in counts.iter_rows(named=True):
            source_ref = raw.get(f"{row['_source_sha256']}\0{row['_source_table']}")
            raw_rows = source_ref.raw_info["rows"] if source_ref and source_ref.raw_info else None
            problems = len([p for p in (source_ref.source or {}).get("problems", []) if not p.get("skipped")]) \
                if source_ref else None
            rows.append([plan.parts[0][0] if plan.parts else "", row["_source_path"], row["_source_table"],
                         row["_extractor"], raw_rows, problems, row["table"], row["sheet"]])
    elif plan.table.kind == "raw":
        source = plan.table.source or {}
        problems = len([p for p in source.get("problems", []) if not p.get("skipped")])
        rows.append([plan.parts[0][0] if plan.parts else "", source.get("path"), plan.table.name, "(raw table)",
                     (plan.table.raw_info or {}).get("rows"), problems, (plan.table.raw_info or {}).get("rows"),
                     plan.rows])
    else:
        total = pq.ParquetFile(plan.table.parquet).metadata.num_rows
        rows.append([plan.parts[0][0] if plan.parts else "", "(computed from the canonical tables)",
                     plan.table.name, "(derived)", None, None, total, plan.rows])
    rows.append(["", f"  {plan.table.name}: {plan.rows:,} rows: {sheets}", "", "", "", "", "", ""])
    return rows


def make_exhibit(case: Case, ref: str, output: Path | None, command: list[str], tables: list[str] | None = None,
                 where: str | None = None, spec: Path | None = None, made_at: str | None = None) -> ExhibitReport:
    """Write an exhibit workbook into the case (and to output), record it in the audit log, and report it."""
    if not ref.strip():
        raise ForensicsError("--ref must not be empty")
    title, specs = load_spec(spec) if spec else (None, [SheetSpec(t) for t in (tables or STANDARD)])
    extra = (where,) if where else ()
    target = case.path / "exhibits" / exhibit_file_name(ref)
    if output is not None and output.suffix.lower() != ".xlsx":
        raise ForensicsError(f"-o {output}: an exhibit is an .xlsx file")
    with case.locked():
        _check_ref_is_free(case, ref, target)
        made = _iso(made_at) if made_at else data_made_at(case)
        work = case.tmp_dir / f"exhibit-{os.getpid()}"
        try:
            plans = plan_sheets(case, specs, work, extra)
            report = _write(case, ref, title, plans, target, command, made)
        except BaseException:
            for leftover in (_pending(target), _pending(case.path / cut_values_path(target))):
                leftover.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rel = os.path.relpath(target, case.path)
        cut_rel = cut_values_path(target)
        outputs: list[dict[str, Any]] = [{"path": rel, "sha256": report.sha256}]
        if report.cut_values:
            outputs.append({"path": report.cut_values, "sha256": sha256_file(_pending(case.path / cut_rel))})
        elif _recorded(case, cut_rel):  # an earlier version of this exhibit had cut values; this one has none
            outputs.append({"path": cut_rel, "sha256": None, "removed": True})
        copy = output if output is not None and output.resolve() != target.resolve() else None
        partial = None
        if copy is not None:  # copied under a temporary name first: the audit entry names a copy that exists
            partial = copy.with_name(f".{copy.name}.partial-{os.getpid()}")
            write_atomic(partial, lambda handle: _copy_into(_pending(target), handle))
        inputs = [{"path": p, "sha256": sha256_file(case.path / p)}
                  for p in sorted({os.path.relpath(plan.table.parquet, case.path) for plan in plans})]
        if spec is not None:
            inputs.append({"path": str(spec.resolve()), "sha256": sha256_file(spec), "role": "spec"})
        try:
            case.audit.append(
                command, "ok",
                f"exhibit {ref}: {len(report.sheets)} tables, {sum(s['rows'] for s in report.sheets):,} rows",
                inputs=inputs, outputs=outputs,
                details={"ref": ref, "made_at": made, "sheets": report.sheets,
                         "copy": {"path": str(copy.resolve()), "sha256": report.sha256} if copy else None},
            )
            os.replace(_pending(target), target)
            if report.cut_values:
                os.replace(_pending(case.path / cut_rel), case.path / cut_rel)
            else:
                (case.path / cut_rel).unlink(missing_ok=True)
            if copy is not None and partial is not None:
                os.replace(partial, copy)
        finally:
            for leftover in (partial, _pending(target), _pending(case.path / cut_rel)):
                if leftover is not None and leftover.exists():
                    leftover.unlink()
        report.copy = copy
    return report


def _recorded(case: Case, rel: str) -> bool:
    """Whether the audit trail last recorded this case file as written (not removed)."""
    present = False
    for entry in case.audit.entries():
        for output in entry.get("outputs", []):
            if isinstance(output, dict) and output.get("path") == rel:
                present = not output.get("removed")
    return present


def _check_ref_is_free(case: Case, ref: str, target: Path) -> None:
    """Refuse a reference whose file name another exhibit's reference already gave (JS/1 and JS_1)."""
    rel = os.path.relpath(target, case.path)
    for entry in case.audit.entries():
        details = entry.get("details") or {}
        wrote = any(isinstance(o, dict) and o.get("path") == rel for o in entry.get("outputs", []))
        if wrote and isinstance(details, dict) and details.get("ref") not in (None, ref):
            raise ForensicsError(f"--ref {ref}: its file {rel} is exhibit {details['ref']!r}'s; "
                                 "choose a reference that differs in letters or digits")


def _copy_into(source: Path, handle: IO[bytes]) -> None:
    with open(source, "rb") as reader:
        shutil.copyfileobj(reader, handle, 1 << 20)


def _write(case: Case, ref: str, title: str | None, plans: list[SheetPlan], target: Path, command: list[str],
           made: str) -> ExhibitReport:
    """Write the workbook: data sheets first (their counts feed the cover), the cover shown first."""
    refs = case_tables(case)
    taken: set[str] = {"Cover"}
    for plan in plans:
        base = plan.spec.name or plan.table.name
        parts = max(1, -(-plan.rows // SHEET_ROWS))
        for part in range(parts):
            name = sheet_name(base if part == 0 else f"{base} ({part + 1})", taken)
            first = part * SHEET_ROWS
            plan.parts.append((name, first, min(SHEET_ROWS, plan.rows - first)))
    cut_rel = cut_values_path(target)
    cut_rows: list[dict[str, Any]] = []

    def write(handle: IO[bytes]) -> None:
        with XlsxWriter(handle, title=title or f"Exhibit {ref}", made_at=made,
                        creator=f"{case.examiner} (forensics {__version__})",
                        description=f"case {case.case_ref}, exhibit {ref}") as book:
            for plan in plans:
                batches = _batches(plan)
                carry: list[pl.DataFrame] = []
                for name, first, count in plan.parts:
                    result = book.data_sheet(name, plan.columns, _take(batches, count, carry), count, first,
                                             f"the case, {cut_rel}")
                    plan.results.append(result)
                    cut_rows.extend({"table": plan.table.name, "sheet": c.sheet, "cell": c.cell, "column": c.column,
                                     "row": c.row, "text": c.text} for c in result.cut)
            cover = _cover(case, ref, title, plans, refs, command, made, cut_rel if cut_rows else None)
            book.text_sheet("Cover", cover, styles=_cover_styles(cover), widths=[26, 60, 22, 22, 14, 12, 14, 14],
                            selected=True)
            book.close(["Cover", *(name for plan in plans for name, _, _ in plan.parts)])

    write_atomic(_pending(target), write)  # put in place by make_exhibit once the audit trail records it
    cut_values = None
    if cut_rows:
        write_atomic(_pending(case.path / cut_rel), lambda handle: pl.DataFrame(cut_rows).write_parquet(handle))
        cut_values = cut_rel
    sheets = [{"table": p.table.name, "kind": p.table.kind, "where": " AND ".join(p.conditions) or None, "rows": p.rows,
               "sheets": [{"name": n, "first_row": f + 1, "rows": c} for n, f, c in p.parts]} for p in plans]
    return ExhibitReport(target, sha256_file(_pending(target)), None, sheets, made, cut_values)


def cut_values_path(target: Path) -> str:
    """Where, relative to the case, the full text of an exhibit's over-long values is kept."""
    return f"exhibits/{target.stem}.cut-values.parquet"


def _pending(path: Path) -> Path:
    """Where a file of the exhibit waits, complete, until the audit trail records it."""
    return path.with_name(f".{path.name}.pending-{os.getpid()}")


COVER_HEADINGS = ("Exhibit", "Sources", "Sheets and row counts", "Notes")


def _cover(case: Case, ref: str, title: str | None, plans: list[SheetPlan], refs: list[TableRef],
           command: list[str], made: str, cut_values: str | None) -> list[list[Any]]:
    """The cover sheet's rows."""
    rows: list[list[Any]] = [
        ["Exhibit", title or f"Exhibit {ref}"],
        [],
        ["Case reference", case.case_ref],
        ["Exhibit reference", ref],
        ["Examiner", case.examiner],
        ["Tool", f"forensics {__version__} (Polars {pl.__version__}, {DEFLATE_NAME}, zlib {zlib.ZLIB_RUNTIME_VERSION}: "
                 "the same versions make the same bytes)"],
        ["Command", shlex.join(command)],
        ["Data as of (UTC)", f"{made} (the last change of the case's data in its audit trail: an ingest or extract that found something new)"],
        ["Case timezone", f"{case.timezone} (the sources' local time, converted to UTC in the canonical tables)"],
        [],
        ["Sources", "path (archive members as outer.zip!inner/file)", "SHA-256", "format"],
    ]
    sources: dict[tuple[str, str], str] = {}
    for plan in plans:
        if plan.table.kind == "raw":
            s = plan.table.source or {}
            sources[(s.get("path", ""), s.get("sha256", ""))] = s.get("format", "")
        else:  # canonical: its rows' sources; derived: those of the canonical tables it is computed from
            parquets = [plan.parquet] if plan.table.kind == "canonical" else [
                r.parquet for r in refs if r.kind == "canonical" and r.name in DERIVED_FROM.get(plan.table.name, ())]
            formats = {(r.source or {}).get("sha256"): (r.source or {}).get("format") for r in refs if r.kind == "raw"}
            for parquet in parquets:
                frame = pl.scan_parquet(parquet, glob=False).select("_source_path", "_source_sha256").unique().collect()
                for path, sha in frame.iter_rows():
                    sources[(path or "(no path recorded)", sha or "")] = formats.get(sha) or ""
    rows += [["", path, sha, fmt] for (path, sha), fmt in sorted(sources.items())] or [["", "(none)"]]
    rows += [[], ["Sheets and row counts", "source", "table in the source", "made by", "rows in the raw table",
                  "problems reading the source", "rows in the case's table", "rows on the sheets"]]
    for plan in plans:
        rows += _reconcile(plan, refs)
        if plan.conditions:
            rows.append(["", f"  filtered with: {' AND '.join(f'({c})' if len(plan.conditions) > 1 else c for c in plan.conditions)}"])
    rows += [[], ["Notes"]]
    notes = [
        "Every value is as in the case's tables: text is stored as text and never evaluated (text starting with "
        "= + - @ is marked as text); identifiers, phone numbers and long digit strings are text, so no digit is lost.",
        "Times in columns headed (UTC) are UTC; a raw table's times headed (no timezone in the source) are as the "
        "source wrote them. Times are Excel dates where exact to the millisecond and within Excel's calendar "
        "(1900-03-01 to 9999-12-31), else ISO text.",
        "Each row of a canonical table ends with its provenance: the source file's SHA-256 and path, the table, "
        "the place in the source and the plugin that made it; each row of a raw table with its source and its "
        "place in it. Derived tables (victims, account_summary) are computed from the canonical tables.",
    ]
    for plan in plans:
        for result in plan.results:
            for column, count in sorted(result.escaped.items()):
                notes.append(f"'{result.name}', column {column}: {count:,} values hold characters XML forbids, "
                             "shown escaped (\\x00); the case's table holds them exactly.")
            for column, why in sorted(result.as_text.items()):
                notes.append(f"'{result.name}', column {column}: {why}.")
    if cut_values:
        notes.append(f"Values longer than a cell (32,767 characters) are cut with a visible mark; their full text is "
                     f"kept in the case in {cut_values} (sheet, cell, column, row, text).")
    rows += [["", note] for note in notes]
    return rows


def _cover_styles(rows: list[list[Any]]) -> dict[int, int]:
    """The cover's title row large, its headings bold."""
    styles = {i: STYLE_HEADER for i, row in enumerate(rows) if row and row[0] in COVER_HEADINGS[1:]}
    return {**styles, 0: STYLE_TITLE}
