"""The admin HTTP server: /metrics, /healthz, /readyz."""

from __future__ import annotations

from typing import Any

from prometheus_client.twisted import MetricsResource
from twisted.web import resource, server

from .metrics import REGISTRY


class _Health(resource.Resource):
    isLeaf = True

    def __init__(self, check: Any) -> None:
        super().__init__()
        self.check = check

    def render_GET(self, request: Any) -> bytes:  # noqa: N802 - twisted.web API
        ok, detail = self.check()
        request.setResponseCode(200 if ok else 503)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return detail.encode() + b"\n"


def build_site(engine: Any) -> server.Site:
    """The admin site for a running engine."""
    root = resource.Resource()
    root.putChild(b"metrics", MetricsResource(registry=REGISTRY))
    root.putChild(b"healthz", _Health(engine.health))
    root.putChild(b"readyz", _Health(engine.readiness))
    return server.Site(root)
