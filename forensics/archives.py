"""Archive members read as streams: zip, tar, gzip, bzip2, xz, zstd and 7-zip, recursively.

Nothing is ever unpacked beside the evidence. Streams (gzip, bzip2, xz, zstd, tar) are read
straight through; zip and 7-zip need to seek, so a member that is itself one of those is
spooled to an anonymous temporary file inside the case (memory first, disk past 64 MiB).
Member names, including ../ and absolute ones, are only ever recorded, never used as paths.

Every member is hashed as it streams past (the Tee), and its expansion is checked against
the limits: past ``max_member_size`` bytes, or past ``max_ratio`` times the compressed bytes
it came from, it is recorded as a suspected bomb and not read further.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from forensics.filetype import HEAD_SIZE, FileTyper
from forensics.hashing import CHUNK_SIZE, MultiHash

SEP = "!"
SNIFF_SIZE = 512
SPOOL_IN_MEMORY = 64 << 20

# Suffix of a compressed file -> what the name of its content ends with instead.
SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "gzip": ((".tgz", ".tar"), (".gz", ""), (".z", "")),
    "bzip2": ((".tbz2", ".tar"), (".tbz", ".tar"), (".bz2", "")),
    "xz": ((".txz", ".tar"), (".xz", "")),
    "zstd": ((".tzst", ".tar"), (".zst", "")),
}

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Limits:
    """How far an archive member may expand before it is treated as a bomb."""

    max_member_size: int = 64 << 30
    max_ratio: float = 1000.0
    ratio_floor: int = 16 << 20
    max_depth: int = 16

    def exceeded(self, expanded: int, compressed: int | None) -> str | None:
        """Why a member that has expanded to this many bytes (from this many compressed bytes,
        when known) is a suspected bomb, or None while it is within the limits."""
        if expanded > self.max_member_size:
            return f"suspected archive bomb: expanded past {self.max_member_size} bytes; skipped"
        if compressed is not None and expanded > self.ratio_floor and expanded > self.max_ratio * max(compressed, 1):
            return (f"suspected archive bomb: {expanded} bytes from {compressed} compressed "
                    f"(ratio over {self.max_ratio:g}:1); skipped")
        return None


def kind_of(mode: int) -> str:
    """The catalogue's kind for an st_mode."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISBLK(mode):
        return "block-device"
    if stat.S_ISCHR(mode):
        return "char-device"
    return "other"


_CONTAINER_SIGNATURES = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"7z\xbc\xaf\x27\x1c", "7z"),
)
_CONTAINER_OPENINGS = (*(signature for signature, _ in _CONTAINER_SIGNATURES), b"BZh")


def container_kind(head: bytes) -> str | None:
    """Which container format a stream starts with, if any (head: at least its first 512 bytes,
    or all of it)."""
    if head.startswith(_CONTAINER_OPENINGS):  # one test for every signature: most files have none
        for signature, kind in _CONTAINER_SIGNATURES:
            if head.startswith(signature):
                return kind
        if head[3:4].isdigit():
            return "bzip2"
    if len(head) >= 512 and (head[257:262] == b"ustar" or _is_v7_tar(head)):
        return "tar"
    return None


def _is_v7_tar(head: bytes) -> bool:
    """An old-style tar header: a valid header checksum and a file name."""
    field = head[148:156].strip(b" \x00")
    if not field or not field.isdigit():
        return False
    try:
        stored = int(head[148:156].rstrip(b"\x00 ").decode("ascii") or "x", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed and head[0] != 0


def display(name_bytes: bytes) -> str:
    """A path as text: UTF-8 where it is, \\xNN for bytes that are not."""
    return name_bytes.decode("utf-8", "backslashreplace")


def to_bytes(name: str) -> bytes:
    """The bytes of a name decoded with surrogateescape (tar, os) or plain text (zip)."""
    return name.encode("utf-8", "surrogateescape")


def epoch_ns(seconds: float | None) -> int | None:
    """An epoch time in seconds as integer nanoseconds (how rows carry times), or None."""
    if seconds is None:
        return None
    try:
        return round(float(seconds) * 1_000_000_000)
    except (OverflowError, ValueError):
        return None


@dataclass(frozen=True)
class Compressed:
    """The compressed bytes behind a member, for the ratio limit: a running count of what its
    decoder has consumed (gzip, bzip2, xz, zstd streams), or a fixed total (a zip member's
    compressed size)."""

    count: Callable[[], int]
    running: bool

    @classmethod
    def fixed(cls, size: int) -> Compressed:
        """A total known in advance."""
        return cls(lambda: size, running=False)

    def from_here(self) -> Compressed:
        """For a member that starts now within this stream: a running count restarts at zero."""
        if not self.running:
            return self
        start = self.count()
        return Compressed(lambda: self.count() - start, running=True)


class ArchiveBomb(Exception):
    """A member expanded past the limits."""

    def __init__(self, tee: Tee, message: str) -> None:
        super().__init__(message)
        self.tee = tee


class StreamError(Exception):
    """Reading a stream failed (truncated, corrupt, I/O error)."""

    def __init__(self, tee: Tee, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.tee = tee
        self.cause = cause


class ByteCount:
    """Stands in for MultiHash where bytes only need counting (a file on disk already hashed)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)


class Tee:
    """A read-only stream wrapper that hashes, counts, keeps the head and enforces limits."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        limits: Limits | None,
        compressed: Compressed | None = None,
        hashing: bool = True,
    ) -> None:
        self._read = read
        self.limits = limits
        self.compressed = compressed
        self.hasher: MultiHash | ByteCount = MultiHash() if hashing else ByteCount()
        self.head = bytearray()
        self._pending = b""
        self.eof = False

    @property
    def count(self) -> int:
        """Bytes read from the underlying stream so far."""
        return self.hasher.size

    def _pull(self, size: int) -> bytes:
        try:
            data = self._read(size)
        except (ArchiveBomb, StreamError):
            raise
        except Exception as exc:
            raise StreamError(self, exc) from exc
        if not data:
            self.eof = True
            return b""
        self.hasher.update(data)
        if len(self.head) < HEAD_SIZE:
            self.head += data[: HEAD_SIZE - len(self.head)]
        self._check()
        return data

    def _check(self) -> None:
        if self.limits is None:
            return
        consumed = self.compressed.count() if self.compressed is not None else None
        problem = self.limits.exceeded(self.hasher.size, consumed)
        if problem is not None:
            raise ArchiveBomb(self, problem)

    def sniff(self) -> bytes:
        """The first SNIFF_SIZE bytes (fewer at end of stream), without consuming them."""
        while len(self._pending) < SNIFF_SIZE and not self.eof:
            self._pending += self._pull(CHUNK_SIZE)
        return self._pending[:SNIFF_SIZE]

    def read(self, size: int = -1) -> bytes:
        """Read up to size bytes (all that is left when size < 0)."""
        if size is None or size < 0:
            parts = [self._pending]
            self._pending = b""
            while chunk := self._pull(CHUNK_SIZE):
                parts.append(chunk)
            return b"".join(parts)
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        if self.eof:
            return b""
        data = self._pull(size)
        if len(data) > size:  # some decoders return more than asked
            data, self._pending = data[:size], data[size:]
        return data

    def readable(self) -> bool:
        return True

    def drain(self, sink: IO[bytes] | None = None) -> None:
        """Read to the end (writing to sink if given), so the hashes cover everything."""
        if self._pending:
            if sink is not None:
                sink.write(self._pending)
            self._pending = b""
        while chunk := self._pull(CHUNK_SIZE):
            if sink is not None:
                sink.write(chunk)


class ArchiveReader:
    """Catalogues the members of containers, calling emit(row) for every member found."""

    def __init__(self, typer: FileTyper, limits: Limits, tmp_dir: str | None, emit: Emit) -> None:
        self.typer = typer
        self.limits = limits
        self.tmp_dir = tmp_dir
        self.emit = emit

    # -- entry points -------------------------------------------------------------------

    def open_container(self, kind: str, handle: IO[bytes], chain: str, depth: int) -> str | None:
        """Catalogue the members of a container whose bytes are in a seekable handle.

        Returns an error text for the container's own row, or None.
        """
        try:
            if kind == "zip":
                return self._zip(handle, chain, depth)
            if kind == "7z":
                return self._sevenzip(handle, chain, depth)
            tee = Tee(handle.read, None, hashing=False)  # the container itself is hashed by its caller
            if kind == "tar":
                return self._tar(tee, chain, depth, Compressed(lambda: tee.count, running=True))
            self._decompress(kind, tee, chain, depth)
            return None
        except StreamError as exc:
            return f"archive unreadable after {exc.tee.count} bytes: {describe_exception(exc.cause)}"
        except ArchiveBomb as exc:
            return f"not read to the end: {exc}"

    def catalogue_stream(
        self,
        read: Callable[[int], bytes],
        chain: str,
        depth: int,
        meta: dict[str, Any],
        compressed: Compressed | None,
        parent_streams: bool,
    ) -> None:
        """Hash, type and (if it is a container) open one member read from a stream.

        compressed: the compressed bytes behind this member (None: not judged by ratio).

        parent_streams says the parent can only be read in order (gzip, tar): after a bomb
        or a failed read inside this member, the parent cannot go on and the error is raised
        again for it to record.
        """
        tee = Tee(read, self.limits, compressed)
        row = {"path": chain, "depth": depth, "kind": "file", **meta}
        error: str | None = None
        reraise: BaseException | None = None
        cut_short = False  # this member's own bytes were not all read
        try:
            kind = container_kind(tee.sniff())
            if kind is not None and depth > self.limits.max_depth:
                error = f"archive nested deeper than {self.limits.max_depth} levels: not opened"
                kind = None
            if kind is None:
                tee.drain()
            elif kind in ("zip", "7z"):
                with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=self.tmp_dir) as spool:
                    tee.drain(spool)
                    spool.seek(0)
                    error = self.open_container(kind, spool, chain, depth)  # type: ignore[arg-type]
            elif kind == "tar":
                outer = compressed or Compressed(lambda: tee.count, running=True)
                tee.compressed = None  # a tar adds no compression: its members are judged, not the tar
                error = self._tar(tee, chain, depth, outer)
                tee.drain()
            else:
                self._decompress(kind, tee, chain, depth)
                tee.drain()
        except ArchiveBomb as exc:
            cut_short = True
            error = str(exc) if exc.tee is tee else "not read to the end: a member inside is a suspected archive bomb"
            reraise = exc if parent_streams else None
        except StreamError as exc:
            cut_short = True
            if exc.tee is tee:
                error = f"damaged or truncated after {tee.count} bytes: {describe_exception(exc.cause)}"
            else:
                error = "not read to the end: the stream holding it failed"
                reraise = exc
        if tee.eof and not cut_short:
            assert isinstance(tee.hasher, MultiHash)
            digests = tee.hasher.digests()
            kind_of = self.typer.identify(bytes(tee.head), digests.sha256)
            row.update(
                size=digests.size, md5=digests.md5, sha1=digests.sha1, sha256=digests.sha256,
                mime=kind_of.mime, description=kind_of.description, typed_by=kind_of.typed_by,
            )
        else:
            row["size"] = tee.count
        row["error"] = error
        self.emit(row)
        if reraise is not None:
            raise reraise

    # -- formats -------------------------------------------------------------------------

    def _decompress(self, kind: str, tee: Tee, chain: str, depth: int) -> None:
        name = _stream_member_name(kind, tee, chain)
        meta: dict[str, Any] = {"parent": chain}
        if kind == "gzip":
            mtime = struct.unpack("<I", bytes(tee.head[4:8]))[0] if len(tee.head) >= 8 else 0
            meta["mtime"] = epoch_ns(mtime) if mtime else None
        member_chain = f"{chain}{SEP}{name}"
        with decompressor(kind, tee) as stream:
            self.catalogue_stream(_read1(stream), member_chain, depth + 1, meta,
                                  Compressed(lambda: tee.count, running=True), parent_streams=True)

    def _tar(self, tee: Tee, chain: str, depth: int, compressed: Compressed) -> str | None:
        count = 0
        try:
            with tarfile.open(fileobj=tee, mode="r|") as archive:  # type: ignore[call-overload]
                for member in archive:
                    count += 1
                    self._tar_member(archive, member, chain, depth, compressed)
        except tarfile.ReadError as exc:
            if count == 0 and "empty" in str(exc):
                return None
            return f"tar damaged after {count} members: {exc}; members before it catalogued"
        except (EOFError, tarfile.StreamError) as exc:
            return f"tar truncated after {count} members: {describe_exception(exc)}; members before it catalogued"
        return None

    def _tar_member(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, chain: str, depth: int, compressed: Compressed
    ) -> None:
        name = member.name
        meta: dict[str, Any] = {
            "parent": chain,
            "path_bytes": to_bytes(f"{chain}{SEP}{name}"),
            "mtime": _tar_mtime_ns(member),
            "mode": member.mode | _tar_type_bits(member),
            "uid": member.uid,
            "gid": member.gid,
        }
        member_chain = f"{chain}{SEP}{display(to_bytes(name))}"
        if member.isfile():
            extracted = archive.extractfile(member)
            assert extracted is not None
            self.catalogue_stream(_read1(extracted), member_chain, depth + 1, meta, compressed.from_here(),
                                  parent_streams=True)
            return
        kind = "hardlink" if member.islnk() else kind_of(meta["mode"])
        self.emit({"path": member_chain, "depth": depth + 1, "kind": kind, "size": member.size,
                   "link_target": member.linkname or None, **meta})

    def _zip(self, handle: IO[bytes], chain: str, depth: int) -> str | None:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            handle.seek(0)
            found = self._zip_local_headers(handle, chain, depth)
            return (f"zip directory unreadable ({describe_exception(exc)}): "
                    f"{found} member{'' if found == 1 else 's'} recovered from local headers "
                    "(truncated or damaged archive)")
        with archive:
            for info in archive.infolist():
                self._zip_member(archive, info, chain, depth)
        return None

    def _zip_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, chain: str, depth: int) -> None:
        meta = _zip_meta(info, chain)
        member_chain = f"{chain}{SEP}{display(to_bytes(info.filename))}"
        if info.is_dir():
            self.emit({"path": member_chain, "depth": depth + 1, "kind": "directory", "size": 0, **meta})
            return
        if info.flag_bits & 0x1:
            self.emit({"path": member_chain, "depth": depth + 1, "kind": "file", "size": info.file_size,
                       "error": "encrypted member: not read (no password)", **meta})
            return
        try:
            with archive.open(info) as stream:
                self.catalogue_stream(_read1(stream), member_chain, depth + 1, meta,
                                      Compressed.fixed(info.compress_size), parent_streams=False)
        except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as exc:
            self.emit({"path": member_chain, "depth": depth + 1, "kind": "file", "size": info.file_size,
                       "error": f"member unreadable: {describe_exception(exc)}", **meta})

    def _zip_local_headers(self, handle: IO[bytes], chain: str, depth: int) -> int:
        """Recover members of a zip whose central directory is lost, from their local headers."""
        found = 0
        for info, data_reader in iter_local_headers(handle):
            found += 1
            meta = _zip_meta(info, chain)
            member_chain = f"{chain}{SEP}{display(to_bytes(info.filename))}"
            if info.filename.endswith("/"):
                self.emit({"path": member_chain, "depth": depth + 1, "kind": "directory", "size": 0, **meta})
                continue
            if data_reader is None:
                reason = "encrypted member: not read (no password)" if info.flag_bits & 0x1 else \
                    "member cannot be read without the zip directory (size unknown or unsupported method)"
                self.emit({"path": member_chain, "depth": depth + 1, "kind": "file", "size": info.file_size,
                           "error": reason, **meta})
                continue
            self.catalogue_stream(data_reader, member_chain, depth + 1, meta,
                                  Compressed.fixed(info.compress_size), parent_streams=False)
        return found

    def _sevenzip(self, handle: IO[bytes], chain: str, depth: int) -> str | None:
        import py7zr

        try:
            archive = py7zr.SevenZipFile(handle, mode="r")
        except py7zr.PasswordRequired:
            return "7-zip archive with encrypted headers: member names unreadable without the password"
        except Exception as exc:  # noqa: BLE001 - py7zr raises many kinds
            return f"7-zip archive unreadable: {describe_exception(exc)}"
        with archive:
            infos = archive.list()
            if archive.needs_password():
                for info in infos:
                    self.emit({"path": f"{chain}{SEP}{info.filename}", "depth": depth + 1,
                               "kind": "directory" if info.is_directory else "file",
                               "size": info.uncompressed, "parent": chain,
                               "mtime": _aware(info.creationtime),
                               "error": "encrypted member: not read (no password)"})
                return None
            by_name = {info.filename: info for info in infos}
            done: set[str] = set()

            def member_row(name: str) -> tuple[str, dict[str, Any]]:
                info = by_name.get(name)
                return f"{chain}{SEP}{name}", {"parent": chain, "mtime": _aware(info.creationtime) if info else None}

            def finished(name: str, spool: IO[bytes] | None, problem: str | None) -> None:
                """Catalogue one member as soon as py7zr has written it: one spool at a time."""
                done.add(name)
                member_chain, meta = member_row(name)
                if spool is None or problem:
                    self.emit({"path": member_chain, "depth": depth + 1, "kind": "file",
                               "size": by_name[name].uncompressed if name in by_name else None,
                               "error": problem, **meta})
                    return
                spool.seek(0)
                self.catalogue_stream(spool.read, member_chain, depth + 1, meta, None, parent_streams=False)

            handle.seek(0, os.SEEK_END)
            factory = _sevenzip_factory(self.limits, self.tmp_dir, handle.tell(), finished)
            error = None
            try:
                archive.extract(factory=factory)
            except ArchiveBomb as exc:
                error = f"not read to the end: {exc}"
            except Exception as exc:  # noqa: BLE001
                error = f"7-zip archive damaged: {describe_exception(exc)}; members before it catalogued"
            factory.abandon()
            for info in infos:
                if info.filename in done:
                    continue
                member_chain, meta = member_row(info.filename)
                if info.is_directory:
                    self.emit({"path": member_chain, "depth": depth + 1, "kind": "directory", "size": 0, **meta})
                else:
                    self.emit({"path": member_chain, "depth": depth + 1, "kind": "file", "size": info.uncompressed,
                               "error": "not extracted: the archive stopped before it", **meta})
            return error


def decompressor(kind: str, source: Tee) -> Any:
    """A reader of the decompressed bytes of one stream kind (closing it leaves source open)."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=source, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(source, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(source, mode="rb")
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True, closefd=False)


def _read1(stream: Any) -> Callable[[int], bytes]:
    """The stream's read1 where it has one: it returns what one underlying read gives, so a
    stream that ends early (truncated gzip) yields every byte before the cut instead of
    raising for the whole request."""
    return getattr(stream, "read1", stream.read)


def describe_exception(exc: BaseException) -> str:
    """An exception as one short line: its type and message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _aware(value: datetime | None) -> int | None:
    """A py7zr time (naive means UTC: 7-zip stores FILETIME) as epoch nanoseconds."""
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return epoch_ns(value.timestamp())


def _tar_mtime_ns(member: tarfile.TarInfo) -> int | None:
    """A tar member's time in nanoseconds; pax decimal times exactly, not through a float."""
    text = member.pax_headers.get("mtime")
    if text:
        try:
            return int(Decimal(text) * 1_000_000_000)
        except (InvalidOperation, ValueError):
            pass
    return epoch_ns(member.mtime)


def _tar_type_bits(member: tarfile.TarInfo) -> int:
    """The st_mode type bits of a tar member (0 for a type tar has and a file system has not)."""
    if member.isdir():
        return stat.S_IFDIR
    if member.issym():
        return stat.S_IFLNK
    if member.isfifo():
        return stat.S_IFIFO
    if member.ischr():
        return stat.S_IFCHR
    if member.isblk():
        return stat.S_IFBLK
    return stat.S_IFREG if member.isreg() else 0


def _zip_meta(info: zipfile.ZipInfo, chain: str) -> dict[str, Any]:
    year, month, day, hour, minute, second = info.date_time
    raw_name = (info.filename.encode("utf-8", "surrogateescape") if info.flag_bits & 0x800
                else info.filename.encode("cp437"))  # exactly as stored
    meta: dict[str, Any] = {
        "parent": chain,
        "path_bytes": to_bytes(chain) + SEP.encode() + raw_name,
        "time_text": f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d} (zip time, no timezone)",
    }
    if info.create_system == 3 and info.external_attr >> 16:
        meta["mode"] = info.external_attr >> 16
    utc = _zip_extended_mtime(info.extra)
    if utc is not None:
        meta["mtime"] = utc
    return meta


def _zip_extended_mtime(extra: bytes) -> int | None:
    """The UTC modification time from a zip extra field 0x5455 (extended timestamp), if any."""
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[position:position + 4])
        body = extra[position + 4:position + 4 + length]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 0x01:
            return epoch_ns(struct.unpack("<i", body[1:5])[0])
        position += 4 + length
    return None


def _stream_member_name(kind: str, tee: Tee, chain: str) -> str:
    """The name of the single member of a compressed stream: gzip's FNAME, else the suffix cut."""
    head = bytes(tee.head)
    if kind == "gzip" and len(head) > 10 and head[3] & 0x08:
        offset = 10
        if head[3] & 0x04 and len(head) > 12:
            offset += 2 + struct.unpack("<H", head[10:12])[0]
        end = head.find(b"\x00", offset)
        if end > offset:
            return head[offset:end].decode("latin-1")
    base = chain.rsplit(SEP, 1)[-1].rsplit("/", 1)[-1]
    lower = base.lower()
    for suffix, replacement in SUFFIXES[kind]:
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + replacement
    return base + ".out"


def iter_local_headers(handle: IO[bytes]) -> Iterator[tuple[zipfile.ZipInfo, Callable[[int], bytes] | None]]:
    """Walk a zip's local file headers in order, giving each member and a reader for its data."""
    while True:
        start = handle.tell()
        header = handle.read(30)
        if len(header) < 30 or not header.startswith(b"PK\x03\x04"):
            return
        (_, _, flags, method, mtime, mdate, _crc, comp_size, size, name_len, extra_len) = struct.unpack(
            "<4sHHHHHIIIHH", header
        )
        raw_name = handle.read(name_len)
        handle.read(extra_len)
        name = raw_name.decode("utf-8", "surrogateescape") if flags & 0x800 else raw_name.decode("cp437")
        info = zipfile.ZipInfo(name)
        info.flag_bits = flags
        info.compress_type = method
        info.compress_size = comp_size
        info.file_size = size
        info.date_time = ((mdate >> 9) + 1980, max((mdate >> 5) & 0xF, 1), max(mdate & 0x1F, 1),
                          mtime >> 11, (mtime >> 5) & 0x3F, (mtime & 0x1F) * 2)
        data_start = handle.tell()
        sized = not (flags & 0x08) or comp_size
        if flags & 0x1 or not sized or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            yield info, None
            if not sized:
                return
            handle.seek(data_start + comp_size)
            continue
        compressed = handle.read(comp_size)
        if len(compressed) < comp_size:
            yield info, _failing_reader(EOFError(f"member data cut off at byte {start + 30 + name_len}"))
            return
        data = compressed if method == zipfile.ZIP_STORED else None
        yield info, _member_reader(compressed, data)
        handle.seek(data_start + comp_size)


def _member_reader(compressed: bytes, stored: bytes | None) -> Callable[[int], bytes]:
    """A read(size) function over one recovered member's data."""
    decoder = None if stored is not None else zlib.decompressobj(-15)
    source = memoryview(stored if stored is not None else compressed)
    position = 0

    def read(size: int) -> bytes:
        nonlocal position
        if stored is not None:
            data = bytes(source[position: position + size])
            position += len(data)
            return data
        assert decoder is not None
        out = b""
        while not out and position < len(source):
            piece = bytes(source[position: position + 65536])
            position += len(piece)
            out = decoder.decompress(piece, size)
            if decoder.unconsumed_tail:
                position -= len(decoder.unconsumed_tail)
        if not out and position >= len(source):
            out = decoder.flush()
        return out

    return read


def _failing_reader(error: Exception) -> Callable[[int], bytes]:
    def read(size: int) -> bytes:
        raise error

    return read


def _sevenzip_factory(limits: Limits, tmp_dir: str | None, packed_size: int,
                      finished: Callable[[str, IO[bytes] | None, str | None], None]) -> Any:
    """A py7zr WriterFactory: each member is spooled within the limits and handed to finished()
    as soon as py7zr closes it, so that only one member is held at a time.

    Solid 7-zip archives do not say how many packed bytes each member took, so the ratio
    limit is judged against the whole archive's packed size.
    py7zr is imported here, not at the top, so that worker processes start quickly.
    """
    from py7zr.io import Py7zIO, WriterFactory

    class Sink(Py7zIO):
        """Receives one member's bytes into a spool."""

        def __init__(self, name: str) -> None:
            self.name = name
            self.spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=tmp_dir)  # noqa: SIM115 - closed in close()
            self.written = 0

        def write(self, data: bytes | bytearray) -> int:
            self.written += len(data)
            problem = limits.exceeded(self.written, packed_size)
            if problem:
                self.spool.close()
                factory.current = None
                finished(self.name, None, problem)
                raise ArchiveBomb(None, problem)  # type: ignore[arg-type]
            return self.spool.write(data)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.written

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return self.written

        def close(self) -> None:
            if factory.current is self:
                factory.current = None
                with self.spool:
                    finished(self.name, self.spool, None)

    class Factory(WriterFactory):
        """Hands out one sink per member."""

        def __init__(self) -> None:
            self.current: Sink | None = None

        def create(self, filename: str) -> Sink:
            self.abandon()
            self.current = Sink(filename)
            return self.current

        def abandon(self) -> None:
            """Drop a member that py7zr started but never closed (the archive failed in it)."""
            if self.current is not None:
                self.current.spool.close()
                self.current = None

    factory = Factory()
    return factory


def tmp_dir_for(path: os.PathLike[str] | str | None) -> str | None:
    """The spool folder as a string, creating it if needed."""
    if path is None:
        return None
    os.makedirs(path, exist_ok=True)
    return os.fspath(path)
