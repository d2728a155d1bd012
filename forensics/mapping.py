"""Mapping files: a raw table mapped onto a canonical table by a few lines of TOML, without code.

    [[table]]
    raw = "shop.customers"          # the raw table as `forensics tables` names it (glob allowed)
    file = "*.sql"                  # optional: the source file's name or path (glob allowed)
    produces = "accounts"
    region = "GB"                   # optional, default: extract --region, else the case's region
    timezone = "Europe/Berlin"      # optional, default: the case's timezone
    [table.columns]
    account_id = "id"
    email = "mail"
    phone_raw = "tel"               # phone_e164 is derived from it
    created_at = { column = "signup", format = "%d.%m.%Y %H:%M" }
    display_name = { columns = ["first", "last"] }   # joined with a space
    status = { value = "active" }   # the same text on every row

    [[table]]
    raw = "shop.sessions"
    exclude = true                  # leave this table unmapped

A column is named by its canonical name; a normalised column (phone_e164, created_at,
amount...) may be named by itself or by the column that keeps its text (phone_raw,
created_at_text, amount_text): either way the source's text goes into the text column and
the normalised value is computed from it with the plugins' helpers (forensics.plugin.Context).
A raw table named by a mapping is mapped only by it: neither plugins nor the recogniser
take it. The recogniser writes what it found in this same format (see forensics.recognise).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from forensics.canonical import AMOUNT, TABLES, UTC_US
from forensics.errors import ForensicsError
from forensics.plugin import Context, RawTable

TABLE_KEYS = {"raw", "file", "produces", "region", "timezone", "exclude", "columns"}
COLUMN_KEYS = {"column", "columns", "separator", "value", "format"}
_TABLE_HEADER = re.compile(r"^\s*\[\[\s*table\s*\]\]")


class MappingError(ForensicsError):
    """A mapping file that cannot be used, with the file and place named."""


@dataclass(frozen=True)
class ColumnSource:
    """Where one canonical column comes from: a raw column, several joined, or a constant text."""

    columns: tuple[str, ...] = ()
    value: str | None = None
    separator: str = " "
    format: str | None = None  # strptime format of a time (without it, Context.utc reads the usual forms)
    confidence: float | None = None  # the recogniser's, written as a comment
    evidence: str = ""

    def to_toml(self) -> str:
        """The value as it is written after `name = ` in a mapping file."""
        if self.value is not None:
            return "{ value = " + _quote(self.value) + " }"
        if len(self.columns) > 1:
            parts = ["columns = [" + ", ".join(_quote(c) for c in self.columns) + "]"]
            if self.separator != " ":
                parts.append(f"separator = {_quote(self.separator)}")
            return "{ " + ", ".join(parts) + " }"
        if self.format:
            return "{ column = " + _quote(self.columns[0]) + ", format = " + _quote(self.format) + " }"
        return _quote(self.columns[0])


@dataclass
class TableMapping:
    """One [[table]] of a mapping file: which raw tables it matches and how their columns map."""

    raw: str
    produces: str | None = None
    columns: dict[str, ColumnSource] = field(default_factory=dict)
    file: str | None = None
    region: str | None = None
    timezone: str | None = None
    exclude: bool = False
    place: str = ""  # "FILE line N", for messages
    extractor: str = ""  # what _extractor says on the rows it makes
    confidence: float | None = None  # the recogniser's, for the table
    evidence: str = ""

    def matches(self, table: str, source_path: str) -> bool:
        """True when this entry names that raw table (with or without its database prefix) of that source."""
        short = table.rsplit(".", 1)[-1]
        if not any(fnmatch.fnmatchcase(name.lower(), self.raw.lower()) for name in (table, short)):
            return False
        if self.file is None:
            return True
        file_name = source_path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(name.lower(), self.file.lower()) for name in (file_name, source_path))

    def to_toml(self, source_path: str | None = None) -> str:
        """This entry as a [[table]] block, confidences and evidence as comments."""
        lines = ["[[table]]", f"raw = {_quote(_glob_escape(self.raw))}"]
        if source_path is not None:
            lines.append(f"file = {_quote(_glob_escape(source_path))}")
        elif self.file:
            lines.append(f"file = {_quote(self.file)}")
        if self.exclude:
            return "\n".join([*lines, "exclude = true"])
        lines.append(f"produces = {_quote(self.produces or '')}")
        for key in ("region", "timezone"):
            if getattr(self, key):
                lines.append(f"{key} = {_quote(getattr(self, key))}")
        lines.append("[table.columns]")
        width = max((len(f"{k} = {s.to_toml()}") for k, s in self.columns.items()), default=0)
        for key, source in self.columns.items():
            text = f"{key} = {source.to_toml()}"
            note = ""
            if source.confidence is not None:
                note = f"{source.confidence:.2f}" + (f": {source.evidence}" if source.evidence else "")
            elif source.evidence:
                note = source.evidence
            lines.append(f"{text.ljust(width)}  # {note}" if note else text)
        return "\n".join(lines)


def _quote(text: str) -> str:
    """A TOML basic string."""
    return json.dumps(text, ensure_ascii=False)


def _glob_escape(text: str) -> str:
    """text as a glob pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def pairs(table: str) -> dict[str, tuple[str | None, str | None]]:
    """Each canonical column name to (normalised column, text column); either may be None.

    phone_raw and phone_e164 both give ('phone_e164', 'phone_raw'); email gives (None, 'email').
    """
    out: dict[str, tuple[str | None, str | None]] = {}
    for column in TABLES[table]:
        if column.raw:
            out[column.name] = out[column.raw] = (column.name, column.raw)
        elif column.name not in out:
            out[column.name] = (None, column.name) if column.dtype == pl.String() else (column.name, None)
    return out


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(path: Path) -> list[TableMapping]:
    """The entries of one mapping file, checked against the canonical tables; MappingError naming the place."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"--mapping {path}: cannot read it ({exc.strerror})") from None
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path}: not valid TOML: {exc}") from None
    extractor = f"mapping:{path.name}@{hashlib.sha256(data).hexdigest()[:12]}"
    unknown = sorted(set(parsed) - {"table"})
    if unknown:
        raise MappingError(f"{path}: unknown key {unknown[0]!r} at the top (write each table as [[table]])")
    entries = parsed.get("table", [])
    if not isinstance(entries, list):
        raise MappingError(f"{path}: write each table as [[table]] (an array of tables), not [table]")
    headers = [n for n, line in enumerate(data.decode("utf-8").splitlines(), 1) if _TABLE_HEADER.match(line)]
    return [_entry(entry, f"{path} line {headers[i] if i < len(headers) else '?'}", extractor)
            for i, entry in enumerate(entries)]


def _entry(entry: dict[str, Any], place: str, extractor: str) -> TableMapping:
    def fail(message: str) -> MappingError:
        return MappingError(f"{place}: {message}")

    unknown = sorted(set(entry) - TABLE_KEYS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (keys: {', '.join(sorted(TABLE_KEYS))})")
    raw = entry.get("raw")
    if not isinstance(raw, str) or not raw:
        raise fail("raw = \"TABLE\" is missing (the raw table as forensics tables names it)")
    for key in ("file", "region", "timezone", "produces"):
        if key in entry and not isinstance(entry[key], str):
            raise fail(f"{key} must be a text in quotes")
    exclude = entry.get("exclude", False)
    if not isinstance(exclude, bool):
        raise fail("exclude must be true or false")
    mapping = TableMapping(raw=raw, file=entry.get("file"), exclude=exclude, place=place, extractor=extractor)
    if exclude:
        if "produces" in entry or "columns" in entry:
            raise fail("exclude = true leaves the table unmapped: remove produces and [table.columns]")
        return mapping
    produces = entry.get("produces")
    if produces not in TABLES:
        raise fail(f"produces = {produces!r} is not a canonical table ({', '.join(TABLES)})")
    mapping.produces = produces
    if "region" in entry:
        import phonenumbers

        mapping.region = entry["region"].upper()
        if mapping.region not in phonenumbers.SUPPORTED_REGIONS:
            raise fail(f"unknown phone region {entry['region']!r} (an ISO 3166 code such as GB)")
    if "timezone" in entry:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(entry["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(f"unknown timezone {entry['timezone']!r} (an IANA name such as Europe/London)") from None
        mapping.timezone = entry["timezone"]
    columns = entry.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise fail("[table.columns] is missing: name at least one canonical column")
    known = pairs(produces)
    taken: dict[tuple[str | None, str | None], str] = {}
    for key, spec in columns.items():
        if key not in known:
            raise fail(f"{produces} has no column {key!r} (its columns: {', '.join(c.name for c in TABLES[produces])})")
        if known[key] in taken:
            raise fail(f"{key} and {taken[known[key]]} are the same value: name one of them")
        taken[known[key]] = key
        mapping.columns[key] = _column(spec, key, produces, fail)
    return mapping


def _column(spec: Any, key: str, table: str, fail: Any) -> ColumnSource:
    if isinstance(spec, str):
        return ColumnSource(columns=(spec,))
    if not isinstance(spec, dict):
        raise fail(f"{key}: give a raw column in quotes, or {{ column = ... }}")
    unknown = sorted(set(spec) - COLUMN_KEYS)
    if unknown:
        raise fail(f"{key}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(COLUMN_KEYS))})")
    given = [k for k in ("column", "columns", "value") if k in spec]
    if len(given) != 1:
        raise fail(f"{key}: give exactly one of column, columns, value")
    fmt = spec.get("format")
    if fmt is not None:
        normal = pairs(table)[key][0]
        if not isinstance(fmt, str) or normal is None or next(c.dtype for c in TABLES[table] if c.name == normal) != UTC_US:
            raise fail(f"{key}: format is for time columns only (a strptime format such as \"%d.%m.%Y %H:%M\")")
    if "value" in spec:
        if not isinstance(spec["value"], str):
            raise fail(f"{key}: value must be a text in quotes")
        return ColumnSource(value=spec["value"], format=fmt)
    names = [spec["column"]] if "column" in spec else spec["columns"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise fail(f"{key}: columns must be a list of raw column names in quotes")
    separator = spec.get("separator", " ")
    if not isinstance(separator, str):
        raise fail(f"{key}: separator must be a text in quotes")
    return ColumnSource(columns=tuple(names), separator=separator, format=fmt)


def load_all(paths: list[Path]) -> tuple[list[TableMapping], list[dict[str, str]]]:
    """Every entry of every mapping file, and each file's path and SHA-256 for the audit log."""
    mappings: list[TableMapping] = []
    files = []
    for path in paths:
        mappings += load(path)
        files.append({"path": str(path), "sha256": sha256_of(path)})
    return mappings, files


def claims(mappings: list[TableMapping], table: RawTable) -> list[TableMapping] | None:
    """The entries that map this raw table ([] when it is excluded), or None when no entry names it."""
    named = [m for m in mappings if m.matches(table.name, table.source_path)]
    if not named:
        return None
    return [m for m in named if not m.exclude]


def check(mappings: list[TableMapping], tables: list[RawTable]) -> None:
    """MappingError unless every entry names a raw table, and every column it names is in each of them."""
    for mapping in mappings:
        matched = [t for t in tables if mapping.matches(t.name, t.source_path)]
        if not matched:
            where = f" in a file matching {mapping.file!r}" if mapping.file else ""
            raise MappingError(f"{mapping.place}: no raw table {mapping.raw!r}{where} (forensics tables CASE lists them)")
        for table in matched:
            for key, source in mapping.columns.items():
                for name in source.columns:
                    if _raw_column(table, name) is None:
                        raise MappingError(f"{mapping.place}: {key}: no column {name!r} in {table.name} of "
                                           f"{table.source_path} (its columns: {', '.join(table.columns)})")
    for table in tables:
        seen: dict[str, str] = {}
        for mapping in claims(mappings, table) or []:
            if mapping.produces in seen:
                raise MappingError(f"{mapping.place}: {table.name} of {table.source_path} is already mapped to "
                                   f"{mapping.produces} by {seen[mapping.produces]}")
            seen[str(mapping.produces)] = mapping.place


def _raw_column(table: RawTable, name: str) -> str | None:
    """The raw column of that name: exact, else the one column that differs only in case."""
    if name in table.columns:
        return name
    folded = [c for c in table.columns if c.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _text(table: RawTable, source: ColumnSource, schema: pl.Schema) -> pl.Expr:
    """The source's text for one canonical column."""
    if source.value is not None:
        return pl.lit(source.value, pl.String)
    exprs = []
    for name in source.columns:
        column = _raw_column(table, name)
        if column is None:
            raise ValueError(f"no column {name!r} in {table.name}")
        dtype = schema[column]
        exprs.append(pl.col(column) if dtype in (pl.String(), pl.Binary()) else pl.col(column).cast(pl.String))
    if len(exprs) == 1:
        return exprs[0]
    parts = [pl.when(e.cast(pl.String).str.strip_chars() != "").then(e.cast(pl.String)) for e in exprs]
    joined = pl.concat_str(parts, separator=source.separator, ignore_nulls=True)
    return pl.when(joined != "").then(joined)  # empty parts are left out; none at all is null


def _time(text: pl.Expr, fmt: str | None, timezone: str, context: Context) -> pl.Expr:
    if fmt is None:
        return context.utc(text, timezone)
    parsed = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    if "%z" in fmt or "%Z" in fmt:  # the text says its offset
        return parsed.dt.convert_time_zone("UTC")
    return parsed.dt.replace_time_zone(timezone, ambiguous="null", non_existent="null").dt.convert_time_zone("UTC")


def apply(mapping: TableMapping, table: RawTable, context: Context) -> dict[str, pl.LazyFrame]:
    """The canonical table a mapping makes of a raw table, with the same helpers as plugins."""
    produces = str(mapping.produces)
    known = pairs(produces)
    schema = table.frame.collect_schema()
    timezone = mapping.timezone or context.timezone
    region = mapping.region or context.region
    dtypes = {c.name: c.dtype for c in TABLES[produces]}
    exprs: dict[str, pl.Expr] = {}
    for key, source in mapping.columns.items():
        normal, text_column = known[key]
        text = _text(table, source, schema)
        if text_column is not None:
            exprs[text_column] = text
        if normal is None:
            continue
        dtype = dtypes[normal]
        if dtype == UTC_US:
            exprs[normal] = _time(text, source.format, timezone, context)
        elif dtype == AMOUNT:
            exprs[normal] = context.amount(text)
        elif dtype == pl.Int64():
            exprs[normal] = context.seconds(text)
        else:  # phone numbers
            exprs[normal] = context.phone(text, region)
    if produces == "payments" and "amount_text" in exprs and "currency" not in exprs:
        from forensics.normalize import currency_of_expr

        exprs["currency"] = currency_of_expr(exprs["amount_text"])  # '12.50 EUR': the amount's text names it
    return {produces: table.select(**exprs)}


def to_toml(blocks: list[str], header: str) -> str:
    """A mapping file: a header of comments, then the blocks."""
    head = "\n".join(f"# {line}".rstrip() for line in header.splitlines())
    return head + "\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")
