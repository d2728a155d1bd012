"""The canonical tables: accounts, payments and calls, declared once.

Each column has a Polars dtype and a description; schema checks, the docs' reference and
(later) the Excel column formats are all derived from this declaration. Every canonical
row also carries provenance columns, filled in by the core and never by a plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from forensics.case import Case

UTC_US = pl.Datetime("us", "UTC")
AMOUNT = pl.Decimal(38, 18)  # exact; 18 places hold the smallest unit of any currency or coin


@dataclass(frozen=True)
class Column:
    """One canonical column."""

    name: str
    dtype: pl.DataType
    description: str
    raw: str | None = None  # the column that keeps the source's text of a normalised value


def _columns(*specs: tuple[str, pl.DataType, str] | tuple[str, pl.DataType, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


TABLES: dict[str, tuple[Column, ...]] = {
    "accounts": _columns(
        ("account_id", pl.String(), "the account's identifier in the source (its key, as text)"),
        ("username", pl.String(), "login name"),
        ("email", pl.String(), "e-mail address as the source holds it"),
        ("phone_raw", pl.String(), "phone number as the source holds it"),
        ("phone_e164", pl.String(), "the phone number in E.164 (phonenumbers), null where it is not a number",
         "phone_raw"),
        ("display_name", pl.String(), "the name shown for the account"),
        ("created_at", UTC_US, "when the account was created (UTC)", "created_at_text"),
        ("created_at_text", pl.String(), "created_at as the source writes it"),
        ("last_seen_at", UTC_US, "last login or activity (UTC)", "last_seen_at_text"),
        ("last_seen_at_text", pl.String(), "last_seen_at as the source writes it"),
        ("last_ip", pl.String(), "the last IP address the source recorded"),
        ("status", pl.String(), "status as the source words it (active, blocked...)"),
    ),
    "payments": _columns(
        ("payment_id", pl.String(), "the payment's identifier in the source"),
        ("account_id", pl.String(), "the account that paid"),
        ("amount", AMOUNT, "the amount, exact", "amount_text"),
        ("amount_text", pl.String(), "the amount as the source writes it"),
        ("currency", pl.String(), "ISO 4217 code (or BTC, ...) of the amount"),
        ("method", pl.String(), "how it was paid (bitcoin, card, voucher...) as the source words it"),
        ("crypto_address", pl.String(), "the address paid to or from, for crypto payments"),
        ("tx_hash", pl.String(), "the transaction hash, for crypto payments"),
        ("paid_at", UTC_US, "when it was paid (UTC)", "paid_at_text"),
        ("paid_at_text", pl.String(), "paid_at as the source writes it"),
        ("status", pl.String(), "status as the source words it (paid, pending, refunded...)"),
    ),
    "calls": _columns(
        ("call_id", pl.String(), "the call's identifier in the source"),
        ("account_id", pl.String(), "the account that placed the call"),
        ("caller_id_raw", pl.String(), "the caller ID presented (possibly spoofed), as the source holds it"),
        ("caller_id_e164", pl.String(), "the caller ID in E.164, null where it is not a number", "caller_id_raw"),
        ("destination_raw", pl.String(), "the number called, as the source holds it"),
        ("destination_e164", pl.String(), "the number called in E.164, null where it is not a number",
         "destination_raw"),
        ("started_at", UTC_US, "when the call started (UTC)", "started_at_text"),
        ("started_at_text", pl.String(), "started_at as the source writes it"),
        ("duration_s", pl.Int64(), "seconds from start to end"),
        ("billed_s", pl.Int64(), "seconds billed (answered time)"),
        ("disposition", pl.String(), "outcome as the source words it (ANSWERED, NO ANSWER, BUSY...)"),
    ),
}

# Tables computed from the canonical ones (forensics/derived.py), not by plugins.
DERIVED: dict[str, tuple[Column, ...]] = {
    "victims": _columns(
        ("destination_e164", pl.String(), "the number called, in E.164 (the raw text where it is not a number)"),
        ("first_call_at", UTC_US, "the first call to it in any source (UTC)"),
        ("last_call_at", UTC_US, "the last call to it in any source (UTC)"),
        ("calls", pl.Int64(), "calls to it: the most any one source file records (sources that record the same "
                              "calls are not added up; where they hold different calls, a lower bound)"),
        ("answered_calls", pl.Int64(), "calls to it that were answered (disposition ANSWERED, or billed time): "
                                       "the most any one source records"),
        ("total_duration_s", pl.Int64(), "seconds of the calls to it: the largest total any one source gives"),
        ("total_billed_s", pl.Int64(), "billed seconds of the calls to it: the largest total any one source gives"),
        ("accounts", pl.Int64(), "how many accounts called it, in any source"),
        ("account_ids", pl.String(), "those accounts, sorted, separated by ', '"),
        ("sources", pl.Int64(), "how many source files record calls to it"),
        ("calls_by_source", pl.String(), "the calls to it each source file records, as 'path: calls', sorted by "
                                         "path, separated by '; '"),
    ),
    "account_summary": _columns(
        ("account_id", pl.String(), "the account"),
        ("calls", pl.Int64(), "calls it placed: the most any one source file records (sources that record the "
                              "same calls are not added up; where they hold different calls, a lower bound)"),
        ("numbers_called", pl.Int64(), "distinct numbers it called, in any source"),
        ("payments", pl.Int64(), "payments it made: per currency, the most any one source file records (an older "
                                 "dump of the same database is not added to the newer one), summed over currencies"),
        ("paid", pl.String(), "total paid per currency, the largest total any one source gives, to the cent or "
                              "finer, as 'EUR 10.00; USD 75.50'"),
        ("first_activity_at", UTC_US, "its first call, payment or creation in any source (UTC)"),
        ("last_activity_at", UTC_US, "its last call, payment or login in any source (UTC)"),
        ("calls_by_source", pl.String(), "the calls each source file records for it, as 'path: calls', sorted by "
                                         "path, separated by '; '"),
        ("payments_by_source", pl.String(), "the payments each source file records for it (all currencies), as "
                                            "'path: payments', sorted by path, separated by '; '"),
    ),
}

PROVENANCE: tuple[Column, ...] = _columns(
    ("_source_sha256", pl.String(), "SHA-256 of the source file the row was read from"),
    ("_source_path", pl.String(), "the source's path in the catalogue (archive members as outer.zip!inner/dump.sql)"),
    ("_source_table", pl.String(), "the raw table the row comes from"),
    ("_source_locator", pl.String(), "where in the source: line and byte offset in a dump, rowid, line in a CSV"),
    ("_extractor", pl.String(), "the plugin that made the row, as name@version"),
)


def unparsed_counts(table: str, frame: pl.LazyFrame) -> dict[str, int]:
    """Per normalised column, how many rows have source text but no normalised value (it did not parse)."""
    pairs = [(c.name, c.raw) for c in TABLES[table] if c.raw]
    if not pairs:
        return {}
    counts = frame.select(
        ((pl.col(raw).is_not_null() & (pl.col(raw).str.strip_chars() != "")) & pl.col(name).is_null())
        .sum().alias(name) for name, raw in pairs
    ).collect().row(0, named=True)
    return {name: int(count) for name, count in counts.items() if count}


def schema(table: str, provenance: bool = True) -> pl.Schema:
    """The Polars schema of a canonical table (with its provenance columns by default)."""
    columns = TABLES[table] + (PROVENANCE if provenance else ())
    return pl.Schema({c.name: c.dtype for c in columns})


def conform(table: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """A plugin's result in the canonical column order and dtypes; columns it does not give are null.

    Raises ValueError naming columns that are not canonical, so a plugin's typo is not
    silently dropped.
    """
    wanted = schema(table, provenance=False)
    given = frame.collect_schema()
    unknown = [name for name in given if name not in wanted and not name.startswith("_")]
    if unknown:
        raise ValueError(f"columns not in the canonical {table} table: {', '.join(unknown)}")
    return frame.select(
        (pl.col(name).cast(dtype, strict=True) if name in given else pl.lit(None, dtype)).alias(name)
        for name, dtype in wanted.items()
    )


def canonical_rows(case: Case) -> list[dict[str, Any]]:
    """One plain record per canonical table written in the case, for listing."""
    rows = []
    for name, columns in [*TABLES.items(), *DERIVED.items()]:
        path = case.path / "tables" / f"{name}.parquet"
        if path.exists():
            provenance = PROVENANCE if name in TABLES else ()
            rows.append({
                "name": name, "kind": "canonical" if name in TABLES else "derived", "format": "canonical", "source_path": None,
                "source_sha256": None, "rows": pl.scan_parquet(path, glob=False).select(pl.len()).collect().item(),
                "columns": [{"name": c.name, "declared_type": None, "stored_as": str(c.dtype)}
                            for c in columns + provenance],
                "parquet": f"tables/{name}.parquet",
            })
    return rows


def reference_markdown() -> str:
    """The Markdown reference of every canonical table, derived table and provenance column.

    Generated from TABLES, DERIVED and PROVENANCE: docs/canonical-tables.md holds exactly
    this text between its markers, and tests/test_docs.py fails when the two differ.
    """

    def type_text(dtype: pl.DataType) -> str:
        if isinstance(dtype, pl.Datetime):
            return f"time, {dtype.time_zone or 'naive'} (`Datetime({dtype.time_unit}, {dtype.time_zone})`)"
        if isinstance(dtype, pl.Decimal):
            return f"exact decimal (`Decimal({dtype.precision}, {dtype.scale})`)"
        words = {pl.String: "text", pl.Int64: "whole number", pl.Boolean: "true or false"}
        word = next((w for cls, w in words.items() if isinstance(dtype, cls)), "value")
        return f"{word} (`{dtype}`)"

    def table(columns: tuple[Column, ...]) -> list[str]:
        lines = ["| Column | Type | Description |", "|--------|------|-------------|"]
        lines += [f"| `{c.name}` | {type_text(c.dtype)} | {c.description.replace('|', chr(92) + '|')} |"
                  for c in columns]
        return [*lines, ""]

    out = ["## Canonical tables", "",
           "Made by the plugins from the raw tables; each is written to `tables/NAME.parquet`, and every "
           "row ends with the [provenance columns](#provenance-columns).", ""]
    for name, columns in TABLES.items():
        out += [f"### {name}", "", *table(columns)]
    out += ["## Derived tables", "",
            "Computed from the canonical tables, never by a plugin; they carry no provenance columns. Counts and "
            "totals are computed per source file and the largest one source gives is reported, never the sources "
            "added up; the `*_by_source` columns show each source's count.", ""]
    for name, columns in DERIVED.items():
        out += [f"### {name}", "", *table(columns)]
    out += ["## Provenance columns", "",
            "Filled in by the core on every row of a canonical table, never by a plugin.", "",
            *table(PROVENANCE)]
    return "\n".join(out).rstrip("\n") + "\n"
