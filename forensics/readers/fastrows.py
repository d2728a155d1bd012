"""The fast path for the rows of an INSERT: whole tuples matched at once, converted by column.

Most rows in a dump are plain: quoted strings, numbers, NULL and hex. For a table of n
columns one regular expression matches a whole tuple of n such values, and the values
of many tuples are turned into columns with Polars in one go. Anything else (comments,
introducers, bit literals, keywords, odd spacing) fails the match and is read by the
general parser, value by value, with the same result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

import polars as pl

_MYSQL_VALUE = (rb"(?:'((?:[^'\\]++|\\.|'')*+)'"
                rb"|(NULL|-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|0x[0-9A-Fa-f]+))")
_POSTGRES_VALUE = (rb"(?:'((?:[^'\\]++|'')*+)'"
                   rb"|(NULL|-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|true|false))")
_SPACE = rb"[ \t]*"


@lru_cache(maxsize=256)
def tuple_pattern(width: int, mysql: bool) -> re.Pattern[bytes]:
    """A pattern matching one plain tuple of `width` values and the separator after it."""
    value = _SPACE + (_MYSQL_VALUE if mysql else _POSTGRES_VALUE) + _SPACE
    return re.compile(rb"\(" + b",".join([value] * width) + rb"\)[ \t\r\n]*(,[ \t\r\n]*)?", re.DOTALL)


def convert_column(quoted: Sequence[bytes | None], bare: Sequence[bytes | None], binary: bool, codec: str,
                   valid_utf8: bool, unescape: Callable[[bytes], bytes], mysql: bool) -> pl.Series:
    """One column of many tuples: quoted string contents and bare tokens, as lossless values.

    Returns a String series, or a Binary one when the column is binary or a value does not
    decode (the exact bytes are then kept for every value of the batch).
    """
    quoted_series = pl.Series(quoted, dtype=pl.Binary)
    bare_series = pl.Series(bare, dtype=pl.Binary)
    escaped = quoted_series.bin.contains(b"''")
    if mysql:
        escaped = escaped | quoted_series.bin.contains(b"\\")
    if escaped.any():
        quoted_series = pl.Series([None if v is None else unescape(v) for v in quoted], dtype=pl.Binary)
    hex_values = mysql and bool(bare_series.bin.starts_with(b"0x").any())
    if hex_values:  # 0x... is bytes, like a quoted string
        quoted_series = pl.Series([
            bytes.fromhex(b[2:].decode() if len(b) % 2 == 0 else "0" + b[2:].decode())
            if b is not None and b[:2] == b"0x" else q
            for q, b in zip(quoted_series.to_list(), bare, strict=True)], dtype=pl.Binary)
        bare_series = pl.Series([None if b is not None and b[:2] == b"0x" else b for b in bare], dtype=pl.Binary)
    frame = pl.DataFrame({"q": quoted_series, "b": bare_series})
    merged = frame.select(pl.coalesce(pl.col("q"), pl.when(pl.col("b") != b"NULL").then(pl.col("b")))).to_series()
    if binary or codec == "binary":
        return merged
    if codec == "utf-8" and valid_utf8 and not hex_values:
        return merged.cast(pl.String)
    values = merged.to_list()
    try:
        if codec == "cp1252":
            return pl.Series([None if v is None else v.decode("cp1252", "forensics_passthrough") for v in values],
                             dtype=pl.String)
        return pl.Series([None if v is None else v.decode(codec) for v in values], dtype=pl.String)
    except UnicodeDecodeError:
        return merged
