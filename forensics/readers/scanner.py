"""A moving window over a byte stream that knows where it is: byte offset and line.

Dump readers parse statements out of the window; when a statement or a value runs past
the end of what has been read, they ask for more (`fill`), and the window drops what
was already parsed, so memory holds one chunk and the statement being parsed, never
the whole dump.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CHUNK = 8 << 20

_SPACE = re.compile(rb"[ \t\r\n\f\v]*")


class NeedMore(Exception):
    """The window ends inside what is being parsed: fill and parse it again."""


class Scanner:
    """The window: `buf` holds the stream's bytes from absolute offset `base`."""

    def __init__(self, read: Callable[[int], bytes], chunk: int = CHUNK) -> None:
        self._read = read
        self.chunk = chunk
        self.buf = b""
        self.base = 0  # absolute offset of buf[0]
        self.base_line = 1  # line number of buf[0]
        self.pos = 0
        self.eof = False
        self._line_pos = 0  # a position in buf whose line is known, for line_at
        self._line_no = 1

    def fill(self, keep_from: int | None = None) -> bool:
        """Read one more chunk, dropping bytes before keep_from (default: pos). False at the end."""
        if self.eof:
            return False
        keep = self.pos if keep_from is None else keep_from
        if keep > 0:
            self.line_at(keep)  # carry the line count across the drop
            self.base_line = self._line_no
            self.base += keep
            self.buf = self.buf[keep:]
            self.pos -= keep
            self._line_pos, self._line_no = 0, self.base_line
        chunk = self._read(self.chunk)
        while chunk is not None and 0 < len(chunk) < self.chunk // 4:  # read1 streams may return short
            more = self._read(self.chunk - len(chunk))
            if not more:
                break
            chunk += more
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def line_at(self, pos: int) -> int:
        """The line number of position pos in the window (positions asked in rising order are cheap)."""
        if pos >= self._line_pos:
            self._line_no += self.buf.count(b"\n", self._line_pos, pos)
        else:
            self._line_no -= self.buf.count(b"\n", pos, self._line_pos)
        self._line_pos = pos
        return self._line_no

    def known_line(self, pos: int, line: int) -> None:
        """Tell the window the line of a position it was told by a scan that counted them."""
        self._line_pos, self._line_no = pos, line

    def where(self, pos: int | None = None) -> str:
        """'line L, offset O' for a position in the window."""
        at = self.pos if pos is None else pos
        return f"line {self.line_at(at)}, offset {self.base + at}"

    def skip_space(self) -> None:
        """Move past white space, reading more when the window ends in it."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self.fill():
                return

    def at_end(self) -> bool:
        """True when every byte has been parsed."""
        if self.pos < len(self.buf):
            return False
        return not self.fill()

    def ensure(self, size: int) -> bool:
        """Make at least size bytes from pos available if the stream has them."""
        while len(self.buf) - self.pos < size:
            if not self.fill():
                return False
        return True
