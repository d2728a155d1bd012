"""Verify: re-read all evidence and the case itself, and say what no longer matches."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forensics.archives import Limits, tmp_dir_for
from forensics.audit import sha256_file
from forensics.case import Case
from forensics.catalogue import COLUMN_NAMES, disk_rows
from forensics.evidence import DiskEntry, as_tuple, evidence_location, stat_row, walk
from forensics.ingest import case_inside, one_line, run_pool
from forensics.workers import default_workers


@dataclass
class VerifyReport:
    """Everything verify found; ok only when every list is empty."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    case_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when evidence and case match the catalogue and the audit trail."""
        return not (self.missing or self.changed or self.new or self.case_problems)

    def lines(self) -> list[str]:
        """One line per problem, each naming the file."""
        return ([f"MISSING {p}" for p in self.missing] + [f"CHANGED {p}" for p in self.changed]
                + [f"NEW {p}" for p in self.new] + [f"CASE {p}" for p in self.case_problems])

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {"ok": self.ok, "checked": self.checked, "missing": self.missing, "changed": self.changed,
                "new": self.new, "case_problems": self.case_problems}


def _check_case_files(case: Case, report: VerifyReport) -> None:
    """The audit chain holds, and each case file still has the hash the log last recorded."""
    report.case_problems.extend(str(problem) for problem in case.audit.verify())
    last_hash: dict[str, str] = {}
    for entry in case.audit.entries():
        for output in entry.get("outputs", []):
            if isinstance(output, dict) and output.get("path") and output.get("sha256"):
                last_hash[output["path"]] = output["sha256"]
            elif isinstance(output, dict) and output.get("path") and output.get("removed"):
                last_hash.pop(output["path"], None)  # a later command removed it, and said so
    for rel, expected in sorted(last_hash.items()):
        path = case.path / rel
        if not path.exists():
            report.case_problems.append(f"{path}: recorded in the audit log but missing")
        elif sha256_file(path) != expected:
            report.case_problems.append(f"{path}: SHA-256 differs from the one the audit log recorded")


def verify(case: Case, workers: int | None = None, progress: Callable[[int, int], None] | None = None,
           command: list[str] | None = None) -> VerifyReport:
    """Re-hash every file on disk and compare with the catalogue; check the case's own files."""
    report = VerifyReport()
    _check_case_files(case, report)
    compared = ["kind", "size", "sha256", "md5", "sha1", "link_target", "mtime"]
    rows = disk_rows(case, ["root", "path", "root_kind", "error", *compared])
    expected: dict[tuple[str, str], dict[str, Any]] = {
        (row["root"], row["path"]): row for row in rows.iter_rows(named=True)
    }
    seen: set[tuple[str, str]] = set()

    def compare(result: tuple[list[tuple[Any, ...]], int], entry: DiskEntry) -> None:
        now = dict(zip(COLUMN_NAMES, result[0][0], strict=True))
        key = (now["root"], now["path"])
        seen.add(key)
        report.checked += 1
        if progress is not None:
            progress(1, int(now.get("size") or 0))
        before = expected.get(key)
        if before is None:
            report.new.append(one_line(evidence_location(*key, entry.root_kind)))
            return
        # Hashes are compared whenever they were made now, whatever else the row says (a file that
        # moved while it was read still gets its hashes compared); only hashes not made are passed over.
        differences = [
            name for name in compared
            if before.get(name) != now.get(name) and not (name in ("md5", "sha1", "sha256") and now.get(name) is None
                                                          and now.get("error"))
        ]
        if now.get("error") and now.get("error") != before.get("error"):
            differences.append(f"{'now unreadable' if now.get('sha256') is None else 'now'}: {now['error']}")
        if differences:
            where = one_line(evidence_location(*key, before["root_kind"]))
            report.changed.append(f"{where} ({', '.join(differences)})")

    def entries():  # type: ignore[no-untyped-def]
        for root in sorted({root for root, _ in expected}):
            if not os.path.lexists(root):
                continue
            for entry in walk(root, exclude=case_inside(case, root)):
                if entry.is_file:
                    yield entry
                else:
                    compare(([as_tuple(stat_row(entry), COLUMN_NAMES, {})], 0), entry)

    run_pool(entries(), compare, Limits(), tmp_dir_for(case.tmp_dir), False,
             workers or default_workers(), open_archives=False)
    for key in sorted(set(expected) - seen):
        report.missing.append(one_line(evidence_location(*key, expected[key]["root_kind"])))
    case.audit.append(
        command or ["forensics", "verify", os.fspath(case.path)],
        "ok" if report.ok else "mismatch",
        f"{report.checked} checked: {len(report.missing)} missing, {len(report.changed)} changed, "
        f"{len(report.new)} new, {len(report.case_problems)} case problems",
        details={**report.as_dict(), "missing": report.missing[:1000], "changed": report.changed[:1000],
                 "new": report.new[:1000]},
    )
    return report
