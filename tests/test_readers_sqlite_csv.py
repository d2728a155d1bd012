"""SQLite and delimited-text readers: every value read back from Parquet exactly as written."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import OneWay

from forensics.case import init_case
from forensics.rawtables import SourceWriter
from forensics.readers.delimited import (
    HEAD_BYTES,
    Dialect,
    WiderThanHeader,
    read_delimited,
    sniff_delimited,
)
from forensics.readers.sqlite import read_sqlite


def writer(tmp_path: Path) -> SourceWriter:
    """A SourceWriter into a fresh case."""
    case = init_case(tmp_path / "case", "REF", "Examiner", "UTC", ["test"])
    return SourceWriter(case, {"path": "source", "sha256": "0" * 64, "size": 0, "format": "test"})


def finish(out: SourceWriter) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """Finish the source; its manifest and each table read back from Parquet."""
    manifest = out.finish()
    frames = {t["name"]: pl.read_parquet(out.case.path / t["parquet"]) for t in manifest["tables"]}
    return manifest, frames


def table_info(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in manifest["tables"] if t["name"] == name)


def file_state(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns


# ---------------------------------------------------------------- SQLite


def make_db(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def test_sqlite_values_kept_exactly(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "app.db",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, b BLOB, mixed)",
        "INSERT INTO people VALUES (1, 42, 1.5, 'héllo', x'00ff', 1)",
        "INSERT INTO people VALUES (2, NULL, -0.25, '', x'', 'one')",
        "INSERT INTO people VALUES (3, 7, 0, 'gone', NULL, NULL)",
        "INSERT INTO people VALUES (5, -9223372036854775808, NULL, NULL, NULL, 2.5)",
        "DELETE FROM people WHERE id = 3",
        "CREATE TABLE raw (t TEXT)",
        "INSERT INTO raw VALUES (CAST(x'ff41' AS TEXT))",
        "INSERT INTO raw VALUES ('ok')",
        "INSERT INTO raw VALUES ('')",
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID",
        "INSERT INTO kv VALUES ('b', 2)",
        "INSERT INTO kv VALUES ('a', x'01')",
        "CREATE TABLE calc (x INTEGER, y INTEGER GENERATED ALWAYS AS (x * 2) STORED)",
        "INSERT INTO calc (x) VALUES (21)",
        "CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)",
        "INSERT INTO seq (v) VALUES ('x')",
    )
    before = file_state(db)
    out = writer(tmp_path)
    read_sqlite(db, out)
    manifest, frames = finish(out)

    assert file_state(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "app.db",
        "case",
    ]  # no -wal, -shm or -journal made
    assert list(frames) == ["people", "raw", "kv", "calc", "seq"]

    people = frames["people"]
    assert people.columns == ["id", "n", "r", "s", "b", "mixed", "_rowid"]
    assert people["_rowid"].to_list() == [1, 2, 5]
    assert people["id"].to_list() == [1, 2, 5]
    assert people.schema["n"] == pl.Int64 and people["n"].to_list() == [42, None, -(2**63)]
    assert people.schema["r"] == pl.Float64 and people["r"].to_list() == [1.5, -0.25, None]
    assert people.schema["s"] == pl.String and people["s"].to_list() == ["héllo", "", None]
    assert people.schema["b"] == pl.Binary and people["b"].to_list() == [b"\x00\xff", b"", None]
    assert people["mixed"].to_list() == ["1", "one", "2.5"]
    info = table_info(manifest, "people")
    assert [(c["name"], c["declared_type"]) for c in info["columns"]][:2] == [
        ("id", "INTEGER"),
        ("n", "INTEGER"),
    ]
    assert info["columns"][5]["declared_type"] is None
    assert any("'mixed' holds integer, real, text" in note for note in info["notes"])

    raw = frames["raw"]
    assert raw.schema["t"] == pl.Binary
    assert raw["t"].to_list() == [b"\xffA", b"ok", b""]
    assert any(
        "1 text values are not valid UTF-8" in note for note in table_info(manifest, "raw")["notes"]
    )

    kv = frames["kv"]
    assert kv.columns == ["k", "v"]  # no locator: rows are located by their primary key
    assert kv["k"].to_list() == ["a", "b"]
    assert kv["v"].to_list() == [b"\x01", b"2"]
    assert table_info(manifest, "kv")["locator"] == []
    assert any("primary key" in note for note in table_info(manifest, "kv")["notes"])

    assert frames["calc"]["y"].to_list() == [42]
    assert any(
        "'y' is generated (STORED)" in note for note in table_info(manifest, "calc")["notes"]
    )

    assert [(p["where"], p["skipped"]) for p in manifest["problems"]] == [("sqlite_sequence", True)]


def test_sqlite_unreadable_virtual_table_is_a_problem(tmp_path: Path) -> None:
    db = make_db(tmp_path / "v.db", "CREATE TABLE a (x)", "INSERT INTO a VALUES (1)")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "INSERT INTO sqlite_master VALUES ('table', 'v', 'v', 0, "
        "'CREATE VIRTUAL TABLE v USING nosuchmodule(a, b)')"
    )
    conn.commit()
    conn.close()
    make_db(tmp_path / "v.db", "CREATE TABLE c (y)", "INSERT INTO c VALUES ('after')")
    out = writer(tmp_path)
    read_sqlite(db, out)
    manifest, frames = finish(out)
    assert frames["a"]["x"].to_list() == [1]
    assert frames["c"]["y"].to_list() == ["after"]
    assert "v" not in frames
    [problem] = manifest["problems"]
    assert (
        problem["where"] == "v" and "nosuchmodule" in problem["message"] and not problem["skipped"]
    )


def test_sqlite_wal_frames_not_read_and_recorded(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    conn = sqlite3.connect(live / "w.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES ('in the file')")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("INSERT INTO t VALUES ('only in the wal')")
    conn.commit()
    seized = tmp_path / "seized"
    seized.mkdir()
    shutil.copy2(live / "w.db", seized / "w.db")  # copied while open: the WAL is not checkpointed
    shutil.copy2(live / "w.db-wal", seized / "w.db-wal")
    conn.close()
    before = {p.name: file_state(p) for p in seized.iterdir()}
    assert before["w.db-wal"][1] > 0

    out = writer(tmp_path)
    read_sqlite(seized / "w.db", out)
    manifest, frames = finish(out)
    assert frames["t"]["v"].to_list() == ["in the file"]
    assert frames["t"]["_rowid"].to_list() == [1]
    [problem] = manifest["problems"]
    assert problem["where"] == "w.db-wal" and "not read" in problem["message"]
    assert {
        p.name: file_state(p) for p in seized.iterdir()
    } == before  # no -shm made, nothing changed


def test_sqlite_damaged_file_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA page_size = 1024")
    conn.execute("CREATE TABLE small (v INTEGER)")
    conn.execute("INSERT INTO small VALUES (1), (2)")
    conn.execute("CREATE TABLE big (v TEXT)")
    conn.executemany("INSERT INTO big VALUES (?)", [("x" * 200,) for _ in range(500)])
    conn.execute("CREATE TABLE later (v TEXT)")
    conn.execute("INSERT INTO later VALUES ('still read')")
    conn.commit()
    conn.close()
    data = bytearray(db.read_bytes())
    root = (
        sqlite3.connect(db)
        .execute("SELECT rootpage FROM sqlite_master WHERE name = 'big'")
        .fetchone()[0]
    )
    data[(root - 1) * 1024 : root * 1024] = b"\xa5" * 1024  # big's root page is garbage
    db.write_bytes(bytes(data))
    before = file_state(db)

    out = writer(tmp_path)
    read_sqlite(db, out)
    manifest, frames = finish(out)
    assert frames["small"]["v"].to_list() == [1, 2]
    assert frames["later"]["v"].to_list() == ["still read"]
    problems = [p for p in manifest["problems"] if p["where"] == "big"]
    assert problems and "malformed" in problems[0]["message"]
    assert file_state(db) == before

    truncated = tmp_path / "t.db"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    out = writer(tmp_path / "second")
    read_sqlite(truncated, out)
    manifest, frames = finish(out)
    assert frames["small"]["v"].to_list() == [1, 2]  # what survives the cut is still read
    wheres = [p["where"] for p in manifest["problems"]]
    assert wheres[0] == "t.db" and "writable_schema" in manifest["problems"][0]["message"]
    assert "big" in wheres and "later" in wheres

    garbage = tmp_path / "g.db"
    garbage.write_bytes(b"this is not a database" * 100)
    out = writer(tmp_path / "third")
    read_sqlite(garbage, out)
    manifest, frames = finish(out)
    assert frames == {}
    assert manifest["problems"][0]["where"] == "g.db"
    assert "not a database" in manifest["problems"][0]["message"]


def test_sqlite_path_needing_quoting(tmp_path: Path) -> None:
    folder = tmp_path / "odd ?#% name"
    folder.mkdir()
    db = make_db(
        folder / "a b#c.db",
        'CREATE TABLE "odd ""name""" ("a col" TEXT, "rowid" INTEGER)',
        'INSERT INTO "odd ""name""" VALUES (\'ok\', 7)',
    )
    out = writer(tmp_path)
    read_sqlite(db, out)
    _, frames = finish(out)
    assert frames['odd "name"'].rows() == [("ok", 7, 1)]  # a column named rowid: read via _rowid_


# ---------------------------------------------------------------- delimited text


def read_csv_bytes(
    tmp_path: Path, name: str, data: bytes
) -> tuple[Dialect, dict[str, Any], pl.DataFrame]:
    """Sniff and read a file; its dialect, manifest and the one table."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_bytes(data)
    dialect = sniff_delimited(data[:HEAD_BYTES], name)
    assert dialect is not None, f"{name} not recognised as a table"
    out = writer(tmp_path)
    with path.open("rb") as stream:
        read_delimited(stream, name, dialect, out)
        assert not stream.closed
    manifest, frames = finish(out)
    [frame] = frames.values()
    return dialect, manifest, frame


def test_csv_comma_with_header(tmp_path: Path) -> None:
    data = b'id,name,amount\r\n1,Alice,1.50\r\n2,,\r\n3,"Smith, J",-2\r\n'
    dialect, manifest, frame = read_csv_bytes(tmp_path, "payments.csv", data)
    assert dialect == Dialect("utf-8", ",", '"', True, None, "csv")
    assert manifest["tables"][0]["name"] == "payments"
    assert frame.columns == ["id", "name", "amount", "_line"]
    assert frame["id"].to_list() == ["1", "2", "3"]
    assert frame["name"].to_list() == ["Alice", "", "Smith, J"]
    assert frame["amount"].to_list() == ["1.50", "", "-2"]
    assert frame["_line"].to_list() == [2, 3, 4]
    assert manifest["problems"] == []


def test_csv_semicolon_tab_and_quoted_newlines(tmp_path: Path) -> None:
    dialect, _, frame = read_csv_bytes(
        tmp_path / "a", "prices.csv", "Name;Preis\nÄpfel;1,50\nBirnen;2,00\n".encode()
    )
    assert (dialect.delimiter, dialect.has_header, dialect.kind) == (";", True, "csv")
    assert frame["Preis"].to_list() == ["1,50", "2,00"]
    tie = sniff_delimited(b"x;1,5\ny;2,5\n", "decimal-commas")  # both split it in two: ';' wins
    assert tie is not None and tie.delimiter == ";"

    dialect, _, frame = read_csv_bytes(tmp_path / "b", "x.tsv", b'a\tb\n1\t"2\n3\tfour\n')
    assert (dialect.delimiter, dialect.quotechar, dialect.kind) == ("\t", None, "tsv")
    assert frame["b"].to_list() == ['"2', "four"]

    data = b'id,text\n1,"line one\nline two"\n2,"say ""hi"""\n3,x\n'
    _, _, frame = read_csv_bytes(tmp_path / "c", "notes.csv", data)
    assert frame["text"].to_list() == ["line one\nline two", 'say "hi"', "x"]
    assert frame["_line"].to_list() == [2, 4, 5]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_csv_utf16_with_bom(tmp_path: Path, codec: str) -> None:
    data = "\ufeffid,name\n1,Zoë\n2,€ 5\n".encode(codec)
    dialect, _, frame = read_csv_bytes(tmp_path, "u.csv", data)
    assert (dialect.encoding, dialect.has_header) == (codec, True)
    assert frame.columns == ["id", "name", "_line"]
    assert frame["name"].to_list() == ["Zoë", "€ 5"]

    lone = (
        "\ufeffid,name\n1,ok\n2,".encode(codec)
        + "\ud800".encode(codec, "surrogatepass")
        + "x\n".encode(codec)
    )
    dialect, _, frame = read_csv_bytes(tmp_path / "lone", "u.csv", lone)
    assert dialect.encoding == codec
    assert frame["name"].to_list() == [
        b"ok",
        "\ud800".encode(codec, "surrogatepass") + "x".encode(codec),
    ]


def test_csv_cp1252(tmp_path: Path) -> None:
    data = "id;name\n1;café\n2;5 €\n".encode("cp1252") + b"3;\x81\n"
    dialect, _, frame = read_csv_bytes(tmp_path, "latin.csv", data)
    assert dialect.encoding == "cp1252"
    assert frame["name"].to_list() == [
        "café",
        "5 €",
        "\x81",
    ]  # unassigned byte passed through as MySQL does


def test_csv_undecodable_bytes_kept_exactly(tmp_path: Path) -> None:
    data = "id,name\n1,é\n2,ü\n".encode() + b"3,ab\xffc\n"
    dialect, manifest, frame = read_csv_bytes(tmp_path / "a", "bad.csv", data)
    assert dialect.encoding == "utf-8"
    assert frame.schema["name"] == pl.Binary
    assert frame["name"].to_list() == ["é".encode(), "ü".encode(), b"ab\xffc"]
    assert frame["id"].to_list() == ["1", "2", "3"]
    assert any("not utf-8" in note for note in manifest["tables"][0]["notes"])

    filler = b"".join(b"%d,%s\n" % (i, b"v" * 50) for i in range(2000))  # past the sniffed head
    data = b"id,name\n" + filler + b"2000,\xc3(\xfe\n"
    dialect, _, frame = read_csv_bytes(tmp_path / "b", "late.csv", data)
    assert len(data) > HEAD_BYTES and dialect.encoding == "utf-8"
    assert frame["name"][-1] == b"\xc3(\xfe" and frame["name"][0] == b"v" * 50
    assert frame["_line"][-1] == 2002


def test_csv_header_rules(tmp_path: Path) -> None:
    dialect, _, frame = read_csv_bytes(
        tmp_path / "a", "calls.csv", b"1,2024-01-01,foo\n2,2024-01-02,bar\n"
    )
    assert not dialect.has_header
    assert frame.columns == ["column_1", "column_2", "column_3", "_line"]
    assert frame["column_3"].to_list() == ["foo", "bar"]
    assert frame["_line"].to_list() == [1, 2]

    dialect, _, frame = read_csv_bytes(tmp_path / "b", "cities.csv", b"alice,paris\nbob,london\n")
    assert not dialect.has_header  # no evidence: the first row stays data
    assert frame["column_1"].to_list() == ["alice", "bob"]

    dialect, _, frame = read_csv_bytes(
        tmp_path / "c", "mail.csv", b"name,email\nAl,al@x.org\nBo,bo@y.org\n"
    )
    assert dialect.has_header and frame.columns == ["name", "email", "_line"]

    dialect, manifest, frame = read_csv_bytes(
        tmp_path / "d", "dup.csv", b"id,name,name,,_line\n1,a,b,c,d\n"
    )
    assert dialect.has_header
    assert frame.columns == ["id", "name", "name_2", "column_4", "_line_2", "_line"]
    assert frame.row(0) == ("1", "a", "b", "c", "d", 2)
    assert any("made unique" in note for note in manifest["tables"][0]["notes"])


def test_csv_ragged_rows_keep_every_value(tmp_path: Path) -> None:
    data = b"id,name\n1,a\n2,b,EXTRA,MORE\n3\n\n4,\n"
    _, manifest, frame = read_csv_bytes(tmp_path, "ragged.csv", data)
    assert frame.columns == ["id", "name", "extra_1", "extra_2", "_line"]
    assert frame["id"].to_list() == ["1", "2", "3", "4"]
    assert frame["name"].to_list() == ["a", "b", None, ""]  # missing field null, empty field ''
    assert frame["extra_1"].to_list() == [None, "EXTRA", None, None]
    assert frame["extra_2"].to_list() == [None, "MORE", None, None]
    assert frame["_line"].to_list() == [2, 3, 4, 6]
    messages = [p["message"] for p in manifest["problems"]]
    assert messages[0].startswith("line 3: 4 fields where the header has 2")
    assert messages[1].startswith("line 4: 1 fields where the header has 2")
    assert len(messages) == 2
    assert any("1 blank lines" in note for note in manifest["tables"][0]["notes"])


def test_csv_nul_bytes_recorded_and_kept(tmp_path: Path) -> None:
    data = b"id,name,amount\n1,a\x00b,5\n2,c,6\n"
    _, manifest, frame = read_csv_bytes(tmp_path, "nul.csv", data)
    assert frame["name"].to_list() == ["a\x00b", "c"]
    [problem] = manifest["problems"]
    assert problem["where"] == "nul.csv" and problem["message"].startswith("line 2: NUL")


def test_asterisk_master_csv(tmp_path: Path) -> None:
    lines = [
        b'"","1001","1002","from-internal","""Alice"" <1001>",'
        b'"SIP/1001-00000001","SIP/1002-00000002","Dial","SIP/1002,30,tr",'
        b'"2024-03-01 10:00:00","2024-03-01 10:00:05","2024-03-01 10:01:05",65,60,'
        b'"ANSWERED","DOCUMENTATION","1709287200.1",""',
        b'"","1002","1001","from-internal","""Bob"" <1002>",'
        b'"SIP/1002-00000003","SIP/1001-00000004",'
        b'"Dial","SIP/1001,30","2024-03-01 11:00:00",,"2024-03-01 11:00:30",30,0,'
        b'"NO ANSWER","DOCUMENTATION","1709290800.2",""',
        b'"acc","1003","0044123","outbound","""Carol"" <1003>","SIP/1003-00000005","",'
        b'"Hangup","","2024-03-01 12:00:00",,"2024-03-01 12:00:01",1,0,'
        b'"FAILED","BILLING","1709294400.3","note"',
    ]
    dialect, manifest, frame = read_csv_bytes(tmp_path, "Master.csv", b"\n".join(lines) + b"\n")
    assert dialect.kind == "asterisk-master-csv" and not dialect.has_header
    assert frame.columns[:-1] == [
        "accountcode",
        "src",
        "dst",
        "dcontext",
        "clid",
        "channel",
        "dstchannel",
        "lastapp",
        "lastdata",
        "start",
        "answer",
        "end",
        "duration",
        "billsec",
        "disposition",
        "amaflags",
        "uniqueid",
        "userfield",
    ]
    assert manifest["tables"][0]["name"] == "Master"
    assert frame["clid"].to_list() == ['"Alice" <1001>', '"Bob" <1002>', '"Carol" <1003>']
    assert frame["lastdata"].to_list() == ["SIP/1002,30,tr", "SIP/1001,30", ""]
    assert frame["answer"].to_list() == ["2024-03-01 10:00:05", "", ""]
    assert frame["duration"].to_list() == ["65", "30", "1"]
    assert frame["userfield"].to_list() == ["", "", "note"]
    assert frame["_line"].to_list() == [1, 2, 3]
    assert manifest["problems"] == []

    short = (
        b"\n".join(line.rsplit(b",", 2)[0] for line in lines) + b"\n"
    )  # 16 fields: no uniqueid, userfield
    dialect = sniff_delimited(short, "Master.csv")
    assert (
        dialect is not None and dialect.column_names is not None and len(dialect.column_names) == 16
    )


APACHE_LOG = b"".join(
    b'192.168.1.%d - - [10/Oct/2023:13:55:%02d +0000] "GET /index.php?id=%d HTTP/1.1" 200 2326 '
    b'"http://example.com/start.html" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
    b'(KHTML, like Gecko) Chrome/118.0 Safari/537.36"\n' % (i, i, i)
    for i in range(40)
)
PYTHON_SOURCE = b'''"""A module."""

import os, sys


def main(argv: list[str], verbose: bool = False) -> int:
    for name in argv:
        print(name, os.path.getsize(name), sep=", ")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], verbose=True))
'''
PROSE = (
    b"It was a bright cold day in April, and the clocks were striking thirteen.\n"
    b"Winston Smith, his chin nuzzled into his breast, slipped quickly through the doors.\n"
    b"The hallway smelt of boiled cabbage and old rag mats.\n"
)
SYSLOG = b"".join(
    b"Mar  1 10:00:%02d host sshd[42]: Accepted password for root from 10.0.0.%d port 22, ssh2\n"
    % (i, i)
    for i in range(20)
)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (APACHE_LOG, "access.log"),
        (APACHE_LOG, "access.csv"),
        (PYTHON_SOURCE, "tool.py"),
        (PROSE, "notes.txt"),
        (SYSLOG, "auth.log"),
        (bytes(range(256)) * 50, "blob.csv"),
        (b"", "empty.csv"),
    ],
)
def test_not_delimited_rejected(data: bytes, name: str) -> None:
    assert sniff_delimited(data, name) is None


def test_csv_unseekable_stream(tmp_path: Path) -> None:
    data = b"id,v\n1,a\n2,b,c\n"
    dialect = sniff_delimited(data, "s.csv")
    assert dialect is not None
    out = writer(tmp_path)
    with pytest.raises(WiderThanHeader):  # one pass cannot know the extra column: the caller reads it again
        read_delimited(io.BufferedReader(OneWay(data)), "dir/s.csv", dialect, out)
    assert out.tables == {} and out.problems == []  # what the first pass wrote is rolled back
    read_delimited(io.BufferedReader(OneWay(data)), "dir/s.csv", dialect, out, single_pass=False)
    _, frames = finish(out)
    assert frames["s"]["extra_1"].to_list() == [None, "c"]
    assert os.listdir(out.case.tmp_dir) == []
