"""Query: Polars SQL over a case's canonical and raw tables."""

from __future__ import annotations

import re

import polars as pl

from forensics.canonical import DERIVED, TABLES
from forensics.case import Case
from forensics.rawtables import read_manifests


def registered_tables(case: Case) -> dict[str, pl.LazyFrame]:
    """The tables a query can name: canonical and derived ones by their name, raw ones by their (cleaned) name."""
    tables: dict[str, pl.LazyFrame] = {}
    for name in [*TABLES, *DERIVED]:
        path = case.path / "tables" / f"{name}.parquet"
        if path.exists():
            tables[name] = pl.scan_parquet(path, glob=False)
    for manifest in read_manifests(case):
        for table in manifest["tables"]:
            name = re.sub(r"\W", "_", table["name"])
            if name in tables:
                name = f"raw_{name}"
            n = 1
            base = name
            while name in tables:
                n += 1
                name = f"{base}_{n}"
            tables[name] = pl.scan_parquet(case.path / table["parquet"], glob=False)
    return tables


def run_query(case: Case, sql: str) -> pl.DataFrame:
    """The result of one SQL statement over the case's tables."""
    context = pl.SQLContext(registered_tables(case), eager=False)
    return context.execute(sql).collect()
