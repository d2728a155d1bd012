"""The CSV reader's fast path (Polars on proven blocks) against the reference (Python's csv module).

Every file is read twice into a fresh case, once with `fast=False` and once with the fast
path at several block sizes; the raw tables (Parquet read back, dtypes included), the
notes, the problems and the Parquet bytes themselves must be identical.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import OneWay

from forensics.case import init_case, open_case
from forensics.rawtables import SourceWriter, read_manifests
from forensics.readers import csvblocks
from forensics.readers.csvblocks import check_block
from forensics.readers.delimited import Dialect, WiderThanHeader, read_delimited, sniff_delimited

BLOCK_SIZES = (1, 5, 23, 97, 1000, 1 << 20)


def read(tmp_path: Path, data: bytes, dialect: Dialect, *, fast: bool, block_size: int = 1 << 20,
         seekable: bool = True) -> tuple[dict[str, Any], pl.DataFrame, bytes]:
    """Read data into a fresh case: the table's manifest entry and problems, its frame, its Parquet bytes."""
    case = init_case(tmp_path, "REF", "Examiner", "UTC", ["test"])
    out = SourceWriter(case, {"path": "x.csv", "sha256": "0" * 64, "size": len(data), "format": "csv"})
    stream: Any = io.BytesIO(data) if seekable else io.BufferedReader(OneWay(data, max_read=7))
    try:
        read_delimited(stream, "dir/x.csv", dialect, out, fast=fast, block_size=block_size)
    except WiderThanHeader:  # as extract does: the source opened again, read in two passes
        assert not seekable
        out.abandon()
        out = SourceWriter(case, {"path": "x.csv", "sha256": "0" * 64, "size": len(data), "format": "csv"})
        read_delimited(io.BufferedReader(OneWay(data, max_read=7)), "dir/x.csv", dialect, out, fast=fast,
                       block_size=block_size, single_pass=False)
    manifest = out.finish()
    [table] = manifest["tables"]
    parquet = case.path / table["parquet"]
    assert list(case.tmp_dir.iterdir()) == []
    return {"table": table, "problems": manifest["problems"]}, pl.read_parquet(parquet), parquet.read_bytes()


def assert_same(tmp_path: Path, data: bytes, dialect: Dialect, sizes: tuple[int, ...] = BLOCK_SIZES,
                seekable: bool = True) -> pl.DataFrame:
    """The fast path gives what the reference gives, at every block size; the reference's frame."""
    manifest, frame, parquet = read(tmp_path / "ref", data, dialect, fast=False)
    for size in sizes:
        got_manifest, got_frame, got_parquet = read(tmp_path / f"fast{size}", data, dialect, fast=True,
                                                     block_size=size, seekable=seekable)
        assert got_manifest == manifest, size
        assert got_frame.schema == frame.schema, size
        assert got_frame.equals(frame, null_equal=True), size
        assert got_parquet == parquet, size
    return frame


CSV = Dialect("utf-8", ",", '"', True, None, "csv")
PLAIN_FIELDS = ["1", "Alice", "2024-01-02 10:00:00", "NULL", "\\N", "null", "", "x y", "ünïcødé €", "-1.50",
                "a'b", " lead", "trail ", "#hash"]
QUOTED_FIELDS = ['""', '"x"', '"a,b"', '"say ""hi"""', '""""', '"NULL"', '" "', '"ü,€"', '"a\tb"']
ODD_FIELDS = ['"two\nlines"', '"crlf\r\nin it"', 'ab"c', '"ab"c', ' "q"', '"lone\rcr"', "a\x00b", "b\x07",
              "\xff\xfe", "ok\xc3(", '"open', "\x7f",
              '""a""', '"a"a""', '","a""']  # the last three Polars reads otherwise than Python's csv


def random_csv(rng: random.Random, rows: int, odd: float, width: int = 4) -> bytes:
    """A CSV file of mostly well-formed lines with some odd ones (probability `odd` a field)."""
    eol = rng.choice(["\n", "\r\n", "mixed"])
    lines = []
    for _ in range(rows):
        n = width if rng.random() > odd else rng.choice([1, width - 1, width + 1, width + 2])
        fields = []
        for _ in range(n):
            r = rng.random()
            pool = ODD_FIELDS if r < odd else QUOTED_FIELDS if r < 0.5 else PLAIN_FIELDS
            fields.append(rng.choice(pool))
        end = rng.choice(["\n", "\r\n"]) if eol == "mixed" else eol
        lines.append(",".join(fields) + end)
        if rng.random() < odd / 3:
            lines.append(rng.choice(["\n", "\r\n", "\r", ",,,\n"]))  # blank and empty-field lines
    text = "".join(lines)
    if rng.random() < 0.3:
        text = text.rstrip("\r\n")  # no final line end
    return text.encode("utf-8", "surrogateescape").replace("\udcff".encode("utf-8", "surrogatepass"), b"\xff")


@pytest.mark.parametrize("seed", range(12))
def test_random_files_read_alike(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    odd = [0.0, 0.002, 0.02, 0.2][seed % 4]
    data = b"id,name,amount,note\n" + random_csv(rng, 300, odd)
    data = data.replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe")  # bytes that are not UTF-8
    header = seed % 3 != 0
    dialect = Dialect("utf-8", ",", '"', header, None, "csv")
    assert_same(tmp_path, data, dialect, sizes=(1, 23, 400, 1 << 20))
    assert_same(tmp_path / "oneway", data, dialect, sizes=(23, 1 << 20), seekable=False)


def test_clean_file_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    data = b"id,name,amount,note\n" + random_csv(rng, 2000, 0.0)
    regions = []
    real = csvblocks.BlockStream.python_region

    def spy(self: csvblocks.BlockStream, stop_at: int, header: bool = False) -> Any:
        regions.append((self.offset, stop_at, header))
        return real(self, stop_at, header)

    monkeypatch.setattr(csvblocks.BlockStream, "python_region", spy)
    frame = assert_same(tmp_path, data, CSV, sizes=(4096,))
    assert frame.height == 2000
    assert all(header for _, _, header in regions)  # only the header line went through Python's csv


def test_only_the_odd_block_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [b"%d,name %d,%d.50,x" % (i, i, i) for i in range(1, 2001)]
    lines[1000] = b'1001,"two\nlines",1001.50,x'
    data = b"id,name,amount,note\n" + b"\n".join(lines) + b"\n"
    regions: list[tuple[int, int]] = []
    real = csvblocks.BlockStream.python_region

    def spy(self: csvblocks.BlockStream, stop_at: int, header: bool = False) -> Any:
        regions.append((self.offset, stop_at))
        return real(self, stop_at, header)

    monkeypatch.setattr(csvblocks.BlockStream, "python_region", spy)
    frame = assert_same(tmp_path, data, CSV, sizes=(2048,))
    assert frame["name"][1000] == "two\nlines"
    assert frame["_line"][1000] == 1002 and frame["_line"][1001] == 1004 and frame["_line"][-1] == 2002
    fallbacks = [(a, b) for a, b in regions if b > a]
    assert fallbacks and all(b - a <= 2048 for a, b in fallbacks)
    assert len(fallbacks) == 1  # the block with the line feed in quotes, read once: the header names the columns


@pytest.mark.parametrize(
    "data",
    [
        b'a,b\r\n"x",""\r\n,\r\n"1,2","3""4"\r\n',  # CRLF, quoted empty vs empty, doubled quotes
        b"a,b\n1,2\n3,4",  # no final line end
        b"a,b\n1,2\n3,4\r",  # a final lone CR
        b"a,b\n1,2\r3,4\n",  # a lone CR ends a line for Python's csv
        b'a,b\n"ab"c,d\n1,2\n',  # text after a closing quote: Python's csv keeps it
        b'a,b\nab"c,d\n1,2\n',  # a quote inside an unquoted field
        b'a,b\n "q",d\n1,2\n',  # a space before the quote
        b'a,b\n"open,d\n1,2\n',  # a quote never closed
        b"a,b\n\n1,2\n\r\n3,4\n",  # blank lines
        b"a,b\n\n\n\n1,2\n",  # more blank lines than records
        b'a,b\nx,""a""\nx,"a"a""\n1,2\n',  # Polars would read 'a' and 'aa'
        b"a,b\n1,2,3\n4\n5,6\n",  # ragged
        b"a,b\n1,\x00\n2,\x1b\n3,\x7f\n",  # control characters
        b"a,b\n1,\xff\n2,\xc3\xa9\n",  # bytes that are not UTF-8
        b"a,b\n\xef\xbb\xbf1,2\n3,4\n",  # a byte order mark at a line start
        b"\xef\xbb\xbfa,b\n1,2\n",  # and at the file start
        b"\xef\xbb\xbf\xef\xbb\xbfa,b\n1,2\n",
        b"a,b\n",  # a header only
        b"",
        b"a,b\n" + b"x" * 5000 + b",y\n1,2\n",  # a line longer than the blocks
    ],
)
def test_awkward_files_read_alike(tmp_path: Path, data: bytes) -> None:
    assert_same(tmp_path, data, CSV)
    assert_same(tmp_path / "noheader", data, Dialect("utf-8", ",", '"', False, None, "csv"))
    assert_same(tmp_path / "sig", data, Dialect("utf-8-sig", ",", '"', True, None, "csv"), sizes=(1, 5, 1 << 20))
    assert_same(tmp_path / "oneway", data, CSV, sizes=(5, 1 << 20), seekable=False)


def test_other_dialects_read_alike(tmp_path: Path) -> None:
    rows = ["id\tname\tnote", "1\t'a\tb'\t\"x", "2\t''''\t", "3\tplain\t'q'"]
    data = "\n".join(rows * 50).encode()
    assert_same(tmp_path / "tab", data, Dialect("utf-8", "\t", None, True, None, "tsv"), sizes=(1, 64, 1 << 20))
    assert_same(tmp_path / "tabq", data, Dialect("utf-8", "\t", "'", True, None, "tsv"), sizes=(1, 64, 1 << 20))
    latin = ("id;name\n" + "1;café\n2;\"5 €; x\"\n" * 50).encode("cp1252") + b"3;\x81\x8d\n"
    frame = assert_same(tmp_path / "cp", latin, Dialect("cp1252", ";", '"', True, None, "csv"))
    assert frame["name"][-1] == "\x81\x8d" and frame["name"][1] == "5 €; x"
    utf16 = "\ufeffa,b\n1,2\n".encode("utf-16-le")  # not in FAST_ENCODINGS: the reference reads it
    assert_same(tmp_path / "u16", utf16, Dialect("utf-16-le", ",", '"', True, None, "csv"), sizes=(1,))


def test_ragged_table_keeps_extra_columns(tmp_path: Path) -> None:
    body = b"".join(b"%d,a,b\n" % i for i in range(300))
    data = b"id,x,y\n" + body + b"7,a,b,EXTRA\n" + body
    frame = assert_same(tmp_path, data, CSV, sizes=(64, 1 << 20))
    assert frame.columns == ["id", "x", "y", "extra_1", "_line"]
    assert frame["extra_1"].null_count() == 600 and frame["extra_1"][300] == "EXTRA"


def test_batches_cross_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("forensics.readers.delimited.BATCH_ROWS", 7)
    monkeypatch.setattr("forensics.rawtables.BATCH_ROWS", 7)
    data = b"a,b\n" + b"".join(b"%d,\"v%d\"\n" % (i, i) for i in range(100)) + b"x,\xff\n" + b"1,2\n" * 20
    assert_same(tmp_path, data, CSV, sizes=(1, 40, 1 << 20))


def test_asterisk_master_csv_fast(tmp_path: Path) -> None:
    line = (b'"","1001","1002","from-internal","""Alice"" <1001>","SIP/1001-0000000%d",'
            b'"SIP/1002-00000002","Dial","SIP/1002,30,tr","2024-03-01 10:00:00","2024-03-01 10:00:05",'
            b'"2024-03-01 10:01:05",65,60,"ANSWERED","DOCUMENTATION","1709287200.%d",""\n')
    data = b"".join(line % (i % 10, i) for i in range(500))
    dialect = sniff_delimited(data, "Master.csv")
    assert dialect is not None and dialect.kind == "asterisk-master-csv"
    frame = assert_same(tmp_path, data, dialect, sizes=(1, 3000, 1 << 20))
    assert frame.columns[:-1] == list(dialect.column_names or ())
    assert frame["clid"][0] == '"Alice" <1001>' and frame["lastdata"][0] == "SIP/1002,30,tr"
    assert frame["_line"].to_list() == list(range(1, 501))


@pytest.mark.parametrize(
    ("block", "proven"),
    [
        (b'a,"b,c",""\n"d""e",f,g\n', True),
        (b'a,"b\nc"\n', False),
        (b'ab"c,d\n', False),
        (b'"ab"c,d\n', False),
        (b' "a",b\n', False),
        (b"a,b\n\n", False),
        (b"a,b\rc,d\n", False),
        (b'a,b\r\n"c",d\r\n', True),
        (b'a,"b"', True),
    ],
)
def test_check_block(block: bytes, proven: bool) -> None:
    verdict, widths = check_block(block, ",", '"', True)
    assert verdict.proven is proven
    if proven:
        assert widths is not None and verdict.uniform is not None


@pytest.mark.parametrize("seed", range(4))
def test_blocks_checked_in_halves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(csvblocks, "_SPLIT_BYTES", 40)
    rng = random.Random(100 + seed)
    data = b"id,name,amount,note\n" + random_csv(rng, 300, [0.0, 0.01, 0.05, 0.2][seed])
    assert_same(tmp_path, data, CSV, sizes=(50, 300, 1 << 20))
    monkeypatch.setattr(csvblocks, "_SPLIT_BYTES", 1)
    verdict, _ = check_block(b'a,"b\nc\nd",e\n', ",", '"', True)  # the halves cut inside the quotes
    assert not verdict.proven and verdict.lines == 3
    verdict, widths = check_block(b'a,"b,c"\nd,e\n"f",g\n', ",", '"', True)
    assert verdict.proven and verdict.uniform == 2 and widths is not None and list(widths) == [2, 2, 2]


EDGE_BLOCKS = [b"", b"\n", b"\r\n", b"a", b"a\r", b"\ra\n", b'"', b'""', b'"a"', b'"a"b\n', b'a""\n', b"a,b,,\n",
               b"\x00", b"a\x7f\n", b"\xef\xbb\xbfa,b\n", b'\t"a"\t\n', b'x,"a\r\nb"\n', b"a" * 300 + b"\n",
               b'"x",\n"y"\r', b"a,b\nc", b"\xff,\xfe\n", b'a,"b""c"\r\n']


def _verdicts_agree(block: bytes, delimiter: str, quotechar: str | None, utf8: bool) -> None:
    compiled_verdict, compiled_widths = csvblocks._check(block, delimiter, quotechar, utf8)
    numpy_verdict, numpy_widths = csvblocks.check_with_numpy(block, delimiter, quotechar, utf8)
    assert compiled_verdict == numpy_verdict, block
    assert (compiled_widths is None) == (numpy_widths is None), block
    if numpy_widths is not None:
        assert list(compiled_widths) == list(numpy_widths), block  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(8))
def test_compiled_check_agrees_with_numpy(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if csvblocks._COMPILED_CHECK is None:
        pytest.fail("forensics._csvcheck is not built (pip install -e . builds it)")
    monkeypatch.setattr(csvblocks, "FIELD_LIMIT", 64)  # so that some lines are too long
    rng = random.Random(500 + seed)
    for block in EDGE_BLOCKS:
        for delimiter, quotechar in ((",", '"'), ("\t", '"'), (";", None), (",", "'")):
            _verdicts_agree(block, delimiter, quotechar, utf8=True)
            _verdicts_agree(block, delimiter, quotechar, utf8=False)
    for _ in range(60):
        data = random_csv(rng, rng.randint(1, 30), rng.choice([0.0, 0.01, 0.1, 0.4]), width=rng.randint(1, 6))
        start = rng.randint(0, len(data))
        for block in (data, data[start:], data[: rng.randint(0, len(data))]):
            _verdicts_agree(block, ",", '"', utf8=True)
            _verdicts_agree(block.replace(b",", b"\t"), "\t", '"', utf8=False)
            _verdicts_agree(block, ",", None, utf8=True)


def test_check_block_without_compiled_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvblocks, "_COMPILED_CHECK", None)  # as where the extension was not built
    verdict, widths = check_block(b'a,"b,c"\r\nd,e\n', ",", '"', True)
    assert verdict.proven and verdict.uniform == 2 and widths is not None and list(widths) == [2, 2]
    verdict, widths = check_block(b'a,"b\nc"\n', ",", '"', True)
    assert not verdict.proven and widths is None


def test_a_header_file_is_read_once_unless_a_row_is_wider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through extract: a CSV file with a header is read in one pass, never spooled into the case; one with a
    row wider than its header is read again, in the two passes, and keeps the extra value."""
    from conftest import run, write

    from forensics.readers import delimited

    rows = b"".join(b"%d,name %d,%d.50\n" % (i, i, i) for i in range(1, 3001))
    write(tmp_path / "evidence/narrow.csv", b"id,name,amount\n" + rows)
    write(tmp_path / "evidence/wide.csv", b"id,name,amount\n" + rows.replace(b"2500,name 2500,2500.50",
                                                                             b"2500,name 2500,2500.50,late"))
    spools = []
    real = delimited.tempfile.TemporaryFile
    monkeypatch.setattr(delimited.tempfile, "TemporaryFile", lambda *a, **k: spools.append(a) or real(*a, **k))
    case = tmp_path / "case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E")
    run("ingest", case, tmp_path / "evidence")
    result = run("extract", case, expect=3)  # the wide row is a recorded problem
    assert "wide.csv: wide.csv: line 2501: 4 fields where the header has 3" in result.stderr
    assert len(spools) == 1  # the second reading of wide.csv alone
    manifests = {m["path"]: m for m in read_manifests(open_case(case))}
    narrow = pl.read_parquet(case / manifests["narrow.csv"]["tables"][0]["parquet"])
    wide = pl.read_parquet(case / manifests["wide.csv"]["tables"][0]["parquet"])
    assert narrow.columns == ["id", "name", "amount", "_line"] and narrow.height == 3000
    assert wide.columns == ["id", "name", "amount", "extra_1", "_line"] and wide.height == 3000
    assert wide["extra_1"].drop_nulls().to_list() == ["late"] and wide["_line"][2499] == 2501


def test_a_wide_row_after_written_batches_rolls_them_back(tmp_path: Path) -> None:
    """A row wider than the header after batches went to Parquet: the one pass's table is removed and the file
    read again in two passes gives the reference's table, byte for byte, with nothing left beside it."""
    rows = [b"%d,name %d,%d.50" % (i, i, i) for i in range(1, 60_001)]
    rows[29_999] = b"30000,caf\xe9,30000.50"  # bytes that are not UTF-8: the table goes on in parts
    rows[55_000] += b",late"
    data = b"id,name,amount\n" + b"\n".join(rows) + b"\n"
    frame = assert_same(tmp_path, data, CSV, sizes=(1 << 20,))
    assert frame.height == 60_000 and frame["extra_1"].drop_nulls().to_list() == ["late"]
    folders = list(tmp_path.glob("fast*/raw/*"))
    assert folders
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["source.json", "x.parquet"]
