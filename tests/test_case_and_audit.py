"""The case folder and the chained audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run

from forensics.audit import GENESIS


def test_init_makes_the_layout_and_a_first_audit_entry(case_dir: Path) -> None:
    meta = json.loads((case_dir / "case.json").read_text())
    assert meta["case_ref"] == "OP-TEST-1"
    assert meta["examiner"] == "Test Examiner"
    assert meta["timezone"] == "Europe/London"
    for sub in ("raw", "tables", "exhibits"):
        assert (case_dir / sub).is_dir()
    entries = [json.loads(line) for line in (case_dir / "audit.jsonl").read_text().splitlines()]
    assert len(entries) == 1
    first = entries[0]
    assert first["prev_sha256"] == GENESIS
    assert first["command"][:3] == ["forensics", "case", "init"] or first["command"][0] == "forensics"
    for key in ("time_utc", "user", "host", "tool_version", "outputs", "outcome"):
        assert key in first
    assert first["outputs"][0]["path"] == "case.json"


def test_init_refuses_a_folder_holding_something_else(tmp_path: Path) -> None:
    folder = tmp_path / "notacase"
    folder.mkdir()
    (folder / "evidence.txt").write_text("do not touch")
    result = run("case", "init", folder, "--case-ref", "X", "--examiner", "Y", expect=1)
    assert "not empty" in result.stderr and str(folder) in result.stderr
    assert (folder / "evidence.txt").read_text() == "do not touch"
    assert not (folder / "case.json").exists()


def test_init_refuses_an_existing_case_and_a_bad_timezone(case_dir: Path, tmp_path: Path) -> None:
    result = run("case", "init", case_dir, "--case-ref", "X", "--examiner", "Y", expect=1)
    assert "already a case" in result.stderr
    result = run("case", "init", tmp_path / "tz", "--case-ref", "X", "--examiner", "Y", "--timezone", "Mars/Base",
                 expect=1)
    assert "unknown timezone" in result.stderr


def test_commands_on_a_folder_that_is_not_a_case_say_so_in_one_line(tmp_path: Path) -> None:
    result = run("catalogue", tmp_path, expect=1)
    assert result.stderr.count("\n") == 1
    assert "not a case folder" in result.stderr
    assert "Traceback" not in result.stderr


def _ingest_twice(case_dir: Path, tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "a.txt").write_text("alpha\n")
    run("ingest", case_dir, evidence, "--workers", "1")
    (evidence / "b.txt").write_text("beta\n")
    run("ingest", case_dir, evidence, "--workers", "1")


def test_log_verify_passes_on_an_untouched_trail(case_dir: Path, tmp_path: Path) -> None:
    _ingest_twice(case_dir, tmp_path)
    result = run("log", case_dir, "--verify")
    assert "intact: 3 entries" in result.stdout
    listing = run("log", case_dir).stdout
    assert "ingest" in listing and "catalogue.parquet sha256:" in listing


def _edit_second(lines: list[str]) -> list[str]:
    entry = json.loads(lines[1])
    entry["user"] = "someone-else"
    return [lines[0], json.dumps(entry, sort_keys=True, ensure_ascii=False), lines[2]]


@pytest.mark.parametrize("tamper,first_bad", [
    (_edit_second, "line 3: chain broken: prev_sha256 does not match line 2"),
    (lambda lines: [lines[0], lines[2]], "line 2: chain broken"),
    (lambda lines: [lines[0], lines[2], lines[1]], "line 2: chain broken"),
], ids=["edited", "removed", "reordered"])
def test_log_verify_names_the_first_bad_entry(case_dir: Path, tmp_path: Path, tamper, first_bad: str) -> None:
    _ingest_twice(case_dir, tmp_path)
    log = case_dir / "audit.jsonl"
    log.write_text("\n".join(tamper(log.read_text().splitlines())) + "\n")
    result = run("log", case_dir, "--verify", expect=1)
    assert f"first bad entry: audit.jsonl {first_bad}" in result.stderr


def test_log_verify_notices_the_last_entry_cut_off(case_dir: Path, tmp_path: Path) -> None:
    _ingest_twice(case_dir, tmp_path)
    log = case_dir / "audit.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n")
    result = run("log", case_dir, "--verify", expect=1)
    assert "audit.head records 3 entries" in result.stderr


def test_every_command_that_changes_the_case_is_logged_with_its_outputs(case_dir: Path, tmp_path: Path) -> None:
    _ingest_twice(case_dir, tmp_path)
    entries = [json.loads(line) for line in (case_dir / "audit.jsonl").read_text().splitlines()]
    ingest = entries[1]
    assert ingest["command"][1] == "ingest"
    assert ingest["outcome"] == "ok"
    assert ingest["inputs"][0]["path"] == str(tmp_path / "ev")
    assert len(ingest["inputs"][0]["sha256"]) == 64
    assert ingest["outputs"][0]["path"] == "catalogue.parquet"
    assert entries[2]["details"]["new"] == 1 and entries[2]["details"]["unchanged"] == 1


def test_an_ingest_that_finds_nothing_new_still_records_its_inputs(case_dir: Path, tmp_path: Path) -> None:
    _ingest_twice(case_dir, tmp_path)
    run("ingest", case_dir, tmp_path / "ev", "--workers", "1")
    entries = [json.loads(line) for line in (case_dir / "audit.jsonl").read_text().splitlines()]
    second, third = entries[2], entries[3]
    assert third["details"]["unchanged"] == 2
    assert third["inputs"] == second["inputs"]  # same evidence, same manifest hash
    assert third["inputs"][0]["entries"] == 2


def test_log_prints_names_that_are_not_utf8_whatever_the_terminal(case_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    odd = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(odd)
    run("ingest", case_dir, os.fsdecode(odd), expect=3)
    for flags in ([], ["--json"]):
        shown = subprocess.run([sys.executable, "-m", "forensics.cli", "log", str(case_dir), *flags],
                               capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
                               check=False)
        assert shown.returncode == 0, shown.stderr
        assert b"caf\\udce9" in shown.stdout


def test_a_catalogue_written_before_a_column_existed_still_reads(case_dir: Path, tmp_path: Path) -> None:
    import polars as pl

    from forensics.case import open_case
    from forensics.catalogue import read_catalogue

    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.txt").write_text("a\n")
    run("ingest", case_dir, tmp_path / "ev", "--workers", "1")
    path = case_dir / "catalogue.parquet"
    pl.read_parquet(path).drop("root_kind").write_parquet(path)
    frame = read_catalogue(open_case(case_dir))
    assert frame["root_kind"].to_list() == [None] and frame["path"].to_list() == ["a.txt"]
