"""forensics extract and forensics tables: every source in the catalogue read once, on disk or in archives."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import subprocess
import tarfile
import zipfile
from pathlib import Path

import polars as pl
import pytest
from conftest import run, sha256, tree_state, write

from forensics import members, sources
from forensics.case import open_case
from forensics.sources import read_sources

DUMP = (b"-- MySQL dump 10.13\n/*!40101 SET NAMES utf8mb4 */;\n"
        b"CREATE TABLE `users` (`id` int NOT NULL, `login` varchar(50), `email` varchar(100)) ENGINE=InnoDB;\n"
        b"INSERT INTO `users` VALUES (1,'alice','a@example.com'),(2,'bob',NULL);\n"
        b"CREATE TABLE `payments` (`id` int, `user_id` int, `amount` decimal(10,2), `btc_address` varchar(64));\n"
        b"INSERT INTO `payments` VALUES (1,1,'25.00','bc1qexample'),(2,2,'10.50',NULL);\n")


def _sqlite_bytes(tmp: Path) -> bytes:
    path = tmp / "made.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, src TEXT, dst TEXT, seconds INTEGER)")
        db.executemany("INSERT INTO calls VALUES (?,?,?,?)", [(1, "+441234", "+15550001", 42), (2, "100", "200", 0)])
    data = path.read_bytes()
    path.unlink()
    return data


def _evidence(tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/shop.sql.gz", gzip.compress(DUMP))
        archive.writestr("export/README.txt", "nightly export\n")
    write(root / "backups/db.zip", inner.getvalue())
    tarred = io.BytesIO()
    with tarfile.open(fileobj=tarred, mode="w:gz") as archive:
        data = _sqlite_bytes(tmp_path)
        info = tarfile.TarInfo("var/lib/app/cdr.sqlite")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    write(root / "backups/app.tar.gz", tarred.getvalue())
    write(root / "exports/customers.csv", "id,name,phone\n1,Alice,+44 20 7946 0000\n2,Bob,\n")
    write(root / "www/index.php", "<?php echo 'hello'; ?>\n")
    write(root / "logs/access.log", '127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 2326\n' * 20)
    cut = DUMP[:DUMP.index(b"(2,'bob'")]
    write(root / "backups/partial.sql", cut)
    return root


def test_extract_reads_every_source_once_and_tables_lists_them(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path)
    before = tree_state(evidence)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, evidence, "--label", "EXH-1")
    result = run("extract", case, expect=3)  # the truncated dump is a recorded problem
    assert "partial.sql" in result.stderr and "truncated" in result.stderr
    assert "4 sources read" in result.stdout
    assert tree_state(evidence) == before  # nothing in the evidence was touched

    listed = [t for t in json.loads(run("tables", case, "--json").stdout) if t["kind"] == "raw"]
    by_source = {(t["source_path"], t["name"]): t for t in listed}
    users = by_source[("backups/db.zip!export/shop.sql.gz!shop.sql", "users")]
    assert users["rows"] == 2 and users["format"] == "mysql"
    assert users["source_sha256"] == sha256(DUMP)
    assert [c["name"] for c in users["columns"]] == ["id", "login", "email"]
    assert users["columns"][2]["declared_type"] == "varchar(100)"
    frame = pl.read_parquet(case / users["parquet"])
    assert frame.select("id", "login", "email").rows() == [("1", "alice", "a@example.com"), ("2", "bob", None)]
    assert frame["_line"].to_list() == [4, 4]
    calls = by_source[("backups/app.tar.gz!app.tar!var/lib/app/cdr.sqlite", "calls")]
    assert calls["format"] == "sqlite" and calls["rows"] == 2
    assert pl.read_parquet(case / calls["parquet"])["_rowid"].to_list() == [1, 2]
    customers = by_source[("exports/customers.csv", "customers")]
    assert customers["format"] == "csv" and customers["rows"] == 2
    partial = by_source[("backups/partial.sql", "users")]
    assert partial["rows"] == 1
    assert not any("index.php" in t["source_path"] or "access.log" in t["source_path"] for t in listed)

    text = run("tables", case).stdout
    assert "users" in text and "backups/db.zip!export/shop.sql.gz!shop.sql" in text

    entry = json.loads((case / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["command"][:2] == ["forensics", "extract"] and entry["outcome"] == "problems"
    written = {o["path"]: o["sha256"] for o in entry["outputs"]}
    assert users["parquet"] in written and written[users["parquet"]] == sha256((case / users["parquet"]).read_bytes())
    assert {i["sha256"] for i in entry["inputs"]} >= {sha256(DUMP)}

    again = run("extract", case)  # the truncated dump was read to its end (its cut recorded): not again
    assert "0 sources read" in again.stdout and "4 read before" in again.stdout
    run("verify", case)  # raw tables still match what the audit log recorded
    (case / users["parquet"]).write_bytes(b"tampered")
    assert "audit log recorded" in run("verify", case, expect=1).stdout


def _backup_tar(root: Path) -> None:
    """A tar.gz backup of a web root and its database, as seized servers keep them."""
    tarred = io.BytesIO()
    members = {"backup/shop.sql": DUMP, "backup/customers.csv": b"id,name\n1,Alice\n2,Bob\n",
               "html/index.php": b"<?php echo 'hello'; ?>\n", "html/home.html": b"<html><body>hi</body></html>\n",
               "html/notes.txt": b"remember to rotate the logs\n"}
    with tarfile.open(fileobj=tarred, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    write(root / "backups/site.tar.gz", tarred.getvalue())


@pytest.mark.parametrize("one_pass_fails", [False, True])
def test_members_of_a_tar_are_sniffed_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  one_pass_fails: bool) -> None:
    """Reading a streamed tar once for all its members' first bytes; opening each on its own where that fails."""
    evidence = tmp_path / "evidence"
    _backup_tar(evidence)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, evidence)
    opened = []
    real_open = members.open_read_only
    monkeypatch.setattr(members, "open_read_only", lambda path: opened.append(path) or real_open(path))
    if one_pass_fails:
        def broken(*args: object) -> dict[str, bytes]:
            raise OSError("read error")
        monkeypatch.setattr(sources, "judge_tar_members", broken)
    report = read_sources(open_case(case))
    read = sorted(m["path"] for m in report.read)
    assert read == ["backups/site.tar.gz!site.tar!backup/customers.csv", "backups/site.tar.gz!site.tar!backup/shop.sql"]
    assert report.problems == [] and report.looked_at == 5
    # one pass for the five candidates' first bytes, then one opening per source; else one opening per candidate
    assert len(opened) == (5 if one_pass_fails else 3)


def test_same_tar_path_in_two_roots_is_sniffed_per_root(tmp_path: Path) -> None:
    """Two seized servers with a backup at the same path: each tar's members are judged by their own bytes."""
    for server, csv in (("serverA", b"nothing here\n"), ("serverB", b"id,name\n1,Alice\n2,Bob\n")):
        tarred = io.BytesIO()
        with tarfile.open(fileobj=tarred, mode="w:gz") as archive:
            for name, data in (("customers.csv", csv), ("notes.txt", b"to do\n")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        write(tmp_path / server / "backup.tar.gz", tarred.getvalue())
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, tmp_path / "serverA", tmp_path / "serverB")
    report = read_sources(open_case(case))
    assert [(m["root"].rsplit("/", 1)[-1], m["path"]) for m in report.read] == [
        ("serverB", "backup.tar.gz!backup.tar!customers.csv")]


def test_a_changed_source_is_said_so(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    write(evidence / "dump.sql", DUMP)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, evidence)
    (evidence / "dump.sql").chmod(0o644)
    (evidence / "dump.sql").write_bytes(DUMP.replace(b"alice", b"ALICE"))
    result = run("extract", case, expect=3)
    assert "dump.sql" in result.stderr and "differs from the catalogue" in result.stderr
    again = run("extract", case, expect=3)  # a reading that did not complete is done again, and said again
    assert "differs from the catalogue" in again.stderr and "1 sources read" in again.stdout
    assert list((case / "tmp").iterdir()) == []


def test_pg_dump_custom_format(tmp_path: Path, postgres) -> None:  # noqa: ANN001 - fixture
    postgres.fresh_database("custom")
    postgres.restore(b"CREATE TABLE accounts (id int, name text, photo bytea);\n"
                     b"INSERT INTO accounts VALUES (1, 'tab\there', '\\x00ff'), (2, NULL, NULL);\n", "custom")
    dump = tmp_path / "evidence" / "custom.dump"
    dump.parent.mkdir()
    subprocess.run([str(postgres.bindir / "pg_dump"), "-Fc", "-h", str(postgres.folder), "-p", str(postgres.port),
                    "-U", postgres.user, "-f", str(dump), "custom"], check=True)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, dump.parent)
    run("extract", case)
    listed = [t for t in json.loads(run("tables", case, "--json").stdout) if t["kind"] == "raw"]
    assert [(t["name"], t["format"], t["rows"]) for t in listed] == [("public.accounts", "pg-custom", 2)]
    frame = pl.read_parquet(case / listed[0]["parquet"])
    assert frame.select("id", "name", "photo").rows() == [("1", "tab\there", b"\x00\xff"), ("2", None, None)]


def test_compressed_dumps_on_disk_are_read_as_streams_and_give_the_same_tables_twice(tmp_path: Path) -> None:
    import bz2
    import lzma

    import zstandard

    evidence = tmp_path / "evidence"
    packed = {"dump.sql.gz": gzip.compress(DUMP), "dump.sql.bz2": bz2.compress(DUMP + b"-- bz2\n"),
              "dump.sql.xz": lzma.compress(DUMP + b"-- xz\n"),
              "dump.sql.zst": zstandard.ZstdCompressor().compress(DUMP + b"-- zst\n")}
    for name, data in packed.items():
        write(evidence / name, data)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, evidence)
    assert "4 sources read" in run("extract", case).stdout
    listed = [t for t in json.loads(run("tables", case, "--json").stdout) if t["kind"] == "raw"]
    assert sorted({t["source_path"] for t in listed}) == [
        "dump.sql.bz2!dump.sql", "dump.sql.gz!dump.sql", "dump.sql.xz!dump.sql", "dump.sql.zst!dump.sql"]
    assert all(t["rows"] == 2 for t in listed)
    first = {t["parquet"]: sha256((case / t["parquet"]).read_bytes()) for t in listed}
    import shutil

    shutil.rmtree(case / "raw")
    run("extract", case)
    assert {p: sha256((case / p).read_bytes()) for p in first} == first  # the same bytes again
