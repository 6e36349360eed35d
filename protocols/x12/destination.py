"""X12 destination (`type: x12`): transaction sets batched into interchanges for one partner.

Each message is an X12 interchange (its transaction sets are taken out of their envelopes) or a
canonical JSON document (PurchaseOrder, Remittance, Invoice... written as its transaction set).
Sets that arrive within `batch_window` (up to `max_sets`) travel in one interchange: one GS per
functional id and version, ST02 numbered from 0001 in each group. ISA13 and GS06 come from
persistent per-partner counters in the store (the same ones our acknowledgments to that partner
use), so they never repeat, across restarts and across nodes. The interchange is handed to the
transport in `to` (any other destination type: file, http, as2, mllp...); its outcome is the
outcome of every set in it. A set that is retried travels again in a new interchange with new
control numbers: numbers are never reused, gaps are allowed.

Sets travel concurrently, so `max_in_flight` bounds the batch size too (default 200);
`ordered: true` sends one set per interchange.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, ClassVar, Literal

import pydantic
from pydantic import Field, model_validator
from twisted.internet import defer

from engine import registry
from engine.connector import ConnectorContext, DestinationConfig
from engine.errors import ConfigError, MessageError, PermanentDeliveryError, StoreError
from engine.message import Message
from engine.units import Duration

from .counters import next_control_number
from .delimiters import Delimiters
from .partners import Partner, load_partners
from .reader import TransactionSet, parse
from .sets import definition_for
from .writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    encode_segment,
)

log = logging.getLogger("plexus.destination.x12")

_OTHER_FUNCTIONAL_IDS = {
    "997": "FA", "999": "FA", "824": "AG", "835": "HP", "837": "HC", "834": "BE", "270": "HS",
    "271": "HB", "276": "HR", "277": "HN", "278": "HI", "275": "PI",
}


def functional_id_for(set_id: str) -> str | None:
    """GS01 for a transaction set id (850 -> PO, 997 -> FA...), None when unknown."""
    definition = definition_for(set_id)
    return definition.functional_id if definition else _OTHER_FUNCTIONAL_IDS.get(set_id)


class X12DestinationConfig(DestinationConfig):
    """Batches transaction sets into interchanges for one trading partner."""

    type: Literal["x12"]
    partners: str = Field(description="partners file (us, partners, delimiters, versions)")
    partner: str = Field(description="name of the receiving partner in the partners file")
    to: dict[str, Any] = Field(description="the transport for each interchange: another "
                               "destination's settings, e.g. {type: file, directory: ...}")
    batch_window: Duration = Field(default=1.0, description="gather sets this long into one "
                                   "interchange")
    max_sets: int = Field(default=500, ge=1, le=100_000,
                          description="sets per interchange at most")
    ack_requested: bool = Field(default=False, description="ISA14: ask the partner for a TA1")
    usage: Literal["P", "T"] = Field(default="P", description="ISA15: production or test")
    max_in_flight: int = Field(default=200, ge=1, description="sets waiting for a batch at once")

    @model_validator(mode="after")
    def _check(self) -> X12DestinationConfig:
        try:
            partners = load_partners(self.partners)
        except ConfigError as exc:
            raise ValueError(f"partners file: {exc}") from None
        if not any(p.name == self.partner for p in partners.partners):
            raise ValueError(f"partner {self.partner!r} is not in {self.partners}")
        self.transport_config()
        return self

    def transport_config(self) -> DestinationConfig:
        """The `to` settings validated as the destination type they name."""
        kind = self.to.get("type")
        if not isinstance(kind, str) or kind == "x12" or kind not in registry.destination_types():
            raise ValueError(f"to.type must be one of "
                             f"{sorted(set(registry.destination_types()) - {'x12'})}")
        settings = {"name": f"{self.name}-to", **self.to}
        try:
            return registry.destination_class(kind).Config.model_validate(settings)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"to.{where}: {first['msg']}") from None


class _Pending:
    """One set waiting for its interchange."""

    def __init__(self, functional_id: str, version: str, ts: TransactionSet) -> None:
        self.functional_id = functional_id
        self.version = version
        self.ts = ts
        self.done: defer.Deferred[bytes] = defer.Deferred()


class X12Destination:
    """Collects sets, writes them as one interchange, sends it through the `to` transport."""

    Config: ClassVar[type[X12DestinationConfig]] = X12DestinationConfig

    def __init__(self, config: X12DestinationConfig, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        self.store = context.store
        partners = load_partners(config.partners)
        self.us = partners.us
        self.partner: Partner = next(p for p in partners.partners if p.name == config.partner)
        p = self.partner
        self.delimiters = Delimiters(element=p.element, component=p.component,
                                     repetition=p.repetition if p.version >= "00402" else None,
                                     terminator=p.terminator, suffix="\n")
        inner = config.transport_config()
        self.transport = registry.destination_class(inner.type)(inner, ConnectorContext(
            context.channel, inner.name, context.reactor, context.logger, store=context.store))
        self._batch: list[_Pending] = []
        self._timer: Any = None

    async def send(self, message: Message) -> bytes | None:
        """Queue this message's sets for the next interchange; fires when it was delivered."""
        pending = self._sets_of(message)
        self._batch.extend(pending)
        if len(self._batch) >= self.config.max_sets:
            self._flush_now()
        elif self._timer is None:
            self._timer = self.context.reactor.callLater(self.config.batch_window,
                                                         self._flush_now)
        receipts = [await item.done for item in pending]
        return b"\n".join(receipts)

    def _sets_of(self, message: Message) -> list[_Pending]:
        if message.content_type == "x12":
            pending = self._from_interchange(message.content)
        elif message.content_type in ("json", "text"):
            pending = [self._from_document(message.content)]
        else:
            raise PermanentDeliveryError(f"x12 destination takes X12 or canonical JSON, not "
                                         f"{message.content_type!r}")
        for item in pending:  # a value holding the partner's delimiters fails this message only
            try:
                for segment in item.ts.segments:
                    encode_segment(segment, self.delimiters)
            except ValueError as exc:
                raise PermanentDeliveryError(f"ST02={item.ts.control_number}: {exc}") from exc
        return pending

    def _from_interchange(self, content: bytes) -> list[_Pending]:
        try:
            interchanges = parse(content)
        except MessageError as exc:
            raise PermanentDeliveryError(f"not an X12 interchange: {exc}") from exc
        found = []
        for ic in interchanges:
            for group in ic.groups:
                version = group.header.element(8) or self.partner.gs_version
                for ts in group.sets:
                    fid = functional_id_for(ts.set_id) or group.functional_id
                    found.append(_Pending(fid, version, ts))
        if not found:
            raise PermanentDeliveryError("the interchange holds no transaction set")
        return found

    def _from_document(self, content: bytes) -> _Pending:
        from transforms.supply.documents import load_document  # transforms import engine parts
        from transforms.x12_canonical import to_transaction_set

        doc = load_document(content)  # ValidationError: permanent, stored with the message
        try:
            fid, ts = to_transaction_set(doc, 1, self.delimiters)
        except (TypeError, ValueError) as exc:
            raise PermanentDeliveryError(f"cannot write {doc.doc_type} as X12: {exc}") from exc
        return _Pending(fid, self.partner.gs_version, ts)

    def _flush_now(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        batch, self._batch = self._batch, []
        if batch:
            defer.ensureDeferred(self._deliver(batch))

    async def _deliver(self, batch: list[_Pending]) -> None:
        try:
            isa13, content, receipts = await self._interchange(batch)
            envelope = Message(content, "x12", channel=self.context.channel,
                               correlation_id=f"{self.partner.name}-{isa13:09d}",
                               metadata={"partner": self.partner.name, "isa13": isa13})
            await self.transport.send(envelope)
        except Exception as exc:  # noqa: BLE001 - every set of the interchange shares the outcome
            if isinstance(exc, StoreError):
                log.error("channel %s: no control number for %s: %s", self.context.channel,
                          self.partner.name, type(exc).__name__)
            for item in batch:
                item.done.errback(exc)
            return
        for item, receipt in zip(batch, receipts, strict=True):
            item.done.callback(receipt)

    async def _interchange(self, batch: list[_Pending]) -> tuple[int, str, list[bytes]]:
        """ISA13, the encoded interchange and, per set in batch order, its control numbers."""
        p, d, now = self.partner, self.delimiters, datetime.now()
        isa13 = await next_control_number(self.store, p.name)
        by_group: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(batch):
            by_group.setdefault((item.functional_id, item.version), []).append(index)
        groups, receipts = [], [b""] * len(batch)
        for (fid, version), indexes in by_group.items():
            gs06 = await next_control_number(self.store, f"{p.name}:gs")
            sets = []
            for n, index in enumerate(indexes, start=1):
                ts = batch[index].ts
                sets.append(build_transaction_set(ts.set_id, n, ts.segments,
                                                  reference=ts.header.element(3) or None,
                                                  delimiters=d))
                receipts[index] = f"ISA13={isa13:09d} GS06={gs06} ST02={n:04d}".encode()
            groups.append(build_group(fid, self.us.gs_id or self.us.id, p.gs_id or p.id, gs06,
                                      sets, when=now, version=version, delimiters=d))
        ic = build_interchange((self.us.qualifier, self.us.id), (p.qualifier, p.id), groups,
                               isa13, when=now, usage=self.config.usage,
                               ack_requested=self.config.ack_requested, version=p.version,
                               delimiters=d)
        return isa13, encode(ic, d), receipts

    async def close(self) -> None:
        """Send what is still gathered, then close the transport."""
        self._flush_now()
        close = getattr(self.transport, "close", None)
        if close is not None:
            await close()

