"""FreeSWITCH call detail records written by mod_cdr_csv (its default "example" template).

Each line is one call leg: caller_id_number is the caller ID presented (caller_id_name its
display name), destination_number the number dialled, start_stamp when the call started
(in the server's local time: the case's timezone), duration its seconds and billsec the
answered seconds; hangup_cause says how it ended (NORMAL_CLEARING, NO_ANSWER,
USER_BUSY...). The reader recognises these header-less files by their shape and names
their columns; a CSV with a header of the same names is taken too.
"""

import polars as pl

from forensics.plugin import Accepts, Context, RawTable

NAME = "freeswitch-cdr"
VERSION = "1.0"
PRODUCES = ("calls",)
ACCEPTS = Accepts(columns={"caller_id_number", "destination_number", "start_stamp", "duration", "billsec",
                           "hangup_cause"})
EXAMPLE = {
    "table": "Master",
    "source_path": "var/log/freeswitch/cdr-csv/Master.csv",
    "columns": {
        "caller_id_name": ["Bank"], "caller_id_number": ["+442079460000"], "destination_number": ["+447700900123"],
        "start_stamp": ["2024-03-01 12:00:00"], "duration": ["70"], "billsec": ["65"],
        "hangup_cause": ["NORMAL_CLEARING"], "uuid": ["a1b2c3d4-0000-1111-2222-333344445555"],
        "accountcode": ["shadow"],
    },
}


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """One call per line."""
    def text(name: str) -> pl.Expr:
        return pl.col(name) if name in table.columns else pl.lit(None, pl.String)

    return {"calls": table.select(
        call_id=text("uuid"),
        account_id=pl.when(text("accountcode") != "").then(text("accountcode")),
        caller_id_raw=pl.col("caller_id_number"),
        caller_id_e164=context.phone(pl.col("caller_id_number")),
        destination_raw=pl.col("destination_number"),
        destination_e164=context.phone(pl.col("destination_number")),
        started_at=context.utc(pl.col("start_stamp")),
        started_at_text=pl.col("start_stamp"),
        duration_s=context.seconds(pl.col("duration")),
        billed_s=context.seconds(pl.col("billsec")),
        disposition=pl.col("hangup_cause"),
    )}
