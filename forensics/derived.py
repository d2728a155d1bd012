"""Tables computed from the canonical ones: victims and account_summary (declared in forensics.canonical).

victims has one row per number called: the list police use to contact the people a
fraud reached. account_summary has one row per account: what it called and what it paid.
Both are recomputed from tables/ whenever extract runs, in a stable order.

Counts and sums are conservative. A seized server often records the same calls twice
(the PBX's CDR and the billing database) and keeps older dumps of the same database in
its backups, so the canonical tables hold the same event once per source. Adding the
sources up would overstate every figure; so each figure is computed per source file
(the rows' _source_sha256 and _source_path) and the largest any one source gives is
the one reported. Where sources hold different events, that is a lower bound. The
per-source counts are shown beside it (calls_by_source, payments_by_source), so the
examiner sees what every source says. Times (first, last) and distinct values (accounts,
numbers called) need no such care: they are taken over all rows.
"""

from __future__ import annotations

import polars as pl

from forensics.canonical import DERIVED

SOURCE = ("_source_sha256", "_source_path")
NUMBER = pl.coalesce(pl.col("destination_e164"), pl.col("destination_raw"))  # the number called, as best known
UNKNOWN_SOURCE = "?"  # a frame without provenance columns (built by hand) is one source


def victims(calls: pl.LazyFrame, pairs: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per number called: calls, answered calls and seconds (the most one source gives), the accounts.

    pairs (number_account_pairs(calls), given when already collected) saves grouping the calls again.
    """
    answered = (pl.col("disposition").str.to_uppercase() == "ANSWERED") | (pl.col("billed_s") > 0)
    rows = _with_source(calls).filter(NUMBER.is_not_null()).with_columns(NUMBER.alias("destination_e164"))
    per_source = rows.group_by("destination_e164", *SOURCE).agg(
        pl.len().cast(pl.Int64).alias("calls"),
        answered.fill_null(False).sum().cast(pl.Int64).alias("answered_calls"),
        pl.col("duration_s").sum().cast(pl.Int64).alias("total_duration_s"),
        pl.col("billed_s").sum().cast(pl.Int64).alias("total_billed_s"),
        pl.col("started_at").min().alias("first_call_at"),
        pl.col("started_at").max().alias("last_call_at"),
    ).with_columns(_source_text())
    figures = per_source.group_by("destination_e164").agg(
        pl.col("calls", "answered_calls", "total_duration_s", "total_billed_s").max(),
        pl.len().cast(pl.Int64).alias("sources"),
        _by_source("calls").alias("calls_by_source"),
        pl.col("first_call_at").min(), pl.col("last_call_at").max(),  # over all rows, not one source
    )
    # Distinct accounts per number, from the distinct (number, account) pairs: far fewer than calls.
    accounts = (number_account_pairs(calls) if pairs is None else pairs).group_by("destination_e164").agg(
        pl.len().cast(pl.Int64).alias("accounts"),
        pl.col("account_id").sort().str.join(", ").alias("account_ids"),
    )
    return (
        figures.join(accounts, on="destination_e164", how="left")
        .with_columns(pl.col("accounts").fill_null(0), pl.col("account_ids").fill_null(""))
        .sort("calls", "destination_e164", descending=[True, False])
        .select(_names("victims"))
    )


def number_account_pairs(calls: pl.LazyFrame) -> pl.LazyFrame:
    """The distinct (number called, account) pairs of the calls where both are known.

    Both derived tables count distinct values from them (accounts per number, numbers per
    account); computed once, they spare grouping every call twice more.
    """
    return calls.select(NUMBER.alias("destination_e164"), pl.col("account_id")).drop_nulls().unique()


def account_summary(accounts: pl.LazyFrame, payments: pl.LazyFrame, calls: pl.LazyFrame,
                    pairs: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per account: calls, numbers called, payments and paid (the most one source gives), first and last activity.

    pairs (number_account_pairs(calls), given when already collected) saves grouping the calls again.
    """
    per_source = (
        _with_source(calls).filter(pl.col("account_id").is_not_null())
        .group_by("account_id", *SOURCE).agg(
            pl.len().cast(pl.Int64).alias("calls"),
            pl.col("started_at").min().alias("first_call"), pl.col("started_at").max().alias("last_call"))
        .with_columns(_source_text())
    )
    call_figures = per_source.group_by("account_id").agg(
        pl.col("calls").max(), _by_source("calls").alias("calls_by_source"),
        pl.col("first_call").min(), pl.col("last_call").max(),  # over all rows, not one source
    )
    numbers = (number_account_pairs(calls) if pairs is None else pairs).group_by("account_id").agg(
        pl.len().cast(pl.Int64).alias("numbers_called"))
    payments_per_source = (
        _with_source(payments).filter(pl.col("account_id").is_not_null())
        .group_by("account_id", "currency", *SOURCE)
        .agg(
            pl.len().cast(pl.Int64).alias("n"), pl.col("amount").sum().alias("total"),
            pl.col("paid_at").min().alias("first_paid"), pl.col("paid_at").max().alias("last_paid"),
        )
        .with_columns(_source_text())
    )
    # Per currency, the largest count and the largest total any one source gives (each on its own).
    per_currency = payments_per_source.group_by("account_id", "currency").agg(
        pl.col("n").max(), pl.col("total").max(), pl.col("first_paid").min(), pl.col("last_paid").max(),
    )
    payment_stats = per_currency.sort("account_id", "currency", nulls_last=True).group_by("account_id").agg(
        pl.col("n").sum().cast(pl.Int64).alias("payments"),
        pl.format("{} {}", pl.col("currency").fill_null("?"), _money(pl.col("total"))).str.join("; ").alias("paid"),
        pl.col("first_paid").min(), pl.col("last_paid").max(),
    )
    payment_sources = (
        payments_per_source.group_by("account_id", *SOURCE).agg(pl.col("n").sum().alias("payments"))
        .group_by("account_id").agg(_by_source("payments").alias("payments_by_source"))
    )
    ids = pl.concat([frame.select(pl.col("account_id")) for frame in (accounts, payments, call_figures)]).filter(
        pl.col("account_id").is_not_null()).unique()
    created = accounts.group_by("account_id").agg(pl.col("created_at").min(), pl.col("last_seen_at").max())
    return (
        ids.join(call_figures, on="account_id", how="left")
        .join(numbers, on="account_id", how="left")
        .join(payment_stats, on="account_id", how="left")
        .join(payment_sources, on="account_id", how="left")
        .join(created, on="account_id", how="left")
        .with_columns(
            pl.col("calls").fill_null(0), pl.col("numbers_called").fill_null(0), pl.col("payments").fill_null(0),
            pl.min_horizontal("first_call", "first_paid", "created_at").alias("first_activity_at"),
            pl.max_horizontal("last_call", "last_paid", "last_seen_at").alias("last_activity_at"),
        )
        .sort("account_id")
        .select(_names("account_summary"))
    )


def derived_tables(accounts: pl.LazyFrame, payments: pl.LazyFrame, calls: pl.LazyFrame) -> dict[str, pl.DataFrame]:
    """victims and account_summary, collected together; the (number, account) pairs both use are made once."""
    pairs = number_account_pairs(calls).collect().lazy()
    frames = pl.collect_all([victims(calls, pairs), account_summary(accounts, payments, calls, pairs)])
    return dict(zip(("victims", "account_summary"), frames, strict=True))


def _with_source(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The frame with its source columns as categoricals (quick to group by); a frame without them is one source."""
    given = frame.collect_schema()
    return frame.with_columns(
        (pl.col(name) if name in given else pl.lit(None, pl.String)).cast(pl.Categorical).alias(name)
        for name in SOURCE)


def _source_text() -> list[pl.Expr]:
    """The source columns back to text once grouped (so they sort by their text)."""
    return [pl.col(name).cast(pl.String) for name in SOURCE]


def _by_source(count: str) -> pl.Expr:
    """In a group of per-source rows: 'path: count; path: count', sources sorted by path (then SHA-256)."""
    path = pl.col("_source_path").fill_null(UNKNOWN_SOURCE)
    return pl.format("{}: {}", path, pl.col(count)).sort_by(path, pl.col("_source_sha256")).str.join("; ")


def _money(total: pl.Expr) -> pl.Expr:
    """An exact decimal total as text without trailing zeros past the cents."""
    text = total.cast(pl.String)
    return text.str.replace(r"(\.\d\d\d*?)0+$", "$1").str.replace(r"\.$", "")


def _names(table: str) -> list[pl.Expr]:
    return [pl.col(c.name).cast(c.dtype) for c in DERIVED[table]]
