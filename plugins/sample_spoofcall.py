"""The sample caller-ID spoofing service (forensics sample generate): its users, payments and calls.

The service's MySQL database, dumped from its server as spoofcall*.sql, holds:

- users: id, username, email, phone, display_name, created_at, last_login_at, signup_ip,
  last_ip, status (older dumps have only some of these);
- payments: id, user_id, amount with its currency (BTC, or USD for vouchers), method,
  btc_address, tx_hash, paid_at, status;
- calls: id, user_id, caller_id (the number shown: spoofed), destination (the number
  called), started_at, duration, billed_seconds (billed by the minute), disposition.

Times are the server's local time (the case's timezone: Europe/London for the sample).
Phone numbers are as customers typed them in a British web form: UK numbers are often
national ('07700 900123'), so they are read as GB unless the case gives --region.
The same calls are also in the PBX's Master.csv, which the asterisk-cdr plugin reads.
"""

import polars as pl

from forensics.plugin import Accepts, Context, RawTable

NAME = "sample-spoofcall"
VERSION = "2.0"
PRODUCES = ("accounts", "payments", "calls")
ACCEPTS = Accepts(tables=("users", "payments", "calls"), files=("spoofcall*.sql",))
# A small raw table this plugin accepts: the contract test and `forensics plugins list` use it.
EXAMPLE = {
    "table": "spoofcall.payments",
    "source_path": "export/spoofcall.sql.gz!spoofcall.sql",
    "columns": {
        "id": ["1"], "user_id": ["1"], "amount": ["50.00"], "currency": ["USD"],
        "btc_address": ["bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"], "paid_at": ["2022-05-01 09:12:00"],
    },
}
HOME_REGION = "GB"  # the service's customers typed UK numbers without +44


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """Accounts from users, payments from payments, calls from calls."""
    kind = table.name.rsplit(".", 1)[-1]
    columns = set(table.columns)

    def column(name: str) -> pl.Expr:
        """The column, or null where this dump's version of the table lacks it."""
        return pl.col(name) if name in columns else pl.lit(None, pl.String)

    region = context.region or HOME_REGION
    if kind == "users" and {"id", "username"} <= columns:
        return {"accounts": table.select(
            account_id=pl.col("id"),
            username=pl.col("username"),
            email=column("email"),
            phone_raw=column("phone"),
            phone_e164=context.phone(column("phone"), region),
            display_name=column("display_name"),
            created_at=context.utc(column("created_at")),
            created_at_text=column("created_at"),
            last_seen_at=context.utc(column("last_login_at")),
            last_seen_at_text=column("last_login_at"),
            last_ip=column("last_ip"),
            status=column("status"),
        )}
    if kind == "payments" and {"id", "user_id", "amount", "paid_at"} <= columns:
        method = pl.col("method") if "method" in columns else (
            pl.when(column("btc_address").is_not_null()).then(pl.lit("bitcoin")))
        return {"payments": table.select(
            payment_id=pl.col("id"),
            account_id=pl.col("user_id"),
            amount=context.amount(pl.col("amount")),
            amount_text=pl.col("amount"),
            currency=column("currency"),
            method=method,
            crypto_address=column("btc_address"),
            tx_hash=column("tx_hash"),
            paid_at=context.utc(pl.col("paid_at")),
            paid_at_text=pl.col("paid_at"),
            status=column("status"),
        )}
    if kind == "calls" and {"id", "user_id", "caller_id", "destination", "started_at"} <= columns:
        return {"calls": table.select(
            call_id=pl.col("id"),
            account_id=pl.col("user_id"),
            caller_id_raw=pl.col("caller_id"),
            caller_id_e164=context.phone(pl.col("caller_id"), region),
            destination_raw=pl.col("destination"),
            destination_e164=context.phone(pl.col("destination"), region),
            started_at=context.utc(pl.col("started_at")),
            started_at_text=pl.col("started_at"),
            duration_s=context.seconds(column("duration")),
            billed_s=context.seconds(column("billed_seconds")),
            disposition=column("disposition"),
        )}
    return {}
