"""File destination: write each message to its own file, atomically, in a directory.

The bytes go to a hidden temp file (``.<name>.<random>.tmp``) in the target directory,
are made durable, then renamed over the final name, and the directory is fsynced: a reader
polling the directory sees either no file or the complete file, never a part. Files sent
at the same time share one flush (see batch_writer.py).

Outcome rules: an OSError (disk full, I/O error, permission denied, missing or bad
directory...) is retryable, because the disk or its permissions may be fixed; an
existing file with ``overwrite: false``, a name the file system rejects as too long, or a
template that cannot be rendered for this message is permanent.
"""

from __future__ import annotations

import errno
import os
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from engine.connector import ConnectorContext, DestinationConfig
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from engine.message import Message

from .batch_writer import BatchWriter, FileExists

TEMPLATE_FIELDS = ("correlation_id", "message_id", "channel", "destination", "timestamp", "ext")
_EXTENSIONS = {
    "hl7v2": "hl7",
    "json": "json",
    "fhir+json": "json",
    "fhir": "json",
    "x12": "x12",
    "xml": "xml",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DOTS = re.compile(r"\.{2,}")
_MAX_NAME = 200  # leaves room for the temp-file prefix/suffix under the usual 255 limit
_SAMPLE = {
    "correlation_id": "3f2b8c1e-7d4a-4b7e-9a51-0c6d2e8f1a90",
    "message_id": 1,
    "channel": "channel",
    "destination": "destination",
    "timestamp": "20240101T000000000000",
    "ext": "txt",
}


def extension_for(content_type: str) -> str:
    """The file extension for a message content type (txt when unknown)."""
    return _EXTENSIONS.get((content_type or "").lower(), "txt")


def sanitize_filename(name: str) -> str:
    """A safe single path component: [A-Za-z0-9._-] only, no '..', no leading dot."""
    name = _UNSAFE.sub("_", name)
    name = _DOTS.sub("_", name)
    if name.startswith("."):
        name = "_" + name[1:]
    if len(name) > _MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 16:
            name = stem[: _MAX_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:_MAX_NAME]
    return name


def _clean_value(value: Any) -> Any:
    """A template value made safe on its own, so dots from a value and the template never merge."""
    if isinstance(value, str):
        return _DOTS.sub("_", _UNSAFE.sub("_", value))
    return value


class FileDestinationConfig(DestinationConfig):
    """Write each message to its own file in a directory."""

    type: Literal["file"] = Field(description="connector type")
    directory: str = Field(min_length=1, description="directory the files are written to")
    filename: str = Field(
        default="{correlation_id}.{ext}",
        description="file name template; fields: {correlation_id}, {message_id}, {channel}, "
                    "{destination}, {timestamp} (UTC YYYYMMDDTHHMMSSffffff), {ext} (hl7, "
                    "json, x12, xml or txt from the content type). The result is sanitised: "
                    "characters other than A-Z a-z 0-9 . _ - become _")
    create_directory: bool = Field(
        default=True, description="create the directory (and parents) if it is missing")
    fsync: bool = Field(
        default=True,
        description="fsync the file and the directory before reporting success (durable "
                    "across power loss; slower)")
    overwrite: bool = Field(
        default=True,
        description="replace an existing file of the same name; when false an existing "
                    "file dead-letters the message")

    @field_validator("filename")
    @classmethod
    def _check_template(cls, value: str) -> str:
        if "/" in value or "\\" in value:
            raise ValueError("filename is a file name, not a path: '/' and '\\' are not "
                             "allowed (set `directory` instead)")
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"invalid filename template {value!r}: {exc}") from None
        fields = [field for _, field, _, _ in parsed if field is not None]
        if not fields and not value.strip():
            raise ValueError("filename must not be empty")
        for field in fields:
            if field not in TEMPLATE_FIELDS:
                shown = "{}" if field == "" else "{" + field + "}"
                raise ValueError(f"unknown filename field {shown}; use "
                                 + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
        try:
            rendered = value.format_map(_SAMPLE)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ValueError(f"invalid filename template {value!r}: {exc}") from None
        if sanitize_filename(rendered) in ("", "_"):
            raise ValueError(f"filename template {value!r} renders to an empty name")
        return value


def _timestamp(now: datetime | None) -> str:
    """UTC YYYYMMDDTHHMMSSffffff of `now` (default: the current time)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")


_TEMPLATE_VALUES: dict[str, Callable[[FileDestination, Message, datetime | None], Any]] = {
    "correlation_id": lambda dest, message, now: message.correlation_id,
    "message_id": lambda dest, message, now: "" if message.message_id is None
    else message.message_id,
    "channel": lambda dest, message, now: message.channel or dest.context.channel,
    "destination": lambda dest, message, now: dest.context.name,
    "timestamp": lambda dest, message, now: _timestamp(now),
    "ext": lambda dest, message, now: extension_for(message.content_type),
}


class FileDestination:
    """Writes each message to a file; see the module docstring for outcome rules."""

    Config: ClassVar[type[FileDestinationConfig]] = FileDestinationConfig

    def __init__(self, config: FileDestinationConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        self._reactor = context.reactor
        self._directory = os.path.abspath(os.path.expanduser(config.directory))
        # only the fields the template names are computed per message
        self._template_fields = {field for _, field, _, _ in
                                 string.Formatter().parse(config.filename)
                                 if field in _TEMPLATE_VALUES}
        self._writer = BatchWriter(self._reactor, self._directory, fsync=config.fsync,
                                    overwrite=config.overwrite,
                                    create_directory=config.create_directory)

    def filename_for(self, message: Message, now: datetime | None = None) -> str:
        """The sanitised file name for a message; PermanentDeliveryError if it cannot render."""
        values = {key: _clean_value(_TEMPLATE_VALUES[key](self, message, now))
                  for key in self._template_fields}
        try:
            rendered = self.config.filename.format_map(values)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise PermanentDeliveryError(
                f"filename template {self.config.filename!r} cannot be rendered for message "
                f"{message.message_id}: {exc}") from None
        name = sanitize_filename(rendered)
        if name in ("", "_", "-"):
            raise PermanentDeliveryError(
                f"filename template {self.config.filename!r} renders to an empty name for "
                f"message {message.message_id}")
        return name

    async def send(self, message: Message) -> bytes | None:
        """Write the message to its file; returns None or raises a DeliveryError."""
        name = self.filename_for(message)
        try:
            final = await self._writer.write(name, message.content)
        except FileExists as exc:
            raise PermanentDeliveryError(
                f"{exc.args[0]} already exists and overwrite is false") from None
        except OSError as exc:
            raise self._os_error(exc, name) from exc
        self.context.logger.debug("message %s written to %s (%d bytes)",
                                  message.message_id, final, len(message.content))
        return None

    def _os_error(self, exc: OSError, name: str) -> Exception:
        """Classify a failed write: retryable unless the name itself is the problem."""
        code = errno.errorcode.get(exc.errno or 0, "OSError")
        where = exc.filename or os.path.join(self._directory, name)
        text = f"cannot write {where} ({code}: {exc.strerror or exc})"
        if exc.errno == errno.ENAMETOOLONG:
            return PermanentDeliveryError(text)
        if exc.errno == errno.ENOENT and not self.config.create_directory:
            text += "; the directory is missing and create_directory is false"
        elif exc.errno in (errno.EEXIST, errno.ENOTDIR):
            text += "; a path component is not a directory"
        return RetryableDeliveryError(text)

    async def close(self) -> None:
        """Nothing to release: each write opens and closes its own file."""
