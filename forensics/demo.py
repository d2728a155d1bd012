"""The demo: a sample seized server through every stage, from intake to the exhibit and verify.

DIR/sample holds the sample server and its truth.json (generated unless it is there
already, so a larger sample made with `forensics sample generate DIR/sample` is used as
it is); DIR/case the case; DIR/DEMO-1.xlsx the standard exhibit. Running it again goes
on with the same case: nothing is read twice and the exhibit comes out the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from forensics.case import CASE_FILE, Case, init_case, open_case
from forensics.errors import ForensicsError

CASE_REF = "DEMO-001"
EXHIBIT_REF = "DEMO-1"
EXAMINER = "Demo Examiner"


@dataclass
class DemoReport:
    """Where everything is, how long each stage took, what was found and how it compares with the truth."""

    sample: Path
    case: Path
    exhibit: Path
    seconds: dict[str, float] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    truth_differences: list[str] = field(default_factory=list)
    verified: bool = False

    @property
    def ok(self) -> bool:
        """True when verify passed, nothing was recorded as a problem and every figure is as the truth says."""
        return self.verified and not self.problems and not self.truth_differences


def run_demo(directory: Path, command: list[str], say: Callable[[str], None] = print) -> DemoReport:
    """Run every stage on the sample in directory, saying what each did."""
    from forensics.exhibit import make_exhibit
    from forensics.extract import extract
    from forensics.ingest import ingest
    from forensics.sample import generate
    from forensics.verify import verify

    sample, case_dir = directory / "sample", directory / "case"
    report = DemoReport(sample, case_dir, directory / f"{EXHIBIT_REF}.xlsx")
    truth_file = sample / "truth.json"

    def stage(name: str, work: Callable[[], Any]) -> Any:
        started = time.monotonic()
        result = work()
        report.seconds[name] = time.monotonic() - started
        return result

    if truth_file.exists():
        truth = _read_truth(truth_file)
        say(f"sample:  {sample / truth['server_dir']} (there already)")
    else:
        if sample.exists() and any(sample.iterdir()):
            raise ForensicsError(f"{sample}: holds files but no truth.json; give the demo an empty or new folder")
        truth = stage("sample", lambda: generate(sample))
        say(f"sample:  {sample / truth['server_dir']} generated in {report.seconds['sample']:.1f} s "
            f"({truth['service']['accounts']:,} accounts, {truth['service']['calls']:,} calls)")
    server = sample / truth["server_dir"]
    case = open_case(case_dir) if (case_dir / CASE_FILE).exists() else init_case(
        case_dir, CASE_REF, EXAMINER, truth["timezone"], [*command, "(case init)"])
    say(f"case:    {case_dir} ({case.case_ref}, timezone {case.timezone})")

    ingested = stage("ingest", lambda: ingest(case, [str(server)], label="EXH-DEMO-1", command=command,
                                              on_problem=report.problems.append))
    say(f"ingest:  {ingested.new:,} new and {ingested.changed:,} changed entries (files, folders, archive members), "
        f"{ingested.unchanged:,} unchanged; {ingested.bytes_read / 1e6:,.1f} MB hashed "
        f"({report.seconds['ingest']:.1f} s)")
    extracted = stage("extract", lambda: extract(case, command, on_problem=report.problems.append))
    report.problems += [p for p in extracted.plugins.failures if p not in report.problems]
    say(f"extract: {len(extracted.sources.read)} sources read, "
        + ", ".join(f"{name} {rows:,}" for name, rows in extracted.plugins.rows.items())
        + f" ({report.seconds['extract']:.1f} s)")
    made = stage("exhibit", lambda: make_exhibit(case, EXHIBIT_REF, report.exhibit, command))
    say(f"exhibit: {report.exhibit} ({len(made.sheets)} tables, {sum(s['rows'] for s in made.sheets):,} rows on "
        f"{sum(len(s['sheets']) for s in made.sheets)} sheets after the cover, SHA-256 {made.sha256[:16]}...; "
        f"{report.seconds['exhibit']:.1f} s)")
    checked = stage("verify", lambda: verify(case, command=command))
    report.verified = checked.ok
    say(f"verify:  {'everything matches' if checked.ok else '; '.join(checked.lines()[:3])} "
        f"({report.seconds['verify']:.1f} s)")
    report.found = _found(case)
    report.truth_differences = _compare(case, report.found, truth)
    say("found:   " + ", ".join(f"{name} {count:,}" for name, count in report.found.items()))
    if report.truth_differences:
        say("truth:   DIFFERS: " + "; ".join(report.truth_differences))
    else:
        say(f"truth:   as {truth_file} says: rows of every table and per source, victims' calls, "
            "answered calls and durations")
    for problem in report.problems:
        say(f"problem: {problem}")
    return report


def _read_truth(path: Path) -> dict[str, Any]:
    import json

    try:
        truth: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        truth["server_dir"], truth["timezone"], truth["pipeline"]  # noqa: B018 - the keys the demo needs
    except (OSError, ValueError, KeyError) as exc:
        raise ForensicsError(f"{path}: not a sample's truth file ({exc})") from None
    return truth


def _found(case: Case) -> dict[str, int]:
    """Rows of each canonical and derived table."""
    found = {}
    for name in ("accounts", "payments", "calls", "victims", "account_summary"):
        path = case.path / "tables" / f"{name}.parquet"
        found[name] = pl.scan_parquet(path, glob=False).select(pl.len()).collect().item() if path.exists() else 0
    return found


def _compare(case: Case, found: dict[str, int], truth: dict[str, Any]) -> list[str]:
    """The figures that are not what truth.json says the pipeline gives: rows per table and per source, victims' totals."""
    pipeline = truth["pipeline"]
    differences = [f"{name}: {found.get(name, 0):,} rows, truth says {count:,}"
                   for name, count in pipeline.get("tables", {}).items() if found.get(name, 0) != count]
    tables = case.path / "tables"
    for name in ("accounts", "payments", "calls"):
        per_source = dict(pl.read_parquet(tables / f"{name}.parquet", columns=["_source_path"], glob=False)
                          .group_by("_source_path").len().iter_rows())
        for path, counts in pipeline.get("sources", {}).items():
            if name in counts and per_source.get(path, 0) != counts[name]:
                differences.append(f"{name} from {path}: {per_source.get(path, 0):,} rows, truth says {counts[name]:,}")
    victims = pipeline.get("victims", {})
    totals = pl.read_parquet(tables / "victims.parquet", glob=False).select(
        pl.col("calls", "answered_calls", "total_duration_s", "total_billed_s").sum()).row(0, named=True)
    differences += [f"victims' {column}: {totals[column]:,}, truth says {victims[column]:,}"
                    for column in totals if column in victims and totals[column] != victims[column]]
    return differences
