"""An ingest stopped half way (kill -9, Ctrl-C) leaves a case that opens; running it again completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import rows_of, run, write


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    root = tmp_path / "ev"
    for folder in range(30):
        for number in range(400):
            write(root / f"d{folder:02d}" / f"f{number:04d}.php", f"<?php\n// {folder}/{number}\n" + "x" * number)
    return root


def _start_ingest(case_dir: Path, root: Path, workers: str = "1") -> subprocess.Popen:
    env = {**os.environ, "FORENSICS_FLUSH_SECONDS": "0.05"}
    return subprocess.Popen([sys.executable, "-m", "forensics.cli", "ingest", str(case_dir), str(root),
                             "--workers", workers], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for_part(case_dir: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if list((case_dir / "catalogue.parts").glob("*.parquet")):
            return
        assert process.poll() is None, "ingest ended before it could be interrupted"
        time.sleep(0.01)
    pytest.fail("no part was written within a minute")


def _clean_run(tmp_path: Path, root: Path) -> dict:
    clean = tmp_path / "clean"
    run("case", "init", clean, "--case-ref", "R", "--examiner", "E")
    run("ingest", clean, root, "--workers", "1")
    return {path: row["sha256"] for path, row in rows_of(clean).items()}


def test_kill_9_half_way_then_run_again(case_dir: Path, many_files: Path, tmp_path: Path) -> None:
    process = _start_ingest(case_dir, many_files)
    _wait_for_part(case_dir, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = rows_of(case_dir)  # the case opens and shows what was hashed before the kill
    assert 0 < len(partial) < 12030
    run("catalogue", case_dir)
    run("log", case_dir, "--verify")
    again = run("ingest", case_dir, many_files, "--workers", "1", "--json")
    assert '"resumed_rows": 0' not in again.stdout
    assert {path: row["sha256"] for path, row in rows_of(case_dir).items()} == _clean_run(tmp_path, many_files)
    assert not list((case_dir / "catalogue.parts").glob("*"))
    run("verify", case_dir)


@pytest.mark.parametrize("workers", ["1", "2"])  # read in the main process; on its threads
def test_ctrl_c_half_way_is_logged_then_run_again(case_dir: Path, many_files: Path, tmp_path: Path,
                                                  workers: str) -> None:
    process = _start_ingest(case_dir, many_files, workers)
    _wait_for_part(case_dir, process)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    log = run("log", case_dir).stdout
    assert "[interrupted]" in log
    run("log", case_dir, "--verify")
    run("ingest", case_dir, many_files, "--workers", "1")
    assert {path: row["sha256"] for path, row in rows_of(case_dir).items()} == _clean_run(tmp_path, many_files)
