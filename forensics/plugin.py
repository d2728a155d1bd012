"""What an extraction plugin is written against: the raw table it is given, and its context.

A plugin is one Python file that examiners can read in a minute:

    \"\"\"Asterisk call records: Master.csv files.\"\"\"
    import polars as pl
    from forensics.plugin import Accepts, Context, RawTable

    NAME = "asterisk-master-csv"
    VERSION = "1.0"
    PRODUCES = ("calls",)
    ACCEPTS = Accepts(columns={"src", "dst", "start", "billsec"}, files=("Master*.csv",))

    def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
        return {"calls": table.select(
            caller_id_raw=pl.col("src"),
            caller_id_e164=context.phone(pl.col("src")),
            ...
        )}

The core finds it, gives it each raw table it accepts, checks what it returns against
the canonical schema (forensics.canonical), and adds the provenance columns.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import polars as pl

LOCATOR = "_source_locator"


@dataclass(frozen=True)
class Accepts:
    """Which raw tables a plugin takes: every criterion given must hold (names compared without case).

    columns: columns the raw table must have; tables: patterns for the table's name (with
    or without its database prefix: "cdr" matches "asteriskcdrdb.cdr"); files: patterns
    for the source file's name.
    """

    columns: frozenset[str] | set[str] = frozenset()
    tables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def matches(self, table: str, columns: list[str], source_path: str) -> bool:
        """True when a raw table of this name and columns, read from this file, is accepted."""
        have = {c.lower() for c in columns}
        if not {c.lower() for c in self.columns} <= have:
            return False
        short = table.rsplit(".", 1)[-1]
        if self.tables and not any(fnmatch.fnmatch(name.lower(), pattern.lower())
                                   for pattern in self.tables for name in (table, short)):
            return False
        file_name = source_path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
        return not self.files or any(fnmatch.fnmatch(file_name.lower(), p.lower()) for p in self.files)


@dataclass
class RawTable:
    """A raw table as a plugin sees it: its rows (lazily), its name and where it was read from."""

    name: str
    columns: list[str]
    declared_types: dict[str, str | None]
    source_path: str
    source_sha256: str
    source_format: str
    frame: pl.LazyFrame  # the source's columns and _source_locator

    def select(self, *exprs: pl.Expr, **named: pl.Expr) -> pl.LazyFrame:
        """Canonical columns computed from this table's rows; the row's locator is kept for provenance."""
        return self.frame.select(*exprs, **named, **{LOCATOR: pl.col(LOCATOR)})

    def where(self, predicate: pl.Expr) -> RawTable:
        """The same table with only the rows for which predicate holds."""
        return RawTable(self.name, self.columns, self.declared_types, self.source_path, self.source_sha256,
                        self.source_format, self.frame.filter(predicate))


@dataclass
class Context:
    """The case's settings a plugin needs to normalise values, with helpers that use them."""

    timezone: str = "UTC"
    region: str | None = None  # default region for phone numbers written without a country code
    options: dict[str, Any] = field(default_factory=dict)
    reviews: list[Any] = field(default_factory=list)  # what plugins asked the examiner to review

    def review(self, item: Any) -> None:
        """Hand the core something the examiner must review, such as the recogniser's mapping of a table.

        The core takes it after the run: its as_dict() goes into the run's audit record, and
        its to_toml(source_path) into tables/recognised-mapping.toml.
        """
        self.reviews.append(item)

    def phone(self, value: pl.Expr, region: str | None = None) -> pl.Expr:
        """The phone number in E.164 (null where it is not one), with the phonenumbers library."""
        from forensics.normalize import phone_e164_expr

        return phone_e164_expr(value, region or self.region)

    def utc(self, value: pl.Expr, timezone: str | None = None) -> pl.Expr:
        """A time as UTC: naive times are taken in the case's timezone (or the one given)."""
        from forensics.normalize import to_utc_expr

        return to_utc_expr(value, timezone or self.timezone)

    def amount(self, value: pl.Expr) -> pl.Expr:
        """An amount as an exact decimal from text such as '12.50', '1,234.56' or '12.50 EUR' (null otherwise)."""
        from forensics.normalize import amount_expr

        return amount_expr(value)

    def seconds(self, value: pl.Expr) -> pl.Expr:
        """A whole number of seconds from text (null where it is not a number)."""
        return value.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
