"""Settings every X12 listener shares (x12-http, as2): where, partners, limits, sends later."""

from __future__ import annotations

from pydantic import Field, field_validator

from engine.connector import SourceConfig, TlsConfig
from engine.errors import ConfigError
from engine.units import ByteSize, Duration

from .partners import PartnersFile, load_partners


class X12ListenerConfig(SourceConfig):
    """An HTTP endpoint taking X12 interchanges from trading partners."""

    host: str = Field(default="0.0.0.0", description="interface to listen on")
    port: int = Field(ge=0, le=65535, description="TCP port")
    partners: str = Field(description="partners file (us, partners, ack policy)")
    lenient: bool = Field(default=False,
                          description="segment/element errors accept with errors (E), not R")
    tls: TlsConfig | None = Field(default=None, description="TLS / mutual TLS of the listener")
    client_tls: TlsConfig | None = Field(
        default=None, description="https to partners (acks and MDNs we send): ca, client "
        "cert, verify")
    max_body_bytes: ByteSize = Field(default=20 * 1024 * 1024,
                                     description="larger requests get 413 unread")
    idle_timeout: Duration = Field(default=300.0, description="close silent connections")
    duplicate_window: Duration = Field(
        default=90 * 86400.0, description="a set with the same partner, ISA13, GS06 and ST02 "
        "within it is a duplicate: acknowledged, not passed on again")
    send_timeout: Duration = Field(default=30.0, description="limit for each POST we make")
    send_attempts: int = Field(default=4, ge=1, le=20,
                               description="tries for each ack or MDN we send later")
    send_retry_interval: Duration = Field(default=2.0, description="pause after the first "
                                          "failed try; doubles after each")

    @field_validator("partners")
    @classmethod
    def _check_partners(cls, value: str) -> str:
        try:
            cls.check_partners(load_partners(value))
        except ConfigError as exc:
            raise ValueError(f"partners file: {exc}") from None
        return value

    @classmethod
    def check_partners(cls, partners: PartnersFile) -> None:
        """What this listener needs of the partners file beyond loading (ConfigError)."""
