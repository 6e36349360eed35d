"""Durable atomic writes of many files at once: temp files, one flush, renames, one dir sync.

Sends that overlap share a batch, the way received messages share a group commit. One
pool-thread call per batch writes each file to a hidden temp file (``.<name>.<random>.tmp``)
in the target directory, makes them all durable with one ``syncfs`` of the file system
(Linux, batches of 8 or more; else one fsync per file), renames each over its final name
and fsyncs the directory once: a reader sees no file or a complete one, and a crash leaves
no empty final file behind.

Why one call per batch: four threads each doing one file's calls spent most of their time
fighting the reactor for the GIL; and on the reactor itself, under load, an open() measured
1.1 ms (25 µs alone), waiting on the GIL or the journal.
A failure is reported to the sender of that file only; a failed flush fails the batch.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, threads
from twisted.python.failure import Failure


class FileExists(Exception):
    """The final file exists and overwrite is off."""


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs  # type: ignore[no-any-return]


_SYNCFS = _load_syncfs()
# syncfs flushes the whole file system: cheaper than an fsync per file for a batch, dearer
# for one or two files (measured: 1-connection latency got worse with it)
SYNCFS_FROM = 8


_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


def _sync(path: str, flags: int = os.O_RDONLY, call: Callable[[int], Any] | None = None
          ) -> None:
    """Open path, run call(fd) (os.fsync by default), close."""
    fd = os.open(path, flags)
    try:
        (call or os.fsync)(fd)
    finally:
        os.close(fd)


def _syncfs(fd: int) -> None:
    assert _SYNCFS is not None
    if _SYNCFS(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def fsync_directory(directory: str) -> None:
    """Make renames in `directory` durable."""
    _sync(directory, _DIRECTORY)


def flush_files(directory: str, paths: list[str]) -> None:
    """Make the contents of `paths` durable: one syncfs for a batch, else an fsync each."""
    if _SYNCFS is not None and len(paths) >= SYNCFS_FROM:
        _sync(directory, _DIRECTORY, _syncfs)
        return
    for path in paths:
        _sync(path)


def write_temp(directory: str, name: str, data: bytes) -> str:
    """Write data to a new hidden temp file beside `name`; returns its path."""
    temp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        _unlink_quietly(temp)
        raise
    os.close(fd)
    return temp


def publish(temp: str, final: str, overwrite: bool) -> None:
    """Move temp to final (replacing it, or failing with FileExists when overwrite is off)."""
    try:
        if overwrite:
            os.replace(temp, final)
        else:
            _publish_no_clobber(temp, final)
    except BaseException:
        _unlink_quietly(temp)
        raise


class BatchWriter:
    """Writes the files waiting at a moment as one batch; see the module docstring."""

    def __init__(self, reactor: Any, directory: str, *, fsync: bool, overwrite: bool,
                 create_directory: bool, max_batch: int = 512, parallel: int = 2) -> None:
        self._reactor = reactor
        self._directory = directory
        self._fsync = fsync
        self._overwrite = overwrite
        self._create_directory = create_directory
        self._max_batch = max_batch
        self._parallel = parallel  # batches in flight, so one fills while another flushes
        self._jobs = 0
        self._call: Any = None
        self._pending: list[tuple[str, bytes, defer.Deferred[str]]] = []

    def write(self, name: str, data: bytes) -> defer.Deferred[str]:
        """Fires with the final path once the file (and its directory entry) is durable."""
        d: defer.Deferred[str] = defer.Deferred()
        self._pending.append((name, data, d))
        if self._call is None and self._jobs < self._parallel:
            # after this reactor turn, so the sends started in it share the batch
            self._call = self._reactor.callLater(0, self._start)
        return d

    def _start(self) -> None:
        self._call = None
        if not self._pending or self._jobs >= self._parallel:
            return
        batch = self._pending[:self._max_batch]
        del self._pending[:self._max_batch]
        self._jobs += 1
        job = threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(),
                                        self._write_all, [(n, data) for n, data, _ in batch])

        def finished(result: list[str | BaseException] | Failure) -> None:
            self._jobs -= 1
            outcomes = [result.value] * len(batch) if isinstance(result, Failure) else result
            for (_, _, d), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, str):
                    d.callback(outcome)
                else:
                    d.errback(outcome)
            if self._pending and self._call is None:
                self._call = self._reactor.callLater(0, self._start)

        job.addBoth(finished)

    def _write_temp(self, name: str, data: bytes) -> str:
        """write_temp, creating the directory when it is missing (and allowed to)."""
        try:
            return write_temp(self._directory, name, data)
        except FileNotFoundError:
            if not self._create_directory:
                raise
        # only now: a mkdir before every batch was a system call per file at 1 connection
        os.makedirs(self._directory, exist_ok=True)
        return write_temp(self._directory, name, data)

    def _write_all(self, items: list[tuple[str, bytes]]) -> list[str | BaseException]:
        """In a pool thread: temp files, one flush, renames, one directory sync."""
        outcomes: list[str | BaseException] = []
        written: list[tuple[int, str, str]] = []
        for index, (name, data) in enumerate(items):
            final = os.path.join(self._directory, name)
            try:
                if not self._overwrite and os.path.lexists(final):
                    raise FileExists(final)
                written.append((index, self._write_temp(name, data), final))
                outcomes.append(final)
            except Exception as exc:  # noqa: BLE001 - reported to that file's sender
                outcomes.append(exc)
        if self._fsync and written:
            try:
                flush_files(self._directory, [temp for _, temp, _ in written])
            except OSError as exc:
                for index, temp, _ in written:
                    _unlink_quietly(temp)
                    outcomes[index] = exc
                return outcomes
        for index, temp, final in written:
            outcomes[index] = _published(temp, final, self._overwrite)
        published = [index for index, _, _ in written if isinstance(outcomes[index], str)]
        if self._fsync and published:
            try:
                fsync_directory(self._directory)
            except OSError as exc:
                for index in published:
                    outcomes[index] = exc
        return outcomes


def _published(temp: str, final: str, overwrite: bool) -> str | BaseException:
    try:
        publish(temp, final, overwrite)
    except Exception as exc:  # noqa: BLE001 - reported to that file's sender
        return exc
    return final


def _publish_no_clobber(temp: str, final: str) -> None:
    """Move temp to final unless final exists (atomically where hard links work)."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise FileExists(final) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.ENOSYS):
            raise
        # No hard links on this file system: check, then rename (a small race remains).
        if os.path.lexists(final):
            raise FileExists(final) from None
        os.replace(temp, final)
        return
    os.unlink(temp)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
