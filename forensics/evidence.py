"""Reading evidence on disk without touching it: walking a tree and reading one file.

Files are opened read-only with O_NOFOLLOW and, where the system allows, O_NOATIME, so
reading does not change their access time. Symbolic links are recorded, never followed;
FIFOs, sockets and devices are recorded, never opened. Every name is kept exactly
(surrogateescape), whatever bytes it holds.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forensics.archives import ArchiveReader, Limits, container_kind, describe_exception, display
from forensics.filetype import HEAD_SIZE, FileTyper
from forensics.hashing import CHUNK_SIZE, MultiHash

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
NOATIME = getattr(os, "O_NOATIME", 0)


@dataclass(frozen=True)
class DiskEntry:
    """One thing found below an evidence root: its path and what lstat said."""

    root: str
    path: str  # absolute, as the OS names it (surrogateescape)
    rel: str  # relative to the root's folder
    st: os.stat_result | None
    error: str | None = None


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


def ns_utc(ns: int) -> datetime:
    """Nanoseconds since the epoch as an aware UTC datetime (microsecond precision in Python)."""
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=(ns % 1_000_000_000) // 1000)


def walk(root: str) -> Iterator[DiskEntry]:
    """Everything below root (root included when it is a file), links never followed.

    root is the evidence path as given (absolute). For a folder, paths are relative to it;
    for a single file, the relative path is its name.
    """
    try:
        st = os.stat(root)  # the argument itself may be a link the examiner chose to give
    except OSError as exc:
        yield DiskEntry(root, root, os.path.basename(root), None, f"{display(os.fsencode(root))}: {exc.strerror}")
        return
    if not stat.S_ISDIR(st.st_mode):
        yield DiskEntry(root, root, os.path.basename(root), os.lstat(root) if os.path.islink(root) else st)
        return
    stack = [(root, "")]
    while stack:
        folder, rel_folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield DiskEntry(root, folder, rel_folder or ".", None, f"folder unreadable: {exc.strerror}")
            continue
        subfolders = []
        for entry in entries:
            rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield DiskEntry(root, entry.path, rel, None, f"stat failed: {exc.strerror}")
                continue
            yield DiskEntry(root, entry.path, rel, est)
            if stat.S_ISDIR(est.st_mode):
                subfolders.append((entry.path, rel))
        stack.extend(reversed(subfolders))


def stat_row(entry: DiskEntry) -> dict[str, Any]:
    """The catalogue fields that lstat gives."""
    row: dict[str, Any] = {
        "root": entry.root,
        "path": display(os.fsencode(entry.rel)),
        "path_bytes": os.fsencode(entry.rel),
        "depth": 0,
        "error": entry.error,
    }
    st = entry.st
    if st is None:
        row["kind"] = "other"
        return row
    row.update(
        kind=kind_of(st.st_mode),
        size=st.st_size,
        mtime=ns_utc(st.st_mtime_ns),
        ctime=ns_utc(st.st_ctime_ns),
        atime=ns_utc(st.st_atime_ns),
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        inode=st.st_ino,
    )
    if stat.S_ISLNK(st.st_mode):
        try:
            row["link_target"] = display(os.fsencode(os.readlink(entry.path)))
        except OSError as exc:
            row["error"] = f"link unreadable: {exc.strerror}"
    return row


def open_read_only(path: str) -> int:
    """Open a regular file read-only, never following a link, without updating its atime."""
    if NOATIME:
        try:
            return os.open(path, OPEN_FLAGS | NOATIME)
        except OSError as exc:
            if exc.errno != errno.EPERM:  # O_NOATIME needs ownership or CAP_FOWNER
                raise
    return os.open(path, OPEN_FLAGS)


class FileReader:
    """Catalogues regular files: hashes, type, and archive members. One per worker."""

    def __init__(self, limits: Limits, tmp_dir: str | None, full_typing: bool = False) -> None:
        self.typer = FileTyper(full_typing=full_typing)
        self.limits = limits
        self.tmp_dir = tmp_dir

    def read(self, entry: DiskEntry) -> list[dict[str, Any]]:
        """Rows for one regular file: its own, then one per archive member inside it."""
        row = stat_row(entry)
        rows = [row]
        try:
            fd = open_read_only(entry.path)
        except OSError as exc:
            row["error"] = f"cannot open: {exc.strerror}"
            return rows
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                row["error"] = f"changed to a {kind_of(before.st_mode)} before it was read; not read"
                return rows
            hasher = MultiHash()
            head = bytearray()
            try:
                while chunk := os.read(fd, CHUNK_SIZE):
                    hasher.update(chunk)
                    if len(head) < HEAD_SIZE:
                        head += chunk[: HEAD_SIZE - len(head)]
            except OSError as exc:
                row["error"] = f"read failed after {hasher.size} bytes: {exc.strerror}"
                return rows
            after = os.fstat(fd)
            digests = hasher.digests()
            found = self.typer.identify(bytes(head))
            row.update(md5=digests.md5, sha1=digests.sha1, sha256=digests.sha256,
                       mime=found.mime, description=found.description, typed_by=found.typed_by)
            if digests.size != before.st_size or (after.st_mtime_ns, after.st_size) != (
                before.st_mtime_ns, before.st_size
            ):
                row["error"] = (f"changed while being read (size {before.st_size} -> {after.st_size}, "
                                f"{digests.size} bytes hashed)")
                return rows
            kind = container_kind(bytes(head[:512]))
            if kind is not None:
                os.lseek(fd, 0, os.SEEK_SET)
                rows.extend(self._members(fd, kind, row))
        finally:
            os.close(fd)
        return rows

    def _members(self, fd: int, kind: str, row: dict[str, Any]) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = []

        def emit(member: dict[str, Any]) -> None:
            member.setdefault("root", row["root"])
            member.setdefault("path_bytes", member["path"].encode("utf-8", "surrogateescape"))
            members.append(member)

        reader = ArchiveReader(self.typer, self.limits, self.tmp_dir, emit)
        handle = os.fdopen(os.dup(fd), "rb", buffering=CHUNK_SIZE)
        try:
            error = reader.open_container(kind, handle, row["path"], 0)
        except Exception as exc:  # noqa: BLE001 - one bad archive must not stop the ingest
            error = f"archive reader failed: {describe_exception(exc)}"
        finally:
            handle.close()
        if error:
            row["error"] = error
        return members
