#!/usr/bin/env python3
"""Ingest speed against hashdeep, side by side on the same files in the same run.

Builds three evidence sets (a 1 GiB tree of 8 x 128 MiB files, one 1 GiB file, and
50,000 small files shaped like a PHP web root), then times
``hashdeep -r -c md5,sha1,sha256`` and ``forensics ingest`` (fresh case each time) on each,
best of --repeat runs, and prints the ratios and forensics' peak memory.

    python bench/bench_ingest.py [--dir /tmp/bench] [--small 50000] [--repeat 2] [--keep]
                                 [--small-only] [--signature-only]

Targets (issue 2): at least 2x hashdeep on the tree and on the big file; on the small files
at least as many files per second as hashdeep. Files are freshly written, so both tools
read them from the page cache: this measures the tools, not the disk.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORENSICS = [sys.executable, "-m", "forensics.cli"]
MIB = 1 << 20


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.writelines(os.urandom(16 * MIB) for _ in range(size // (16 * MIB)))


def small_web_root(root: Path, count: int, seed: int = 7, signature_only: bool = False) -> dict[str, int]:
    """A web root of small files: PHP, HTML, JavaScript, CSS, images, logs; returns the mix.

    signature_only leaves out the kinds that need full libmagic (JavaScript, CSS, logs).
    """
    rng = random.Random(seed)
    words = ("user", "session", "caller", "balance", "topup", "bitcoin", "spoof", "number", "route", "query")
    mix = {"php": 0, "html": 0, "js": 0, "css": 0, "png": 0, "gif": 0, "jpg": 0, "log": 0}
    weights = [60, 12, 0, 0, 6, 2, 3, 0] if signature_only else [60, 12, 8, 5, 6, 2, 3, 4]
    for index in range(count):
        kind = rng.choices(list(mix), weights)[0]
        mix[kind] += 1
        folder = root / f"module{index % 97:02d}" / f"part{index % 13}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = rng.randint(20, 120)
        body = "".join(f"    ${rng.choice(words)}_{i} = {rng.choice(words)}({i}, '{rng.choice(words)}');\n"
                       for i in range(lines))
        if kind == "php":
            data = f"<?php\n// {index}\nfunction f{index}() {{\n{body}}}\n".encode()
        elif kind == "html":
            data = f"<!DOCTYPE html>\n<html><head><title>{index}</title></head>\n<body>\n{body}</body></html>\n".encode()
        elif kind == "js":
            data = f"function f{index}() {{\n{body.replace('$', 'var ')}}}\n".encode()
        elif kind == "css":
            data = "".join(f".c{index}-{i} {{ margin: {i}px; color: #{i:06x}; }}\n" for i in range(lines)).encode()
        elif kind == "png":
            data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(500, 6000))
        elif kind == "gif":
            data = b"GIF89a" + rng.randbytes(rng.randint(300, 3000))
        elif kind == "jpg":
            data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(rng.randint(1000, 8000))
        else:
            data = "".join(f"203.0.113.{i % 250} - - [17/May/2022:10:00:{i % 60:02d} +0000] \"GET /{index} "
                           f"HTTP/1.1\" 200 {i}\n" for i in range(lines)).encode()
        (folder / f"f{index}.{kind}").write_bytes(data)
    return mix


def run_timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, the process and the children it waited for) of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss


def bench_one(label: str, path: Path, work: Path, repeat: int) -> dict[str, float]:
    hashdeep_best = forensics_best = float("inf")
    peak = 0
    for attempt in range(repeat):
        seconds, _ = run_timed(["hashdeep", "-r", "-c", "md5,sha1,sha256", str(path)])
        hashdeep_best = min(hashdeep_best, seconds)
        case = work / f"case-{label}-{attempt}"
        subprocess.run([*FORENSICS, "case", "init", str(case), "--case-ref", "BENCH", "--examiner", "bench"],
                       check=True, stdout=subprocess.DEVNULL)
        seconds, rss = run_timed([*FORENSICS, "ingest", str(case), str(path)])
        forensics_best = min(forensics_best, seconds)
        peak = max(peak, rss)
        shutil.rmtree(case)
    return {"hashdeep": hashdeep_best, "forensics": forensics_best, "rss_mib": peak / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="where to build the files (needs 2.2 GB free)")
    parser.add_argument("--small", type=int, default=50_000, help="number of small files")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tool; the best counts")
    parser.add_argument("--keep", action="store_true", help="keep the files afterwards")
    parser.add_argument("--signature-only", action="store_true",
                        help="small files only of kinds typed without full libmagic (PHP, HTML, images)")
    parser.add_argument("--small-only", action="store_true", help="skip the two 1 GiB sets")
    args = parser.parse_args()
    if shutil.which("hashdeep") is None:
        raise SystemExit("hashdeep is not installed (make setup-test installs it)")
    work = args.dir or Path(tempfile.mkdtemp(prefix="forensics-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"building evidence in {work} ...", flush=True)
        if not args.small_only:
            for number in range(8):
                write_random(work / "tree" / f"part{number}.bin", 128 * MIB)
            write_random(work / "single" / "disk.img", 1024 * MIB)
        mix = small_web_root(work / "small", args.small, signature_only=args.signature_only)
        print(f"small files: {args.small:,} ({', '.join(f'{k} {v:,}' for k, v in mix.items())})\n", flush=True)
        print(f"{'evidence':<28}{'hashdeep':>12}{'forensics':>12}{'ratio':>9}{'target':>8}{'peak RSS':>11}")
        results = {}
        sets = [
            ("tree 8 x 128 MiB", work / "tree", 1024 * MIB, 2.0),
            ("one 1 GiB file", work / "single", 1024 * MIB, 2.0),
            (f"{args.small:,} small files", work / "small", None, 1.0),
        ]
        for label, path, size, target in sets[2:] if args.small_only else sets:
            result = bench_one(label.split()[0], path, work, args.repeat)
            ratio = result["hashdeep"] / result["forensics"]
            results[label] = ratio
            unit = (f"{size / result['hashdeep'] / 1e6:,.0f} MB/s", f"{size / result['forensics'] / 1e6:,.0f} MB/s") \
                if size else (f"{args.small / result['hashdeep']:,.0f} f/s", f"{args.small / result['forensics']:,.0f} f/s")
            print(f"{label:<28}{unit[0]:>12}{unit[1]:>12}{ratio:>8.2f}x{target:>7.1f}x{result['rss_mib']:>8.0f} MiB",
                  flush=True)
        print("\nratio = hashdeep time / forensics time (higher is better); best of", args.repeat, "runs each")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
