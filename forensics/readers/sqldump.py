"""SQL dumps (mysqldump, MariaDB, phpMyAdmin, Adminer, Sequel Pro; pg_dump plain) into raw tables.

The reader walks the dump statement by statement. CREATE TABLE gives each table its
columns and declared types; INSERT (and REPLACE, INSERT IGNORE, extended inserts) and
PostgreSQL's COPY ... FROM stdin give its rows, parsed as they stream past, so a single
INSERT of a gigabyte never has to be held whole. USE and \\connect name the database
(tables are then named db.table), SET NAMES and client_encoding the character set.
Everything else is either understood as harmless (SET, LOCK, DROP, indexes...) or
recorded as skipped: procedures, triggers, views, and statements that would change rows
(UPDATE, DELETE) are never applied.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from forensics.rawtables import (
    BATCH_ROWS,
    ColumnInfo,
    SourceWriter,
    TableWriter,
    Value,
    column_frame,
    unify_dtype,
)
from forensics.readers.fastrows import convert_column, tuple_pattern
from forensics.readers.scanner import NeedMore, Scanner

LOCATOR = ("_line", "_offset")
LOOKAHEAD = 1 << 16  # a row that fails this close to the window's end is read again with more bytes


def locator_names(columns: list[ColumnInfo]) -> tuple[str, str]:
    """The locator columns' names: _line and _offset, with more underscores where the source has those names."""
    taken = {c.name for c in columns}
    names = []
    for name in LOCATOR:
        while name in taken:
            name = "_" + name
        names.append(name)
    return names[0], names[1]

# MySQL's latin1 is Windows-1252 with the five unassigned bytes passed through.
codecs.register_error("forensics_passthrough", lambda exc: (
    "".join(chr(b) for b in exc.object[exc.start:exc.end]), exc.end))  # type: ignore[index,union-attr]

MYSQL_CHARSETS = {
    "utf8": "utf-8", "utf8mb3": "utf-8", "utf8mb4": "utf-8", "latin1": "cp1252", "ascii": "ascii",
    "latin2": "iso8859-2", "latin5": "iso8859-9", "latin7": "iso8859-13", "cp1250": "cp1250",
    "cp1251": "cp1251", "cp1256": "cp1256", "cp1257": "cp1257", "cp850": "cp850", "cp852": "cp852",
    "cp866": "cp866", "koi8r": "koi8-r", "koi8u": "koi8-u", "greek": "iso8859-7", "hebrew": "iso8859-8",
    "sjis": "shift_jis", "cp932": "cp932", "ujis": "euc_jp", "eucjpms": "euc_jp", "gbk": "gbk",
    "gb2312": "gb2312", "gb18030": "gb18030", "big5": "big5", "euckr": "euc_kr", "tis620": "tis-620",
    "utf16": "utf-16-be", "utf16le": "utf-16-le", "utf32": "utf-32-be", "ucs2": "utf-16-be",
    "binary": "binary",
}
POSTGRES_ENCODINGS = {
    "utf8": "utf-8", "unicode": "utf-8", "sql_ascii": "binary", "latin1": "latin-1", "latin2": "iso8859-2",
    "latin9": "iso8859-15", "win1252": "cp1252", "win1251": "cp1251", "win1250": "cp1250", "koi8r": "koi8-r",
    "koi8": "koi8-r", "euc_jp": "euc_jp", "sjis": "shift_jis", "gbk": "gbk", "big5": "big5", "euc_kr": "euc_kr",
}
BINARY_TYPES = {
    "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry", "point",
    "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection", "bytea",
}
SKIPPED_KINDS = ("PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "VIEW")
HARMLESS = {
    "SET", "LOCK", "UNLOCK", "DROP", "ALTER", "START", "BEGIN", "COMMIT", "CREATE", "SELECT", "ROLLBACK",
    "GRANT", "REVOKE", "COMMENT", "ANALYZE", "OPTIMIZE", "FLUSH", "SAVEPOINT", "RELEASE", "RESET", "DO",
}

_WORD = re.compile(rb"[A-Za-z_]+")
_IDENT = rb"(?:`(?:[^`]|``)+`|\"(?:[^\"]|\"\")+\"|\[[^\]]+\]|[A-Za-z0-9_$\x80-\xff]+)"
_QUALIFIED = rb"(?:" + _IDENT + rb"(?:\s*\.\s*" + _IDENT + rb"){0,2})"
_INSERT_HEAD = re.compile(
    rb"(?is)(INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY)\s+)?(IGNORE\s+)?(?:INTO\s+)?"
    rb"(" + _QUALIFIED + rb")\s*(?:PARTITION\s*\([^)]*\)\s*)?"
    rb"(\((?:[^()'\"`]|" + _IDENT + rb")*\))?\s*(?:OVERRIDING\s+(?:SYSTEM|USER)\s+VALUE\s+)?(VALUES?)(?![A-Za-z_])\s*")
_COPY_HEAD = re.compile(
    rb"(?is)COPY\s+(" + _QUALIFIED + rb")\s*(\((?:[^()'\"]|" + _IDENT + rb")*\))?\s*FROM\s+stdin\s*([^;]*);[ \t\r]*\n")
_IDENT_ONE = re.compile(_IDENT)
_DELIMITER_LINE = re.compile(rb"(?i)DELIMITER[ \t]+(\S+)[ \t]*\r?\n?")
_DIGITS = re.compile(rb"[0-9]*")

_MYSQL_VALUE = re.compile(rb"""
   '((?:[^'\\]++|\\.|'')*+)'
  |"((?:[^"\\]++|\\.|"")*+)"
  |([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?![A-Za-z0-9_.])
  |(NULL)(?![A-Za-z0-9_])
  |0x([0-9A-Fa-f]*)(?![A-Za-z0-9_])
  |[xX]'([0-9A-Fa-f]*)'
  |0b([01]*)(?![A-Za-z0-9_])
  |[bB]'([01]*)'
  |_([A-Za-z0-9]+)[ \t]*(?=['"]|0x|[xX]')
  |([A-Za-z_][A-Za-z0-9_]*(?:\([ \t]*[0-9]*[ \t]*\))?)(?!['"])
""", re.VERBOSE | re.DOTALL | re.IGNORECASE)
_POSTGRES_VALUE = re.compile(rb"""
   [eE]'((?:[^'\\]++|\\.|'')*+)'
  |'((?:[^']++|'')*+)'
  |([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(?![A-Za-z0-9_.])
  |(NULL)(?![A-Za-z0-9_])
  |[xX]'([0-9A-Fa-f]*)'
  |[bB]'([01]*)'
  |([A-Za-z_][A-Za-z0-9_]*(?:\([ \t]*[0-9]*[ \t]*\))?)(?!['"])
""", re.VERBOSE | re.DOTALL | re.IGNORECASE)
_CAST = re.compile(rb"[ \t]*::[ \t]*(?:\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_ .]*)(?:\([0-9, ]*\))?(?:\[\])*")
_OPEN_QUOTE = re.compile(rb"""(?:[eE_A-Za-z0-9]*)?(['"])""")

_MYSQL_ESCAPES = {b"0": b"\0", b"'": b"'", b'"': b'"', b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t",
                  b"Z": b"\x1a", b"\\": b"\\", b"%": b"\\%", b"_": b"\\_"}
_MYSQL_ESCAPE_SQ = re.compile(rb"\\(.)|''", re.DOTALL)
_MYSQL_ESCAPE_DQ = re.compile(rb'\\(.)|""', re.DOTALL)
_PG_E_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)|''", re.DOTALL)
_PG_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_COPY_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)", re.DOTALL)


def _mysql_unescape(raw: bytes, quote: bytes) -> bytes:
    """A MySQL string literal's bytes with its backslash escapes and doubled quotes resolved in one pass."""
    if b"\\" not in raw and quote + quote not in raw:
        return raw
    pattern = _MYSQL_ESCAPE_SQ if quote == b"'" else _MYSQL_ESCAPE_DQ
    return pattern.sub(lambda m: _MYSQL_ESCAPES.get(m.group(1), m.group(1)) if m.group(1) is not None else quote, raw)


def _pg_e_unescape(raw: bytes) -> bytes:
    """A PostgreSQL E'' string's bytes with backslash escapes and doubled quotes resolved in one pass."""
    return _PG_E_ESCAPE.sub(lambda m: _pg_escape(m) if m.group(1) is not None else b"'", raw)


def _pg_escape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1] == b"x" and len(code) > 1:
        return bytes([int(code[1:], 16)])
    if code[:1] in b"01234567" and code[:1] != b"":
        return bytes([int(code, 8) & 0xFF])
    if code[:1] in (b"u", b"U") and len(code) > 1:
        return chr(int(code[1:], 16)).encode("utf-8")
    return _PG_SIMPLE.get(code, code)


def copy_unescape(raw: bytes) -> bytes:
    """A COPY text-format field with its backslash escapes resolved."""
    return _COPY_ESCAPE.sub(_pg_escape, raw) if b"\\" in raw else raw


def _bits(text: bytes) -> bytes:
    if not text:
        return b""
    return int(text, 2).to_bytes((len(text) + 7) // 8, "big")


def unquote_ident(raw: bytes) -> str:
    """An identifier as written (`x`, "x", [x] or x), unquoted and decoded."""
    text = raw.decode("utf-8", "backslashreplace")
    if text[:1] == "`" and text[-1:] == "`":
        return text[1:-1].replace("``", "`")
    if text[:1] == '"' and text[-1:] == '"':
        return text[1:-1].replace('""', '"')
    if text[:1] == "[" and text[-1:] == "]":
        return text[1:-1]
    return text


def split_qualified(raw: bytes) -> list[str]:
    """db.table (or schema.table) split into its unquoted parts."""
    return [unquote_ident(m.group(0)) for m in _IDENT_ONE.finditer(raw)]


def _outside_quotes(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Each character of text outside quoted text, with its index and the parenthesis depth before it."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        else:
            yield i, ch, depth
            depth += 1 if ch == "(" else -1 if ch == ")" else 0
        i += 1


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split at separators outside parentheses and quotes."""
    parts, start = [], 0
    for i, ch, depth in _outside_quotes(text):
        if ch == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


_COLUMN_STOP = re.compile(
    r"(?i)\s(?:NOT\s+NULL|NULL|DEFAULT|AUTO_INCREMENT|COMMENT|PRIMARY|UNIQUE|KEY|COLLATE|GENERATED|AS\s*\(|"
    r"REFERENCES|CHECK|CONSTRAINT|ON\s+UPDATE|INVISIBLE|VISIBLE|STORED|VIRTUAL|PERSISTENT|COLUMN_FORMAT|"
    r"STORAGE|SRID|IDENTITY)\b")
_NOT_A_COLUMN = re.compile(
    r"(?i)(?:PRIMARY\s+KEY|UNIQUE|KEY|INDEX|CONSTRAINT|FOREIGN\s+KEY|FULLTEXT|SPATIAL|CHECK|PERIOD|EXCLUDE|LIKE)\b")
_CREATE_TABLE = re.compile(
    r"(?is)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMPORARY\s+|UNLOGGED\s+|TEMP\s+)?TABLE\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(" + _QUALIFIED.decode("latin-1") + r")\s*(\(|PARTITION\s+OF\s+)")
_TABLE_CHARSET = re.compile(r"(?i)(?:DEFAULT\s+)?(?:CHARSET|CHARACTER\s+SET)\s*=?\s*([A-Za-z0-9_]+)")
_COLUMN_CHARSET = re.compile(r"(?i)\s(?:CHARACTER\s+SET|CHARSET)\s+([A-Za-z0-9_]+)")


def parse_columns(body: str) -> list[ColumnInfo]:
    """The columns of a CREATE TABLE body, with their declared types (keys and constraints left out)."""
    columns = []
    for definition in split_top_level(body):
        if _NOT_A_COLUMN.match(definition):
            continue
        name_match = re.match(r'\s*(`(?:[^`]|``)+`|"(?:[^"]|"")+"|\[[^\]]+\]|\S+)\s*(.*)', definition, re.DOTALL)
        if not name_match:
            continue
        name = unquote_ident(name_match.group(1).encode("utf-8", "surrogateescape"))
        rest = " " + " ".join(name_match.group(2).split())
        stop = _COLUMN_STOP.search(_mask_parens(rest))
        declared = (rest[: stop.start()] if stop else rest).strip()
        charset = _COLUMN_CHARSET.search(declared)
        if charset:  # MySQL: varchar(10) CHARACTER SET latin1 -> keep it in the type, it matters for bytes
            declared = declared.strip()
        columns.append(ColumnInfo(name, declared or None))
    return columns


def _balanced_end(text: str, open_at: int) -> int:
    """The index of the parenthesis that closes the one at open_at (quotes respected)."""
    return next((i for i, ch, depth in _outside_quotes(text, open_at) if ch == ")" and depth == 1), len(text))


def _mask_parens(text: str) -> str:
    """The text with whatever is inside parentheses or quotes blanked, so keywords there are not seen."""
    out = [" "] * len(text)
    for i, ch, depth in _outside_quotes(text):
        if depth == 0 or (ch == ")" and depth == 1):
            out[i] = ch
    return "".join(out)


def is_binary_type(declared: str | None) -> bool:
    """True for declared types whose values are bytes, not text."""
    if not declared:
        return False
    base = re.match(r"[A-Za-z]+", declared)
    lowered = declared.lower()
    return bool(base and base.group(0).lower() in BINARY_TYPES) or "character set binary" in lowered or \
        "charset binary" in lowered


@dataclass
class _Table:
    """What the reader knows of one table while reading."""

    name: str
    columns: list[ColumnInfo]
    charset: str | None = None  # Python codec of the table's default character set
    binary: list[bool] = field(default_factory=list)
    writer: TableWriter | None = None
    values: list[list[Value]] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    offsets: list[int | None] = field(default_factory=list)
    partial_rows: int = 0
    keyword_values: set[str] = field(default_factory=set)
    pending: list[pl.DataFrame] = field(default_factory=list)  # batches converted, not yet written
    pending_rows: int = 0
    fast_rows: list[tuple[bytes | None, ...]] = field(default_factory=list)  # plain tuples not yet converted
    fast_lines: list[int] = field(default_factory=list)
    fast_offsets: list[int] = field(default_factory=list)
    fast_mapping: list[int] | None = None
    fast_valid_utf8: bool = True
    arrow_chunks: list[tuple[dict[int, Any], Any, Any]] = field(default_factory=list)  # compiled scanner's rows
    arrow_rows: int = 0
    arrow_mapping: list[int] | None = None


class SqlDumpReader:
    """Reads one SQL dump (dialect 'mysql' or 'postgres') into raw tables."""

    def __init__(self, read: Callable[[int], bytes], out: SourceWriter, dialect: str, chunk: int | None = None,
                 compiled: bool = True) -> None:
        self.scan = Scanner(read, chunk) if chunk else Scanner(read)
        self.compiled = _compiled() if compiled else None
        self.out = out
        self.dialect = dialect
        self.mysql = dialect == "mysql"
        self.delimiter = b";"
        self.database: str | None = None
        self.named_databases = False  # a USE or \connect was seen: tables are named db.table
        self.charset = "utf-8"
        self.charset_set = False
        self.tables: dict[str, _Table] = {}
        self.retired: list[_Table] = []  # tables whose name was created again with other columns
        self.value_re = _MYSQL_VALUE if self.mysql else _POSTGRES_VALUE
        self.statements = 0

    # -- the statement loop ------------------------------------------------------------

    def read(self) -> None:
        """Read the whole dump."""
        scan = self.scan
        while True:
            try:
                self._skip_gap(top=True)
            except NeedMore:
                self.out.problem(scan.where(), "the dump ends inside a comment opened here: nothing after it "
                                               "was read")
                break
            if scan.at_end():
                break
            start = scan.pos
            try:
                self._statement()
            except NeedMore:
                self.out.problem(scan.where(start), "the dump ends inside this statement (truncated): "
                                 "rows before the cut are kept")
                break
            self.statements += 1
        for table in [*self.retired, *self.tables.values()]:
            self._flush_values(table)
            self._flush(table)
            if table.writer is not None:
                if table.partial_rows:
                    table.writer.info.notes.append(
                        f"{table.partial_rows} rows were inserted with a column list that leaves columns out: "
                        "those columns are null here (a server would have filled in their defaults)")
                if table.keyword_values:
                    table.writer.info.notes.append(
                        "values written as keywords are kept as written: " + ", ".join(sorted(table.keyword_values)))

    def _statement(self) -> None:
        scan = self.scan
        scan.ensure(256)
        buf, pos = scan.buf, scan.pos
        if self.mysql and buf[pos:pos + 9].upper() == b"DELIMITER":
            match = _DELIMITER_LINE.match(buf, pos)
            if match:
                self.delimiter = match.group(1)
                scan.pos = match.end()
                return
        if not self.mysql and buf[pos:pos + 1] == b"\\":
            self._meta_command()
            return
        word_match = _WORD.match(buf, pos)
        word = word_match.group(0).upper() if word_match else b""
        if word in (b"INSERT", b"REPLACE"):
            self._insert()
        elif word == b"COPY" and not self.mysql:
            self._copy()
        else:
            start = scan.pos
            text = self._statement_text()
            self._other(text, start)

    def _skip_gap(self, top: bool = False) -> None:
        """Skip white space and comments. At the top level, an executable comment /*!...*/ is a statement."""
        scan = self.scan
        while True:
            scan.skip_space()
            if not scan.ensure(3) and scan.pos >= len(scan.buf):
                return
            buf, pos = scan.buf, scan.pos
            two = buf[pos:pos + 2]
            if two == b"--" and (not self.mysql or buf[pos + 2:pos + 3] in (b" ", b"\t", b"\r", b"\n", b"")) or self.mysql and buf[pos:pos + 1] == b"#":
                self._to_line_end()
            elif two == b"/*" and (not self.mysql or not _exec_comment(buf, pos)):
                end = self._find(b"*/", pos + 2)
                scan.pos = end + 2
            else:
                return

    def _find(self, needle: bytes, start: int) -> int:
        scan = self.scan
        offset = start - scan.pos
        while True:
            found = scan.buf.find(needle, scan.pos + offset)
            if found >= 0:
                return found
            offset = max(len(scan.buf) - scan.pos - len(needle), offset)
            if not scan.fill():
                raise NeedMore

    def _to_line_end(self) -> None:
        scan = self.scan
        try:
            scan.pos = self._find(b"\n", scan.pos) + 1
        except NeedMore:
            scan.pos = len(scan.buf)

    def _statement_text(self) -> bytes:
        """The statement from pos to its delimiter, comments removed, executable comments opened."""
        scan = self.scan
        delimiter = self.delimiter
        alternatives = [re.escape(delimiter), rb"['\"]", rb"/\*", rb"--"]
        alternatives += [rb"`", rb"#"] if self.mysql else [rb"\$"]
        special = re.compile(b"|".join(alternatives))
        while True:
            try:
                return self._collect(special, delimiter)
            except NeedMore:
                if not scan.fill(scan.pos):
                    raise

    def _collect(self, special: re.Pattern[bytes], delimiter: bytes) -> bytes:
        scan = self.scan
        buf, pos, pieces = scan.buf, scan.pos, []
        while True:
            match = special.search(buf, pos)
            if not match:
                raise NeedMore
            pieces.append(buf[pos:match.start()])
            token, pos = match.group(0), match.end()
            if token == delimiter:
                scan.pos = pos
                return b"".join(pieces).strip()
            if token in (b"'", b'"', b"`"):
                end = self._quote_end(buf, pos, token)
                pieces.append(buf[match.start():end])
                pos = end
            elif token == b"$":
                tag = re.match(rb"\$([A-Za-z_][A-Za-z0-9_]*)?\$", buf[match.start():match.start() + 64])
                if self.mysql or not tag:
                    pieces.append(token)
                    continue
                close = buf.find(tag.group(0), match.start() + len(tag.group(0)))
                if close < 0:
                    raise NeedMore
                pieces.append(buf[match.start():close + len(tag.group(0))])
                pos = close + len(tag.group(0))
            elif token == b"/*":
                opener = _exec_comment(buf, pos - 2) if self.mysql else 0
                if opener:
                    pos = _DIGITS.match(buf, pos - 2 + opener).end()  # type: ignore[union-attr]
                    close = buf.find(b"*/", pos)
                    if close < 0:
                        raise NeedMore
                    inner = buf[pos:close]
                    if delimiter in inner:  # a statement that ends inside the comment: rare, take it whole
                        pieces.append(inner.split(delimiter)[0])
                    else:
                        pieces.append(inner)
                    pos = close + 2
                    continue
                close = buf.find(b"*/", pos)
                if close < 0:
                    raise NeedMore
                pieces.append(b" ")
                pos = close + 2
            elif token == b"--" and (not self.mysql or buf[pos:pos + 1] in (b" ", b"\t", b"\r", b"\n")) \
                    or token == b"#":
                close = buf.find(b"\n", pos)
                if close < 0:
                    if scan.eof:
                        pos = len(buf)
                        continue
                    raise NeedMore
                pieces.append(b" ")
                pos = close + 1
            else:
                pieces.append(token)
            if pos >= len(buf) and not scan.eof:
                raise NeedMore

    def _quote_end(self, buf: bytes, pos: int, quote: bytes) -> int:
        """The position just after the quoted text that opened before pos."""
        backslash = self.mysql and quote != b"`"
        while True:
            end = buf.find(quote, pos)
            if backslash:
                slash = buf.find(b"\\", pos)
                if 0 <= slash < end or (slash >= 0 and end < 0):
                    pos = slash + 2
                    continue
            if end < 0:
                raise NeedMore
            if buf[end + 1:end + 2] == quote:
                pos = end + 2
                continue
            if end + 1 >= len(buf) and not self.scan.eof:
                raise NeedMore
            return end + 1

    # -- statements that are not rows ---------------------------------------------------

    def _other(self, raw: bytes, start: int) -> None:
        where = self.scan.where(start)
        text = raw.decode(self.charset if self.charset != "binary" else "latin-1", "replace")
        words = text.split(None, 3)
        head = words[0].upper() if words else ""
        if not head:
            return
        if head == "USE" and len(words) > 1:
            self.database = unquote_ident(raw.split(None, 1)[1].strip())
            self.named_databases = True
            return
        if head == "SET":
            self._set(text)
            return
        if head == "CREATE":
            match = _CREATE_TABLE.match(text)
            if match:
                self._create_table(text, match, where)
                return
            kind = next((k for k in SKIPPED_KINDS if re.search(rf"(?i)\b{k}\b", " ".join(words[:3]) + " " +
                                                                text[:200])), None)
            if kind and not re.match(r"(?is)CREATE\s+(?:UNIQUE\s+)?INDEX", text):
                self.out.problem(where, f"{kind.lower()} skipped: {_first_line(text)}", skipped=True)
            return
        if head in ("UPDATE", "DELETE", "TRUNCATE", "MERGE", "LOAD", "CALL", "INSERT", "REPLACE", "UPSERT",
                    "HANDLER", "EXECUTE", "PREPARE"):
            self.out.problem(where, f"statement that would change rows not applied: {_first_line(text)}")
            return
        if head in HARMLESS or head.startswith("\\"):
            return
        self.out.problem(where, f"statement not understood, skipped: {_first_line(text)}")

    def _set(self, text: str) -> None:
        names = re.match(r"(?i)SET\s+(?:NAMES|CHARACTER\s+SET|CHARSET)\s+'?([A-Za-z0-9_]+)", text)
        encoding = re.match(r"(?i)SET\s+client_encoding\s*(?:=|TO)\s*'?([A-Za-z0-9_]+)", text)
        if names and self.mysql:
            self._use_charset(MYSQL_CHARSETS.get(names.group(1).lower()), names.group(1))
        elif encoding and not self.mysql:
            self._use_charset(POSTGRES_ENCODINGS.get(encoding.group(1).lower()), encoding.group(1))

    def _use_charset(self, codec: str | None, declared: str) -> None:
        if codec is None:
            self.out.problem(self.scan.where(), f"character set {declared} not known: text read as UTF-8")
            codec = "utf-8"
        for table in self.tables.values():
            self._convert_fast(table)  # rows gathered so far are decoded in the set they were written in
        self.charset = codec
        self.charset_set = True

    def _create_table(self, text: str, match: re.Match[str], where: str) -> None:
        name = self._table_name(match.group(1).encode("utf-8", "surrogateescape"))
        if match.group(2).upper().startswith("PARTITION"):  # PostgreSQL: a partition has its parent's columns
            parent_match = _IDENT_ONE.match(text[match.end():].encode("utf-8", "surrogateescape"))
            rest = text[match.end():].split()[0] if text[match.end():].split() else ""
            parent = self.tables.get(self._table_name(rest.encode("utf-8", "surrogateescape"))) if parent_match else None
            columns = [ColumnInfo(c.name, c.declared_type) for c in parent.columns] if parent else []
            table_options = ""
        else:
            close = _balanced_end(text, match.end() - 1)
            columns = parse_columns(text[match.end():close])
            table_options = text[close + 1:]
        charset = _TABLE_CHARSET.search(table_options)
        codec = MYSQL_CHARSETS.get(charset.group(1).lower()) if charset and self.mysql else None
        old = self.tables.get(name)
        binary = [is_binary_type(c.declared_type) for c in columns]
        if old is not None and _has_rows(old):
            if [c.name for c in old.columns] == [c.name for c in columns]:
                self.out.problem(where, f"table {name} created again after rows were read, with the same columns: "
                                        "rows go on into the same raw table", skipped=True)
                return
            number = 2 + sum(1 for t in self.retired if t.name.split("#")[0] == name)
            self.retired.append(old)  # its rows stay in its own raw table
            self.tables[name] = _Table(f"{name}#{number}", columns, codec, binary)
            self.out.problem(where, f"table {name} created again with other columns after rows were read: "
                                    f"the rows that follow are in raw table {name}#{number}")
            return
        self.tables[name] = _Table(name, columns, codec, binary)

    def _table_name(self, raw: bytes) -> str:
        parts = split_qualified(raw)
        if not self.mysql:
            if len(parts) == 1:
                parts = ["public", *parts] if not self.named_databases else parts
            name = ".".join(parts)
            return f"{self.database}.{name}" if self.named_databases and self.database else name
        if len(parts) >= 2:
            return ".".join(parts[-2:])
        if self.named_databases and self.database:
            return f"{self.database}.{parts[0]}"
        return parts[0]

    def _meta_command(self) -> None:
        """A psql meta-command line (\\connect db, \\restrict ...): only \\connect matters."""
        scan = self.scan
        start = scan.pos
        self._to_line_end()
        line = scan.buf[start:scan.pos].decode("utf-8", "replace").split()
        if line and line[0] in ("\\connect", "\\c") and len(line) > 1:
            target = [w for w in line[1:] if not w.startswith("-")]
            if target:
                self.database = target[0].strip('"')
                self.named_databases = True

    def _table_for(self, raw_name: bytes, where: str) -> _Table:
        name = self._table_name(raw_name)
        table = self.tables.get(name)
        if table is None:
            table = _Table(name, [], None, [])
            self.tables[name] = table
            self.out.problem(where, f"rows for table {name} with no CREATE TABLE before them: columns named "
                                    "by the statement's column list, or by position", skipped=True)
        return table

    # -- rows ----------------------------------------------------------------------------

    def _head(self, pattern: re.Pattern[bytes], unread: str) -> tuple[re.Match[bytes], str] | None:
        """The head of an INSERT or COPY at pos and where it is; None (statement skipped, recorded) for another form."""
        scan = self.scan
        start = scan.pos
        scan.ensure(1 << 16)
        head = pattern.match(scan.buf, scan.pos)
        if head is None:
            text = self._statement_text()
            self.out.problem(scan.where(start), f"{unread}: {_first_line(text.decode('utf-8', 'replace'))}")
            return None
        return head, scan.where(start)

    def _insert(self) -> None:
        scan = self.scan
        found = self._head(_INSERT_HEAD, "INSERT form not read (only INSERT ... VALUES is)")
        if found is None:
            return
        head, where = found
        table = self._table_for(head.group(3), where)
        mapping = self._column_mapping(table, head.group(4), where)
        scan.pos = head.end()
        if mapping is False:
            self._skip_statement()
            return
        while True:
            consumed, ended = self._fast_rows(table, mapping)
            if consumed and not ended:
                continue
            row_start, opened = scan.pos, self._open_comments
            try:
                if consumed:  # the last tuple of the statement was read by the fast path
                    raise _Done
                values = self._tuple()
            except _Done:
                values = None
            except NeedMore:
                scan.pos, self._open_comments = row_start, opened
                if scan.fill():
                    continue
                # scan.pos is the row's start (fill may have moved the window, so not row_start)
                self.out.problem(scan.where(), f"the dump ends inside INSERT INTO {table.name} "
                                 "(truncated here): every row before the cut is kept")
                scan.pos = len(scan.buf)
                return
            except _Malformed as exc:
                if not scan.eof and len(scan.buf) - exc.pos < LOOKAHEAD:  # it may be cut by the window: read more
                    scan.pos, self._open_comments = row_start, opened
                    if scan.fill():
                        continue
                self.out.problem(scan.where(exc.pos), f"malformed row in INSERT INTO {table.name}: {exc.reason}; "
                                 "the rest of this statement is skipped")
                self._skip_statement()
                return
            if values is not None:
                self._add_row(table, values, mapping, row_start)
            while True:
                after, opened = scan.pos, self._open_comments
                try:
                    ending = self._after_tuple()
                    if ending == "other" and not scan.eof and len(scan.buf) - scan.pos < LOOKAHEAD:
                        raise NeedMore  # what follows may be a comment or a comma cut by the window
                    break
                except NeedMore:
                    scan.pos, self._open_comments = after, opened
                    if not scan.fill():
                        ending = "end"
                        self.out.problem(scan.where(), f"the dump ends after a row of INSERT INTO {table.name} "
                                         "without the statement's end (truncated): every row is kept")
                        scan.pos = len(scan.buf)
                        break
            if ending == "end":
                return
            if ending == "more":
                continue
            # ON DUPLICATE KEY UPDATE ... or something else after the rows
            rest_at = scan.pos
            text = self._statement_text()
            self.out.problem(scan.where(rest_at), f"clause after the rows of INSERT INTO {table.name} not applied: "
                                                  f"{_first_line(text.decode('utf-8', 'replace'))}")
            return

    def _skip_statement(self) -> None:
        """Go on after the delimiter that ends this statement, quotes respected; the statement is not kept."""
        scan = self.scan
        quotes = [b"'", b'"', b"`"] if self.mysql else [b"'", b'"']
        pattern = re.compile(b"|".join(re.escape(t) for t in [self.delimiter, *quotes]))
        self._open_comments = 0
        while True:
            match = pattern.search(scan.buf, scan.pos)
            if match is None:  # nothing open up to the window's end: drop it and read on
                scan.pos = max(scan.pos, len(scan.buf) - len(self.delimiter) + 1)
                if not scan.fill():
                    scan.pos = len(scan.buf)
                    return
                continue
            if match.group(0) == self.delimiter:
                scan.pos = match.end()
                return
            try:
                scan.pos = self._quote_end(scan.buf, match.end(), match.group(0))
            except NeedMore:
                scan.pos = match.start()
                if not scan.fill():
                    self.out.problem(scan.where(), "the dump ends inside a quoted value of the statement "
                                                   "skipped before it: nothing after this place was read")
                    scan.pos = len(scan.buf)
                    return

    def _after_tuple(self) -> str:
        scan = self.scan
        self._gap()
        buf, pos = scan.buf, scan.pos
        if pos >= len(buf):
            raise NeedMore
        if buf[pos:pos + 1] == b",":
            scan.pos = pos + 1
            self._gap()
            return "more"
        if buf.startswith(self.delimiter, pos):
            scan.pos = pos + len(self.delimiter)
            return "end"
        if len(buf) - pos < len(self.delimiter) and not scan.eof:
            raise NeedMore
        return "other"

    def _gap(self) -> None:
        """Skip white space and comments between values; executable comments are opened."""
        scan = self.scan
        buf = scan.buf
        opened = self._open_comments
        pos = _SPACE_RE.match(buf, scan.pos).end()  # type: ignore[union-attr]
        while True:
            two = buf[pos:pos + 2]
            if two == b"/*":
                opener = _exec_comment(buf, pos) if self.mysql else 0
                if opener:
                    pos = _DIGITS.match(buf, pos + opener).end()  # type: ignore[union-attr]
                    opened += 1
                else:
                    close = buf.find(b"*/", pos + 2)
                    if close < 0:
                        raise NeedMore
                    pos = close + 2
            elif two == b"*/" and opened:
                opened -= 1
                pos += 2
            elif (two == b"--" and buf[pos + 2:pos + 3] in (b" ", b"\t", b"\n", b"\r")) or \
                    (self.mysql and two[:1] == b"#"):
                close = buf.find(b"\n", pos)
                if close < 0:
                    raise NeedMore
                pos = close + 1
            else:
                if pos >= len(buf) and not scan.eof:
                    raise NeedMore
                scan.pos, self._open_comments = pos, opened
                return
            pos = _SPACE_RE.match(buf, pos).end()  # type: ignore[union-attr]

    _open_comments = 0

    def _tuple(self) -> list[tuple[int, bytes | None, str | None]]:
        """One parenthesised row: each value as (kind, bytes, introducer)."""
        scan = self.scan
        self._gap()  # a comment before the tuple
        buf = scan.buf
        pos = scan.pos
        if buf[pos:pos + 1] != b"(":
            if pos >= len(buf):
                raise NeedMore
            raise _Malformed(pos, f"expected '(' but found {_show(buf[pos:pos + 20])}")
        scan.pos = pos + 1
        values: list[tuple[int, bytes | None, str | None]] = []
        value_re = self.value_re
        while True:
            self._gap()
            buf, pos = scan.buf, scan.pos
            if buf[pos:pos + 1] == b")" and not values:
                scan.pos = pos + 1
                return values
            match = value_re.match(buf, pos)
            if match is None:
                self._need_more_or_malformed(buf, pos)
            if match.end() >= len(buf) and not scan.eof:  # type: ignore[union-attr]
                raise NeedMore
            index = match.lastindex  # type: ignore[union-attr]
            intro: str | None = None
            if self.mysql and index == 9:  # a character-set introducer: the value follows
                intro = match.group(9).lower()  # type: ignore[union-attr]
                scan.pos = match.end()  # type: ignore[union-attr]
                match = value_re.match(buf, scan.pos)
                if match is None or match.lastindex not in (1, 2, 5, 6):
                    self._need_more_or_malformed(buf, scan.pos)
                index = match.lastindex  # type: ignore[union-attr]
            end = match.end()  # type: ignore[union-attr]
            if not self.mysql:
                cast = _CAST.match(buf, end)
                if cast:
                    end = cast.end()
            values.append((index, match.group(index), intro))  # type: ignore[union-attr]
            scan.pos = end
            self._gap()
            buf, pos = scan.buf, scan.pos
            sep = buf[pos:pos + 1]
            if sep == b",":
                scan.pos = pos + 1
            elif sep == b")":
                scan.pos = pos + 1
                return values
            elif not sep:
                raise NeedMore
            else:
                raise _Malformed(pos, f"expected ',' or ')' after a value but found {_show(buf[pos:pos + 20])}")

    def _need_more_or_malformed(self, buf: bytes, pos: int) -> None:
        scan = self.scan
        if scan.eof and pos >= len(buf):
            raise NeedMore
        opening = _OPEN_QUOTE.match(buf, pos)
        if opening and not scan.eof:  # a quoted value that goes on past the window
            raise NeedMore
        if len(buf) - pos < 64 and not scan.eof:
            raise NeedMore
        if opening:
            raise NeedMore  # at the end of the dump: truncated inside a quoted value
        raise _Malformed(pos, f"value not understood: {_show(buf[pos:pos + 40])}")

    def _column_mapping(self, table: _Table, column_list: bytes | None, where: str) -> list[int] | None | bool:
        """Position in the table of each value of the INSERT (None: values in table order)."""
        if column_list is None:
            return None
        names = [unquote_ident(m.group(0)) for m in _IDENT_ONE.finditer(column_list[1:-1])]
        if not table.columns:
            table.columns = [ColumnInfo(n) for n in names]
            table.binary = [False] * len(names)
        known = {c.name.lower(): i for i, c in enumerate(table.columns)}
        mapping = []
        for name in names:
            if name.lower() not in known:
                self.out.problem(where, f"INSERT INTO {table.name} names column {name} that its CREATE TABLE "
                                        "does not have: the statement is skipped")
                return False
            mapping.append(known[name.lower()])
        if mapping == list(range(len(table.columns))):
            return None
        return mapping

    def _add_row(self, table: _Table, values: list[tuple[int, bytes | None, str | None]],
                 mapping: list[int] | None, row_start: int) -> None:
        width = len(table.columns)
        if not width:
            table.columns = [ColumnInfo(f"column_{i + 1}") for i in range(len(values))]
            table.binary = [False] * len(values)
            width = len(values)
        if len(values) != (len(mapping) if mapping is not None else width):
            self.out.problem(self.scan.where(row_start),
                             f"row of {len(values)} values for table {table.name} of {width} columns: "
                             "not stored, see the dump at this place")
            return
        if table.fast_rows or table.arrow_chunks:
            self._convert_fast(table)  # keep the order of rows
        if not table.values:
            table.values = [[] for _ in range(width)]
        if mapping is None:
            for column, value in enumerate(values):
                table.values[column].append(self._convert(table, column, value))
        else:
            row: list[Value] = [None] * width
            for position, value in zip(mapping, values, strict=True):
                row[position] = self._convert(table, position, value)
            for column, value in enumerate(row):
                table.values[column].append(value)
            if len(mapping) < width:
                table.partial_rows += 1
        table.lines.append(self.scan.line_at(row_start))
        table.offsets.append(self.scan.base + row_start)
        if len(table.lines) >= BATCH_ROWS:
            self._flush_values(table)

    def _convert(self, table: _Table, column: int, value: tuple[int, bytes | None, str | None]) -> Value:
        kind, raw, intro = value
        binary = table.binary[column]
        if self.mysql:
            if kind in (1, 2):
                data = _mysql_unescape(raw, b"'" if kind == 1 else b'"')  # type: ignore[arg-type]
                codec = MYSQL_CHARSETS.get(intro, self.charset) if intro else self.charset
                return data if binary or codec == "binary" else _decode(data, codec)
            if kind == 3:
                return raw.decode("ascii")  # type: ignore[union-attr]
            if kind == 4:
                return None
            if kind in (5, 6):
                data = bytes.fromhex(raw.decode("ascii")) if len(raw) % 2 == 0 else \
                    bytes.fromhex("0" + raw.decode("ascii"))  # type: ignore[union-attr]
                return data if binary else _decode(data, self.charset)  # as the fast paths do
            if kind in (7, 8):
                return _bits(raw)  # type: ignore[arg-type]
            text = raw.decode("ascii", "replace")  # type: ignore[union-attr]
            table.keyword_values.add(text.upper())
            return text
        if kind == 0:  # a COPY field, escapes already resolved
            data = raw  # type: ignore[assignment]
        elif kind == 1:
            data = _pg_e_unescape(raw)  # type: ignore[arg-type]
        elif kind == 2:
            data = raw.replace(b"''", b"'")  # type: ignore[union-attr]
        elif kind == 3:
            return raw.decode("ascii")  # type: ignore[union-attr]
        elif kind == 4:
            return None
        elif kind == 5:
            return bytes.fromhex(raw.decode("ascii"))  # type: ignore[union-attr]
        elif kind == 6:
            return raw.decode("ascii")  # type: ignore[union-attr]
        else:
            text = raw.decode("ascii", "replace")  # type: ignore[union-attr]
            if text.lower() not in ("true", "false"):
                table.keyword_values.add(text.upper())
            return text
        if binary:
            return _bytea(data)
        return _decode(data, self.charset)

    def _copy(self) -> None:
        """COPY table (columns) FROM stdin; then tab-separated lines up to \\. ."""
        scan = self.scan
        found = self._head(_COPY_HEAD, "COPY form not read")
        if found is None:
            return
        head, where = found
        options = head.group(3).decode("ascii", "replace").strip()
        table = self._table_for(head.group(1), where)
        mapping = self._column_mapping(table, head.group(2), where)
        scan.pos = head.end()
        if options and not re.fullmatch(r"(?i)(WITH\s*)?(\(\s*FORMAT\s+text\s*\))?", options):
            self.out.problem(where, f"COPY options not read ({options}): data skipped")
            mapping = False
        while True:
            if mapping is not False and self.compiled is not None and table.columns:
                width = len(mapping) if mapping is not None else len(table.columns)
                rows, done = self._compiled_rows(table, mapping, width, copy=True)
                if done:
                    return
                if rows:
                    continue
            end = scan.buf.find(b"\n", scan.pos)
            if end < 0:
                if scan.fill():
                    continue
                if scan.pos < len(scan.buf):
                    self.out.problem(scan.where(), f"the dump ends inside the COPY data of {table.name} "
                                                   "(truncated): rows before the cut are kept")
                    scan.pos = len(scan.buf)
                    return
                self.out.problem(scan.where(), f"the dump ends inside the COPY data of {table.name} (no \\. line)")
                return
            line = scan.buf[scan.pos:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            row_start = scan.pos
            scan.pos = end + 1
            if line == b"\\.":
                return
            if mapping is False:
                continue
            values: list[tuple[int, bytes | None, str | None]] = [
                (4, None, None) if field == b"\\N" else (0, copy_unescape(field), None) for field in line.split(b"\t")]
            self._add_row(table, values, mapping, row_start)

    def _fast_rows(self, table: _Table, mapping: list[int] | None) -> tuple[int, bool]:
        """Read the plain tuples at pos in one go; return how many, and whether the statement's last was among them."""
        scan = self.scan
        width = len(mapping) if mapping is not None else len(table.columns)
        if not width or self._open_comments:
            return 0, False
        if self.compiled is not None:
            return self._compiled_rows(table, mapping, width)
        match = tuple_pattern(width, self.mysql).match
        buf, pos, eof = scan.buf, scan.pos, scan.eof
        limit = len(buf)
        rows, starts, ended = [], [], False
        last_group = 2 * width + 1
        while True:
            found = match(buf, pos)
            if found is None or (found.end() >= limit and not eof):
                break
            rows.append(found.groups())
            starts.append(pos)
            pos = found.end()
            if found.group(last_group) is None:
                ended = True
                break
        if not rows:
            return 0, False
        if table.lines:
            self._flush_values(table)  # rows read value by value come first
        if table.fast_rows and table.fast_mapping != mapping:
            self._convert_fast(table)
        table.fast_mapping = mapping
        line = scan.line_at(starts[0])
        previous = starts[0]
        base = scan.base
        for start in starts:
            line += buf.count(b"\n", previous, start)
            previous = start
            table.fast_lines.append(line)
            table.fast_offsets.append(base + start)
        if self.charset == "utf-8" and table.fast_valid_utf8:
            try:
                buf[starts[0]:pos].decode("utf-8")
            except UnicodeDecodeError:
                table.fast_valid_utf8 = False
        table.fast_rows += rows
        scan.pos = pos
        if len(table.fast_rows) >= BATCH_ROWS:
            self._convert_fast(table)
        return len(rows), ended

    def _compiled_rows(self, table: _Table, mapping: list[int] | None, width: int,
                       copy: bool = False) -> tuple[int, bool]:
        """The fast path with the compiled scanner: plain tuples (or COPY lines) straight into Arrow buffers.

        Returns how many rows were read, and whether the statement (or the COPY block) ended.
        """
        import pyarrow as pa

        scan = self.scan
        first_line = scan.line_at(scan.pos)
        if copy:
            new_pos, rows, ended, starts, lines, columns, newlines = self.compiled.scan_copy(
                scan.buf, scan.pos, width, scan.eof, BATCH_ROWS, scan.base, first_line)
        else:
            new_pos, rows, ended, starts, lines, columns, newlines = self.compiled.scan_tuples(
                scan.buf, scan.pos, width, scan.eof, self.mysql, BATCH_ROWS, scan.base, first_line)
        scan.known_line(new_pos, first_line + newlines)
        if not rows:
            if ended:
                scan.pos = new_pos
            return 0, bool(ended)
        if table.lines or table.fast_rows:
            self._flush_values(table)  # rows read another way come first
        if table.arrow_chunks and table.arrow_mapping != mapping:
            self._convert_fast(table)
        table.arrow_mapping = mapping
        positions = mapping if mapping is not None else range(width)
        arrays = {position: self._arrow_column(table, position, rows, *columns[index])
                  for index, position in enumerate(positions)}
        line_numbers = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(lines)])
        offsets = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(starts)])
        table.arrow_chunks.append((arrays, line_numbers, offsets))
        table.arrow_rows += rows
        if mapping is not None and len(mapping) < len(table.columns):
            table.partial_rows += rows
        scan.pos = new_pos
        if table.arrow_rows >= BATCH_ROWS:
            self._convert_fast(table)
        return rows, bool(ended)

    def _arrow_column(self, table: _Table, position: int, rows: int, data: bytes, offsets: bytes, bitmap: bytes,
                      nulls: int, has_hex: int, utf8: int) -> Any:
        """One column of the compiled scanner's output as an Arrow array, String where it is text."""
        import pyarrow as pa

        buffers = [pa.py_buffer(bitmap), pa.py_buffer(offsets), pa.py_buffer(data)]
        binary = pa.Array.from_buffers(pa.large_binary(), rows, buffers, null_count=nulls)
        codec = self.charset
        if table.binary[position] and not self.mysql:  # bytea written as '\x0102': the bytes it stands for
            return pa.array([None if v is None else _bytea(v) for v in binary.to_pylist()], pa.large_binary())
        if table.binary[position] or codec == "binary":
            return binary
        if codec == "utf-8" and utf8 and not has_hex:
            return pa.Array.from_buffers(pa.large_string(), rows, buffers, null_count=nulls)
        decoded = [None if v is None else _decode(v, codec) for v in binary.to_pylist()]
        if any(isinstance(v, bytes) for v in decoded):
            return binary
        return pa.array(decoded, pa.large_string())

    def _convert_arrow(self, table: _Table) -> None:
        """Turn the compiled scanner's chunks into one batch frame."""
        import pyarrow as pa

        chunks, mapping = table.arrow_chunks, table.arrow_mapping
        table.arrow_chunks, table.arrow_rows = [], 0
        width = len(mapping) if mapping is not None else len(table.columns)
        positions = mapping if mapping is not None else range(width)
        rows = sum(len(chunk[1]) for chunk in chunks)
        series = []
        for index, column in enumerate(table.columns):
            if index not in positions:
                series.append(pl.Series(column.name, [None] * rows, pl.String))
                continue
            parts = [chunk[0][index] for chunk in chunks]
            if len({part.type for part in parts}) > 1:
                parts = [part.cast(pa.large_binary()) for part in parts]
            series.append(pl.Series(column.name, pa.concat_arrays(parts)))
        line_name, offset_name = locator_names(table.columns)
        series.append(pl.Series(line_name, pa.concat_arrays([chunk[1] for chunk in chunks])).cast(pl.Int64))
        series.append(pl.Series(offset_name, pa.concat_arrays([chunk[2] for chunk in chunks])).cast(pl.Int64))
        self._pend(table, pl.DataFrame(series))

    def _convert_fast(self, table: _Table) -> None:
        """Turn the plain tuples gathered by the fast path into a batch frame, column by column."""
        if table.arrow_chunks:
            self._convert_arrow(table)
        rows, mapping = table.fast_rows, table.fast_mapping
        if not rows:
            return
        width = len(mapping) if mapping is not None else len(table.columns)
        columns = list(zip(*rows, strict=True))
        unescape = (lambda v: _mysql_unescape(v, b"'")) if self.mysql else (lambda v: v.replace(b"''", b"'"))
        positions = mapping if mapping is not None else range(width)
        converted: dict[int, pl.Series] = {}
        for index, position in enumerate(positions):
            converted[position] = convert_column(columns[2 * index], columns[2 * index + 1], table.binary[position],
                                                 self.charset, table.fast_valid_utf8, unescape, self.mysql)
        series = [converted[i].alias(c.name) if i in converted else pl.Series(c.name, [None] * len(rows), pl.String)
                  for i, c in enumerate(table.columns)]
        line_name, offset_name = locator_names(table.columns)
        series += [pl.Series(line_name, table.fast_lines, pl.Int64), pl.Series(offset_name, table.fast_offsets, pl.Int64)]
        if mapping is not None and len(mapping) < len(table.columns):
            table.partial_rows += len(rows)
        table.fast_rows, table.fast_lines, table.fast_offsets = [], [], []
        table.fast_valid_utf8 = True
        self._pend(table, pl.DataFrame(series))

    def _pend(self, table: _Table, frame: pl.DataFrame) -> None:
        table.pending.append(frame)
        table.pending_rows += frame.height
        if table.pending_rows >= BATCH_ROWS:
            self._flush(table)

    def _flush_values(self, table: _Table) -> None:
        """Turn the rows read value by value into a batch frame."""
        self._convert_fast(table)
        if not table.lines:
            return
        frame = column_frame([c.name for c in table.columns], table.values, table.binary)
        line_name, offset_name = locator_names(table.columns)
        frame = frame.with_columns(pl.Series(line_name, table.lines, pl.Int64),
                                   pl.Series(offset_name, table.offsets, pl.Int64))
        table.values = [[] for _ in table.columns]
        table.lines, table.offsets = [], []
        self._pend(table, frame)

    def _flush(self, table: _Table) -> None:
        """Write the table's pending batches as one part."""
        if not table.pending:
            return
        if table.writer is None:
            table.writer = self.out.table(table.name, table.columns, locator_names(table.columns))
        frames = table.pending
        if len(frames) > 1:
            schema = {name: unify_dtype({f.schema[name] for f in frames}) for name in frames[0].columns}
            for name in frames[0].columns:
                if {f.schema[name] for f in frames} >= {pl.String(), pl.Binary()}:
                    table.writer.note_mixed(name)
            frame = pl.concat([f.cast(schema) for f in frames], how="vertical")  # type: ignore[arg-type]
        else:
            frame = frames[0]
        table.writer.add_frame(frame)
        table.pending, table.pending_rows = [], 0


class _Done(Exception):
    """The statement's rows were all read by the fast path."""


def _has_rows(table: _Table) -> bool:
    """True when rows of the table were read (written, pending or being gathered)."""
    return bool((table.writer is not None and table.writer.info.rows) or table.pending or table.lines
                or table.fast_rows or table.arrow_chunks)


def _exec_comment(buf: bytes, pos: int) -> int:
    """The length of an executable comment's opener at pos (/*! or MariaDB's /*M!), 0 if there is none."""
    if buf.startswith(b"/*!", pos):
        return 3
    if buf.startswith(b"/*M!", pos):
        return 4
    return 0


def _bytea(data: bytes) -> bytes:
    """A PostgreSQL bytea value in hex form (\\x0102) as the bytes it stands for; other forms as written."""
    if data.startswith(b"\\x"):
        try:
            return bytes.fromhex(data[2:].decode("ascii"))
        except ValueError:
            pass
    return data


def _compiled() -> Any:
    """The compiled row scanner, or None where the package was installed without it."""
    try:
        from forensics import _dumpscan
    except ImportError:
        return None
    return _dumpscan


class _Malformed(Exception):
    def __init__(self, pos: int, reason: str) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason


_SPACE_RE = re.compile(rb"[ \t\r\n\f\v]*")


def _decode(data: bytes, codec: str) -> str | bytes:
    if codec == "binary":
        return data
    try:
        if codec == "cp1252":
            return data.decode("cp1252", "forensics_passthrough")
        return data.decode(codec)
    except UnicodeDecodeError:
        return data


def _show(data: bytes) -> str:
    return repr(data.decode("utf-8", "backslashreplace"))


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:120] + ("..." if len(line) > 120 else "")
