"""Ingest on disk: what is recorded, that evidence is never touched, and odd files survived."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest
from conftest import rows_of, run, tree_state, write


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "seized" / "var-www"
    write(root / "index.php", "<?php\nrequire 'config.php';\necho 'spoof';\n")
    write(root / "config.php", "<?php\n$db_name = 'spoofcall';\n$db_pass = 'hunter2';\n")
    write(root / "static" / "logo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    write(root / "logs" / "access.log", "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 7\n")
    write(root / "empty.txt", b"")
    write(root / "big.bin", os.urandom(3 * (1 << 20) + 5))
    (root / "emptydir").mkdir()
    return root


def test_every_file_is_hashed_typed_and_timed(case_dir: Path, web_root: Path) -> None:
    run("ingest", case_dir, web_root, "--label", "EXH-1")
    rows = rows_of(case_dir)
    for rel in ("index.php", "config.php", "static/logo.png", "logs/access.log", "empty.txt", "big.bin"):
        row = rows[rel]
        data = (web_root / rel).read_bytes()
        st = os.lstat(web_root / rel)
        assert row["kind"] == "file"
        assert row["size"] == len(data)
        assert row["md5"] == hashlib.md5(data).hexdigest()
        assert row["sha1"] == hashlib.sha1(data).hexdigest()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["root"] == str(web_root)
        assert row["label"] == "EXH-1"
        assert row["depth"] == 0 and row["parent"] is None and row["error"] is None
        assert int(row["mtime"].timestamp() * 1_000_000) == st.st_mtime_ns // 1000
        assert row["mode"] == st.st_mode and row["inode"] == st.st_ino
    assert rows["index.php"]["mime"] == "text/x-php"
    assert rows["static/logo.png"]["mime"] == "image/png"
    assert rows["logs/access.log"]["mime"] == "text/plain"
    assert rows["empty.txt"]["mime"] == "inode/x-empty"
    assert rows["emptydir"]["kind"] == "directory"
    assert rows["static"]["kind"] == "directory"


def test_times_keep_their_nanoseconds(case_dir: Path, web_root: Path) -> None:
    target = web_root / "index.php"
    os.utime(target, ns=(1_500_000_000_123_456_789, 1_600_000_000_987_654_321))
    run("ingest", case_dir, web_root)
    import polars as pl

    from forensics.case import open_case
    from forensics.catalogue import read_catalogue

    row = read_catalogue(open_case(case_dir)).filter(pl.col("path") == "index.php").with_columns(
        pl.col("mtime").dt.epoch("ns"), pl.col("atime").dt.epoch("ns"))
    assert row["mtime"][0] == 1_600_000_000_987_654_321
    assert row["atime"][0] == 1_500_000_000_123_456_789


def test_evidence_is_not_touched(case_dir: Path, web_root: Path) -> None:
    # Access times older than modification times: a plain read on a relatime mount would update them.
    for folder, _, files in os.walk(web_root):
        for name in files:
            path = os.path.join(folder, name)
            st = os.stat(path)
            os.utime(path, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    atimes = {p: os.stat(p).st_atime_ns for p in (web_root / "index.php", web_root / "big.bin")}
    before = tree_state(web_root)
    run("ingest", case_dir, web_root)
    run("verify", case_dir)
    assert tree_state(web_root) == before
    if hasattr(os, "O_NOATIME") and os.geteuid() in (0, os.stat(web_root).st_uid):
        assert {p: os.stat(p).st_atime_ns for p in atimes} == atimes
    assert sorted(os.listdir(web_root)) == sorted(["index.php", "config.php", "static", "logs", "empty.txt",
                                                   "big.bin", "emptydir"])


def test_ingesting_again_adds_nothing_and_reports_what_changed(case_dir: Path, web_root: Path) -> None:
    run("ingest", case_dir, web_root)
    first = len(rows_of(case_dir))
    again = json.loads(run("ingest", case_dir, web_root, "--json").stdout)
    assert again["new"] == 0 and again["changed"] == 0 and again["unchanged"] == first
    write(web_root / "new.php", "<?php\n")
    write(web_root / "config.php", "<?php\n$db_pass = 'changed';\n")
    third = json.loads(run("ingest", case_dir, web_root, "--json").stdout)
    assert third["new"] == 1 and third["changed"] == 1
    from forensics.case import open_case
    from forensics.catalogue import read_catalogue

    history = read_catalogue(open_case(case_dir))
    assert history.filter(history["path"] == "config.php").height == 2  # the old row is kept
    assert rows_of(case_dir)["config.php"]["sha256"] == hashlib.sha256((web_root / "config.php").read_bytes()).hexdigest()


def test_single_file_argument(case_dir: Path, web_root: Path) -> None:
    run("ingest", case_dir, web_root / "config.php")
    rows = rows_of(case_dir)
    assert list(rows) == ["config.php"]
    assert rows["config.php"]["root"] == str(web_root / "config.php")


def test_symlinks_are_recorded_and_never_followed(case_dir: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "secret.txt", "not evidence\n")
    root = tmp_path / "ev"
    write(root / "real.txt", "real\n")
    (root / "to_outside").symlink_to(outside)
    (root / "to_outside_dir").symlink_to(outside.parent, target_is_directory=True)
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to(root / "loop", target_is_directory=True)
    (root / "self").symlink_to(root / "self")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    run("ingest", case_dir, root)
    rows = rows_of(case_dir)
    assert rows["to_outside"]["kind"] == "symlink"
    assert rows["to_outside"]["link_target"] == str(outside)
    assert rows["to_outside"]["sha256"] is None
    assert rows["loop/again"]["kind"] == "symlink"
    assert rows["self"]["kind"] == "symlink" and rows["dangling"]["kind"] == "symlink"
    assert not any("secret" in path for path in rows)
    assert rows["real.txt"]["sha256"] is not None


def test_fifo_socket_and_device_are_recorded_not_read(case_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "ev"
    root.mkdir()
    os.mkfifo(root / "pipe")  # opening it for reading would block forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock"))
    has_device = False
    try:
        os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        has_device = True
    except PermissionError:
        pass
    try:
        run("ingest", case_dir, root)
    finally:
        server.close()
    rows = rows_of(case_dir)
    assert rows["pipe"]["kind"] == "fifo" and rows["pipe"]["sha256"] is None
    assert rows["sock"]["kind"] == "socket"
    if has_device:
        assert rows["null"]["kind"] == "char-device" and rows["null"]["sha256"] is None


def test_names_that_are_not_utf8_or_hold_newlines_are_kept(case_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "ev"
    root.mkdir()
    odd = os.fsencode(root) + b"/caf\xe9-latin1.txt"
    with open(odd, "wb") as handle:
        handle.write(b"latin1 name\n")
    write(root / "two\nlines.txt", "newline in name\n")
    write(root / "back\\slash.txt", "backslash\n")
    run("ingest", case_dir, root)
    rows = rows_of(case_dir)
    assert rows["caf\\xe9-latin1.txt"]["path_bytes"] == b"caf\xe9-latin1.txt"
    assert rows["caf\\xe9-latin1.txt"]["sha256"] == hashlib.sha256(b"latin1 name\n").hexdigest()
    assert rows["two\nlines.txt"]["path_bytes"] == b"two\nlines.txt"
    assert rows["back\\slash.txt"]["path_bytes"] == b"back\\slash.txt"


def _ingest_as_nobody(case_dir: str, root: str, queue: multiprocessing.Queue) -> None:
    """Run in a fresh (spawned) interpreter: import as root, then drop to nobody and ingest."""
    import polars as pl

    from forensics.case import open_case
    from forensics.ingest import ingest

    pl.DataFrame({"warm": [1]}).write_parquet(os.path.join(case_dir, "tmp", "warm.parquet"))
    os.setgid(65534)
    os.setuid(65534)
    report = ingest(open_case(Path(case_dir)), [root], workers=1)
    queue.put(report.problems)


def test_an_unreadable_file_is_recorded_with_its_error(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        base = tmp_path
    else:  # root reads everything: the ingest runs as nobody, like an unprivileged examiner
        base = Path(tempfile.mkdtemp(prefix="forensics-unreadable-", dir="/tmp"))
        base.chmod(0o777)
    try:
        case_dir = base / "case"
        run("case", "init", case_dir, "--case-ref", "R", "--examiner", "E")
        root = base / "ev"
        write(root / "readable.txt", "fine\n")
        locked = write(root / "locked.txt", "secret\n")
        locked.chmod(0)
        if os.geteuid() != 0:
            problems = run("ingest", case_dir, root, expect=3).stderr
        else:
            for path in (case_dir, *case_dir.rglob("*")):
                path.chmod(0o777 if path.is_dir() else 0o666)
            root.chmod(0o755)
            context = multiprocessing.get_context("spawn")
            queue: multiprocessing.Queue = context.Queue()
            child = context.Process(target=_ingest_as_nobody, args=(str(case_dir), str(root), queue))
            child.start()
            child.join(60)
            assert child.exitcode == 0
            problems = "\n".join(queue.get(timeout=5))
        assert f"{root}/locked.txt: cannot open: Permission denied" in problems
        rows = rows_of(case_dir)
        assert rows["locked.txt"]["error"] == "cannot open: Permission denied"
        assert rows["locked.txt"]["sha256"] is None
        assert rows["readable.txt"]["sha256"] == hashlib.sha256(b"fine\n").hexdigest()
    finally:
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


def test_a_missing_path_is_a_warning_and_the_rest_goes_on(case_dir: Path, web_root: Path, tmp_path: Path) -> None:
    result = run("ingest", case_dir, tmp_path / "nope", web_root, expect=3)
    assert f"{tmp_path / 'nope'}: not found" in result.stderr
    assert "index.php" in rows_of(case_dir)


def test_catalogue_summary_and_json(case_dir: Path, web_root: Path) -> None:
    run("ingest", case_dir, web_root)
    summary = run("catalogue", case_dir).stdout
    assert "6 files" in summary and "text/x-php" in summary
    rows = json.loads(run("catalogue", case_dir, "--json").stdout)
    by_path = {row["path"]: row for row in rows}
    assert by_path["index.php"]["sha256"] == hashlib.sha256((web_root / "index.php").read_bytes()).hexdigest()
    assert by_path["index.php"]["mtime"].endswith("Z")


def test_two_workers_give_the_same_catalogue_as_one(tmp_path: Path, web_root: Path) -> None:
    """With two workers, small plain files are read on threads and the rest (a large file, an
    archive, a FIFO, a link) on worker processes: every column as one worker gives it."""
    import zipfile

    for number in range(300):
        write(web_root / "many" / f"f{number:03d}.php", f"<?php\necho {number};\n")
    with zipfile.ZipFile(web_root / "site.zip", "w") as archive:
        archive.writestr("inner/dump.sql", "INSERT INTO t VALUES (1);\n")
    os.mkfifo(web_root / "pipe")
    os.symlink("index.php", web_root / "link.php")
    results, reports = [], []
    for workers in ("1", "2"):
        case = tmp_path / f"case{workers}"
        run("case", "init", case, "--case-ref", "R", "--examiner", "E")
        report = json.loads(run("ingest", case, web_root, "--workers", workers, "--json").stdout)
        reports.append({key: value for key, value in report.items() if key != "ingest_id"})
        results.append({path: {k: v for k, v in row.items() if k not in ("ingest_id", "recorded_at")}
                        for path, row in rows_of(case).items()})
    for result in results:  # reading a link's target moves its access time (see how-intake-works.md)
        result["link.php"].pop("atime")
    assert results[0] == results[1] and reports[0] == reports[1]
    assert len(results[0]) > 300 and results[0]["site.zip!inner/dump.sql"]["sha256"] is not None


def test_small_plain_files_need_no_worker_process(case_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forensics import ingest as ingest_module
    from forensics.case import open_case

    root = tmp_path / "www"
    for number in range(200):
        write(root / f"d{number % 7}" / f"f{number}.php", f"<?php\necho {number};\n")
    write(root / "logo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(300))

    def no_pool(count: int) -> None:
        raise AssertionError("a worker process was started for plain small files")

    monkeypatch.setattr(ingest_module, "worker_pool", no_pool)
    report = ingest_module.ingest(open_case(case_dir), [str(root)], workers=2)
    assert report.new == 208 and not report.problems  # 201 files and 7 folders
    assert rows_of(case_dir)["d3/f3.php"]["sha256"] == hashlib.sha256(b"<?php\necho 3;\n").hexdigest()


def test_a_case_folder_inside_the_evidence_is_left_out(tmp_path: Path) -> None:
    root = tmp_path / "ev"
    write(root / "a.txt", "a\n")
    case = root / "case"
    run("case", "init", case, "--case-ref", "R", "--examiner", "E")
    result = run("ingest", case, root, expect=3)
    assert f"{case}: the case folder lies inside the evidence" in result.stderr
    assert set(rows_of(case)) == {"a.txt"}
    assert "everything matches" in run("verify", case).stdout


def test_messages_stay_on_one_line_whatever_the_file_name(case_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "ev"
    root.mkdir()
    (root / "bad\nname.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # a damaged zip: one warning
    result = run("ingest", case_dir, root, expect=3)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("forensics: warning")]
    assert len(warnings) == 1 and "bad\\nname.zip" in warnings[0]


def test_folders_are_not_re_timed_by_listing_them(case_dir: Path, web_root: Path) -> None:
    if not hasattr(os, "O_NOATIME") or os.geteuid() not in (0, os.stat(web_root).st_uid):
        pytest.skip("O_NOATIME needs the owner or root")
    folders = [web_root, web_root / "static", web_root / "logs", web_root / "emptydir"]
    for folder in folders:  # access older than modification: a listing on a relatime mount would update it
        st = os.stat(folder)
        os.utime(folder, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    before = {folder: os.stat(folder).st_atime_ns for folder in folders}
    run("ingest", case_dir, web_root)
    run("verify", case_dir)
    assert {folder: os.stat(folder).st_atime_ns for folder in folders} == before


def test_a_link_given_as_the_evidence_path_is_followed(case_dir: Path, web_root: Path, tmp_path: Path) -> None:
    (tmp_path / "config-link.php").symlink_to(web_root / "config.php")
    run("ingest", case_dir, tmp_path / "config-link.php")
    row = rows_of(case_dir)["config-link.php"]
    assert row["kind"] == "file"
    assert row["sha256"] == hashlib.sha256((web_root / "config.php").read_bytes()).hexdigest()


def test_a_file_that_failed_is_read_again_and_rehash_reads_everything(case_dir: Path, web_root: Path) -> None:
    import zipfile

    damaged = write(web_root / "backup.zip", b"PK\x03\x04" + b"\x00" * 40)
    run("ingest", case_dir, web_root, expect=3)
    assert rows_of(case_dir)["backup.zip"]["error"]
    again = json.loads(run("ingest", case_dir, web_root, "--json", expect=3).stdout)
    assert again["metadata_changed"] == 1  # the damaged zip, read again: same content, same error
    damaged.unlink()
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("a.txt", "fine\n")
    fixed = json.loads(run("ingest", case_dir, web_root, "--json").stdout)
    assert fixed["changed"] == 1 and rows_of(case_dir)["backup.zip"]["error"] is None
    everything = json.loads(run("ingest", case_dir, web_root, "--rehash", "--json").stdout)
    assert everything["unchanged"] == 0 and everything["metadata_changed"] >= 7


def test_exports_are_recorded_in_the_audit_trail(case_dir: Path, web_root: Path, tmp_path: Path) -> None:
    run("ingest", case_dir, web_root)
    target = tmp_path / "known.txt"
    run("catalogue", case_dir, "--export", "hashdeep", "-o", target)
    last = json.loads((case_dir / "audit.jsonl").read_text().splitlines()[-1])
    assert last["details"]["export"]["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert last["details"]["export"]["path"] == str(target)
    run("log", case_dir, "--verify")


def test_an_evidence_path_that_is_not_utf8_is_refused_in_one_line(case_dir: Path, tmp_path: Path) -> None:
    odd = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(odd)
    with open(odd + b"/a.txt", "wb") as handle:
        handle.write(b"a\n")
    write(tmp_path / "fine" / "b.txt", "b\n")
    result = run("ingest", case_dir, os.fsdecode(odd), tmp_path / "fine", expect=3)
    assert "caf\\xe9: the evidence path itself is not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    assert "b.txt" in rows_of(case_dir)
    run("log", case_dir, "--verify")


def test_parts_are_joined_by_copying_and_other_writers_catalogues_by_polars(case_dir: Path, web_root: Path) -> None:
    """merge_parts copies the parts' row groups into the catalogue; a catalogue another writer made
    (here pyarrow) cannot be joined that way and is merged through Polars: no row lost either way."""
    import polars as pl
    import pyarrow.parquet as pq

    catalogue = case_dir / "catalogue.parquet"
    run("ingest", case_dir, web_root)
    first = pl.read_parquet(catalogue)
    write(web_root / "index.php", "<?php\necho 'changed';\n")
    run("ingest", case_dir, web_root)
    joined = pq.ParquetFile(catalogue).metadata
    assert joined.created_by.startswith("Polars") and joined.num_row_groups >= 2  # the first run's group, copied
    second = pl.read_parquet(catalogue)
    assert second.head(first.height).equals(first) and second.height == first.height + 1

    pq.write_table(pq.read_table(catalogue), catalogue)  # as if another tool had written it
    assert not pq.ParquetFile(catalogue).metadata.created_by.startswith("Polars")
    write(web_root / "config.php", "<?php\n$db_name = 'other';\n")
    run("ingest", case_dir, web_root)
    third = pl.read_parquet(catalogue)
    assert third.head(second.height).equals(second) and third.height == second.height + 1
    assert rows_of(case_dir)["config.php"]["sha256"] == hashlib.sha256(b"<?php\n$db_name = 'other';\n").hexdigest()
    assert not list((case_dir / "catalogue.parts").glob("*"))


def test_batches_grow_for_small_files_and_stay_small_for_large_ones() -> None:
    from forensics.evidence import DiskEntry
    from forensics.ingest import BATCH_BYTES, BATCH_FILES, BATCH_FILES_MAX, _batches, _Pace

    pace = _Pace()
    assert pace.batch_files() == BATCH_FILES  # nothing read yet
    pace.files, pace.bytes = 1000, 1000 * 3000  # files of 3 kB
    assert pace.batch_files() == BATCH_FILES_MAX
    pace.files, pace.bytes = 1000, 1000 * (BATCH_BYTES // 100)  # a hundred of them fill a batch
    assert pace.batch_files() == 100
    pace.files, pace.bytes = 1000, 1000 * (1 << 30)
    assert pace.batch_files() == BATCH_FILES
    entries = [DiskEntry("/r", f"/r/f{n}", f"f{n}", None, regular=True) for n in range(3000)]
    pace = _Pace()
    sizes = []
    for batch in _batches(iter(entries), pace):
        sizes.append(len(batch))
        pace.files, pace.bytes = pace.files + len(batch), pace.bytes + 3000 * len(batch)
    assert sizes[0] == BATCH_FILES and max(sizes) == BATCH_FILES_MAX and sum(sizes) == 3000


def test_a_reader_is_made_again_for_a_run_with_another_setup(case_dir: Path, web_root: Path) -> None:
    from forensics import evidence
    from forensics.case import open_case
    from forensics.ingest import ingest

    first = ingest(open_case(case_dir), [str(web_root)], workers=1, label="EXH-1")  # read in this process
    reader = evidence.current_reader()
    write(web_root / "index.php", "<?php\necho 'changed';\n")
    second = ingest(open_case(case_dir), [str(web_root)], workers=1, label="EXH-2")
    assert evidence.current_reader() is not None and evidence.current_reader() is not reader
    assert evidence.current_reader().typer is reader.typer  # libmagic loaded once
    rows = rows_of(case_dir)
    assert (rows["index.php"]["ingest_id"], rows["index.php"]["label"]) == (second.ingest_id, "EXH-2")
    assert rows["config.php"]["ingest_id"] == first.ingest_id


def test_a_catalogue_of_many_row_groups_is_written_anew(case_dir: Path, web_root: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    from forensics import catalogue

    catalogue_path = case_dir / "catalogue.parquet"
    run("ingest", case_dir, web_root)
    write(web_root / "index.php", "<?php\necho 'changed';\n")
    run("ingest", case_dir, web_root)
    before = pl.read_parquet(catalogue_path)
    assert pq.ParquetFile(catalogue_path).metadata.num_row_groups >= 2
    monkeypatch.setattr(catalogue, "CATALOGUE_ROW_GROUPS", 1)
    write(web_root / "index.php", "<?php\necho 'again';\n")
    from forensics.case import open_case
    from forensics.ingest import ingest
    ingest(open_case(case_dir), [str(web_root)], workers=1)
    assert pq.ParquetFile(catalogue_path).metadata.num_row_groups == 1  # written anew by Polars
    after = pl.read_parquet(catalogue_path)
    assert after.head(before.height).equals(before) and after.height == before.height + 1


def test_a_worker_process_that_dies_gives_one_line_and_keeps_what_was_read(
        case_dir: Path, web_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from forensics import ingest as ingest_module
    from forensics.case import open_case
    from forensics.errors import ForensicsError

    class DyingPool:  # what a pool gives when its worker was killed (out of memory, say)
        def submit(self, *args: object) -> Future:
            future: Future = Future()
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return future

        def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
            pass

    monkeypatch.setattr(ingest_module, "worker_pool", lambda count: DyingPool())
    with pytest.raises(ForensicsError, match="a worker process reading the evidence ended abruptly"):
        ingest_module.ingest(open_case(case_dir), [str(web_root)], workers=2)  # big.bin goes to a worker
    monkeypatch.undo()
    again = ingest_module.ingest(open_case(case_dir), [str(web_root)], workers=2)
    assert (again.new, again.unchanged) == (1, 8)  # what was read before the worker died was kept
    assert rows_of(case_dir)["big.bin"]["sha256"] == hashlib.sha256((web_root / "big.bin").read_bytes()).hexdigest()
