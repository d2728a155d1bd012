"""Delimited text (CSV, TSV, semicolon and pipe files, Asterisk's Master.csv) into raw tables.

`sniff_delimited` looks at the first 64 KiB of a file and says whether it is a delimited
table and how it is written (character set, delimiter, quoting, header row), or None for
logs, prose, code and binary data. `read_delimited` then streams the whole file into one
raw table named after the file, every value text exactly as written, each row located by
the physical line where its record starts.

Decisions:

* Header row: only on positive evidence. The first row must hold no number or date, and in
  at least one column the later rows must mostly hold numbers, dates, digits or e-mail
  addresses where the first row holds a plain name. Taking a data row for a header would
  turn values into column names; taking a header for data keeps every value, so doubt
  means no header (columns column_1..column_N).
* Ragged rows are kept whole: a row with more fields than the header fills extra columns
  extra_1..extra_K (the widest row is found by a first pass over the file), a row with
  fewer has nulls in the missing columns (null: the field is absent; '' is an empty field).
  Each such line is recorded as a problem.
* Bytes that do not decode: UTF-8 keeps them with surrogateescape and the value goes back to
  its exact bytes (the column becomes Binary). Windows-1252 decodes every byte: the five
  bytes it leaves unassigned pass through as the C1 controls of the same number, as MySQL's
  latin1 does (and as the SQL dump reader does).
* Speed: Python's csv module is the reference, and reads whatever is not proven safe for
  the fast path. For UTF-8 and Windows-1252 files, blocks of lines that `csvblocks.check_block`
  proves Polars splits exactly as Python's csv module does (no line feed in quotes, no quote
  but at a field's ends, no lone CR, no blank, ragged, control-character or undecodable
  line) are read by Polars; the tables are identical either way, batch for batch.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import polars as pl

from forensics.rawtables import (
    BATCH_ROWS,
    ColumnInfo,
    SourceWriter,
    TableWriter,
    Value,
    column_frame,
)
from forensics.readers.csvblocks import (
    BLOCK_BYTES,
    FIELD_LIMIT,
    BlockStream,
    Event,
    Fast,
    Record,
    Unreadable,
    Verdict,
)

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

HEAD_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
PREFERENCE = {"\t": 3, "|": 2, ";": 1, ",": 0}  # on a tie, the delimiter least common in text wins
TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".psv"}
LOCATOR = ("_line",)
MAX_LINE_PROBLEMS = 100  # ragged or control-character lines recorded one by one, then counted
FAST_ENCODINGS = {"utf-8", "utf-8-sig", "cp1252"}  # line feeds, CRs, quotes, delimiters: one byte each
BOM = b"\xef\xbb\xbf"

# cdr_csv.c build_csv_record(): 16 fields always, then uniqueid if loguniqueid, userfield if
# loguserfield, and peeraccount, linkedid, sequence if newcdrcolumns.
ASTERISK_BASE = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
ASTERISK_NEW = ("peeraccount", "linkedid", "sequence")

_RAW_BYTES = "forensics_rawbytes"
_LATIN1 = "forensics_mysql_latin1"


def _raw_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Decode: each byte that does not decode becomes U+DC00 + byte (below 0x80 too: UTF-16)."""
    if isinstance(exc, UnicodeDecodeError):
        return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end
    raise exc


def _mysql_latin1(exc: UnicodeError) -> tuple[str, int]:
    """Decode Windows-1252's five unassigned bytes as the C1 controls of the same number."""
    if isinstance(exc, UnicodeDecodeError):
        return "".join(chr(b) for b in exc.object[exc.start : exc.end]), exc.end
    raise exc


codecs.register_error(_RAW_BYTES, _raw_bytes)
codecs.register_error(_LATIN1, _mysql_latin1)

_ESCAPED = re.compile(r"[\udc00-\udcff]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)*|[.,]\d+)(?:[eE][-+]?\d+)?%?")
_DATE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d\d(?::\d\d(?:[.,]\d+)?)?)?"
    r"(?:Z|[+-]\d\d:?\d\d)?|\d{1,2}:\d\d(?::\d\d(?:[.,]\d+)?)?"
)
_ASTERISK_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# FreeSWITCH mod_cdr_csv, the "example" template of its default cdr_csv.conf.xml (header-less).
FREESWITCH_COLUMNS = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp", "answer_stamp",
    "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid", "accountcode", "read_codec",
    "write_codec",
)
_INTEGER = re.compile(r"-?\d+")
_UNIQUEID = re.compile(r"(?:[\w.-]+-)?\d{9,}\.\d+")
_NOT_TABLE = re.compile(
    r"\s*(?:[<{]|(?i:INSERT\s+INTO|CREATE\s+TABLE|COPY\s|SET\s|--|/\*))"  # markup, JSON, SQL
    r"|\S+ \S+ \S+ \[[^\]]+\] \""  # Apache/nginx common and combined log
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S"  # syslog
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} "  # Apache error log
    # a log line stamped with an ISO date and time
    r"|\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]? +\S"
)


@dataclass(frozen=True)
class Dialect:
    """How a delimited file is written."""

    encoding: str  # utf-8, utf-8-sig, utf-16-le, utf-16-be (both with BOM) or cp1252
    delimiter: str
    quotechar: str | None  # None: quotes are ordinary characters
    has_header: bool
    column_names: tuple[str, ...] | None  # names known from the file's shape (Asterisk), else None
    kind: str  # 'csv', 'tsv', 'asterisk-master-csv' or 'freeswitch-cdr-csv'


def sniff_delimited(head: bytes, name: str) -> Dialect | None:
    """The dialect of a delimited table from its first 64 KiB, or None when it is not one."""
    head = head[:HEAD_BYTES]
    decoded = _decode_head(head)
    if decoded is None:
        return None
    encoding, text = decoded
    if len(head) >= HEAD_BYTES:  # the last line may be cut short
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut <= 0:
            return None
        text = text[: cut + 1]
    bad = len(_CONTROL.findall(text)) + sum(len(run) for run in _ESCAPED.findall(text))
    if not text.strip() or bad > max(len(text) / 20, 4):  # binary data, not text
        return None
    lines = [line for line in text.splitlines() if line.strip()][:200]
    if sum(1 for line in lines if _NOT_TABLE.match(line)) >= 0.6 * len(
        lines
    ):  # logs, SQL, markup, JSON
        return None
    table_name = PurePath(name).suffix.lower() in TABLE_SUFFIXES
    best: tuple[tuple[float, int, int], str, list[list[str]]] | None = None
    for delimiter in DELIMITERS:
        rows = _parse(text, delimiter, '"')
        score = _consistency(rows, text, delimiter, table_name)
        if score is not None and (best is None or (*score, PREFERENCE[delimiter]) > best[0]):
            best = ((*score, PREFERENCE[delimiter]), delimiter, rows)
    if best is None:
        return None
    _, delimiter, rows = best
    quotechar = _quotechar(text, delimiter)
    if quotechar != '"':
        rows = _parse(text, delimiter, quotechar)
    if _is_prose(rows):
        return None
    kind = "tsv" if delimiter == "\t" else "csv"
    if delimiter == ",":
        names = _asterisk_names(rows)
        if names is not None:
            return Dialect(encoding, delimiter, quotechar, False, names, "asterisk-master-csv")
        if rows and all(_freeswitch_row(r) for r in rows):
            return Dialect(encoding, delimiter, quotechar, False, FREESWITCH_COLUMNS, "freeswitch-cdr-csv")
    return Dialect(encoding, delimiter, quotechar, _has_header(rows), None, kind)


def _decode_head(head: bytes) -> tuple[str, str] | None:
    """The encoding of a head and its text; None for UTF-32 or text that is mostly not text."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return None
    for bom, encoding in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            decoder = codecs.getincrementaldecoder(encoding)(_RAW_BYTES)
            return encoding, decoder.decode(head).lstrip("\ufeff")
    valid, invalid = _utf8_counts(head)
    if invalid == 0 or valid > invalid:  # a stray bad byte in UTF-8 text stays a bad byte
        return "utf-8", codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(head)
    return "cp1252", head.decode("cp1252", _LATIN1)


def _utf8_counts(head: bytes) -> tuple[int, int]:
    """Valid multi-byte UTF-8 characters and bytes that are not UTF-8 (not counting a cut end)."""
    text = head.decode("utf-8", "surrogateescape")
    if len(head) >= HEAD_BYTES:
        text = re.sub(r"[\udc80-\udcff]{1,3}$", "", text)
    invalid = sum(1 for c in text if 0xDC80 <= ord(c) <= 0xDCFF)
    valid = sum(1 for c in text if ord(c) > 0x7F and not 0xDC80 <= ord(c) <= 0xDCFF)
    return valid, invalid


def _parse(text: str, delimiter: str, quotechar: str | None, limit: int = 1000) -> list[list[str]]:
    """Up to `limit` records of a head, blank lines left out."""
    reader = _reader(io.StringIO(text, newline=""), delimiter, quotechar)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
                if len(rows) >= limit:
                    break
    except csv.Error:
        pass
    return rows


def _reader(lines: Iterable[str], delimiter: str, quotechar: str | None) -> CsvReader:
    if quotechar is None:
        return csv.reader(
            lines, delimiter=delimiter, quoting=csv.QUOTE_NONE, doublequote=False, strict=False
        )
    return csv.reader(
        lines, delimiter=delimiter, quotechar=quotechar, doublequote=True, strict=False
    )


def _consistency(
    rows: list[list[str]], text: str, delimiter: str, table_name: bool
) -> tuple[float, int] | None:
    """(share of rows of the usual width, that width) when the delimiter makes a table."""
    if not rows or (len(rows) == 1 and not table_name):
        return None
    width, count = Counter(len(r) for r in rows).most_common(1)[0]
    share = count / len(rows)
    if width < 2 or share < (0.9 if len(rows) >= 10 else 0.6 if table_name else 1.0):
        return None
    raw_fields = [f for line in text.splitlines() for f in line.split(delimiter)]
    stray = sum(
        1
        for f in raw_fields
        if '"' in f.strip() and not (f.strip().startswith('"') or f.strip().endswith('"'))
    )
    if stray > 0.02 * len(
        raw_fields
    ):  # quotes in the middle of fields: not CSV quoting (logs, code)
        return None
    return share, width


def _quotechar(text: str, delimiter: str) -> str | None:
    """'"'; for tabs '"' if a field is quoted with it, "'" if only with that, else None."""
    fields = [f for line in text.splitlines() for f in line.split(delimiter)]
    double = sum(1 for f in fields if len(f) >= 2 and f.startswith('"') and f.endswith('"'))
    single = sum(1 for f in fields if len(f) >= 2 and f.startswith("'") and f.endswith("'"))
    if double or delimiter != "\t":  # CSV convention; TSV files mostly do not quote
        return '"'
    if single and single >= 0.2 * len(fields):
        return "'"
    return None


def _is_prose(rows: list[list[str]]) -> bool:
    """Sentences cut at punctuation: nearly every field several words, and no number anywhere."""
    fields = [f for row in rows for f in row]
    if any(_looks_like_data(f) for f in fields):
        return False
    return sum(" " in f.strip() for f in fields) >= 0.8 * len(fields)


def _looks_like_data(value: str) -> bool:
    value = value.strip()
    return bool(value) and bool(_NUMBER.fullmatch(value) or _DATE.fullmatch(value))


def _has_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns (see the module's docstring)."""
    if len(rows) < 2:
        return False
    header, later = rows[0], rows[1:]
    if any(_looks_like_data(h) or len(h) > 128 or _CONTROL.search(h) for h in header):
        return False
    named = [h.strip() for h in header if h.strip()]
    if len(named) < len(header) / 2 or len(set(named)) < len(named) / 2:
        return False
    for index, name in enumerate(header):
        values = [r[index].strip() for r in later if index < len(r) and r[index].strip()]
        if not name.strip() or not values:
            continue
        if sum(map(_looks_like_data, values)) >= 0.6 * len(values):
            return True
        if not re.search(r"\d", name) and sum(
            bool(re.search(r"\d", v)) for v in values
        ) >= 0.8 * len(values):
            return True
        if "@" not in name and sum("@" in v for v in values) >= 0.8 * len(values):
            return True
    return False


def _asterisk_row(row: list[str]) -> bool:
    """Whether a record has the shape cdr_csv writes."""
    if not 16 <= len(row) <= 21 or not _ASTERISK_DATE.fullmatch(row[9]):
        return False
    if not all(v == "" or _ASTERISK_DATE.fullmatch(v) for v in row[10:12]):
        return False
    if not (_INTEGER.fullmatch(row[12]) and _INTEGER.fullmatch(row[13])):
        return False
    if not re.fullmatch(r"[A-Z][A-Z _]*", row[14]) or not re.fullmatch(r"[A-Za-z]*", row[15]):
        return False
    return len(row) < 19 or bool(_INTEGER.fullmatch(row[-1]))


def _freeswitch_row(row: list[str]) -> bool:
    """Whether a record has the shape of mod_cdr_csv's default template (see FREESWITCH_COLUMNS)."""
    if len(row) != len(FREESWITCH_COLUMNS) or not _ASTERISK_DATE.fullmatch(row[4]):
        return False
    if not all(v == "" or _ASTERISK_DATE.fullmatch(v) for v in row[5:7]):
        return False
    if not (_INTEGER.fullmatch(row[7]) and _INTEGER.fullmatch(row[8])):
        return False
    return bool(re.fullmatch(r"[A-Z][A-Z_]*", row[9]) and _UUID.fullmatch(row[10]))


def _asterisk_names(rows: list[list[str]]) -> tuple[str, ...] | None:
    """Column names of a header-less Master.csv (cdr_csv.c's order), or None when it is not one."""
    if not rows or not _asterisk_row(rows[0]):
        return None
    fitting = [r for r in rows if _asterisk_row(r)]
    if len(fitting) < (0.9 * len(rows) if len(rows) >= 10 else len(rows)):
        return None
    width = Counter(len(r) for r in fitting).most_common(1)[0][0]
    optional = width - 16 - (3 if width >= 19 else 0)
    if optional == 2:
        extra: tuple[str, ...] = ("uniqueid", "userfield")
    elif optional == 1:
        sample = [r[16] for r in fitting if len(r) == width]
        uniqueid = sum(bool(_UNIQUEID.fullmatch(v)) for v in sample) >= len(sample) / 2
        extra = ("uniqueid",) if uniqueid else ("userfield",)
    else:
        extra = ()
    return ASTERISK_BASE + extra + (ASTERISK_NEW if width >= 19 else ())


def value_bytes(value: str, encoding: str) -> bytes:
    """The exact bytes of a value decoded with escapes for bytes that did not decode."""
    encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    out = bytearray()
    position = 0
    for match in _ESCAPED.finditer(value):
        out += value[position : match.start()].encode(encoding)
        out += bytes(ord(c) - 0xDC00 for c in match.group())
        position = match.end()
    out += value[position:].encode(encoding)
    return bytes(out)


def _errors(encoding: str) -> str:
    if encoding.startswith("utf-16"):
        return _RAW_BYTES
    if encoding == "cp1252":
        return _LATIN1
    return "surrogateescape"


class _Lines:
    """The text lines of a stream, with a BOM that the codec leaves (UTF-16 LE/BE) taken off."""

    def __init__(self, stream: BinaryIO, dialect: Dialect) -> None:
        self.text = io.TextIOWrapper(
            stream, encoding=dialect.encoding, errors=_errors(dialect.encoding), newline=""
        )
        self.first = True

    def __iter__(self) -> Iterator[str]:
        for line in self.text:
            if self.first:
                self.first = False
                line = line.removeprefix("\ufeff")
            yield line

    def detach(self) -> None:
        """Give the binary stream back without closing it."""
        self.text.detach()


def _records(
    stream: BinaryIO, dialect: Dialect, out: SourceWriter, where: str, report: bool
) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, fields) for each record; blank lines give no record."""
    lines = _Lines(stream, dialect)
    reader = _reader(lines, dialect.delimiter, dialect.quotechar)
    previous = 0
    try:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if report:
                    out.problem(
                        where,
                        f"lines {previous + 1}-{reader.line_num}: {exc}; "
                        "this record could not be read",
                    )
                previous = reader.line_num
                continue
            start, previous = previous + 1, reader.line_num
            yield start, row
    finally:
        lines.detach()


def _unique(names: list[str], reserved: Iterable[str]) -> tuple[list[str], list[str]]:
    """Names made unique and non-empty, and what was changed."""
    taken = {n.lower() for n in reserved}
    result, changes = [], []
    for index, name in enumerate(names, 1):
        base = name if name.strip() else f"column_{index}"
        candidate, n = base, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate.lower())
        result.append(candidate)
        if candidate != name:
            changes.append(f"column {index} {name!r} named {candidate!r}")
    return result, changes


class WiderThanHeader(Exception):
    """A row has more fields than the header or layout names: the table's columns need a first pass."""


def read_delimited(stream: BinaryIO, name: str, dialect: Dialect, out: SourceWriter, *, fast: bool = True,
                   block_size: int = BLOCK_BYTES, single_pass: bool = True) -> None:
    """Stream a delimited file into one raw table named after the file, located by line.

    fast: read the blocks `csvblocks.check_block` proves Polars reads as Python's csv module
    does with Polars, and the rest with Python's csv module; False: Python's csv module only
    (the reference). block_size: bytes in a block (tests make it tiny).

    The columns of a file with a header or a known layout are known from its start, so the
    fast path reads it once (single_pass). Should a row have more fields than that, what
    was written is rolled back and the file is read in two passes, the first finding the
    widest row: from the start again where the stream can seek, else WiderThanHeader is
    raised and the caller opens the file again and passes single_pass=False.
    """
    where = PurePath(name).name or name
    fast = fast and dialect.encoding in FAST_ENCODINGS
    if fast and single_pass and (dialect.has_header or dialect.column_names is not None):
        start = stream.tell() if stream.seekable() else None
        mark = out.mark()
        try:
            _read_single(stream, name, where, dialect, out, block_size)
            return
        except WiderThanHeader:
            out.rollback(mark)
            if start is None:
                raise
            stream.seek(start)
    if not stream.seekable():  # the first pass needs to read it twice; spool it in the case
        with tempfile.TemporaryFile(dir=out.case.tmp_dir) as spool:
            if fast:  # spooled while the first pass reads it
                _read_fast(_Tee(stream, spool), spool, name, where, dialect, out, block_size)
                return
            shutil.copyfileobj(stream, spool)
            spool.seek(0)
            _read(spool, name, where, dialect, out)
        return
    if fast:
        _read_fast(stream, stream, name, where, dialect, out, block_size)
        return
    _read(stream, name, where, dialect, out)


class _Tee:
    """A stream that copies what is read from it into a file."""

    def __init__(self, stream: BinaryIO, copy: BinaryIO) -> None:
        self.stream, self.copy = stream, copy

    def read(self, size: int = -1) -> bytes:
        """Read up to size bytes and copy them."""
        data = self.stream.read(size)
        self.copy.write(data)
        return data


def _read(stream: BinaryIO, name: str, where: str, dialect: Dialect, out: SourceWriter) -> None:
    old_limit = csv.field_size_limit(FIELD_LIMIT)
    try:
        start = stream.tell()
        widths: Counter[int] = Counter()
        header: list[str] | None = None
        for _, row in _records(stream, dialect, out, where, report=False):
            if row and dialect.has_header and header is None:
                header = row
            elif row:
                widths[len(row)] += 1
        stream.seek(start)

        def events(_take: _Take) -> Iterator[Event]:
            return (Record(line, row) for line, row in _records(stream, dialect, out, where, report=True))

        _write(events, name, where, dialect, out, header, widths)
    finally:
        csv.field_size_limit(old_limit)


_Take = Callable[[bytes, Verdict, "np.ndarray | None", int], "object | None"]


def _blocks(stream: BinaryIO | _Tee, dialect: Dialect, block_size: int, verdicts: dict[int, Verdict]) -> BlockStream:
    """The stream as blocks, past its byte order mark as the reference's `_Lines` does."""
    codec = "utf-8" if dialect.encoding == "utf-8-sig" else dialect.encoding
    errors = _errors(dialect.encoding)
    blocks = BlockStream(
        stream,  # type: ignore[arg-type]
        block_size, dialect.delimiter, dialect.quotechar, lambda raw: raw.decode(codec, errors),
        lambda lines: _reader(lines, dialect.delimiter, dialect.quotechar), codec == "utf-8", verdicts,
    )
    if codec == "utf-8" and blocks.skip(BOM) and dialect.encoding == "utf-8-sig":
        blocks.skip(BOM)  # the codec takes one, `_Lines` one more
    return blocks


def _counts(widths: np.ndarray) -> list[tuple[int, int]]:
    """(fields, lines) for each number of fields, in the order they first occur."""
    values, first, counts = np.unique(widths, return_index=True, return_counts=True)
    return [(int(values[i]), int(counts[i])) for i in np.argsort(first)]


def _read_fast(first: BinaryIO | _Tee, second: BinaryIO, name: str, where: str, dialect: Dialect,
               out: SourceWriter, block_size: int) -> None:
    """The two passes of `_read` over blocks; the first pass's verdicts serve the second."""
    old_limit = csv.field_size_limit(FIELD_LIMIT)
    try:
        start = second.tell() if first is second else 0
        verdicts: dict[int, Verdict] = {}
        widths: Counter[int] = Counter()
        header: list[str] | None = None

        def survey(block: bytes, verdict: Verdict, counted: np.ndarray | None, line: int) -> object | None:
            return None if counted is None else _counts(counted)

        for event in _blocks(first, dialect, block_size, verdicts).events(survey, dialect.has_header):
            if isinstance(event, Fast):
                for width, count in event.payload:  # type: ignore[attr-defined]
                    widths[width] += count
            elif isinstance(event, Record):
                if event.row and dialect.has_header and header is None:
                    header = event.row
                elif event.row:
                    widths[len(event.row)] += 1
        if isinstance(first, _Tee):
            while first.read(1 << 20):  # what the first pass left, if anything
                pass
        second.seek(start)

        def events(take: _Take) -> Iterator[Event]:
            return _blocks(second, dialect, block_size, verdicts).events(take, dialect.has_header)

        _write(events, name, where, dialect, out, header, widths)
    finally:
        csv.field_size_limit(old_limit)


def _read_single(stream: BinaryIO, name: str, where: str, dialect: Dialect, out: SourceWriter,
                 block_size: int) -> None:
    """The fast path in one pass, for a file whose columns its header or layout names."""
    old_limit = csv.field_size_limit(FIELD_LIMIT)
    try:
        take_now: list[_Take] = []
        events = _blocks(stream, dialect, block_size, {}).events(
            lambda *args: take_now[0](*args), dialect.has_header)
        leading: list[Event] = []
        header: list[str] | None = None
        if dialect.has_header:  # the header is the first record with anything in it
            for event in events:
                leading.append(event)
                if isinstance(event, Record) and event.row:
                    header = event.row
                    break

        def replay(take: _Take) -> Iterator[Event]:
            take_now.append(take)
            return itertools.chain(leading, events)

        _write(replay, name, where, dialect, out, header, Counter(), single_pass=True)
    finally:
        csv.field_size_limit(old_limit)


class _Batches:
    """Rows into the table in batches of BATCH_ROWS, from Python's csv module or Polars alike."""

    def __init__(self, table: TableWriter, width: int) -> None:
        self.table = table
        self.columns: list[list[Value]] = [[] for _ in range(width)]
        self.lines: list[int | None] = []
        self.frames: list[pl.DataFrame] = []
        self.rows = 0  # rows in frames

    def row(self, values: list[Value], line: int) -> None:
        """Add one row read by Python's csv module."""
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)
        self.lines.append(line)
        if self.rows + len(self.lines) >= BATCH_ROWS:
            self.flush()

    def frame(self, frame: pl.DataFrame) -> None:
        """Add rows read by Polars: the table's columns, then _line."""
        self._freeze()
        while frame.height:
            room = BATCH_ROWS - self.rows
            self.frames.append(frame.slice(0, room))
            self.rows += min(room, frame.height)
            frame = frame.slice(room)
            if self.rows >= BATCH_ROWS:
                self.flush()

    def _freeze(self) -> None:
        """The rows from Python's csv module so far as one frame, as `TableWriter.add_columns` makes it."""
        if self.lines:
            frame = column_frame(self.table.column_names, self.columns)
            frame = frame.with_columns(pl.Series(LOCATOR[0], self.lines, dtype=pl.Int64))
            self.frames.append(frame)
            self.rows += frame.height
            self.columns, self.lines = [[] for _ in self.columns], []

    def flush(self) -> None:
        """Write the batch: a column holding bytes in any part holds bytes (text as UTF-8) in all."""
        if not self.frames:
            self.table.add_columns(self.columns, [self.lines])
            self.columns, self.lines = [[] for _ in self.columns], []
            return
        self._freeze()
        binary = {n for f in self.frames for n, t in f.schema.items() if t == pl.Binary}
        frames = [f.with_columns(pl.col(n).cast(pl.Binary) for n in binary if f.schema[n] != pl.Binary)
                  for f in self.frames]
        self.table.add_frame(pl.concat(frames, how="vertical").rechunk())
        self.frames, self.rows = [], 0


def _write(
    events: Callable[[_Take], Iterator[Event]],
    name: str,
    where: str,
    dialect: Dialect,
    out: SourceWriter,
    header: list[str] | None,
    widths: Counter[int],
    single_pass: bool = False,
) -> None:
    notes: list[str] = []
    widest = max(widths, default=0)
    if dialect.column_names is not None:
        given, kind = list(dialect.column_names), f"the {dialect.kind} layout"
    elif header is not None:
        given, kind = [_printable(h) for h in header], "the header"
        if any(g != h for g, h in zip(given, header, strict=True)):
            notes.append(
                "header names held bytes that do not decode; they are written as \\x escapes"
            )
    else:
        usual = widths.most_common(1)[0][0] if widths else 0
        given, kind = [f"column_{i}" for i in range(1, max(usual, widest) + 1)], None
    expected = len(given) if kind else (widths.most_common(1)[0][0] if widths else 0)
    extra = [f"extra_{i}" for i in range(1, widest - len(given) + 1)]
    names, changes = _unique(given + extra, LOCATOR)
    if changes and kind:
        notes.append("column names made unique or non-empty: " + "; ".join(changes))
    if extra:
        notes.append(
            f"rows with more fields than {kind} keep them in {', '.join(names[len(given) :])}"
        )
    table = out.table(PurePath(name).stem or name, [ColumnInfo(n) for n in names], LOCATOR)
    width = len(names)
    batches = _Batches(table, width)
    undecoded = [0] * width
    ragged = controls = blank = 0
    header_pending = header is not None

    def take(block: bytes, verdict: Verdict, _widths: np.ndarray | None, line: int) -> object | None:
        """The rows of a proven block as Polars reads them, when they need nothing Python would do."""
        if header_pending or not verdict.clean or verdict.uniform != expected or expected < 2:
            return None
        return _polars_rows(block, dialect, names, expected, line, verdict.lines)

    for event in events(take):
        if isinstance(event, Fast):
            batches.frame(event.payload)  # type: ignore[arg-type]
            continue
        if isinstance(event, Unreadable):
            out.problem(where, f"lines {event.first}-{event.last}: {event.error}; this record could not be read")
            continue
        line, row = event.line, event.row
        if not row:
            blank += 1
            continue
        if header_pending:
            header_pending = False
            continue
        if single_pass and len(row) > width:
            raise WiderThanHeader(f"{where}: line {line} has {len(row)} fields, more than the {width} named")
        if len(row) != expected:
            ragged += 1
            if ragged <= MAX_LINE_PROBLEMS:
                what = (
                    f"the header has {expected}"
                    if kind == "the header"
                    else f"most rows have {expected}"
                )
                fate = (
                    "the extra values are kept in extra columns"
                    if len(row) > expected and kind
                    else ("the missing fields are null" if len(row) < expected else "all are kept")
                )
                out.problem(where, f"line {line}: {len(row)} fields where {what}; {fate}")
        if any(_CONTROL.search(v) for v in row):
            controls += 1
            if controls <= MAX_LINE_PROBLEMS:
                out.problem(
                    where,
                    f"line {line}: NUL or other control characters (kept as they are)",
                )
        values: list[Value] = []
        for index in range(width):
            value: Value = row[index] if index < len(row) else None
            if isinstance(value, str) and _ESCAPED.search(value):
                value = value_bytes(value, dialect.encoding)
                undecoded[index] += 1
            values.append(value)
        batches.row(values, line)
    batches.flush()
    if ragged > MAX_LINE_PROBLEMS:
        out.problem(where, f"{ragged} lines in all have a number of fields other than {expected}")
    if controls > MAX_LINE_PROBLEMS:
        out.problem(where, f"{controls} lines in all hold NUL or other control characters")
    if blank:
        notes.append(f"{blank} blank lines hold no record and give no row")
    for index, count in enumerate(undecoded):
        if count:
            notes.append(
                f"column {names[index]!r}: {count} values held bytes that are not "
                f"{dialect.encoding}; they are kept as their exact bytes"
            )
    header_word = "yes" if dialect.has_header else "no"
    table.info.notes.insert(
        0,
        f"{dialect.kind}: encoding {dialect.encoding}, delimiter {dialect.delimiter!r}, "
        f"quote {dialect.quotechar!r}, header {header_word}",
    )
    table.info.notes.extend(notes)


def _polars_rows(block: bytes, dialect: Dialect, names: list[str], expected: int, line: int,
                 lines: int) -> pl.DataFrame | None:
    """A proven block's rows read by Polars, padded with the table's extra columns and located; None if
    Polars does not give one row of `expected` fields per line (Python's csv module reads it then)."""
    data = block.decode("cp1252", _LATIN1).encode() if dialect.encoding == "cp1252" else block
    try:
        frame = pl.read_csv(
            data, has_header=False, separator=dialect.delimiter, quote_char=dialect.quotechar,
            schema=dict.fromkeys(names[:expected], pl.String), infer_schema=False,
            empty_string_is_null=False, raise_if_empty=False, truncate_ragged_lines=False,
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None
    if frame.height != lines or frame.width != expected:
        return None
    return frame.with_columns(
        *(pl.lit(None, pl.String).alias(n) for n in names[expected:]),
        pl.int_range(line, line + lines, dtype=pl.Int64).alias(LOCATOR[0]),
    )


def _printable(name: str) -> str:
    """A header name with any undecoded bytes written as \\x escapes."""
    if not _ESCAPED.search(name):
        return name
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC00 <= ord(c) <= 0xDCFF else c for c in name)
