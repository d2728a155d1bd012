"""The compiled small-file reader (forensics/_intake.c) against the Python reader it stands in for."""

from __future__ import annotations

import hashlib
import io
import os
import random
import zipfile
from pathlib import Path

import pytest

from forensics import _intake, evidence
from forensics.archives import Limits
from forensics.catalogue import COLUMN_NAMES, plain_frame, rows_to_frame
from forensics.evidence import FileReader, as_tuple, walk
from forensics.filetype import HEAD_SIZE, LONG_LINE, is_plain_lines
from forensics.hashing import THREADED_MIN
from tests.conftest import rows_of, run, write


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/dump.sql", "INSERT INTO t VALUES (1);\n")
    return buffer.getvalue()


def _evidence(root: Path) -> Path:
    """Files of every kind the compiled reader takes, and of the kinds it must hand back."""
    rng = random.Random(3)
    write(root / "empty", b"")
    write(root / "index.php", b"<?php\necho 'hello';\n")
    write(root / "long-line.php", b"<?php\n" + b"a" * (LONG_LINE + 1) + b"\n")
    write(root / "latin1.php", b"<?php\necho '\xe9t\xe9';\n")
    write(root / "page.html", b"<!DOCTYPE html>\n<html><body>x</body></html>\n")
    write(root / "logo.png", b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(500)))
    write(root / "notes.txt", b"just some words\n")
    write(root / "at-limit.bin", os.urandom(THREADED_MIN))
    write(root / "past-limit.bin", os.urandom(THREADED_MIN + 1))
    write(root / "site.zip", _zip_bytes())
    write(root / os.fsdecode(b"caf\xe9.php"), b"<?php\n")
    os.mkfifo(root / "pipe")
    os.symlink("index.php", root / "link.php")
    return root


def _rows(root: Path, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict]]:
    monkeypatch.setattr(evidence, "_intake", _intake if compiled else None)
    reader = FileReader(Limits(), None)
    found = {}
    for entry in walk(os.fspath(root), stat_files=False):
        if entry.is_file:
            found[entry.rel] = reader.read(entry)
            if compiled and entry.rel.endswith(".php"):  # taken by the compiled reader, as a plain file
                assert reader.plain_row(entry, reader.compiled_read(entry)) is not None, entry.rel
    return found


def test_compiled_reader_gives_the_rows_of_the_python_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _evidence(tmp_path / "evidence")
    compiled = _rows(root, True, monkeypatch)
    python = _rows(root, False, monkeypatch)
    assert compiled == python
    assert len(compiled["site.zip"]) == 2  # the archive still opened, by the general reader
    assert compiled["index.php"][0]["description"] == "PHP script, ASCII text"
    assert compiled["past-limit.bin"][0]["sha256"] == hashlib.sha256((root / "past-limit.bin").read_bytes()).hexdigest()


def test_compiled_reader_hands_back_what_is_not_a_plain_small_file(tmp_path: Path) -> None:
    root = _evidence(tmp_path / "evidence")
    take = _intake.read_small
    assert take(os.fsencode(root / "index.php"), THREADED_MIN, HEAD_SIZE, LONG_LINE) is not None
    assert take(os.fsencode(root / "at-limit.bin"), THREADED_MIN, HEAD_SIZE, LONG_LINE) is not None
    for name in ("past-limit.bin", "pipe", "link.php", "missing", ""):
        assert take(os.fsencode(root / name), THREADED_MIN, HEAD_SIZE, LONG_LINE) is None, name


def test_compiled_reader_hashes_and_stats_as_python_does(tmp_path: Path) -> None:
    for size in (0, 1, 55, 56, 64, 4095, 65537):
        path = write(tmp_path / f"f{size}", os.urandom(size))
        mode, length, mtime, ctime, atime, uid, gid, inode, data, md5, sha1, sha256, _ = _intake.read_small(
            os.fsencode(path), THREADED_MIN, HEAD_SIZE, LONG_LINE)
        st = os.stat(path)
        assert (mode, length, mtime, ctime, uid, gid, inode) == (
            st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_uid, st.st_gid, st.st_ino)
        assert atime == st.st_atime_ns  # reading did not move it
        assert data == path.read_bytes()
        assert (md5, sha1, sha256) == (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(),
                                       hashlib.sha256(data).hexdigest())


def test_compiled_reader_keeps_each_stat_field_apart(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"<?php\n")
    os.utime(path, ns=(1_500_000_000_123_456_789, 1_400_000_000_987_654_321))  # atime, mtime
    if os.geteuid() == 0:
        os.chown(path, 1234, 5678)
    mode, size, mtime, ctime, atime, uid, gid, inode, *_ = _intake.read_small(
        os.fsencode(path), THREADED_MIN, HEAD_SIZE, LONG_LINE)
    st = os.stat(path)
    assert mtime == 1_400_000_000_987_654_321 and atime == 1_500_000_000_123_456_789
    assert ctime == st.st_ctime_ns != mtime
    assert (uid, gid) == (st.st_uid, st.st_gid)
    assert (mode, size, inode) == (st.st_mode, 6, st.st_ino)


def test_times_past_what_the_catalogue_holds_go_to_the_python_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "forged", b"<?php\n")
    try:
        os.utime(path, (10_413_792_000, 10_413_792_000))  # 2300-01-01: past int64 nanoseconds
    except (OSError, OverflowError):
        pytest.skip("this file system cannot hold a time in 2300")
    if os.stat(path).st_mtime_ns < 2**63:
        pytest.skip("this file system clamped the time")
    assert _intake.read_small(os.fsencode(path), THREADED_MIN, HEAD_SIZE, LONG_LINE) is None
    write(tmp_path / "plain.php", b"<?php\n")
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "T-1", "--examiner", "tester")
    result = run("ingest", case, tmp_path / "forged", tmp_path / "plain.php", expect=None)
    assert "forged: mtime 10413792000 s, atime 10413792000 s since 1970 lie outside" in result.output
    rows = rows_of(case)
    assert rows["forged"]["mtime"] is None and rows["forged"]["sha256"] is not None
    assert rows["plain.php"]["error"] is None


def test_compiled_plain_lines_check_equals_the_python_one(tmp_path: Path) -> None:
    rng = random.Random(11)
    alphabet = b"ab \t\n\r\x0b\x0c\x00\x7f\x80\xe9~"
    samples = [b"", b"\n", b"a", b"a\n", b"a" * LONG_LINE + b"\n", b"a" * (LONG_LINE + 1) + b"\n",
               b"\n" + b"a" * (LONG_LINE + 1), b"x\n" + b"a" * LONG_LINE]
    samples += [bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))) for _ in range(400)]
    samples += [b"\n".join(b"a" * rng.randrange(LONG_LINE - 2, LONG_LINE + 3) for _ in range(3)) for _ in range(50)]
    for index, data in enumerate(samples):
        path = write(tmp_path / f"s{index}", data)
        plain = _intake.read_small(os.fsencode(path), THREADED_MIN, HEAD_SIZE, LONG_LINE)[-1]
        assert plain == is_plain_lines(data), data


def test_a_file_that_moves_while_the_compiled_reader_reads_it_is_said_to_have_moved(tmp_path: Path) -> None:
    # /proc files are regular files whose fstat size (0) is not what a read gives: always "moved"
    found = _intake.read_small(b"/proc/self/status", THREADED_MIN, HEAD_SIZE, LONG_LINE)
    assert found[0] == "changed" and found[1] == 0 and found[2] == 0 and found[3] > 0


def test_a_file_read_again_unchanged_after_it_moved_keeps_the_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "evidence" / "log.txt", b"line one\nline two\n")

    class MovedOnce:  # the compiled reader saw it grow from 9 to 18 bytes; the second reading is steady
        @staticmethod
        def read_small(*args: object) -> tuple[object, ...]:
            return ("changed", 9, 18, 18)

    monkeypatch.setattr(evidence, "_intake", MovedOnce)
    entry = next(e for e in walk(os.fspath(tmp_path / "evidence"), stat_files=False) if e.is_file)
    row = FileReader(Limits(), None).read(entry)[0]
    assert row["error"] == ("changed while being read (size 9 -> 18, 18 bytes read); read again unchanged: "
                            "the hashes are of that second reading")
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and row["size"] == 18


@pytest.mark.parametrize("compiled", [True, False])
def test_a_file_that_grew_after_the_walk_gives_the_size_it_was_read_with(
        tmp_path: Path, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "evidence" / "grows.log", b"line one\n")
    entry = next(e for e in walk(os.fspath(tmp_path / "evidence"), stat_files=True) if e.is_file)
    assert entry.st is not None and entry.st.st_size == 9  # the walk's lstat (as a re-ingest walks)
    with open(path, "ab") as handle:
        handle.write(b"line two\n")
    monkeypatch.setattr(evidence, "_intake", _intake if compiled else None)
    row = FileReader(Limits(), None).read(entry)[0]
    assert (row["size"], row["sha256"]) == (18, hashlib.sha256(path.read_bytes()).hexdigest())
    assert row["error"].startswith("changed between the walk and the read (size, modification time")
    assert row["error"].endswith("; size 9 -> 18); the row gives the file as it was read")
    assert row["atime"] == entry.st.st_atime_ns  # as the walk found it, before anything was read


@pytest.mark.parametrize("compiled", [True, False])
def test_a_file_replaced_after_the_walk_with_the_same_size_and_time_is_said_to_be_replaced(
        tmp_path: Path, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "evidence" / "swap.txt", b"original\n")
    entry = next(e for e in walk(os.fspath(tmp_path / "evidence"), stat_files=True) if e.is_file)
    other = write(tmp_path / "other.txt", b"replaced\n")  # same size
    os.utime(other, ns=(entry.st.st_atime_ns, entry.st.st_mtime_ns))  # and the same times, as cp -p leaves them
    os.replace(other, path)
    monkeypatch.setattr(evidence, "_intake", _intake if compiled else None)
    row = FileReader(Limits(), None).read(entry)[0]
    assert row["sha256"] == hashlib.sha256(b"replaced\n").hexdigest() and row["inode"] == os.stat(path).st_ino
    assert row["error"].startswith("changed between the walk and the read (inode")


def test_a_move_is_said_beside_an_error_the_walk_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "evidence" / "log.txt", b"line one\nline two\n")
    entry = next(e for e in walk(os.fspath(tmp_path / "evidence"), stat_files=False) if e.is_file)
    entry = entry._replace(error="stat failed: Permission denied")

    class MovedOnce:
        @staticmethod
        def read_small(*args: object) -> tuple[object, ...]:
            return ("changed", 9, 18, 18)

    monkeypatch.setattr(evidence, "_intake", MovedOnce)
    row = FileReader(Limits(), None).read(entry)[0]
    assert row["error"].startswith("stat failed: Permission denied; changed while being read (size 9 -> 18")


@pytest.mark.parametrize("compiled", [True, False])
def test_a_file_that_became_a_fifo_after_the_walk_is_not_read(
        tmp_path: Path, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "evidence" / "was-a-file", b"data\n")
    entry = next(e for e in walk(os.fspath(tmp_path / "evidence"), stat_files=True) if e.is_file)
    path.unlink()
    os.mkfifo(path)
    monkeypatch.setattr(evidence, "_intake", _intake if compiled else None)
    row = FileReader(Limits(), None).read(entry)[0]
    assert row["size"] == 5 and row.get("sha256") is None  # the walk's row, nothing read
    assert row["error"].startswith("changed to a ") and row["error"].endswith("before it was read; not read")


@pytest.mark.parametrize("walk_stats", [False, True])
def test_a_plain_files_short_row_is_the_row_read_gives(tmp_path: Path, walk_stats: bool) -> None:
    """plain_row, completed by plain_frame, against read() for every file of the evidence: the
    plain ones give the same catalogue row; the others are left to read()."""
    root = _evidence(tmp_path / "evidence")
    write(root / "sub" / "script.js", b"function f() { return 1; }\n")  # typed by full libmagic
    write(root / "sub" / "tab\tname.gif", b"GIF89a" + bytes(range(200)))
    reader = FileReader(Limits(), None)
    stamp = {"ingest_id": "I-1", "label": "EX-1", "recorded_at": 1_700_000_000_000_000_000}
    plain, kept_back = [], []
    for entry in walk(os.fspath(root), stat_files=walk_stats):
        if not entry.is_file:
            continue
        full = as_tuple(reader.read(entry)[0], COLUMN_NAMES, stamp)
        short = reader.plain_row(entry, reader.compiled_read(entry))
        if short is None:
            kept_back.append(entry.rel)
            continue
        plain.append(entry.rel)
        assert plain_frame([short], stamp).equals(rows_to_frame([full])), entry.rel
    assert {"site.zip", "past-limit.bin"} <= set(kept_back)  # an archive; a file past the compiled reader's limit
    assert {"index.php", "logo.png", "notes.txt", "sub/script.js", "sub/tab\tname.gif",
            os.fsdecode(b"caf\xe9.php")} <= set(plain)


def test_a_file_the_walk_saw_otherwise_is_not_plain(tmp_path: Path) -> None:
    path = write(tmp_path / "evidence" / "grows.log", b"line one\n")
    entry = next(e for e in walk(os.fspath(tmp_path / "evidence"), stat_files=True) if e.is_file)
    with open(path, "ab") as handle:
        handle.write(b"line two\n")
    reader = FileReader(Limits(), None)
    assert reader.plain_row(entry, reader.compiled_read(entry)) is None  # read() says what changed
    assert reader.plain_row(entry._replace(error="stat failed: Permission denied"), None) is None


def test_a_file_a_thread_saw_move_keeps_the_warning_when_a_worker_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With two workers a thread's compiled reader reads small files; one it saw move goes to a
    worker process, which reads it again: the row still says that it moved."""
    from forensics.case import open_case
    from forensics.ingest import ingest

    root = tmp_path / "ev"
    for number in range(5):
        write(root / f"f{number}.txt", f"line {number}\n")
    target = os.fspath(root / "f2.txt")

    class MovesOnceOnThreads:  # the threads' reader sees f2.txt move; the worker process reads it steady
        @staticmethod
        def read_many(paths: list[str], start: int, *args: int) -> list[object]:
            found = _intake.read_many(paths, start, *args)
            return [("changed", 7, 14, 7) if paths[start + i] == target else one for i, one in enumerate(found)]

        read_small = staticmethod(_intake.read_small)

    monkeypatch.setattr(evidence, "_intake", MovesOnceOnThreads)
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "T-1", "--examiner", "tester")
    report = ingest(open_case(case), [os.fspath(root)], workers=2)
    expected = ("changed while being read (size 7 -> 14, 7 bytes read); read again unchanged: the hashes are of "
                "that second reading")
    assert report.problems == [f"{target}: {expected}"]
    rows = rows_of(case)
    assert rows["f2.txt"]["error"] == expected and rows["f2.txt"]["sha256"] == hashlib.sha256(b"line 2\n").hexdigest()
    assert rows["f1.txt"]["error"] is None


def test_a_file_handed_on_keeps_the_stat_taken_before_it_was_read(tmp_path: Path) -> None:
    path = write(tmp_path / "ev" / "site.zip", _zip_bytes())
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_100_000_000_000_000_000))
    entry = next(e for e in walk(os.fspath(tmp_path / "ev"), stat_files=False) if e.is_file)
    found = _intake.read_many([entry.path], 0, THREADED_MIN, HEAD_SIZE, LONG_LINE, 1 << 20)[0]
    handed, moved = evidence.handed_on(entry, found)
    assert moved == evidence.READ_WHOLE and handed.st.st_atime_ns == 1_000_000_000_000_000_000  # as found
    assert evidence.handed_on(entry, None) == (entry, None)
    assert evidence.handed_on(entry, ("changed", 1, 2, 2)) == (entry, ("changed", 1, 2, 2))
    walked = next(e for e in walk(os.fspath(tmp_path / "ev"), stat_files=True) if e.is_file)
    assert evidence.handed_on(walked, found) == (walked, evidence.READ_WHOLE)  # the walk's own stat stays
    reader = FileReader(Limits(), None)
    setup = evidence.WorkerSetup(Limits(), None, False, True, COLUMN_NAMES, {}, None, True)
    result = evidence.read_batch(setup, [handed], [moved])  # read the general way, archive opened
    assert not result.plain and [len(rows) for _, rows, _ in result.others] == [2]
    assert result.others[0][1][0] == as_tuple(reader.read(handed)[0], COLUMN_NAMES, {})


def test_read_many_reads_at_least_one_file_a_call_and_copes_with_odd_paths(tmp_path: Path) -> None:
    paths = [os.fspath(write(tmp_path / f"f{n}", b"x" * 100)) for n in range(3)]
    assert len(_intake.read_many(paths, 0, THREADED_MIN, HEAD_SIZE, LONG_LINE, 1)) == 1  # past max_bytes at once
    assert len(_intake.read_many(paths, 1, THREADED_MIN, HEAD_SIZE, LONG_LINE, 150)) == 2
    assert _intake.read_many(paths, 3, THREADED_MIN, HEAD_SIZE, LONG_LINE, 1) == []
    for bad in (0, -1):
        with pytest.raises(ValueError):
            _intake.read_many(paths, 0, THREADED_MIN, HEAD_SIZE, LONG_LINE, bad)
    with pytest.raises(IndexError):
        _intake.read_many(paths, 4, THREADED_MIN, HEAD_SIZE, LONG_LINE, 1)
    with pytest.raises(TypeError):
        _intake.read_many([paths[0], 3], 0, THREADED_MIN, HEAD_SIZE, LONG_LINE, 1 << 20)

    class Shrinks:  # a path whose conversion empties the list it came in
        def __fspath__(self) -> str:
            listed.clear()
            return paths[0]

    listed: list[object] = [Shrinks(), paths[1], paths[2]]
    found = _intake.read_many(listed, 0, THREADED_MIN, HEAD_SIZE, LONG_LINE, 1 << 20)
    assert [one[8] for one in found] == [b"x" * 100] * 3  # read from its own copy of the list
