"""Open a catalogued file again for reading: a file on disk or a member deep inside archives.

The stream given back hashes what is read through it, so a reader can check, once done,
that it read exactly the bytes the catalogue recorded (`HashingStream.verify`). Members
are streamed out of their containers; only a zip inside a container and 7-zip members
are spooled, into the case's tmp/ folder, never beside the evidence.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from forensics.archives import (
    SEP,
    container_kind,
    decompressor,
    display,
    iter_local_headers,
    to_bytes,
)
from forensics.errors import ForensicsError
from forensics.evidence import evidence_location, open_read_only

HEAD = 4096
T = TypeVar("T")


class HashingStream:
    """A read-only stream that hashes (SHA-256) and counts every byte read through it."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._sha256 = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        """Read up to size bytes (all that is left when size < 0)."""
        if size is None or size < 0:
            pieces = []
            while piece := self.read(1 << 20):
                pieces.append(piece)
            return b"".join(pieces)
        data = self._read(size)
        self._sha256.update(data)
        self.count += len(data)
        return data

    read1 = read

    def readable(self) -> bool:
        """Always True."""
        return True

    def seekable(self) -> bool:
        """Always False: the stream is read once, in order."""
        return False

    def drain(self) -> None:
        """Read what is left, so that the hash covers the whole content."""
        while self.read(1 << 20):
            pass

    def verify(self, sha256: str | None, size: int | None) -> str | None:
        """Read to the end and compare with the catalogue; a message when they differ."""
        self.drain()
        digest = self._sha256.hexdigest()
        if sha256 and digest != sha256:
            return (f"content differs from the catalogue: SHA-256 {digest} ({self.count} bytes) read, "
                    f"{sha256} ({size} bytes) catalogued")
        return None


class PrefixedStream:
    """A stream whose first bytes were already read to sniff it."""

    def __init__(self, head: bytes, read: Callable[[int], bytes]) -> None:
        self._head = head
        self._read = read

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._read(-1), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._read(size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


@contextmanager
def open_catalogued(row: dict[str, Any], tmp_dir: Path) -> Iterator[HashingStream]:
    """Open the file or archive member of a catalogue row (root, root_kind, path, archive) for reading."""
    with ExitStack() as stack:
        if row.get("archive") is None:
            location = evidence_location(row["root"], row["path"], row["root_kind"])
            handle = stack.enter_context(os.fdopen(open_read_only(location), "rb"))
            yield HashingStream(handle.read)
            return
        location = evidence_location(row["root"], row["archive"], row["root_kind"])
        handle = stack.enter_context(os.fdopen(open_read_only(location), "rb"))
        rest = row["path"][len(row["archive"]) + len(SEP):]
        spool = stack.enter_context(tempfile.TemporaryDirectory(dir=tmp_dir, prefix="member-"))
        read = _descend(stack, handle, rest, Path(spool), row["archive"])
        yield HashingStream(read)


def judge_tar_members(row: dict[str, Any], container: str, names: set[str], size: int, tmp_dir: Path,
                      judge: Callable[[str, bytes], T]) -> dict[str, T]:
    """judge(name, first `size` bytes) for the named members of one tar container, read in one pass over it.

    row: a catalogue row under the same archive on disk (root, root_kind, archive);
    container: the tar's chain (the archive itself or a member of it, "a.tar.gz!a.tar");
    names: member names inside it. Opening each member on its own reads a streamed tar from
    its start every time; this reads it once, up to the last member named, and keeps only
    the verdicts. Members not met are left out; the first of two members of one name counts.
    """
    verdicts: dict[str, T] = {}
    with ExitStack() as stack:
        location = evidence_location(row["root"], row["archive"], row["root_kind"])
        handle: Any = stack.enter_context(os.fdopen(open_read_only(location), "rb"))
        if container != row["archive"]:
            spool = stack.enter_context(tempfile.TemporaryDirectory(dir=tmp_dir, prefix="member-"))
            rest = container[len(row["archive"]) + len(SEP):]
            handle = PrefixedStream(b"", _descend(stack, handle, rest, Path(spool), row["archive"]))
        head = handle.read(HEAD)
        if container_kind(head) != "tar":
            raise ForensicsError(f"{container}: not a tar archive")
        archive = stack.enter_context(tarfile.open(fileobj=PrefixedStream(head, handle.read), mode="r|"))  # type: ignore[call-overload]
        for member in archive:
            name = display(to_bytes(member.name))
            if member.isfile() and name in names and name not in verdicts:
                extracted = archive.extractfile(member)
                assert extracted is not None
                verdicts[name] = judge(name, extracted.read(size))
                if len(verdicts) == len(names):
                    break
    return verdicts


def _descend(stack: ExitStack, handle: IO[bytes], rest: str, spool: Path, chain: str) -> Callable[[int], bytes]:
    """The reader of member `rest` (a!b!c) inside the container whose bytes handle gives."""
    head = handle.read(HEAD)
    kind = container_kind(head)
    if kind is None:
        raise ForensicsError(f"{chain}: not an archive any more, cannot reach {rest}")
    if kind in ("zip", "7z"):
        seekable = getattr(handle, "seekable", lambda: False)()
        if seekable:
            handle.seek(0)
        else:
            copy = stack.enter_context(tempfile.TemporaryFile(dir=spool))
            copy.write(head)
            shutil.copyfileobj(handle, copy, 1 << 20)  # type: ignore[misc]
            copy.seek(0)
            handle = copy
        return (_zip if kind == "zip" else _sevenzip)(stack, handle, rest, spool, chain)
    if kind == "tar":
        archive = stack.enter_context(tarfile.open(fileobj=PrefixedStream(head, handle.read), mode="r|"))  # type: ignore[call-overload]
        for member in archive:
            name = display(to_bytes(member.name))
            if member.isfile() and (rest == name or rest.startswith(name + SEP)):
                extracted = archive.extractfile(member)
                assert extracted is not None
                return _found(stack, extracted, rest, name, spool, f"{chain}{SEP}{name}")
        raise ForensicsError(f"{chain}: member {rest} not found")
    stream = stack.enter_context(decompressor(kind, PrefixedStream(head, handle.read)))  # type: ignore[arg-type]
    name = rest.split(SEP, 1)[0]
    return _found(stack, stream, rest, name, spool, f"{chain}{SEP}{name}")


def _found(stack: ExitStack, stream: Any, rest: str, name: str, spool: Path, chain: str) -> Callable[[int], bytes]:
    if rest == name:
        return getattr(stream, "read1", stream.read)
    return _descend(stack, stream, rest[len(name) + len(SEP):], spool, chain)


def _zip(stack: ExitStack, copy: IO[bytes], rest: str, spool: Path, chain: str) -> Callable[[int], bytes]:
    try:
        archive = stack.enter_context(zipfile.ZipFile(copy))
        members = [(display(to_bytes(info.filename)), info) for info in archive.infolist() if not info.is_dir()]
        for name, info in members:
            if rest == name or rest.startswith(name + SEP):
                return _found(stack, archive.open(info), rest, name, spool, f"{chain}{SEP}{name}")
    except zipfile.BadZipFile:  # damaged: members were catalogued from their local headers, read them the same way
        copy.seek(0)
        for info, reader in iter_local_headers(copy):
            name = display(to_bytes(info.filename))
            if reader is not None and (rest == name or rest.startswith(name + SEP)):
                return _found(stack, PrefixedStream(b"", reader), rest, name, spool, f"{chain}{SEP}{name}")
    raise ForensicsError(f"{chain}: member {rest} not found")


def _sevenzip(stack: ExitStack, copy: IO[bytes], rest: str, spool: Path, chain: str) -> Callable[[int], bytes]:
    import py7zr

    archive = stack.enter_context(py7zr.SevenZipFile(copy, mode="r"))
    names = [info.filename for info in archive.list() if not info.is_directory]
    for name in names:
        if rest == name or rest.startswith(name + SEP):
            target = spool / "7z"
            archive.extract(path=target, targets=[name])
            extracted = stack.enter_context(open(target / name, "rb"))
            return _found(stack, extracted, rest, name, spool, f"{chain}{SEP}{name}")
    raise ForensicsError(f"{chain}: member {rest} not found")
