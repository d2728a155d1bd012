"""The SQL dump reader: MySQL/MariaDB and PostgreSQL quirks, bad input, and real servers as the oracle."""

from __future__ import annotations

from pathlib import Path

import pytest
from dumpcheck import compare_mysql, compare_postgres, read_dump

MYSQL_QUIRKS = rb'''-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
# a hash comment; with a semicolon
/* a block
   comment; with a semicolon */
CREATE DATABASE IF NOT EXISTS `shop` DEFAULT CHARACTER SET utf8mb4;
USE `shop`;
DROP TABLE IF EXISTS `users`;
CREATE TABLE `users` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(100) DEFAULT NULL COMMENT 'the name, (with parentheses)',
  `note` text,
  `balance` decimal(10,2) DEFAULT NULL,
  `avatar` blob,
  `flags` bit(8) DEFAULT NULL,
  `created` datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='users; with a semicolon';
LOCK TABLES `users` WRITE;
/*!40000 ALTER TABLE `users` DISABLE KEYS */;
INSERT INTO `users` VALUES (1,'O\'Brien','line1\nline2\ttab \\ backslash \0 nul \Z ctrlz \b bs \r cr \" dq',12.50,0x00FF10,b'101','2024-01-02 03:04:05'),(2,'it''s',"double \"quoted\" and ""doubled""",-0.5,X'CAFE',b'0','2024-02-29 23:59:59'),
(3,NULL,'',0,NULL,NULL,NULL),( 4 , '100\% \_under' , 'UNICODE' , 1e3 , _binary 'raw' , 1 , '2000-01-01 00:00:00' );
/*!40000 ALTER TABLE `users` ENABLE KEYS */;
UNLOCK TABLES;
INSERT IGNORE INTO `users` (`id`, `name`) VALUES (5, 'partial');
REPLACE INTO users VALUES (6,_utf8mb4'intro',/* inline comment */ 'x',1.00,NULL,NULL,NULL);
INSERT INTO `users` VALUES (7,'semi;colon -- not a comment','/* not a comment */ # nor this',2,'',/*!40101 NULL,*/ '2001-01-01 00:00:00');
DELIMITER ;;
CREATE PROCEDURE `p`() BEGIN SELECT 1; SELECT 2; END ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t1` BEFORE INSERT ON `users` FOR EACH ROW SET NEW.note = NEW.note */;;
DELIMITER ;
CREATE DATABASE `other`;
USE `other`;
CREATE TABLE `t` (`a` int, `b` varchar(10)) DEFAULT CHARSET=latin1;
INSERT INTO `t` VALUES (1,'x'),(2,'y');
'''.replace(b"UNICODE", "Ünïcödé ✓ 🚀".encode())


def test_mysql_quirks_values(tmp_path: Path) -> None:
    read = read_dump(tmp_path, MYSQL_QUIRKS, "mysql")
    assert set(read.tables) == {"shop.users", "other.t"}
    assert read.problems == []
    users = read.rows("shop.users")
    assert [r[0] for r in users] == ["1", "2", "3", "4", "5", "6", "7"]
    assert users[0][1:] == ("O'Brien", 'line1\nline2\ttab \\ backslash \x00 nul \x1a ctrlz \x08 bs \r cr " dq',
                            "12.50", b"\x00\xff\x10", b"\x05", "2024-01-02 03:04:05")
    assert users[1][1:4] == ("it's", 'double "quoted" and "doubled"', "-0.5")
    assert users[1][4] == b"\xca\xfe" and users[1][5] == b"\x00"
    assert users[2][1:] == (None, "", "0", None, None, None)  # NULL stays null, '' stays ''
    assert users[3][1:] == ("100\\% \\_under", "Ünïcödé ✓ 🚀", "1e3", b"raw", b"1", "2000-01-01 00:00:00")
    assert users[4] == ("5", "partial", None, None, None, None, None)
    assert users[5][1:3] == ("intro", "x")
    assert users[6][1:3] == ("semi;colon -- not a comment", "/* not a comment */ # nor this")
    assert users[6][5:] == (None, "2001-01-01 00:00:00")  # an executable comment inside the row is executed
    info = read.info["shop.users"]
    assert [(c["name"], c["declared_type"], c["stored_as"]) for c in info["columns"]] == [
        ("id", "int(11)", "String"), ("name", "varchar(100)", "String"), ("note", "text", "String"),
        ("balance", "decimal(10,2)", "String"), ("avatar", "blob", "Binary"), ("flags", "bit(8)", "Binary"),
        ("created", "datetime", "String")]
    assert any("column list" in note for note in info["notes"])  # the INSERT that left columns out
    assert any("procedure skipped" in s for s in read.skipped) and any("trigger skipped" in s for s in read.skipped)
    assert read.rows("other.t") == [("1", "x"), ("2", "y")]


def test_mysql_locators_point_at_each_row(tmp_path: Path) -> None:
    read = read_dump(tmp_path, MYSQL_QUIRKS, "mysql")
    frame = read.tables["shop.users"]
    lines = MYSQL_QUIRKS.split(b"\n")
    for row_id, line, offset in frame.select("id", "_line", "_offset").iter_rows():
        assert MYSQL_QUIRKS[offset:offset + 1] == b"("
        assert MYSQL_QUIRKS[offset + 1:].lstrip().startswith(row_id.encode() + b",") or \
            MYSQL_QUIRKS[offset + 1:].lstrip().startswith(row_id.encode() + b" ")
        assert MYSQL_QUIRKS.count(b"\n", 0, offset) + 1 == line
        assert row_id.encode() in lines[line - 1]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 333, 4096])
def test_mysql_window_boundaries_change_nothing(tmp_path: Path, chunk: int, compiled: bool) -> None:
    whole = read_dump(tmp_path, MYSQL_QUIRKS, "mysql", name="whole", compiled=False)
    pieces = read_dump(tmp_path, MYSQL_QUIRKS, "mysql", chunk=chunk, name="pieces", compiled=compiled)
    assert pieces.problems == whole.problems
    for name, frame in whole.tables.items():
        assert pieces.tables[name].equals(frame), name


def test_latin1_dump_is_decoded_as_latin1_and_bad_utf8_kept_as_bytes(tmp_path: Path) -> None:
    latin1 = (b"SET NAMES latin1;\nCREATE TABLE t (a varchar(10)) DEFAULT CHARSET=latin1;\n"
              b"INSERT INTO t VALUES ('caf\xe9'),('\x80uro'),('\x81');\n")
    read = read_dump(tmp_path, latin1, "mysql", name="latin1")
    assert read.rows("t") == [("café",), ("€uro",), ("\x81",)]  # MySQL's latin1 is cp1252
    broken = b"SET NAMES utf8mb4;\nCREATE TABLE t (a varchar(10), b int);\nINSERT INTO t VALUES ('ok',1),('\xff\xfe',2);\n"
    read = read_dump(tmp_path, broken, "mysql", name="broken")
    assert read.rows("t") == [(b"ok", "1"), (b"\xff\xfe", "2")]  # the column keeps exact bytes
    assert read.info["t"]["columns"][0]["stored_as"] == "Binary"


def test_truncated_dump_keeps_rows_before_the_cut(tmp_path: Path) -> None:
    rows = ",".join(f"({i},'name {i}')" for i in range(1, 1001))
    dump = f"CREATE TABLE t (id int, name varchar(20));\nINSERT INTO t VALUES {rows};\n".encode()
    cut = dump.index(b"(501,") + 5
    read = read_dump(tmp_path, dump[:cut], "mysql")
    assert len(read.rows("t")) == 500
    assert len(read.problems) == 1 and "truncated" in read.problems[0]
    assert f"offset {dump.index(b'(501,')}" in read.problems[0] and "line 2" in read.problems[0]


def test_malformed_and_unhandled_statements_are_recorded_and_reading_goes_on(tmp_path: Path) -> None:
    dump = (b"CREATE TABLE t (id int, name varchar(20));\n"
            b"INSERT INTO t VALUES (1,'a'),(2,'b' 'c' oops),(3,'c');\n"
            b"INSERT INTO t VALUES (4,'d');\n"
            b"UPDATE t SET name = 'z' WHERE id = 1;\n"
            b"INSERT INTO t SELECT * FROM t;\n"
            b"FROBNICATE everything;\n"
            b"INSERT INTO t VALUES (5,'e');\n")
    read = read_dump(tmp_path, dump, "mysql")
    assert read.rows("t") == [("1", "a"), ("4", "d"), ("5", "e")]
    assert len(read.problems) == 4
    assert "line 2" in read.problems[0] and "malformed row" in read.problems[0]
    assert "line 4" in read.problems[1] and "not applied" in read.problems[1]
    assert "line 5" in read.problems[2] and "INSERT form not read" in read.problems[2]
    assert "line 6" in read.problems[3] and "not understood" in read.problems[3]


def test_single_line_insert_larger_than_the_window(tmp_path: Path) -> None:
    big = "x" * 50_000
    rows = ",".join(f"({i},'{big}\\'{i}')" for i in range(40))
    dump = f"CREATE TABLE t (id int, body longtext);\nINSERT INTO t VALUES {rows};\n".encode()
    read = read_dump(tmp_path, dump, "mysql", chunk=4096)
    assert read.rows("t") == [(str(i), f"{big}'{i}") for i in range(40)]


POSTGRES_QUIRKS = rb"""--
-- PostgreSQL database dump
--
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.seen = now(); -- a semicolon inside a dollar-quoted body
    RETURN NEW;
END
$$;

CREATE TABLE public.accounts (
    id integer NOT NULL,
    name text,
    photo bytea,
    balance numeric(10,2),
    active boolean,
    seen timestamp with time zone
);

COPY public.accounts (id, name, photo, balance, active, seen) FROM stdin;
1	tab\there	\\x00ff	1.50	t	2024-01-02 03:04:05+00
2	\N	\N	\N	\N	\N
3		\\x	0	f	2024-01-02 03:04:05.123+00
4	back\\slash new\nline octal\101 hex\x42	\\x41	-2	t	\N
\.

INSERT INTO public.accounts VALUES (5, 'it''s', '\x0102', 3.25, true, '2024-05-06 07:08:09+00');
INSERT INTO public.accounts (id, name, photo, balance, active, seen) VALUES (6, E'e\'s\\n\n', NULL, NULL, false, NULL);
"""


def test_postgres_quirks_values(tmp_path: Path) -> None:
    read = read_dump(tmp_path, POSTGRES_QUIRKS, "postgres")
    assert read.problems == []
    assert any("function skipped" in s for s in read.skipped)
    rows = read.rows("public.accounts")
    assert rows[0] == ("1", "tab\there", b"\x00\xff", "1.50", "t", "2024-01-02 03:04:05+00")
    assert rows[1] == ("2", None, None, None, None, None)
    assert rows[2][1:3] == ("", b"")
    assert rows[3][1] == "back\\slash new\nline octalA hexB"
    assert rows[4] == ("5", "it's", b"\x01\x02", "3.25", "true", "2024-05-06 07:08:09+00")
    assert rows[5][1] == "e's\\n\n"
    frame = read.tables["public.accounts"]
    assert POSTGRES_QUIRKS.split(b"\n")[frame["_line"][0] - 1].startswith(b"1\ttab")
    assert POSTGRES_QUIRKS[frame["_offset"][0]:].startswith(b"1\ttab")


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("chunk", [1, 5, 64, 1000])
def test_postgres_window_boundaries_change_nothing(tmp_path: Path, chunk: int, compiled: bool) -> None:
    whole = read_dump(tmp_path, POSTGRES_QUIRKS, "postgres", name="whole", compiled=False)
    pieces = read_dump(tmp_path, POSTGRES_QUIRKS, "postgres", chunk=chunk, name="pieces", compiled=compiled)
    assert pieces.problems == whole.problems
    for name, frame in whole.tables.items():
        assert pieces.tables[name].equals(frame), name


def test_copy_cut_short_keeps_rows_and_says_where(tmp_path: Path) -> None:
    cut = POSTGRES_QUIRKS.index(b"4\tback")
    read = read_dump(tmp_path, POSTGRES_QUIRKS[:cut + 6], "postgres")
    assert [r[0] for r in read.rows("public.accounts")] == ["1", "2", "3"]
    assert len(read.problems) == 1 and "COPY data of public.accounts" in read.problems[0]


# -- real servers as the oracle -----------------------------------------------------------

def test_mysql_quirks_match_mariadb(tmp_path: Path, mariadb) -> None:  # noqa: ANN001 - fixture
    mariadb.drop_database("shop")
    mariadb.drop_database("other")
    mariadb.restore(MYSQL_QUIRKS)
    read = read_dump(tmp_path, MYSQL_QUIRKS, "mysql")
    assert compare_mysql(mariadb, "shop", read, "users") == []
    assert compare_mysql(mariadb, "other", read, "t") == []


def test_latin1_dump_matches_mariadb(tmp_path: Path, mariadb) -> None:  # noqa: ANN001 - fixture
    dump = (b"SET NAMES latin1;\nCREATE TABLE t (a varchar(10), b text) DEFAULT CHARSET=latin1;\n"
            b"INSERT INTO t VALUES ('caf\xe9','\x80 \xe0 la carte'),(NULL,'');\n")
    mariadb.fresh_database("latin")
    mariadb.restore(dump, "latin")
    read = read_dump(tmp_path, dump, "mysql")
    assert compare_mysql(mariadb, "latin", read, "t", "t") == []


def test_generated_dump_matches_mariadb(tmp_path: Path, mariadb) -> None:  # noqa: ANN001 - fixture
    import random

    rng = random.Random(7)
    alphabet = "abc xyz'\"\\\n\t\r%_;,()é€漢🙂\x00\x1a"
    rows = []
    for i in range(1, 3001):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        escaped = (text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
                   .replace("\x00", "\\0").replace("\x1a", "\\Z"))
        value = "NULL" if rng.random() < 0.1 else f"'{escaped}'"
        amount = "NULL" if rng.random() < 0.1 else f"{rng.randint(-10**6, 10**6) / 100:.2f}"
        blob = "NULL" if rng.random() < 0.2 else "0x" + rng.randbytes(rng.randint(1, 8)).hex().upper()
        rows.append(f"({i},{value},{amount},{blob},'2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 12:00:00')")
    statements = [",".join(rows[i:i + 700]) for i in range(0, len(rows), 700)]
    dump = ("/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE g (id int primary key, s text, amount decimal(12,2), "
            "b varbinary(16), at datetime) DEFAULT CHARSET=utf8mb4;\n"
            + "".join(f"INSERT INTO g VALUES {s};\n" for s in statements)).encode()
    mariadb.fresh_database("generated")
    mariadb.restore(dump, "generated")
    read = read_dump(tmp_path, dump, "mysql", chunk=10_000)
    assert len(read.rows("g")) == 3000
    assert compare_mysql(mariadb, "generated", read, "g", "g") == []


def test_postgres_quirks_match_postgresql(tmp_path: Path, postgres) -> None:  # noqa: ANN001 - fixture
    postgres.fresh_database("quirks")
    postgres.restore(POSTGRES_QUIRKS, "quirks")
    read = read_dump(tmp_path, POSTGRES_QUIRKS, "postgres")
    assert compare_postgres(postgres, "quirks", read, "public.accounts") == []


@pytest.mark.parametrize("seed", range(6))
def test_compiled_scanner_agrees_with_the_python_parser(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    pieces = ["'a'", "''", "'it''s'", "'x\\'y'", "'\\\\'", "'\\n\\t\\0\\Z\\%\\_'", "NULL", "null", "0", "-1.5",
              ".5", "1e-3", "0x", "0x0", "0xABC", "X'41'", "b'1'", "_binary'z'", "'é€🙂'", "'\xff'", "\"dq\"",
              "TRUE", "/* c */ 5", "  7  ", "'a\nb'", "-", "1.2.3", "'unterminated"]
    rows = []
    for i in range(300):
        values = ",".join(rng.choice(pieces) for _ in range(3))
        rows.append(f"({i},{values})")
    statements = []
    while rows:
        count = rng.randint(1, 40)
        take, rows = rows[:count], rows[count:]
        statements.append(f"INSERT INTO t VALUES {(',' + rng.choice(['', ' ', chr(10)])).join(take)};")
    dump = ("CREATE TABLE t (id int, a text, b blob, c varchar(10));\n" + "\n".join(statements) + "\n")
    data = dump.encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff")
    chunk = rng.choice([None, 17, 256, 5000])
    python = read_dump(tmp_path, data, "mysql", chunk=chunk, name="python", compiled=False)
    compiled = read_dump(tmp_path, data, "mysql", chunk=chunk, name="compiled", compiled=True)
    assert compiled.problems == python.problems
    assert set(compiled.tables) == set(python.tables)
    for name, frame in python.tables.items():
        assert compiled.tables[name].equals(frame), name


@pytest.mark.parametrize("seed", range(4))
def test_compiled_copy_agrees_with_the_python_parser(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    fields = ["a", "", "\\N", "\\\\", "\\t\\n\\r\\b\\f\\v", "\\101\\7\\0777", "\\x41\\x4", "\\xZZ", "\\q", "é€🙂",
              "\\\\x00ff", "tail\\", "\\N\\N", "\xff"]
    lines = []
    for _ in range(400):
        width = 3 if rng.random() > 0.02 else rng.choice([2, 4])  # now and then a line of the wrong width
        lines.append("\t".join(rng.choice(fields) for _ in range(width)) + rng.choice(["", "\r"]))
    dump = ("CREATE TABLE public.t (a text, b bytea, c text);\nCOPY public.t (a, b, c) FROM stdin;\n"
            + "\n".join(lines) + "\n\\.\n")
    data = dump.encode("utf-8").replace("\xff".encode(), b"\xff")
    chunk = rng.choice([None, 7, 300])
    python = read_dump(tmp_path, data, "postgres", chunk=chunk, name="python", compiled=False)
    compiled = read_dump(tmp_path, data, "postgres", chunk=chunk, name="compiled", compiled=True)
    assert compiled.problems == python.problems
    assert compiled.tables["public.t"].equals(python.tables["public.t"])


PHPMYADMIN = """-- phpMyAdmin SQL Dump
-- version 5.2.1
SET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";
START TRANSACTION;
SET time_zone = "+00:00";

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;

CREATE TABLE `accounts` (
  `id` int(11) NOT NULL,
  `username` varchar(64) NOT NULL,
  `balance` decimal(12,4) DEFAULT NULL,
  `created` timestamp NULL DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

INSERT INTO `accounts` (`id`, `username`, `balance`, `created`) VALUES
(1, 'zoë', '10.5000', '2023-03-01 12:00:00'),
(2, 'a\\\\b', NULL, NULL),
(3, '', '0.0000', '2023-03-02 00:00:00');

ALTER TABLE `accounts`
  ADD PRIMARY KEY (`id`);
COMMIT;
""".encode()

SEQUEL_PRO = b"""# ************************************************************
# Sequel Pro SQL dump
# ************************************************************

/*!40101 SET NAMES utf8 */;
DROP TABLE IF EXISTS `calls`;
CREATE TABLE `calls` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `dst` varchar(32) DEFAULT NULL,
  `rec` mediumblob,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
LOCK TABLES `calls` WRITE;
INSERT INTO `calls` (`id`, `dst`, `rec`)
VALUES
\t(1,'+447700900123',X'00FF'),
\t(2,'0044 7700 900456',NULL);
UNLOCK TABLES;
"""


@pytest.mark.parametrize(("dump", "table"), [(PHPMYADMIN, "accounts"), (SEQUEL_PRO, "calls")],
                         ids=["phpmyadmin", "sequel-pro"])
def test_exports_of_admin_tools_match_mariadb(tmp_path: Path, mariadb, dump: bytes, table: str) -> None:  # noqa: ANN001
    mariadb.fresh_database("tools")
    mariadb.restore(dump, "tools")
    read = read_dump(tmp_path, dump, "mysql")
    assert read.problems == []
    assert len(read.rows(table)) == (3 if table == "accounts" else 2)
    assert compare_mysql(mariadb, "tools", read, table, table) == []


def test_review_findings_table_created_again_comments_offsets_and_locator_names(tmp_path: Path) -> None:
    dump = (b"CREATE TABLE t (a int, b text);\nINSERT INTO t VALUES (1,'x');\n"
            b"/*Main table, not an executable comment*/\n"
            b"DROP TABLE IF EXISTS t;\nCREATE TABLE t (a int, b text, c text);\nINSERT INTO t VALUES (2,'y','z');\n"
            b"CREATE TABLE u (`_line` int, `_offset` text);\nINSERT INTO u VALUES (7,'seven');\n")
    read = read_dump(tmp_path, dump, "mysql")
    assert read.rows("t") == [("1", "x")]  # no row lost when the table is created again
    assert read.rows("t#2") == [("2", "y", "z")]
    assert any("created again" in p for p in read.problems)
    frame = read.tables["u"]
    assert frame.columns == ["_line", "_offset", "__line", "__offset"]
    assert frame.row(0)[:2] == ("7", "seven") and dump[frame["__offset"][0]:].startswith(b"(7,")


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_truncation_offset_is_exact_in_a_dump_larger_than_the_window(tmp_path: Path, compiled: bool) -> None:
    rows = ",".join(f"({i},'name {i}')" for i in range(1, 5001))
    dump = f"CREATE TABLE t (id int, name varchar(20));\nINSERT INTO t VALUES {rows};\n".encode()
    cut_row = dump.index(b"(4001,")
    read = read_dump(tmp_path, dump[:cut_row + 5], "mysql", chunk=4096, compiled=compiled)
    assert len(read.rows("t")) == 4000
    assert read.problems == [f"line 2, offset {cut_row}: the dump ends inside INSERT INTO t (truncated here): "
                             "every row before the cut is kept"]


def test_duplicate_keys_and_updates_differ_from_mariadb_as_documented(tmp_path: Path, mariadb) -> None:  # noqa: ANN001
    dump = (b"CREATE TABLE t (id int PRIMARY KEY, name varchar(20), n int);\n"
            b"INSERT INTO t VALUES (1,'first',1),(2,'second',2);\n"
            b"INSERT IGNORE INTO t VALUES (1,'again',9);\n"
            b"REPLACE INTO t VALUES (2,'replaced',9);\n"
            b"UPDATE t SET n = 5 WHERE id = 1;\n")
    mariadb.fresh_database("dupes")
    mariadb.restore(dump, "dupes")
    assert mariadb.rows("dupes", "t") == [(b"1", b"first", b"5"), (b"2", b"replaced", b"9")]
    read = read_dump(tmp_path, dump, "mysql")
    # the raw table keeps every row the dump wrote, in order; the UPDATE is recorded, not applied
    assert read.rows("t") == [("1", "first", "1"), ("2", "second", "2"), ("1", "again", "9"), ("2", "replaced", "9")]
    assert len(read.problems) == 1 and "line 5" in read.problems[0] and "not applied" in read.problems[0]


def test_second_read_findings_statements_skipped_with_their_quotes(tmp_path: Path) -> None:
    crlf = b"CREATE TABLE t (a int);\r\nINSERT INTO t (zz) VALUES (1);\r\nINSERT INTO t VALUES (2);\r\n"
    assert read_dump(tmp_path, crlf, "mysql", name="crlf").rows("t") == [("2",)]
    quoted = (b"CREATE TABLE t (a int, b text);\nINSERT INTO t (a, zz) VALUES (1,'x;\n"
              b"INSERT INTO t VALUES (99,\"fake\");\n-- ');\nINSERT INTO t VALUES (3,'real');\n")
    assert read_dump(tmp_path, quoted, "mysql", name="quoted").rows("t") == [("3", "real")]
    malformed = (b"CREATE TABLE t (a int, b text);\nINSERT INTO t VALUES (1,'a'),(2 2,'x;\n"
                 b"INSERT INTO t VALUES (99,\"fake\");\n');\nINSERT INTO t VALUES (3,'c');\n")
    read = read_dump(tmp_path, malformed, "mysql", name="malformed")
    assert read.rows("t") == [("1", "a"), ("3", "c")] and len(read.problems) == 1


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_second_read_findings_unclosed_comment_is_recorded(tmp_path: Path, dialect: str) -> None:
    dump = b"CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n/* note\nINSERT INTO t VALUES (2);\n"
    read = read_dump(tmp_path, dump, dialect)
    assert read.rows("t" if dialect == "mysql" else "public.t") == [("1",)]
    assert read.problems == ["line 3, offset 50: the dump ends inside a comment opened here: nothing after it was read"]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_second_read_findings_comments_around_tuples(tmp_path: Path, compiled: bool) -> None:
    dump = (b"CREATE TABLE t (a int, b text);\nINSERT INTO t VALUES /* x */ (1,'x'),/* c */(2,'y') -- end\n;\n"
            b"INSERT INTO t VALUES (3,'z') /* after */;\n")
    read = read_dump(tmp_path, dump, "mysql", compiled=compiled)
    assert read.problems == []
    assert read.rows("t") == [("1", "x"), ("2", "y"), ("3", "z")]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
def test_second_read_findings_set_names_changes_between_rows(tmp_path: Path, compiled: bool) -> None:
    dump = (b"SET NAMES cp1251;\nCREATE TABLE t (a text);\nINSERT INTO t VALUES ('\xc0\xc1');\n"
            b"SET NAMES latin1;\nINSERT INTO t VALUES ('\xe9');\nSET NAMES utf8mb4;\nINSERT INTO t VALUES ('\xc3\xa9');\n")
    read = read_dump(tmp_path, dump, "mysql", compiled=compiled)
    assert read.rows("t") == [("АБ",), ("é",), ("é",)]


@pytest.mark.parametrize("dialect", ["mysql", "postgres"])
def test_second_read_findings_values_cut_by_the_window(tmp_path: Path, dialect: str) -> None:
    if dialect == "mysql":
        tail = (b",(2,b'101',X'4142'),(3, _binary'z' , 0x41) /* c */,(4,'a',-- c\n'b')"
                b",(5,'q',\"dq\");\n")
        head = b"CREATE TABLE t (a int, b blob, c blob);\nINSERT INTO t VALUES (1,'"
    else:
        tail = (b",(2,E'e\\'s','3.14'::numeric(10,2)),(3, B'101' ,'x'::text) /* c */,(4,'a',-- c\n'b')"
                b",(5,'q','r');\n")
        head = b"CREATE TABLE t (a int, b text, c text);\nINSERT INTO t VALUES (1,'"
    whole = None
    for shift in range(0, 60, 3):
        dump = head + b"x" * (4096 * 20 - len(head) + shift - 30) + b"','y')" + tail
        expected = read_dump(tmp_path, dump, dialect, name=f"whole{shift}")
        assert expected.problems == []
        read = read_dump(tmp_path, dump, dialect, chunk=4096, name=f"cut{shift}")
        assert read.problems == [], shift
        name = "t" if dialect == "mysql" else "public.t"
        assert read.tables[name].equals(expected.tables[name]), shift
        whole = whole or expected
    assert whole is not None and len(whole.rows("t" if dialect == "mysql" else "public.t")) == 5


def test_second_read_findings_scanner_ignores_positions_outside_the_buffer() -> None:
    from forensics import _dumpscan

    for pos in (-(1 << 40), -1, 4, 1 << 40):
        assert _dumpscan.scan_tuples(b"(1)", pos, 1, True, True, 10, 0, 1)[1] == 0
        assert _dumpscan.scan_copy(b"1\n", pos, 1, True, 10, 0, 1)[1] == 0
