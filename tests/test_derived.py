"""victims and account_summary: figures per source, the largest one source gives, never the sources added up."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

from forensics.canonical import AMOUNT, DERIVED, UTC_US
from forensics.derived import account_summary, derived_tables, victims

CDR = "var/log/asterisk/cdr-csv/Master.csv"
DUMP = "var/backups/mysql/spoofcall.sql"
OLD_DUMP = "root/backups/old.tar.gz!old.tar!backup/spoofcall.sql"
TEXT = {name: pl.String for name in ("call_id", "payment_id", "account_id", "destination_raw", "destination_e164",
                                     "disposition", "currency", "_source_sha256", "_source_path")}


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, 1, hour, minute, tzinfo=UTC)


def calls_from(path: str, rows: list[tuple[str, str, int, int, int, str]], skew_min: int = 0) -> pl.DataFrame:
    """Calls as one source file records them: (account, destination, hour, duration, billed, disposition)."""
    return pl.DataFrame({
        "call_id": [f"{path}-{i}" for i in range(len(rows))],
        "account_id": [r[0] for r in rows],
        "destination_raw": [r[1] for r in rows], "destination_e164": [r[1] for r in rows],
        "started_at": [at(r[2], skew_min) for r in rows],
        "duration_s": [r[3] for r in rows], "billed_s": [r[4] for r in rows],
        "disposition": [r[5] for r in rows],
        "_source_sha256": [hashlib.sha256(path.encode()).hexdigest()] * len(rows), "_source_path": [path] * len(rows),
    }, schema_overrides={"started_at": UTC_US, "duration_s": pl.Int64, "billed_s": pl.Int64, **TEXT})


def payments_from(path: str, rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    """Payments as one dump holds them: (account, amount, currency, hour)."""
    return pl.DataFrame({
        "payment_id": [str(i) for i in range(len(rows))],
        "account_id": [r[0] for r in rows], "amount": [Decimal(r[1]) for r in rows],
        "currency": [r[2] for r in rows], "paid_at": [at(r[3]) for r in rows],
        "_source_sha256": [hashlib.sha256(path.encode()).hexdigest()] * len(rows), "_source_path": [path] * len(rows),
    }, schema_overrides={"amount": AMOUNT, "paid_at": UTC_US, **TEXT})


def no_accounts() -> pl.LazyFrame:
    return pl.DataFrame(schema={"account_id": pl.String, "created_at": UTC_US, "last_seen_at": UTC_US}).lazy()


def no_payments() -> pl.LazyFrame:
    return payments_from(DUMP, []).lazy()


CALLS = [
    ("7", "+447700900123", 9, 70, 65, "ANSWERED"),
    ("7", "+447700900123", 10, 5, 0, "NO ANSWER"),
    ("8", "+447700900123", 11, 30, 25, "ANSWERED"),
    ("8", "+447700900456", 12, 10, 0, "BUSY"),
]
FIGURES = ["destination_e164", "calls", "answered_calls", "total_duration_s", "total_billed_s", "accounts",
           "account_ids"]


def test_two_sources_that_record_the_same_calls_give_the_figures_of_one() -> None:
    one = victims(calls_from(DUMP, CALLS).lazy()).collect()
    both = pl.concat([calls_from(DUMP, CALLS), calls_from(CDR, CALLS, skew_min=1)])  # the CDR's clock runs ahead
    two = victims(both.lazy()).collect()
    assert two.select(FIGURES).rows() == one.select(FIGURES).rows() == [
        ("+447700900123", 3, 2, 105, 90, 2, "7, 8"), ("+447700900456", 1, 0, 10, 0, 1, "8")]
    top = two.row(0, named=True)
    assert (top["sources"], top["calls_by_source"]) == (2, f"{DUMP}: 3; {CDR}: 3")  # sorted by path
    assert (top["first_call_at"], top["last_call_at"]) == (at(9), at(11, 1))  # times over all sources

    summary = account_summary(no_accounts(), no_payments(), both.lazy()).collect()
    assert summary.select("account_id", "calls", "numbers_called").rows() == [("7", 2, 1), ("8", 2, 2)]
    assert summary["calls_by_source"].to_list() == [f"{DUMP}: 2; {CDR}: 2", f"{DUMP}: 2; {CDR}: 2"]


def test_two_sources_with_different_calls_give_the_larger_and_show_both() -> None:
    # The CDR was rotated: it keeps one of the dump's calls, and has a long call the dump lacks.
    cdr = [CALLS[1], ("9", "+447700900123", 13, 200, 190, "ANSWERED")]
    both = pl.concat([calls_from(DUMP, CALLS), calls_from(CDR, cdr)]).lazy()
    table = victims(both).collect()
    first = table.row(0, named=True)
    # calls and answered calls the dump's (3, 2), not 5 and 3; seconds the CDR's (its totals are larger).
    assert (first["destination_e164"], first["calls"], first["answered_calls"], first["total_duration_s"],
            first["total_billed_s"]) == ("+447700900123", 3, 2, 205, 190)
    assert (first["accounts"], first["account_ids"]) == (3, "7, 8, 9")  # accounts over all sources
    assert (first["sources"], first["calls_by_source"]) == (2, f"{DUMP}: 3; {CDR}: 2")
    second = table.row(1, named=True)
    assert (second["calls"], second["sources"], second["calls_by_source"]) == (1, 1, f"{DUMP}: 1")

    summary = {r["account_id"]: r for r in account_summary(no_accounts(), no_payments(), both).collect()
               .iter_rows(named=True)}
    assert (summary["7"]["calls"], summary["7"]["calls_by_source"]) == (2, f"{DUMP}: 2; {CDR}: 1")
    assert (summary["9"]["calls"], summary["9"]["calls_by_source"]) == (1, f"{CDR}: 1")
    assert (summary["8"]["calls"], summary["8"]["numbers_called"]) == (2, 2)


def test_payments_of_an_older_dump_of_the_same_database_are_not_added() -> None:
    new = [("7", "0.015", "BTC", 9), ("7", "0.005", "BTC", 10), ("7", "25", "USD", 11), ("8", "50", "USD", 12)]
    old = new[:1]  # the backup was taken after the first payment
    payments = pl.concat([payments_from(DUMP, new), payments_from(OLD_DUMP, old)]).lazy()
    summary = {r["account_id"]: r for r in account_summary(no_accounts(), payments, calls_from(DUMP, []).lazy())
               .collect().iter_rows(named=True)}
    assert (summary["7"]["payments"], summary["7"]["paid"]) == (3, "BTC 0.02; USD 25.00")
    assert summary["7"]["payments_by_source"] == f"{OLD_DUMP}: 1; {DUMP}: 3"
    assert (summary["8"]["payments"], summary["8"]["paid"], summary["8"]["payments_by_source"]) == (
        1, "USD 50.00", f"{DUMP}: 1")
    assert (summary["7"]["first_activity_at"], summary["7"]["last_activity_at"]) == (at(9), at(11))


def test_per_currency_each_figure_is_the_largest_one_source_gives() -> None:
    # Two sources that disagree: one has more BTC rows, the other the larger USD total.
    a = [("7", "0.01", "BTC", 9), ("7", "0.01", "BTC", 10), ("7", "10", "USD", 11)]
    b = [("7", "0.03", "BTC", 9), ("7", "40", "USD", 11)]
    payments = pl.concat([payments_from(DUMP, a), payments_from(OLD_DUMP, b)]).lazy()
    row = account_summary(no_accounts(), payments, calls_from(DUMP, []).lazy()).collect().row(0, named=True)
    assert (row["payments"], row["paid"]) == (3, "BTC 0.03; USD 40.00")


def test_rows_are_ordered_by_the_conservative_figure_with_the_declared_types() -> None:
    # +...123 is called twice, recorded by both sources; +...456 three times, recorded by the dump alone.
    twice = [("7", "+447700900123", 9, 10, 0, "BUSY"), ("7", "+447700900123", 10, 10, 0, "BUSY")]
    thrice = [("8", "+447700900456", hour, 10, 0, "BUSY") for hour in (11, 12, 13)]
    both = pl.concat([calls_from(DUMP, twice + thrice), calls_from(CDR, twice)]).lazy()
    table = victims(both).collect()
    assert table.select("destination_e164", "calls").rows() == [
        ("+447700900456", 3), ("+447700900123", 2)]  # most calls first (2, not 4, for the twice-recorded)
    assert table["sources"].to_list() == [1, 2]
    assert table.schema == pl.Schema({c.name: c.dtype for c in DERIVED["victims"]})
    summary = account_summary(no_accounts(), no_payments(), both).collect()
    assert summary.schema == pl.Schema({c.name: c.dtype for c in DERIVED["account_summary"]})
    assert summary.select("account_id", "calls").rows() == [("7", 2), ("8", 3)]


def test_frames_without_provenance_are_one_source() -> None:
    calls = calls_from(DUMP, CALLS).drop("_source_sha256", "_source_path").lazy()
    row = victims(calls).collect().row(0, named=True)
    assert (row["calls"], row["sources"], row["calls_by_source"]) == (3, 1, "?: 3")


def test_derived_tables_share_the_pairs_and_give_what_each_function_gives() -> None:
    # A number only ever called from calls without an account, and an account whose calls have no number.
    rows = CALLS + [(None, "+447700900789", 14, 3, 0, "BUSY"), ("9", None, 15, 4, 0, "BUSY")]
    both = pl.concat([calls_from(DUMP, rows), calls_from(CDR, rows[:2])]).lazy()
    payments = payments_from(DUMP, [("7", "0.5", "BTC", 9)]).lazy()
    tables = derived_tables(no_accounts(), payments, both)
    assert tables["victims"].equals(victims(both).collect())
    assert tables["account_summary"].equals(account_summary(no_accounts(), payments, both).collect())
    orphan = tables["victims"].filter(pl.col("destination_e164") == "+447700900789").row(0, named=True)
    assert (orphan["calls"], orphan["accounts"], orphan["account_ids"]) == (1, 0, "")
    nine = tables["account_summary"].filter(pl.col("account_id") == "9").row(0, named=True)
    assert (nine["calls"], nine["numbers_called"]) == (1, 0)
