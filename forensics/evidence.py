"""Reading evidence on disk without touching it: walking a tree and reading one file.

Files are opened read-only with O_NOFOLLOW and, where the system allows, O_NOATIME, so
reading does not change their access time. Symbolic links are recorded, never followed;
FIFOs, sockets and devices are recorded, never opened. Every name is kept exactly
(surrogateescape), whatever bytes it holds.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from forensics.archives import (
    ArchiveReader,
    Limits,
    container_kind,
    describe_exception,
    display,
    kind_of,
)
from forensics.filetype import HEAD_SIZE, LONG_LINE, FileTyper
from forensics.hashing import CHUNK_SIZE, THREADED_MIN, Digests, MultiHash, digest_bytes

try:
    from forensics import _intake
except ImportError:  # OpenSSL refuses MD5 or SHA-1 here (FIPS-only): hashlib does every file
    _intake = None  # type: ignore[assignment]

PLAIN_BATCH_BYTES = 8 << 20  # bytes the compiled reader holds at a time for read_plain_batch
SPILL_ROWS = 20_000  # an archive's member rows past this many go to a part file from the worker
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
NOATIME = getattr(os, "O_NOATIME", 0)
NS_MIN, NS_MAX = -(2**63), 2**63 - 1  # the catalogue's times are 64-bit nanoseconds


class DiskEntry(NamedTuple):
    """One thing found below an evidence root: its path and what lstat said.

    A named tuple: the walk makes one per file and the ingest sends them to the worker
    processes, where a dataclass costs several times more to build and to pickle.
    """

    root: str
    path: str  # absolute, as the OS names it (surrogateescape)
    rel: str  # relative to the root's folder
    st: os.stat_result | None
    error: str | None = None
    regular: bool = False  # known to be a regular file from the folder listing, not yet stat'ed
    root_kind: str = "folder"  # or "file", when the evidence path given was a single file

    @property
    def is_file(self) -> bool:
        """A regular file (to be read), as the listing or the stat says."""
        return self.regular or (self.st is not None and stat.S_ISREG(self.st.st_mode))


def walk(root: str, stat_files: bool = True, exclude: str | None = None) -> Iterator[DiskEntry]:
    """Everything below root (root included when it is a file), links never followed.

    root is the evidence path as given (absolute). For a folder, paths are relative to it;
    for a single file, the relative path is its name; a root that is a link is followed
    (the examiner chose it), links below it never are. Folders are listed through a
    descriptor opened with O_NOATIME, so listing them does not change their access times.
    With stat_files False, regular files that the listing already names as such come
    without a stat (regular=True): the reader takes their stat from the open file instead.
    A folder whose path is exclude (the case folder, inside the evidence) is left out.
    """
    try:
        st = os.stat(root)
    except OSError as exc:
        yield DiskEntry(root, root, os.path.basename(root), None, f"{display(os.fsencode(root))}: {exc.strerror}")
        return
    if not stat.S_ISDIR(st.st_mode):
        target = os.path.realpath(root) if os.path.islink(root) else root
        yield DiskEntry(root, target, os.path.basename(root), st, root_kind="file")
        return
    stack = [(root, "")]
    while stack:
        folder, rel_folder = stack.pop()
        try:
            found = _list_folder(folder, rel_folder, root, stat_files, exclude, follow=folder == root)
        except OSError as exc:
            yield DiskEntry(root, folder, rel_folder or ".", None, f"folder unreadable: {exc.strerror}")
            continue
        subfolders = []
        for entry in found:
            yield entry
            if entry.st is not None and stat.S_ISDIR(entry.st.st_mode):
                subfolders.append((entry.path, entry.rel))
        stack.extend(reversed(subfolders))


def open_folder(path: str, follow: bool = False) -> int:
    """Open a folder for listing without updating its access time."""
    return _open_noatime(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
                         | (0 if follow else os.O_NOFOLLOW))


def _open_noatime(path: str, flags: int) -> int:
    """os.open with O_NOATIME where the system allows it (it needs ownership or CAP_FOWNER)."""
    if NOATIME:
        try:
            return os.open(path, flags | NOATIME)
        except OSError as exc:
            if exc.errno != errno.EPERM:
                raise
    return os.open(path, flags)


_BY_NAME = operator.attrgetter("name")
_new_entry = tuple.__new__  # a DiskEntry from all its fields, without the keyword handling of DiskEntry()


def _list_folder(folder: str, rel_folder: str, root: str, stat_files: bool, exclude: str | None,
                 follow: bool) -> list[DiskEntry]:
    """The entries of one folder, sorted by name, each stat'ed through the folder's descriptor."""
    fd = open_folder(folder, follow)
    entries: list[DiskEntry] = []
    # the joins written out once per folder: os.path.join per entry cost a third of the walk
    path_prefix = folder if folder.endswith(os.sep) else folder + os.sep
    rel_prefix = f"{rel_folder}/" if rel_folder else ""
    try:
        with os.scandir(fd) as listing:
            for item in sorted(listing, key=_BY_NAME):
                name = item.name
                path = path_prefix + name
                rel = rel_prefix + name
                if exclude is not None and path == exclude:
                    continue
                if not stat_files and item.is_file(follow_symlinks=False):
                    entries.append(_new_entry(DiskEntry, (root, path, rel, None, None, True, "folder")))
                    continue
                try:
                    entries.append(DiskEntry(root, path, rel, item.stat(follow_symlinks=False)))
                except OSError as exc:
                    entries.append(DiskEntry(root, path, rel, None, f"stat failed: {exc.strerror}"))
    finally:
        os.close(fd)
    return entries


def evidence_location(root: str, path: str, root_kind: str) -> str:
    """Where a catalogue row's file is: root/path, or for a single-file root, its folder/path.

    Decided by what the evidence path was when it was ingested (root_kind), not by what is
    on disk now: the evidence may be unmounted or moved when this is shown.
    """
    return os.path.join(os.path.dirname(root) if root_kind == "file" else root, path)


class SmallStat(NamedTuple):
    """What the compiled reader's fstat gave, under os.stat_result's names."""

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_atime_ns: int
    st_uid: int
    st_gid: int
    st_ino: int


def stat_row(entry: DiskEntry, st: os.stat_result | SmallStat | None = None) -> dict[str, Any]:
    """The catalogue fields that lstat gives (or st, the open file's fstat, when the walk made none)."""
    raw = os.fsencode(entry.rel)
    row: dict[str, Any] = {
        "root": entry.root,
        "root_kind": entry.root_kind,
        "path": entry.rel if entry.rel.isascii() else display(raw),
        "path_bytes": raw,
        "depth": 0,
        "error": entry.error,
    }
    st = entry.st or st
    if st is None:
        row["kind"] = "other"
        return row
    row.update(
        kind=kind_of(st.st_mode),
        size=st.st_size,
        mtime=st.st_mtime_ns,
        ctime=st.st_ctime_ns,
        atime=st.st_atime_ns,
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        inode=st.st_ino,
    )
    beyond = [name for name in ("mtime", "ctime", "atime") if not NS_MIN <= row[name] <= NS_MAX]
    if beyond:  # forged or damaged: kept in the message, the column cannot hold it
        row["error"] = (f"{', '.join(f'{name} {row[name] // 10**9} s' for name in beyond)} since 1970 lie "
                        "outside the times the catalogue holds (1677 to 2262); recorded as null")
        row.update(dict.fromkeys(beyond))
    if stat.S_ISLNK(st.st_mode):
        try:
            row["link_target"] = display(os.fsencode(os.readlink(entry.path)))
        except OSError as exc:
            row["error"] = f"link unreadable: {exc.strerror}"
    return row


def add_error(row: dict[str, Any], text: str) -> None:
    """Record one more problem of a row, after any it already has."""
    row["error"] = f"{row['error']}; {text}" if row.get("error") else text


def _since_walk(entry: DiskEntry, opened: os.stat_result | SmallStat) -> tuple[DiskEntry, str | None]:
    """The entry with the open file's stat (where the walk took none, or the file changed since it
    did, with the error that says so); else as it is.

    Changed: another size, modification time, inode (replaced) or change time. The row then
    gives the file that was hashed, never the one the walk saw; its access time stays the
    walk's, taken before this tool read anything.
    """
    walked = entry.st
    if walked is None:
        return entry._replace(st=opened), None
    if not stat.S_ISREG(walked.st_mode) or not stat.S_ISREG(opened.st_mode):  # a kind that changed: said on its own
        return entry, None
    moved = [what for what, a, b in (("size", walked.st_size, opened.st_size),
                                      ("modification time", walked.st_mtime_ns, opened.st_mtime_ns),
                                      ("inode", walked.st_ino, opened.st_ino),
                                      ("change time", walked.st_ctime_ns, opened.st_ctime_ns)) if a != b]
    if not moved:
        return entry, None
    kept = SmallStat(opened.st_mode, opened.st_size, opened.st_mtime_ns, opened.st_ctime_ns, walked.st_atime_ns,
                     opened.st_uid, opened.st_gid, opened.st_ino)
    return entry._replace(st=kept), (f"changed between the walk and the read ({', '.join(moved)}; size "
                                     f"{walked.st_size} -> {opened.st_size}); the row gives the file as it was read")


def open_read_only(path: str) -> int:
    """Open a regular file read-only, never following a link, without updating its atime."""
    return _open_noatime(path, OPEN_FLAGS)


_UNREAD = object()  # read() was given nothing the compiled reader found: it asks it itself


class _ReadFailed(Exception):
    def __init__(self, done: int, strerror: str) -> None:
        super().__init__(strerror)
        self.done = done
        self.strerror = strerror


def _read_and_hash(fd: int, expected_size: int) -> tuple[bytes, Digests]:
    """Read an open file to its end: its head (for typing) and its three digests.

    A file smaller than one chunk (most files) is read and hashed in one go; when the
    first read returns exactly the size fstat gave, no extra read is made to see the end
    (a file growing meanwhile is caught by the fstat after reading).
    """
    try:  # ask for what fstat promised (+1 to see a file that grew): big buffers cost page faults
        first = os.read(fd, min(CHUNK_SIZE, expected_size + 1) if expected_size else 65536)
    except OSError as exc:
        raise _ReadFailed(0, exc.strerror or str(exc)) from None
    if len(first) == expected_size and expected_size < CHUNK_SIZE:
        return first, digest_bytes(first)
    hasher = MultiHash()
    hasher.update(first)
    chunk = first
    try:
        while chunk:
            chunk = os.read(fd, CHUNK_SIZE)
            if chunk:
                hasher.update(chunk)
    except OSError as exc:
        raise _ReadFailed(hasher.size, exc.strerror or str(exc)) from None
    return first[:HEAD_SIZE], hasher.digests()


class FileReader:
    """Catalogues regular files: hashes, type, and archive members. One per worker."""

    def __init__(
        self, limits: Limits, tmp_dir: str | None, full_typing: bool = False, open_archives: bool = True,
        type_files: bool = True, typer: FileTyper | None = None,
    ) -> None:
        self.typer = typer or FileTyper(full_typing=full_typing)
        self.limits = limits
        self.tmp_dir = tmp_dir
        self.open_archives = open_archives
        self.type_files = type_files
        self.spill: Callable[[list[dict[str, Any]]], None] | None = None
        self.last_spilled = 0  # member rows of the last file read that went to spill()
        self.spilled_total = 0

    def read(self, entry: DiskEntry, found: Any = _UNREAD) -> list[dict[str, Any]]:
        """Rows for one regular file: its own, then one per archive member inside it.

        found is what compiled_read already gave for this entry, if it was called.
        With a spill function, an archive's member rows without errors go to it in batches of
        SPILL_ROWS as they are found (last_spilled says how many), so memory stays flat
        however many members an archive holds.
        """
        self.last_spilled = 0
        moved = None
        if found is _UNREAD:
            found = self.compiled_read(entry)
        if found is not None:
            rows, entry, moved = self._read_small(entry, found)
            if rows is not None:
                return rows
        rows = self._read_general(entry)
        if moved is not None and rows[0].get("sha256") and "changed while being read" not in (rows[0].get("error") or ""):
            before, after, read = moved  # read again unchanged: say what the first reading saw
            add_error(rows[0], f"changed while being read (size {before} -> {after}, {read} bytes read); read "
                               "again unchanged: the hashes are of that second reading")
        return rows

    def _read_general(self, entry: DiskEntry) -> list[dict[str, Any]]:
        """read() for any file: every error decided, archives opened."""
        try:
            fd = open_read_only(entry.path)
        except OSError as exc:
            if entry.st is None:
                try:
                    entry = entry._replace(st=os.lstat(entry.path))
                except OSError:
                    pass
            row = stat_row(entry)
            add_error(row, f"cannot open: {exc.strerror}")
            return [row]
        try:
            before = os.fstat(fd)
            entry, since_walk = _since_walk(entry, before)
            row = stat_row(entry)
            if since_walk:
                add_error(row, since_walk)
            rows = [row]
            if not stat.S_ISREG(before.st_mode):
                add_error(row, f"changed to a {kind_of(before.st_mode)} before it was read; not read")
                return rows
            try:
                head, digests = _read_and_hash(fd, before.st_size)
            except _ReadFailed as failed:
                add_error(row, f"read failed after {failed.done} bytes: {failed.strerror}")
                return rows
            after = os.fstat(fd)
            row.update(md5=digests.md5, sha1=digests.sha1, sha256=digests.sha256)
            if self.type_files:
                found = self.typer.identify(head, digests.sha256)
                row.update(mime=found.mime, description=found.description, typed_by=found.typed_by)
            if digests.size != before.st_size or (after.st_mtime_ns, after.st_size) != (
                before.st_mtime_ns, before.st_size
            ):
                add_error(row, f"changed while being read (size {before.st_size} -> {after.st_size}, "
                               f"{digests.size} bytes hashed)")
                return rows
            kind = container_kind(head[:512]) if self.open_archives else None
            if kind is not None:
                os.lseek(fd, 0, os.SEEK_SET)
                rows.extend(self._members(fd, kind, row))
        finally:
            os.close(fd)
        return rows

    @staticmethod
    def small_candidate(entry: DiskEntry) -> bool:
        """Whether the compiled reader may take the file: there is one, and the walk saw a small
        regular file or took no stat."""
        st = entry.st
        return _intake is not None and (st is None or (stat.S_ISREG(st.st_mode) and st.st_size <= THREADED_MIN))

    def compiled_read(self, entry: DiskEntry) -> tuple[Any, ...] | None:
        """What the compiled reader gives for a small regular file (see _intake.read_small), or
        None where it does not apply (small_candidate) or it hands the file back."""
        if not self.small_candidate(entry):
            return None
        return _intake.read_small(entry.path, THREADED_MIN, HEAD_SIZE, LONG_LINE)

    def plain_row(self, entry: DiskEntry, found: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        """The catalogue row of a plain file, in PLAIN_COLUMNS order, from what compiled_read found;
        None for anything else, which read(entry, found) then does.

        Plain: the compiled reader read it whole and steady, the walk saw no problem and the
        same file (or took no stat), it is not an archive, and its times fit the catalogue.
        The row holds what read() would give for it (a test compares the two); the columns
        left out are the same for every such file (see catalogue.plain_frame).
        """
        if found is None or found[0] == "changed" or entry.error is not None or not self.type_files:
            return None
        mode, size, mtime, ctime, atime, uid, gid, inode, data, md5, sha1, sha256, plain = found
        if self.open_archives and container_kind(data) is not None:
            return None
        walked = entry.st
        if walked is not None:  # the row gives the walk's lstat, as stat_row does
            if (walked.st_size, walked.st_mtime_ns, walked.st_ino, walked.st_ctime_ns) != (size, mtime, inode, ctime) \
                    or not NS_MIN <= walked.st_atime_ns <= NS_MAX:
                return None
            mode, atime, uid, gid = walked.st_mode, walked.st_atime_ns, walked.st_uid, walked.st_gid
        rel = entry.rel
        raw = os.fsencode(rel)
        typed = self.typer.identify(data[:HEAD_SIZE], sha256, plain_lines=plain)
        return (entry.root, entry.root_kind, rel if rel.isascii() else display(raw), raw, size, mtime, ctime, atime,
                mode, uid, gid, inode, md5, sha1, sha256, typed.mime, typed.description, typed.typed_by)

    def _read_small(self, entry: DiskEntry, found: tuple[Any, ...]
                    ) -> tuple[list[dict[str, Any]] | None, DiskEntry, tuple[int, ...] | None]:
        """The row of a small regular file that the compiled reader read and hashed (found), or
        None; and, where the file moved while it read it, (size before, size after, bytes read).

        None whenever the file is anything but plain (larger than THREADED_MIN, not a
        regular file, unreadable, changing, an archive): read() then does it the general
        way, which decides every error and opens archives. An archive comes back with the
        stat taken before the compiled reader read it, so the row keeps the access time
        as found even where O_NOATIME is not allowed.
        """
        if found[0] == "changed":
            return None, entry, tuple(found[1:])
        data = found[8]
        if self.open_archives and container_kind(data[:512]) is not None:
            return None, entry if entry.st is not None else entry._replace(st=SmallStat(*found[:8])), None
        entry, since_walk = _since_walk(entry, SmallStat(*found[:8]))
        row = stat_row(entry, SmallStat(*found[:8]))
        if since_walk:
            add_error(row, since_walk)
        row.update(md5=found[9], sha1=found[10], sha256=found[11])
        if self.type_files:
            typed = self.typer.identify(data[:HEAD_SIZE], found[11], plain_lines=found[12])
            row.update(mime=typed.mime, description=typed.description, typed_by=typed.typed_by)
        return [row], entry, None

    def _members(self, fd: int, kind: str, row: dict[str, Any]) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = []
        plain: list[dict[str, Any]] = []  # rows without errors, which may be spilled

        def emit(member: dict[str, Any]) -> None:
            member["archive"] = row["path"]
            member["root_kind"] = row["root_kind"]
            member.setdefault("root", row["root"])
            member.setdefault("path_bytes", member["path"].encode("utf-8", "surrogateescape"))
            if self.spill is None or member.get("error"):  # problems go back to be reported
                members.append(member)
                return
            plain.append(member)
            if len(plain) >= SPILL_ROWS:
                self.spill(plain)
                self.last_spilled += len(plain)
                self.spilled_total += len(plain)
                plain.clear()

        reader = ArchiveReader(self.typer, self.limits, self.tmp_dir, emit)
        handle = os.fdopen(os.dup(fd), "rb", buffering=CHUNK_SIZE)
        try:
            error = reader.open_container(kind, handle, row["path"], 0)
        except Exception as exc:  # noqa: BLE001 - one bad archive must not stop the ingest
            error = f"archive reader failed: {describe_exception(exc)}"
        finally:
            handle.close()
        if error:
            add_error(row, error)
        return members + plain


# -- worker processes ---------------------------------------------------------------------

class WorkerSetup(NamedTuple):
    """What a worker needs to read files for one run: sent with each batch, compared, and the
    worker's reader made again only when it differs from the last batch's."""

    limits: Limits
    tmp_dir: str | None
    full_typing: bool
    open_archives: bool  # False for verify: it only re-hashes, so it does not type either
    columns: tuple[str, ...]  # the catalogue's column order
    stamp: dict[str, Any]  # values every row gets (ingest_id, label, recorded_at)
    parts_dir: str | None = None  # where the members of very large archives are written by the worker
    plain_rows: bool = False  # read_batch gives plain files as short rows (FileReader.plain_row)


_readers = threading.local()  # each thread's reader and typers: libmagic's handles are not shared


def reader_for(setup: WorkerSetup) -> FileReader:
    """This thread's reader for a run's setup, made again only when the setup changes, with this
    thread's typer (libmagic opened once per thread, whatever the runs). With parts_dir, the
    members of very large archives are written there by the reader."""
    if getattr(_readers, "setup", None) != setup:
        reader = FileReader(setup.limits, setup.tmp_dir, setup.full_typing, setup.open_archives,
                            type_files=setup.open_archives, typer=_typer(setup.full_typing))
        if setup.parts_dir is not None:
            reader.spill = _spill_to(Path(setup.parts_dir), setup.columns, setup.stamp)
        _readers.reader, _readers.setup = reader, setup
    return _readers.reader


def current_reader() -> FileReader | None:
    """The reader this thread read with last, if any."""
    return getattr(_readers, "reader", None)


def _typer(full_typing: bool) -> FileTyper:
    typers: dict[bool, FileTyper] = _readers.__dict__.setdefault("typers", {})
    if full_typing not in typers:
        typers[full_typing] = FileTyper(full_typing=full_typing)
    return typers[full_typing]


def _spill_to(folder: Path, columns: tuple[str, ...], stamp: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    """A spill function writing member rows as part files of this ingest (Polars loaded only then)."""
    written = 0

    def spill(rows: list[dict[str, Any]]) -> None:
        nonlocal written
        from forensics.catalogue import write_part

        written += 1
        write_part(folder, f"{stamp['ingest_id']}-spill-{os.getpid()}-{written:06d}",
                   [as_tuple(row, columns, stamp) for row in rows])

    return spill


class BatchResult(NamedTuple):
    """What a worker read from a batch of files.

    plain: the short rows of plain files (FileReader.plain_row), in batch order; others: for
    every other file, its index in the batch, its rows as tuples in catalogue column order,
    and how many member rows the worker wrote to a part itself (a very large archive's).
    Tuples, not dicts: they cost a fraction to send back to the main process and to turn
    into a table there, which matters at tens of thousands of small files a second.
    """

    plain: list[tuple[Any, ...]]
    others: list[tuple[int, list[tuple[Any, ...]], int]]


def read_batch(setup: WorkerSetup, entries: list[DiskEntry],
               moved: list[tuple[Any, ...] | None] | None = None) -> BatchResult:
    """Read a batch of files for the run that setup describes. moved, where given, holds for
    each file what another reader's compiled reader found (see handed_on), or None."""
    reader = reader_for(setup)
    columns, stamp = setup.columns, setup.stamp
    result = BatchResult([], [])
    for index, entry in enumerate(entries):
        seen = moved[index] if moved is not None else None
        if seen == READ_WHOLE:
            found = None  # read whole by another reader's compiled reader: the general way at once
        else:
            found = seen if seen is not None else reader.compiled_read(entry)
        if setup.plain_rows and (plain := reader.plain_row(entry, found)) is not None:
            result.plain.append(plain)
            continue
        rows = [as_tuple(row, columns, stamp) for row in reader.read(entry, found)]
        result.others.append((index, rows, reader.last_spilled))
    return result


def compiled_reader_present() -> bool:
    """Whether the compiled small-file reader could be loaded (not where OpenSSL refuses MD5)."""
    return _intake is not None


def read_plain_batch(setup: WorkerSetup, entries: list[DiskEntry]
                     ) -> tuple[list[tuple[Any, ...]], list[tuple[int, DiskEntry, tuple[Any, ...] | None]]]:
    """The plain files of a batch (FileReader.plain_row), read on a thread of the calling process;
    and the others, for read_batch to read on a worker process: each as (index in the batch,
    entry, what the compiled reader saw where it saw the file move), see handed_on.

    The compiled reader reads and hashes PLAIN_BATCH_BYTES of files at a time without the
    GIL, so the thread's Python work (typing, rows) and the main thread's walk go on beside it.
    """
    reader = reader_for(setup)
    plain: list[tuple[Any, ...]] = []
    left: list[tuple[int, DiskEntry, tuple[Any, ...] | None]] = []
    small: list[int] = []
    for index, entry in enumerate(entries):
        if reader.small_candidate(entry):
            small.append(index)
        else:
            left.append((index, entry, None))
    paths = [entries[index].path for index in small]
    start = 0
    while start < len(paths):
        found = _intake.read_many(paths, start, THREADED_MIN, HEAD_SIZE, LONG_LINE, PLAIN_BATCH_BYTES)
        for index, one in zip(small[start:start + len(found)], found, strict=True):
            row = reader.plain_row(entries[index], one)
            if row is None:
                left.append((index, *handed_on(entries[index], one)))
            else:
                plain.append(row)
        start += len(found)
    left.sort(key=lambda item: item[0])
    return plain, left


READ_WHOLE = ("read whole",)  # handed_on: the compiled reader read it whole; read it the general way


def handed_on(entry: DiskEntry, found: tuple[Any, ...] | None) -> tuple[DiskEntry, tuple[Any, ...] | None]:
    """A file the compiled reader left, as another process should read it, and what that
    reader should take as found by its own compiled reader (see read_batch):

    - where the compiled reader saw the file move, what it saw, so the row says it moved,
      as read() does;
    - where it read the file whole (an archive, a walk error), READ_WHOLE, so it is read
      the general way at once, with the stat taken before that first reading where the walk
      took none, so the row keeps the access time as found, as read() does for an archive;
    - else (not a small regular file) None: the other reader asks its compiled reader.
    """
    if found is None:
        return entry, None
    if found[0] == "changed":
        return entry, found
    return (entry if entry.st is not None else entry._replace(st=SmallStat(*found[:8]))), READ_WHOLE


def as_tuple(row: dict[str, Any], columns: tuple[str, ...], stamp: dict[str, Any]) -> tuple[Any, ...]:
    """A row dict as a tuple in column order, with the stamp's values filled in."""
    row.update(stamp)
    return tuple(map(row.get, columns))
