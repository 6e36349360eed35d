"""A small blocking MLLP client (plain sockets, optional TLS) for the CLI and tests."""

from __future__ import annotations

import os
import re
import socket
import ssl
import time
from collections import deque
from types import TracebackType

from .framing import Frame, MllpDecoder, frame

_LINE_END = re.compile(rb"\r\n|\r|\n")
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")
_BOM = b"\xef\xbb\xbf"


class MllpClient:
    """One MLLP connection, opened on first use: send a message, read the framed reply."""

    def __init__(self, host: str, port: int, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None, *,
                 server_hostname: str | None = None,
                 max_message_bytes: int = 16 * 1024 * 1024) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self._sock: socket.socket | None = None
        self._decoder = MllpDecoder(max_message_bytes)
        self._frames: deque[bytes] = deque()

    @property
    def address(self) -> str:
        """host:port of the peer."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """True while a socket is open."""
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection (and the TLS session) if it is not open yet."""
        if self._sock is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._decoder = MllpDecoder(self._decoder.max_message_bytes)
        self._frames.clear()

    def send(self, payload: bytes) -> bytes:
        """Send one message framed and return the reply payload (unframed)."""
        self.send_raw(frame(payload))
        return self.read_frame()

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (no framing): garbage, partial frames, several frames."""
        self.connect()
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError:
            self.close()
            raise

    def read_frame(self, timeout: float | None = None) -> bytes:
        """Block until one whole frame arrives and return its payload.

        Raises ``TimeoutError`` when nothing complete arrives in time and ``ConnectionError``
        when the peer closes the connection first.
        """
        if self._frames:
            return self._frames.popleft()
        self.connect()
        assert self._sock is not None
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not self._frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply from {self.address} within {wait:g}s")
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"no reply from {self.address} within {wait:g}s") from None
            except OSError:
                self.close()
                raise
            if not data:
                self.close()
                raise ConnectionError(f"{self.address} closed the connection before a reply")
            for event in self._decoder.feed(data):
                if isinstance(event, Frame):
                    self._frames.append(event.payload)
                else:
                    self.close()
                    raise ConnectionError(
                        f"reply from {self.address} is larger than {event.limit} bytes")
        return self._frames.popleft()

    def close(self) -> None:
        """Close the connection (a later send opens a new one)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.close()
        except OSError:
            pass

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_segment(line: bytes, names: tuple[bytes, ...]) -> bool:
    """True when the line starts with one of the segment names followed by a separator."""
    return line[:3] in names and (len(line) == 3 or not line[3:4].isalnum())


def split_messages(data: bytes, source: str = "<data>") -> list[bytes]:
    """Split bytes holding HL7 messages into messages, segments re-joined by CR.

    Accepts CR, LF or CRLF line ends and a UTF-8 BOM; a new message starts at each MSH;
    batch/file envelope segments (FHS, BHS, BTS, FTS), blank lines and stray MLLP block
    characters are dropped. Raises ``ValueError`` for segments before the first MSH.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    messages: list[list[bytes]] = []
    for number, raw in enumerate(_LINE_END.split(data), start=1):
        line = raw.strip(b"\x0b\x1c")
        if not line.strip():
            continue
        if _is_segment(line, _ENVELOPE):
            continue
        if _is_segment(line, (b"MSH",)):
            messages.append([line])
        elif messages:
            messages[-1].append(line)
        else:
            shown = line[:20].decode("utf-8", errors="replace")
            raise ValueError(f"{source}: line {number}: segment {shown!r} before the first MSH")
    return [b"\r".join(segments) + b"\r" for segments in messages]


def read_messages_file(path: str | os.PathLike[str]) -> list[bytes]:
    """Read a file of one or more HL7 v2 messages; return each with CR segment ends."""
    with open(path, "rb") as handle:
        data = handle.read()
    return split_messages(data, os.fspath(path))
