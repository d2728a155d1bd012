"""The worker processes that read evidence for ingest and verify."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def default_workers() -> int:
    """One worker process per core, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def worker_pool(count: int) -> ProcessPoolExecutor:
    """A pool of count worker processes, started as tasks come ("spawn": a fresh interpreter,
    whatever threads this process runs). The caller shuts it down."""
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
