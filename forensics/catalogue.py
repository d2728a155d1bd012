"""The catalogue: one row per file, folder, link or archive member received.

Rows are written by an ingest into catalogue.parts/ as it goes (so an interrupted ingest
loses nothing already hashed) and merged into catalogue.parquet when it ends. Reading the
catalogue always includes parts left by an interrupted run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from forensics.case import Case
from forensics.parquet_concat import concat_parquet

UTC_NS = pl.Datetime("ns", "UTC")

# Column -> (dtype, description). The order here is the column order of catalogue.parquet.
COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "ingest_id": (pl.String(), "the ingest run that recorded the row"),
    "label": (pl.String(), "exhibit reference given with --label"),
    "root": (pl.String(), "the evidence path given to ingest, absolute"),
    "root_kind": (pl.String(), "folder or file: what that evidence path was when it was ingested"),
    "path": (pl.String(), ("path below the root; archive members as outer.zip!inner/dump.sql; "
                           "bytes that are not UTF-8 shown as \\xNN")),
    "path_bytes": (pl.Binary(), "the path's exact bytes, for names that are not UTF-8"),
    "parent": (pl.String(), "the containing archive's path, for archive members"),
    "archive": (pl.String(), "for archive members: the path of the file on disk that holds it"),
    "depth": (pl.Int32(), "archive nesting depth: 0 on disk, 1 inside an archive, ..."),
    "kind": (pl.String(), "file, directory, symlink, hardlink (tar), fifo, socket, block-device, char-device, other"),
    "size": (pl.Int64(), "size in bytes"),
    "mtime": (UTC_NS, "modified time as found (UTC)"),
    "ctime": (UTC_NS, "inode change time as found (UTC); null inside archives"),
    "atime": (UTC_NS, "accessed time as found before reading (UTC)"),
    "time_text": (pl.String(), "a time the source gives without a timezone (zip), as written"),
    "mode": (pl.Int64(), "permission and type bits (st_mode)"),
    "uid": (pl.Int64(), "owner user id"),
    "gid": (pl.Int64(), "owner group id"),
    "inode": (pl.Int64(), "inode number on disk"),
    "link_target": (pl.String(), "where a symbolic link points (never followed)"),
    "md5": (pl.String(), "MD5 of the content, hex"),
    "sha1": (pl.String(), "SHA-1 of the content, hex"),
    "sha256": (pl.String(), "SHA-256 of the content, hex"),
    "mime": (pl.String(), "MIME type"),
    "description": (pl.String(), "libmagic description"),
    "typed_by": (pl.String(), "libmagic, or signature (the cheap path, see docs; empty files too)"),
    "error": (pl.String(), "why the entry could not be read fully, if it could not"),
    "recorded_at": (UTC_NS, "when the ingest run that recorded the row started (UTC)"),
}
SCHEMA = pl.Schema({name: dtype for name, (dtype, _) in COLUMNS.items()})
COLUMN_NAMES: tuple[str, ...] = tuple(COLUMNS)
KEY = ("root", "path")


TIME_COLUMNS = ("mtime", "ctime", "atime", "recorded_at")
_BUILD_SCHEMA = pl.Schema({name: (pl.Int64() if name in TIME_COLUMNS else dtype) for name, dtype in SCHEMA.items()})


def rows_to_frame(rows: Iterable[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows as tuples in column order (times as integer epoch nanoseconds) as a DataFrame."""
    frame = pl.DataFrame(list(rows), schema=_BUILD_SCHEMA, orient="row")
    return frame.with_columns(pl.col(name).cast(UTC_NS) for name in TIME_COLUMNS)


# The columns of a plain file's short row (evidence.FileReader.plain_row), in its order. The
# others are the run's stamp (ingest_id, label, recorded_at) or the same for every plain file.
PLAIN_COLUMNS: tuple[str, ...] = (
    "root", "root_kind", "path", "path_bytes", "size", "mtime", "ctime", "atime", "mode", "uid", "gid", "inode",
    "md5", "sha1", "sha256", "mime", "description", "typed_by",
)
_PLAIN_SCHEMA = pl.Schema({name: _BUILD_SCHEMA[name] for name in PLAIN_COLUMNS})


def plain_frame(rows: list[tuple[Any, ...]], stamp: dict[str, Any]) -> pl.DataFrame:
    """Short rows of plain files (PLAIN_COLUMNS order) as catalogue rows: regular files on disk
    (depth 0), read without error, with the run's stamp."""
    frame = pl.DataFrame(dict(zip(PLAIN_COLUMNS, zip(*rows, strict=True), strict=True)), schema=_PLAIN_SCHEMA)
    fixed = {"ingest_id": stamp["ingest_id"], "label": stamp["label"], "recorded_at": stamp["recorded_at"],
             "depth": 0, "kind": "file"}
    return frame.select(
        pl.col(name) if name in _PLAIN_SCHEMA else pl.lit(fixed.get(name), dtype).alias(name)
        for name, dtype in _BUILD_SCHEMA.items()
    ).with_columns(pl.col(name).cast(UTC_NS) for name in TIME_COLUMNS)


CURRENT_KEYS = ["root", "path", "depth", "archive", "ingest_id"]  # what current_rows needs


def current(case: Case, columns: list[str] | None = None) -> pl.LazyFrame:
    """The current rows of the case, lazily, with only the columns asked for (all by default)."""
    scan = scan_catalogue(case)
    if columns is not None:
        scan = scan.select(list(dict.fromkeys(CURRENT_KEYS + columns)))
    rows = current_rows(scan)
    return rows if columns is None else rows.select(columns)


def disk_rows(case: Case, columns: list[str]) -> pl.DataFrame:
    """The current rows of files on disk (no archive members), times as epoch nanoseconds."""
    rows = current(case, list(dict.fromkeys([*columns, "depth"]))).filter(pl.col("depth") == 0).select(columns)
    return rows.with_columns(
        pl.col(name).dt.epoch("ns") for name in TIME_COLUMNS if name in columns
    ).collect()


def empty_frame() -> pl.DataFrame:
    """An empty catalogue."""
    return pl.DataFrame(schema=SCHEMA)


class PartWriter:
    """Writes rows of one ingest into catalogue.parts/ in small Parquet files, atomically."""

    def __init__(self, case: Case, stamp: dict[str, Any], rows_per_part: int = 20000,
                 flush_seconds: float | None = None) -> None:
        """stamp: the run's ingest_id, label and recorded_at, which plain files' rows get."""
        self.dir = case.parts_dir
        self.dir.mkdir(exist_ok=True)
        self.stamp = stamp
        self.ingest_id: str = stamp["ingest_id"]
        self.rows_per_part = rows_per_part
        self.flush_seconds = flush_seconds if flush_seconds is not None else float(
            os.environ.get("FORENSICS_FLUSH_SECONDS", "5"))
        self._buffer: list[tuple[Any, ...]] = []
        self._plain: list[tuple[Any, ...]] = []
        self._count = 0
        self._last_flush = time.monotonic()

    def add_group(self, rows: list[tuple[Any, ...]]) -> None:
        """Queue rows that belong together (a file and its members); they land in one part."""
        self._buffer.extend(rows)
        self._maybe_flush()

    def add_plain(self, rows: list[tuple[Any, ...]]) -> None:
        """Queue short rows of plain files (see plain_frame)."""
        self._plain.extend(rows)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (len(self._buffer) + len(self._plain) >= self.rows_per_part
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the queued rows as one part file (tmp name, fsync, rename)."""
        self._last_flush = time.monotonic()
        if not self._buffer and not self._plain:
            return
        frames = [rows_to_frame(self._buffer)] if self._buffer else []
        if self._plain:
            frames.append(plain_frame(self._plain, self.stamp))
        self._count += 1
        write_frame(self.dir, f"{self.ingest_id}-{self._count:06d}", pl.concat(frames))
        self._buffer.clear()
        self._plain.clear()


def write_part(directory: Path, name: str, rows: list[tuple[Any, ...]]) -> None:
    """Write rows (tuples in column order) as directory/name.parquet: tmp name, fsync, rename."""
    write_frame(directory, name, rows_to_frame(rows))


def write_frame(directory: Path, name: str, frame: pl.DataFrame) -> None:
    """Write catalogue rows as directory/name.parquet: tmp name, fsync, rename."""
    final = directory / f"{name}.parquet"
    tmp = final.with_suffix(".tmp")
    frame.write_parquet(tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)


def part_files(case: Case) -> list[Path]:
    """Finished part files left by ingests (in progress or interrupted), oldest first."""
    if not case.parts_dir.exists():
        return []
    return sorted(case.parts_dir.glob("*.parquet"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def scan_catalogue(case: Case) -> pl.LazyFrame:
    """Every row recorded so far, lazily: catalogue.parquet, then the parts of ingests since
    (in progress or interrupted), in the order they were written, so later rows come later."""
    sources = ([case.catalogue_path] if case.catalogue_path.exists() else []) + part_files(case)
    if not sources:
        return empty_frame().lazy()
    return pl.concat([_conform(pl.scan_parquet(source, glob=False)) for source in sources], how="vertical")


def read_catalogue(case: Case) -> pl.DataFrame:
    """Every row recorded so far, including those of interrupted ingests."""
    return scan_catalogue(case).collect()


def _conform(frame: pl.LazyFrame) -> pl.LazyFrame:
    """A frame with exactly the catalogue's columns: ones it was written without are null."""
    present = frame.collect_schema().names()
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in SCHEMA.items() if name not in present]
    return frame.with_columns(missing).select(SCHEMA.names()).cast(SCHEMA)


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def current_rows(catalogue: Frame) -> Frame:
    """The latest row for each (root, path): what the evidence was last seen to hold.

    An archive member is current only when it was recorded by the same ingest as the
    latest row of the file on disk that holds it: members of an archive that has since
    changed are history, not current. Works on a DataFrame or, without loading the
    catalogue, on a LazyFrame holding at least root, path, depth, archive and ingest_id.
    """
    latest = catalogue.unique(subset=list(KEY), keep="last", maintain_order=True)
    holders = latest.filter(pl.col("depth") == 0).select(
        "root", pl.col("path").alias("archive"), pl.col("ingest_id").alias("_holder_ingest"))
    members = (
        latest.filter(pl.col("depth") > 0)
        .join(holders, on=["root", "archive"], how="left")
        .filter(pl.col("ingest_id") == pl.col("_holder_ingest"))
        .drop("_holder_ingest")
    )
    return pl.concat([latest.filter(pl.col("depth") == 0), members]).sort(list(KEY))


CATALOGUE_ROW_GROUPS = 1024  # past this many, the catalogue is written anew instead of joined


def merge_parts(case: Case) -> None:
    """Fold the part files into catalogue.parquet and remove them.

    The files' row groups are copied into a new file as they are (parquet_concat), or where
    they cannot be (written by another Polars or with other columns, or past
    CATALOGUE_ROW_GROUPS row groups, which each ingest adds to), streamed through Polars,
    which writes large row groups again. Either way memory does not grow with the size of
    the catalogue, the new file replaces the old one atomically, and rows keep the order
    they were written in.
    """
    parts = part_files(case)
    if not parts and case.catalogue_path.exists():
        return
    sources = ([case.catalogue_path] if case.catalogue_path.exists() else []) + parts
    if not concat_parquet(sources, case.catalogue_path, max_row_groups=CATALOGUE_ROW_GROUPS):
        tmp = case.catalogue_path.with_suffix(".tmp")
        scan_catalogue(case).sink_parquet(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, case.catalogue_path)
    for part in parts:
        part.unlink()


def new_ingest_id() -> str:
    """A unique, sortable id for one ingest run."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Summary:
    """What the catalogue holds, in figures."""

    entries: int
    files: int
    archive_members: int
    bytes: int
    errors: int
    by_kind: dict[str, int]
    by_mime: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data for --json."""
        return {
            "entries": self.entries,
            "files": self.files,
            "archive_members": self.archive_members,
            "bytes": self.bytes,
            "errors": self.errors,
            "by_kind": self.by_kind,
            "by_mime": self.by_mime,
        }


SUMMARY_COLUMNS = ["kind", "mime", "depth", "size", "error"]


def summarise(rows: pl.DataFrame) -> Summary:
    """Counts of catalogue rows (give it current rows, at least SUMMARY_COLUMNS): files, bytes,
    errors, by kind and by type."""
    files = rows.filter(pl.col("kind") == "file").with_columns(pl.col("mime").fill_null("(not typed)"))
    by_kind = Counter(dict(rows.group_by("kind").len().iter_rows()))
    by_mime = Counter(dict(files.group_by("mime").len().iter_rows()))
    return Summary(
        entries=rows.height,
        files=files.height,
        archive_members=files.filter(pl.col("depth") > 0).height,
        bytes=int(files.filter(pl.col("depth") == 0)["size"].sum() or 0),
        errors=rows.filter(pl.col("error").is_not_null()).height,
        by_kind={str(k): v for k, v in sorted(by_kind.items(), key=lambda kv: (-kv[1], str(kv[0])))},
        by_mime={str(k): v for k, v in sorted(by_mime.items(), key=lambda kv: (-kv[1], str(kv[0])))},
    )
