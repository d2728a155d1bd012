"""The worker processes that read evidence for ingest and verify.

A worker process takes about a quarter of a second to start: a Python interpreter, then
libmagic's rules. A command that will need workers starts them first (start_workers), so
that they start while the main process loads Polars and opens the case; the run then
takes them (worker_pool). This module loads nothing heavy itself.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from forensics.evidence import warm_worker

_started: dict[int, ProcessPoolExecutor] = {}


def default_workers() -> int:
    """One worker process per core, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def _new_pool(count: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"), initializer=warm_worker)


def _ready() -> None:
    """A task that does nothing: submitting one makes the pool start a process."""


def start_workers(count: int | None = None) -> None:
    """Start count worker processes (default_workers() by default) now, for worker_pool to take.

    Nothing is started for one worker (the main process reads then) or when a pool of that
    size is already waiting.
    """
    count = count or default_workers()
    if count <= 1 or count in _started:
        return
    pool = _new_pool(count)
    for _ in range(count):  # a pool starts a process for each task submitted while none is idle
        pool.submit(_ready)
    _started[count] = pool


def worker_pool(count: int) -> ProcessPoolExecutor:
    """A pool of count worker processes: the one start_workers started, or a new one. The caller
    shuts it down (a with block)."""
    return _started.pop(count, None) or _new_pool(count)
