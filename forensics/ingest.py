"""Ingest: catalogue evidence into a case, every file hashed and typed, archives opened.

The main process walks the evidence; worker processes read the files (one per core), in
batches so that tiny files cost little. Rows are written to catalogue.parts/ as they come,
grouped so that an archive and its members land together, and merged into
catalogue.parquet at the end. A run that is interrupted leaves its parts; the next run
reads them, skips what they already hold and completes the catalogue.
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from forensics.archives import Limits, display, tmp_dir_for
from forensics.audit import sha256_file
from forensics.case import Case
from forensics.catalogue import (
    COLUMN_NAMES,
    CURRENT_KEYS,
    PLAIN_COLUMNS,
    PartWriter,
    current_rows,
    disk_rows,
    merge_parts,
    new_ingest_id,
    part_files,
    scan_catalogue,
)
from forensics.errors import ForensicsError
from forensics.evidence import (
    BatchResult,
    DiskEntry,
    WorkerSetup,
    as_tuple,
    compiled_reader_present,
    evidence_location,
    read_batch,
    read_plain_batch,
    stat_row,
    walk,
)
from forensics.workers import default_workers, worker_pool

I_ROOT, I_PATH, I_SIZE, I_SHA256, I_ERROR = (COLUMN_NAMES.index(name) for name in ("root", "path", "size", "sha256", "error"))
P_ROOT, P_PATH, P_SIZE, P_SHA256 = (PLAIN_COLUMNS.index(name) for name in ("root", "path", "size", "sha256"))
BATCH_FILES = 64  # files in a batch until the sizes of files read show them to be small
BATCH_FILES_MAX = 1024  # a batch costs the pool about a millisecond: small files go in large batches
BATCH_BYTES = 32 << 20
# Files the threads leave (large ones, archives) go to the workers in batches of this many. A
# large file is hashed by two threads of its worker (hashing.MultiHash), so a few large files
# keep both cores busy from one worker; spread over two workers they ran slower (4 threads).
LEFT_BATCH_FILES = 8
MANIFEST_SLICE = 200_000  # catalogue rows hashed at a time for the audit log's root manifests

@dataclass
class IngestReport:
    """What an ingest found, for the examiner and the audit log."""

    ingest_id: str
    new: int = 0
    changed: int = 0
    metadata_changed: int = 0
    unchanged: int = 0
    members: int = 0
    bytes_read: int = 0
    resumed_rows: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "ingest_id": self.ingest_id,
            "new": self.new,
            "changed": self.changed,
            "metadata_changed": self.metadata_changed,
            "unchanged": self.unchanged,
            "archive_members": self.members,
            "bytes_read": self.bytes_read,
            "resumed_rows": self.resumed_rows,
            "problems": self.problems,
        }


Progress = Callable[[int, int], None]  # (files done, bytes done)


@dataclass(frozen=True)
class _Known:
    size: int | None
    mtime: int | None
    ctime: int | None
    inode: int | None
    kind: str | None
    sha256: str | None
    error: str | None


def _known_entries(case: Case) -> dict[tuple[str, str], _Known]:
    rows = disk_rows(case, ["root", "path", "size", "mtime", "ctime", "inode", "kind", "sha256", "error"])
    return {(root, path): _Known(*rest) for root, path, *rest in rows.iter_rows()}


def _same_stat(known: _Known, row: dict[str, Any]) -> bool:
    return (known.size, known.mtime, known.ctime, known.inode, known.kind) == (
        row.get("size"), row.get("mtime"), row.get("ctime"), row.get("inode"), row.get("kind"),
    )


def one_line(text: str) -> str:
    """A message on one line: line breaks (in file names, say) shown as \\n and \\r."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def case_inside(case: Case, root: str) -> str | None:
    """The case folder's path as the walk of root would meet it, when it lies inside root."""
    folder = os.path.abspath(case.path)
    real_root, real_folder = os.path.realpath(root), os.path.realpath(folder)
    if real_folder != real_root and real_folder.startswith(real_root.rstrip(os.sep) + os.sep):
        return os.path.join(root, os.path.relpath(real_folder, real_root))
    return None


def is_text(name: str) -> bool:
    """Whether a name from the OS is valid UTF-8 (holds no surrogate escapes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def evidence_root(path: str) -> str:
    """The evidence path as the catalogue records it: absolute, links not resolved."""
    return os.path.abspath(path)


def ingest(case: Case, paths: Iterable[str], **options: Any) -> IngestReport:
    """Catalogue every file below each path into the case, holding the case's lock.

    Options are those of ingest_unlocked: label, limits, full_typing, workers, progress,
    on_problem, command, rehash.
    """
    with case.locked():
        return ingest_unlocked(case, paths, **options)


def ingest_unlocked(
    case: Case,
    paths: Iterable[str],
    label: str | None = None,
    limits: Limits | None = None,
    full_typing: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    on_problem: Callable[[str], None] | None = None,
    command: list[str] | None = None,
    rehash: bool = False,
) -> IngestReport:
    """Catalogue every file below each path into the case; return what was found.

    A file already catalogued with the same size, times, inode and kind and no error is
    not read again, unless rehash (to retype with other options or limits, say). One whose
    last reading failed is always read again.
    """
    paths = list(paths)
    limits = limits or Limits()
    ingest_id = new_ingest_id()
    report = IngestReport(ingest_id)
    report.resumed_rows = sum(pl.scan_parquet(p, glob=False).select(pl.len()).collect().item() for p in part_files(case))
    known = _known_entries(case)
    stamp = {"ingest_id": ingest_id, "label": label, "recorded_at": time.time_ns()}
    writer = PartWriter(case, stamp)
    workers = workers or default_workers()
    tmp_dir = tmp_dir_for(case.tmp_dir)

    def note(problem: str) -> None:
        problem = one_line(problem)
        report.problems.append(problem)
        if on_problem is not None:
            on_problem(problem)

    def count(root: str, path: str, sha256: str | None) -> None:
        """A file read: new, changed, or the same content with new metadata."""
        before = known.get((root, path)) if known else None
        if before is None:
            report.new += 1
        elif before.sha256 is not None and sha256 == before.sha256:
            report.metadata_changed += 1
        else:
            report.changed += 1

    def finish(result: tuple[list[tuple[Any, ...]], int], entry: DiskEntry) -> None:
        group, spilled = result
        head = group[0]
        count(head[I_ROOT], head[I_PATH], head[I_SHA256])
        report.members += len(group) - 1 + spilled
        size = head[I_SIZE] or 0
        if head[I_SHA256]:
            report.bytes_read += size
        for row in group:
            if row[I_ERROR]:
                note(f"{evidence_location(entry.root, row[I_PATH], entry.root_kind)}: {row[I_ERROR]}")
        writer.add_group(group)
        if progress is not None:
            progress(1, size)

    def finish_plain(rows: list[tuple[Any, ...]]) -> None:
        if known:
            for row in rows:
                count(row[P_ROOT], row[P_PATH], row[P_SHA256])
        else:  # a first ingest: every file is new
            report.new += len(rows)
        size = sum(row[P_SIZE] for row in rows)
        report.bytes_read += size
        writer.add_plain(rows)
        if progress is not None:
            progress(len(rows), size)

    walked: list[str] = []

    def to_read() -> Iterator[DiskEntry]:
        for raw_path in paths:
            root = evidence_root(raw_path)
            if not os.path.lexists(root):
                note(f"{raw_path}: not found; nothing ingested from it")
                continue
            if not is_text(root):
                note(f"{display(os.fsencode(root))}: the evidence path itself is not valid UTF-8; nothing ingested "
                     "from it (give it through a link or a mount point whose name is)")
                continue
            walked.append(root)
            excluded = case_inside(case, root)
            if excluded is not None:
                note(f"{excluded}: the case folder lies inside the evidence; it is not catalogued")
            for entry in walk(root, stat_files=bool(known), exclude=excluded):
                if entry.is_file and not known:  # first ingest: nothing to compare, the worker builds the row
                    yield entry
                    continue
                row = stat_row(entry)
                previous = known.get((row["root"], row["path"]))
                if (previous is not None and not rehash and previous.error is None and entry.error is None
                        and _same_stat(previous, row)):
                    report.unchanged += 1
                    if progress is not None:
                        progress(1, 0)
                    continue
                if entry.is_file:
                    yield entry
                else:
                    finish(([as_tuple(row, COLUMN_NAMES, stamp)], 0), entry)

    outcome = "interrupted"
    try:
        run_pool(to_read(), finish, limits, tmp_dir, full_typing, workers, stamp=stamp,
                 parts_dir=os.fspath(case.parts_dir), finish_plain=finish_plain)
        outcome = "warnings" if report.problems else "ok"
    finally:
        try:
            writer.flush()
        finally:  # whatever happened, what reached the parts is merged and the run is logged
            merge_parts(case)
            case.audit.append(
                command or ["forensics", "ingest", os.fspath(case.path), *paths],
                outcome,
                f"{report.new} new, {report.changed} changed, {report.metadata_changed} metadata changed, "
                f"{report.unchanged} unchanged, {report.members} archive members, {len(report.problems)} problems",
                inputs=root_manifests(case, walked),
                outputs=[catalogue_output(case)],
                details={**report.as_dict(), "label": label, "limits": asdict(limits), "full_typing": full_typing,
                         "rehash": rehash,
                         "problems": report.problems[:1000], "problems_total": len(report.problems)},
            )
    return report


def root_manifests(case: Case, roots: list[str]) -> list[dict[str, Any]]:
    """Each evidence root as an audit-log input: its current entries and the SHA-256 of its
    manifest, a line 'sha256 size path' per current entry in path order.

    Only the columns needed are read, and only the rows of these roots; the current rows are
    found on the loaded columns (faster than the lazy query, which loads them too) and their
    lines are made by Polars and hashed a slice at a time.
    """
    wanted = sorted(set(roots))
    if not wanted:
        return []
    columns = list(dict.fromkeys([*CURRENT_KEYS, "sha256", "size"]))
    rows = current_rows(scan_catalogue(case).select(columns).filter(pl.col("root").is_in(wanted)).collect())
    line = pl.format("{} {} {}\n", pl.col("sha256").fill_null("-"),
                     pl.col("size").cast(pl.String).fill_null("-"), pl.col("path"))
    manifests = []
    for root in wanted:
        lines = rows.filter(pl.col("root") == root).select(line.alias("line"))
        digest = hashlib.sha256()
        for piece in lines.iter_slices(MANIFEST_SLICE):
            digest.update(piece.select(pl.col("line").str.join("")).item().encode())
        manifests.append({"path": root, "entries": lines.height, "sha256": digest.hexdigest()})
    return manifests


@dataclass
class _Pace:
    """Files and bytes read so far, to size the next batch: the walk of a first ingest takes
    no stat, so a batch's size is known only from the files read before it."""

    files: int = 0
    bytes: int = 0

    def batch_files(self) -> int:
        """Files for the next batch: about BATCH_BYTES of files of the mean size read so far,
        between BATCH_FILES and BATCH_FILES_MAX."""
        if self.files < BATCH_FILES:
            return BATCH_FILES
        return max(BATCH_FILES, min(BATCH_FILES_MAX, BATCH_BYTES * self.files // max(self.bytes, 1)))


def _batches(entries: Iterator[DiskEntry], pace: _Pace) -> Iterator[list[DiskEntry]]:
    batch: list[DiskEntry] = []
    size = 0
    limit = pace.batch_files()
    for entry in entries:
        batch.append(entry)
        size += entry.st.st_size if entry.st is not None else 0  # unknown until read: the pace guesses
        if len(batch) >= limit or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
            limit = pace.batch_files()
    if batch:
        yield batch


def run_pool(
    entries: Iterator[DiskEntry],
    finish: Callable[[tuple[list[tuple[Any, ...]], int], DiskEntry], None],
    limits: Limits,
    tmp_dir: str | None,
    full_typing: bool,
    workers: int,
    open_archives: bool = True,
    stamp: dict[str, Any] | None = None,
    parts_dir: str | None = None,
    finish_plain: Callable[[list[tuple[Any, ...]]], None] | None = None,
) -> None:
    """Read files on worker processes, at most a few batches in flight, results in batch order.

    finish gets, for each file, its rows as tuples in catalogue column order (COLUMN_NAMES)
    and how many member rows the worker wrote to parts_dir itself (a very large archive's).
    With finish_plain, plain files (FileReader.plain_row) go to it instead, as the short rows
    of a batch together, before the batch's other files go to finish.
    """
    setup = WorkerSetup(limits, tmp_dir, full_typing, open_archives, COLUMN_NAMES, stamp or {}, parts_dir,
                        finish_plain is not None)

    pace = _Pace()

    def finish_batch(batch: list[DiskEntry], result: BatchResult) -> None:
        pace.files += len(result.plain) + len(result.others)
        if result.plain and finish_plain is not None:
            pace.bytes += sum(row[P_SIZE] for row in result.plain)
            finish_plain(result.plain)
        for index, rows, spilled in result.others:
            pace.bytes += rows[0][I_SIZE] or 0
            finish((rows, spilled), batch[index])

    if workers <= 1:  # files read here, archives opened here: the cycle collector stays on
        for batch in _batches(entries, pace):
            finish_batch(batch, read_batch(setup, batch))
        return
    try:
        with _no_cycle_collection():
            if finish_plain is not None and compiled_reader_present():
                _run_on_threads_then_workers(_batches(entries, pace), setup, finish_batch, workers)
            else:
                _run_on_workers(_batches(entries, pace), setup, finish_batch, workers)
    except BrokenProcessPool as exc:
        raise ForensicsError(f"a worker process reading the evidence ended abruptly (out of memory, or killed): "
                             f"{exc}; what was read before is kept, run the command again to go on") from exc


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while the main process only walks and collects rows:
    entries and rows hold no cycles, and with tens of thousands of them alive the collector
    cost a tenth of the main process's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_on_workers(batches: Iterator[list[DiskEntry]], setup: WorkerSetup,
                    finish_batch: Callable[[list[DiskEntry], BatchResult], None], workers: int) -> None:
    """Batches read on worker processes, a few in flight, finished in order."""
    window: deque[tuple[list[DiskEntry], Future[BatchResult]]] = deque()
    with worker_pool(workers) as pool:
        try:
            for batch in batches:
                window.append((batch, pool.submit(read_batch, setup, batch)))
                while len(window) > workers * 3:
                    done_batch, future = window.popleft()
                    finish_batch(done_batch, future.result())
            while window:
                done_batch, future = window.popleft()
                finish_batch(done_batch, future.result())
        except BaseException:
            for _, future in window:
                future.cancel()
            raise


def _run_on_threads_then_workers(batches: Iterator[list[DiskEntry]], setup: WorkerSetup,
                                 finish_batch: Callable[[list[DiskEntry], BatchResult], None], workers: int) -> None:
    """Plain small files read on threads of this process (read_plain_batch); the files they
    leave (large, archives, errors) read on worker processes, started only when there are any.

    A web root is mostly small files: on threads they cost no process start-up and nothing
    sent between processes, and the compiled reader leaves the GIL while it reads and hashes.
    """
    threads = ThreadPoolExecutor(workers, thread_name_prefix="forensics-read")
    read: deque[tuple[list[DiskEntry], Future[Any]]] = deque()
    left: list[tuple[DiskEntry, tuple[Any, ...] | None]] = []  # what the threads left, for the workers
    pool: ProcessPoolExecutor | None = None
    sent: deque[tuple[list[DiskEntry], Future[BatchResult]]] = deque()

    def send_left(everything: bool = False) -> None:
        nonlocal pool
        # a worker with nothing to do gets what is there; busy ones get batches of LEFT_BATCH_FILES
        while left and (len(left) >= LEFT_BATCH_FILES or len(sent) < workers or everything):
            batch = [entry for entry, _ in left[:LEFT_BATCH_FILES]]
            moved = [seen for _, seen in left[:LEFT_BATCH_FILES]]
            del left[:LEFT_BATCH_FILES]
            if pool is None:
                pool = worker_pool(workers)
            sent.append((batch, pool.submit(read_batch, setup, batch, moved)))
            while len(sent) > workers * 3:
                done_batch, future = sent.popleft()
                finish_batch(done_batch, future.result())

    def take_read() -> None:
        _, future = read.popleft()
        plain, others = future.result()
        finish_batch([], BatchResult(plain, []))
        left.extend((entry, moved) for _, entry, moved in others)
        send_left()

    try:
        for batch in batches:
            read.append((batch, threads.submit(read_plain_batch, setup, batch)))
            while len(read) > workers * 3:
                take_read()
        while read:
            take_read()
        send_left(everything=True)
        while sent:
            done_batch, future = sent.popleft()
            finish_batch(done_batch, future.result())
    except BaseException:
        for _, future in [*read, *sent]:
            future.cancel()
        raise
    finally:
        try:
            threads.shutdown(wait=True, cancel_futures=True)
        finally:  # even when a second Ctrl-C comes while the threads finish
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def catalogue_output(case: Case) -> dict[str, str]:
    """The catalogue as an audit-log output: its path in the case and its SHA-256."""
    return {"path": case.catalogue_path.name, "sha256": sha256_file(case.catalogue_path)}
