"""Real third-party dumps (../shared/data) read by our readers and compared with real servers.

Every table the server holds after restoring a dump must hold the same rows as our raw
table, or the difference must be one of the documented reasons (docs/raw-tables.md):
a table filled by a trigger rather than by the dump (Sakila's film_text), and MySQL-5.7
executable comments that MariaDB ignores (Sakila's address.location).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import need_shared_data
from dumpcheck import compare_mysql, compare_postgres, read_dump

from forensics.case import init_case
from forensics.rawtables import SourceWriter
from forensics.readers.sqlite import read_sqlite


@pytest.fixture(scope="module")
def shared() -> Path:
    return need_shared_data()


def test_sakila_matches_mariadb(tmp_path: Path, shared: Path, mariadb) -> None:  # noqa: ANN001 - fixture
    schema = shared / "mysqldump-sakila/sakila-schema.sql"
    data = shared / "mysqldump-sakila/sakila-data.sql"
    mariadb.drop_database("sakila")
    mariadb.restore([schema, data])
    read = read_dump(tmp_path, data.read_bytes(), "mysql")
    assert read.problems == []
    server_tables = set(mariadb.tables("sakila"))
    ours = {name.split(".", 1)[1] for name in read.tables}
    # film_text is filled by the schema's ins_film trigger, not by rows in the dump
    assert server_tables - ours == {"film_text"}
    assert ours <= server_tables
    for table in sorted(ours - {"address"}):
        assert compare_mysql(mariadb, "sakila", read, table) == [], table


def test_sakila_address_keeps_the_mysql_57_geometry(tmp_path: Path, shared: Path) -> None:
    # The dump writes location as /*!50705 0x...,*/: MySQL 5.7.5+ (which wrote it) reads it;
    # we do too. (MariaDB skips comments for MySQL 5.7 versions.)
    data = shared / "mysqldump-sakila/sakila-data.sql"
    read = read_dump(tmp_path, data.read_bytes(), "mysql")
    rows = read.rows("sakila.address")
    assert len(rows) == 603 and all(len(row) == 9 for row in rows)
    assert rows[0][7] == bytes.fromhex("0000000001010000003E0A325D63345CC0761FDB8D99D94840")


@pytest.mark.parametrize(("folder", "file", "database"), [
    ("mysqldump-world", "world.sql", "world"),
])
def test_mysqldump_matches_mariadb(tmp_path: Path, shared: Path, mariadb, folder: str, file: str,  # noqa: ANN001
                                   database: str) -> None:
    path = shared / folder / file
    mariadb.drop_database(database)
    mariadb.restore(path)
    read = read_dump(tmp_path, path.read_bytes(), "mysql")
    assert read.problems == []
    assert {f"{database}.{t}" for t in mariadb.tables(database)} == set(read.tables)
    for table in mariadb.tables(database):
        assert compare_mysql(mariadb, database, read, table) == [], table


def test_magnusbilling_matches_mariadb(tmp_path: Path, shared: Path, mariadb) -> None:  # noqa: ANN001 - fixture
    path = shared / "mysqldump-magnusbilling/database.sql"
    mariadb.fresh_database("mbilling")
    mariadb.restore(path, "mbilling")
    read = read_dump(tmp_path, path.read_bytes(), "mysql")
    assert read.problems == []
    server_tables = mariadb.tables("mbilling")
    assert len(server_tables) >= 90
    for table in server_tables:
        if table not in read.tables:  # a table the dump creates but fills with no row
            assert mariadb.rows("mbilling", table) == [], table
            continue
        assert compare_mysql(mariadb, "mbilling", read, table, table) == [], table
        assert [c["declared_type"] for c in read.info[table]["columns"]] != []


def test_pagila_matches_postgresql(tmp_path: Path, shared: Path, postgres) -> None:  # noqa: ANN001 - fixture
    schema = shared / "pgdump-pagila/pagila-schema.sql"
    data = shared / "pgdump-pagila/pagila-data.sql"
    postgres.fresh_database("pagila")
    postgres.restore([schema, data], "pagila")
    read = read_dump(tmp_path, data.read_bytes(), "postgres")
    assert read.problems == []
    compared = 0
    for table in postgres.tables("pagila"):
        if table not in read.tables:  # partitioned parents hold their rows in the partitions
            continue
        assert compare_postgres(postgres, "pagila", read, table) == [], table
        compared += 1
    assert compared >= 20


def test_chinook_matches_sqlite(tmp_path: Path, shared: Path) -> None:
    path = shared / "sqlite-chinook/Chinook_Sqlite.sqlite"
    before = (path.stat().st_mtime_ns, path.read_bytes())
    case = init_case(tmp_path / "case", "REF", "Examiner", "UTC", ["test"])
    writer = SourceWriter(case, {"path": path.name, "sha256": "c" * 64, "format": "sqlite"})
    read_sqlite(path, writer)
    manifest = writer.finish()
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    import polars as pl

    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as oracle:
        for table in manifest["tables"]:
            ours = pl.read_parquet(case.path / table["parquet"])
            names = ", ".join(f'"{c["name"]}"' for c in table["columns"])
            expected = oracle.execute(f'SELECT rowid, {names} FROM "{table["name"]}" ORDER BY rowid').fetchall()
            got = list(ours.select("_rowid", *[c["name"] for c in table["columns"]]).iter_rows())
            assert got == expected, table["name"]
    assert len(manifest["tables"]) == 11


def test_magnusbilling_plugin_on_the_real_schema_dump(tmp_path: Path, shared: Path) -> None:
    from conftest import run

    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", "--timezone", "America/Sao_Paulo")
    run("ingest", case, shared / "mysqldump-magnusbilling")
    run("extract", case, "--only", "magnusbilling")
    import polars as pl

    accounts = pl.read_parquet(case / "tables" / "accounts.parquet")
    assert accounts.height == 1  # the dump holds the platform's schema and its one admin user
    row = accounts.row(0, named=True)
    assert row["username"] == "root" and row["account_id"] == "1"
    assert row["_extractor"] == "magnusbilling@1.0" and row["_source_table"] == "pkg_user"
    assert row["_source_locator"].startswith("line ")
