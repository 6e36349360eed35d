"""POSTing AS2 messages and MDNs, on the HTTP destination's transport (pool, TLS, timeouts).

Outcome rules for a message: 2xx, then the MDN decides (sync); 408/429/5xx and transport
failures are retryable; other statuses, an error disposition, an unreadable or unsigned MDN
(when a signed one was asked for) and a MIC mismatch are permanent.
"""

from __future__ import annotations

from typing import Any

from twisted.web.http_headers import Headers

from engine.connector import ConnectorContext, TlsConfig
from engine.errors import PermanentDeliveryError, RetryableDeliveryError
from protocols.http.destination import HttpDestination, HttpDestinationConfig, parse_retry_after
from protocols.x12.partners import As2Partner

from . import keys
from .mime import build_message, disposition_text, mdn_report, raw_mime, read_mdn

_EXCERPT = 300


class As2Client:
    """Sends AS2 messages to partners and MDNs to the URLs partners ask for."""

    def __init__(self, context: ConnectorContext, tls: TlsConfig | None, timeout: float,
                 max_response_bytes: int = 1024 * 1024, max_in_flight: int = 8) -> None:
        # the URL here only satisfies the config model; every request names its own URL
        placeholder = "https://as2.invalid/" if tls is not None else "http://as2.invalid/"
        config = HttpDestinationConfig(name=context.name if context.name != "source"
                                       else "as2", type="http", url=placeholder,
                                       timeout=timeout, tls=tls,
                                       max_response_bytes=max_response_bytes,
                                       max_in_flight=max_in_flight)
        self.http = HttpDestination(config, context)

    async def post(self, url: str, headers: dict[str, str], body: bytes, what: str
                   ) -> tuple[int, Any, bytes]:
        """One POST; 408/429/5xx raise RetryableDeliveryError, other non-2xx Permanent."""
        request_headers = Headers()
        for name, value in headers.items():
            request_headers.addRawHeader(name.encode("ascii"), value.encode("utf-8"))
        status, response_headers, data = await self.http.request(
            b"POST", url.encode("ascii"), request_headers, body, what)
        if 200 <= status < 300:
            return status, response_headers, data
        excerpt = data[:_EXCERPT].decode("utf-8", "replace").strip()
        text = f"HTTP {status} from {url}" + (f": {excerpt}" if excerpt else "")
        if status in (408, 429) or 500 <= status < 600:
            raw = response_headers.getRawHeaders(b"retry-after")
            retry_after = parse_retry_after(raw[0].decode("latin-1")) if raw else None
            raise RetryableDeliveryError(text, retry_after=retry_after, response=data)
        raise PermanentDeliveryError(text, response=data)

    async def send(self, org: Any, settings: As2Partner, data: bytes, *, content_type: str,
                   message_id: str | None = None, subject: str = "AS2 Message",
                   filename: str | None = None) -> tuple[str, str]:
        """Send `data` to the partner's URL; returns (Message-ID, outcome text) or raises."""
        if settings.url is None:
            raise PermanentDeliveryError(f"AS2 partner {settings.id} has no url")
        out = build_message(org, keys.partner(settings), data, content_type=content_type,
                            message_id=message_id, subject=subject, filename=filename)
        status, headers, body = await self.post(settings.url, out.headers, out.body,
                                                f"AS2 message {out.message_id}")
        lines = [f"AS2-Message-ID: <{out.message_id}>", f"HTTP: {status} from {settings.url}"]
        if settings.mdn == "async":
            lines.append(f"MDN: asynchronous, requested at {org.mdn_url}")
            return out.message_id, "\n".join(lines) + "\n"
        if settings.mdn == "none":
            lines.append("MDN: none requested")
            return out.message_id, "\n".join(lines) + "\n"
        raw = raw_mime(_header_pairs(headers), body)
        disposition, detail = read_mdn(raw, out.sent)
        report = mdn_report(raw)
        lines.append(f"MDN: {disposition_text(disposition, detail)}")
        text = "\n".join(lines) + "\n" + (f"\n{report}" if report else "")
        lowered = disposition.lower()
        if lowered == "processed":
            return out.message_id, text
        if lowered == "processed/warning" and "integrity" not in (detail or "").lower():
            return out.message_id, text  # e.g. duplicate-document: the partner has it
        if lowered == "processed/warning":
            reason = "the MDN's MIC does not match what was sent"
        else:
            reason = f"the MDN says {disposition_text(disposition, detail)}"
        raise PermanentDeliveryError(f"AS2 message {out.message_id} to {settings.id}: "
                                     f"{reason}", response=text.encode())

    async def post_mdn(self, url: str, headers: dict[str, str], body: bytes,
                       original: str) -> None:
        """POST an asynchronous MDN; raises a DeliveryError when it is not accepted."""
        await self.post(url, headers, body, f"async MDN for {original}")

    async def close(self) -> None:
        """Close the kept-alive connections."""
        await self.http.close()


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1"))
            for name, values in headers.getAllRawHeaders() for value in values]
