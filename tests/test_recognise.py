"""The recogniser: raw tables nobody has seen, scored by their columns' names and content."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import polars as pl
from conftest import run, write

from forensics.plugin import LOCATOR, RawTable
from forensics.recognise import SAMPLE_ROWS, recognise

BTC = ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
       "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"]
TX = ["6f2a1c9e0b7d4e3f8a5c2b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f", "a" * 64, "0123456789abcdef" * 4]


def table(name: str, columns: dict[str, list[str | None]]) -> RawTable:
    """A raw table as extract gives it to plugins, from columns of text."""
    frame = pl.DataFrame({k: pl.Series(k, v, pl.String) for k, v in columns.items()})
    return RawTable(name, list(columns), dict.fromkeys(columns), "seized/db.sql", "0" * 64, "mysql",
                    frame.lazy().with_columns(pl.format("line {}", pl.int_range(1, frame.height + 1)).alias(LOCATOR)))


def test_accounts_are_recognised_by_name_and_content() -> None:
    rows = 12
    found = recognise(table("crm.tbl_clients", {
        "cid": [str(100 + i) for i in range(rows)],
        "login": [f"user{i}" for i in range(rows)],
        "contact": [f"user{i}@example.org" for i in range(rows)],  # no telling name: e-mails by content
        "mobile": [f"07700 900{i:03d}" for i in range(rows)],
        "signup": [f"2023-03-{i + 1:02d} 14:05:00" for i in range(rows)],
        "lastip": [f"203.0.113.{i}" for i in range(rows)],
        "notes": ["paid late"] * rows,
    }), region="GB")
    assert found.accepted and found.mapping.produces == "accounts"
    columns = {k: v.columns for k, v in found.mapping.columns.items()}
    assert columns == {"account_id": ("cid",), "username": ("login",), "email": ("contact",),
                       "phone_raw": ("mobile",), "created_at": ("signup",), "last_ip": ("lastip",)}
    assert found.unmapped == ["notes"]
    email = found.mapping.columns["email"]
    assert email.confidence is not None and 0.6 < email.confidence < 1
    assert "100% of 12 sampled values are e-mail addresses" in email.evidence
    assert found.scores["accounts"] > 0.5 > max(found.scores["payments"], found.scores["calls"])


def test_payments_with_bitcoin_and_calls_are_recognised() -> None:
    rows = 9
    payments = recognise(table("topups", {
        "id": [str(i) for i in range(rows)],
        "uid": [str(i % 3) for i in range(rows)],
        "value": [f"{i}.50 EUR" for i in range(rows)],
        "wallet": [BTC[i % 3] for i in range(rows)],
        "txid": [TX[i % 3] for i in range(rows)],
        "ts": [f"2024-01-0{i + 1} 10:00:00" for i in range(rows)],
    }))
    assert payments.accepted and payments.mapping.produces == "payments"
    assert {k: v.columns[0] for k, v in payments.mapping.columns.items()} == {
        "payment_id": "id", "account_id": "uid", "amount": "value", "crypto_address": "wallet",
        "tx_hash": "txid", "paid_at": "ts"}
    assert "bitcoin addresses" in payments.mapping.columns["crypto_address"].evidence

    calls = recognise(table("pbx.call_log", {
        "caller": ["+442079460000"] * rows,
        "called_number": [f"+4477009001{i:02d}" for i in range(rows)],
        "calldate": [f"2024-01-0{i + 1} 10:00:00" for i in range(rows)],
        "duration": [str(10 * i) for i in range(rows)],
        "billsec": [str(5 * i) for i in range(rows)],
    }))
    assert calls.accepted and calls.mapping.produces == "calls"
    assert {k: v.columns[0] for k, v in calls.mapping.columns.items()} == {
        "caller_id_raw": "caller", "destination_raw": "called_number", "started_at": "calldate",
        "duration_s": "duration", "billed_s": "billsec"}


def test_a_table_that_is_none_of_them_is_not_mapped() -> None:
    found = recognise(table("film", {"film_id": [str(i) for i in range(20)], "title": ["A film"] * 20,
                                     "rental_rate": ["4.99"] * 20, "last_update": ["2006-02-15 05:03:42"] * 20}))
    assert not found.accepted
    assert found.mapping.confidence is not None and found.mapping.confidence < 0.5


def test_one_value_says_little() -> None:
    """A configuration table with one e-mail in it is not an accounts table."""
    found = recognise(table("pkg_smtp", {"id": ["1"], "host": ["mail.example.org"], "username": ["a@example.org"],
                                         "password": ["x"]}))
    assert not found.accepted


def test_content_is_sampled_from_the_first_rows_only() -> None:
    rows = SAMPLE_ROWS + 5_000
    emails = [f"u{i}@example.org" if i < SAMPLE_ROWS else "not an address" for i in range(rows)]
    found = recognise(table("members", {"id": [str(i) for i in range(rows)], "contact": emails}))
    assert f"100% of {SAMPLE_ROWS:,} sampled values are e-mail addresses" in found.mapping.columns["email"].evidence


SPOOFCALL = (b"CREATE TABLE `users` (`id` int, `username` varchar(64), `email` varchar(128));\n"
             b"INSERT INTO `users` VALUES (1,'shadow','shadow@example.org'),(2,'ghost','ghost@example.org');\n")


def _shop_csv(rows: int = 12) -> str:
    lines = ["cid,login,contact,mobile,signup"]
    lines += [f"{i},user{i},user{i}@example.org,07700 900{i:03d},2023-03-{i + 1:02d} 14:05:00" for i in range(rows)]
    lines.append("99,burner,,ask admin,yesterday")  # does not parse: the row is kept, the text too
    return "\n".join(lines) + "\n"


def test_extract_maps_only_the_tables_no_plugin_took_and_records_it_for_review(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    write(evidence / "export/spoofcall.sql", SPOOFCALL)  # sample-spoofcall accepts its users table
    write(evidence / "export/users.sql", SPOOFCALL + b"-- a copy\n")  # the same table in a file no plugin accepts
    write(evidence / "crm/tbl_clients.csv", _shop_csv())
    write(evidence / "crm/notes.csv", "id,text\n1,hello\n2,bye\n")
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", "--timezone", "Europe/London")
    run("ingest", case, evidence)
    out = run("extract", case).stdout
    assert "recogniser: 2 tables mapped (tbl_clients -> accounts" in out and "users -> accounts" in out
    assert "1 not sure enough to map; review tables/recognised-mapping.toml" in out

    accounts = pl.read_parquet(case / "tables" / "accounts.parquet")
    made = {(path, extractor.split("@")[0]): n for extractor, path, n in
            accounts.group_by("_extractor", "_source_path").len().rows()}
    assert made == {("crm/tbl_clients.csv", "generic"): 13, ("export/users.sql", "generic"): 2,
                    ("export/spoofcall.sql", "sample-spoofcall"): 2}  # never mapped twice
    burner = accounts.filter(pl.col("account_id") == "99").row(0, named=True)
    assert (burner["phone_raw"], burner["phone_e164"]) == ("ask admin", None)
    assert (burner["created_at_text"], burner["created_at"]) == ("yesterday", None)
    first = accounts.filter(pl.col("account_id") == "0").row(0, named=True)
    assert first["phone_e164"] == "+447700900000"  # the case's region, GB, from Europe/London
    assert str(first["created_at"]) == "2023-03-01 14:05:00+00:00"

    review = (case / "tables" / "recognised-mapping.toml").read_text()
    parsed = tomllib.loads(review)  # a mapping file: the commented-out table is not in it
    assert [(t["raw"], t["file"], t["produces"]) for t in parsed["table"]] == [
        ("tbl_clients", "crm/tbl_clients.csv", "accounts"), ("users", "export/users.sql", "accounts")]
    assert parsed["table"][0]["columns"]["email"] == "contact"
    assert "# notes in crm/notes.csv: NOT MAPPED" in review and "spoofcall.sql" not in review
    assert "e-mail addresses" in review  # evidence as comments

    entry = json.loads((case / "audit.jsonl").read_text().splitlines()[-1])
    outputs = {o["path"] for o in entry["outputs"]}
    assert "tables/recognised-mapping.toml" in outputs
    recognised = {r["table"]: r for r in entry["details"]["extraction"]["recognised"]}
    assert recognised["notes"]["mapped"] is False and recognised["tbl_clients"]["mapped"] is True
    run("verify", case)
