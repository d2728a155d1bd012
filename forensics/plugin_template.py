"""The files `forensics plugins new NAME` writes: a plugin and its test, both working as written."""

from __future__ import annotations

import re
from pathlib import Path

from forensics.errors import ForensicsError

PLUGIN = '''"""{title}: accounts from its users table.

Say here, for the examiner who reads this next, which database this is for, which tables
and columns it reads, and anything surprising about them (times in local time, amounts
in cents, numbers written without their country code...).
"""

import polars as pl

from forensics.plugin import Accepts, Context, RawTable

NAME = "{name}"
VERSION = "0.1"
PRODUCES = ("accounts",)
# The raw tables this plugin takes: see `forensics tables CASE` for their names and columns.
ACCEPTS = Accepts(tables=("users",), columns={{"id", "username"}})
# A small raw table it accepts, for its test and the contract test.
EXAMPLE = {{
    "table": "users",
    "source_path": "backup/site.sql",
    "columns": {{"id": ["1"], "username": ["shadow"], "email": ["shadow@example.org"], "phone": ["020 7946 0000"]}},
}}


def extract(table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """One account per row of users."""
    phone = pl.col("phone") if "phone" in table.columns else pl.lit(None, pl.String)
    return {{"accounts": table.select(
        account_id=pl.col("id"),
        username=pl.col("username"),
        email=pl.col("email") if "email" in table.columns else pl.lit(None, pl.String),
        phone_raw=phone,
        phone_e164=context.phone(phone),
    )}}
'''

TEST = '''"""Tests of the {name} plugin: run them with `python -m pytest {test_file}`."""

from pathlib import Path

from forensics.plugin import Context
from forensics.plugins import try_plugin

PLUGIN = Path(__file__).with_name("{plugin_file}")


def test_accounts_from_users() -> None:
    tables = try_plugin(PLUGIN, {{"id": ["1", "2"], "username": ["shadow", "o'brien"],
                                 "email": ["shadow@example.org", None], "phone": ["020 7946 0000", "n/a"]}},
                        table="users", context=Context(region="GB"))
    accounts = tables["accounts"]
    assert accounts["username"].to_list() == ["shadow", "o'brien"]
    assert accounts["phone_e164"].to_list() == ["+442079460000", None]  # not a number: null, raw text kept
    assert accounts["phone_raw"].to_list() == ["020 7946 0000", "n/a"]
    assert accounts["_source_locator"].to_list() == ["line 1", "line 2"]
'''


def write_plugin(name: str, folder: Path) -> tuple[Path, Path]:
    """Write NAME.py and test_NAME.py into folder; refuse to overwrite."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ForensicsError(f"{name!r}: a plugin name is lower-case letters, digits, - and _, starting with a letter")
    stem = name.replace("-", "_")
    plugin_file, test_file = folder / f"{stem}.py", folder / f"test_{stem}.py"
    for path in (plugin_file, test_file):
        if path.exists():
            raise ForensicsError(f"{path}: already exists; not overwritten")
    folder.mkdir(parents=True, exist_ok=True)
    title = name.replace("-", " ").replace("_", " ").capitalize()
    plugin_file.write_text(PLUGIN.format(name=name, title=title), encoding="utf-8")
    test_file.write_text(TEST.format(name=name, test_file=test_file.name, plugin_file=plugin_file.name),
                         encoding="utf-8")
    return plugin_file, test_file
