"""What every source and destination shares: base config models and the runtime contract.

A source is constructed as ``Source(config, ingest, context)``; ``ingest(message, rejection=None)``
returns a Deferred that fires with a :class:`engine.message.Receipt` once the message is durable
(or refused). A destination is constructed as ``Destination(config, context)`` and implements
``async send(message) -> bytes | None`` (the response to store), raising
``RetryableDeliveryError`` or ``PermanentDeliveryError``; the engine owns retries and ordering.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .units import Duration


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class StepConfig(StrictModel):
    """One filter or transform: `use` is module:function, `with` its keyword arguments."""

    use: str = Field(description="module:function, or file.py:function in --transforms-dir")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="keyword arguments passed to the function")
    name: str | None = Field(default=None, description="a label shown in logs and errors")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("use")
    @classmethod
    def _has_colon(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError("a step is 'module:function'")
        return value


def _coerce_steps(value: Any) -> Any:
    """Accept 'module:function' strings and {module:function: args} short forms."""
    if not isinstance(value, list):
        return value
    steps = []
    for item in value:
        if isinstance(item, str):
            steps.append({"use": item})
        elif isinstance(item, dict) and len(item) == 1 and "use" not in item:
            (use, args), = item.items()
            steps.append({"use": use, "with": args if isinstance(args, dict) else {"value": args}})
        else:
            steps.append(item)
    return steps


class TlsConfig(StrictModel):
    """TLS for a listener or a client; mutual TLS with `ca` + `require_client_cert`."""

    cert: str | None = Field(default=None, description="PEM certificate file")
    key: str | None = Field(default=None, description="PEM private key file")
    ca: str | None = Field(default=None, description="PEM CA bundle to verify the peer")
    require_client_cert: bool = Field(default=False, description="listener: demand a client cert")
    verify: bool = Field(default=True, description="client: verify the server certificate")


class RetryConfig(StrictModel):
    """Exponential backoff with jitter; after `attempts` the message is dead-lettered."""

    attempts: int = Field(default=10, ge=1, description="total attempts before dead letter")
    initial_interval: Duration = Field(default=1.0, description="first retry delay")
    max_interval: Duration = Field(default=300.0, description="cap on the retry delay")
    multiplier: float = Field(default=2.0, ge=1.0, description="backoff growth per attempt")
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="random +/- fraction")
    backoff: Literal["exponential", "fixed"] = "exponential"

    def delay(self, attempt: int, rand: float = 0.5) -> float:
        """Delay after the given failed attempt (1-based); rand in [0, 1)."""
        if self.backoff == "fixed":
            base = self.initial_interval
        else:
            base = min(self.max_interval, self.initial_interval * self.multiplier ** (attempt - 1))
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rand - 1.0)))


class SourceConfig(StrictModel):
    """Fields every source has."""

    type: str


class DestinationConfig(StrictModel):
    """Fields every destination has; connectors add their own."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="unique within the channel")
    type: str
    filters: list[StepConfig] = Field(default_factory=list,
                                      description="per-destination filters (all must pass)")
    transforms: list[StepConfig] = Field(default_factory=list,
                                         description="per-destination transforms (run in "
                                         "the destination worker; output stored as encoded)")
    retry: RetryConfig = Field(default_factory=RetryConfig,
                               description="{attempts, initial_interval, max_interval, "
                               "multiplier, jitter, backoff}; then dead letter")
    ordered: bool = Field(default=False, description="send strictly in arrival order")
    max_in_flight: int = Field(default=8, ge=1, description="concurrent sends when not ordered")
    batch_size: int = Field(default=50, ge=1, le=1000, description="rows claimed per batch")

    _coerce = field_validator("filters", "transforms", mode="before")(
        classmethod(lambda cls, v: _coerce_steps(v)))


@dataclass
class ConnectorContext:
    """What the engine hands a connector: its channel, names, a logger and the reactor."""

    channel: str
    name: str
    reactor: Any
    logger: logging.Logger
    extra: dict[str, Any] = field(default_factory=dict)
    store: Any = None  # the message store: resources (FHIR), counters (X12 control numbers)


coerce_steps = _coerce_steps
