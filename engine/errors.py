"""The whole Plexus error tree, one line each."""

from __future__ import annotations


class PlexusError(Exception):
    """Base of every error Plexus raises on purpose."""


class ConfigError(PlexusError):
    """A channel or settings file is invalid; carries file, line and column."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        return f"{where}: {self.message}" if where else self.message


class MessageError(PlexusError):
    """A message cannot be processed; `location` names the bad element (e.g. PID-3.1)."""

    reason = "invalid"

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ParseError(MessageError):
    """The bytes are not a well-formed message of the expected protocol."""

    reason = "parse"


class ValidationError(MessageError):
    """The message parses but breaks a structural or business rule."""

    reason = "validation"


class RejectedError(MessageError):
    """The message must not be accepted at all (HL7 AR: wrong version, processing id...)."""

    reason = "rejected"


class TransformError(MessageError):
    """A filter or transform step raised; the message is stored with status error."""

    reason = "transform"


class DeliveryError(PlexusError):
    """A destination could not deliver a message."""


class RetryableDeliveryError(DeliveryError):
    """Delivery failed but may succeed later; `retry_after` (seconds) overrides backoff."""

    def __init__(self, message: str, retry_after: float | None = None,
                 response: bytes | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.response = response


class PermanentDeliveryError(DeliveryError):
    """Delivery can never succeed as is; the message goes to the dead-letter queue."""

    def __init__(self, message: str, response: bytes | None = None) -> None:
        super().__init__(message)
        self.response = response


class StoreError(PlexusError):
    """The store could not commit; the sender must not get a positive acknowledgment."""
