"""Tables nobody has seen: recognised as accounts, payments or calls by their columns' names and content.

This plugin is the fallback: it is given only the raw tables that no other plugin
accepts and that no --mapping file names. For each, forensics.recognise scores every
column by its name (email, mobile, calledstation...) and by a sample of its values
(e-mail addresses, phone numbers, bitcoin addresses with a valid checksum, 64-hex
transaction hashes, amounts with decimals or a currency, times, whole seconds, IP
addresses), and the table as accounts, payments or calls. A table whose confidence
reaches THRESHOLD is mapped; below it, nothing is made. Either way the decision, each
column's confidence and its evidence are written to tables/recognised-mapping.toml: a
mapping file the examiner reviews, corrects and passes back with --mapping.
"""

import polars as pl

from forensics.mapping import apply
from forensics.plugin import Accepts, Context, RawTable
from forensics.recognise import recognise

NAME = "generic"
VERSION = "1.0"
PRODUCES = ("accounts", "payments", "calls")
ACCEPTS = Accepts()  # every raw table...
FALLBACK = True  # ...that no other plugin accepts
THRESHOLD = 0.5  # a table less sure than this is not mapped (0 to 1)
EXAMPLE = {
    "table": "shop.customers",
    "source_path": "var/backups/shop.sql",
    "columns": {"id": ["1", "2"], "mail": ["shadow@example.org", "burner@example.net"],
                "tel": ["+44 7700 900123", "+44 7700 900456"], "signup": ["2023-03-12 14:05:00", "2023-04-01 09:00:00"]},
}


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """The canonical table this raw table looks like, if the recogniser is sure enough."""
    found = recognise(table, region=context.region, threshold=THRESHOLD)
    found.mapping.extractor = f"{NAME}@{VERSION}"
    context.review(found)  # the core writes it to tables/recognised-mapping.toml and the audit log
    if not found.accepted:
        return {}
    return apply(found.mapping, table, context)
