"""Mapping files (extract --mapping) and the case's phone region."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import run, write

KUNDEN = ("kid;mail;tel;vorname;nachname;angemeldet\n"
          "7;shadow@example.org;030 1234567;Max;Muster;12.03.2023 14:05\n"
          "8;;+44 20 7946 0000;Erika;;26.03.2023 02:30\n"  # 02:30 on 26 March never happened in Berlin
          "9;burner@example.net;ask admin;;;gestern\n")
ZAHLUNGEN = "zid;kid;betrag;coin;wallet;zeit\n1;7;12,50;EUR;;2023-03-12 14:20:00\n2;8;0.0025;BTC;bc1qx;2023-06-01\n"

MAPPING = '''# the shop's tables, checked by hand
[[table]]
raw = "kunden"
file = "*.csv"
produces = "accounts"
region = "DE"
timezone = "Europe/Berlin"
[table.columns]
account_id = "kid"
email = "mail"
phone_raw = "tel"
display_name = { columns = ["vorname", "nachname"] }
created_at = { column = "angemeldet", format = "%d.%m.%Y %H:%M" }
status = { value = "customer" }

[[table]]
raw = "zahlungen"
produces = "payments"
[table.columns]
payment_id = "zid"
account_id = "KID"          # names are matched without case where only one column fits
amount = "betrag"
currency = "coin"
crypto_address = "wallet"
paid_at = "zeit"
'''


@pytest.fixture
def shop_case(tmp_path: Path) -> Path:
    write(tmp_path / "evidence/export/kunden.csv", KUNDEN)
    write(tmp_path / "evidence/export/zahlungen.csv", ZAHLUNGEN)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", "--timezone", "Europe/London")
    run("ingest", case, tmp_path / "evidence")
    return case


def test_a_mapping_file_maps_tables_with_the_plugins_normalisers(shop_case: Path, tmp_path: Path) -> None:
    mapping = write(tmp_path / "shop.toml", MAPPING)
    digest = hashlib.sha256(MAPPING.encode()).hexdigest()
    out = run("extract", shop_case, "--mapping", mapping).stdout
    assert f"mapping file {mapping} (sha256 {digest[:12]}) used" in out

    accounts = pl.read_parquet(shop_case / "tables" / "accounts.parquet")
    assert accounts.height == 3  # every row, also the one whose values do not parse
    rows = {r["account_id"]: r for r in accounts.iter_rows(named=True)}
    assert rows["7"]["phone_e164"] == "+49301234567" and rows["7"]["phone_raw"] == "030 1234567"  # region DE
    assert rows["8"]["phone_e164"] == "+442079460000"
    assert (rows["9"]["phone_raw"], rows["9"]["phone_e164"]) == ("ask admin", None)
    assert str(rows["7"]["created_at"]) == "2023-03-12 13:05:00+00:00"  # Berlin, winter time
    assert (rows["8"]["created_at"], rows["8"]["created_at_text"]) == (None, "26.03.2023 02:30")
    assert (rows["9"]["created_at"], rows["9"]["created_at_text"]) == (None, "gestern")
    assert (rows["7"]["display_name"], rows["8"]["display_name"], rows["9"]["display_name"]) == (
        "Max Muster", "Erika", None)
    assert rows["7"]["status"] == "customer"
    assert rows["7"]["_extractor"] == f"mapping:shop.toml@{digest[:12]}"
    assert (rows["7"]["_source_path"], rows["7"]["_source_table"]) == ("export/kunden.csv", "kunden")
    assert rows["7"]["_source_locator"].startswith("line ")

    payments = pl.read_parquet(shop_case / "tables" / "payments.parquet")
    assert payments["amount"].to_list() == [Decimal("12.5"), Decimal("0.0025")]
    assert payments["amount_text"].to_list() == ["12,50", "0.0025"]
    assert payments["currency"].to_list() == ["EUR", "BTC"]
    assert payments["account_id"].to_list() == ["7", "8"]
    assert str(payments["paid_at"][0]) == "2023-03-12 14:20:00+00:00"  # the case's timezone, London (GMT)

    entry = json.loads((shop_case / "audit.jsonl").read_text().splitlines()[-1])
    assert {"path": str(mapping), "sha256": digest, "kind": "mapping"} in entry["inputs"]
    assert entry["details"]["mapping_files"] == [{"path": str(mapping), "sha256": digest}]
    assert "tables/recognised-mapping.toml" in {o["path"] for o in entry["outputs"]}
    review = (shop_case / "tables" / "recognised-mapping.toml").read_text()
    assert "kunden" not in review and "No raw table was left for the recogniser" in review  # not mapped twice


def test_what_the_recogniser_wrote_can_be_passed_back(shop_case: Path, tmp_path: Path) -> None:
    lines = ["id,username,email,phone,created"] + [
        f"{i},user{i},user{i}@example.org,+44 7700 900{i:03d},2023-03-{i + 1:02d} 14:05:00" for i in range(12)]
    write(tmp_path / "more/members.csv", "\n".join(lines) + "\n")
    run("ingest", shop_case, tmp_path / "more")
    run("extract", shop_case)
    first = pl.read_parquet(shop_case / "tables" / "accounts.parquet")
    assert first.height == 12 and set(first["_extractor"]) == {"generic@1.0"}
    review = shop_case / "tables" / "recognised-mapping.toml"
    refused = run("extract", shop_case, "--mapping", review, expect=1).stderr
    assert "extract writes this file anew; copy it out of the case" in refused
    copy = write(tmp_path / "reviewed.toml", review.read_text())
    run("extract", shop_case, "--mapping", copy)
    again = pl.read_parquet(shop_case / "tables" / "accounts.parquet")
    assert again.drop("_extractor").equals(first.drop("_extractor"))
    assert again["_extractor"][0].startswith("mapping:reviewed.toml@")


def test_exclude_and_a_mapping_that_replaces_a_plugin(tmp_path: Path) -> None:
    dump = (b"CREATE TABLE `users` (`id` int, `username` varchar(64), `email` varchar(128));\n"
            b"INSERT INTO `users` VALUES (1,'shadow','shadow@example.org'),(2,'ghost','ghost@example.org');\n")
    write(tmp_path / "evidence/spoofcall.sql", dump)
    write(tmp_path / "evidence/kunden.csv", KUNDEN)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, tmp_path / "evidence")
    mapping = write(tmp_path / "fix.toml", '[[table]]\nraw = "users"\nproduces = "accounts"\n'
                    '[table.columns]\naccount_id = "username"\n\n[[table]]\nraw = "kund*"\nexclude = true\n')
    out = run("extract", case, "--mapping", mapping).stdout
    assert "1 raw tables left unmapped by exclude = true" in out
    accounts = pl.read_parquet(case / "tables" / "accounts.parquet")
    assert accounts["account_id"].to_list() == ["shadow", "ghost"]  # the mapping, not sample-spoofcall
    assert set(accounts["_extractor"].str.split("@").list.first()) == {"mapping:fix.toml"}
    assert "kunden" not in (case / "tables" / "recognised-mapping.toml").read_text()


@pytest.mark.parametrize("text,message", [
    ("[[table]]\nraw = \"kunden\"\nproduces = accounts\n", "not valid TOML: Invalid value (at line 3, column 12)"),
    ("[[table]]\nraw = \"kunden\"\nproduces = \"customers\"\n[table.columns]\nemail = \"mail\"\n",
     "line 1: produces = 'customers' is not a canonical table"),
    ("# two\n\n[[table]]\nraw = \"kunden\"\nproduces = \"accounts\"\n[table.columns]\ne_mail = \"mail\"\n",
     "line 3: accounts has no column 'e_mail'"),
    ("[[table]]\nraw = \"kunden\"\nproduces = \"accounts\"\n[table.columns]\nemail = \"email\"\n",
     "line 1: email: no column 'email' in kunden of export/kunden.csv (its columns: kid, mail,"),
    ("[[table]]\nraw = \"customers\"\nproduces = \"accounts\"\n[table.columns]\nemail = \"mail\"\n",
     "line 1: no raw table 'customers'"),
    ("[[table]]\nraw = \"kunden\"\nproduced = \"accounts\"\n", "line 1: unknown key 'produced'"),
    ("[[table]]\nraw = \"kunden\"\nproduces = \"accounts\"\n[table.columns]\nemail = { column = \"mail\", "
     "format = \"%d\" }\n", "line 1: email: format is for time columns only"),
    ("[[table]]\nraw = \"kunden\"\nproduces = \"accounts\"\n[table.columns]\nphone_raw = \"tel\"\n"
     "phone_e164 = \"tel\"\n", "phone_e164 and phone_raw are the same value"),
])
def test_a_bad_mapping_file_is_one_line_naming_the_place_and_nothing_is_written(
        shop_case: Path, tmp_path: Path, text: str, message: str) -> None:
    run("extract", shop_case)
    before = {p.name: p.read_bytes() for p in (shop_case / "tables").iterdir()}
    good = write(tmp_path / "good.toml", MAPPING)
    bad = write(tmp_path / "bad.toml", text)
    result = run("extract", shop_case, "--mapping", good, "--mapping", bad, expect=1)
    assert result.stderr.startswith(f"forensics: error: {bad}") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (shop_case / "tables").iterdir()} == before
    entry = json.loads((shop_case / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["outcome"] == "failed" and "bad.toml" in entry["message"]


def test_two_mappings_of_one_table_onto_the_same_canonical_table_are_refused(shop_case: Path, tmp_path: Path) -> None:
    one = write(tmp_path / "one.toml", MAPPING)
    two = write(tmp_path / "two.toml", MAPPING)
    result = run("extract", shop_case, "--mapping", one, "--mapping", two, expect=1)
    assert "is already mapped to accounts by" in result.stderr and "one.toml line 2" in result.stderr


def test_the_case_keeps_a_phone_region(tmp_path: Path) -> None:
    def region(*args: str) -> str | None:
        case = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", *args)
        return json.loads((case / "case.json").read_text())["region"]

    assert region("--timezone", "Europe/Berlin") == "DE"
    assert region("--timezone", "America/New_York") == "US"
    assert region("--timezone", "UTC") is None
    assert region("--timezone", "UTC", "--region", "gb") == "GB"
    assert "unknown phone region 'XX'" in run("case", "init", tmp_path / "bad", "--case-ref", "R", "--examiner", "E",
                                              "--region", "XX", expect=1).stderr


def test_extract_uses_the_case_region_unless_told_and_old_cases_still_work(tmp_path: Path) -> None:
    write(tmp_path / "evidence/Master.csv", "src,dst,start,duration,billsec,disposition\n"
          "+442079460000,07700 900123,2024-03-01 12:00:00,70,65,ANSWERED\n")
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", "--timezone", "Europe/London")
    run("ingest", case, tmp_path / "evidence")

    def destination(*args: str) -> str | None:
        run("extract", case, *args)
        return pl.read_parquet(case / "tables" / "calls.parquet")["destination_e164"][0]

    assert destination() == "+447700900123"  # GB, from Europe/London
    assert destination("--region", "DE") == "+497700900123"
    meta = json.loads((case / "case.json").read_text())
    del meta["region"]  # a case made before cases had a region
    (case / "case.json").write_text(json.dumps(meta))
    assert destination() is None
    assert destination("--region", "GB") == "+447700900123"
    assert "unknown phone region" in run("extract", case, "--region", "Narnia", expect=1).stderr
