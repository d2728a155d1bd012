#!/usr/bin/env python3
"""Read a delimited file (an Asterisk Master.csv) into a case's raw table: seconds and rows.

    /usr/bin/time -v .venv/bin/python bench/bench_csv.py PATH [--reference] [--block-size MIB]
                                                           [--seekable] [--dir DIR]

The file is sniffed as `forensics extract` does and read through a stream that cannot
seek, as `forensics.sources` hands it over (so the reader spools it into the case's tmp/),
unless --seekable. --reference reads with Python's csv module only (the fast path off).
Peak memory: run it under /usr/bin/time -v. Make a 10-million-row file with
`forensics sample generate /tmp/s10m --calls 10000000` (server/var/log/asterisk/cdr-csv/Master.csv).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from forensics.case import init_case
from forensics.rawtables import SourceWriter
from forensics.readers.delimited import HEAD_BYTES, WiderThanHeader, read_delimited, sniff_delimited


class OneWay:
    """A file read once, in order, as an archive member is."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    def read(self, size: int = -1) -> bytes:
        """Up to size bytes."""
        return self.handle.read(size)

    def seekable(self) -> bool:
        """Never."""
        return False


def main() -> int:
    """Run one reading and print what it took."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--reference", action="store_true", help="Python's csv module only")
    parser.add_argument("--block-size", type=int, default=16, help="MiB per block (default 16)")
    parser.add_argument("--seekable", action="store_true", help="hand over the file itself")
    parser.add_argument("--dir", type=Path, default=None, help="where the case goes (default a temp dir)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-csv-", dir=args.dir))
    try:
        case = init_case(folder / "case", "BENCH", "Examiner", "UTC", ["bench"])
        case.tmp_dir.mkdir(exist_ok=True)
        with args.path.open("rb") as handle:
            dialect = sniff_delimited(handle.read(HEAD_BYTES), args.path.name)
            if dialect is None:
                print(f"{args.path}: not a delimited table", file=sys.stderr)
                return 1
            handle.seek(0)
            out = SourceWriter(case, {"path": str(args.path), "sha256": "0" * 64, "size": 0, "format": "csv"})
            start = time.perf_counter()
            stream = handle if args.seekable else OneWay(handle)
            try:
                read_delimited(stream, args.path.name, dialect, out,  # type: ignore[arg-type]
                               fast=not args.reference, block_size=args.block_size << 20)
            except WiderThanHeader:  # as extract does: a row wider than the header, read again in two passes
                out.abandon()
                out = SourceWriter(case, {"path": str(args.path), "sha256": "0" * 64, "size": 0, "format": "csv"})
                handle.seek(0)
                read_delimited(OneWay(handle), args.path.name, dialect, out,  # type: ignore[arg-type]
                               fast=not args.reference, block_size=args.block_size << 20, single_pass=False)
            manifest = out.finish()
            seconds = time.perf_counter() - start
        [table] = manifest["tables"]
        mode = "reference" if args.reference else f"fast, {args.block_size} MiB blocks"
        print(f"{dialect.kind}: {table['rows']:,} rows, {len(table['columns'])} columns, "
              f"{len(manifest['problems'])} problems; {seconds:.1f} s ({mode}, "
              f"{'seekable' if args.seekable else 'one-way stream'})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
