"""Asterisk call detail records: Master.csv files (cdr_csv) and the cdr table of asteriskcdrdb.

Each record is one call. Asterisk writes the caller ID it presented in src (and clid, with
a display name), the number dialled in dst, the account in accountcode, when the call
started (start in Master.csv, calldate in the database), how long it lasted (duration)
and how long was billed (billsec), and what happened (disposition: ANSWERED, NO ANSWER,
BUSY, FAILED). Times are written in the server's local time: the case's timezone.
"""

import polars as pl

from forensics.plugin import Accepts, Context, RawTable

NAME = "asterisk-cdr"
VERSION = "1.0"
PRODUCES = ("calls",)
ACCEPTS = Accepts(columns={"src", "dst", "duration", "billsec", "disposition"})
# A small raw table this plugin accepts: the contract test and `forensics plugins list` use it.
EXAMPLE = {
    "table": "Master",
    "source_path": "var/log/asterisk/cdr-csv/Master.csv",
    "columns": {
        "accountcode": ["shadow"], "src": ["+442079460000"], "dst": ["+447700900123"],
        "start": ["2022-05-17 10:00:00"], "duration": ["70"], "billsec": ["65"],
        "disposition": ["ANSWERED"], "uniqueid": ["1652781600.1"],
    },
}


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """One call per record."""
    columns = {c.lower(): c for c in table.columns}
    started = pl.col(columns["start"] if "start" in columns else columns["calldate"])
    call_id = pl.col(columns["uniqueid"]) if "uniqueid" in columns else pl.lit(None, pl.String)
    account = pl.col(columns["accountcode"]) if "accountcode" in columns else pl.lit(None, pl.String)
    return {"calls": table.select(
        call_id=call_id,
        account_id=account,
        caller_id_raw=pl.col(columns["src"]),
        caller_id_e164=context.phone(pl.col(columns["src"])),
        destination_raw=pl.col(columns["dst"]),
        destination_e164=context.phone(pl.col(columns["dst"])),
        started_at=context.utc(started),
        started_at_text=started,
        duration_s=context.seconds(pl.col(columns["duration"])),
        billed_s=context.seconds(pl.col(columns["billsec"])),
        disposition=pl.col(columns["disposition"]),
    )}
