"""Raw tables: each source's tables exactly as the source holds them, stored in the case.

A source (a dump, a SQLite file, a CSV file) is read into the folder raw/<key>/, where
<key> is the first 16 hex digits of its SHA-256: one Parquet file per table and a
source.json that names the source, its format, each table's columns with their declared
types, row counts, the Parquet paths, and the problems met while reading. A reading in
progress writes into raw/<key>.partial/ and is renamed when complete, so a crash never
leaves half a source that looks whole.

Values are kept losslessly. Text stays text exactly as written (numbers too: "1.50" stays
"1.50"), NULL stays null, the empty string stays empty. A column that holds bytes which do
not decode in the source's character set, or is declared binary, is stored as Binary with
the exact bytes. Each row carries locator columns (_line and _offset in a dump, _rowid in
SQLite, _line in a CSV) that say where in the source it was read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from forensics.case import Case
from forensics.errors import ForensicsError

SOURCE_FILE = "source.json"
BATCH_ROWS = 50_000
LOCATOR_COLUMNS = ("_line", "_offset", "_rowid")

Value = str | bytes | int | float | None


@dataclass
class ColumnInfo:
    """One column of a raw table as the source declares it."""

    name: str
    declared_type: str | None = None
    stored_as: str = "String"  # String, Binary, Int64 or Float64 once read


@dataclass
class TableInfo:
    """One raw table of a source."""

    name: str
    parquet: str  # path relative to the case folder
    columns: list[ColumnInfo]
    locator: list[str]
    rows: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Problem:
    """Something met while reading a source: where it is and what it was."""

    where: str
    message: str
    skipped: bool = False  # True: a statement deliberately skipped (procedure, trigger...), not damage

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def source_key(sha256: str) -> str:
    """The folder name under raw/ for a source with this SHA-256."""
    return sha256[:16]


def _file_name(table: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", table).strip("._") or "table"
    name, n = stem, 1
    while name.lower() in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name.lower())
    return name + ".parquet"


def column_frame(names: Sequence[str], columns: Sequence[list[Value]], binary: Sequence[bool] = ()) -> pl.DataFrame:
    """A batch of rows, one Python list per column, as a DataFrame of lossless dtypes.

    A column of text and nulls becomes String; one holding any bytes (or marked in
    `binary`) becomes Binary, text in it encoded as UTF-8; integers become Int64, floats
    Float64, and a column that mixes numbers and text becomes String.
    """
    series = []
    for index, (name, values) in enumerate(zip(names, columns, strict=True)):
        force_binary = index < len(binary) and binary[index]
        series.append(_series(name, values, force_binary))
    return pl.DataFrame(series)


def _series(name: str, values: list[Value], force_binary: bool) -> pl.Series:
    kinds = {type(v) for v in values if v is not None}
    if force_binary or bytes in kinds:
        return pl.Series(name, [v.encode() if isinstance(v, str) else _number_bytes(v) for v in values],
                         dtype=pl.Binary)
    if not kinds or kinds == {str}:
        return pl.Series(name, values, dtype=pl.String)
    if kinds == {int} or kinds == {bool, int} or kinds == {bool}:
        if all(v is None or -(1 << 63) <= v < (1 << 63) for v in values):  # type: ignore[operator]
            return pl.Series(name, values, dtype=pl.Int64)
    if kinds == {float}:
        return pl.Series(name, values, dtype=pl.Float64)
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _number_bytes(value: Value) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


def unify_dtype(dtypes: set[pl.DataType]) -> pl.DataType:
    """The dtype that holds every batch of a column without loss."""
    if len(dtypes) == 1:
        return next(iter(dtypes))
    if pl.Binary() in dtypes:
        return pl.Binary()
    if dtypes <= {pl.Int64(), pl.Null()}:
        return pl.Int64()
    if dtypes <= {pl.Float64(), pl.Null()}:
        return pl.Float64()
    return pl.String()


class TableWriter:
    """Writes the batches of one raw table into its Parquet file, on a background thread.

    Batches go straight into the table's file as row groups while the reader parses the
    next one. Should a later batch need another dtype for a column (text that turns out
    to hold bytes that do not decode), what was written becomes the first part, the rest
    are written as parts, and finish() merges them in one lossless schema.
    """

    def __init__(self, source: SourceWriter, info: TableInfo) -> None:
        self.source = source
        self.info = info
        self._parts: list[Path] = []
        self._dtypes: dict[str, set[pl.DataType]] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet")
        self._in_flight: Future[None] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._target = self.source.partial / Path(self.info.parquet).name
        self._growing = self._target.with_suffix(".growing")

    @property
    def column_names(self) -> list[str]:
        """The source's column names (without locators)."""
        return [c.name for c in self.info.columns]

    def add_columns(self, columns: Sequence[list[Value]], locators: Sequence[list[int | None]],
                    binary: Sequence[bool] = ()) -> None:
        """Add a batch: one list per source column, then one list per locator column."""
        names = self.column_names
        frame = column_frame(names, columns, binary)
        frame = frame.with_columns(pl.Series(name, values, dtype=pl.Int64)
                                   for name, values in zip(self.info.locator, locators, strict=True))
        self.add_frame(frame)

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Add a batch already built as a DataFrame with the table's columns and locators."""
        if frame.height == 0:
            return
        for name, dtype in frame.schema.items():
            self._dtypes.setdefault(name, set()).add(dtype)
        self.info.rows += frame.height
        self._wait()  # one batch in flight at most: memory stays flat
        self._in_flight = self._pool.submit(self._write, frame)

    def _wait(self) -> None:
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            future.result()  # a failed write fails the reading

    def _write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow(compat_level=pl.CompatLevel.newest())  # text as string_view: handed over without a copy
        if self._writer is None and not self._parts:
            self._schema = table.schema
            # No dictionary pages and no min/max statistics: raw tables are read whole, and building
            # both for millions of mostly distinct texts cost more than the rest of the write
            self._writer = pq.ParquetWriter(self._growing, table.schema, compression="zstd", use_dictionary=False,
                                            write_statistics=False)
        if self._writer is not None and table.schema == self._schema:
            self._writer.write_table(table)
            return
        if self._writer is not None:  # a dtype changed: go on in parts, merged at the end
            self._writer.close()
            self._writer = None
            first = self.source.partial / f".{self._target.stem}.000000.part.parquet"
            os.replace(self._growing, first)
            self._parts.append(first)
        part = self.source.partial / f".{self._target.stem}.{len(self._parts):06d}.part.parquet"
        frame.write_parquet(part, compression="uncompressed", statistics=False)  # scratch: compressed once at the end
        self._parts.append(part)

    def note_mixed(self, column: str) -> None:
        """Say (once) that a column holds text from some batches and bytes from others."""
        note = (f"column {column} holds values that are not text: it is stored as bytes, and its text values "
                "as their UTF-8 bytes")
        if note not in self.info.notes:
            self.info.notes.append(note)

    def finish(self) -> None:
        """Complete the table's Parquet file, every batch in one lossless schema."""
        self._wait()
        self._pool.shutdown()
        names = self.column_names + self.info.locator
        schema: dict[str, pl.DataType] = {}
        for column in self.info.columns:
            if self._dtypes.get(column.name, set()) >= {pl.String(), pl.Binary()}:
                self.note_mixed(column.name)
            dtype = unify_dtype(self._dtypes.get(column.name, {pl.String()}) - {pl.Null()} or {pl.String()})
            schema[column.name] = dtype
            column.stored_as = str(dtype)
        for name in self.info.locator:
            schema[name] = pl.Int64()
        if self._writer is not None:
            self._writer.close()
            os.replace(self._growing, self._target)
            return
        if not self._parts:
            pl.DataFrame(schema=schema).write_parquet(self._target)
            return
        frames = [pl.scan_parquet(part, glob=False).select(pl.col(n).cast(schema[n]) for n in names) for part in self._parts]
        pl.concat(frames, how="vertical").sink_parquet(self._target)
        for part in self._parts:
            part.unlink()

    def discard(self) -> None:
        """Stop writing and remove what was written, so that the table can be begun again."""
        self.abandon()
        for path in [self._growing, self._target, *self._parts]:
            path.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Stop writing (the source's folder is removed by its SourceWriter)."""
        self._pool.shutdown(cancel_futures=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class SourceWriter:
    """Writes the raw tables of one source into raw/<key>.partial/, then puts them in place."""

    def __init__(self, case: Case, source: dict[str, Any]) -> None:
        self.case = case
        self.source = source  # path, sha256, size, format ... as recorded in source.json
        self.key = source_key(source["sha256"])
        self.final = case.path / "raw" / self.key
        self.partial = case.path / "raw" / f"{self.key}.partial"
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.tables: dict[str, TableWriter] = {}
        self.problems: list[Problem] = []
        self._files: set[str] = set()

    def table(self, name: str, columns: list[ColumnInfo], locator: Sequence[str]) -> TableWriter:
        """The writer of the table `name`, made on first use."""
        if name not in self.tables:
            parquet = f"raw/{self.key}/{_file_name(name, self._files)}"
            self.tables[name] = TableWriter(self, TableInfo(name, parquet, columns, list(locator)))
        return self.tables[name]

    def mark(self) -> tuple[int, frozenset[str]]:
        """Where the reading stands, to go back to with `rollback`."""
        return len(self.problems), frozenset(self.tables)

    def rollback(self, mark: tuple[int, frozenset[str]]) -> None:
        """Forget the problems recorded and the tables begun since `mark`, and remove those tables' files.

        A table begun before `mark` keeps whatever was added to it since.
        """
        problems, tables = mark
        del self.problems[problems:]
        for name in [n for n in self.tables if n not in tables]:
            table = self.tables.pop(name)
            table.discard()
            self._files.discard(Path(table.info.parquet).stem.lower())

    def problem(self, where: str, message: str, skipped: bool = False) -> None:
        """Record something met while reading."""
        self.problems.append(Problem(where, message, skipped))

    def finish(self) -> dict[str, Any]:
        """Write every table and source.json, and put the source's folder in place."""
        for table in self.tables.values():
            table.finish()
        manifest = {
            **self.source,
            "tables": [asdict(t.info) for t in self.tables.values()],
            "problems": [asdict(p) for p in self.problems],
        }
        (self.partial / SOURCE_FILE).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.partial, self.final)
        return manifest

    def abandon(self) -> None:
        """Remove what an unfinished reading wrote."""
        for table in self.tables.values():
            table.abandon()
        shutil.rmtree(self.partial, ignore_errors=True)


def read_manifests(case: Case) -> Iterator[dict[str, Any]]:
    """The source.json of every source read into the case, in folder order."""
    raw = case.path / "raw"
    if not raw.is_dir():
        return
    for folder in sorted(raw.iterdir()):
        manifest = folder / SOURCE_FILE
        if folder.is_dir() and not folder.name.endswith(".partial") and manifest.exists():
            try:
                yield json.loads(manifest.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ForensicsError(f"{manifest}: damaged ({exc}); forensics verify names what changed, "
                                     "and removing that folder makes extract read the source again") from None


def table_rows(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One plain record per raw table, for listing."""
    rows = []
    for manifest in manifests:
        for table in manifest["tables"]:
            rows.append({
                "name": table["name"],
                "kind": "raw",
                "format": manifest["format"],
                "source_path": manifest["path"],
                "source_sha256": manifest["sha256"],
                "rows": table["rows"],
                "columns": [{"name": c["name"], "declared_type": c["declared_type"], "stored_as": c["stored_as"]}
                            for c in table["columns"]],
                "parquet": table["parquet"],
            })
    return rows
