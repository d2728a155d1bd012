"""The sample seized server (forensics sample generate): deterministic, fictional, consistent with its truth."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from conftest import run

from forensics.errors import ForensicsError
from forensics.normalize import btc_address_valid, phone_e164, tx_hash_valid
from forensics.sample import CDR_PATH, DUMP_PATH, OLD_DUMP_MEMBER, PHONE_RANGES, UK_RANGES, generate

# Written out again here, not taken from forensics.sample: Ofcom's drama ranges (1,000 numbers
# each) and NANPA's 555-0100..0199, as E.164.
FICTIONAL = re.compile(
    r"\+44(?:7700900|1632960|2079460|11[345678]4960|1214960|1314960|1414960|1514960|1614960|1914980"
    r"|2896496|2920180|8081570|9098790|3069990)\d{3}"
    r"|\+1[2-9]\d\d55501\d\d"
)
DOC_IP = re.compile(r"(?:192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}|2001:db8:[0-9a-f:]+")
SMALL = {"accounts": 30, "calls": 2_500, "seed": 7, "chunk_rows": 1_000}  # three chunks of calls


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("sample") / "seized"
    return folder, generate(folder, **SMALL)


def values(dump: bytes, table: str) -> list[list[str | None]]:
    """The rows of a table's INSERTs, read with a small parser independent of the project's reader."""
    rows: list[list[str | None]] = []
    for line in dump.split(b"\n"):
        if not line.startswith(f"INSERT INTO `{table}` VALUES ".encode()):
            continue
        text = line.decode("utf-8" if table != "legacy_customers" else "cp1252")
        text = text[text.index("VALUES ") + 7:].rstrip(";")
        for row in re.findall(r"\(((?:'(?:[^'\\]|\\.)*'|[^()'])*)\)", text):
            fields = re.findall(r"'((?:[^'\\]|\\.)*)'|(NULL)|([-0-9.]+)", row)
            rows.append([None if null else (number or re.sub(r"\\(.)", r"\1", quoted))
                         for quoted, null, number in fields])
    return rows


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path,
                                                                        sample: tuple[Path, dict]) -> None:
    folder, truth = sample
    again = tmp_path / "again"
    assert generate(again, **SMALL) == truth
    assert tree(again) == tree(folder)
    other = tmp_path / "other"
    generate(other, **{**SMALL, "seed": 8})
    assert tree(other)[f"server/{DUMP_PATH}"] != tree(folder)[f"server/{DUMP_PATH}"]


def test_layout_truth_beside_the_server(sample: tuple[Path, dict]) -> None:
    folder, truth = sample
    assert sorted(p.name for p in folder.iterdir()) == ["server", "truth.json"]
    assert json.loads((folder / "truth.json").read_text(encoding="utf-8")) == truth
    server = folder / "server"
    assert "DB_NAME', 'spoofcall'" in (server / "var/www/html/includes/config.php").read_text()
    for path in truth["files"]["access_logs"]:
        data = (server / path).read_bytes()
        text = (gzip.decompress(data) if path.endswith(".gz") else data).decode()
        assert text.count("\n") == truth["service"]["access_log_lines"][path]
        assert all(re.match(r'\S+ - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "(GET|POST) ', line)
                   for line in text.splitlines())
    with tarfile.open(server / truth["files"]["backup"]) as backup:
        names = backup.getnames()
        assert OLD_DUMP_MEMBER in names and "html/includes/config.php" in names
        assert {m.mtime for m in backup.getmembers()} == {backup.getmember(OLD_DUMP_MEMBER).mtime}


def test_every_number_is_fictional_and_every_address_documentation_only(sample: tuple[Path, dict]) -> None:
    folder, _ = sample
    server = folder / "server"
    dump = (server / DUMP_PATH).read_bytes()
    numbers = [r[3] for r in values(dump, "users")] + [n for r in values(dump, "calls") for n in r[2:4]]
    numbers += [r[3] for r in values(dump, "legacy_customers")]
    with open(server / CDR_PATH, newline="") as handle:
        cdr = list(csv.reader(handle))
    numbers += [n for row in cdr for n in row[1:3]]
    numbers = [n for n in numbers if n is not None]
    assert len(numbers) > 10_000
    for number in set(numbers):
        e164 = phone_e164(number, "GB")
        assert e164 is not None and FICTIONAL.fullmatch(e164), number
    for row in values(dump, "users"):
        assert all(ip is None or DOC_IP.fullmatch(ip) for ip in row[9:11]), row
        assert row[2] is None or row[2].rsplit("@", 1)[1].endswith(("example.com", "example.net", "example.org",
                                                                    ".example")), row
    access = (server / "var/log/apache2/access.log").read_text()
    assert all(DOC_IP.fullmatch(line.split(" ", 1)[0]) for line in access.splitlines())


def test_which_ranges_phonenumbers_calls_valid_is_as_documented() -> None:
    for national, prefix, documented in UK_RANGES:
        for last in ("000", "512", "999"):
            number = phonenumbers.parse(prefix + last)
            assert phonenumbers.is_possible_number(number), national
            assert phonenumbers.is_valid_number(number) == documented, national
    for entry in PHONE_RANGES["nanp"]:
        assert phonenumbers.is_valid_number(phonenumbers.parse(entry["from"]))
    assert [n for n, _, valid in UK_RANGES if not valid] == ["07700 900", "01632 960", "0115 496 0"]


def test_bitcoin_addresses_and_transactions_are_valid(sample: tuple[Path, dict]) -> None:
    folder, truth = sample
    payments = values((folder / "server" / DUMP_PATH).read_bytes(), "payments")
    assert len(payments) == truth["service"]["payments_rows"]
    kinds = set()
    for _, _, method, amount, currency, _, address, tx, _, status in payments:
        if method == "bitcoin":
            assert currency == "BTC" and btc_address_valid(address), address
            kinds.add(address[0] if address[0] in "13" else address[:4])
            assert tx_hash_valid(tx) if status == "confirmed" else tx is None
        else:
            assert (method, currency, address, tx) == ("voucher", "USD", None, None)
        assert re.fullmatch(r"\d+\.\d{8}", amount)
    assert kinds == {"1", "3", "bc1q"}
    confirmed = [p[7] for p in payments if p[7] is not None]
    assert len(confirmed) - len(set(confirmed)) == truth["service"]["payments_duplicate_rows"] >= 1


def test_truth_agrees_with_the_files(sample: tuple[Path, dict]) -> None:
    folder, truth = sample
    server = folder / "server"
    dump = (server / DUMP_PATH).read_bytes()
    facts = truth["service"]
    users, calls = values(dump, "users"), values(dump, "calls")
    assert len(users) == facts["accounts"] == SMALL["accounts"]
    assert len(calls) == facts["calls"] == SMALL["calls"]
    assert [int(c[0]) for c in calls] == list(range(1, SMALL["calls"] + 1))
    with open(server / CDR_PATH, newline="") as handle:
        cdr = list(csv.reader(handle))
    assert len(cdr) == facts["calls"] and {len(r) for r in cdr} == {18}
    assert len({r[2] for r in cdr}) == facts["distinct_victims"] <= facts["victims_bound"]
    assert len({phone_e164(c[3], "GB") for c in calls}) == facts["distinct_victims"]
    assert sum(int(r[12]) for r in cdr) == truth["pipeline"]["calls_by_source"][CDR_PATH]["duration_s"]
    assert sum(int(c[6]) for c in calls) == truth["pipeline"]["calls_by_source"][DUMP_PATH]["billed_s"]
    assert sum(r[14] == "ANSWERED" for r in cdr) == facts["answered_calls"]
    # The clock skew: the same call, as the CDR and the database write it.
    from datetime import datetime

    skews = {(datetime.fromisoformat(r[9]) - datetime.fromisoformat(c[4])).total_seconds()
             for r, c in zip(cdr, calls, strict=True)
             if not r[9].startswith(("2021-03-28", "2021-10-31", "2022-03-27", "2022-10-30"))}  # DST days
    assert skews == {truth["clock_skew_s"]}
    known = truth["known_rows"]["call_db"]
    row = calls[int(known["call_id"]) - 1]
    assert (row[1], row[2], row[3], row[4]) == (known["account_id"], known["caller_id_raw"],
                                                known["destination_raw"], known["started_at_text"])
    account = truth["known_rows"]["account"]
    assert users[int(account["account_id"]) - 1][1:5] == [account["username"], account["email"],
                                                           account["phone_raw"], account["display_name"]]
    assert "'" in account["username"] and '"' in account["display_name"]
    assert rb"'spoof\\king\\'" in dump and rb"'Dan \"The Bank\" O\'Reilly'" in dump
    assert "Zoë 💸".encode() in dump
    legacy = values(dump, "legacy_customers")
    assert len(legacy) == facts["legacy_customers"] and legacy[0][1] == "José Müller"
    assert b"'Jos\xe9 M\xfcller'" in dump and b"paid 20\x80 by voucher" in dump  # latin1 (cp1252) bytes
    assert dump.index(b"SET NAMES latin1") < dump.index(b"Jos\xe9") < dump.rindex(b"SET NAMES utf8mb4")
    old = io.BytesIO(tarfile.open(server / truth["files"]["backup"]).extractfile(OLD_DUMP_MEMBER).read())
    old_dump = old.getvalue()
    assert len(values(old_dump, "users")) == truth["pipeline"]["sources"][truth["files"]["old_dump"]]["accounts"]
    assert b"INSERT INTO `calls`" not in old_dump


def test_mysqldump_shape(sample: tuple[Path, dict]) -> None:
    folder, _ = sample
    text = (folder / "server" / DUMP_PATH).read_bytes().decode("cp1252", "replace")
    assert text.startswith("-- MariaDB dump 10.19")
    assert "/*!40101 SET NAMES utf8mb4 */;" in text and "DEFAULT CHARSET=latin1;" in text
    for table in ("calls", "legacy_customers", "payments", "users"):
        assert f"DROP TABLE IF EXISTS `{table}`;\n" in text and f"LOCK TABLES `{table}` WRITE;" in text
    assert text.count("ENGINE=InnoDB") == 4
    assert re.search(r"-- Dump completed on \d{4}-\d\d-\d\d [ \d]\d:\d\d:\d\d\n$", text)


def test_long_tables_are_split_into_statements_as_mysqldump_does(tmp_path: Path) -> None:
    truth = generate(tmp_path / "s", accounts=6, calls=30_000, chunk_rows=7_000)
    dump = (tmp_path / "s" / "server" / DUMP_PATH).read_bytes()
    statements = [line for line in dump.split(b"\n") if line.startswith(b"INSERT INTO `calls`")]
    assert len(statements) >= 2 and all(len(s) < 1_048_576 + 200 for s in statements)
    assert len(values(dump, "calls")) == truth["service"]["calls"]


def test_the_mariadb_server_restores_the_dump_as_the_truth_says(sample: tuple[Path, dict],
                                                               mariadb: Any) -> None:
    folder, truth = sample
    mariadb.drop_database("spoofcall")
    mariadb.restore(folder / "server" / DUMP_PATH, database="spoofcall")
    count = {t: int(mariadb.execute(f"SELECT COUNT(*) FROM spoofcall.{t}")[0][0]) for t in mariadb.tables("spoofcall")}
    assert count == {"calls": truth["service"]["calls"], "legacy_customers": truth["service"]["legacy_customers"],
                     "payments": truth["service"]["payments_rows"], "users": truth["service"]["accounts"]}
    name = mariadb.execute("SELECT name FROM spoofcall.legacy_customers WHERE id = 1", results_charset="utf8mb4")
    assert name[0][0].decode() == "José Müller"
    account = truth["known_rows"]["account"]
    shown = mariadb.execute("SELECT display_name FROM spoofcall.users WHERE id = %s", [account["account_id"]])
    assert shown[0][0].decode() == account["display_name"]
    distinct = mariadb.execute("SELECT COUNT(DISTINCT tx_hash) FROM spoofcall.payments")[0][0]
    assert int(distinct) == truth["service"]["payments_confirmed_distinct_by_currency"]["BTC"]["rows"]
    mariadb.drop_database("spoofcall")


def test_refuses_a_folder_that_is_not_empty_and_bad_numbers(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ForensicsError, match="not empty"):
        generate(tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    result = run("sample", "generate", tmp_path / "full", expect=1)
    assert result.stderr.count("\n") == 1 and "is not empty" in result.stderr
    (tmp_path / "file").write_text("x")
    assert "not a folder" in run("sample", "generate", tmp_path / "file", expect=1).stderr
    assert "--calls must be at least 1" in run("sample", "generate", tmp_path / "new", "--calls", "0", expect=1).stderr
    assert "--accounts" in run("sample", "generate", tmp_path / "new", "--accounts", "1", expect=1).stderr
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    out = run("sample", "generate", tmp_path / "empty", "--accounts", "10", "--calls", "50").stdout
    assert "10 accounts" in out and "50 calls" in out and (tmp_path / "empty" / "truth.json").exists()


def test_usernames_are_unique_as_the_schema_demands(tmp_path: Path) -> None:
    """users.username is a UNIQUE KEY: a dump with two equal names would not restore into MariaDB."""
    import re

    from forensics.sample import DUMP_PATH, generate

    generate(tmp_path / "s", accounts=30_000, calls=10, seed=1)
    dump = (tmp_path / "s" / "server" / DUMP_PATH).read_text(encoding="utf-8", errors="replace")
    names = [name for line in dump.splitlines() if line.startswith("INSERT INTO `users`")
             for name in re.findall(r"[(,]\((\d+),'((?:[^'\\]|\\.)*)'", "," + line[len("INSERT INTO `users` VALUES "):])]
    assert len(names) == 30_000
    usernames = [u for _, u in names]
    assert len(set(usernames)) == len(usernames), "a username appears twice"
