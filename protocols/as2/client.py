"""POSTing AS2 messages and MDNs (protocols/http/poster.py: pool, TLS, timeouts).

Outcome rules for a message: 2xx, then the MDN decides (sync); 408/429/5xx and transport
failures are retryable; other statuses, an error disposition, an unreadable or unsigned MDN
(when a signed one was asked for) and a MIC mismatch are permanent.
"""

from __future__ import annotations

from typing import Any

from engine.errors import PermanentDeliveryError
from protocols.http.poster import HttpPoster
from protocols.x12.partners import As2Partner

from . import keys
from .mime import build_message, disposition_text, mdn_report, raw_mime, read_mdn


class As2Client(HttpPoster):
    """Sends AS2 messages to partners and MDNs to the URLs partners ask for."""

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


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1"))
            for name, values in headers.getAllRawHeaders() for value in values]
