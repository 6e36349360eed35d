"""HL7 v2 batch protocol: FHS/BHS ... BTS/FTS envelopes and back-to-back messages."""

from __future__ import annotations

from engine.errors import ParseError

from .escaping import HEADER_IDS, Separators
from .message import Hl7Message, check_segment, split_segments

__all__ = ["split_batch"]


def _count(line: str, seps: Separators) -> int | None:
    """The count in BTS-1 / FTS-1, or None when it is empty or not a number."""
    parts = line.split(seps.field, 2)
    if len(parts) < 2:
        return None
    value = parts[1].split(seps.component, 1)[0].strip()
    return int(value) if value.isdigit() else None


class _Splitter:
    """State machine over the segments of a batch file."""

    def __init__(self, seps: Separators, check_counts: bool) -> None:
        self.seps = seps
        self.check_counts = check_counts
        self.messages: list[Hl7Message] = []
        self.current: list[str] | None = None
        self.in_file = False
        self.file_done = False
        self.in_batch = False
        self.batch_messages = 0
        self.batches = 0
        self.loose_run = False  # inside a run of messages that is not wrapped in BHS/BTS

    def flush(self) -> None:
        """Turn the collected segments into a message."""
        if self.current is None:
            return
        lines, self.current = self.current, None
        try:
            self.messages.append(Hl7Message.parse("\r".join(lines)))
        except ParseError as exc:
            raise ParseError(f"message {len(self.messages) + 1} of the batch: {exc.message}",
                             location=exc.location) from None

    def check(self, what: str, expected: int | None, actual: int) -> None:
        """ParseError when a trailer count disagrees with what was seen."""
        if self.check_counts and expected is not None and expected != actual:
            raise ParseError(f"{what} says {expected} but the envelope holds {actual}",
                             location=f"{what[:3]}-1")

    def feed(self, sid: str, line: str, n: int, first: bool) -> None:
        """Handle one segment."""
        if self.file_done:
            raise ParseError(f"{sid} segment after FTS (file trailer)", location=f"segment {n}")
        if sid == "FHS":
            if not first:
                raise ParseError("FHS inside a file: files cannot be nested or follow other "
                                 "segments", location=f"segment {n}")
            self.in_file = True
        elif sid == "BHS":
            if self.in_batch:
                raise ParseError("BHS inside a batch: batches cannot be nested (BTS missing)",
                                 location=f"segment {n}")
            self.flush()
            self.loose_run = False
            self.in_batch = True
            self.batch_messages = 0
        elif sid == "BTS":
            if not self.in_batch:
                raise ParseError("BTS without a matching BHS", location=f"segment {n}")
            self.flush()
            self.check("BTS-1 batch message count", _count(line, self.seps),
                       self.batch_messages)
            self.in_batch = False
            self.batches += 1
        elif sid == "FTS":
            if not self.in_file:
                raise ParseError("FTS without a matching FHS", location=f"segment {n}")
            if self.in_batch:
                raise ParseError("FTS before the BTS of the open batch", location=f"segment {n}")
            self.flush()
            self.check("FTS-1 file batch count", _count(line, self.seps), self.batches)
            self.file_done = True
        elif sid == "MSH":
            self.flush()
            self.current = [line]
            if self.in_batch:
                self.batch_messages += 1
            elif not self.loose_run:
                self.loose_run = True
                self.batches += 1  # an implicit batch (messages not wrapped in BHS/BTS)
        else:
            if self.current is None:
                raise ParseError(f"{sid} segment outside a message (no MSH before it)",
                                 location=f"segment {n}")
            self.current.append(line)


def split_batch(text: str, *, check_counts: bool = True) -> list[Hl7Message]:
    """Messages of a single message, back-to-back messages or FHS/BHS..BTS/FTS envelopes.

    ParseError for an empty input, nested BHS/FHS, BTS/FTS without header, segments outside
    a message, and (with `check_counts`) BTS-1/FTS-1 counts that disagree with the content.
    An envelope holding zero messages (count 0 or empty) yields an empty list.
    """
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}", location="MSH")
    lines = split_segments(text)
    first = lines[0]
    if not first or all(not line.strip().strip("\x00") for line in lines):
        raise ParseError("empty batch file", location="FHS")
    if first[:3] not in HEADER_IDS:
        raise ParseError(f"a batch must start with FHS, BHS or MSH, not {first[:12]!r}",
                         location="MSH")
    seps = Separators.from_header(first)
    splitter = _Splitter(seps, check_counts)
    seen = False
    for n, line in enumerate(lines, 1):
        if not line:
            continue
        sid = check_segment(line, seps.field, n)
        if sid is None:
            continue
        splitter.feed(sid, line, n, not seen)
        seen = True
    splitter.flush()
    return splitter.messages
