"""MLLP framing: 0x0B <message> 0x1C 0x0D. A pure decoder: bytes in, events out, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_PREFIX_KEPT = 4096


def frame(payload: bytes) -> bytes:
    """Wrap one message in an MLLP frame."""
    return START_BLOCK + payload + END_BLOCK


@dataclass(slots=True)
class Frame:
    """A complete message taken out of its frame."""

    payload: bytes


@dataclass(slots=True)
class Oversize:
    """A frame longer than the limit; only its first bytes are kept (to answer it)."""

    prefix: bytes
    limit: int


class MllpDecoder:
    """Turns a byte stream into frames; garbage before a start block is discarded and counted.

    A frame that grows past ``max_message_bytes`` is reported once as :class:`Oversize` and
    the rest of it is dropped up to its end block, so it is never buffered whole.
    """

    def __init__(self, max_message_bytes: int = 1024 * 1024) -> None:
        self.max_message_bytes = max_message_bytes
        self.discarded_bytes = 0
        self._buffer = bytearray()
        self._in_frame = False
        self._skipping = False
        self._prefix = b""

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished frame held in memory."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | Oversize]:
        """Consume bytes; return the frames (and oversize events) they complete."""
        events: list[Frame | Oversize] = []
        pos = 0
        while pos < len(data):
            if not self._in_frame:
                start = data.find(START_BLOCK, pos)
                if start < 0:
                    self.discarded_bytes += len(data) - pos
                    return events
                self.discarded_bytes += start - pos
                pos = start + 1
                self._in_frame = True
                self._skipping = False
                self._buffer.clear()
                continue
            # search from one byte back so an end block split across reads is found
            search_from = max(0, len(self._buffer) - 1)
            self._buffer += data[pos:]
            pos = len(data)
            stop = self._buffer.find(END_BLOCK, search_from)
            if stop >= 0:
                rest = bytes(self._buffer[stop + len(END_BLOCK):])
                if stop > self.max_message_bytes and not self._skipping:
                    events.append(Oversize(bytes(self._buffer[:min(stop, _PREFIX_KEPT)]),
                                           self.max_message_bytes))
                elif not self._skipping:
                    events.append(Frame(bytes(self._buffer[:stop])))
                self._buffer.clear()
                self._in_frame = False
                self._skipping = False
                data, pos = rest, 0
                continue
            if self._skipping:
                del self._buffer[:-1]  # keep a possible trailing 0x1C
            elif len(self._buffer) > self.max_message_bytes:
                events.append(Oversize(bytes(self._buffer[:_PREFIX_KEPT]), self.max_message_bytes))
                self._skipping = True
                del self._buffer[:-1]
        return events
