"""Extract: read every source not yet read into raw tables, then run the plugins over them.

Reading sources: forensics.sources. Running plugins (and the examiner's mapping files,
forensics.mapping) into the canonical tables accounts / payments / calls:
forensics.plugins. Both are recorded in one audit entry, the mapping files as inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forensics.audit import sha256_file
from forensics.case import Case
from forensics.errors import ForensicsError
from forensics.mapping import MappingError, check, load_all
from forensics.plugin import Context
from forensics.plugins import REVIEW_FILE, Discovery, RunReport, discover, raw_tables, run_plugins
from forensics.rawtables import read_manifests
from forensics.sources import ReadReport, output_manifest, read_sources


@dataclass
class ExtractReport:
    """What extract did: the sources read, and what the plugins made of the raw tables."""

    sources: ReadReport = field(default_factory=ReadReport)
    plugins: RunReport = field(default_factory=RunReport)
    discovery: Discovery = field(default_factory=Discovery)
    mapping_files: list[dict[str, str]] = field(default_factory=list)
    region: str | None = None

    @property
    def problems(self) -> list[str]:
        """Everything recorded as a problem: sources, plugins that failed to load or to run."""
        failed_loads = [f"plugin {f['origin']}: {f['error']}" for f in self.discovery.failed]
        return self.sources.problems + failed_loads + self.plugins.failures

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {**self.sources.as_dict(), "plugins": [p.extractor for p in self.discovery.plugins],
                "plugins_failed_to_load": self.discovery.failed, "mapping_files": self.mapping_files,
                "region": self.region, "extraction": self.plugins.as_dict(), "problems": self.problems}


def extract(case: Case, command: list[str], on_problem: Callable[[str], None] | None = None,
            progress: Callable[[str], None] | None = None, plugins_dirs: list[Path] | None = None,
            only: list[str] | None = None, region: str | None = None,
            mappings: list[Path] | None = None) -> ExtractReport:
    """Read the case's unread sources and run the plugins, under the case lock, recorded in the audit log.

    region (default: the case's) is the country of phone numbers written without one;
    mappings are mapping files (forensics.mapping), checked before any table is written.
    """
    with case.locked():
        report = ExtractReport()
        outcome, message = "failed", ""
        try:
            report.discovery = discover(plugins_dirs)
            unknown = sorted(set(only or ()) - {p.name for p in report.discovery.plugins})
            if unknown:  # before anything is written: a typo must not empty tables/
                raise ForensicsError(f"--only: no plugin named {', '.join(unknown)} (see forensics plugins list)")
            review = (case.path / "tables" / REVIEW_FILE).resolve()
            for path in mappings or []:
                if path.resolve() == review:
                    raise MappingError(f"--mapping {path}: extract writes this file anew; copy it out of the "
                                       "case, edit the copy and pass that")
            entries, report.mapping_files = load_all(list(mappings or []))
            read_sources(case, on_problem=on_problem, progress=progress, report=report.sources)
            manifests = list(read_manifests(case))
            check(entries, raw_tables(case, manifests))  # before a table is written
            report.region = region or case.region
            context = Context(timezone=case.timezone, region=report.region)
            report.plugins = run_plugins(case, manifests, report.discovery, only, context, entries)
            if on_problem:
                for text in report.problems[len(report.sources.problems):]:
                    on_problem(text)
            outcome = "problems" if report.problems else "ok"
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            tables = sorted((case.path / "tables").glob("*.parquet")) if outcome != "failed" else []
            if outcome != "failed" and report.plugins.review_file:
                tables.append(case.path / report.plugins.review_file)
            case.audit.append(
                command, outcome, message,
                inputs=[{"path": m["path"], "sha256": m["sha256"]} for m in report.sources.read]
                + [{"path": f["path"], "sha256": f["sha256"], "kind": "mapping"} for f in report.mapping_files],
                outputs=output_manifest(case, report.sources.read)
                + [{"path": f"tables/{t.name}", "sha256": sha256_file(t)} for t in tables],
                details=report.as_dict(),
            )
    return report
