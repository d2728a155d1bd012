"""Helpers for the dump tests: read a dump with our reader, and compare with a real server."""

from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from forensics.case import Case, init_case
from forensics.rawtables import SourceWriter
from forensics.readers.sqldump import SqlDumpReader


class Read:
    """What the reader made of one dump: tables by name, problems, the manifest."""

    def __init__(self, manifest: dict[str, Any], case: Case) -> None:
        self.manifest = manifest
        self.tables = {t["name"]: pl.read_parquet(case.path / t["parquet"]) for t in manifest["tables"]}
        self.info = {t["name"]: t for t in manifest["tables"]}
        self.problems = [f"{p['where']}: {p['message']}" for p in manifest["problems"] if not p["skipped"]]
        self.skipped = [f"{p['where']}: {p['message']}" for p in manifest["problems"] if p["skipped"]]

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """The rows of a table without locators."""
        frame = self.tables[table]
        return list(frame.select([c for c in frame.columns if not c.startswith("_")]).iter_rows())


def read_dump(tmp_path: Path, data: bytes, dialect: str, chunk: int | None = None, name: str = "case",
              compiled: bool = True) -> Read:
    """Read dump bytes into a fresh case with our reader (compiled=False: the pure-Python row parser)."""
    folder = tmp_path / name
    case = init_case(folder, "REF", "Examiner", "UTC", ["test"])
    import hashlib

    writer = SourceWriter(case, {"path": "dump.sql", "sha256": hashlib.sha256(data).hexdigest(), "format": dialect})
    SqlDumpReader(io.BytesIO(data).read, writer, dialect, chunk=chunk, compiled=compiled).read()
    return Read(writer.finish(), case)


def as_bytes(value: Any) -> bytes | None:
    """A value from our raw table as bytes (text as UTF-8)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def canonical(value: bytes | None, declared: str) -> Any:
    """A value in a form both sides agree on, by its declared type (the server's COLUMN_TYPE)."""
    if value is None:
        return None
    base = declared.lower().split("(")[0].split()[0]
    try:
        if "with time zone" in declared.lower():  # the server shows the instant in its own zone
            from datetime import UTC, datetime

            return datetime.fromisoformat(value.decode()).astimezone(UTC)
        if base in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year", "serial", "bigserial",
                    "smallserial"):
            return int(value)
        if base in ("decimal", "numeric", "dec", "fixed"):
            return Decimal(value.decode()).normalize()
        if base in ("float", "double", "real", "double precision"):
            return round(float(value), 4)
        if base == "bit":
            return int.from_bytes(value, "big") if not value.isdigit() else int(value)
        if base == "boolean":
            return value.decode().lower() in ("t", "true", "1")
    except (ValueError, InvalidOperation):
        return value
    return value


def compare_mysql(server: Any, database: str, ours: Read, table: str, our_name: str | None = None) -> list[str]:
    """Differences between the rows MariaDB holds and the rows we read, as a multiset."""
    columns = server.columns(database, table)
    server_rows = server.rows(database, table, charset="utf8mb4")
    frame = ours.tables[our_name or f"{database}.{table}"]
    our_rows = frame.select([c for c in frame.columns if not c.startswith("_")]).iter_rows()
    return _differences(
        [tuple(canonical(v, t) for v, (_, t) in zip(row, columns, strict=True)) for row in server_rows],
        [tuple(canonical(as_bytes(v), t) for v, (_, t) in zip(row, columns, strict=True)) for row in our_rows],
    )


def compare_postgres(server: Any, database: str, ours: Read, table: str, our_name: str | None = None) -> list[str]:
    """Differences between the rows PostgreSQL holds and the rows we read, as a multiset."""
    columns = server.columns(database, table)
    server_rows = server.rows(database, table)
    frame = ours.tables[our_name or table]
    our_rows = frame.select([c for c in frame.columns if not c.startswith("_")]).iter_rows()

    def ours_bytes(value: Any, declared: str) -> bytes | None:
        if isinstance(value, bytes) and declared == "bytea":
            return b"\\x" + value.hex().encode()
        return as_bytes(value)

    return _differences(
        [tuple(canonical(as_bytes(v), t) for v, (_, t) in zip(row, columns, strict=True)) for row in server_rows],
        [tuple(canonical(ours_bytes(v, t), t) for v, (_, t) in zip(row, columns, strict=True)) for row in our_rows],
    )


def _differences(server_rows: list[tuple[Any, ...]], our_rows: list[tuple[Any, ...]]) -> list[str]:
    from collections import Counter

    theirs, ours = Counter(server_rows), Counter(our_rows)
    only_server = list((theirs - ours).elements())
    only_ours = list((ours - theirs).elements())
    problems = []
    if len(server_rows) != len(our_rows):
        problems.append(f"server has {len(server_rows)} rows, we have {len(our_rows)}")
    problems += [f"only in server: {row!r}" for row in only_server[:5]]
    problems += [f"only in ours: {row!r}" for row in only_ours[:5]]
    return problems
