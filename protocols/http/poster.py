"""POSTs a source makes to URLs of its own choosing (acks, MDNs), on the HTTP destination's
transport: connection pool, TLS, timeouts, response size limit.

2xx is success; 408/429/5xx and transport failures raise RetryableDeliveryError (with
Retry-After); any other status raises PermanentDeliveryError with an excerpt of the body.
"""

from __future__ import annotations

from typing import Any

from twisted.web.http_headers import Headers

from engine.connector import ConnectorContext, TlsConfig
from engine.errors import PermanentDeliveryError, RetryableDeliveryError

from .destination import HttpDestination, HttpDestinationConfig, parse_retry_after

_EXCERPT = 300


class HttpPoster:
    """One pool of kept-alive client connections for POSTs to any URL."""

    def __init__(self, context: ConnectorContext, tls: TlsConfig | None, timeout: float,
                 max_response_bytes: int = 1024 * 1024, max_in_flight: int = 8) -> None:
        # the URL here only satisfies the config model; every request names its own URL
        placeholder = "https://poster.invalid/" if tls is not None else "http://poster.invalid/"
        name = context.name if context.name != "source" else "poster"
        config = HttpDestinationConfig(name=name, type="http", url=placeholder,
                                       timeout=timeout, tls=tls,
                                       max_response_bytes=max_response_bytes,
                                       max_in_flight=max_in_flight)
        self.http = HttpDestination(config, context)

    async def post(self, url: str, headers: dict[str, str], body: bytes, what: str
                   ) -> tuple[int, Any, bytes]:
        """One POST; returns (status, response headers, body) on 2xx, raises otherwise."""
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

    async def close(self) -> None:
        """Close the kept-alive connections."""
        await self.http.close()
