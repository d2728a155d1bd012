#!/usr/bin/env python3
"""What typing costs per kind of small file: the signature path against full libmagic.

Generates the same web-root mix as bench_ingest.py and times FileTyper.identify on each
file (the catalogue's typing) and full libmagic (FileTyper(full_typing=True)), per kind.

    python bench/bench_typing.py [--files 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import small_web_root

from forensics.filetype import FileTyper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="forensics-typing-") as folder:
        small_web_root(Path(folder), args.files)
        files = [(path.suffix, path.read_bytes()) for path in sorted(Path(folder).rglob("*.*"))]
    quick, full = FileTyper(), FileTyper(full_typing=True)
    costs: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    paths: dict[str, str] = {}
    for suffix, data in files:
        start = time.perf_counter()
        found = quick.identify(data)
        middle = time.perf_counter()
        full.identify(data)
        end = time.perf_counter()
        entry = costs[suffix]
        entry[0] += 1
        entry[1] += middle - start
        entry[2] += end - middle
        paths[suffix] = found.typed_by
    print(f"{'kind':<8}{'files':>7}{'catalogue':>12}{'libmagic':>12}  typed by")
    for suffix, (count, ours, theirs) in sorted(costs.items()):
        print(f"{suffix:<8}{count:>7}{ours / count * 1e6:>10.0f}us{theirs / count * 1e6:>10.0f}us  {paths[suffix]}")


if __name__ == "__main__":
    main()
