"""X12 test helpers shared by the X12 e2e modules: building interchanges, POSTing them,
reading the acks."""

from __future__ import annotations

import http.client
from typing import Any

from protocols.x12 import parse
from protocols.x12.writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    make_segment,
)


def po(number: str, lines: int = 2, bad_quantity: bool = False) -> list[Any]:
    """The body of an 850: BEG, PO1 lines, CTT."""
    body = [make_segment("BEG", "00", "SA", number, None, "20240116")]
    for n in range(1, lines + 1):
        quantity = "X1" if bad_quantity and n == 1 else str(n * 10)
        body.append(make_segment("PO1", str(n), quantity, "EA", "12.50", None,
                                 "VN", f"ITEM{n}", "UP", "012345678905"))
    body.append(make_segment("CTT", str(lines)))
    return body


def interchange(sender: str = "ACMEMED", isa13: int = 1, sets: list[list[Any]] | None = None,
                ack_requested: bool = False, usage: str = "P", gs06: int = 1,
                functional_id: str = "PO", set_id: str = "850") -> bytes:
    bodies = sets if sets is not None else [po("PO-1")]
    group = build_group(functional_id, sender, "GOODHEALTH", gs06,
                        [build_transaction_set(set_id, n + 1, body)
                         for n, body in enumerate(bodies)])
    ic = build_interchange(("ZZ", sender), ("ZZ", "GOODHEALTH"), [group], isa13,
                           ack_requested=ack_requested, usage=usage)
    return encode(ic).encode()


def post(port: int, body: bytes, path: str = "/x12", method: str = "POST",
         headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read().decode()
    finally:
        conn.close()


def segments(text: str) -> list[list[str]]:
    """Every segment of every ack interchange as [id, elements...]."""
    return [[seg.id, *seg.elements] for ic in parse(text) for seg in ic.segments()]


def ids(text: str, name: str) -> list[list[str]]:
    return [s for s in segments(text) if s[0] == name]
