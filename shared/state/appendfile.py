"""An append-only text file with one writer: an exclusive lock and crash repair.

The writer holds ``fcntl.flock(LOCK_EX)`` on the file for its whole life, so a second
writer (another process, or a second handle in this one) fails at once with
``JournalLockedError`` instead of interleaving rows. Locks are advisory and local: readers
take none, and the artifacts directory must be on a local filesystem.

Every record is one line ending in ``\\n`` and goes out in a single ``os.write`` on an
``O_APPEND`` descriptor, so there is no user-space buffer to lose. A crash can still leave
the last record torn (no final newline, or a tail of NUL bytes after a power cut). On open
the writer truncates the file back to its last complete line, logs a warning with what it
dropped, and exposes those bytes as ``repaired``; appends never glue onto a partial row.
Readers skip an unterminated last line, which may be a write in progress.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from types import TracebackType

from shared.errors import DataError, KiteAlgoError

log = logging.getLogger(__name__)


class JournalLockedError(KiteAlgoError):
    """Another writer holds the file's lock (each journal has exactly one writer)."""


class LockedAppendFile:
    """One writer's handle on an append-only line file.

    ``header`` (without its newline) is written when the file is empty and checked when it
    is not: a file with another header is refused rather than appended to. ``durable=True``
    fsyncs after every record (a power cut then loses nothing that ``append`` returned).
    """

    def __init__(self, path: str | os.PathLike[str], *, header: str | None = None, durable: bool = False) -> None:
        self.path = Path(path)
        self.durable = durable
        self.repaired = b""
        self._mutex = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise JournalLockedError(
                    f"{self.path}: another writer holds this journal's lock; each journal has exactly one "
                    "writer process (stop the other one, or point this one at a different artifacts dir)"
                ) from None
            self._repair_tail(fd)
            self._check_header(fd, header)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd

    # -- open-time checks ----------------------------------------------------------------

    def _repair_tail(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0:
            return
        last = os.pread(fd, 1, size - 1)
        if last == b"\n":
            return
        keep = _last_newline_end(fd, size)
        self.repaired = os.pread(fd, size - keep, keep)
        os.ftruncate(fd, keep)
        os.fsync(fd)
        log.warning(
            "%s: the last line was torn (a crash mid-write); truncated %d byte(s) back to line end at offset %d: %r",
            self.path,
            len(self.repaired),
            keep,
            self.repaired[:200],
        )

    def _check_header(self, fd: int, header: str | None) -> None:
        if header is None:
            return
        if os.fstat(fd).st_size == 0:
            self._write(fd, (header + "\n").encode())
            return
        first = os.pread(fd, len(header) + 1, 0)
        if first != (header + "\n").encode():
            got = first.split(b"\n", 1)[0].decode("utf-8", "replace")
            raise DataError(f"{self.path}:1: header is {got!r}; expected {header!r} (refusing to append)")

    # -- writing -------------------------------------------------------------------------

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if self.durable:
            os.fsync(fd)

    def append_line(self, line: str) -> None:
        """Append one record; ``line`` must not contain a newline (one is added)."""
        if "\n" in line or "\r" in line:
            raise ValueError(f"{self.path}: a record must be one line; got {line[:80]!r}")
        data = (line + "\n").encode()
        with self._mutex:
            if self._fd is None:
                raise ValueError(f"{self.path}: journal is closed")
            self._write(self._fd, data)

    def sync(self) -> None:
        """fsync what was appended so far (e.g. before writing a checkpoint that refers to it).

        Safe from another thread while appends go on: the fsync runs on a duplicate descriptor
        outside the mutex, so appends do not wait for the disk (and a close cannot reuse the fd).
        """
        with self._mutex:
            if self._fd is None:
                return
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Release the lock and the descriptor (idempotent)."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)  # closing drops the flock
                self._fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __del__(self) -> None:
        # A writer dropped without close() must not keep its lock (and descriptor) forever.
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> LockedAppendFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _last_newline_end(fd: int, size: int, chunk: int = 64 * 1024) -> int:
    """The offset just past the last ``\\n`` in the file (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        i = block.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


def read_complete_lines(path: str | os.PathLike[str]) -> list[bytes]:
    """Every complete line of ``path`` without its newline; an unterminated last line is skipped.

    Raises ``DataError`` naming the file when it cannot be read; returns [] when it does not exist.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DataError(f"{p}: cannot read ({exc.strerror})") from exc
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends in a newline
    if tail:
        log.debug("%s: skipping an unterminated last line (%d bytes; torn or being written)", p, len(tail))
    return lines
