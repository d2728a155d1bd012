"""Join Parquet files of one schema into one file by copying their row groups as they are.

Extract writes each plugin's rows as a part file, then one canonical table from the parts.
Decoding every page and encoding it again cost 12 s for 20 million calls; copying the
pages and writing a new footer costs a copy. A Parquet file is its row groups' pages,
then (optionally) page indexes, then a footer (Thrift compact protocol) that names every
column chunk by its byte offset. Joining files is therefore: copy each file's pages one
after the other, and write a footer with every row group, each offset moved by where its
file's pages now start. Column indexes hold no offsets and are copied; offset indexes
name pages by offset and are written again, moved likewise.

Only files this can join exactly are joined: written by the same Polars (readers adjust
to the writer a footer names, and this checks the layout Polars' writer makes), with the
same schema and key-value metadata, no encryption, no bloom filters, column chunks laid
out one after the other. For anything else, or a footer or offset index that does not
parse, concat_parquet returns False and the caller decodes and encodes as before.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

MAGIC = b"PAR1"

# Thrift compact protocol types
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)

Field = tuple[int, int, Any]  # (field id, type, value)


class NotJoinable(Exception):
    """The files cannot be joined by copying (the reason is the message)."""


class _Reader:
    """Reads Thrift compact protocol values into plain Python structures that _Writer writes back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise NotJoinable("footer ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self._byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise NotJoinable("varint too long")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE):  # a struct field's boolean: its value is its type
            return kind == _TRUE
        if kind == _BYTE:
            return struct.unpack("b", bytes([self._byte()]))[0]
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            start, self.pos = self.pos, self.pos + 8
            return self.data[start:self.pos]
        if kind == _BINARY:
            size = self.varint()
            start, self.pos = self.pos, self.pos + size
            if self.pos > len(self.data):
                raise NotJoinable("footer ends early")
            return self.data[start:self.pos]
        if kind in (_LIST, _SET):
            header = self._byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            if element in (_TRUE, _FALSE):  # booleans in a list: one byte each, kept as read
                return element, [self._byte() for _ in range(size)]
            return element, [self.value(element) for _ in range(size)]
        if kind == _MAP:
            size = self.varint()
            if not size:
                return 0, 0, []
            types = self._byte()
            key, val = types >> 4, types & 0x0F
            return key, val, [(self.value(key), self.value(val)) for _ in range(size)]
        if kind == _STRUCT:
            return self.fields()
        raise NotJoinable(f"unknown Thrift type {kind}")

    def fields(self) -> list[Field]:
        found: list[Field] = []
        last = 0
        while True:
            header = self._byte()
            if header == _STOP:
                return found
            kind, delta = header & 0x0F, header >> 4
            field = last + delta if delta else self.zigzag()
            found.append((field, kind, self.value(kind)))
            last = field


class _Writer:
    """Writes what _Reader read (with changed values) in the Thrift compact protocol."""

    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while value > 0x7F:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def value(self, kind: int, value: Any) -> None:
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self.out += struct.pack("b", value)
        elif kind in (_I16, _I32, _I64):
            self.zigzag(value)
        elif kind == _DOUBLE:
            self.out += value
        elif kind == _BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (_LIST, _SET):
            element, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            if element in (_TRUE, _FALSE):
                self.out += bytes(items)
            else:
                for item in items:
                    self.value(element, item)
        elif kind == _MAP:
            key, val, items = value
            self.varint(len(items))
            if items:
                self.out.append(key << 4 | val)
                for k, v in items:
                    self.value(key, k)
                    self.value(val, v)
        elif kind == _STRUCT:
            self.fields(value)
        else:
            raise NotJoinable(f"unknown Thrift type {kind}")

    def fields(self, fields: list[Field]) -> None:
        last = 0
        for field, kind, value in fields:
            if kind in (_TRUE, _FALSE):
                kind = _TRUE if value else _FALSE
            if 0 < field - last <= 15:
                self.out.append((field - last) << 4 | kind)
            else:
                self.out.append(kind)
                self.zigzag(field)
            self.value(kind, value)
            last = field
        self.out.append(_STOP)


def _get(fields: list[Field], field: int) -> Any:
    return next((value for fid, _, value in fields if fid == field), None)


def _set(fields: list[Field], field: int, value: Any) -> list[Field]:
    return [(fid, kind, value if fid == field else old) for fid, kind, old in fields]


def _without(fields: list[Field], drop: set[int]) -> list[Field]:
    return [f for f in fields if f[0] not in drop]


class _Part:
    """One file to join: its footer and where its pages end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 12 or os.pread(handle.fileno(), 4, 0) != MAGIC:
                raise NotJoinable(f"{path.name}: not a Parquet file")
            tail = os.pread(handle.fileno(), 8, size - 8)
            if tail[4:] != MAGIC:
                raise NotJoinable(f"{path.name}: not a plain Parquet file (encrypted footer?)")
            footer_size = struct.unpack("<I", tail[:4])[0]
            self.footer_start = size - 8 - footer_size
            if self.footer_start < 4:
                raise NotJoinable(f"{path.name}: footer larger than the file")
            self.meta = _Reader(os.pread(handle.fileno(), footer_size, self.footer_start)).fields()
        if _get(self.meta, 8) is not None or _get(self.meta, 9) is not None:
            raise NotJoinable(f"{path.name}: encrypted")
        self.row_groups: list[list[Field]] = (_get(self.meta, 4) or (_STRUCT, []))[1]
        self.pages_end = 4
        indexes = []
        for group in self.row_groups:
            for chunk in _get(group, 1)[1]:
                self._check_chunk(chunk)
                indexes += [(_get(chunk, o), _get(chunk, n)) for o, n in ((6, 7), (4, 5)) if _get(chunk, o) is not None]
        for offset, length in indexes:  # column and offset indexes: between the pages and the footer
            if length is None or offset < self.pages_end or offset + length > self.footer_start:
                raise NotJoinable(f"{path.name}: a page index among the pages")

    def _check_chunk(self, chunk: list[Field]) -> None:
        meta = _get(chunk, 3)
        if meta is None or any(_get(chunk, f) is not None for f in (1, 8, 9)):
            raise NotJoinable(f"{self.path.name}: a column chunk in another file, or encrypted")
        if _get(meta, 14) is not None:
            raise NotJoinable(f"{self.path.name}: bloom filters")
        start = _get(meta, 11) if _get(meta, 11) is not None else _get(meta, 9)
        end = start + _get(meta, 7)
        if start < self.pages_end or end > self.footer_start:
            raise NotJoinable(f"{self.path.name}: column chunks not one after the other")
        self.pages_end = end


def _same(parts: list[_Part], field: int, what: str) -> None:
    first = _get(parts[0].meta, field)
    for part in parts[1:]:
        if _get(part.meta, field) != first:
            raise NotJoinable(f"{part.path.name}: its {what} differs from {parts[0].path.name}'s")


def _moved(fields: list[Field], moves: dict[int, int]) -> list[Field]:
    """The struct with the integer fields named in moves moved by their amount (where present)."""
    return [(fid, kind, value + moves[fid] if fid in moves else value) for fid, kind, value in fields]


def _moved_offset_index(data: bytes, shift: int) -> bytes:
    """An offset index (OffsetIndex) with every page's offset (PageLocation.offset) moved by shift."""
    fields = _Reader(data).fields()
    element, locations = _get(fields, 1)
    writer = _Writer()
    writer.fields(_set(fields, 1, (element, [_moved(page, {1: shift}) for page in locations])))
    return bytes(writer.out)


def concat_parquet(parts: list[Path], target: Path, max_row_groups: int | None = None) -> bool:
    """Write target as the row groups of parts, in order, copied as they are; False (nothing
    written) where the files cannot be joined that way, or would hold more than max_row_groups
    row groups (a file joined again and again: then better written anew, in large ones)."""
    try:
        opened = [_Part(path) for path in parts]
        if not opened:
            return False
        if max_row_groups is not None and sum(len(part.row_groups) for part in opened) > max_row_groups:
            return False
        if not all(str(_get(part.meta, 6) or b"", "utf-8", "replace").startswith("Polars") for part in opened):
            raise NotJoinable("not written by Polars")  # the layout checked here is the one its writer makes
        _same(opened, 6, "writer (created_by)")
        _same(opened, 1, "format version")
        _same(opened, 2, "schema")
        _same(opened, 5, "key-value metadata")
        _same(opened, 7, "column orders")
    except (NotJoinable, TypeError, IndexError, ValueError):
        return False
    partial = target.with_name(f".{target.name}.partial")
    try:
        with open(partial, "wb", buffering=0) as out:
            _write_joined(opened, out.fileno())
            os.fsync(out.fileno())
        os.replace(partial, target)
    except (NotJoinable, TypeError, IndexError, ValueError):  # e.g. an offset index that does not parse
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def _write_joined(parts: list[_Part], out: int) -> None:
    """The joined file: magic, every part's pages, the page indexes, the footer."""
    _write_all(out, MAGIC)
    position = 4
    groups: list[list[Field]] = []
    indexes: list[tuple[bytes | None, bytes | None]] = []  # (column index, offset index) per chunk, in order
    for part in parts:
        shift = position - 4  # where this part's pages start now, less where they started
        with open(part.path, "rb", buffering=0) as handle:
            source = handle.fileno()
            _copy(source, out, 4, part.pages_end - 4)
            position += part.pages_end - 4
            for group in part.row_groups:
                chunks = []
                for chunk in _get(group, 1)[1]:
                    column_index = os.pread(source, _get(chunk, 7), _get(chunk, 6)) if _get(chunk, 6) else None
                    offset_index = (_moved_offset_index(os.pread(source, _get(chunk, 5), _get(chunk, 4)), shift)
                                    if _get(chunk, 4) else None)
                    indexes.append((column_index, offset_index))
                    meta = _moved(_get(chunk, 3), {9: shift, 10: shift, 11: shift})  # data, index, dictionary page
                    moves = {2: shift} if _get(chunk, 2) else {}  # 0: "no metadata outside the footer", kept
                    chunks.append(_without(_set(_moved(chunk, moves), 3, meta), {4, 5, 6, 7}))
                group = _moved(_set(group, 1, (_STRUCT, chunks)), {5: shift})  # the row group's file offset
                if _get(group, 7) is not None and len(groups) > 0x7FFF:
                    raise NotJoinable("more row groups than an ordinal (i16) can number")
                groups.append(_set(group, 7, len(groups)))  # its ordinal, where written
    # The page indexes after all pages: every column index, then every offset index, as writers place them.
    placed: list[list[Field]] = [[] for _ in indexes]
    for which, (offset_field, length_field) in enumerate(((6, 7), (4, 5))):
        for number, blobs in enumerate(indexes):
            blob = blobs[which]
            if blob is not None:
                placed[number] += [(offset_field, _I64, position), (length_field, _I32, len(blob))]
                _write_all(out, blob)
                position += len(blob)
    number = 0
    for index, group in enumerate(groups):
        chunks = []
        for chunk in _get(group, 1)[1]:
            chunks.append(sorted(chunk + placed[number], key=lambda field: field[0]))
            number += 1
        groups[index] = _set(group, 1, (_STRUCT, chunks))
    meta = _set(_set(parts[0].meta, 3, sum(_get(part.meta, 3) for part in parts)), 4, (_STRUCT, groups))
    writer = _Writer()
    writer.fields(meta)
    _write_all(out, bytes(writer.out) + struct.pack("<I", len(writer.out)) + MAGIC)


def _write_all(target: int, data: bytes) -> None:
    """os.write until every byte is written (a write may take fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(target, view):]


def _copy(source: int, target: int, start: int, size: int) -> None:
    """Copy size bytes of source from start to target's position (in the kernel where it can)."""
    done = 0
    try:
        while done < size:
            sent = os.copy_file_range(source, target, size - done, start + done)
            if sent <= 0:
                break
            done += sent
    except OSError:
        pass  # another file system, or no copy_file_range: copied below
    while done < size:
        block = os.pread(source, min(size - done, 16 << 20), start + done)
        if not block:
            raise OSError("file shorter than its footer says")
        _write_all(target, block)
        done += len(block)
