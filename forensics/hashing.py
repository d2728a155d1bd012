"""MD5, SHA-1 and SHA-256 of one stream in a single read.

hashlib releases the GIL on large buffers, so for big inputs MD5 (the slowest of the three)
runs on a helper thread while SHA-1 and SHA-256 run on the caller's thread: one file is
hashed by two cores at once.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

CHUNK_SIZE = 1 << 20
THREADED_MIN = 256 * 1024

_md5_pool: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _md5_pool
    if _md5_pool is None:
        _md5_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="md5")
    return _md5_pool


@dataclass(frozen=True)
class Digests:
    """The three digests of one byte stream, as lowercase hex, and its length."""

    size: int
    md5: str
    sha1: str
    sha256: str


class MultiHash:
    """Feed chunks with update(); read the result with digests()."""

    __slots__ = ("_md5", "_pending", "_sha1", "_sha256", "size")

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._pending: Future[None] | None = None
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Add a chunk. The chunk must not be changed afterwards (bytes are immutable)."""
        self.size += len(chunk)
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        if len(chunk) >= THREADED_MIN:
            self._pending = _pool().submit(self._md5.update, chunk)
        else:
            self._md5.update(chunk)
        self._sha1.update(chunk)
        self._sha256.update(chunk)

    def digests(self) -> Digests:
        """Finish and return the digests."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return Digests(self.size, self._md5.hexdigest(), self._sha1.hexdigest(), self._sha256.hexdigest())


def digest_bytes(data: bytes) -> Digests:
    """The three digests of a bytes object (small ones: no helper thread)."""
    return Digests(
        len(data),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
        hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
