"""A parsed HL7 v2 message as the converter sees it: its segments and simple lookups."""

from __future__ import annotations

from protocols.hl7v2.message import Hl7Message

from .bundle import make_id
from .values import Seg, segments_of


class Message:
    """The segments of one message with the lookups the group builders use."""

    def __init__(self, hl7: Hl7Message) -> None:
        self.hl7 = hl7
        self.segs = segments_of(hl7)
        self.msh = self.segs[0]
        self.bundle_id = make_id("Bundle", hl7.control_id)

    def first(self, sid: str) -> Seg | None:
        """The first segment with this id."""
        for seg in self.segs:
            if seg.id == sid:
                return seg
        return None

    def all(self, sid: str) -> list[Seg]:
        """Every segment with this id."""
        return [s for s in self.segs if s.id == sid]
