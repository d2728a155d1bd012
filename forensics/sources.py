"""Sources: find the database-like files in the catalogue and read each into raw tables.

Every catalogued file (on disk or inside archives) that could be a database is opened
again and its first bytes looked at: a SQLite file, a pg_dump custom archive, a MySQL or
PostgreSQL SQL dump, or a CSV/TSV table. Each is read by its reader into raw/<key>/ (see
rawtables). A source whose content (SHA-256) was read before is not read again, so
reading is resumable and gives the same tables every time. While reading, the bytes are
hashed again and compared with the catalogue: a file that changed since ingest is said
so. A reader that fails records its error in the source's problems and the run goes on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from forensics.archives import SEP
from forensics.audit import sha256_file
from forensics.case import Case
from forensics.catalogue import current
from forensics.evidence import evidence_location
from forensics.members import HashingStream, PrefixedStream, judge_tar_members, open_catalogued
from forensics.rawtables import SOURCE_FILE, SourceWriter, read_manifests, source_key
from forensics.readers.delimited import WiderThanHeader, read_delimited, sniff_delimited
from forensics.readers.sqldump import SqlDumpReader
from forensics.readers.sqlite import read_sqlite

SNIFF_BYTES = 64 << 10
SOURCE_SUFFIXES = (".sql", ".dump", ".csv", ".tsv", ".tab", ".db", ".sqlite", ".sqlite3", ".db3", ".backup")
_SQL_STATEMENT = re.compile(rb"(?im)^[ \t]*(?:CREATE[ \t]+TABLE|INSERT[ \t]+INTO|COPY[ \t]+\S+.*FROM[ \t]+stdin)\b")
_MYSQL_MARKS = (b"-- MySQL dump", b"-- MariaDB dump", b"-- phpMyAdmin SQL Dump", b"-- Adminer ", b"# Sequel Pro",
                b"/*!40101 ", b"/*!40014 ", b"ENGINE=", b"AUTO_INCREMENT=", b"LOCK TABLES `")
_POSTGRES_MARKS = (b"-- PostgreSQL database dump", b"SET client_encoding", b"SET standard_conforming_strings",
                   b"pg_catalog.", b" FROM stdin;")

CATALOGUE_COLUMNS = ["root", "root_kind", "path", "parent", "archive", "kind", "size", "sha256", "mime", "description", "error"]


@dataclass
class ReadReport:
    """What reading the sources did."""

    read: list[dict[str, Any]] = field(default_factory=list)  # manifests of the sources read in this run
    already_read: int = 0
    looked_at: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "sources_read": [{"path": m["path"], "sha256": m["sha256"], "format": m["format"],
                              "tables": len(m["tables"]), "rows": sum(t["rows"] for t in m["tables"])}
                             for m in self.read],
            "already_read": self.already_read,
            "files_looked_at": self.looked_at,
            "problems": self.problems,
        }


def sniff_format(head: bytes, name: str) -> str | None:
    """What kind of source a file is, from its first bytes and its name; None if it is not one."""
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PGDMP"):
        return "pg-custom"
    if b"\x00" not in head[:4096] and _SQL_STATEMENT.search(head):
        postgres = sum(mark in head for mark in _POSTGRES_MARKS)
        mysql = sum(mark in head for mark in _MYSQL_MARKS) + head.count(b"`") // 20
        return "postgres" if postgres > mysql else "mysql"
    if sniff_delimited(head, name) is not None:
        return "csv"
    return None


def might_be_source(row: dict[str, Any]) -> bool:
    """Worth opening to sniff: text, SQLite and pg_dump files, and names that say database or table."""
    if row["kind"] != "file" or not row["size"] or row["sha256"] is None:
        return False
    mime, description = row["mime"] or "", row["description"] or ""
    name = row["path"].rsplit("!", 1)[-1].lower()
    return (mime.startswith("text/") or "SQLite" in description or "PostgreSQL custom" in description
            or name.endswith(SOURCE_SUFFIXES))


def read_sources(case: Case, on_problem: Callable[[str], None] | None = None,
                 progress: Callable[[str], None] | None = None, report: ReadReport | None = None) -> ReadReport:
    """Read every source in the catalogue that has not been read yet.

    report: filled in as sources are read, so that a caller interrupted midway still knows
    which were finished.
    """
    report = report if report is not None else ReadReport()
    done = {m["sha256"] for m in read_manifests(case) if m.get("complete", True)}  # failed readings: again
    frame = current(case, CATALOGUE_COLUMNS).collect()
    damaged = set(frame.filter(pl.col("error").is_not_null())["path"].to_list())
    # Where the same content is at several paths it is read once: from an intact container first.
    rows = sorted(frame.to_dicts(), key=lambda r: (r["archive"] in damaged, r["root"], r["path"]))
    case.tmp_dir.mkdir(exist_ok=True)
    not_sources = _not_sources_in_tars(case, frame, [r for r in rows if might_be_source(r) and r["sha256"] not in done])
    for row in rows:
        if not might_be_source(row):
            continue
        if row["sha256"] in done:
            report.already_read += 1
            continue
        report.looked_at += 1
        if (row["root"], row["path"]) in not_sources:
            continue  # not a source: its first bytes, read with its tar's other members, say so
        known_problems = len(report.problems)
        manifest = _read_one(case, row, report, progress)
        if on_problem:
            for text in report.problems[known_problems:]:  # the source could not be opened again
                on_problem(text)
        if manifest is not None:
            done.add(row["sha256"])
            report.read.append(manifest)
            for problem in manifest["problems"]:
                if not problem["skipped"]:
                    text = f"{row['path']}: {problem['where']}: {problem['message']}"
                    report.problems.append(text)
                    if on_problem:
                        on_problem(text)
    return report


def _not_sources_in_tars(case: Case, frame: pl.DataFrame, candidates: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(root, path) of candidates in a tar holding several whose first bytes say they are not sources.

    A streamed tar (inside gzip, say) is read from its start each time one of its members
    is opened; sniffing its members together reads it once. Where that fails, nothing is
    said and each member is opened on its own, with its problems reported as usual.
    """
    tars = set(frame.filter(pl.col("mime") == "application/x-tar").select("root", "path").iter_rows())
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in candidates:
        if row["archive"] is not None and (row["root"], row["parent"]) in tars \
                and row["path"].startswith(f"{row['parent']}{SEP}"):
            groups.setdefault((row["root"], row["parent"]), []).append(row)
    not_sources: set[tuple[str, str]] = set()
    for (root, parent), members in groups.items():
        if len(members) < 2:
            continue
        names = {m["path"][len(parent) + len(SEP):] for m in members}
        try:
            verdicts = judge_tar_members(members[0], parent, names, SNIFF_BYTES, case.tmp_dir,
                                         lambda name, head: sniff_format(head, name.rsplit(SEP, 1)[-1]) is None)
        except Exception:  # noqa: BLE001 - each member is then opened on its own and its problem reported
            continue
        not_sources.update((root, f"{parent}{SEP}{name}") for name, no in verdicts.items() if no)
    return not_sources


def _read_one(case: Case, row: dict[str, Any], report: ReadReport,
              progress: Callable[[str], None] | None) -> dict[str, Any] | None:
    try:
        try:
            return _read_opened(case, row, progress, single_pass=True)
        except WiderThanHeader:  # a CSV row wider than its header: read it again, in two passes
            return _read_opened(case, row, progress, single_pass=False)
    except (OSError, ValueError, EOFError) as exc:
        report.problems.append(f"{row['path']}: could not be opened again for reading: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - archive libraries raise many kinds
        report.problems.append(f"{row['path']}: could not be opened again for reading: {type(exc).__name__}: {exc}")
        return None


def _read_opened(case: Case, row: dict[str, Any], progress: Callable[[str], None] | None,
                 single_pass: bool) -> dict[str, Any] | None:
    """Open the source, sniff it and read it with its reader; its manifest, or None if it is not a source."""
    name = row["path"].rsplit("!", 1)[-1]
    with open_catalogued(row, case.tmp_dir) as stream:
        head = stream.read(SNIFF_BYTES)
        fmt = sniff_format(head, name)
        if fmt is None:
            return None
        if progress:
            again = "" if single_pass else " again, in two passes: a row is wider than its header"
            progress(f"reading {row['path']} ({fmt}){again}")
        writer = SourceWriter(case, {
            "path": row["path"], "root": row["root"], "sha256": row["sha256"], "size": row["size"],
            "format": fmt, "mime": row["mime"], "description": row["description"],
        })
        writer.source["complete"] = False  # until the reader ends and the bytes are the catalogue's
        try:
            _run_reader(case, fmt, row, head, stream, writer, single_pass)
            mismatch = stream.verify(row["sha256"], row["size"])
            if mismatch:
                writer.problem("whole file", mismatch)
            else:
                writer.source["complete"] = True
        except WiderThanHeader:
            writer.abandon()
            raise
        except Exception as exc:  # noqa: BLE001 - one bad source must not stop the others
            writer.problem("reader", f"stopped with an error ({type(exc).__name__}: {exc}); "
                                     "rows of the batches written before it are kept, and the next "
                                     "extract reads this source again")
        return writer.finish()


def _run_reader(case: Case, fmt: str, row: dict[str, Any], head: bytes, stream: HashingStream,
                writer: SourceWriter, single_pass: bool = True) -> None:
    rest = PrefixedStream(head, stream.read)
    name = row["path"].rsplit("!", 1)[-1]
    if fmt in ("mysql", "postgres"):
        SqlDumpReader(rest.read, writer, fmt).read()
    elif fmt == "csv":
        dialect = sniff_delimited(head, name)
        assert dialect is not None
        read_delimited(rest, name, dialect, writer, single_pass=single_pass)  # type: ignore[arg-type]
    elif fmt == "sqlite":
        with _as_file(case, row, rest) as path:
            read_sqlite(path, writer)
    elif fmt == "pg-custom":
        with _as_file(case, row, rest) as path:
            _read_pg_custom(path, writer)


class _as_file:  # noqa: N801 - used as a context manager like a function
    """The source as a path: the evidence file itself, or the member spooled into the case's tmp/."""

    def __init__(self, case: Case, row: dict[str, Any], rest: PrefixedStream) -> None:
        self.case, self.row, self.rest = case, row, rest
        self.folder: str | None = None

    def __enter__(self) -> Path:
        if self.row["archive"] is None:
            return Path(evidence_location(self.row["root"], self.row["path"], self.row["root_kind"]))
        self.folder = tempfile.mkdtemp(dir=self.case.tmp_dir, prefix="source-")
        path = Path(self.folder) / "member"
        try:
            with open(path, "wb") as handle:
                shutil.copyfileobj(self.rest, handle, 1 << 20)  # type: ignore[misc]
            os.chmod(path, 0o444)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        return path

    def __exit__(self, *exc: object) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _read_pg_custom(path: Path, writer: SourceWriter) -> None:
    """A pg_dump custom-format archive, turned into plain SQL by pg_restore and read as such."""
    tool = shutil.which("pg_restore")
    if tool is None:
        writer.problem("whole file", "pg_dump custom format needs pg_restore (Debian: postgresql-client): not read")
        return
    with tempfile.TemporaryFile(dir=writer.case.tmp_dir) as stderr, \
            subprocess.Popen([tool, "--no-owner", "-f", "-", str(path)], stdout=subprocess.PIPE,
                             stderr=stderr) as process:
        assert process.stdout is not None
        SqlDumpReader(process.stdout.read, writer, "postgres").read()
        process.wait()
        stderr.seek(0)
        errors = stderr.read().decode("utf-8", "replace").strip()
    if process.returncode:
        writer.problem("pg_restore", f"exited with {process.returncode}: {errors[:500]}")
    writer.source["locator_note"] = "lines and offsets are in pg_restore's plain-SQL output, not in the file"


def output_manifest(case: Case, manifests: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The files written for these sources, with their SHA-256, for the audit log."""
    outputs = []
    for manifest in manifests:
        for table in manifest["tables"]:
            outputs.append({"path": table["parquet"], "sha256": sha256_file(case.path / table["parquet"])})
        source_json = f"raw/{source_key(manifest['sha256'])}/{SOURCE_FILE}"
        outputs.append({"path": source_json, "sha256": sha256_file(case.path / source_json)})
    return outputs


def raw_table(case: Case, parquet: str) -> pl.LazyFrame:
    """A raw table's rows, lazily."""
    return pl.scan_parquet(case.path / parquet, glob=False)
