"""Shared fixtures: a CLI runner, a fresh case, and evidence trees the tests build themselves."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result

from forensics.case import Case, open_case
from forensics.catalogue import current_rows, read_catalogue
from forensics.cli import cli

pytest_plugins = ["dbservers"]  # fixtures mariadb, postgres: private DB servers as oracles

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REQUIRE_SHARED = os.environ.get("FORENSICS_REQUIRE_SHARED_DATA") == "1"
REQUIRE_TOOLS = os.environ.get("FORENSICS_REQUIRE_TOOLS") == "1"


def need_tool(name: str) -> str:
    """The path of an external tool; skip (or fail, in CI) when it is missing."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (make test installs it)"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    return found


def need_shared_data() -> Path:
    """../shared/data, or skip (fail in CI) when this clone has none."""
    if not (SHARED_DATA / "MANIFEST.tsv").exists():
        message = f"shared test data not found at {SHARED_DATA} (only CI and project machines have it)"
        if REQUIRE_SHARED:
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


class OneWay(io.RawIOBase):
    """A stream that cannot seek, as an archive member's may be; max_read makes its reads short too."""

    def __init__(self, data: bytes, max_read: int | None = None) -> None:
        self.inner = io.BytesIO(data)
        self.max_read = max_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.inner.read(min(len(buffer), self.max_read or len(buffer)))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def run(*args: str | os.PathLike[str], expect: int | None = 0) -> Result:
    """Run the forensics CLI in-process; check the exit code unless expect is None."""
    result = CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)
    if expect is not None:
        assert result.exit_code == expect, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    """A freshly made case folder."""
    path = tmp_path / "case"
    run("case", "init", path, "--case-ref", "OP-TEST-1", "--examiner", "Test Examiner", "--timezone", "Europe/London")
    return path


@pytest.fixture
def sample_case(tmp_path: Path) -> Path:
    """A case with samples/make_evidence.py's small server ingested (not yet extracted)."""
    import subprocess
    import sys

    evidence = tmp_path / "evidence"
    subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "samples" / "make_evidence.py"),
                    str(evidence)], check=True, capture_output=True)
    case = tmp_path / "sample-case"
    run("case", "init", case, "--case-ref", "OP-1", "--examiner", "E", "--timezone", "Europe/London")
    run("ingest", case, evidence, expect=3)  # the sample holds a damaged zip
    return case


@pytest.fixture
def open_test_case(case_dir: Path) -> Case:
    return open_case(case_dir)


def rows_of(case_dir: Path) -> dict[str, dict]:
    """The current catalogue rows keyed by path."""
    frame = current_rows(read_catalogue(open_case(case_dir)))
    return {row["path"]: row for row in frame.iter_rows(named=True)}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def tree_state(root: Path) -> dict[str, tuple]:
    """Hash, size, mode and mtime (ns) of every file and folder below root, links not followed."""
    state: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOATIME", 0))  # reading must not re-time it
                with os.fdopen(fd, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            state[path] = (digest, st.st_size, st.st_mtime_ns, st.st_mode)
    return state


@pytest.fixture
def catalogue_frame() -> Callable[[Path], pl.DataFrame]:
    return lambda case_path: read_catalogue(open_case(case_path))
