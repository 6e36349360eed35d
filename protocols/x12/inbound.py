"""Inbound X12 for any source (HTTP, AS2, files): check, pass sets on, build TA1/997/999.

One call takes the bytes a partner sent and returns the acknowledgment text, after every
transaction set it passes on to the channel is durable:
- an unknown sender, a foreign receiver or a broken envelope rejects the interchange (TA1 R,
  stored as one error message);
- each accepted set becomes one message: a standalone interchange holding just that set,
  correlation id ISA13-GS06-ST02, idempotency key partner|ISA13|GS06|ST02;
- rejected sets, and sets the channel's transforms refuse, are stored with their errors and
  reported R in the 997/999;
- a resent interchange (every set a duplicate) is answered with TA1 R 025;
- acknowledgments (TA1, 997, 999) are passed on and never acknowledged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import MessageError, ParseError, RejectedError
from engine.message import Message, Receipt

from .ack import AckSummary, ack_summary, build_ack
from .counters import next_control_number
from .envelope import Fault, validate_envelope
from .partners import Partner, PartnersFile
from .reader import FunctionalGroup, Interchange, TransactionSet, parse
from .ta1 import build_ta1, build_ta1_unreadable, is_acknowledgment
from .writer import encode, fix_counts

log = logging.getLogger("plexus.x12")

X12 = "x12"


class NotX12(MessageError):
    """The body holds no ISA segment at all."""

    reason = "rejected"


@dataclass
class InboundResult:
    """What to answer: the ack interchanges (TA1 first) and what happened to each set."""

    acks: list[str] = field(default_factory=list)
    senders: list[Partner | None] = field(default_factory=list)  # per interchange; None: unknown
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0

    @property
    def text(self) -> str:
        """The answer body: every ack interchange, in order."""
        return "".join(self.acks)


class X12Inbound:
    """Checks interchanges against the partners file and hands their sets to the channel."""

    def __init__(self, partners: PartnersFile, ingest: Any, store: Any, channel: str,
                 lenient: bool = False) -> None:
        self.partners = partners
        self.ingest = ingest
        self.store = store
        self.channel = channel
        self.lenient = lenient

    async def handle(self, data: bytes, metadata: dict[str, Any]) -> InboundResult:
        """Every interchange in `data`; raises NotX12 (stored) when there is no ISA at all."""
        result = InboundResult()
        try:
            interchanges = parse(data)
        except ParseError as exc:
            number = await self._number("unknown")
            ta1 = build_ta1_unreadable(data, exc, number)
            await self._reject(data, exc, metadata)
            if ta1 is None:
                raise NotX12("the body holds no X12 interchange (no ISA segment)") from exc
            result.acks.append(ta1)
            result.senders.append(None)
            result.rejected += 1
            return result
        for ic in interchanges:
            await self._interchange(ic, metadata, result)
        return result

    async def _interchange(self, ic: Interchange, metadata: dict[str, Any],
                           result: InboundResult) -> None:
        partner = self.partners.find(ic.sender_qualifier, ic.sender_id)
        result.senders.append(partner)
        us = self.partners.us
        if partner is None:
            await self._reject(encode(ic), RejectedError(
                f"unknown sender {ic.sender_qualifier}/{ic.sender_id}", "ISA06"), metadata)
            result.acks.append(build_ta1(ic, "006", False, await self._number("unknown"),
                                         sender=(us.qualifier, us.id)))
            result.rejected += 1
            return
        meta = {**metadata, "partner": partner.name, "isa13": ic.control_number}
        if is_acknowledgment(ic):  # passed on, never acknowledged
            await self._pass_on(Message(encode(ic), X12, correlation_id=ic.control_number,
                                        metadata={**meta, "acknowledgment": True}))
            return
        report = validate_envelope(ic, receivers={us.id})
        refusal = report.faults[0] if report.rejected else None
        if partner.usage != "any" and ic.usage != partner.usage:  # our policy: a rejection
            refusal = Fault("020", f"ISA15 {ic.usage!r}: {partner.name} may send "
                            f"{partner.usage!r} only", "ISA15")
        if refusal is not None:
            await self._reject(encode(ic), RejectedError(refusal.message, refusal.location),
                               meta)
            if partner.ta1 != "never":
                result.acks.append(build_ta1(ic, refusal.code, False,
                                             await self._number(partner.name)))
            result.rejected += 1
            return
        summary = ack_summary(ic, report=report, lenient=self.lenient,
                              kind=partner.ack if partner.ack in ("997", "999") else None)
        duplicates = await self._sets(ic, summary, partner, meta, result)
        if summary.deliver and duplicates == len(summary.deliver) and partner.ta1 != "never":
            # the same interchange again: its sets were delivered the first time
            result.acks.append(build_ta1(ic, "025", False, await self._number(partner.name)))
            return
        if partner.ta1 == "always" or (partner.ta1 == "on-request" and ic.ack_requested):
            code = report.ta1_ack_code
            result.acks.append(build_ta1(ic, report.ta1_note, True if code == "A" else "E",
                                         await self._number(partner.name)))
        if partner.ack != "none" and summary.needs_ack:
            ack = build_ack(ic, summary=summary,
                            interchange_number=await self._number(partner.name),
                            group_number=await self._number(f"{partner.name}:gs"),
                            now=datetime.now())
            if ack:
                result.acks.append(ack)

    async def _sets(self, ic: Interchange, summary: AckSummary, partner: Partner,
                    meta: dict[str, Any], result: InboundResult) -> int:
        """Store every set; returns how many accepted sets were duplicates."""
        duplicates = 0
        for outcome in summary.groups:
            for set_result in outcome.sets:
                ts = set_result.transaction_set
                content = _alone(ic, outcome.group, ts)
                numbers = (ic.control_number, outcome.group.control_number,
                           ts.control_number.strip())
                message = Message(content, X12, correlation_id="-".join(numbers),
                                  idempotency_key="|".join((partner.name, *numbers)),
                                  metadata={**meta, "gs06": outcome.group.control_number,
                                            "st01": ts.set_id, "st02": ts.control_number})
                if not set_result.accepted or outcome.ack_code == "R":
                    await self._reject(content, RejectedError(_errors_text(set_result),
                                                              f"ST02={ts.control_number}"),
                                       message.metadata, message.correlation_id)
                    result.rejected += 1
                    continue
                receipt: Receipt = await self.ingest(message)
                if receipt.status == "duplicate":
                    duplicates += 1
                    result.duplicates += 1
                elif receipt.ok:
                    result.accepted += 1
                else:  # the channel's filters/transforms refused it: R in the ack
                    set_result.ack_code = "R"
                    set_result.notes.append(str(receipt.error))
                    result.rejected += 1
        return duplicates

    async def _pass_on(self, message: Message) -> None:
        await self.ingest(message)

    async def _reject(self, content: bytes | str, error: MessageError,
                      metadata: dict[str, Any], correlation_id: str | None = None) -> None:
        await self.ingest(Message(content, X12, correlation_id=correlation_id,
                                  metadata=metadata), error)

    async def _number(self, name: str) -> int:
        return await next_control_number(self.store, name)


def _alone(ic: Interchange, group: FunctionalGroup, ts: TransactionSet) -> str:
    """One set in its own envelope: the sender's ISA and GS around just this set."""
    single = Interchange(ic.isa, [FunctionalGroup(group.header, [ts], None)], None,
                         ic.delimiters, ic.raw_isa)
    return encode(fix_counts(single))


def _errors_text(result: Any) -> str:
    parts = [f"AK5 {result.ack_code} {','.join(result.codes)}".strip()]
    for err in result.errors[:10]:
        where = f"{err.segment_id}@{err.position}"
        parts.append(f"{where}: {err.code} {err.message}".strip())
        parts += [f"  {where} e{e.position}: {e.code} {e.message}" for e in err.elements[:5]]
    return "; ".join(parts)
