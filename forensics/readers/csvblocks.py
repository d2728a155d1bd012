"""Blocks of a delimited file that Polars can read exactly as Python's csv module does.

The reference reader (`forensics.readers.delimited`) reads a file line by line with Python's
csv module: exact, and slow (about 10 s a million rows). This module cuts the file into
blocks ending at a line end and proves, for each block, that every line in it is one
record that Python's csv module and an RFC 4180 parser (Polars) split into the same fields
(`check_block`). Such a block may be parsed by Polars; any other stretch of the file is read
by Python's csv module exactly as the reference does it, from a record's first line until
a record ends at or past the end of the block (`BlockStream.python_region`).

The proof (`check_block`), with Q the quote character and D the delimiter:

* no line feed inside quotes: before every line feed the block holds an even number of Q;
* every Q that opens a quoted part (the 1st, 3rd, 5th... of the block) follows D, a line feed,
  another Q or the block's start; every Q that closes one (the 2nd, 4th...) is followed by D,
  CR, a line feed, another Q or the block's end. So each field is either unquoted without Q,
  or quoted from its first byte to its last with Q inside doubled: where both parsers agree;
* no CR other than in CR LF (Python's csv also ends a line at a lone CR), no blank line
  (Python gives it no record, Polars a row of empty fields);
* no line as long as FIELD_LIMIT bytes (Python's csv would refuse a field that long);
* the number of fields of each line is 1 + the delimiters outside quotes.

A block is also `clean` when it holds no control character (the reference records each such
line as a problem), its bytes are valid in the encoding (else the reference keeps bytes) and
it does not start with a byte order mark (which Polars would drop).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

BLOCK_BYTES = 16 << 20
FIELD_LIMIT = 1 << 28  # characters in one field before Python's csv gives up (the reader sets it)
_BOM = b"\xef\xbb\xbf"
_LF, _CR, _TAB, _DEL = 10, 13, 9, 127
_SPLIT_BYTES = 1 << 20  # blocks from this size are checked in two halves at once
_POOL = ThreadPoolExecutor(2, thread_name_prefix="csvcheck")  # numpy lets go of the GIL


@dataclass(frozen=True)
class Verdict:
    """What `check_block` found for one block."""

    end: int  # the block's length in bytes
    lines: int  # lines (each one record when proven)
    proven: bool  # Python's csv and Polars split every line alike
    uniform: int | None  # the number of fields of every line, None if they differ (or not proven)
    clean: bool  # no control characters, valid in the encoding, no leading byte order mark


@dataclass(frozen=True)
class Record:
    """A record read by Python's csv module: the line it starts on and its fields."""

    line: int
    row: list[str]


@dataclass(frozen=True)
class Unreadable:
    """A record Python's csv module could not read (csv.Error), as the reference reports it."""

    first: int
    last: int
    error: csv.Error


@dataclass(frozen=True)
class Fast:
    """A proven block taken by the fast path: its first line and what the caller made of it."""

    line: int
    lines: int
    payload: object


Event = Union[Record, Unreadable, Fast]


def check_block(block: bytes, delimiter: str, quotechar: str | None, utf8: bool) -> tuple[Verdict, np.ndarray | None]:
    """The verdict on a block that starts at a record's first byte, and its fields per line when proven.

    A large block is checked as two halves cut after a line feed, on two threads: were the
    cut inside quotes, the first half would hold an odd number of quotes and not be proven,
    so the halves are proven exactly when the block is.
    """
    middle = block.find(b"\n", len(block) // 2) + 1 if len(block) >= _SPLIT_BYTES else 0
    if not 0 < middle < len(block):
        return _check(block, delimiter, quotechar, utf8)
    halves = _POOL.map(lambda part: _check(part, delimiter, quotechar, utf8), (block[:middle], block[middle:]))
    (first, widths1), (second, widths2) = halves
    proven = first.proven and second.proven
    uniform = first.uniform if proven and first.uniform == second.uniform else None
    verdict = Verdict(len(block), first.lines + second.lines, proven, uniform, proven and first.clean and second.clean)
    widths = np.concatenate((widths1, widths2)) if widths1 is not None and widths2 is not None else None
    return verdict, widths


def _compiled_check() -> Callable[[bytes, int, int, int], tuple[int, bool, bytes | None, int, bool]] | None:
    """The compiled one-pass check (forensics/_csvcheck.c), or None where it was not built."""
    try:
        from forensics._csvcheck import check_block as compiled
    except ImportError:
        return None
    return compiled  # type: ignore[no-any-return]


_COMPILED_CHECK = _compiled_check()


def _check(block: bytes, delimiter: str, quotechar: str | None, utf8: bool) -> tuple[Verdict, np.ndarray | None]:
    """The verdict on a block that starts at a record's first byte, and its fields per line when proven.

    The compiled check where it was built and the delimiter and quote are single bytes; else
    `check_with_numpy`, which it must agree with (tests compare them).
    """
    quote = -1 if quotechar is None else ord(quotechar)
    if _COMPILED_CHECK is None or ord(delimiter) > 255 or quote > 255:
        return check_with_numpy(block, delimiter, quotechar, utf8)
    lines, proven, counted, controls, has_del = _COMPILED_CHECK(block, ord(delimiter), quote, FIELD_LIMIT)
    if not proven or counted is None:
        return Verdict(len(block), lines, False, None, False), None
    widths = np.frombuffer(counted, np.int32)
    uniform = int(widths[0]) if np.all(widths == widths[0]) else None
    return Verdict(len(block), lines, True, uniform, _clean(block, controls == 0 and not has_del, utf8)), widths


def _clean(block: bytes, no_controls: bool, utf8: bool) -> bool:
    """Clean: no control characters, no leading byte order mark, and (utf8) valid UTF-8."""
    clean = no_controls and not block.startswith(_BOM)
    if clean and utf8 and not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            clean = False
    return clean


def check_with_numpy(block: bytes, delimiter: str, quotechar: str | None,
                     utf8: bool) -> tuple[Verdict, np.ndarray | None]:
    """`_check` in NumPy: the reference the compiled check is tested against."""
    a = np.frombuffer(block, np.uint8)
    size = len(a)
    at_end = size > 0 and a[-1] == _LF
    nl = np.flatnonzero(a == _LF)
    lines = len(nl) + (0 if at_end or size == 0 else 1)
    unproven = Verdict(size, lines, False, None, False)
    if size == 0:
        return unproven, None
    cr = np.flatnonzero(a == _CR)
    if cr.size and (cr[-1] + 1 >= size or not np.all(a[cr + 1] == _LF)):
        return unproven, None  # a lone CR ends a line for Python's csv
    starts = np.concatenate(([0], nl[:-1] + 1)) if at_end else np.concatenate(([0], nl + 1))
    ends = np.append(nl, size) if not at_end else nl
    length = ends - starts
    if np.any(length == 0) or np.any((length == 1) & (a[np.minimum(starts, size - 1)] == _CR)):
        return unproven, None  # a blank line
    if int(length.max()) >= FIELD_LIMIT:
        return unproven, None  # a field this long is an error for Python's csv
    d = np.flatnonzero(a == ord(delimiter))
    tabs = len(d) if delimiter == "\t" else np.count_nonzero(a == _TAB)
    if quotechar is not None:
        quote = ord(quotechar)
        q = np.flatnonzero(a == quote)
        if len(q) % 2 or np.any(np.searchsorted(q, nl) % 2):
            return unproven, None  # a line feed inside quotes
        opens, closes = q[0::2], q[1::2]
        before = a[opens - 1]  # opens[0] == 0 reads a[-1]: allowed below
        ok = (before == ord(delimiter)) | (before == _LF) | (before == quote)
        if opens.size and opens[0] == 0:
            ok[0] = True
        if not np.all(ok):
            return unproven, None
        after_at = closes + 1
        after = a[np.minimum(after_at, size - 1)]
        ok = (after == ord(delimiter)) | (after == _LF) | (after == _CR) | (after == quote) | (after_at == size)
        if not np.all(ok):
            return unproven, None
        d = d[np.searchsorted(q, d) % 2 == 0]
    before_lf = np.searchsorted(d, nl)  # delimiters before each line feed (outside quotes)
    widths = np.diff(np.concatenate(([0], before_lf, [len(d)])))[:lines] + 1
    uniform = int(widths[0]) if np.all(widths == widths[0]) else None
    controls = np.count_nonzero(a < 32) - len(nl) - len(cr) - tabs
    return Verdict(size, lines, True, uniform, _clean(block, controls == 0 and _DEL not in block, utf8)), widths


class BlockStream:
    """A stream read from a record's first byte in blocks cut after a line feed.

    `events` gives, in file order, proven blocks the caller takes (`Fast`) and the records
    Python's csv module reads everywhere else (`Record`, `Unreadable`). Blocks are cut the
    same way every time the same bytes are read, so verdicts found in one pass are reused
    by the next (`verdicts`, by the block's offset).
    """

    def __init__(self, stream: BinaryIO, block_size: int, delimiter: str, quotechar: str | None,
                 decode: Callable[[bytes], str], make_reader: Callable[[Iterator[str]], CsvReader],
                 utf8: bool, verdicts: dict[int, Verdict]) -> None:
        self.stream = stream
        self.block_size = max(block_size, 1)
        self.delimiter, self.quotechar = delimiter, quotechar
        self.decode, self.make_reader, self.utf8 = decode, make_reader, utf8
        self.verdicts = verdicts
        self.buf = b""
        self.offset = 0  # absolute offset of buf[0], always a record's first byte between events
        self.line = 1  # line number of buf[0]
        self.eof = False

    def _more(self, size: int) -> bool:
        """Read until buf holds at least size bytes; False when the stream had nothing more."""
        parts, have, grew = [self.buf], len(self.buf), False
        while have < size and not self.eof:
            chunk = self.stream.read(max(size - have, 1 << 16))
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
            grew = True
        self.buf = b"".join(parts)
        return grew

    def skip(self, prefix: bytes) -> bool:
        """Drop prefix if the stream goes on with it (a byte order mark); True if it did."""
        self._more(len(prefix))
        if not self.buf.startswith(prefix):
            return False
        self.buf, self.offset = self.buf[len(prefix):], self.offset + len(prefix)
        return True

    def _block(self) -> bytes:
        """About block_size bytes from buf[0], ending just after a line feed or at the end."""
        self._more(self.block_size)
        cut = self.buf.rfind(b"\n", 0, self.block_size) + 1
        searched = min(len(self.buf), self.block_size)
        while cut == 0:
            if not self._more(len(self.buf) + self.block_size):
                return self.buf
            cut = self.buf.find(b"\n", searched) + 1
            searched = len(self.buf)
        return self.buf[:cut]

    def events(self, take: Callable[[bytes, Verdict, np.ndarray | None, int], object | None],
               header: bool) -> Iterator[Event]:
        """Every record of the stream as Fast blocks (where `take` gives a payload) or Python's records.

        take(block, verdict, widths, first line): the payload for a proven block, or None to
        have Python's csv module read it. header: read up to the first non-blank record with
        Python's csv module whatever follows.
        """
        if header:
            yield from self.python_region(self.offset, header=True)
        while True:
            block = self._block()
            if not block:
                return
            verdict, widths = self.verdicts.get(self.offset), None
            if verdict is None or verdict.end != len(block):
                verdict, widths = check_block(block, self.delimiter, self.quotechar, self.utf8)
                self.verdicts[self.offset] = verdict
            payload = take(block, verdict, widths, self.line) if verdict.proven else None
            if payload is None:
                yield from self.python_region(self.offset + len(block))
                continue
            yield Fast(self.line, verdict.lines, payload)
            self.buf = self.buf[len(block):]
            self.offset += len(block)
            self.line += verdict.lines

    def python_region(self, stop_at: int, header: bool = False) -> Iterator[Event]:
        """Records read by Python's csv module from buf[0] until one ends at or past stop_at.

        With header, also until a non-blank record was read. Afterwards buf starts where the
        last record read ends.
        """
        start_offset, start_line = self.offset, self.line
        done = [0, 0]  # bytes and lines handed to the csv reader

        def lines() -> Iterator[str]:
            while True:
                given = start_offset + done[0] - self.offset  # drop what the reader was given
                self.buf, self.offset, self.line = self.buf[given:], start_offset + done[0], start_line + done[1]
                end = self.buf.rfind(b"\n") + 1
                if end == 0:  # no whole line yet
                    if self._more(len(self.buf) + self.block_size):
                        continue
                    end = len(self.buf)
                    if end == 0:
                        return
                for raw in self.buf[:end].splitlines(keepends=True):
                    done[0] += len(raw)
                    done[1] += 1
                    yield self.decode(raw)

        reader = self.make_reader(lines())
        previous = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield Unreadable(start_line + previous, start_line - 1 + reader.line_num, exc)
            else:
                yield Record(start_line + previous, row)
                header = header and not row
            previous = reader.line_num
            if not header and start_offset + done[0] >= stop_at:
                break
        p = start_offset + done[0] - self.offset
        self.buf, self.offset, self.line = self.buf[p:], start_offset + done[0], start_line + done[1]
