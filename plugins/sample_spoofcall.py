"""The sample caller-ID spoofing service (samples/): its users and payments tables.

The service's database, as dumped from its server, holds users (id, username, email) and
payments (id, user_id, amount, currency, btc_address, paid_at), with times in the
server's local time.
"""

import polars as pl

from forensics.plugin import Accepts, Context, RawTable

NAME = "sample-spoofcall"
VERSION = "1.0"
PRODUCES = ("accounts", "payments")
ACCEPTS = Accepts(tables=("users", "payments"), files=("spoofcall*.sql",))
# A small raw table this plugin accepts: the contract test and `forensics plugins list` use it.
EXAMPLE = {
    "table": "spoofcall.payments",
    "source_path": "export/spoofcall.sql.gz!spoofcall.sql",
    "columns": {
        "id": ["1"], "user_id": ["1"], "amount": ["50.00"], "currency": ["USD"],
        "btc_address": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"], "paid_at": ["2022-05-01 09:12:00"],
    },
}


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """Accounts from users, payments from payments."""
    if table.name.rsplit(".", 1)[-1] == "users" and {"id", "username", "email"} <= set(table.columns):
        return {"accounts": table.select(
            account_id=pl.col("id"),
            username=pl.col("username"),
            email=pl.col("email"),
        )}
    if {"id", "user_id", "amount", "currency", "btc_address", "paid_at"} <= set(table.columns):
        return {"payments": table.select(
            payment_id=pl.col("id"),
            account_id=pl.col("user_id"),
            amount=context.amount(pl.col("amount")),
            amount_text=pl.col("amount"),
            currency=pl.col("currency"),
            method=pl.when(pl.col("btc_address").is_not_null()).then(pl.lit("bitcoin")),
            crypto_address=pl.col("btc_address"),
            paid_at=context.utc(pl.col("paid_at")),
            paid_at_text=pl.col("paid_at"),
        )}
    return {}
