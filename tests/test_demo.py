"""The demo end to end on a small sample: every stage runs, and the exhibit holds what truth.json says."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import openpyxl
from conftest import run

from forensics.sample import generate


def _sheet_rows(path: Path) -> dict[str, int]:
    """Data rows per sheet of a workbook (its header not counted), read from the sheets' XML."""
    with zipfile.ZipFile(path) as book:
        names = re.findall(r'<sheet name="([^"]*)" sheetId="(\d+)"', book.read("xl/workbook.xml").decode())
        return {name: book.read(f"xl/worksheets/sheet{part}.xml").count(b"<row ") - 1 for name, part in names}


def test_the_demo_runs_every_stage_and_matches_the_truth(tmp_path: Path) -> None:
    truth = generate(tmp_path / "sample", accounts=40, calls=3_000, seed=5, chunk_rows=1_000)
    result = run("demo", tmp_path)
    for stage in ("sample:", "case:", "ingest:", "extract:", "exhibit:", "verify:  everything matches", "found:"):
        assert stage in result.stdout, f"{stage} missing from\n{result.stdout}"
    assert "truth:   as " in result.stdout and "DIFFERS" not in result.stdout
    expected = truth["pipeline"]["tables"]
    rows = _sheet_rows(tmp_path / "DEMO-1.xlsx")
    assert {name: rows[name] for name in expected} == expected
    assert (tmp_path / "case" / "exhibits" / "DEMO-1.xlsx").read_bytes() == (tmp_path / "DEMO-1.xlsx").read_bytes()

    book = openpyxl.load_workbook(tmp_path / "DEMO-1.xlsx", read_only=True)
    cover = [row for row in book["Cover"].iter_rows(values_only=True)]
    header = next(r for r in cover if r and r[0] == "Sheets and row counts")
    by_source = [dict(zip(header, r, strict=False)) for r in cover if r and r[0] == "calls"]
    assert {r["source"]: r["rows on the sheets"] for r in by_source} == {
        path: counts["calls"] for path, counts in truth["pipeline"]["sources"].items() if "calls" in counts}
    sources = {r[1] for r in cover if r and r[0] is None and r[1] and len(r) > 2 and r[2] and len(str(r[2])) == 64}
    assert set(truth["pipeline"]["sources"]) <= sources
    book.close()

    # a second run goes on with the same case: nothing read twice, the same exhibit
    first = (tmp_path / "DEMO-1.xlsx").read_bytes()
    again = run("demo", tmp_path)
    assert "(there already)" in again.stdout and "0 sources read" in again.stdout
    assert (tmp_path / "DEMO-1.xlsx").read_bytes() == first
    log = [json.loads(line) for line in (tmp_path / "case" / "audit.jsonl").read_text().splitlines()]
    assert [entry["message"].startswith("exhibit DEMO-1") for entry in log].count(True) == 2
    cover = [row for row in openpyxl.load_workbook(tmp_path / "DEMO-1.xlsx", read_only=True)["Cover"].iter_rows(
        values_only=True) if row and row[0] == "Data as of (UTC)"]
    extracted = next(e for e in log if any(o["path"].startswith("tables/") for o in e["outputs"]))
    assert cover[0][1].startswith(extracted["time_utc"][:19]), "the cover's time is the data's, not the run's"
    run("log", tmp_path / "case", "--verify")


def test_the_demo_refuses_a_folder_that_is_not_a_sample(tmp_path: Path) -> None:
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "notes.txt").write_text("mine")
    result = run("demo", tmp_path, expect=1)
    assert "holds files but no truth.json" in result.stderr
    assert (tmp_path / "sample" / "notes.txt").read_text() == "mine"
