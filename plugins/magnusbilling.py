"""MagnusBilling 7 (open-source VoIP billing): users, refills and call records.

The platform keeps its customers in pkg_user, the credit they bought in pkg_refill and
the calls they made in pkg_cdr (answered calls only: failed ones are in pkg_cdr_failed).
In pkg_cdr, callerid is the caller ID presented, calledstation the number dialled,
sessiontime the billed seconds and real_sessiontime the seconds the call lasted;
terminatecauseid is kept as written (1 is an answered call). MagnusBilling writes
calledstation in international form without the + (447700900123): the plugin adds the +
to a number of 8 to 15 digits before normalising, and keeps the raw text. Times are in the server's
local time, the case's timezone. The currency of credit is the platform's base currency
(pkg_configuration, base_currency), not stored per row: left empty here.
"""

import polars as pl

from forensics.plugin import Accepts, Context, RawTable

NAME = "magnusbilling"
VERSION = "1.0"
PRODUCES = ("accounts", "payments", "calls")
ACCEPTS = Accepts(tables=("pkg_user", "pkg_refill", "pkg_cdr"))
EXAMPLE = {
    "table": "mbilling.pkg_cdr",
    "source_path": "backup/mbilling.sql",
    "columns": {
        "id": ["1"], "id_user": ["3"], "callerid": ["+442079460000"], "uniqueid": ["1652781600.7"],
        "starttime": ["2022-05-17 10:00:00"], "sessiontime": ["60"], "real_sessiontime": ["64"],
        "calledstation": ["447700900123"], "terminatecauseid": ["1"],
    },
}


def _text(table: RawTable, name: str) -> pl.Expr:
    return pl.col(name) if name in table.columns else pl.lit(None, pl.String)


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """Accounts from pkg_user, payments from pkg_refill, calls from pkg_cdr."""
    short = table.name.rsplit(".", 1)[-1]
    if short == "pkg_user":
        phone = pl.coalesce(_text(table, "mobile"), _text(table, "phone"))
        name = pl.concat_str([_text(table, "firstname"), _text(table, "lastname")], separator=" ", ignore_nulls=True)
        return {"accounts": table.select(
            account_id=pl.col("id"),
            username=_text(table, "username"),
            email=_text(table, "email"),
            phone_raw=phone,
            phone_e164=context.phone(phone),
            display_name=pl.when(name.str.strip_chars() != "").then(name.str.strip_chars()),
            created_at=context.utc(_text(table, "creationdate")),
            created_at_text=_text(table, "creationdate"),
            last_seen_at=context.utc(pl.coalesce(_text(table, "last_login"), _text(table, "lastuse"))),
            last_seen_at_text=pl.coalesce(_text(table, "last_login"), _text(table, "lastuse")),
            status=pl.col("active").replace_strict({"1": "active", "0": "inactive"}, default=pl.col("active"))
            if "active" in table.columns else None,
        )}
    if short == "pkg_refill":
        return {"payments": table.select(
            payment_id=pl.col("id"),
            account_id=_text(table, "id_user"),
            amount=context.amount(_text(table, "credit")),
            amount_text=_text(table, "credit"),
            method=_text(table, "description"),
            paid_at=context.utc(_text(table, "date")),
            paid_at_text=_text(table, "date"),
            status=pl.col("payment").replace_strict({"1": "paid", "0": "not paid"}, default=pl.col("payment"))
            if "payment" in table.columns else None,
        )}
    if short == "pkg_cdr":
        return {"calls": table.select(
            call_id=pl.coalesce(_text(table, "uniqueid"), pl.col("id")),
            account_id=_text(table, "id_user"),
            caller_id_raw=_text(table, "callerid"),
            caller_id_e164=context.phone(_text(table, "callerid")),
            destination_raw=_text(table, "calledstation"),
            destination_e164=context.phone(pl.when(_text(table, "calledstation").str.contains(r"^[1-9]\d{7,14}$"))
                                           .then(pl.concat_str([pl.lit("+"), _text(table, "calledstation")]))
                                           .otherwise(_text(table, "calledstation"))),
            started_at=context.utc(_text(table, "starttime")),
            started_at_text=_text(table, "starttime"),
            duration_s=context.seconds(_text(table, "real_sessiontime")),
            billed_s=context.seconds(_text(table, "sessiontime")),
            disposition=_text(table, "terminatecauseid"),
        )}
    return {}
