"""AS2 destination (`type: as2`): each message (an X12 interchange) to one trading partner.

The partner's `as2:` block in the partners file says where (url) and how: signed, encrypted,
compressed, which MDN. The Message-ID is stable per message and content
(`<channel>-<id>-<sha256 of the content, 12 hex>@<our domain>`): a retried send is the same AS2
message to the partner, and a reset store that reuses message ids cannot make different
content look like a duplicate.

* sync MDN: "processed", signature (when asked for) and MIC verified -> sent; the MDN
  report is kept as the delivery's response. An error disposition, an unsigned MDN when a
  signed one was asked for, or a MIC mismatch -> permanent failure with the disposition text.
* async MDN: sent once the partner accepts the POST (2xx); the response kept with the
  delivery holds the Message-ID. The MDN that arrives later at our as2 source is verified and
  logged there, not matched back to this delivery (see the as2 source).
* no MDN: sent on 2xx.
* 408/429/5xx, connection and TLS failures -> retry; other HTTP statuses -> permanent.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from engine.connector import ConnectorContext, DestinationConfig, TlsConfig
from engine.errors import ConfigError
from engine.message import Message
from engine.units import ByteSize, Duration
from protocols.x12.partners import load_partners

from . import keys
from .client import As2Client

_CONTENT_TYPES = {"x12": "application/edi-x12", "xml": "application/xml",
                  "json": "application/json"}


class As2DestinationConfig(DestinationConfig):
    """Send each message to a trading partner over AS2 (RFC 4130)."""

    type: Literal["as2"] = Field(description="connector type")
    partners: str = Field(description="partners file (us.as2 and the partner's as2 block)")
    partner: str = Field(description="name of the receiving partner in the partners file")
    content_type: str | None = Field(
        default=None, description="MIME type of the payload (default from the message: x12 "
        "-> application/edi-x12, else application/octet-stream)")
    subject: str = Field(default="AS2 Message", description="Subject header")
    timeout: Duration = Field(default=60.0, description="limit for the POST and its sync MDN")
    tls: TlsConfig | None = Field(default=None, description="https: ca, client cert, verify")
    max_response_bytes: ByteSize = Field(default=1024 * 1024,
                                         description="MDNs longer than this are cut (and fail)")

    @model_validator(mode="after")
    def _check(self) -> As2DestinationConfig:
        try:
            partners = load_partners(self.partners)
        except ConfigError as exc:
            raise ValueError(f"partners file: {exc}") from None
        partner = partners.named(self.partner)
        if partner is None:
            raise ValueError(f"partner {self.partner!r} is not in {self.partners}")
        if partner.as2 is None or partner.as2.url is None:
            raise ValueError(f"partner {self.partner!r} needs an as2 block with a url")
        if self.tls is not None and not partner.as2.url.lower().startswith("https://"):
            raise ValueError(f"tls is set but the url of {self.partner} is not https://")
        return self


class As2Destination:
    """Builds the AS2 message, POSTs it and checks the MDN; see the module docstring."""

    Config: ClassVar[type[As2DestinationConfig]] = As2DestinationConfig

    def __init__(self, config: As2DestinationConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        partners = load_partners(config.partners)
        partner = partners.named(config.partner)
        assert partner is not None and partner.as2 is not None  # checked by the config
        self.settings = partner.as2
        self.org = keys.organization(keys.require_us(partners))
        keys.partner(self.settings)  # load the certificate now: a bad one fails at start
        self.client = As2Client(context, config.tls, config.timeout, config.max_response_bytes,
                                config.max_in_flight)

    async def send(self, message: Message) -> bytes:
        """One AS2 message; returns the outcome (Message-ID, MDN) kept as the response."""
        content_type = self.config.content_type or _CONTENT_TYPES.get(
            message.content_type, "application/octet-stream")
        key = message.idempotency_key or f"{self.context.channel}-{message.message_id}"
        digest = hashlib.sha256(message.content).hexdigest()[:12]
        _, text = await self.client.send(
            self.org, self.settings, message.content, content_type=content_type,
            message_id=_message_id_left(f"{key}-{digest}"), subject=self.config.subject,
            filename=f"{_message_id_left(message.correlation_id)}.edi")
        return text.encode()

    async def close(self) -> None:
        """Close the kept-alive connections."""
        await self.client.close()


def _message_id_left(value: str) -> str:
    """A Message-ID local part (dot-atom characters only) from an idempotency key."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-._") else "-" for c in value)
    return cleaned.strip(".")[:200] or "plexus"

