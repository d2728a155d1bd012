"""The private MariaDB and PostgreSQL servers give back exactly what a dump put in."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbservers import MariaDBServer, PostgresServer, RestoreError

MARIADB_DUMP = b"""/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;
CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `u` varchar(20) CHARACTER SET utf8mb4 DEFAULT NULL,
  `l` varchar(20) CHARACTER SET latin1 DEFAULT NULL,
  `b` varbinary(8) DEFAULT NULL,
  `d` decimal(6,2) DEFAULT NULL,
  `ts` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO `t` VALUES (3,'caf\xc3\xa9','caf\xc3\xa9',0x00FF,1.5,'2024-01-02 03:04:05');
INSERT INTO `t` VALUES (1,NULL,NULL,NULL,NULL,NULL),(2,'','','',0,NULL);
SET NAMES latin1;
INSERT INTO `t` VALUES (4,'caf\xe9','caf\xe9','\\0\xff',-2.25,NULL);
SET NAMES utf8mb4;
CREATE TABLE `log` (`msg` varchar(40)) ENGINE=InnoDB;
DELIMITER ;;
CREATE TRIGGER `t_ai` AFTER INSERT ON `t` FOR EACH ROW BEGIN
  INSERT INTO `log` VALUES (CONCAT('row ', NEW.id));
END ;;
DELIMITER ;
INSERT INTO `t` (`id`) VALUES (5);
"""


def test_mariadb_gives_back_exact_bytes(mariadb: MariaDBServer) -> None:
    mariadb.fresh_database("exact")
    mariadb.restore(MARIADB_DUMP, "exact")
    assert mariadb.tables("exact") == ["log", "t"]
    assert mariadb.columns("exact", "t") == [
        ("id", "int(11)"), ("u", "varchar(20)"), ("l", "varchar(20)"),
        ("b", "varbinary(8)"), ("d", "decimal(6,2)"), ("ts", "timestamp"),
    ]
    assert mariadb.charsets("exact", "t")["l"] == "latin1"
    # Ordered by primary key although inserted 3, 1, 2, 4, 5; stored bytes, no conversion.
    assert mariadb.rows("exact", "t") == [
        (b"1", None, None, None, None, None),
        (b"2", b"", b"", b"", b"0.00", None),
        (b"3", b"caf\xc3\xa9", b"caf\xe9", b"\x00\xff", b"1.50", b"2024-01-02 03:04:05"),
        (b"4", b"caf\xc3\xa9", b"caf\xe9", b"\x00\xff", b"-2.25", None),
        (b"5", None, None, None, None, None),
    ]
    # The server converting text columns to UTF-8 on the way out.
    assert [r[2] for r in mariadb.rows("exact", "t", charset="utf8mb4")] == [
        None, b"", b"caf\xc3\xa9", b"caf\xc3\xa9", None]
    assert mariadb.rows("exact", "log") == [(b"row 5",)]


def test_mariadb_restore_reports_the_clients_error(mariadb: MariaDBServer, tmp_path: Path) -> None:
    dump = tmp_path / "bad.sql"
    dump.write_bytes(b"CREATE TABLE ok (x int);\nINSERT INTO missing VALUES (1);\n")
    mariadb.fresh_database("bad")
    with pytest.raises(RestoreError, match=r"ERROR 1146 .*missing"):
        mariadb.restore(dump, "bad")
    assert mariadb.tables("bad") == ["ok"]
    mariadb.drop_database("bad")
    assert mariadb.execute("SHOW DATABASES LIKE 'bad'") == []


POSTGRES_SCHEMA = b"""SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
CREATE SCHEMA shop;
CREATE TABLE shop.t (id integer PRIMARY KEY, s text, b bytea, n numeric(6,2),
                     ts timestamp with time zone);
CREATE TABLE public.plain (x text);
"""

POSTGRES_DATA = b"""SET client_encoding = 'UTF8';
COPY shop.t (id, s, b, n, ts) FROM stdin;
3\tcaf\xc3\xa9\t\\\\x00ff\t1.5\t2024-01-02 05:04:05+02
1\t\\N\t\\N\t\\N\t\\N
2\t\t\t0\t\\N
4\ttab\\there\\\\\t\\\\x\t-2.25\t\\N
\\.
SET client_encoding = 'LATIN1';
INSERT INTO shop.t VALUES (5, 'caf\xe9', '\\x00ff'::bytea, NULL, NULL);
"""


def test_postgres_gives_back_exact_text(postgres: PostgresServer, tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_bytes(POSTGRES_SCHEMA)
    postgres.drop_database("exact")
    postgres.restore([schema, POSTGRES_DATA], "exact")
    assert postgres.tables("exact") == ["public.plain", "shop.t"]
    assert postgres.columns("exact", "shop.t") == [
        ("id", "integer"), ("s", "text"), ("b", "bytea"), ("n", "numeric(6,2)"),
        ("ts", "timestamp with time zone"),
    ]
    assert postgres.rows("exact", ("shop", "t")) == [
        ("1", None, None, None, None),
        ("2", "", "\\x", "0.00", None),
        ("3", "caf\u00e9", "\\x00ff", "1.50", "2024-01-02 03:04:05+00"),
        ("4", "tab\there\\", "\\x", "-2.25", None),
        ("5", "caf\u00e9", "\\x00ff", None, None),
    ]
    assert postgres.rows("exact", "plain") == []


def test_postgres_restore_reports_the_clients_error(postgres: PostgresServer) -> None:
    postgres.fresh_database("bad")
    with pytest.raises(RestoreError, match='relation "missing" does not exist'):
        postgres.restore(b"CREATE TABLE ok (x int);\nINSERT INTO missing VALUES (1);\n"
                         b"CREATE TABLE never (x int);\n", "bad")
    assert postgres.tables("bad") == ["public.ok"]
    postgres.drop_database("bad")
    assert postgres.execute("SELECT 1 FROM pg_database WHERE datname = 'bad'") == []
