"""Finding extraction plugins and running them over the raw tables into the canonical tables.

Plugins are found in the built-in folder plugins/ (beside the package in a source tree,
forensics/builtin_plugins/ in an installed wheel), in every folder given with
--plugins-dir or in FORENSICS_PLUGINS (separated by ':'), and through the entry-point
group "forensics.plugins". Each raw table is given to each plugin that accepts it; a
plugin with FALLBACK = True (the recogniser) is given only the raw tables that no other
plugin accepts. A raw table named in a mapping file (--mapping) is mapped by that file
alone. What comes back is checked against the canonical schema, given its provenance, and
written to tables/<name>.parquet. A plugin that fails to load, raises, or returns a wrong
shape is recorded and the others go on.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

from forensics.canonical import PROVENANCE, TABLES, conform, unparsed_counts
from forensics.case import Case
from forensics.mapping import TableMapping, apply, claims
from forensics.parquet_concat import concat_parquet
from forensics.plugin import LOCATOR, Accepts, Context, RawTable

_PACKAGED_DIR = Path(__file__).resolve().parent / "builtin_plugins"  # where a wheel carries them
BUILTIN_DIR = _PACKAGED_DIR if _PACKAGED_DIR.is_dir() else Path(__file__).resolve().parent.parent / "plugins"
REVIEW_FILE = "recognised-mapping.toml"  # in tables/: what the recogniser mapped, for the examiner to review
ENTRY_POINT_GROUP = "forensics.plugins"
REQUIRED = ("NAME", "VERSION", "PRODUCES", "ACCEPTS", "extract")


@dataclass
class Plugin:
    """A loaded plugin and where it came from."""

    name: str
    version: str
    produces: tuple[str, ...]
    accepts: Accepts
    origin: str
    module: ModuleType
    description: str
    fallback: bool = False  # FALLBACK = True: only raw tables that no other plugin accepts

    @property
    def extractor(self) -> str:
        """name@version, as the provenance column says it."""
        return f"{self.name}@{self.version}"


@dataclass
class Discovery:
    """The plugins found, and those that could not be loaded, with why."""

    plugins: list[Plugin] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


def plugin_dirs(extra: list[Path] | None = None) -> list[Path]:
    """The folders searched: built-in, then --plugins-dir, then FORENSICS_PLUGINS."""
    folders = [BUILTIN_DIR, *(extra or [])]
    folders += [Path(p) for p in os.environ.get("FORENSICS_PLUGINS", "").split(os.pathsep) if p]
    return folders


def discover(extra_dirs: list[Path] | None = None) -> Discovery:
    """Load every plugin from the folders and the entry points."""
    found = Discovery()
    for folder in plugin_dirs(extra_dirs):
        if not folder.is_dir():
            if folder != BUILTIN_DIR:
                found.failed.append({"origin": str(folder), "error": "plugin folder not found"})
            continue
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith(("_", "test_")):
                continue
            _add(found, str(path), lambda p=path: _load_file(p))
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        _add(found, f"entry point {entry.name} ({entry.value})", entry.load)
    return found


def _add(found: Discovery, origin: str, load: Any) -> None:
    try:
        module = load()
        plugin = from_module(module, origin)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the others
        found.failed.append({"origin": origin, "error": f"{type(exc).__name__}: {exc}"})
        return
    if any(p.name == plugin.name for p in found.plugins):
        found.failed.append({"origin": origin, "error": f"a plugin named {plugin.name} was found before it"})
        return
    found.plugins.append(plugin)


def _load_file(path: Path) -> ModuleType:
    name = f"forensics_plugin_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def from_module(module: ModuleType, origin: str) -> Plugin:
    """A Plugin from a module that follows the contract (see forensics.plugin)."""
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    produces = tuple(module.PRODUCES)
    unknown = [t for t in produces if t not in TABLES]
    if unknown:
        raise ValueError(f"PRODUCES names tables that are not canonical: {', '.join(unknown)}")
    if not isinstance(module.ACCEPTS, Accepts):
        raise ValueError("ACCEPTS must be a forensics.plugin.Accepts")
    description = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return Plugin(str(module.NAME), str(module.VERSION), produces, module.ACCEPTS, origin, module, description,
                  fallback=getattr(module, "FALLBACK", False) is True)


@dataclass
class RunReport:
    """What the plugins made: rows per canonical table, and what failed."""

    rows: dict[str, int] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)  # raw tables a mapping file left unmapped
    recognised: list[dict[str, Any]] = field(default_factory=list)  # what plugins handed in for review
    review_file: str | None = None  # tables/recognised-mapping.toml when written

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"rows": self.rows, "runs": self.runs, "failures": self.failures, "excluded": self.excluded,
                "recognised": self.recognised, "review_file": self.review_file}


def raw_tables(case: Case, manifests: list[dict[str, Any]]) -> list[RawTable]:
    """Every raw table of the case as plugins see it, in a stable order."""
    tables = []
    for manifest in sorted(manifests, key=lambda m: (m["path"], m["sha256"])):
        for info in manifest["tables"]:
            columns = [c["name"] for c in info["columns"]]
            frame = pl.scan_parquet(case.path / info["parquet"], glob=False)
            tables.append(RawTable(
                name=info["name"], columns=columns,
                declared_types={c["name"]: c["declared_type"] for c in info["columns"]},
                source_path=manifest["path"], source_sha256=manifest["sha256"], source_format=manifest["format"],
                frame=frame.select(*[pl.col(c) for c in columns], _locator(info["locator"]).alias(LOCATOR)),
            ))
    return tables


def _locator(names: list[str]) -> pl.Expr:
    """The locator columns of a raw table as one text: 'line 12, offset 3456', 'rowid 7', 'line 4'."""
    if not names:
        return pl.lit(None, pl.String)
    words = [name.lstrip("_") for name in names]
    parts: list[pl.Expr | str] = []
    for index, (word, name) in enumerate(zip(words, names, strict=True)):
        parts += ([", "] if index else []) + [f"{word} ", pl.col(name).cast(pl.String)]
    return pl.concat_str([p if isinstance(p, pl.Expr) else pl.lit(p) for p in parts])


def run_plugins(case: Case, manifests: list[dict[str, Any]], discovery: Discovery, only: list[str] | None = None,
                context: Context | None = None, mappings: list[TableMapping] | None = None) -> RunReport:
    """Run the mappings and plugins over every raw table they take and write tables/<name>.parquet."""
    report = RunReport()
    context = context or Context(timezone=case.timezone)
    plugins = [p for p in discovery.plugins if not only or p.name in only]
    specific = [p for p in discovery.plugins if not p.fallback]  # whatever --only says: never mapped twice
    out_dir = case.path / "tables"
    work = case.path / "tables.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    parts: dict[str, list[Path]] = {name: [] for name in TABLES}
    reviews: list[tuple[Any, RawTable]] = []
    for table in raw_tables(case, manifests):
        claimed = claims(mappings or [], table)
        if claimed is not None:  # the examiner's mapping file decides this table alone
            for mapping in claimed:
                _run_one(report, parts, work, table, mapping.extractor, (str(mapping.produces),),
                         lambda m=mapping, t=table: apply(m, t, context), None)
            if not claimed:
                report.excluded.append({"source": table.source_path, "table": table.name})
            continue
        taken = any(p.accepts.matches(table.name, table.columns, table.source_path) for p in specific)
        for plugin in plugins:
            if (plugin.fallback and taken) or not plugin.accepts.matches(table.name, table.columns, table.source_path):
                continue
            context.reviews.clear()
            run = _run_one(report, parts, work, table, plugin.extractor, plugin.produces,
                           lambda p=plugin, t=table: p.module.extract(t, context), getattr(plugin.module, "__file__", None))
            for item in context.reviews:
                reviews.append((item, table))
                record = {"source": table.source_path, **item.as_dict()}
                report.recognised.append(record)
                run.setdefault("recognised", []).append(record)
            context.reviews.clear()
    out_dir.mkdir(exist_ok=True)
    for name, files in parts.items():
        target = work / f"{name}.parquet"
        if files:
            if not concat_parquet(files, target):  # parts that cannot be joined as they are: decoded and written again
                pl.concat([pl.scan_parquet(f, glob=False) for f in files], how="vertical").sink_parquet(target)
        else:
            pl.DataFrame(schema=_full_schema(name)).write_parquet(target)
        report.rows[name] = pl.scan_parquet(target, glob=False).select(pl.len()).collect().item()
        os.replace(target, out_dir / f"{name}.parquet")
    _write_derived(out_dir, work, report)
    if any(p.fallback for p in plugins):
        (work / REVIEW_FILE).write_text(_review_text(reviews), encoding="utf-8")
        os.replace(work / REVIEW_FILE, out_dir / REVIEW_FILE)
        report.review_file = f"tables/{REVIEW_FILE}"
    shutil.rmtree(work, ignore_errors=True)
    return report


def _run_one(report: RunReport, parts: dict[str, list[Path]], work: Path, table: RawTable, extractor: str,
             produces: tuple[str, ...], call: Any, own_file: str | None) -> dict[str, Any]:
    """One plugin or mapping on one raw table: its tables written as parts, or its failure recorded."""
    run: dict[str, Any] = {"plugin": extractor, "source": table.source_path, "table": table.name, "rows": {}}
    try:
        for name, frame in _checked(produces, call()).items():
            part = work / f"{name}.{len(parts[name]):05d}.parquet"
            _with_provenance(name, frame, table, extractor).sink_parquet(part)  # as the table is written: joined as it is
            count = pl.scan_parquet(part, glob=False).select(pl.len()).collect().item()
            parts[name].append(part)
            run["rows"][name] = count
            unparsed = unparsed_counts(name, pl.scan_parquet(part, glob=False))
            if unparsed:  # kept: the row stays, its normalised value is null beside its text
                run.setdefault("unparsed", {})[name] = unparsed
    except Exception as exc:  # noqa: BLE001 - one plugin's failure must not stop the others
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if f.filename == own_file]
        where = (own or frames)[-1]  # the plugin's own line where it has one, else where the core refused
        message = (f"{extractor} on {table.source_path} table {table.name}: "
                   f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
        report.failures.append(message)
        run["error"] = message
    report.runs.append(run)
    return run


def _review_text(reviews: list[tuple[Any, RawTable]]) -> str:
    """tables/recognised-mapping.toml: what the recogniser mapped, and what it did not, as a mapping file."""
    from forensics.mapping import to_toml

    header = ("What the recogniser made of the raw tables that no plugin and no --mapping file took.\n"
              "Confidence is 0 to 1; evidence after each column. Tables below the threshold are not\n"
              "mapped: their best guess is here commented out. Review it: correct a column, delete\n"
              "a line, uncomment a table, or set exclude = true; copy the file out of tables/ (extract\n"
              "writes it anew on every run) and pass it back with: forensics extract CASE --mapping FILE\n")
    if not reviews:
        header += "\nNo raw table was left for the recogniser.\n"
    return to_toml([item.to_toml(table.source_path) for item, table in reviews], header)


def _write_derived(out_dir: Path, work: Path, report: RunReport) -> None:
    """victims and account_summary, from the canonical tables just written."""
    from forensics.derived import derived_tables

    scans = {name: pl.scan_parquet(out_dir / f"{name}.parquet", glob=False) for name in TABLES}
    for name, frame in derived_tables(scans["accounts"], scans["payments"], scans["calls"]).items():
        target = work / f"{name}.parquet"
        frame.write_parquet(target)  # grouped: small beside the calls it sums up
        report.rows[name] = pl.scan_parquet(target, glob=False).select(pl.len()).collect().item()
        os.replace(target, out_dir / f"{name}.parquet")


def _checked(produces: tuple[str, ...], result: Any) -> dict[str, pl.LazyFrame]:
    if not isinstance(result, dict):
        raise TypeError(f"extract returned {type(result).__name__}, not a dict of table name to LazyFrame")
    for name, frame in result.items():
        if name not in produces:
            raise ValueError(f"returned table {name!r}, which PRODUCES does not declare")
        if not isinstance(frame, pl.LazyFrame | pl.DataFrame):
            raise TypeError(f"{name}: {type(frame).__name__} is not a LazyFrame")
    return {name: frame.lazy() for name, frame in result.items()}


def _with_provenance(name: str, frame: pl.LazyFrame, table: RawTable, extractor: str) -> pl.LazyFrame:
    if LOCATOR not in frame.collect_schema():
        raise ValueError(f"{name}: the rows lost their {LOCATOR} column (build them with table.select(...))")
    body = conform(name, frame)
    return pl.concat([body, frame.select(
        pl.lit(table.source_sha256).alias("_source_sha256"),
        pl.lit(table.source_path).alias("_source_path"),
        pl.lit(table.name).alias("_source_table"),
        pl.col(LOCATOR).cast(pl.String),
        pl.lit(extractor).alias("_extractor"),
    )], how="horizontal")


def try_plugin(plugin: Plugin | ModuleType | str | Path, columns: dict[str, list[Any]], table: str = "example",
               source_path: str = "example.csv", context: Context | None = None) -> dict[str, pl.DataFrame]:
    """Run one plugin on a small raw table given as columns of values, as extract would; return its tables.

    For examiners testing a plugin in a few lines:

        from forensics.plugins import try_plugin
        tables = try_plugin("my-plugins/spoofer.py", {"id": ["1"], "login": ["shadow"]}, table="users")
        assert tables["accounts"]["username"].to_list() == ["shadow"]
    """
    if isinstance(plugin, str | Path):
        plugin = from_module(_load_file(Path(plugin)), str(plugin))
    elif isinstance(plugin, ModuleType):
        plugin = from_module(plugin, plugin.__name__)
    frame = pl.DataFrame({name: pl.Series(name, values, dtype=_dtype_of(values)) for name, values in columns.items()})
    height = frame.height
    raw = RawTable(name=table, columns=list(columns), declared_types=dict.fromkeys(columns),
                   source_path=source_path, source_sha256="0" * 64, source_format="example",
                   frame=frame.lazy().with_columns(
                       pl.format("line {}", pl.int_range(1, height + 1)).alias(LOCATOR)))
    if not plugin.accepts.matches(table, list(columns), source_path):
        raise ValueError(f"{plugin.name} does not accept a table {table!r} with columns {', '.join(columns)} "
                         f"from {source_path}")
    result = _checked(plugin.produces, plugin.module.extract(raw, context or Context()))
    return {name: _with_provenance(name, frame, raw, plugin.extractor).collect() for name, frame in result.items()}


def _dtype_of(values: list[Any]) -> pl.DataType:
    return pl.Binary() if any(isinstance(v, bytes) for v in values) else pl.String()


def _full_schema(name: str) -> pl.Schema:
    return pl.Schema({c.name: c.dtype for c in TABLES[name] + PROVENANCE})
