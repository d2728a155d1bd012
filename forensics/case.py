"""The case folder: case.json, the audit trail, and the paths every stage writes to."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forensics import __version__
from forensics.audit import AuditLog, sha256_file, utc_now
from forensics.errors import ForensicsError

CASE_FILE = "case.json"
LOCK_FILE = ".lock"
CASE_SUBDIRS = ("raw", "tables", "exhibits", "tmp")


@dataclass(frozen=True)
class Case:
    """An open case folder."""

    path: Path
    case_ref: str
    examiner: str
    timezone: str
    created: str
    tool_version: str
    region: str | None = None  # default country of phone numbers written without one (None: cases made before)

    @property
    def audit(self) -> AuditLog:
        """The case's audit trail."""
        return AuditLog(self.path)

    @property
    def catalogue_path(self) -> Path:
        """Where the catalogue of received files is kept."""
        return self.path / "catalogue.parquet"

    @property
    def parts_dir(self) -> Path:
        """Where an ingest in progress writes its rows before they are merged."""
        return self.path / "catalogue.parts"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space inside the case (archive members spooled for reading)."""
        return self.path / "tmp"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the case's lock so that two commands never change it at once."""
        with open(self.path / LOCK_FILE, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ForensicsError(f"{self.path}: another forensics command is changing this case") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


ZONE_TABLES = ("zone.tab", "zone1970.tab")


def region_of_timezone(timezone: str) -> str | None:
    """The country (ISO 3166 code) an IANA timezone belongs to, or None where it is not one country's.

    Read from the timezone database's zone.tab (each zone with the one country it is
    listed for), else zone1970.tab where it lists one country only; from /usr/share/zoneinfo,
    or the tzdata package. UTC, Etc/... and old link names give None.
    """
    import phonenumbers

    for name in ZONE_TABLES:
        for text in _zone_table(name):
            for line in text.splitlines():
                fields = line.split("\t")
                if line.startswith("#") or len(fields) < 3 or fields[2] != timezone:
                    continue
                countries = fields[0].split(",")
                if len(countries) == 1 and countries[0] in phonenumbers.SUPPORTED_REGIONS:
                    return countries[0]
    return None


def _zone_table(name: str) -> Iterator[str]:
    """The text of a tzdata table, from the system's database and from the tzdata package."""
    system = Path("/usr/share/zoneinfo") / name
    if system.is_file():
        yield system.read_text(encoding="utf-8", errors="replace")
    try:
        from importlib.resources import files

        yield (files("tzdata") / "zoneinfo" / name).read_text(encoding="utf-8", errors="replace")
    except (ImportError, OSError):
        return


def check_region(region: str) -> str:
    """The region upper-cased, or ForensicsError when libphonenumber does not know it."""
    import phonenumbers

    upper = region.strip().upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise ForensicsError(f"unknown phone region {region!r} (use an ISO 3166 code such as GB)")
    return upper


def init_case(path: Path, case_ref: str, examiner: str, timezone: str, command: list[str],
              region: str | None = None) -> Case:
    """Make a new case folder; refuse a folder that holds anything but an empty folder.

    region is the default country of phone numbers written without one; without it, the
    country of the timezone where that is one country (Europe/London: GB), else none.
    """
    if not case_ref.strip():
        raise ForensicsError("--case-ref must not be empty")
    if not examiner.strip():
        raise ForensicsError("--examiner must not be empty")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ForensicsError(f"unknown timezone {timezone!r} (use an IANA name such as Europe/London)") from None
    region = check_region(region) if region else region_of_timezone(timezone)
    if path.exists():
        if not path.is_dir():
            raise ForensicsError(f"{path}: exists and is not a folder")
        if (path / CASE_FILE).exists():
            raise ForensicsError(f"{path}: is already a case (case.json exists)")
        if any(path.iterdir()):
            raise ForensicsError(f"{path}: folder is not empty and is not a case; refusing to use it")
    path.mkdir(parents=True, exist_ok=True)
    for sub in CASE_SUBDIRS:
        (path / sub).mkdir(exist_ok=True)
    meta = {
        "case_ref": case_ref,
        "examiner": examiner,
        "timezone": timezone,
        "region": region,
        "created": utc_now(),
        "tool_version": __version__,
    }
    (path / CASE_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    case = open_case(path)
    case.audit.append(
        command,
        "ok",
        f"case {case_ref} created",
        outputs=[{"path": CASE_FILE, "sha256": sha256_file(path / CASE_FILE)}],
        details=meta,
    )
    return case


def open_case(path: Path) -> Case:
    """Open an existing case folder, or fail with a message naming it."""
    meta_path = path / CASE_FILE
    if not meta_path.is_file():
        raise ForensicsError(f"{path}: not a case folder (no case.json); make one with 'forensics case init'")
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ForensicsError(f"{meta_path}: unreadable ({exc})") from None
    return Case(
        path=path,
        case_ref=meta["case_ref"],
        examiner=meta["examiner"],
        timezone=meta.get("timezone", "UTC"),
        created=meta.get("created", ""),
        tool_version=meta.get("tool_version", ""),
        region=meta.get("region"),
    )
