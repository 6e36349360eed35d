"""Building and reading AS2 messages and MDNs (pyas2lib does the S/MIME; no I/O here).

An AS2 message travels as an HTTP POST whose headers are the MIME headers of the (signed,
encrypted) entity; pyas2lib reads "headers + blank line + body", so the HTTP headers are put
back in front of the body before parsing, and taken off again before sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email import message_from_bytes
from typing import Any

from .library import pyas2lib

FAILED_TEXT = "The AS2 message could not be processed; the disposition says why."
# headers that describe the HTTP transfer, not the MIME entity
_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive",
               "authorization", "user-agent", "accept-encoding", "expect"}


@dataclass
class Outbound:
    """An AS2 message ready to POST, and the pyas2lib object that checks its MDN."""

    message_id: str
    headers: dict[str, str]
    body: bytes
    sent: Any


@dataclass
class Inbound:
    """A parsed AS2 message: its disposition, payload and the MDN pyas2lib built (if asked)."""

    status: str                 # "processed", or e.g. "processed/Error"
    detail: str | None          # e.g. "authentication-failed"
    error: str | None           # what went wrong, for the stored message and the log
    message: Any                # pyas2lib Message
    mdn: Any                    # pyas2lib Mdn, or None when no MDN was asked for

    @property
    def ok(self) -> bool:
        """True when decryption, verification and decompression all passed."""
        return self.status == "processed"

    @property
    def payload(self) -> bytes:
        """The content the partner sent (the X12 interchange)."""
        content = self.message.content
        return content if isinstance(content, bytes) else content.encode()


def http_headers(mime_headers: dict[str, str]) -> dict[str, str]:
    """MIME headers as HTTP headers: folded lines unfolded, MIME-Version dropped."""
    return {name: " ".join(value.split()) for name, value in mime_headers.items()
            if name.lower() != "mime-version"}


def raw_mime(headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """HTTP request headers and body as the MIME entity pyas2lib parses."""
    lines = [f"{name}: {value}" for name, value in headers
             if name.lower() not in _HOP_BY_HOP and "\n" not in value and "\r" not in value]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + body


def header(raw: bytes, name: str) -> str | None:
    """One header of a raw MIME entity (headers only are parsed)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    value = message_from_bytes(head + b"\r\n\r\n").get(name)
    return None if value is None else str(value).strip()


def as2_name(raw: bytes, name: str) -> str | None:
    """AS2-From or AS2-To, unquoted."""
    value = header(raw, name)
    return None if value is None else pyas2lib().utils.unquote_as2name(value)


def build_message(org: Any, partner: Any, data: bytes, *, content_type: str,
                  message_id: str | None = None, subject: str = "AS2 Message",
                  filename: str | None = None) -> Outbound:
    """Sign, encrypt and compress `data` as the partner settings ask; returns what to POST.

    A `message_id` (left of the @; the domain is ours) keeps the Message-ID stable when a
    send is retried, so the partner can recognise the resend as a duplicate.
    """
    message = pyas2lib().as2.Message(org, partner)
    message.build(data, filename=filename, subject=subject, content_type=content_type,
                  message_id=message_id)
    return Outbound(message.message_id, http_headers(message.headers), message.content,
                    message)


def parse_message(raw: bytes, org: Any, partner: Any) -> Inbound:
    """Decrypt, verify and decompress a message from a known partner to us."""
    lib = pyas2lib()
    message = lib.as2.Message()
    status, (exc, _), mdn = message.parse(
        raw, find_org_cb=lambda as2_id: org if as2_id == org.as2_name else None,
        find_partner_cb=lambda as2_id: partner if as2_id == partner.as2_name else None)
    detail = None
    if "/" in status or exc is not None:
        detail = getattr(exc, "disposition_modifier", None) or "unexpected-processing-error"
        if status == "processed":
            status = "processed/Error"
    return Inbound(status, detail, None if exc is None else _describe(exc), message, mdn)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def rebuild_mdn(inbound: Inbound, status: str, detail: str | None) -> None:
    """Replace the MDN pyas2lib built with one of another disposition (same mode and URL)."""
    if inbound.mdn is None:
        return
    old = inbound.mdn
    mdn = pyas2lib().as2.Mdn(mdn_mode=old.mdn_mode, digest_alg=old.digest_alg,
                             mdn_url=old.mdn_url)
    mdn.build(message=inbound.message, status=status, detailed_status=detail,
              failed_text=FAILED_TEXT)
    inbound.mdn = mdn


def refusal_mdn(raw: bytes, org: Any, as2_from: str, detail: str) -> Any:
    """An error MDN for a message we could not open at all (unknown partner or receiver).

    Built from the headers alone; signed with our key when the sender asked for a signed MDN
    and the receiver is us. None when the sender asked for no MDN.
    """
    lib = pyas2lib()
    message = lib.as2.Message()
    message.payload = message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
    headers = {k.lower(): v for k, v in message.payload.items()}
    if not headers.get("disposition-notification-to"):
        return None
    message.message_id = headers.get("message-id", "").strip().lstrip("<").rstrip(">")
    message.receiver = org
    message.sender = lib.as2.Partner(as2_name=as2_from)  # only its signing defaults are used
    for k, v in headers.items():  # pyas2lib reads the AS2 headers lower-cased
        del message.payload[k]
        message.payload[k] = v
    url = headers.get("receipt-delivery-option")
    options = headers.get("disposition-notification-options")
    digest = options.split(";")[-1].split(",")[-1].strip() if options else None
    mdn = lib.as2.Mdn(mdn_mode="ASYNC" if url else "SYNC", mdn_url=url, digest_alg=digest)
    mdn.build(message=message, status="processed/Error", detailed_status=detail,
              failed_text=FAILED_TEXT)
    return mdn


def mdn_reply(mdn: Any) -> tuple[dict[str, str], bytes]:
    """An MDN as HTTP headers and body."""
    body = mdn.content
    return http_headers(mdn.headers), body if isinstance(body, bytes) else body.encode()


def read_mdn(raw: bytes, sent: Any) -> tuple[str, str | None]:
    """Verify an MDN for the message `sent`: (status, detail) as pyas2lib reports them.

    "processed" with no detail is a positive MDN whose signature (when one was asked for)
    and MIC both check out; "processed/warning" with "Message Integrity check failed." is a
    MIC mismatch; anything else is the partner's error disposition or an unreadable MDN.
    """
    mdn = pyas2lib().as2.Mdn()
    status, detail = mdn.parse(raw, find_message_cb=lambda message_id, _to: (
        sent if message_id == sent.message_id else None))
    return status or "failed/Failure", detail


def sent_stub(message_id: str, org: Any, partner: Any) -> Any:
    """What read_mdn needs to verify an asynchronous MDN for a message sent earlier."""
    message = pyas2lib().as2.Message(org, partner)
    message.message_id = message_id
    return message


def mdn_report(raw: bytes) -> str:
    """The machine-readable part of an MDN (Disposition, Original-Message-ID...), as text."""
    for part in message_from_bytes(raw).walk():
        if part.get_content_type() == "message/disposition-notification":
            fields = part.get_payload()
            if isinstance(fields, list):
                return "".join(f"{k}: {v}\n" for f in fields for k, v in f.items())
            return str(fields)
    return ""


def original_message_id(raw: bytes) -> str | None:
    """The Original-Message-ID when the entity is an MDN (an asynchronous one), else None."""
    lib = pyas2lib()
    mdn = lib.as2.Mdn()
    mdn.payload = message_from_bytes(raw)
    try:
        message_id, _ = mdn.detect_mdn()
    except (lib.exceptions.MDNNotFound, AttributeError, TypeError, IndexError):
        return None
    return message_id


def disposition_text(status: str, detail: str | None) -> str:
    """`processed/Error: authentication-failed` style text."""
    return f"{status}: {detail}" if detail else status
