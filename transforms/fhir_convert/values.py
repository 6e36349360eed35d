"""A read-only tree view of HL7 v2 values: field -> repetitions -> components -> subcomponents."""

from __future__ import annotations

from protocols.hl7v2.escaping import Separators, unescape
from protocols.hl7v2.message import Hl7Message, Segment

__all__ = ["EMPTY", "Node", "Seg", "segments_of"]


class Node:
    """One HL7 element; `node[i]` is its i-th (1-based) child, `node.v` its unescaped text.

    Level 0 is a whole field (children: components of its first repetition, `reps` lists the
    repetitions), 1 a repetition, 2 a component, 3 a subcomponent.
    """

    __slots__ = ("raw", "seps", "level", "_parts")

    def __init__(self, raw: str, seps: Separators, level: int) -> None:
        self.raw = raw
        self.seps = seps
        self.level = level
        self._parts: list[str] | None = None

    def _split(self) -> list[str]:
        """Raw texts of the children."""
        parts = self._parts
        if parts is None:
            seps = self.seps
            sep = (seps.component if self.level <= 1 else seps.subcomponent
                   if self.level == 2 else "")
            raw = self.raw
            if self.level == 0 and seps.repetition in raw:
                raw = raw.split(seps.repetition, 1)[0]
            parts = self._parts = raw.split(sep) if sep and raw else [raw]
        return parts

    def __getitem__(self, index: int) -> Node:
        if self.level >= 3:
            return self if index == 1 else EMPTY
        parts = self._split()
        if not 1 <= index <= len(parts) or not parts[index - 1]:
            return EMPTY
        child_level = 2 if self.level <= 1 else 3
        return Node(parts[index - 1], self.seps, child_level)

    @property
    def reps(self) -> list[Node]:
        """The non-empty repetitions of a field (a non-field node is its own one repetition)."""
        if not self.raw:
            return []
        if self.level != 0:
            return [self]
        return [Node(r, self.seps, 1) for r in self.raw.split(self.seps.repetition) if r]

    @property
    def v(self) -> str:
        """The unescaped text: a field's first repetition, or the whole component."""
        raw = self.raw
        if not raw:
            return ""
        if self.level == 0 and self.seps.repetition in raw:
            raw = raw.split(self.seps.repetition, 1)[0]
        return unescape(raw, self.seps) if self.seps.escape in raw else raw

    @property
    def first(self) -> str:
        """Text of the first component/subcomponent (e.g. the code of a CWE)."""
        return self[1].v if self.level < 3 else self.v

    def has(self, *indexes: int) -> bool:
        """True when every listed child is non-empty."""
        return all(self[i].raw for i in indexes)

    def __bool__(self) -> bool:
        return bool(self.raw)

    @property
    def blank(self) -> bool:
        """True when the element holds only delimiters (e.g. ``^^^``)."""
        seps = self.seps
        return not self.raw.strip(seps.component + seps.subcomponent + seps.repetition)

    def __repr__(self) -> str:
        return f"Node({self.raw!r}, level={self.level})"


EMPTY = Node("", Separators(), 3)


class Seg:
    """A segment: `seg[n]` is field n as a Node; `seg.id`, `seg.index` (position in message)."""

    __slots__ = ("id", "index", "_fields", "seps")

    def __init__(self, segment: Segment, index: int, seps: Separators) -> None:
        self.id = segment.id
        self.index = index
        self._fields = segment.fields
        self.seps = seps

    def __getitem__(self, number: int) -> Node:
        fields = self._fields
        if not 0 < number < len(fields) or not fields[number]:
            return EMPTY
        if self.id == "MSH" and number <= 2:
            return Node(fields[number], Separators("\x00", "\x01", "\x02", "\x03", "\x04"), 3)
        return Node(fields[number], self.seps, 0)

    def __len__(self) -> int:
        return len(self._fields) - 1

    @property
    def raw(self) -> str:
        """The segment text."""
        return self.seps.field.join(self._fields)

    def __repr__(self) -> str:
        return f"Seg({self.id}, index={self.index})"


def segments_of(message: Hl7Message) -> list[Seg]:
    """Every segment of a parsed message as a Seg, in order."""
    seps = message.separators
    return [Seg(s, i, seps) for i, s in enumerate(message.segments())]
