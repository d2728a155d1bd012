"""Verify, the exports (checked by hashdeep itself and an XML parser), and the real shared data."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import need_shared_data, need_tool, rows_of, run, write


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    root = tmp_path / "server01"
    write(root / "www" / "index.php", "<?php\necho 'x';\n")
    write(root / "www" / "upload, with comma.txt", "comma in name\n")
    write(root / "db" / "dump.sql", "INSERT INTO t VALUES (1);\n")
    write(root / "etc" / "app.conf", "db=spoof\n")
    return root


def test_verify_passes_then_names_every_missing_changed_and_new_file(case_dir: Path, evidence: Path) -> None:
    run("ingest", case_dir, evidence)
    assert "everything matches" in run("verify", case_dir).stdout
    (evidence / "db" / "dump.sql").write_text("INSERT INTO t VALUES (2);\n")
    (evidence / "etc" / "app.conf").unlink()
    write(evidence / "www" / "shell.php", "<?php system($_GET['c']);\n")
    result = run("verify", case_dir, expect=1)
    assert f"CHANGED {evidence}/db/dump.sql (sha256, md5, sha1, mtime)" in result.stdout or \
        f"CHANGED {evidence}/db/dump.sql" in result.stdout
    assert f"MISSING {evidence}/etc/app.conf" in result.stdout
    assert f"NEW {evidence}/www/shell.php" in result.stdout
    assert "[mismatch]" in run("log", case_dir).stdout


def test_verify_notices_a_tampered_catalogue(case_dir: Path, evidence: Path) -> None:
    run("ingest", case_dir, evidence)
    import polars as pl

    catalogue = case_dir / "catalogue.parquet"
    frame = pl.read_parquet(catalogue)
    frame.with_columns(pl.when(pl.col("path") == "db/dump.sql").then(pl.lit("0" * 64))
                       .otherwise(pl.col("sha256")).alias("sha256")).write_parquet(catalogue)
    result = run("verify", case_dir, expect=1)
    assert "catalogue.parquet: SHA-256 differs from the one the audit log recorded" in result.stdout


def test_hashdeep_accepts_the_export(case_dir: Path, evidence: Path, tmp_path: Path) -> None:
    hashdeep = need_tool("hashdeep")
    run("ingest", case_dir, evidence)
    known = tmp_path / "known.txt"
    run("catalogue", case_dir, "--export", "hashdeep", "-o", known)
    audit = subprocess.run([hashdeep, "-a", "-k", str(known), "-r", str(evidence)], check=False, capture_output=True,
                           text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "Audit passed" in audit.stdout
    (evidence / "www" / "index.php").write_text("<?php\necho 'tampered';\n")
    audit = subprocess.run([hashdeep, "-a", "-k", str(known), "-r", str(evidence)], check=False, capture_output=True,
                           text=True)
    assert audit.returncode != 0 and "Audit failed" in audit.stdout


def test_our_hashes_equal_hashdeeps(case_dir: Path, evidence: Path) -> None:
    hashdeep = need_tool("hashdeep")
    write(evidence / "big.bin", bytes(range(256)) * 20000)
    run("ingest", case_dir, evidence)
    listing = subprocess.run([hashdeep, "-c", "md5,sha1,sha256", "-r", str(evidence)], capture_output=True,
                             text=True, check=True).stdout
    theirs = {}
    for line in listing.splitlines():
        if line.startswith(("%", "#")):
            continue
        size, md5, sha1, sha256, name = line.split(",", 4)
        theirs[str(Path(name).relative_to(evidence))] = (int(size), md5, sha1, sha256)
    ours = {path: (row["size"], row["md5"], row["sha1"], row["sha256"])
            for path, row in rows_of(case_dir).items() if row["kind"] == "file"}
    assert ours == theirs


def test_dfxml_and_csv_exports(case_dir: Path, evidence: Path, tmp_path: Path) -> None:
    run("ingest", case_dir, evidence)
    dfxml = tmp_path / "catalogue.xml"
    run("catalogue", case_dir, "--export", "dfxml", "-o", dfxml)
    tree = ET.parse(dfxml)
    namespace = {"d": "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"}
    objects = tree.getroot().findall("d:fileobject", namespace)
    names = {obj.findtext("d:filename", namespaces=namespace): obj for obj in objects}
    index = names[f"{evidence}/www/index.php"]
    digest = index.find("d:hashdigest[@type='sha256']", namespace)
    assert digest is not None
    assert digest.text == hashlib.sha256((evidence / "www" / "index.php").read_bytes()).hexdigest()
    table = tmp_path / "catalogue.csv"
    run("catalogue", case_dir, "--export", "csv", "-o", table)
    with open(table, newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert rows["www/upload, with comma.txt"]["sha1"] == hashlib.sha1(b"comma in name\n").hexdigest()


def test_export_needs_an_output_file(case_dir: Path) -> None:
    result = run("catalogue", case_dir, "--export", "csv", expect=1)
    assert "--export needs -o FILE" in result.stderr


def test_real_shared_data_hashes_match_its_manifest(case_dir: Path) -> None:
    data = need_shared_data()
    run("ingest", case_dir, data, "--label", "SHARED")
    rows = rows_of(case_dir)
    manifest = (data / "MANIFEST.tsv").read_text().splitlines()
    header = manifest[0].split("\t")
    checked = 0
    for line in manifest[1:]:
        record = dict(zip(header, line.split("\t"), strict=False))
        matches = [row for row in rows.values() if row["sha256"] == record["sha256"]]
        assert matches, f"{record['name']} ({record['path_in_repo']}) from the manifest: no file with its SHA-256"
        assert all(row["size"] == int(record["bytes"]) for row in matches)
        checked += 1
    assert checked >= 8
    assert rows["sqlite-chinook/Chinook_Sqlite.sqlite"]["mime"] == "application/vnd.sqlite3"
    assert "everything matches" in run("verify", case_dir).stdout


COMMANDS = [["case", "init"], ["ingest"], ["catalogue"], ["verify"], ["log"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = run(*command, "--help")
    assert "Example" in result.stdout


def test_output_cut_short_by_the_reader_is_not_an_error(case_dir: Path, evidence: Path) -> None:
    import sys

    run("ingest", case_dir, evidence)
    pipeline = subprocess.run(f"'{sys.executable}' -m forensics.cli log '{case_dir}' --json | head -c 10",
                              shell=True, capture_output=True, text=True, check=False)
    assert "error" not in pipeline.stderr


def test_paths_stay_right_when_the_evidence_is_gone(case_dir: Path, evidence: Path, tmp_path: Path) -> None:
    run("ingest", case_dir, evidence)
    run("ingest", case_dir, evidence / "etc" / "app.conf")  # a single file given as the evidence path
    moved = tmp_path / "unmounted"
    evidence.rename(moved)
    result = run("verify", case_dir, expect=1)
    assert f"MISSING {evidence}/db/dump.sql" in result.stdout
    assert f"MISSING {evidence}/etc/app.conf" in result.stdout
    known = tmp_path / "known.txt"
    run("catalogue", case_dir, "--export", "hashdeep", "-o", known)
    names = [line.split(",", 4)[4] for line in known.read_text().splitlines() if not line.startswith(("%", "#"))]
    assert f"{evidence}/db/dump.sql" in names and names.count(f"{evidence}/etc/app.conf") == 2


def test_verify_compares_hashes_of_a_file_that_moved_between_its_walk_and_its_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged archive (its catalogue row has an error) is altered, same size; verify's walk sees the new
    modification time, which is put back before the read. The row then holds an error, and its hashes must
    still be compared: the alteration is reported, not passed over."""
    import io
    import os
    import zipfile

    import forensics.verify as verify_module
    from forensics.case import open_case

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("m.txt", "hello" * 100)
    data = buffer.getvalue()[:-30]  # the zip directory cut off
    path = write(tmp_path / "evidence" / "a.zip", data)
    case_dir = tmp_path / "case"
    run("case", "init", case_dir, "--case-ref", "V-1", "--examiner", "tester")
    run("ingest", case_dir, tmp_path / "evidence", expect=None)
    assert rows_of(case_dir)["a.zip"]["error"]
    found = os.stat(path)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    walk = verify_module.walk

    def walk_then_put_the_time_back(*args, **kwargs):  # type: ignore[no-untyped-def]
        yield from walk(*args, **kwargs)
        os.utime(path, ns=(found.st_atime_ns, found.st_mtime_ns))

    monkeypatch.setattr(verify_module, "walk", walk_then_put_the_time_back)
    report = verify_module.verify(open_case(case_dir), workers=1)
    assert not report.ok and "sha256" in report.changed[0]
