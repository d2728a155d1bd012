"""File types from libmagic, with a cheaper path for the commonest signatures.

A full libmagic call costs about half a millisecond, almost all of it in its "soft magic"
rule base. That caps typing at a few thousand files a second per core, far below hashing.
Two cheaper paths cover the files seized web servers are mostly made of:

* binary signatures (PNG, JPEG, GIF, PDF, gzip, xz, zstd, 7-zip, SQLite): the MIME type
  libmagic gives is fixed by the leading bytes, and the description is the leading part of
  libmagic's (without details such as image size);
* PHP and HTML text: the MIME type and the first part of the description are fixed by the
  opening tag; the rest of the description (encoding, line terminators, long lines) comes
  from libmagic itself with soft magic turned off, so it is libmagic's own words.

Every rule is checked against full libmagic in tests/test_hashing_and_typing.py. The catalogue says
which way each file was typed (``typed_by``); ``--full-typing`` sends every file to libmagic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import magic

HEAD_SIZE = 1 << 20
LONG_LINE = 300  # libmagic adds "with very long lines" past this many characters
_PLAIN_ASCII = bytes([9, 10, 11, 12, *range(32, 127)])

# (offset, signature, mime, description prefix). The MIME type is exactly libmagic's.
BINARY_SIGNATURES: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png", "PNG image data"),
    (0, b"GIF87a", "image/gif", "GIF image data"),
    (0, b"GIF89a", "image/gif", "GIF image data"),
    (0, b"\xff\xd8\xff", "image/jpeg", "JPEG image data"),
    (0, b"%PDF-", "application/pdf", "PDF document"),
    (0, b"\x1f\x8b\x08", "application/gzip", "gzip compressed data"),
    (0, b"\xfd7zXZ\x00", "application/x-xz", "XZ compressed data"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed", "7-zip archive data"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd", "Zstandard compressed data"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3", "SQLite 3.x database"),
)

_SIGNATURES_BY_FIRST_BYTE: dict[int, list[tuple[int, bytes, FileType]]] = {}

# Text whose opening decides libmagic's soft-magic verdict: (prefix, mime, description prefix).
TEXT_OPENINGS: tuple[tuple[bytes, str, str], ...] = (
    (b"<?php", "text/x-php", "PHP script"),
    (b"<!doctype html", "text/html", "HTML document"),
    (b"<html", "text/html", "HTML document"),
)


@dataclass(frozen=True)
class FileType:
    """What a file is: MIME type, description, and which path decided it."""

    mime: str
    description: str
    typed_by: str


for _offset, _signature, _mime, _description in BINARY_SIGNATURES:
    _SIGNATURES_BY_FIRST_BYTE.setdefault(_signature[0], []).append(
        (_offset, _signature, FileType(_mime, _description, "signature")))


@dataclass(frozen=True)
class _Handles:
    """libmagic loaded four ways: full description and MIME type, and both without soft magic."""

    describe: magic.Magic
    mime: magic.Magic
    text_only: Any
    text_only_mime: Any

    def close(self) -> None:
        """Free the two raw handles (the Magic objects free theirs themselves)."""
        try:
            magic.magic_close(self.text_only)
        finally:
            magic.magic_close(self.text_only_mime)


class FileTyper:
    """Types byte heads. Not thread-safe: make one per worker process or thread."""

    def __init__(self, full_typing: bool = False) -> None:
        self.full_typing = full_typing
        self._handles: _Handles | None = None  # libmagic's rules, loaded when first needed
        self._by_content: dict[str, FileType] = {}
        self._by_opening: dict[tuple[str, str], FileType] = {}  # text types, one object per wording

    def identify(self, head: bytes, sha256: str | None = None, plain_lines: bool | None = None) -> FileType:
        """Type a file from its first bytes (up to HEAD_SIZE).

        With the SHA-256 of the whole file, content already typed by this typer is not
        typed again (seized servers hold many copies of the same files). plain_lines, when
        known (the compiled reader tells), says whether head is plain ASCII lines (see
        _text_description).
        """
        if not head:  # what libmagic says of an empty file (it decides by the file's size)
            return FileType("inode/x-empty", "empty", "signature")
        if not self.full_typing:
            quick = self._quick(head, plain_lines)
            if quick is not None:
                return quick
        if sha256 is not None and (known := self._by_content.get(sha256)) is not None:
            return known
        found = self.libmagic(head)
        if sha256 is not None:
            if len(self._by_content) >= 200_000:
                self._by_content.clear()
            self._by_content[sha256] = found
        return found

    def libmagic(self, head: bytes) -> FileType:
        """Full libmagic: description and MIME type, exactly as libmagic gives them.

        When the full description equals libmagic's own description with soft magic off,
        no soft-magic rule matched, so the MIME type with soft magic off is the same as the
        full one: that saves the second expensive call (about 2 ms for plain text).
        """
        handles = self._libmagic()
        description = handles.describe.from_buffer(head)
        if description == _text(magic.magic_buffer(handles.text_only, head)):
            return FileType(_text(magic.magic_buffer(handles.text_only_mime, head)), description, "libmagic")
        return FileType(handles.mime.from_buffer(head), description, "libmagic")

    def __del__(self) -> None:
        handles = getattr(self, "_handles", None)
        if handles is not None:
            try:
                handles.close()
            except Exception:  # noqa: BLE001, S110 - at interpreter exit libmagic's module may be gone already
                pass

    def _libmagic(self) -> _Handles:
        """libmagic's handles, opened on first use: a reader whose files the signatures type
        never opens them."""
        if self._handles is None:
            text_only = magic.magic_open(magic.MAGIC_NO_CHECK_SOFT)
            magic.magic_load(text_only, None)
            text_only_mime = magic.magic_open(magic.MAGIC_NO_CHECK_SOFT | magic.MAGIC_MIME_TYPE)
            magic.magic_load(text_only_mime, None)
            self._handles = _Handles(magic.Magic(), magic.Magic(mime=True), text_only, text_only_mime)
        return self._handles

    def _quick(self, head: bytes, plain_lines: bool | None = None) -> FileType | None:
        for offset, signature, found in _SIGNATURES_BY_FIRST_BYTE.get(head[0], ()):
            if head.startswith(signature, offset):
                return found
        if head[:1] != b"<":
            return None
        opening = head[:16].lower()
        for prefix, mime, description in TEXT_OPENINGS:
            if opening.startswith(prefix):
                text = self._text_description(head, plain_lines)
                if "text" not in text:
                    return None
                found = self._by_opening.get((description, text))
                if found is None:
                    found = self._by_opening.setdefault((description, text),
                                                        FileType(mime, f"{description}, {text}", "signature"))
                return found
        return None

    def _text_description(self, head: bytes, plain_lines: bool | None = None) -> str:
        """libmagic's words for the text itself (encoding, line ends), without soft magic.

        Plain ASCII with LF line ends and no line past LONG_LINE is "ASCII text" (checked
        against libmagic in the tests); anything else is asked of libmagic.
        """
        if plain_lines is None:
            plain_lines = is_plain_lines(head)
        if plain_lines:
            return "ASCII text"
        return _text(magic.magic_buffer(self._libmagic().text_only, head))


def is_plain_lines(head: bytes) -> bool:
    """Plain ASCII (tab, LF, VT, FF, printable), at least one LF, no line past LONG_LINE bytes.

    The compiled reader (forensics/_intake.c) makes the same check; tests compare them.
    """
    return not head.translate(None, _PLAIN_ASCII) and b"\n" in head and max(map(len, head.split(b"\n"))) <= LONG_LINE


def _text(value: bytes | str | None) -> str:
    """A libmagic answer as text."""
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
