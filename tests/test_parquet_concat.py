"""Parquet files joined by copying their row groups read back as the files read one after the other."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from forensics.parquet_concat import _get, _Part, _Reader, concat_parquet


def frame(rng: random.Random, rows: int) -> pl.DataFrame:
    """Columns of the kinds canonical tables hold, with nulls, repeats (dictionary pages) and long texts."""
    def maybe(value: object) -> object:
        return None if rng.random() < 0.1 else value

    return pl.DataFrame({
        "id": [f"call-{rng.randrange(10**9)}" for _ in range(rows)],
        "account": [maybe(rng.choice(["7", "8", "9"])) for _ in range(rows)],
        "text": [maybe("".join(rng.choice("ab_x&é📞\n") for _ in range(rng.randrange(40)))) for _ in range(rows)],
        "n": pl.Series([maybe(rng.randrange(-(2**62), 2**62)) for _ in range(rows)], dtype=pl.Int64),
        "f": [maybe(rng.random() * 1e6) for _ in range(rows)],
        "amount": pl.Series([maybe(Decimal(rng.randrange(10**6)) / 100) for _ in range(rows)], dtype=pl.Decimal(38, 18)),
        "at": pl.Series([maybe(datetime(2022, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7)))
                         for _ in range(rows)], dtype=pl.Datetime("us", "UTC")),
        "ok": [maybe(rng.random() < 0.5) for _ in range(rows)],
    }, schema_overrides={"id": pl.String, "account": pl.String, "text": pl.String, "f": pl.Float64, "ok": pl.Boolean})


def write_parts(tmp_path: Path, sizes: list[int], seed: int = 1) -> tuple[list[Path], list[pl.DataFrame]]:
    rng = random.Random(seed)
    paths, frames = [], []
    for number, rows in enumerate(sizes):
        data = frame(rng, rows)
        path = tmp_path / f"part.{number:05d}.parquet"
        data.write_parquet(path, row_group_size=rng.choice([100, 1_000, 50_000]))
        paths.append(path)
        frames.append(data)
    return paths, frames


def check_page_indexes(path: Path) -> int:
    """Every offset index names pages inside its column chunk, first and last included; the count checked."""
    part = _Part(path)
    checked = 0
    for group in part.row_groups:
        for chunk in _get(group, 1)[1]:
            meta = _get(chunk, 3)
            start = _get(meta, 11) if _get(meta, 11) is not None else _get(meta, 9)
            if _get(chunk, 4) is None:
                continue
            with open(path, "rb") as handle:
                handle.seek(_get(chunk, 4))
                locations = _get(_Reader(handle.read(_get(chunk, 5))).fields(), 1)[1]
            assert _get(locations[0], 1) == _get(meta, 9)  # the first data page
            last = locations[-1]
            assert _get(last, 1) + _get(last, 2) == start + _get(meta, 7)  # the last page ends the chunk
            checked += 1
    return checked


@pytest.mark.parametrize("sizes", [[3_000, 7_000], [1, 0, 2_500, 10], [0], [4_000], [200] * 12])
def test_joined_files_read_back_as_the_parts_one_after_the_other(tmp_path: Path, sizes: list[int]) -> None:
    paths, frames = write_parts(tmp_path, sizes, seed=len(sizes))
    target = tmp_path / "joined.parquet"
    assert concat_parquet(paths, target)
    expected = pl.concat(frames)
    assert pl.read_parquet(target).equals(expected)
    assert pl.scan_parquet(target).select(pl.len()).collect().item() == sum(sizes)
    table = pq.read_table(target)  # a second reader, which checks offsets and sizes its own way
    assert pl.from_arrow(table).equals(expected)  # type: ignore[union-attr]
    meta = pq.ParquetFile(target).metadata
    assert meta.num_rows == sum(sizes)
    assert meta.num_row_groups == sum(pq.ParquetFile(p).metadata.num_row_groups for p in paths)
    if sum(sizes):
        assert check_page_indexes(target) > 0
        # a filter Polars may push down to row groups and pages keeps its rows
        at = expected["at"].drop_nulls()[len(expected["at"].drop_nulls()) // 2]
        assert pl.scan_parquet(target).filter(pl.col("at") == at).collect().equals(expected.filter(pl.col("at") == at))
    assert not list(tmp_path.glob(".*partial"))


def test_files_that_differ_are_not_joined(tmp_path: Path) -> None:
    paths, _ = write_parts(tmp_path, [100, 100])
    other = tmp_path / "other.parquet"
    pl.DataFrame({"id": ["a"]}).write_parquet(other)
    target = tmp_path / "joined.parquet"
    assert not concat_parquet([paths[0], other], target)
    narrower = tmp_path / "cast.parquet"  # the same names, one column of another type
    pl.read_parquet(paths[1]).with_columns(pl.col("n").cast(pl.Int32, wrap_numerical=True)).write_parquet(narrower)
    assert not concat_parquet([paths[0], narrower], target)
    not_parquet = tmp_path / "text.parquet"
    not_parquet.write_bytes(b"PAR1 this is not a footer PAR1")
    assert not concat_parquet([paths[0], not_parquet], target)
    assert not concat_parquet([], target)
    assert not target.exists() and not list(tmp_path.glob(".*partial"))


def test_other_writers_and_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, frames = write_parts(tmp_path, [500, 700])
    # a part written by another writer (pyarrow): its layout is not the one checked here
    other = tmp_path / "pyarrow.parquet"
    pq.write_table(pl.read_parquet(paths[1]).to_arrow(), other)
    target = tmp_path / "joined.parquet"
    assert not concat_parquet([paths[0], other], target)
    assert not target.exists()
    # writes that take only part of what they are given still make the whole file
    import forensics.parquet_concat as module

    real_write = module.os.write
    monkeypatch.setattr(module.os, "write", lambda fd, data: real_write(fd, bytes(data)[:512]))
    monkeypatch.setattr(module.os, "copy_file_range", lambda *a: (_ for _ in ()).throw(OSError(18, "EXDEV")))
    assert concat_parquet(paths, target)
    assert pl.read_parquet(target).equals(pl.concat(frames))


def test_an_offset_index_that_does_not_parse_falls_back(tmp_path: Path) -> None:
    paths, _ = write_parts(tmp_path, [300, 300])
    chunk = _get(_Part(paths[1]).row_groups[0], 1)[1][0]
    with open(paths[1], "r+b") as handle:  # the readers still read the part; its offset index is zeros
        handle.seek(_get(chunk, 4))
        handle.write(bytes(_get(chunk, 5)))
    target = tmp_path / "joined.parquet"
    assert not concat_parquet(paths, target)
    assert not target.exists() and not list(tmp_path.glob(".*partial"))
