"""Archives opened as streams: nesting, hostile names, bombs, damage and encryption."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import need_tool, rows_of, run, tree_state, write

from forensics.archives import Limits
from forensics.case import open_case
from forensics.ingest import ingest

DUMP = b"-- MySQL dump\nINSERT INTO `users` VALUES (1,'alice','a@example.org');\n"
PHP = b"<?php\necho 'index';\n"


def _tar_bytes(members: dict[str, bytes], compression: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}" if compression else "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_650_000_000
            info.uid, info.gid, info.mode = 33, 33, 0o640
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2022, 11, 24, 9, 30, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _gzip_named(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(name, "wb", fileobj=buffer, mtime=1_650_000_000) as handle:
        handle.write(data)
    return buffer.getvalue()


def test_nested_archives_give_every_member_its_chain_hashes_and_type(case_dir: Path, tmp_path: Path) -> None:
    inner_tgz = _tar_bytes({"var/www/index.php": PHP, "db/dump.sql": DUMP}, "gz")
    outer = _zip_bytes({"inner/dump.sql.gz": _gzip_named("dump.sql", DUMP), "backup.tgz": inner_tgz,
                        "notes.txt": b"hello\n"})
    root = tmp_path / "ev"
    write(root / "outer.zip", outer)
    before = tree_state(root)
    run("ingest", case_dir, root)
    assert tree_state(root) == before
    assert sorted(os.listdir(root)) == ["outer.zip"]  # nothing unpacked beside the evidence
    rows = rows_of(case_dir)
    dump = rows["outer.zip!inner/dump.sql.gz!dump.sql"]
    assert dump["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert dump["md5"] == hashlib.md5(DUMP).hexdigest()
    assert dump["parent"] == "outer.zip!inner/dump.sql.gz"
    assert dump["depth"] == 2
    assert rows["outer.zip!inner/dump.sql.gz"]["mime"] == "application/gzip"
    php = rows["outer.zip!backup.tgz!backup.tar!var/www/index.php"]
    assert php["sha256"] == hashlib.sha256(PHP).hexdigest()
    assert php["mime"] == "text/x-php"
    assert php["uid"] == 33 and php["mode"] & 0o777 == 0o640
    assert int(php["mtime"].timestamp()) == 1_650_000_000
    assert rows["outer.zip!backup.tgz"]["sha256"] == hashlib.sha256(inner_tgz).hexdigest()
    assert rows["outer.zip!notes.txt"]["time_text"] == "2022-11-24 09:30:00 (zip time, no timezone)"
    assert rows["outer.zip!notes.txt"]["mtime"] is None  # no extended timestamp: no instant is claimed
    assert rows["outer.zip"]["sha256"] == hashlib.sha256(outer).hexdigest()
    assert all(row["error"] is None for row in rows.values())
    assert not list((case_dir / "tmp").iterdir())  # spools are gone


@pytest.mark.parametrize("suffix,compress", [
    (".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress),
    (".zst", lambda data: __import__("zstandard").ZstdCompressor().compress(data)),
])
def test_single_stream_compressors(case_dir: Path, tmp_path: Path, suffix: str, compress) -> None:
    write(tmp_path / "ev" / f"dump.sql{suffix}", compress(DUMP))
    run("ingest", case_dir, tmp_path / "ev")
    member = rows_of(case_dir)[f"dump.sql{suffix}!dump.sql"]
    assert member["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert member["size"] == len(DUMP)


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
def test_tar_in_every_compression(case_dir: Path, tmp_path: Path, compression: str) -> None:
    name = "site.tar" + (f".{compression}" if compression else "")
    write(tmp_path / "ev" / name, _tar_bytes({"a/index.php": PHP}, compression))
    run("ingest", case_dir, tmp_path / "ev")
    rows = rows_of(case_dir)
    key = f"{name}!a/index.php" if not compression else f"{name}!site.tar!a/index.php"
    assert rows[key]["sha256"] == hashlib.sha256(PHP).hexdigest()


def test_seven_zip(case_dir: Path, tmp_path: Path) -> None:
    import py7zr

    path = tmp_path / "ev" / "loot.7z"
    path.parent.mkdir(parents=True)
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(DUMP, "sql/dump.sql")
        archive.writestr(_zip_bytes({"x.php": PHP}), "nested.zip")
    run("ingest", case_dir, tmp_path / "ev")
    rows = rows_of(case_dir)
    assert rows["loot.7z!sql/dump.sql"]["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert rows["loot.7z!nested.zip!x.php"]["sha256"] == hashlib.sha256(PHP).hexdigest()


def test_traversal_and_absolute_member_names_are_recorded_never_written(case_dir: Path, tmp_path: Path) -> None:
    hostile = _zip_bytes({"../../escaped.txt": b"x", "/etc/cron.d/evil": b"y", "ok/../../../up.txt": b"z"})
    tar = _tar_bytes({"../../tar-escaped.txt": b"t", "/abs-tar.txt": b"u"})
    write(tmp_path / "ev" / "hostile.zip", hostile)
    write(tmp_path / "ev" / "hostile.tar", tar)
    everything_before = {p for p in tmp_path.parent.rglob("*")}
    run("ingest", case_dir, tmp_path / "ev")
    rows = rows_of(case_dir)
    assert rows["hostile.zip!../../escaped.txt"]["sha256"] == hashlib.sha256(b"x").hexdigest()
    assert rows["hostile.zip!/etc/cron.d/evil"]["sha256"] == hashlib.sha256(b"y").hexdigest()
    assert rows["hostile.tar!../../tar-escaped.txt"]["size"] == 1
    assert "hostile.tar!/abs-tar.txt" in rows
    created = {p for p in tmp_path.parent.rglob("*")} - everything_before
    assert all(case_dir in p.parents for p in created), created
    assert not Path("/etc/cron.d/evil").exists()


def test_a_member_past_the_size_limit_is_a_suspected_bomb(case_dir: Path, tmp_path: Path) -> None:
    bomb = _zip_bytes({"zeros.bin": bytes(4 << 20), "fine.txt": b"fine\n"})
    write(tmp_path / "ev" / "bomb.zip", bomb)
    result = run("ingest", case_dir, tmp_path / "ev", "--max-member-size", "1M", expect=3)
    assert "bomb.zip!zeros.bin: suspected archive bomb" in result.stderr
    rows = rows_of(case_dir)
    assert rows["bomb.zip!zeros.bin"]["sha256"] is None
    assert "suspected archive bomb" in rows["bomb.zip!zeros.bin"]["error"]
    assert rows["bomb.zip!fine.txt"]["sha256"] == hashlib.sha256(b"fine\n").hexdigest()
    assert rows["bomb.zip"]["sha256"] == hashlib.sha256(bomb).hexdigest()


def test_a_member_past_the_ratio_is_a_suspected_bomb_even_inside_gzip_and_tar(open_test_case, tmp_path: Path) -> None:
    zeros = bytes(8 << 20)
    write(tmp_path / "ev" / "zeros.gz", gzip.compress(zeros, 9))
    write(tmp_path / "ev" / "zeros.tar.gz", _tar_bytes({"z.bin": zeros, "after.txt": b"after\n"}, "gz"))
    limits = Limits(max_ratio=100, ratio_floor=1 << 20)
    report = ingest(open_test_case, [str(tmp_path / "ev")], limits=limits, workers=1)
    rows = rows_of(open_test_case.path)
    assert "ratio over 100:1" in rows["zeros.gz!zeros"]["error"]
    assert rows["zeros.gz!zeros"]["sha256"] is None
    assert "ratio over 100:1" in rows["zeros.tar.gz!zeros.tar!z.bin"]["error"]
    assert "suspected archive bomb" in rows["zeros.tar.gz!zeros.tar"]["error"]
    assert rows["zeros.gz"]["sha256"] is not None  # the file on disk is always hashed
    assert any("zeros.gz!zeros: suspected archive bomb" in problem for problem in report.problems)


def test_a_truncated_zip_keeps_the_members_before_the_cut(case_dir: Path, tmp_path: Path) -> None:
    whole = _zip_bytes({"first.sql": DUMP, "second.php": PHP, "third.txt": os.urandom(5000)})
    cut = whole[: whole.index(b"PK\x01\x02") - 1000]  # central directory and the last member's tail gone
    write(tmp_path / "ev" / "cut.zip", cut)
    result = run("ingest", case_dir, tmp_path / "ev", expect=3)
    assert "cut.zip: zip directory unreadable" in result.stderr
    rows = rows_of(case_dir)
    assert rows["cut.zip!first.sql"]["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert rows["cut.zip!second.php"]["sha256"] == hashlib.sha256(PHP).hexdigest()
    assert rows["cut.zip!third.txt"]["sha256"] is None and rows["cut.zip!third.txt"]["error"]
    assert "members recovered from local headers" in rows["cut.zip"]["error"]


def test_a_truncated_tar_gz_keeps_the_members_before_the_cut(case_dir: Path, tmp_path: Path) -> None:
    members = {f"file{i}.txt": (f"line {i}\n" * 2000).encode() + os.urandom(2000) for i in range(6)}
    whole = _tar_bytes(members, "gz")
    write(tmp_path / "ev" / "cut.tar.gz", whole[: len(whole) * 2 // 3])
    result = run("ingest", case_dir, tmp_path / "ev", expect=3)
    assert "cut.tar.gz!cut.tar" in result.stderr
    rows = rows_of(case_dir)
    assert rows["cut.tar.gz!cut.tar!file0.txt"]["sha256"] == hashlib.sha256(members["file0.txt"]).hexdigest()
    assert "damaged or truncated" in rows["cut.tar.gz!cut.tar"]["error"]
    assert rows["cut.tar.gz"]["sha256"] is not None


def test_a_corrupt_gzip_is_recorded_with_its_error(case_dir: Path, tmp_path: Path) -> None:
    data = bytearray(gzip.compress(os.urandom(50_000)))
    data[100:140] = b"\x00" * 40
    write(tmp_path / "ev" / "broken.gz", bytes(data))
    write(tmp_path / "ev" / "good.txt", "good\n")
    result = run("ingest", case_dir, tmp_path / "ev", expect=3)
    assert "broken.gz!broken: damaged or truncated" in result.stderr
    assert rows_of(case_dir)["good.txt"]["sha256"] is not None


def test_encrypted_members_are_recorded_as_encrypted(case_dir: Path, tmp_path: Path) -> None:
    seven = need_tool("7z")
    source = write(tmp_path / "plain" / "secret.sql", DUMP)
    evidence = tmp_path / "ev"
    evidence.mkdir()
    subprocess.run([seven, "a", "-tzip", "-pinfected", str(evidence / "locked.zip"), str(source)],
                   check=True, capture_output=True)
    subprocess.run([seven, "a", "-t7z", "-pinfected", str(evidence / "locked.7z"), str(source)],
                   check=True, capture_output=True)
    subprocess.run([seven, "a", "-t7z", "-pinfected", "-mhe=on", str(evidence / "hidden.7z"), str(source)],
                   check=True, capture_output=True)
    run("ingest", case_dir, evidence, expect=3)
    rows = rows_of(case_dir)
    assert rows["locked.zip!secret.sql"]["error"] == "encrypted member: not read (no password)"
    assert rows["locked.7z!secret.sql"]["error"] == "encrypted member: not read (no password)"
    assert "encrypted headers" in rows["hidden.7z"]["error"]
    assert rows["hidden.7z"]["sha256"] is not None


def test_an_archive_nested_past_the_depth_limit_is_not_opened(open_test_case, tmp_path: Path) -> None:
    data = DUMP
    for level in range(5):
        data = _zip_bytes({f"level{level}.bin": data})
    write(tmp_path / "ev" / "deep.zip", data)
    ingest(open_test_case, [str(tmp_path / "ev")], limits=Limits(max_depth=2), workers=1)
    rows = rows_of(open_test_case.path)
    deepest = [row for row in rows.values() if row["error"] and "nested deeper" in row["error"]]
    assert len(deepest) == 1 and deepest[0]["sha256"] is not None


def test_members_of_an_archive_that_changed_are_history_not_current(case_dir: Path, tmp_path: Path) -> None:
    archive = write(tmp_path / "ev" / "site.zip", _zip_bytes({"a.php": PHP, "b.txt": b"old\n"}))
    run("ingest", case_dir, tmp_path / "ev")
    archive.write_bytes(_zip_bytes({"a.php": PHP}))
    run("ingest", case_dir, tmp_path / "ev")
    rows = rows_of(case_dir)
    assert "site.zip!a.php" in rows and "site.zip!b.txt" not in rows
    from forensics.catalogue import read_catalogue

    history = read_catalogue(open_case(case_dir))
    assert history.filter(history["path"] == "site.zip!b.txt").height == 1  # kept, as history


def test_zip_names_keep_their_stored_bytes(case_dir: Path, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("caf\u00e9.txt", b"utf8 flag set\n")
        info = zipfile.ZipInfo("plain.txt")
        archive.writestr(info, b"cp437 name\n")
    data = buffer.getvalue().replace(b"plain.txt", b"pl\x82in.txt")  # 0x82 is e-acute in CP437, no UTF-8 flag
    write(tmp_path / "ev" / "names.zip", data)
    run("ingest", case_dir, tmp_path / "ev")
    rows = rows_of(case_dir)
    assert rows["names.zip!caf\u00e9.txt"]["path_bytes"] == b"names.zip!caf\xc3\xa9.txt"
    assert rows["names.zip!pl\u00e9in.txt"]["path_bytes"] == b"names.zip!pl\x82in.txt"


def test_pax_tar_times_keep_their_nanoseconds(case_dir: Path, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("precise.txt")
        info.size = 3
        info.pax_headers = {"mtime": "1650000000.123456789"}
        archive.addfile(info, io.BytesIO(b"abc"))
    write(tmp_path / "ev" / "precise.tar", buffer.getvalue())
    run("ingest", case_dir, tmp_path / "ev")
    import polars as pl

    from forensics.catalogue import read_catalogue

    row = read_catalogue(open_case(case_dir)).filter(pl.col("path") == "precise.tar!precise.txt")
    assert row.select(pl.col("mtime").dt.epoch("ns")).item() == 1_650_000_000_123_456_789


def test_seven_zip_members_past_the_limits_are_suspected_bombs(open_test_case, tmp_path: Path) -> None:
    import py7zr

    path = tmp_path / "ev" / "bomb.7z"
    path.parent.mkdir(parents=True)
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"first\n", "a-first.txt")
        archive.writestr(bytes(8 << 20), "b-zeros.bin")
    ingest(open_test_case, [str(tmp_path / "ev")], limits=Limits(max_ratio=100, ratio_floor=1 << 20), workers=1)
    rows = rows_of(open_test_case.path)
    assert rows["bomb.7z!a-first.txt"]["sha256"] == hashlib.sha256(b"first\n").hexdigest()
    assert "suspected archive bomb" in rows["bomb.7z!b-zeros.bin"]["error"]
    assert rows["bomb.7z!b-zeros.bin"]["sha256"] is None
    assert "not read to the end" in rows["bomb.7z"]["error"]


def test_zip_extended_timestamp_gives_the_utc_time(case_dir: Path, tmp_path: Path) -> None:
    import struct

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("stamped.txt", (2022, 5, 17, 12, 0, 0))
        info.extra = struct.pack("<HHBi", 0x5455, 5, 1, 1_652_788_800)
        archive.writestr(info, b"stamped\n")
    write(tmp_path / "ev" / "stamped.zip", buffer.getvalue())
    run("ingest", case_dir, tmp_path / "ev")
    row = rows_of(case_dir)["stamped.zip!stamped.txt"]
    assert int(row["mtime"].timestamp()) == 1_652_788_800
    assert row["time_text"].startswith("2022-05-17 12:00:00")


def test_an_exclamation_mark_in_a_disk_name_keeps_members_current(case_dir: Path, tmp_path: Path) -> None:
    write(tmp_path / "ev" / "www!old" / "b!ang.zip", _zip_bytes({"a.php": PHP}))
    run("ingest", case_dir, tmp_path / "ev")
    rows = rows_of(case_dir)
    assert rows["www!old/b!ang.zip!a.php"]["archive"] == "www!old/b!ang.zip"
    assert rows["www!old/b!ang.zip!a.php"]["sha256"] == hashlib.sha256(PHP).hexdigest()


def test_errors_lists_member_problems_and_only_current_ones(case_dir: Path, tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    write(evidence / "ok.zip", _zip_bytes({"fine.txt": b"fine\n"}))
    data = bytearray(gzip.compress(os.urandom(50_000)))
    data[100:140] = b"\x00" * 40
    write(evidence / "broken.tar.gz", bytes(data))  # the gzip member is damaged, the file itself is read fine
    damaged = write(evidence / "later-fixed.zip", b"PK\x03\x04" + b"\x00" * 40)
    run("ingest", case_dir, evidence, expect=3)
    listed = run("catalogue", case_dir, "--errors").stdout
    assert "broken.tar.gz!broken.tar: damaged or truncated" in listed
    assert "later-fixed.zip:" in listed
    damaged.write_bytes(_zip_bytes({"x.txt": b"x\n"}))
    run("ingest", case_dir, evidence)
    listed = run("catalogue", case_dir, "--errors").stdout
    assert "later-fixed.zip" not in listed and "broken.tar.gz!broken.tar" in listed


@pytest.mark.parametrize("inner_kind", ["zip", "7z"])
def test_a_nested_archive_holding_a_bomb_keeps_its_own_hashes(case_dir: Path, tmp_path: Path, inner_kind: str) -> None:
    if inner_kind == "zip":
        inner = _zip_bytes({"ok.txt": b"ok\n", "zeros.bin": bytes(4 << 20)})
    else:
        import py7zr

        buffer = io.BytesIO()
        with py7zr.SevenZipFile(buffer, "w") as archive:
            archive.writestr(b"ok\n", "ok.txt")
            archive.writestr(bytes(4 << 20), "zeros.bin")
        inner = buffer.getvalue()
    name = f"inner.{inner_kind}"
    write(tmp_path / "ev" / "outer.zip", _zip_bytes({name: inner}))
    run("ingest", case_dir, tmp_path / "ev", "--max-member-size", "2M", expect=3)
    rows = rows_of(case_dir)
    assert rows[f"outer.zip!{name}"]["sha256"] == hashlib.sha256(inner).hexdigest()
    assert "suspected archive bomb" in rows[f"outer.zip!{name}!zeros.bin"]["error"]
    assert rows[f"outer.zip!{name}!ok.txt"]["sha256"] == hashlib.sha256(b"ok\n").hexdigest()


def test_big_ordinary_members_are_not_taken_for_bombs(case_dir: Path, tmp_path: Path) -> None:
    big = os.urandom(20 << 20)  # past the 16 MiB point where the ratio starts to be judged
    evidence = tmp_path / "ev"
    write(evidence / "big.zip", _zip_bytes({"big.bin": big}))
    write(evidence / "big.tar.gz", _tar_bytes({"big.bin": big}, "gz"))
    write(evidence / "tar-in.zip", _zip_bytes({"site.tar": _tar_bytes({"big.bin": big})}))
    run("ingest", case_dir, evidence)  # exit 0: no problem recorded
    rows = rows_of(case_dir)
    digest = hashlib.sha256(big).hexdigest()
    for path in ("big.zip!big.bin", "big.tar.gz!big.tar!big.bin", "tar-in.zip!site.tar!big.bin"):
        assert rows[path]["sha256"] == digest, (path, rows[path]["error"])


def test_the_members_of_a_huge_archive_are_written_by_the_worker(open_test_case, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from forensics import evidence

    monkeypatch.setattr(evidence, "SPILL_ROWS", 5)  # the real path, at a size a test can afford
    members = {f"m{i:02d}.txt": f"member {i}\n".encode() for i in range(23)}
    broken = bytearray(gzip.compress(os.urandom(5000)))
    broken[60:90] = b"\x00" * 30
    members["broken.gz"] = bytes(broken)
    write(tmp_path / "ev" / "many.tar", _tar_bytes(members))
    report = ingest(open_test_case, [str(tmp_path / "ev")], workers=1)
    reader = evidence.current_reader()
    assert reader is not None and reader.spilled_total >= 20
    assert report.members == 25  # 24 members and the content of broken.gz
    assert any("many.tar!broken.gz!broken: damaged or truncated" in problem for problem in report.problems)
    rows = rows_of(open_test_case.path)
    for name, data in members.items():
        if name != "broken.gz":
            assert rows[f"many.tar!{name}"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert not list((open_test_case.path / "catalogue.parts").glob("*"))  # merged
