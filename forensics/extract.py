"""Extract: read every source not yet read into raw tables, then (issue 4) run the plugins.

Today this stage reads the sources (see forensics.sources); mapping raw tables onto the
canonical accounts / payments / calls tables by plugins is not built yet.
"""

from __future__ import annotations

from collections.abc import Callable

from forensics.case import Case
from forensics.sources import ReadReport, output_manifest, read_sources


def extract(case: Case, command: list[str], on_problem: Callable[[str], None] | None = None,
            progress: Callable[[str], None] | None = None) -> ReadReport:
    """Read the case's unread sources under the case lock and record the run in the audit log."""
    with case.locked():
        report = ReadReport()
        outcome, message = "failed", ""
        try:
            read_sources(case, on_problem=on_problem, progress=progress, report=report)
            outcome = "problems" if report.problems else "ok"
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            case.audit.append(
                command, outcome, message,
                inputs=[{"path": m["path"], "sha256": m["sha256"]} for m in report.read],
                outputs=output_manifest(case, report.read),
                details=report.as_dict(),
            )
    return report
