"""The audit trail: audit.jsonl, append-only, each entry chained to the one before by SHA-256.

Every entry is one JSON line. Its ``prev_sha256`` is the SHA-256 of the exact bytes of the
previous line (without its newline); the first entry uses 64 zeros. ``audit.head`` holds the
number of entries and the hash of the last line, so that removing entries from the end is
detected too.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forensics import __version__

GENESIS = "0" * 64
AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> str:
    """The current UTC time as ISO 8601 with microseconds and a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_user() -> str:
    """The login name running the tool, or the uid where there is none."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return f"uid:{os.getuid()}"


@dataclass(frozen=True)
class AuditProblem:
    """One reason the trail cannot be trusted, naming the entry (1-based line number)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"audit.jsonl line {self.line}: {self.reason}"


class AuditLog:
    """Append to, read and check the audit trail of one case folder."""

    def __init__(self, case_dir: Path) -> None:
        self.path = case_dir / AUDIT_FILE
        self.head_path = case_dir / HEAD_FILE

    def _last_line(self) -> tuple[int, str]:
        """Number of entries and SHA-256 of the last line (GENESIS if empty)."""
        count, last = 0, GENESIS
        if self.path.exists():
            with open(self.path, "rb") as handle:
                for raw in handle:
                    line = raw.rstrip(b"\n")
                    if line:
                        count += 1
                        last = hashlib.sha256(line).hexdigest()
        return count, last

    def append(
        self,
        command: list[str],
        outcome: str,
        message: str = "",
        inputs: list[dict[str, Any]] | None = None,
        outputs: list[dict[str, Any]] | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry chained to the last one; return it."""
        count, prev = self._last_line()
        entry: dict[str, Any] = {
            "seq": count + 1,
            "time_utc": utc_now(),
            "user": current_user(),
            "host": socket.gethostname(),
            "tool": "forensics",
            "tool_version": __version__,
            "python": sys.version.split()[0],
            "command": command,
            "inputs": inputs or [],
            "outputs": outputs or [],
            "outcome": outcome,
            "message": message,
            "details": details or {},
            "prev_sha256": prev,
        }
        # A name that is not UTF-8 (surrogate-escaped by the OS layer) is kept as a \udcXX JSON escape.
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8", "backslashreplace")
        with open(self.path, "ab") as handle:
            handle.write(line + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        head = {"entries": count + 1, "last_sha256": hashlib.sha256(line).hexdigest()}
        tmp = self.head_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(head) + "\n", encoding="utf-8")
        os.replace(tmp, self.head_path)
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry in order (unverified: use verify() to check the chain)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\n")
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    yield {"seq": None, "unreadable": f"line {number}: {exc}"}

    def verify(self) -> list[AuditProblem]:
        """Check the chain; return the problems found, the first bad entry first."""
        problems: list[AuditProblem] = []
        prev = GENESIS
        count = 0
        if not self.path.exists():
            return [AuditProblem(0, "audit.jsonl is missing")]
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\n")
                if not line:
                    problems.append(AuditProblem(number, "empty line"))
                    continue
                count += 1
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as exc:
                    problems.append(AuditProblem(number, f"not valid JSON ({exc.msg})"))
                    prev = hashlib.sha256(line).hexdigest()
                    continue
                if entry.get("prev_sha256") != prev:
                    problems.append(
                        AuditProblem(
                            number,
                            f"chain broken: prev_sha256 does not match line {number - 1}, the entry before "
                            f"(line {number - 1} was edited, or entries were removed or reordered here)",
                        )
                    )
                if entry.get("seq") != count:
                    problems.append(
                        AuditProblem(number, f"sequence number {entry.get('seq')} where {count} was due")
                    )
                prev = hashlib.sha256(line).hexdigest()
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(AuditProblem(count, f"audit.head unreadable ({exc})"))
            return problems
        if head.get("entries") != count or head.get("last_sha256") != prev:
            problems.append(
                AuditProblem(
                    count,
                    f"audit.head records {head.get('entries')} entries ending in "
                    f"{str(head.get('last_sha256'))[:12]}..., the file has {count} ending in "
                    f"{prev[:12]}... (the last entry was edited, entries were removed from the end, "
                    "or audit.head was altered)",
                )
            )
        return problems
