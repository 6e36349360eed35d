"""FileDestination: atomic batched writes, naming, and failures."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine.connector import ConnectorContext
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message
from protocols.file.destination import (
    FileDestination,
    FileDestinationConfig,
    extension_for,
    sanitize_filename,
)

try:
    from tests.unit.reactor_thread import reactor_thread, run_coroutine
except ModuleNotFoundError:  # plain `pytest` with tests/unit not importable as a package
    from reactor_thread import reactor_thread, run_coroutine  # type: ignore[no-redef]

__all__ = ["reactor_thread"]  # the fixture is used by name

pytestmark = pytest.mark.usefixtures("reactor_thread")

HL7 = b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|1|P|2.5\rPID|1||123\r\xc3\xa9\r"


def make_dest(reactor: Any, directory: Path | str, **overrides: Any) -> FileDestination:
    """A FileDestination writing to directory, with config overrides."""
    config = FileDestinationConfig.model_validate(
        {"name": "archive", "type": "file", "directory": str(directory), **overrides})
    ctx = ConnectorContext(channel="adt", name="archive", reactor=reactor,
                           logger=logging.getLogger("test.file"))
    return FileDestination(config, ctx)


def send(dest: FileDestination, message: Message) -> bytes | None:
    """Drive dest.send on the reactor thread and wait for it."""
    return run_coroutine(lambda: dest.send(message))


def msg(content: bytes = HL7, content_type: str = "hl7v2", correlation_id: str = "corr-1",
        message_id: int | None = 42) -> Message:
    """A message on channel adt."""
    return Message(content, content_type, channel="adt", message_id=message_id,
                   correlation_id=correlation_id)


def test_atomic_write_exact_bytes_and_no_temp_files(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path)
    assert send(dest, msg()) is None
    assert sorted(os.listdir(tmp_path)) == ["corr-1.hl7"]
    assert (tmp_path / "corr-1.hl7").read_bytes() == HL7


def test_write_without_fsync(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path, fsync=False)
    send(dest, msg(b"{}", "json"))
    assert os.listdir(tmp_path) == ["corr-1.json"]


def test_creates_missing_directory(reactor_thread: Any, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    dest = make_dest(reactor_thread, target)
    send(dest, msg())
    assert (target / "corr-1.hl7").read_bytes() == HL7
    shutil.rmtree(tmp_path / "a")  # removed while the engine runs: made again on the next send
    send(dest, msg(correlation_id="corr-2"))
    assert os.listdir(target) == ["corr-2.hl7"]


def test_missing_directory_without_create_is_retryable(reactor_thread: Any,
                                                       tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path / "absent", create_directory=False)
    with pytest.raises(RetryableDeliveryError) as info:
        send(dest, msg())
    assert "ENOENT" in str(info.value)
    assert "create_directory is false" in str(info.value)
    (tmp_path / "absent").mkdir()
    send(dest, msg())  # recovers once the directory exists
    assert os.listdir(tmp_path / "absent") == ["corr-1.hl7"]


def test_overwrite_true_replaces(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path)
    send(dest, msg(b"first"))
    send(dest, msg(b"second"))
    assert (tmp_path / "corr-1.hl7").read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["corr-1.hl7"]


def test_overwrite_false_existing_file_is_permanent(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path, overwrite=False)
    send(dest, msg(b"first"))
    with pytest.raises(PermanentDeliveryError) as info:
        send(dest, msg(b"second"))
    assert "already exists" in str(info.value)
    assert (tmp_path / "corr-1.hl7").read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["corr-1.hl7"]  # the temp file was removed


def test_directory_path_is_a_file_is_retryable(reactor_thread: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_bytes(b"not a directory")
    for create in (True, False):
        dest = make_dest(reactor_thread, blocker, create_directory=create)
        with pytest.raises(RetryableDeliveryError) as info:
            send(dest, msg())
        assert str(blocker) in str(info.value)
    blocker.unlink()
    send(make_dest(reactor_thread, blocker), msg())  # recovers once fixed
    assert (blocker / "corr-1.hl7").read_bytes() == HL7


def test_template_fields(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path,
                     filename="{channel}-{destination}-{message_id}-{correlation_id}.{ext}")
    send(dest, msg(b"<a/>", "xml", correlation_id="abc", message_id=9))
    assert os.listdir(tmp_path) == ["adt-archive-9-abc.xml"]


def test_timestamp_field(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path, filename="{timestamp}.{ext}")
    when = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=UTC)
    assert dest.filename_for(msg(), now=when) == "20240305T070809123456.hl7"
    send(dest, msg())
    (name,) = os.listdir(tmp_path)
    assert re.fullmatch(r"\d{8}T\d{12}\.hl7", name)


def test_extensions() -> None:
    cases = {"hl7v2": "hl7", "json": "json", "fhir+json": "json", "x12": "x12",
             "xml": "xml", "text": "txt", "other": "txt"}
    for content_type, ext in cases.items():
        assert extension_for(content_type) == ext


def test_traversal_in_correlation_id_stays_inside(reactor_thread: Any, tmp_path: Path) -> None:
    target = tmp_path / "out"
    dest = make_dest(reactor_thread, target)
    send(dest, msg(correlation_id="../x/y"))
    assert os.listdir(target) == ["__x_y.hl7"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
    send(dest, msg(correlation_id="/etc/passwd"))
    send(dest, msg(correlation_id=".."))
    send(dest, msg(correlation_id="a\x00b\nc d"))
    assert sorted(os.listdir(target)) == sorted(["__x_y.hl7", "_.hl7", "_etc_passwd.hl7",
                                                 "a_b_c_d.hl7"])
    for name in os.listdir(target):
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name), name
        assert ".." not in name


@pytest.mark.parametrize(("raw", "expected"), [
    ("../x/y.hl7", "__x_y.hl7"),
    ("a b\\c:d*e.hl7", "a_b_c_d_e.hl7"),
    ("..", "_"),
    (".hidden", "_hidden"),
    ("a...b", "a_b"),
    ("naïve.txt", "na_ve.txt"),
    ("ok-name_1.2.hl7", "ok-name_1.2.hl7"),
])
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_long_names_are_cut_keeping_extension() -> None:
    name = sanitize_filename("x" * 400 + ".hl7")
    assert len(name) == 200
    assert name.endswith(".hl7")


def test_runtime_template_error_is_permanent(reactor_thread: Any, tmp_path: Path) -> None:
    dest = make_dest(reactor_thread, tmp_path, filename="{message_id:08d}.{ext}")
    send(dest, msg(message_id=7))
    assert os.listdir(tmp_path) == ["00000007.hl7"]
    with pytest.raises(PermanentDeliveryError) as info:
        send(dest, msg(message_id=None))  # '' cannot be formatted with 08d
    assert "cannot be rendered" in str(info.value)


# --- config validation --------------------------------------------------------------------

def _config(**fields: Any) -> FileDestinationConfig:
    return FileDestinationConfig.model_validate(
        {"name": "archive", "type": "file", "directory": "/tmp/x", **fields})


def test_config_defaults() -> None:
    config = _config()
    assert config.filename == "{correlation_id}.{ext}"
    assert config.create_directory is True
    assert config.fsync is True
    assert config.overwrite is True


def test_config_every_field_documented() -> None:
    own = set(FileDestinationConfig.model_fields) - {
        "name", "filters", "transforms", "retry", "ordered", "max_in_flight", "batch_size"}
    for name in own:
        assert FileDestinationConfig.model_fields[name].description, name


@pytest.mark.parametrize("fields", [
    {"unknown": 1},
    {"filename": "{patient_name}.hl7"},
    {"filename": "{}.hl7"},
    {"filename": "{0}.hl7"},
    {"filename": "{channel.upper}.hl7"},
    {"filename": "{channel[0]}.hl7"},
    {"filename": "{correlation_id"},
    {"filename": "sub/{correlation_id}.hl7"},
    {"filename": ""},
    {"filename": "{message_id:{bogus}}"},
    {"directory": ""},
    {"type": "http"},
])
def test_config_rejects(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _config(**fields)


def test_unknown_field_error_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        _config(filename="{patient}.{ext}")
    assert "{patient}" in str(info.value)
    assert "{correlation_id}" in str(info.value)


def test_overlapping_sends_share_batches_and_fail_alone(reactor_thread: Any,
                                                        tmp_path: Path) -> None:
    """Sends started together share one flush job; one failure stays its own."""
    (tmp_path / "taken.hl7").write_bytes(b"old")
    dest = make_dest(reactor_thread, tmp_path, overwrite=False)
    jobs = _count_flush_jobs(dest)
    ids = [f"m{i}" for i in range(20)] + ["taken"]
    results = _send_together(dest, ids)
    assert [ok for ok, _ in results] == [True] * 20 + [False]
    assert isinstance(results[-1][1].value, PermanentDeliveryError)
    assert jobs == [21]  # one batch: one thread job, one flush
    assert (tmp_path / "taken.hl7").read_bytes() == b"old"
    for i in ids[:-1]:
        assert (tmp_path / f"{i}.hl7").read_bytes() == f"MSG {i}".encode()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_failed_flush_fails_its_batch_retryably_and_leaves_no_file(
        reactor_thread: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EIO from the flush: every file of the batch is retried later, none is published."""
    from protocols.file import batch_writer

    def failing(directory: str, paths: list[str]) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(batch_writer, "flush_files", failing)
    dest = make_dest(reactor_thread, tmp_path)
    results = _send_together(dest, ["a", "b", "c"])
    assert [ok for ok, _ in results] == [False] * 3
    assert all(isinstance(f.value, RetryableDeliveryError) and "EIO" in str(f.value)
               for _, f in results)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    assert all(ok for ok, _ in _send_together(dest, ["a", "b", "c"]))
    assert sorted(os.listdir(tmp_path)) == ["a.hl7", "b.hl7", "c.hl7"]


def test_without_syncfs_each_file_is_fsynced(reactor_thread: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Where there is no syncfs (not Linux), or for a small batch, each temp file is fsynced."""
    from protocols.file import batch_writer

    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(batch_writer, "_SYNCFS", None)
    monkeypatch.setattr(batch_writer.os, "fsync", recording)
    dest = make_dest(reactor_thread, tmp_path)
    assert all(ok for ok, _ in _send_together(dest, ["x", "y"]))
    temps = [os.path.basename(p) for p in synced if p.endswith(".tmp")]
    assert len(temps) == 2 and {t.split(".")[1] for t in temps} == {"x", "y"}
    assert str(tmp_path) in synced  # and the directory, for the renames


def _count_flush_jobs(dest: FileDestination) -> list[int]:
    jobs: list[int] = []
    real = dest._writer._write_all

    def counting(items: list[Any]) -> list[Any]:
        jobs.append(len(items))
        return real(items)

    dest._writer._write_all = counting  # type: ignore[method-assign]
    return jobs


def _send_together(dest: FileDestination, ids: list[str]) -> list[tuple[bool, Any]]:
    """Start one send per id in the same reactor turn; each (ok, result or failure)."""
    from twisted.internet import defer

    async def send_all() -> list[tuple[bool, Any]]:
        sends = [defer.ensureDeferred(dest.send(msg(f"MSG {i}".encode(), correlation_id=i)))
                 for i in ids]
        return await defer.DeferredList(sends, consumeErrors=True)

    return run_coroutine(send_all)
