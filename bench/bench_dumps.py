#!/usr/bin/env python3
"""SQL dump reading speed against restoring the same dump into a real server, side by side.

Generates (seeded, so every run writes the same bytes) a mysqldump-style file of --rows
rows in one InnoDB table -- an id, phone numbers, UTF-8 names (accents, Cyrillic, CJK,
emoji), free text with MySQL escapes (\\' \\\\ \\n \\t and doubled quotes), NULLs, dates,
datetimes and decimals -- in extended INSERTs of 1,000 rows each, and a pg_dump-style
plain file of the same rows as COPY ... FROM stdin. Then, for each dump:

* ours: SqlDumpReader reads the file from disk (open(path, 'rb').read) into the raw tables
  of a fresh case (SourceWriter ... finish(), i.e. Parquet written and in place). It runs
  in a child process, so its peak RSS is its own; the time is the read phase alone
  (interpreter start-up, imports and the source's SHA-256 are left out).
* the server: a private MariaDB / PostgreSQL (tests/dbservers.py) restores the same file
  with its own client (mariadb < dump, psql -f dump) into a fresh database.

Both results are checked before any figure is printed: our row count (manifest and
Parquet) and the server's SELECT COUNT(*) must both equal --rows, and a few sampled rows
must read the same in ours, on the server, and in the generator. The ratio is our rows
per second over the server's (target in docs DESIGN "Performance targets": >= 10x MariaDB).

    python bench/bench_dumps.py [--rows 2000000] [--dir /tmp/bench-dumps]
                                [--skip-postgres] [--skip-server]

The dumps are freshly written, so every reader takes them from the page cache: this
measures the tools, not the disk. 2,000,000 rows make a ~200 MB mysqldump; allow a few
minutes for the servers. `make bench` runs this after bench/bench_ingest.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = "calls"
DATABASE = "bench"
ROWS_PER_INSERT = 1000
SEED = 20240517
MB = 1_000_000
CENT = Decimal("0.01")

COLUMNS_MYSQL = """\
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `caller` varchar(20) NOT NULL,
  `callee` varchar(20) DEFAULT NULL,
  `name` varchar(100) NOT NULL,
  `note` text DEFAULT NULL,
  `started` datetime NOT NULL,
  `day` date DEFAULT NULL,
  `seconds` int(11) NOT NULL,
  `amount` decimal(10,2) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_caller` (`caller`)"""
COLUMNS_PG = """\
    id integer NOT NULL,
    caller character varying(20) NOT NULL,
    callee character varying(20),
    name character varying(100) NOT NULL,
    note text,
    started timestamp without time zone NOT NULL,
    day date,
    seconds integer NOT NULL,
    amount numeric(10,2)"""
COLUMN_NAMES = ["id", "caller", "callee", "name", "note", "started", "day", "seconds", "amount"]

FIRST = ["John", "Mary", "José", "Zoë", "Łukasz", "Ørjan", "Dmitrij", "Дмитрий", "Анна", "王伟", "李娜",
         "Renée", "Siobhán", "Ahmed", "أحمد", "Jürgen", "Ana", "Björk", "Çağla", "Nguyễn"]
LAST = ["Smith", "O'Brien", "Müller", "Núñez", "Kowalski", "Иванов", "张", "D'Angelo", "Lefèvre",
        "Šimić", "Brown", "Ångström", "Özdemir", "Đorđević", "Jones"]
NOTES = ["called about balance", "said \"top up now\"", "it's the new number", "line one\nline two",
         "tab\tseparated\tbits", "C:\\Users\\admin\\spoof.exe", "route via 'gateway 7'", "",
         "paid 20€ in bitcoin 🙂", "weird \\n literal and a real\r\nCRLF", "quote '' doubled?",
         "100% sure; DROP TABLE x;", "ünïcödé ümläüts", "(parens, commas), and 'quotes'"]


@dataclass
class Generated:
    """A dump on disk and what went into it."""

    path: Path
    size: int
    seconds: float


class Rows:
    """The deterministic rows: row i is (i, *text[i % len(text)], *rest[i % len(rest)]).

    Two pools of coprime sizes, each drawn once from a seeded RNG and serialized once per
    dialect, so writing millions of rows is string joins only.
    """

    def __init__(self, seed: int = SEED, text_pool: int = 4099, rest_pool: int = 4093) -> None:
        rng = random.Random(seed)
        self.text: list[tuple[str, str | None, str, str | None]] = [self._text(rng) for _ in range(text_pool)]
        self.rest: list[tuple[str, str | None, int, Decimal | None]] = [self._rest(rng) for _ in range(rest_pool)]
        self.text_mysql = [",".join(_mysql_literal(v, doubled=i % 3 == 0) for v in row)
                           for i, row in enumerate(self.text)]
        self.rest_mysql = [",".join(_mysql_literal(v) for v in row) for row in self.rest]
        self.text_pg = ["\t".join(_copy_field(v) for v in row) for row in self.text]
        self.rest_pg = ["\t".join(_copy_field(v) for v in row) for row in self.rest]

    @staticmethod
    def _text(rng: random.Random) -> tuple[str, str | None, str, str | None]:
        caller = f"07{rng.randrange(10**8, 10**9)}"
        callee = None if rng.random() < 0.3 else f"+{rng.choice(['44', '33', '49', '7', '86'])}{rng.randrange(10**8, 10**10)}"
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        note = None if rng.random() < 0.4 else rng.choice(NOTES)
        return caller, callee, name, note

    @staticmethod
    def _rest(rng: random.Random) -> tuple[str, str | None, int, Decimal | None]:
        started = dt.datetime(2019, 1, 1) + dt.timedelta(seconds=rng.randrange(4 * 365 * 86400))
        day = None if rng.random() < 0.1 else started.date().isoformat()
        amount = None if rng.random() < 0.15 else (Decimal(rng.randrange(-50000, 5000000)) / 100).quantize(CENT)
        return started.strftime("%Y-%m-%d %H:%M:%S"), day, rng.randrange(0, 7200), amount

    def expected(self, row_id: int) -> tuple[str | None, ...]:
        """Row row_id as text, NULL as None: what both the server and we must hold."""
        text = self.text[row_id % len(self.text)]
        rest = self.rest[row_id % len(self.rest)]
        return (str(row_id), *text, *(None if v is None else str(v) for v in rest))

    def mysql_tuples(self, first: int, last: int) -> str:
        """'(id,...),(id,...)' for ids first..last-1."""
        text, rest, nt, nr = self.text_mysql, self.rest_mysql, len(self.text_mysql), len(self.rest_mysql)
        return ",".join([f"({i},{text[i % nt]},{rest[i % nr]})" for i in range(first, last)])

    def copy_lines(self, first: int, last: int) -> str:
        """COPY text-format lines for ids first..last-1."""
        text, rest, nt, nr = self.text_pg, self.rest_pg, len(self.text_pg), len(self.rest_pg)
        return "".join([f"{i}\t{text[i % nt]}\t{rest[i % nr]}\n" for i in range(first, last)])


MARIADB_BENCH_OPTIONS = ("--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M",
                         "--innodb-log-buffer-size=64M")

def _mysql_literal(value: str | int | Decimal | None, doubled: bool = False) -> str:
    """A value as mysqldump writes it; doubled=True writes ' as '' and tabs as \\t (phpMyAdmin style)."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, Decimal)):  # numbers unquoted, as mysqldump writes them
        return str(value)
    text = value.replace("\\", "\\\\").replace("\0", "\\0").replace("\n", "\\n").replace("\r", "\\r")
    if doubled:
        text = text.replace("'", "''").replace("\t", "\\t")
    else:
        text = text.replace("'", "\\'").replace('"', '\\"').replace("\x1a", "\\Z")
    return f"'{text}'"


def _copy_field(value: str | int | Decimal | None) -> str:
    """A value in COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, (int, Decimal)):
        return str(value)
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def write_mysql(path: Path, rows: Rows, count: int) -> Generated:
    """A mysqldump 10.19-style dump of one table."""
    start = time.perf_counter()
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(
            "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n"
            f"-- Host: localhost    Database: {DATABASE}\n"
            "-- ------------------------------------------------------\n"
            "-- Server version\t10.11.6-MariaDB-0+deb12u1\n\n"
            "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
            "/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;\n"
            "/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;\n"
            "/*!40101 SET NAMES utf8mb4 */;\n"
            "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n"
            "/*!40103 SET TIME_ZONE='+00:00' */;\n"
            "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n"
            "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n"
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
            "/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;\n\n"
            f"--\n-- Table structure for table `{TABLE}`\n--\n\n"
            f"DROP TABLE IF EXISTS `{TABLE}`;\n"
            "/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
            "/*!40101 SET character_set_client = utf8 */;\n"
            f"CREATE TABLE `{TABLE}` (\n{COLUMNS_MYSQL}\n"
            f") ENGINE=InnoDB AUTO_INCREMENT={count + 1} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;\n"
            "/*!40101 SET character_set_client = @saved_cs_client */;\n\n"
            f"--\n-- Dumping data for table `{TABLE}`\n--\n\n"
            f"LOCK TABLES `{TABLE}` WRITE;\n"
            f"/*!40000 ALTER TABLE `{TABLE}` DISABLE KEYS */;\n"
        )
        for first in range(1, count + 1, ROWS_PER_INSERT):
            last = min(first + ROWS_PER_INSERT, count + 1)
            out.write(f"INSERT INTO `{TABLE}` VALUES {rows.mysql_tuples(first, last)};\n")
        out.write(
            f"/*!40000 ALTER TABLE `{TABLE}` ENABLE KEYS */;\n"
            "UNLOCK TABLES;\n"
            "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n"
            "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n"
            "/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n"
            "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n"
            "/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n"
            "/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;\n"
            "/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;\n"
            "/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n\n"
            "-- Dump completed on 2024-05-17 10:00:00\n"
        )
    return Generated(path, path.stat().st_size, time.perf_counter() - start)


def write_postgres(path: Path, rows: Rows, count: int) -> Generated:
    """A pg_dump 16-style plain dump of the same table, rows as COPY ... FROM stdin."""
    start = time.perf_counter()
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(
            "--\n-- PostgreSQL database dump\n--\n\n"
            "-- Dumped from database version 16.3\n-- Dumped by pg_dump version 16.3\n\n"
            "SET statement_timeout = 0;\nSET lock_timeout = 0;\n"
            "SET idle_in_transaction_session_timeout = 0;\n"
            "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n"
            "SELECT pg_catalog.set_config('search_path', '', false);\n"
            "SET check_function_bodies = false;\nSET xmloption = content;\n"
            "SET client_min_messages = warning;\nSET row_security = off;\n\n"
            "SET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n"
            f"--\n-- Name: {TABLE}; Type: TABLE; Schema: public; Owner: -\n--\n\n"
            f"CREATE TABLE public.{TABLE} (\n{COLUMNS_PG}\n);\n\n"
            f"--\n-- Data for Name: {TABLE}; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
            f"COPY public.{TABLE} ({', '.join(COLUMN_NAMES)}) FROM stdin;\n"
        )
        for first in range(1, count + 1, 10 * ROWS_PER_INSERT):
            out.write(rows.copy_lines(first, min(first + 10 * ROWS_PER_INSERT, count + 1)))
        out.write(
            "\\.\n\n\n"
            f"--\n-- Name: {TABLE} {TABLE}_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n"
            f"ALTER TABLE ONLY public.{TABLE}\n    ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id);\n\n"
            f"CREATE INDEX idx_caller ON public.{TABLE} USING btree (caller);\n\n"
            "--\n-- PostgreSQL database dump complete\n--\n\n"
        )
    return Generated(path, path.stat().st_size, time.perf_counter() - start)


# -- our reader, in a child process ---------------------------------------------------------

def child_read(dump: Path, dialect: str, case_dir: Path, sample: Sequence[int]) -> dict[str, Any]:
    """Read dump into a fresh case (run in the child); the timed phase and what it made."""
    import polars as pl

    from forensics.case import init_case
    from forensics.rawtables import SourceWriter
    from forensics.readers.sqldump import SqlDumpReader

    digest = hashlib.sha256()
    with open(dump, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    case = init_case(case_dir, "BENCH", "bench", "UTC", ["bench_dumps"])
    start = time.perf_counter()
    writer = SourceWriter(case, {"path": dump.name, "sha256": digest.hexdigest(), "format": dialect})
    with open(dump, "rb") as handle:
        SqlDumpReader(handle.read, writer, dialect).read()
    manifest = writer.finish()
    seconds = time.perf_counter() - start
    tables = []
    for table in manifest["tables"]:
        frame = pl.scan_parquet(case.path / table["parquet"], glob=False)
        parquet_rows = frame.select(pl.len()).collect().item()
        sampled = frame.filter(pl.col("id").cast(pl.Int64).is_in(list(sample))).select(COLUMN_NAMES).collect()
        tables.append({"name": table["name"], "rows": table["rows"], "parquet_rows": parquet_rows,
                       "sample": [[None if v is None else str(v) for v in row] for row in sampled.iter_rows()]})
    problems = [f"{p['where']}: {p['message']}" for p in manifest["problems"] if not p["skipped"]]
    return {"seconds": seconds, "tables": tables, "problems": problems[:5], "problem_count": len(problems)}


@dataclass
class Ours:
    """Our reader's run: read-phase seconds, peak RSS (bytes), rows and sampled rows."""

    seconds: float
    wall: float
    peak_rss: int
    rows: int
    sample: dict[int, tuple[str | None, ...]]


def run_ours(dump: Path, dialect: str, case_dir: Path, count: int, sample: Sequence[int]) -> Ours:
    """Our reader in a child process; its own peak RSS from wait4."""
    if case_dir.exists():
        shutil.rmtree(case_dir)
    command = [sys.executable, str(Path(__file__).resolve()), "--child-read", str(dump), dialect, str(case_dir),
               ",".join(map(str, sample))]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"our reader failed on {dump} (exit {process.returncode})")
    result = json.loads(output.decode().strip().splitlines()[-1])
    if result["problem_count"]:
        raise SystemExit(f"our reader reported {result['problem_count']} problems on {dump}: {result['problems']}")
    if len(result["tables"]) != 1:
        raise SystemExit(f"expected one table, our reader made {[t['name'] for t in result['tables']]}")
    table = result["tables"][0]
    if not table["rows"] == table["parquet_rows"] == count:
        raise SystemExit(f"WRONG RESULT: our reader has {table['rows']:,} rows (Parquet {table['parquet_rows']:,}),"
                         f" the dump holds {count:,}")
    sampled = {int(row[0]): tuple(row) for row in table["sample"]}
    return Ours(result["seconds"], wall, usage.ru_maxrss * 1024, table["rows"], sampled)


# -- the servers -------------------------------------------------------------------------------

@dataclass
class Restored:
    """A server's restore: seconds, COUNT(*) and sampled rows."""

    seconds: float
    rows: int
    sample: dict[int, tuple[str | None, ...]]


def run_server(kind: str, dump: Path, sample: Sequence[int]) -> Restored:
    """Start a private server, restore dump into a fresh database, count and sample it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from dbservers import MariaDBServer, PostgresServer

    ids = ",".join(map(str, sample))
    columns = ", ".join(COLUMN_NAMES)
    if kind == "mariadb":
        if reason := MariaDBServer.missing():
            raise SystemExit(reason)
        # A server sized for the load, as an examiner restoring a dump would set it up (the tests' is tiny).
        with MariaDBServer(options=MARIADB_BENCH_OPTIONS) as mariadb:
            mariadb.fresh_database(DATABASE)
            start = time.perf_counter()
            mariadb.restore(dump, DATABASE)
            seconds = time.perf_counter() - start
            count = mariadb.execute(f"SELECT COUNT(*) FROM `{DATABASE}`.`{TABLE}`")[0][0]
            rows = mariadb.execute(f"SELECT {columns} FROM `{DATABASE}`.`{TABLE}` WHERE id IN ({ids})",
                                   results_charset="utf8mb4")
            decoded: list[tuple[str | None, ...]] = [
                tuple(None if v is None else v.decode() for v in row) for row in rows]
            return Restored(seconds, int(count or 0), {int(r[0] or 0): r for r in decoded})
    if reason := PostgresServer.missing():
        raise SystemExit(reason)
    with PostgresServer() as postgres:
        postgres.fresh_database(DATABASE)
        start = time.perf_counter()
        postgres.restore(dump, DATABASE)
        seconds = time.perf_counter() - start
        count = postgres.execute(f"SELECT count(*) FROM public.{TABLE}", database=DATABASE)[0][0]
        rows_pg = postgres.execute(f"SELECT {columns} FROM public.{TABLE} WHERE id IN ({ids})", database=DATABASE)
        return Restored(seconds, int(count or 0), {int(r[0] or 0): r for r in rows_pg})


# -- main -----------------------------------------------------------------------------------

def check_sample(label: str, rows: Rows, sample: Sequence[int], got: dict[int, tuple[str | None, ...]]) -> None:
    """Each sampled row must be exactly what the generator wrote."""
    for row_id in sample:
        expected = rows.expected(row_id)
        if got.get(row_id) != expected:
            raise SystemExit(f"WRONG RESULT: {label} row {row_id} is {got.get(row_id)!r}, expected {expected!r}")


def bench(label: str, dialect: str, server: str, generated: Generated, work: Path, rows: Rows, count: int,
          sample: Sequence[int], skip_server: bool) -> str:
    """Ours, then the server, on one dump; the summary line."""
    size_mb = generated.size / MB
    print(f"{label}: our reader ...", flush=True)
    ours = run_ours(generated.path, dialect, work / f"case-{dialect}", count, sample)
    check_sample(f"our {label}", rows, sample, ours.sample)
    shutil.rmtree(work / f"case-{dialect}", ignore_errors=True)
    line = (f"{label} {count:,} rows {size_mb:,.0f} MB: forensics {ours.seconds:.1f} s "
            f"({size_mb / ours.seconds:.1f} MB/s, {count / ours.seconds:,.0f} rows/s, "
            f"peak RSS {ours.peak_rss / MB:,.0f} MB)")
    print(f"  {line}  [child wall {ours.wall:.1f} s]", flush=True)
    if skip_server:
        return line
    print(f"{label}: {server} restore ...", flush=True)
    restored = run_server("mariadb" if dialect == "mysql" else "postgres", generated.path, sample)
    if restored.rows != count:
        raise SystemExit(f"WRONG RESULT: {server} holds {restored.rows:,} rows, the dump {count:,}")
    check_sample(f"{server} {label}", rows, sample, restored.sample)
    ratio = restored.seconds / ours.seconds
    target = " (target >= 10x)" if dialect == "mysql" else ""
    line += (f"; {server} restore {restored.seconds:.1f} s ({size_mb / restored.seconds:.1f} MB/s, "
             f"{count / restored.seconds:,.0f} rows/s); ratio {ratio:.2f}x{target}")
    print(f"  rows checked: ours {ours.rows:,} = {server} COUNT(*) {restored.rows:,} = {count:,}; "
          f"{len(sample)} sampled rows identical", flush=True)
    return line


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the table (default 2,000,000)")
    parser.add_argument("--dir", type=Path, help="write the dumps here and keep them (default: a temp folder)")
    parser.add_argument("--skip-postgres", action="store_true", help="mysqldump only")
    parser.add_argument("--skip-server", action="store_true", help="only our reader, no MariaDB/PostgreSQL")
    parser.add_argument("--child-read", nargs=4, metavar=("DUMP", "DIALECT", "CASE", "IDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_read:
        dump, dialect, case_dir, ids = args.child_read
        result = child_read(Path(dump), dialect, Path(case_dir), [int(i) for i in ids.split(",")])
        print(json.dumps(result, ensure_ascii=False))
        return
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    work = args.dir or Path(tempfile.mkdtemp(prefix="forensics-bench-dumps-"))
    work.mkdir(parents=True, exist_ok=True)
    count: int = args.rows
    sample = sorted({1, count, *random.Random(SEED).sample(range(1, count + 1), min(count, 20))})
    try:
        rows = Rows()
        dumps: list[tuple[str, str, str, Callable[[Path, Rows, int], Generated], str]] = [
            ("mysqldump", "mysql", "MariaDB", write_mysql, "dump-mysql.sql")]
        if not args.skip_postgres:
            dumps.append(("pg_dump", "postgres", "PostgreSQL", write_postgres, "dump-postgres.sql"))
        generated = []
        for label, _, _, write, name in dumps:
            made = write(work / name, rows, count)
            print(f"generated {label} {made.path} ({made.size / MB:,.1f} MB) in {made.seconds:.1f} s", flush=True)
            generated.append(made)
        lines = [bench(label, dialect, server, made, work, rows, count, sample, args.skip_server)
                 for (label, dialect, server, _, _), made in zip(dumps, generated, strict=True)]
        print("\n" + "\n".join(lines))
        print("ratio = server restore time / our read time (higher is better); one run each, page cache warm")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
