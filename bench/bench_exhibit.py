#!/usr/bin/env python3
"""Excel writing: our exhibit writer against openpyxl's write-only mode, same table, same run.

Builds a calls table (10 columns: ids, phone numbers, a UTC time, durations, outcome,
source path and locator) as Parquet, then writes it to .xlsx in a child process per
writer and prints rows per second, peak RSS of each, and the ratio. Target (DESIGN.md):
at least 10x openpyxl, under 500 MB RSS at 1 million rows.

    python bench/bench_exhibit.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def make_table(path: Path, rows: int) -> None:
    """A calls table as a fraud case has it, written as Parquet."""
    import polars as pl

    i = pl.col("i")
    pl.select(pl.int_range(0, rows).alias("i")).select(
        call_id=(i + 10_000_000).cast(pl.String),
        account_id=(i * 7919 % 59_000).cast(pl.String),
        caller_id_raw=pl.lit("+44207946") + (i % 1000 + 1000).cast(pl.String).str.slice(1),
        destination_e164=pl.lit("+447700900") + (i * 31 % 1000 + 1000).cast(pl.String).str.slice(1),
        started_at=pl.lit(datetime(2022, 1, 1, tzinfo=UTC)) + pl.duration(seconds=i * 3),
        duration_s=i * 13 % 600,
        billed_s=i * 11 % 500,
        disposition=pl.lit(pl.Series(["ANSWERED", "NO ANSWER", "BUSY", "FAILED"])).gather(i % 4),
        _source_path=pl.lit("seized/db01.tar.gz!var/backups/spoofcall.sql"),
        _source_locator=pl.lit("line ") + (i // 500 + 40).cast(pl.String) + pl.lit(", offset ")
        + (i * 97).cast(pl.String),
    ).write_parquet(path)


def write_ours(parquet: Path, out: Path) -> int:
    """Our writer: the data sheet streamed from Parquet in batches."""
    import polars as pl
    import pyarrow.parquet as pq

    from forensics.xlsx import CHUNK_ROWS, SheetColumn, XlsxWriter, write_atomic

    rows = pq.ParquetFile(parquet).metadata.num_rows
    names = pl.scan_parquet(parquet, glob=False).collect_schema()
    columns = [SheetColumn(n, f"{n} (UTC)" if n == "started_at" else n, f"note on {n}") for n in names]

    def batches():  # type: ignore[no-untyped-def]
        for batch in pq.ParquetFile(parquet).iter_batches(batch_size=CHUNK_ROWS):
            yield pl.from_arrow(batch)

    def write(handle):  # type: ignore[no-untyped-def]
        with XlsxWriter(handle, title="bench", made_at="2022-01-01T00:00:00Z") as book:
            book.data_sheet("calls", columns, batches(), rows, 0, "the case")
            book.close()

    write_atomic(out, write)
    return rows


def write_openpyxl(parquet: Path, out: Path) -> int:
    """openpyxl write-only: rows appended one by one, as tools that use it do."""
    import openpyxl
    import pyarrow.parquet as pq

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("calls")
    file = pq.ParquetFile(parquet)
    sheet.append(file.schema_arrow.names)
    rows = 0
    for batch in file.iter_batches(batch_size=50_000):
        columns = batch.to_pydict()
        if "started_at" in columns:  # openpyxl cannot write aware datetimes: UTC, made naive
            columns["started_at"] = [v.replace(tzinfo=None) if v else None for v in columns["started_at"]]
        for row in zip(*columns.values(), strict=True):
            sheet.append(row)
        rows += batch.num_rows
    book.save(out)
    return rows


def child(writer: str, parquet: Path, out: Path) -> None:
    start = time.perf_counter()
    rows = (write_ours if writer == "ours" else write_openpyxl)(parquet, out)
    print(f"{rows} {time.perf_counter() - start:.3f}")


def run_child(writer: str, parquet: Path, out: Path) -> tuple[int, float, float]:
    """Rows, seconds and peak RSS (MB) of one writer, run in its own process."""
    process = subprocess.Popen([sys.executable, __file__, "--child", writer, str(parquet), str(out)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{writer} failed with exit code {process.returncode}")
    rows, seconds = output.split()
    return int(rows), float(seconds), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Write the files here and keep them.")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-exhibit-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        parquet = folder / "calls.parquet"
        make_table(parquet, args.rows)
        print(f"calls table: {args.rows:,} rows, 10 columns ({parquet.stat().st_size / 1e6:,.1f} MB Parquet)")
        results = {}
        for writer in ("ours", "openpyxl"):
            out = folder / f"{writer}.xlsx"
            rows, seconds, rss = run_child(writer, parquet, out)
            results[writer] = rows / seconds
            print(f"{writer:<9} {seconds:8.1f} s  {rows / seconds:>10,.0f} rows/s  peak RSS {rss:6.0f} MB  "
                  f"{out.stat().st_size / 1e6:7.1f} MB xlsx")
        ratio = results["ours"] / results["openpyxl"]
        print(f"ratio: {ratio:.1f}x openpyxl write-only (target: at least 10x, under 500 MB RSS)")


if __name__ == "__main__":
    main()
