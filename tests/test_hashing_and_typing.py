"""Single-read hashing and the cheap typing path, each checked against the reference."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest

from forensics.filetype import FileTyper
from forensics.hashing import CHUNK_SIZE, THREADED_MIN, MultiHash, digest_bytes


@pytest.mark.parametrize("size", [0, 1, 2047, THREADED_MIN - 1, THREADED_MIN, CHUNK_SIZE + 17, 5 * CHUNK_SIZE + 3])
def test_multihash_equals_hashlib(size: int) -> None:
    data = os.urandom(size)
    hasher = MultiHash()
    for start in range(0, len(data), CHUNK_SIZE):
        hasher.update(data[start:start + CHUNK_SIZE])
    got = hasher.digests()
    assert got.size == size
    assert got.md5 == hashlib.md5(data).hexdigest()
    assert got.sha1 == hashlib.sha1(data).hexdigest()
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert digest_bytes(data) == got


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _sqlite(tmp_path: Path) -> bytes:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as db:
        db.execute("create table users(id integer primary key, email text)")
        db.execute("insert into users(email) values ('a@example.org')")
    return path.read_bytes()


def _seven_zip() -> bytes:
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(b"hello", "a.txt")
    return buffer.getvalue()


BINARY_SAMPLES = {
    "png": lambda tmp: _png(3, 2),
    "gif87": lambda tmp: b"GIF87a\x02\x00\x02\x00\x80\x00\x00" + b"\x00" * 20 + b";",
    "gif89": lambda tmp: b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01"
                         b"\x00\x00\x02\x02D\x01\x00;",
    "jpeg": lambda tmp: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb" + b"\x00" * 64,
    "jpeg-exif": lambda tmp: b"\xff\xd8\xff\xe1\x00\x16Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00" + b"\x00" * 64,
    "pdf": lambda tmp: b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
    "gzip": lambda tmp: gzip.compress(b"some text\n" * 50),
    "gzip-named": lambda tmp: _gzip_named(),
    "xz": lambda tmp: lzma.compress(b"x" * 1000),
    "zstd": lambda tmp: __import__("zstandard").ZstdCompressor().compress(b"y" * 1000),
    "7z": lambda tmp: _seven_zip(),
    "sqlite": _sqlite,
}


def _gzip_named() -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile("dump.sql", "wb", fileobj=buffer, mtime=1_600_000_000) as handle:
        handle.write(b"INSERT INTO t VALUES (1);\n")
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(BINARY_SAMPLES))
def test_binary_signature_agrees_with_libmagic(name: str, tmp_path: Path) -> None:
    data = BINARY_SAMPLES[name](tmp_path)
    quick = FileTyper().identify(data)
    full = FileTyper(full_typing=True).identify(data)
    assert quick.typed_by == "signature", name
    assert full.typed_by == "libmagic"
    assert quick.mime == full.mime
    assert full.description.startswith(quick.description), (quick.description, full.description)


TEXT_SAMPLES = {
    "php": b"<?php\necho 'hello';\n",
    "php-crlf": b"<?php\r\necho 'hello';\r\n",
    "php-utf8": "<?php\necho 'h\u00e9llo \u4e16\u754c';\n".encode(),
    "php-latin1": b"<?php\necho '\xe9t\xe9';\n",
    "php-long-line-300": b"<?php\n" + b"a" * 300 + b"\n",
    "php-long-line-301": b"<?php\n" + b"a" * 301 + b"\n",
    "php-no-newline": b"<?php echo 1;",
    "php-tabs-formfeed": b"<?php\n\techo 1;\x0c\n\x0b\n",
    "php-escape": b"<?php\necho '\x1b[0m';\n",
    "php-then-html": b"<?php include 'head.php'; ?>\n<html><body>hi</body></html>\n",
    "php-cr-only": b"<?php\recho 1;\r",
    "php-mixed-ends": b"<?php\r\necho 1;\necho 2;\r\n",
    "php-del": b"<?php\necho 1;\x7f\n",
    "php-nul": b"<?php\necho 1;\x00\x00\n",
    "php-bom": b"\xef\xbb\xbf<?php\necho 1;\n",
    "html-doctype": b"<!DOCTYPE html>\n<html><head><title>x</title></head><body></body></html>\n",
    "html-doctype-lower": b"<!doctype html>\n<html lang=\"en\"><body>x</body></html>\n",
    "html-tag": b"<html>\n<body>x</body>\n</html>\n",
    "html-upper": b"<HTML>\n<BODY>x</BODY>\n</HTML>\n",
    "html-long": b"<!DOCTYPE html>\n<p>" + b"a" * 400,
    "html-utf8": "<html>\n<body>caf\u00e9</body>\n</html>\n".encode(),
    "xml-not-html": b"<?xml version=\"1.0\"?>\n<root/>\n",
}


@pytest.mark.parametrize("name", sorted(TEXT_SAMPLES))
def test_text_fast_path_gives_exactly_what_libmagic_gives(name: str) -> None:
    data = TEXT_SAMPLES[name]
    quick = FileTyper().identify(data)
    full = FileTyper(full_typing=True).identify(data)
    assert (quick.mime, quick.description) == (full.mime, full.description), name


def test_plain_php_takes_the_cheap_path() -> None:
    found = FileTyper().identify(b"<?php\n$db = new PDO($dsn, $user, $pass);\n")
    assert found == FileTyper().identify(b"<?php\n$db = new PDO($dsn, $user, $pass);\n")
    assert found.typed_by == "signature"
    assert found.description == "PHP script, ASCII text"


def test_other_files_go_to_libmagic() -> None:
    for data in (b"just some words\n", bz2.compress(b"z" * 100), os.urandom(300)):
        assert FileTyper().identify(data).typed_by == "libmagic"


LIBMAGIC_SAMPLES = {
    "plain-ascii": b"just some words\nand more\n",
    "utf8": "caf\u00e9 na\u00efve\n".encode(),
    "latin1": b"caf\xe9\n",
    "utf16": "hello\n".encode("utf-16"),
    "crlf": b"line one\r\nline two\r\n",
    "css": b".a { margin: 0; color: #fff; }\n.b { padding: 1px; }\n",
    "javascript": b"function f(x) {\n  var y = x + 1;\n  return y;\n}\n",
    "json": b'{"user": "shadow", "balance": 12.5, "calls": [1, 2, 3]}\n',
    "csv": b"id,username,email\n1,shadow,a@example.org\n2,ghost,b@example.org\n",
    "shell": b"#!/bin/sh\necho hello\n",
    "python": b"#!/usr/bin/env python3\nimport os\nprint(os.name)\n",
    "c-source": b"#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }\n",
    "sql": b"CREATE TABLE users (id int);\nINSERT INTO users VALUES (1);\n",
    "xml": b"<?xml version=\"1.0\"?>\n<root><a>1</a></root>\n",
    "random": bytes(range(256)) * 4,
    "zeros": bytes(4096),
    "elf-ish": b"\x7fELF\x02\x01\x01" + bytes(60),
    "bzip2": bz2.compress(b"data" * 100),
    "apache-log": b'203.0.113.9 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 7 "-" "curl/7.0"\n' * 5,
}


@pytest.mark.parametrize("name", sorted(LIBMAGIC_SAMPLES))
def test_libmagic_path_equals_two_full_libmagic_calls(name: str) -> None:
    import magic

    data = LIBMAGIC_SAMPLES[name]
    got = FileTyper().libmagic(data)
    assert (got.mime, got.description) == (magic.Magic(mime=True).from_buffer(data), magic.Magic().from_buffer(data))


def test_identical_content_is_typed_once() -> None:
    typer = FileTyper()
    data = b"function f() { return 1; }\n"
    digest = hashlib.sha256(data).hexdigest()
    first = typer.identify(data, digest)
    assert typer._by_content[digest] == first
    assert typer.identify(data, digest) is first
