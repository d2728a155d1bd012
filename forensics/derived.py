"""Tables computed from the canonical ones: victims and account_summary (declared in forensics.canonical).

victims has one row per number called: the list police use to contact the people a
fraud reached. account_summary has one row per account: what it called and what it paid.
Both are recomputed from tables/ whenever extract runs, in a stable order.
"""

from __future__ import annotations

import polars as pl

from forensics.canonical import DERIVED


def victims(calls: pl.LazyFrame) -> pl.LazyFrame:
    """One row per number called, with its calls, answered calls, durations and the accounts that called it."""
    number = pl.coalesce(pl.col("destination_e164"), pl.col("destination_raw"))
    answered = (pl.col("disposition").str.to_uppercase() == "ANSWERED") | (pl.col("billed_s") > 0)
    return (
        calls.filter(number.is_not_null())
        .group_by(number.alias("destination_e164"))
        .agg(
            pl.col("started_at").min().alias("first_call_at"),
            pl.col("started_at").max().alias("last_call_at"),
            pl.len().cast(pl.Int64).alias("calls"),
            answered.fill_null(False).sum().cast(pl.Int64).alias("answered_calls"),
            pl.col("duration_s").sum().cast(pl.Int64).alias("total_duration_s"),
            pl.col("billed_s").sum().cast(pl.Int64).alias("total_billed_s"),
            pl.col("account_id").drop_nulls().n_unique().cast(pl.Int64).alias("accounts"),
            pl.col("account_id").drop_nulls().unique().sort().str.join(", ").alias("account_ids"),
        )
        .sort("calls", "destination_e164", descending=[True, False])
        .select(_names("victims"))
    )


def account_summary(accounts: pl.LazyFrame, payments: pl.LazyFrame, calls: pl.LazyFrame) -> pl.LazyFrame:
    """One row per account: calls, numbers called, payments, total paid per currency, first and last activity."""
    number = pl.coalesce(pl.col("destination_e164"), pl.col("destination_raw"))
    call_stats = calls.filter(pl.col("account_id").is_not_null()).group_by("account_id").agg(
        pl.len().cast(pl.Int64).alias("calls"),
        number.drop_nulls().n_unique().cast(pl.Int64).alias("numbers_called"),
        pl.col("started_at").min().alias("first_call"),
        pl.col("started_at").max().alias("last_call"),
    )
    per_currency = payments.filter(pl.col("account_id").is_not_null()).group_by("account_id", "currency").agg(
        pl.len().alias("n"), pl.col("amount").sum().alias("total"),
        pl.col("paid_at").min().alias("first_paid"), pl.col("paid_at").max().alias("last_paid"),
    )
    payment_stats = per_currency.sort("account_id", "currency", nulls_last=True).group_by("account_id").agg(
        pl.col("n").sum().cast(pl.Int64).alias("payments"),
        pl.format("{} {}", pl.col("currency").fill_null("?"), _money(pl.col("total"))).str.join("; ").alias("paid"),
        pl.col("first_paid").min(), pl.col("last_paid").max(),
    )
    ids = pl.concat([frame.select(pl.col("account_id")) for frame in (accounts, payments, calls)]).filter(
        pl.col("account_id").is_not_null()).unique()
    created = accounts.group_by("account_id").agg(pl.col("created_at").min(), pl.col("last_seen_at").max())
    return (
        ids.join(call_stats, on="account_id", how="left")
        .join(payment_stats, on="account_id", how="left")
        .join(created, on="account_id", how="left")
        .with_columns(
            pl.col("calls").fill_null(0), pl.col("numbers_called").fill_null(0), pl.col("payments").fill_null(0),
            pl.min_horizontal("first_call", "first_paid", "created_at").alias("first_activity_at"),
            pl.max_horizontal("last_call", "last_paid", "last_seen_at").alias("last_activity_at"),
        )
        .sort("account_id")
        .select(_names("account_summary"))
    )


def _money(total: pl.Expr) -> pl.Expr:
    """An exact decimal total as text without trailing zeros past the cents."""
    text = total.cast(pl.String)
    return text.str.replace(r"(\.\d\d\d*?)0+$", "$1").str.replace(r"\.$", "")


def _names(table: str) -> list[pl.Expr]:
    return [pl.col(c.name).cast(c.dtype) for c in DERIVED[table]]
