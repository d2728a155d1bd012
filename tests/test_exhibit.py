"""Exhibits: every value exactly as in the table and never evaluated, reproducible, split, cut, verified."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import time
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from conftest import need_tool, run

from forensics import exhibit as exhibit_module
from forensics.canonical import DERIVED, TABLES, schema
from forensics.case import open_case
from forensics.xlsx import MAX_CELL, SheetColumn, XlsxWriter, write_atomic

ROOT = Path(__file__).resolve().parents[1]

# Text that a spreadsheet would evaluate, shorten or mangle if it were written carelessly.
HOSTILE = [
    "=1+1", "=HYPERLINK(\"http://example.org\",\"x\")", "+447700900123", "-5", "@SUM(A1:A2)", "\tleading tab",
    "\rleading CR", "12345678901234567890", "0012", "1e5", "TRUE", "a & <b> > c", "  spaces around  ",
    "line\nbreak", "carriage\r\nreturn", "_x0041_ stays literal", "emoji 📞 and é", "", "2022-05-17",
    "NUL\x00here", "bell\x07 and \x1f", "=cmd|' /C calc'!A0", "_x0041_x0042_ chained", "__x_x_", "📞" * 3,
]


def _case_with(case_dir: Path, tables: dict[str, pl.DataFrame]) -> None:
    """Write canonical tables straight into a case, as extract would, with an extract entry in the trail."""
    case = open_case(case_dir)
    tables = {**{name: pl.DataFrame() for name in [*TABLES, *DERIVED]}, **tables}  # extract writes all five
    for name, frame in tables.items():
        wanted = schema(name) if name in TABLES else pl.Schema({c.name: c.dtype for c in DERIVED[name]})
        full = frame.with_columns(pl.lit(None, dtype).alias(col) for col, dtype in wanted.items()
                                  if col not in frame.columns)
        full.select(pl.col(col).cast(dtype) for col, dtype in wanted.items()).write_parquet(
            case_dir / "tables" / f"{name}.parquet")
    case.audit.append(["forensics", "extract", str(case_dir)], "ok", "tables written by the test")


def _calls(texts: list[str]) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame({
        "call_id": [f"{i:020d}" for i in range(n)],
        "account_id": texts,
        "destination_raw": texts[::-1],
        "caller_id_raw": [f"{text}#{i}" for i, text in enumerate(texts)],  # distinct on every row: inline strings
        "started_at": [datetime(2022, 5, 17, 10, 0, i % 60, (i * 1000) % 1_000_000, tzinfo=UTC) for i in range(n)],
        "duration_s": [_number(i) for i in range(n)],
        "_source_locator": [f"line {i + 1}" for i in range(n)],
        "_source_path": ["dump.sql"] * n, "_source_sha256": ["ab" * 32] * n, "_source_table": ["calls"] * n,
        "_extractor": ["test@1"] * n,
    })


def _number(i: int) -> int:
    """Whole numbers from 1 to beyond what a double holds exactly, alternating in sign."""
    return (-1) ** i * 10 ** min(i, 18)


def _sheet_values(path: Path, sheet: str) -> list[tuple]:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(book[sheet].iter_rows(values_only=True))
    finally:
        book.close()


def _as_excel_shows(text: str) -> str:
    """Text as Excel and LibreOffice show it: OOXML's _xHHHH_ escapes decoded (openpyxl leaves them as written)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), text)


def _shown(text: str) -> str:
    """How a value with characters XML forbids is shown on a sheet."""
    return text.replace("\x00", "\\x00").replace("\x07", "\\x07").replace("\x1f", "\\x1f")


@pytest.mark.parametrize("repeats", [1, 5], ids=["inline-strings", "shared-strings"])
def test_every_value_is_exact_and_inert_in_openpyxl(case_dir: Path, tmp_path: Path, repeats: int) -> None:
    texts = HOSTILE * repeats  # repeated values in a long enough chunk go to the shared strings
    _case_with(case_dir, {"calls": _calls(texts)})
    out = tmp_path / "ex.xlsx"
    run("exhibit", case_dir, "--ref", "T/1", "--table", "calls", "-o", out)
    book = openpyxl.load_workbook(out)  # full mode: reads cell types and styles
    sheet = book["calls"]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["call_id", "account_id", "caller_id_raw", "caller_id_e164"]
    assert "started_at (UTC)" in header
    for i, text in enumerate(texts):
        row = {h: c for h, c in zip(header, sheet[i + 2], strict=True)}
        # openpyxl decodes OOXML's _xHHHH_ escapes in shared strings but not in inline ones
        for cell, expected, inline in ((row["account_id"], _shown(text), repeats == 1),
                                       (row["caller_id_raw"], _shown(f"{text}#{i}"), True)):
            assert cell.data_type == "s", f"{text!r} was not stored as text"
            shown = _as_excel_shows(cell.value) if inline else cell.value
            assert shown == expected, f"{text!r} came back as {cell.value!r}"
            if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert cell.quotePrefix, f"{text!r} lacks the quote prefix that keeps it text when edited"
        assert row["call_id"].value == f"{i:020d}" and row["call_id"].data_type == "s"
        number = _number(i)
        if abs(number) < 10**15:
            assert row["duration_s"].value == number and row["duration_s"].data_type == "n"
        else:
            assert row["duration_s"].value == str(number), "a number Excel cannot hold exactly must be text"
        assert row["started_at (UTC)"].value == datetime(2022, 5, 17, 10, 0, i % 60, (i * 1000) % 1_000_000)
    assert sheet["A1"].comment is not None and "identifier" in sheet["A1"].comment.text
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}{len(texts) + 1}"
    with zipfile.ZipFile(out) as book:
        assert (b'<c t="s"' in book.read("xl/worksheets/sheet1.xml")) == (repeats > 1), "the path under test"
    assert not any(isinstance(c.value, str) and c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_libreoffice_reads_every_value_as_written(case_dir: Path, tmp_path: Path) -> None:
    soffice = need_tool("soffice")
    printable = [t for t in HOSTILE if "\r" not in t] * 4  # no CR (CSV export makes it a line end); shared too
    _case_with(case_dir, {"calls": _calls(printable)})
    out = tmp_path / "lo.xlsx"
    run("exhibit", case_dir, "--ref", "T/LO", "--table", "calls", "-o", out)
    target = tmp_path / "csv"
    subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
                    "--outdir", str(target), str(out)], check=True, capture_output=True, timeout=180)
    with open(target / "lo-calls.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for i, text in enumerate(printable):
        row = dict(zip(header, rows[i + 1], strict=True))
        assert row["account_id"] == _shown(text), f"LibreOffice shows {row['account_id']!r} for {text!r}"
        assert row["caller_id_raw"] == _shown(f"{text}#{i}"), f"LibreOffice shows {row['caller_id_raw']!r}"
        assert row["call_id"] == f"{i:020d}"
        number = _number(i)
        assert row["duration_s"] == str(number)
        assert row["started_at (UTC)"].startswith(f"2022-05-17 10:00:{i % 60:02d}")
    with open(target / "lo-Cover.csv", encoding="utf-8", newline="") as handle:
        cover = list(csv.reader(handle))
    assert ["Exhibit reference", "T/LO"] == cover[3][:2]


def _write_frame(path: Path, frame: pl.DataFrame) -> None:
    def write(handle):  # type: ignore[no-untyped-def]
        with XlsxWriter(handle, made_at="2022-01-01T00:00:00Z") as book:
            book.data_sheet("s", [SheetColumn(c, c) for c in frame.columns], frame.iter_slices(4), len(frame), 0, "x")
            book.close()

    write_atomic(path, write)


def test_writer_keeps_every_dtype_exact(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "f": [1.5, float("nan"), float("inf"), -float("inf"), 0.1, None, -0.0, 1.2345678901234568e18, 5e-324],
        "b": [True, False, None, True, False, True, True, True, True],
        "d": [date(2020, 1, 1), date(1899, 12, 31), date(1900, 2, 28), None, date(1900, 3, 1), date(1, 1, 1),
              date(2020, 1, 1), date(2020, 1, 1), date(2020, 1, 1)],
        "dec": pl.Series([Decimal("0.1"), Decimal("123456789012345.6"), Decimal("-0.000000000000000001"),
                          Decimal("50.10"), None, Decimal("0"), Decimal("1"), Decimal("2"), Decimal("3")],
                         dtype=pl.Decimal(38, 18)),
        "bin": [b"\x00\xff", b"", None, b"abc", b"\x80", b"z", b"", b"", b""],
        "big": pl.Series([2**62, -(2**62), 10**15 - 1, -(10**15), 0, None, -(2**63), 2**63 - 1, 447700900123],
                         dtype=pl.Int64),
        "naive": [datetime(2022, 1, 1, 0, 0, 0, 123456), datetime(2022, 1, 1, 0, 0, 0, 123000),
                  datetime(2022, 1, 1, 10, 0, 59), datetime(1899, 1, 1), None, datetime(2022, 1, 1),
                  datetime(2022, 1, 1), datetime(2022, 1, 1), datetime(2022, 1, 1)],
        "nested": [[1, 2, 3] + list(range(20))] + [[i] for i in range(8)],
    })
    path = tmp_path / "w.xlsx"
    _write_frame(path, frame)
    rows = _sheet_values(path, "s")[1:]
    assert [r[0] for r in rows] == [1.5, "NaN", "inf", "-inf", 0.1, None, "-0.0", "1.2345678901234568e+18", "5e-324"]
    assert [r[1] for r in rows] == [True, False, None, True, False, True, True, True, True]
    # Excel's calendar starts 1900-03-01 (its 1900 leap-year bug before): earlier dates are ISO text
    assert [r[2] for r in rows][:6] == [datetime(2020, 1, 1), "1899-12-31", "1900-02-28", None,
                                        datetime(1900, 3, 1), "0001-01-01"]
    assert [r[3] for r in rows][:6] == [0.1, "123456789012345.6", -1e-18, 50.1, None, 0]  # 16 digits: text
    assert [r[4] for r in rows][:6] == ["0x00ff", "0x", None, "0x616263", "0x80", "0x7a"]
    assert [r[5] for r in rows] == [str(2**62), str(-(2**62)), 10**15 - 1, str(-(10**15)), 0, None, str(-(2**63)),
                                    str(2**63 - 1), 447700900123]
    assert [r[6] for r in rows][:4] == ["2022-01-01 00:00:00.123456", datetime(2022, 1, 1, 0, 0, 0, 123000),
                                        datetime(2022, 1, 1, 10, 0, 59), "1899-01-01 00:00:00.000000"]
    assert json.loads(rows[0][7]) == [1, 2, 3, *range(20)], "a nested value is written whole, as JSON"
    book = openpyxl.load_workbook(path)
    sheet = book["s"]
    assert sheet["F10"].number_format == "0", "whole numbers are shown in full, never as 4.4777E+11"
    assert sheet["G3"].number_format.endswith(".000") and not sheet["G4"].number_format.endswith(".000")


def test_nanoseconds_are_never_dropped(tmp_path: Path) -> None:
    epoch_ns = 1_640_995_200 * 10**9  # 2022-01-01 00:00:00 UTC
    frame = pl.DataFrame({"t": pl.Series([epoch_ns + 500, epoch_ns + 10**9]).cast(pl.Datetime("ns"))})
    path = tmp_path / "ns.xlsx"
    _write_frame(path, frame)
    rows = _sheet_values(path, "s")[1:]
    assert rows == [("2022-01-01 00:00:00.000000500",), (datetime(2022, 1, 1, 0, 0, 1),)]


def test_a_cut_keeps_as_much_as_a_cell_holds_whatever_the_characters(tmp_path: Path) -> None:
    text = "📞" + "é" * 40_000
    path = tmp_path / "cut.xlsx"
    _write_frame(path, pl.DataFrame({"v": [text]}))
    shown = _sheet_values(path, "s")[1][0]
    assert shown.startswith("📞éé") and "of 40,001 characters shown" in shown
    assert 32_700 < len(shown.encode("utf-16-le")) // 2 <= MAX_CELL


def test_same_case_and_command_give_the_same_bytes(sample_case: Path, tmp_path: Path) -> None:
    case_dir = sample_case
    run("extract", case_dir, expect=None)
    out = tmp_path / "JS-1.xlsx"
    run("exhibit", case_dir, "--ref", "JS/1", "-o", out)
    first = hashlib.sha256(out.read_bytes()).hexdigest()
    time.sleep(1.1)  # a second later: nothing in the file may depend on the clock
    run("exhibit", case_dir, "--ref", "JS/1", "-o", out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == first
    with zipfile.ZipFile(out) as book:
        assert {info.date_time for info in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert sorted(_sheet_values(out, "Cover")[0][:2]) == sorted(("Exhibit", "Exhibit JS/1"))
    # the exhibit is in the case, in the audit trail, and verify re-checks it
    kept = case_dir / "exhibits" / "JS_1.xlsx"
    assert kept.read_bytes() == out.read_bytes()
    # raw tables as `forensics tables` names them; raw:NAME where a canonical table has the name
    run("exhibit", case_dir, "--ref", "RAW", "--table", "Master", "--table", "raw:payments", "-o", tmp_path / "raw.xlsx")
    master = _sheet_values(tmp_path / "raw.xlsx", "Master")
    assert len(master) == 4 and master[0][-4:] == ("_line", "_source_sha256", "_source_path", "_source_table")
    assert master[1][-2:] == ("var/log/asterisk/cdr-csv/Master.csv", "Master")
    assert [r[0] for r in _sheet_values(tmp_path / "raw.xlsx", "payments")[1:]] == ["1", "2"]
    result = run("exhibit", case_dir, "--ref", "RAW", "--table", "raw:nosuch", expect=1)
    assert "no such table" in result.stderr
    run("verify", case_dir)
    data = bytearray(kept.read_bytes())
    data[-30] ^= 1
    kept.write_bytes(bytes(data))
    result = run("verify", case_dir, expect=None)
    assert result.exit_code != 0 and "JS_1.xlsx" in result.stdout + result.stderr


def test_a_table_longer_than_a_sheet_continues_on_the_next(case_dir: Path, tmp_path: Path) -> None:
    n = 1_048_575 + 7  # one more than a sheet holds under its header, and some
    _case_with(case_dir, {"victims": pl.DataFrame({
        "destination_e164": pl.int_range(0, n, eager=True).cast(pl.String),
        "calls": pl.int_range(0, n, eager=True)})})
    out = tmp_path / "big.xlsx"
    result = run("exhibit", case_dir, "--ref", "BIG", "--table", "victims", "-o", out, "--json")
    assert "victims (2)" in result.stdout
    with zipfile.ZipFile(out) as book:
        names = dict(re.findall(r'<sheet name="([^"]*)" sheetId="(\d+)"',
                                              book.read("xl/workbook.xml").decode()))
        assert list(names) == ["Cover", "victims", "victims (2)"]
        counts = {}
        for name, part in names.items():
            xml = book.read(f"xl/worksheets/sheet{part}.xml")
            counts[name] = xml.count(b"<row ")
    assert counts["victims"] == 1_048_576 and counts["victims (2)"] == 8  # each with its header
    rows = _sheet_values(out, "victims (2)")
    assert rows[1][0] == str(1_048_575) and rows[-1][0] == str(n - 1)
    cover = [r for r in _sheet_values(out, "Cover") if len(r) > 1 and "on 'victims (2)'" in str(r[1])]
    assert cover and "rows 1,048,576-1,048,582 on 'victims (2)'" in cover[0][1]


def test_a_value_longer_than_a_cell_is_cut_with_a_mark_and_kept_whole(case_dir: Path, tmp_path: Path) -> None:
    long_text = "x" * 40_000 + "END"
    _case_with(case_dir, {"accounts": pl.DataFrame({"account_id": ["1", "2"], "display_name": ["short", long_text]})})
    out = tmp_path / "cut.xlsx"
    run("exhibit", case_dir, "--ref", "CUT", "--table", "accounts", "-o", out)
    rows = _sheet_values(out, "accounts")
    shown = rows[2][rows[0].index("display_name")]
    assert len(shown) <= MAX_CELL and "[CUT: " in shown and "40,003 characters" in shown
    kept = pl.read_parquet(case_dir / "exhibits" / "CUT.cut-values.parquet")
    assert kept.row(0, named=True) | {"text": None} == {"table": "accounts", "sheet": "accounts", "cell": "F3",
                                                        "column": "display_name", "row": 2, "text": None}
    assert kept["text"][0] == long_text
    cover = " ".join(str(v) for row in _sheet_values(out, "Cover") for v in row if v)
    assert "exhibits/CUT.cut-values.parquet" in cover
    log = run("log", case_dir, "--json").stdout
    assert "CUT.cut-values.parquet" in log


def test_where_and_spec_choose_rows_and_columns(case_dir: Path, tmp_path: Path) -> None:
    _case_with(case_dir, {"calls": _calls(["42", "7", "42", "9"])})
    out = tmp_path / "w.xlsx"
    run("exhibit", case_dir, "--ref", "W", "--table", "calls", "--where", "account_id = '42'", "-o", out)
    rows = _sheet_values(out, "calls")
    assert [r[1] for r in rows[1:]] == ["42", "42"]
    cover = " ".join(str(v) for row in _sheet_values(out, "Cover") for v in row if v)
    assert "filtered with: account_id = '42'" in cover

    spec = tmp_path / "spec.toml"
    spec.write_text('title = "Calls of account 7"\n[[sheet]]\ntable = "calls"\nname = "Calls by 7"\n'
                    'where = "account_id = \'7\'"\ncolumns = ["destination_raw", "call_id"]\n', encoding="utf-8")
    run("exhibit", case_dir, "--ref", "S", "--spec", spec, "-o", out)
    rows = _sheet_values(out, "Calls by 7")
    assert rows[0][:2] == ("destination_raw", "call_id") and "_source_locator" in rows[0]
    assert [r[:2] for r in rows[1:]] == [("42", "00000000000000000001")]  # account 7 called the reversed list's 42
    assert _sheet_values(out, "Cover")[0][1] == "Calls of account 7"


def test_bad_requests_fail_before_anything_is_written(case_dir: Path, tmp_path: Path) -> None:
    _case_with(case_dir, {"calls": _calls(["1"])})
    out = tmp_path / "bad.xlsx"
    for args, words in [
        (["--table", "nosuch"], "no such table"),
        (["--table", "calls", "--where", "no_column = 1"], "does not apply"),
        (["--where", "account_id = '1'"], "victims"),  # the standard exhibit: victims has no account_id
    ]:
        result = run("exhibit", case_dir, "--ref", "B", "-o", out, *args, expect=1)
        assert words in result.stderr, result.stderr
    spec = tmp_path / "bad.toml"
    spec.write_text("[[sheet]]\ntable = 'calls'\nfilter = 'x'\n", encoding="utf-8")
    result = run("exhibit", case_dir, "--ref", "B", "--spec", spec, expect=1)
    assert "bad.toml: sheet 1: unknown key 'filter'" in result.stderr
    assert not out.exists() and not (case_dir / "exhibits" / "B.xlsx").exists()


def test_a_crash_while_writing_leaves_the_previous_file(case_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _case_with(case_dir, {"calls": _calls(["1", "2"])})
    run("exhibit", case_dir, "--ref", "A", "--table", "calls")
    kept = case_dir / "exhibits" / "A.xlsx"
    before = kept.read_bytes()

    def broken(plan):  # type: ignore[no-untyped-def]
        yield pl.DataFrame({c.name: [None] for c in plan.columns})
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exhibit_module, "_batches", broken)
    result = run("exhibit", case_dir, "--ref", "A", "--table", "calls", expect=1)
    assert "No space left" in result.stderr
    assert kept.read_bytes() == before
    assert sorted(p.name for p in kept.parent.iterdir()) == ["A.xlsx"]


def test_the_cover_reconciles_rows_per_source(case_dir: Path, tmp_path: Path) -> None:
    calls = pl.concat([_calls(["1", "2", "3"]), _calls(["4"]).with_columns(_source_path=pl.lit("Master.csv"))])
    _case_with(case_dir, {"calls": calls})
    out = tmp_path / "r.xlsx"
    run("exhibit", case_dir, "--ref", "R", "--table", "calls", "--where", "account_id <> '2'", "-o", out)
    cover = _sheet_values(out, "Cover")
    header = next(r for r in cover if r[0] == "Sheets and row counts")
    rows = [dict(zip(header, r, strict=True)) for r in cover if r[0] == "calls"]
    assert {(r["source"], r["rows in the case's table"], r["rows on the sheets"]) for r in rows} == {
        ("dump.sql", 3, 2), ("Master.csv", 1, 1)}
    run("log", case_dir, "--verify")


def test_rows_without_a_source_are_still_counted_on_the_cover(case_dir: Path, tmp_path: Path) -> None:
    calls = _calls(["1", "2", "3"]).with_columns(
        pl.when(pl.col("account_id") == "2").then(None).otherwise(pl.col("_source_path")).alias("_source_path"))
    _case_with(case_dir, {"calls": calls})
    out = tmp_path / "n.xlsx"
    run("exhibit", case_dir, "--ref", "N", "--table", "calls", "-o", out)
    cover = _sheet_values(out, "Cover")
    header = next(r for r in cover if r[0] == "Sheets and row counts")
    rows = [dict(zip(header, r, strict=True)) for r in cover if r[0] == "calls"]
    assert sorted((r["source"] or "", r["rows on the sheets"]) for r in rows) == [("", 1), ("dump.sql", 2)]


def test_a_where_is_one_condition_and_never_undoes_a_spec_filter(case_dir: Path, tmp_path: Path) -> None:
    _case_with(case_dir, {"calls": _calls(["1", "2", "3"])})
    spec = tmp_path / "spec.toml"
    spec.write_text("[[sheet]]\ntable = 'calls'\nwhere = \"account_id = '2'\"\n", encoding="utf-8")
    out = tmp_path / "w.xlsx"
    result = run("exhibit", case_dir, "--ref", "W", "--spec", spec, "--where", "account_id = '1') OR (account_id <> '1'",
                 "-o", out, expect=None)
    if result.exit_code == 0:
        assert [r[1] for r in _sheet_values(out, "calls")[1:]] == ["2"]
    else:
        assert "not a condition" in result.stderr and not out.exists()
    for where in ("account_id = '1' ORDER BY call_id", "1=1; DROP TABLE calls"):
        result = run("exhibit", case_dir, "--ref", "W", "--table", "calls", "--where", where, expect=1)
        assert "condition" in result.stderr
    run("exhibit", case_dir, "--ref", "W2", "--spec", spec, "--where", "account_id <> '3'", "-o", out)
    assert [r[1] for r in _sheet_values(out, "calls")[1:]] == ["2"]


def test_references_that_share_a_file_name_are_refused(case_dir: Path) -> None:
    _case_with(case_dir, {"calls": _calls(["1"])})
    run("exhibit", case_dir, "--ref", "JS/1", "--table", "calls")
    result = run("exhibit", case_dir, "--ref", "JS_1", "--table", "calls", expect=1)
    assert "exhibit 'JS/1'" in result.stderr
    run("exhibit", case_dir, "--ref", "JS/1", "--table", "calls")  # the same reference again: a new version


def test_a_new_version_without_cut_values_keeps_verify_clean(case_dir: Path, tmp_path: Path) -> None:
    _case_with(case_dir, {"accounts": pl.DataFrame({"account_id": ["1"], "display_name": ["y" * 40_000]})})
    run("exhibit", case_dir, "--ref", "V", "--table", "accounts")
    assert (case_dir / "exhibits" / "V.cut-values.parquet").exists()
    run("exhibit", case_dir, "--ref", "V", "--table", "accounts", "--where", "account_id = '2'")
    assert not (case_dir / "exhibits" / "V.cut-values.parquet").exists()
    run("verify", case_dir)


def test_bad_spec_columns_are_refused(case_dir: Path, tmp_path: Path) -> None:
    _case_with(case_dir, {"calls": _calls(["1"])})
    spec = tmp_path / "s.toml"
    for columns, words in (("[]", "columns is empty"), ('["call_id", "call_id"]', "more than once")):
        spec.write_text(f"[[sheet]]\ntable = 'calls'\ncolumns = {columns}\n", encoding="utf-8")
        assert words in run("exhibit", case_dir, "--ref", "S", "--spec", spec, expect=1).stderr


def test_the_workbook_opens_on_the_cover_alone(case_dir: Path, tmp_path: Path) -> None:
    _case_with(case_dir, {"calls": _calls(["1"])})
    out = tmp_path / "c.xlsx"
    run("exhibit", case_dir, "--ref", "C", "--table", "calls", "-o", out)
    with zipfile.ZipFile(out) as book:
        selected = [name for name in book.namelist() if name.startswith("xl/worksheets/sheet")
                    and b'tabSelected="1"' in book.read(name)]
        workbook = book.read("xl/workbook.xml").decode()
    cover_part = re.search(r'<sheet name="Cover" sheetId="(\d+)"', workbook)
    assert cover_part and selected == [f"xl/worksheets/sheet{cover_part[1]}.xml"]


def test_the_compiled_row_writer_gives_the_reference_bytes(tmp_path: Path) -> None:
    """forensics/_xlsxrows.c writes exactly what the Polars expressions (the reference) write."""
    import io
    import random

    from forensics.xlsx import _compiled_writer

    if _compiled_writer() is None:
        pytest.fail("forensics._xlsxrows is not built (pip install -e . builds it)")
    rng = random.Random(3)
    n = 1_000
    alphabet = ["a", "_", "x", "0", "&", "<", ">", "\r", "\n", " ", "\t", "=", "-", "+", "@", "é", "📞", "'", '"',
                "\\", "\u00a0", "_x0041_"]
    texts = [None if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
             for _ in range(n)]
    frame = pl.DataFrame({
        "text": texts, "hostile": (HOSTILE * 50)[:n],
        "repeated": [rng.choice(["ANSWERED", "=X", " lead", "_x0030_", None]) for _ in range(n)],
        "int": pl.Series([rng.choice([None, 0, -5, 10**15, 2**62, -(2**63), 447700900123]) for _ in range(n)],
                         dtype=pl.Int64),
        "float": [rng.choice([None, 1.5, float("nan"), float("inf"), -0.0, 1e20, 5e-324]) for _ in range(n)],
        "date": [rng.choice([None, date(2020, 1, 1), date(1899, 1, 1)]) for _ in range(n)],
        "time": pl.Series([rng.choice([None, datetime(2022, 1, 1, 1, 2, 3), datetime(2022, 1, 1, 1, 2, 3, 5000),
                                       datetime(2022, 1, 1, 0, 0, 0, 7)]) for _ in range(n)]).dt.replace_time_zone("UTC"),
        "bool": [rng.choice([None, True, False]) for _ in range(n)],
        "decimal": pl.Series([rng.choice([None, Decimal("1.5"), Decimal("12345678901234567.1")]) for _ in range(n)],
                             dtype=pl.Decimal(38, 2)),
        "bytes": [rng.choice([None, b"\x00\xff", b""]) for _ in range(n)],
        "rare": [rng.choice([None, "ok", "\ufffe", "a\uffffb", "x" * (MAX_CELL + 3), "é" * MAX_CELL, "\x0b"])
                 for _ in range(n)],
    })
    workbooks, results = [], []
    for compiled in (True, False):
        buffer = io.BytesIO()
        with XlsxWriter(buffer, made_at="2022-01-01T00:00:00Z", compiled=compiled) as book:
            results.append(book.data_sheet("s", [SheetColumn(c, c) for c in frame.columns], frame.iter_slices(97), n,
                                           0, "x"))
            book.close()
        workbooks.append(buffer.getvalue())
    compiled_sheet, reference_sheet = (zipfile.ZipFile(io.BytesIO(w)).read("xl/worksheets/sheet1.xml")
                                       for w in workbooks)
    assert compiled_sheet == reference_sheet
    assert results[0] == results[1] and results[0].cut and results[0].escaped  # the same values escaped and cut
    assert workbooks[0] == workbooks[1]
    path = tmp_path / "c.xlsx"
    path.write_bytes(workbooks[0])
    assert len(_sheet_values(path, "s")) == n + 1


def test_rows_whose_escapes_outgrow_the_estimate_are_written_whole() -> None:
    """The compiled writer writes into a bytes object sized by an estimate; text made of escapes
    (5 bytes for each &, 8 for each _x) outgrows it and must move to a buffer of its own intact."""
    import io

    from forensics.xlsx import _compiled_writer

    if _compiled_writer() is None:
        pytest.fail("forensics._xlsxrows is not built (pip install -e . builds it)")
    frame = pl.DataFrame({"escapes": ["&" * 3000, "_x" * 1500, "a", "<>" * 700, None, "=&"],
                          "n": pl.Series([1, None, 3, 4, 5, 6], dtype=pl.Int64)})
    for rows_per_chunk in (1, 2, 6):
        sheets = []
        for compiled in (True, False):
            buffer = io.BytesIO()
            with XlsxWriter(buffer, made_at="2022-01-01T00:00:00Z", compiled=compiled) as book:
                book.data_sheet("s", [SheetColumn(c, c) for c in frame.columns], frame.iter_slices(rows_per_chunk),
                                len(frame), 0, "x")
                book.close()
            sheets.append(zipfile.ZipFile(io.BytesIO(buffer.getvalue())).read("xl/worksheets/sheet1.xml"))
        assert sheets[0] == sheets[1]
        assert b"&amp;" * 3000 in sheets[0] and b"_x005F_x" * 1500 in sheets[0]


def test_the_compiled_scan_finds_the_values_polars_finds() -> None:
    """rare_rows (forensics/_xlsxrows.c) flags exactly the values the Polars check flags, on sliced arrays too."""
    import random

    import pyarrow as pa

    from forensics.xlsx import (
        FORBIDDEN_PATTERN,
        MAX_CELL,
        _arrow_buffers,
        _arrow_text,
        _compiled_writer,
    )

    compiled = _compiled_writer()
    if compiled is None:
        pytest.fail("forensics._xlsxrows is not built (pip install -e . builds it)")
    rare_rows = compiled[1]
    rng = random.Random(11)
    pieces = ["a", "é", "📞", "\t", "\n", "\r", "\x00", "\x07", "\x0b", "\x0c", "\x1f", " ", "\ufffe", "\uffff",
              "\ufffd", "\uefbf", "ï¿", "\x7f"]
    values = [None if rng.random() < 0.1 else "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
              for _ in range(3_000)]
    values += ["x" * MAX_CELL, "x" * (MAX_CELL + 1), "é" * (MAX_CELL // 2 + 1), None]
    series = pl.Series("v", values, dtype=pl.String)
    for start, length in ((0, len(values)), (7, 1_000), (2_990, len(values) - 2_990)):
        part = series.slice(start, length)
        expected = pl.DataFrame({"v": part}).select(
            pl.col("v").str.contains(FORBIDDEN_PATTERN) | (pl.col("v").str.len_bytes() > MAX_CELL))["v"]
        for whole in (_arrow_text(series), series.to_arrow().cast(pa.large_string())):  # string_view, large_string
            array = whole.slice(start, length)  # an Arrow array with an offset
            assert rare_rows(*_arrow_buffers(array), length, MAX_CELL) == expected.arg_true().to_list()


def test_the_compiled_writer_reads_string_views_from_several_buffers_and_checks_them() -> None:
    """Text reaches the compiled code as Arrow string_view, as Polars holds it: short values inside
    the views, long ones in any of several data buffers; a view pointing outside them is refused."""
    import io

    import pyarrow as pa

    from forensics.xlsx import _arrow_buffers, _arrow_text, _compiled_writer

    compiled = _compiled_writer()
    if compiled is None:
        pytest.fail("forensics._xlsxrows is not built (pip install -e . builds it)")
    rows_xml, rare_rows = compiled
    first = pl.Series(["x" * 20, "short", None, "=1+2", "a\x01b"] * 400)
    second = pl.Series(["y&" * 15, "é" * 9, "_x0041_ tail "] * 400)
    values = pl.concat([first, second], rechunk=True)
    array = _arrow_text(values)
    assert array.type == pa.string_view() and len(array.buffers()) > 4  # views over several data buffers
    frame = pl.DataFrame({"v": values})
    sheets = []
    for compiled_rows in (True, False):
        buffer = io.BytesIO()
        with XlsxWriter(buffer, made_at="2022-01-01T00:00:00Z", compiled=compiled_rows) as book:
            book.data_sheet("s", [SheetColumn("v", "v")], frame.iter_slices(333), len(frame), 0, "x")
            book.close()
        sheets.append(zipfile.ZipFile(io.BytesIO(buffer.getvalue())).read("xl/worksheets/sheet1.xml"))
    assert sheets[0] == sheets[1]
    sliced = array.slice(4, 10)
    assert rare_rows(*_arrow_buffers(sliced), 10, 10_000) == [0, 5]  # "a\x01b" at rows 4 and 9 of the array
    validity, views, data, offset = _arrow_buffers(array.slice(0, 1))
    broken = bytearray(bytes(views)[:16])
    broken[8:12] = (len(data) + 5).to_bytes(4, "little")  # a data buffer that does not exist
    with pytest.raises(ValueError, match="outside its buffers"):
        rare_rows(validity, bytes(broken), data, 0, 1, 10_000)
    with pytest.raises(ValueError, match="outside its buffers"):
        rows_xml([(0, 0, 0, 4, validity, bytes(broken), data, 0)], 1, 2)


def test_sheet_batches_are_the_same_from_polars_and_from_pyarrow(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Sheet rows come in batches of exactly CHUNK_ROWS (the bytes depend on where chunks start),
    streamed by Polars, or by pyarrow where Polars cannot stream batches."""
    from types import SimpleNamespace

    from forensics.exhibit import _batches
    from forensics.xlsx import CHUNK_ROWS

    rows = 2 * CHUNK_ROWS + 7
    path = tmp_path / "t.parquet"
    pl.DataFrame({"a": range(rows), "b": [f"v{i % 13}" for i in range(rows)]}).with_columns(
        pl.col("b").cast(pl.Categorical)).write_parquet(
        path, row_group_size=30_011)  # row groups that do not line up with the chunks; pyarrow stops at them
    plan = SimpleNamespace(parquet=path, columns=[SimpleNamespace(name=n) for n in ("b", "a", "_source_path")],
                           constants={"_source_path": "x.csv"})
    streamed = list(_batches(plan))  # type: ignore[arg-type]
    monkeypatch.delattr(pl.LazyFrame, "collect_batches")
    read = list(_batches(plan))  # type: ignore[arg-type]
    assert [len(f) for f in streamed] == [len(f) for f in read] == [CHUNK_ROWS, CHUNK_ROWS, 7]
    assert pl.concat(streamed).equals(pl.concat(read))
    assert streamed[0].columns == ["b", "a", "_source_path"] and streamed[-1]["a"][-1] == rows - 1


def test_a_case_path_with_glob_characters_reads_its_own_tables(tmp_path: Path) -> None:
    """A case named op[12] beside a case op1: Polars must read op[12]'s files, never take the name as a pattern."""
    for name, accounts in (("op1", ["1", "1"]), ("op[12]", ["7", "8"])):
        case_dir = tmp_path / name
        run("case", "init", case_dir, "--case-ref", name, "--examiner", "tester")
        _case_with(case_dir, {"calls": _calls(accounts)})
    out = tmp_path / "glob.xlsx"
    run("exhibit", tmp_path / "op[12]", "--ref", "G", "--table", "calls", "-o", out)
    assert [r[1] for r in _sheet_values(out, "calls")[1:]] == ["7", "8"]
    result = run("query", tmp_path / "op[12]", "SELECT account_id FROM calls", "--format", "json")
    assert "7" in result.stdout and '"1"' not in result.stdout
