"""Located, typed access to the elements of one transaction set.

Every value read goes through `Seg`, which knows where it is, so a bad value becomes a
TransformError with a location such as ``ST02=0001 PO1[3].PO102`` (the third PO1 of the set
whose ST02 is 0001, element 2).

Value cleaning: surrounding whitespace is dropped and so are trailing component separators (some
senders end every element with one, e.g. ``20191001~`` when ``~`` is ISA16); an empty value reads
as None.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation

from engine.errors import TransformError
from protocols.x12 import FunctionalGroup, Interchange, Segment, TransactionSet
from transforms.supply.models import SourceInfo

__all__ = ["Seg", "SetReader", "clean"]

_REAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_INT = re.compile(r"^[+-]?\d+$")


def clean(value: str, component: str) -> str:
    """A raw element value without surrounding blanks and trailing component separators."""
    value = value.strip()
    if value.endswith(component):
        value = value.rstrip(component).strip()
    return value


class Seg:
    """One segment of a set with its occurrence number, for located typed reads."""

    __slots__ = ("seg", "index", "reader")

    def __init__(self, seg: Segment, index: int, reader: SetReader) -> None:
        self.seg = seg
        self.index = index
        self.reader = reader

    @property
    def id(self) -> str:
        """The segment id."""
        return self.seg.id

    def where(self, n: int | None = None) -> str:
        """Location text, e.g. ``ST02=0001 PO1[3].PO102``."""
        base = f"{self.reader.prefix}{self.seg.id}[{self.index}]"
        return f"{base}.{self.seg.id}{n:02d}" if n else base

    def error(self, message: str, n: int | None = None) -> TransformError:
        """A TransformError located at element `n` of this segment."""
        return TransformError(message, self.where(n))

    def text(self, n: int) -> str | None:
        """Element `n` cleaned; None when empty."""
        elements = self.seg.elements
        if not 0 < n <= len(elements):
            return None
        value = elements[n - 1]
        last = value[-1:]
        if last and last != self.reader.component and not last.isspace() \
                and not value[0].isspace():  # nothing to clean (most values): as clean() would
            return value
        return clean(value, self.reader.component) or None

    def need(self, n: int, what: str) -> str:
        """Element `n` cleaned; TransformError when it is empty."""
        value = self.text(n)
        if value is None:
            raise self.error(f"{what} is missing", n)
        return value

    def decimal(self, n: int, what: str = "value") -> Decimal | None:
        """Element `n` as an X12 R (explicit decimal) number; None when empty."""
        value = self.text(n)
        if value is None:
            return None
        if not _REAL.match(value):
            raise self.error(f"{what} {value!r} is not a number", n)
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern already checked
            raise self.error(f"{what} {value!r} is not a number", n) from exc

    def implied(self, n: int, what: str = "amount", places: int = 2) -> Decimal | None:
        """Element `n` as an X12 Nn number with `places` implied decimals (N2: 12345 = 123.45)."""
        value = self.text(n)
        if value is None:
            return None
        if not _INT.match(value):
            raise self.error(f"{what} {value!r} is not an implied-decimal (N{places}) number",
                             n)
        sign = "-" if value[0] == "-" else ""
        digits = value.lstrip("+-").zfill(places + 1)
        if places == 0:
            return Decimal(sign + digits)
        return Decimal(f"{sign}{digits[:-places]}.{digits[-places:]}")

    def integer(self, n: int, what: str = "value") -> int | None:
        """Element `n` as an integer (X12 N0); None when empty."""
        value = self.text(n)
        if value is None:
            return None
        if not _INT.match(value):
            raise self.error(f"{what} {value!r} is not a whole number", n)
        return int(value)

    def date(self, n: int, what: str = "date") -> dt.date | None:
        """Element `n` as a CCYYMMDD (or YYMMDD) date; None when empty."""
        value = self.text(n)
        if value is None:
            return None
        if value.isdigit() and len(value) == 6:
            year = int(value[:2])
            value = f"{20 if year < 50 else 19}{value}"
        if not (value.isdigit() and len(value) == 8):
            raise self.error(f"{what} {value!r} is not a CCYYMMDD date", n)
        try:
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError as exc:
            raise self.error(f"{what} {value!r} is not a valid date", n) from exc

    def need_date(self, n: int, what: str) -> dt.date:
        """Element `n` as a date; TransformError when it is empty."""
        value = self.date(n, what)
        if value is None:
            raise self.error(f"{what} is missing", n)
        return value

    def time(self, n: int) -> str | None:
        """Element `n` as an HHMM[SS[dd]] time string; None when empty or not a time."""
        value = self.text(n)
        if value is None:
            return None
        if not (value.isdigit() and len(value) in (4, 6, 7, 8)):
            raise self.error(f"time {value!r} is not HHMM[SS[dd]]", n)
        return value

    def first_component(self, n: int) -> str | None:
        """The first component of composite element `n` (e.g. a C001 unit); None when empty."""
        value = self.seg.element(n).strip()
        if not value:
            return None
        return value.split(self.reader.component)[0].strip() or None


class SetReader:
    """The segments of one transaction set, wrapped as `Seg`s, plus its envelope."""

    def __init__(self, ts: TransactionSet, group: FunctionalGroup | None = None,
                 interchange: Interchange | None = None) -> None:
        self.ts = ts
        self.group = group
        self.interchange = interchange
        self.component = ts.header.delimiters.component
        self.set_id = clean(ts.set_id, self.component)
        self.control_number = clean(ts.control_number, self.component)
        self.prefix = f"ST02={self.control_number} "
        self.warnings: list[str] = []
        counts: dict[str, int] = {}
        self.segments: list[Seg] = []
        for seg in ts.segments:
            k = counts[seg.id] = counts.get(seg.id, 0) + 1
            self.segments.append(Seg(seg, k, self))

    def __iter__(self) -> Iterator[Seg]:
        return iter(self.segments)

    def error(self, message: str, location: str) -> TransformError:
        """A TransformError at `location` (e.g. "BEG") within this set."""
        return TransformError(message, self.prefix + location)

    def first(self, seg_id: str) -> Seg | None:
        """The first segment with `seg_id`, or None."""
        return next((s for s in self.segments if s.id == seg_id), None)

    def require(self, seg_id: str, what: str) -> Seg:
        """The first `seg_id` segment; TransformError when the set has none."""
        seg = self.first(seg_id)
        if seg is None:
            raise self.error(f"{seg_id} ({what}) segment is missing", seg_id)
        return seg

    def warn(self, message: str) -> None:
        """Record a non-fatal inconsistency (lands in the document's source.warnings)."""
        self.warnings.append(message)

    def check_count(self, ctt: Seg | None, actual: int, what: str) -> None:
        """Warn when CTT01 disagrees with the number of `what` in the set."""
        if ctt is None:
            return
        declared = ctt.integer(1, "CTT01 number of line items")
        if declared is not None and declared != actual:
            self.warn(f"CTT01 says {declared} {what}, the set holds {actual}")

    def source(self) -> SourceInfo:
        """The envelope of this set as canonical source metadata."""
        gs, ic = self.group, self.interchange

        def opt(value: str) -> str | None:
            return clean(value, self.component) or None

        if self.ts.trailer is None:
            self.warn("SE trailer missing")
        return SourceInfo(
            set_id=self.set_id or "?", set_control_number=self.control_number or "?",
            group_control_number=opt(gs.control_number) if gs else None,
            functional_id=opt(gs.functional_id) if gs else None,
            version=opt(gs.version) if gs else None,
            application_sender=opt(gs.header.element(2)) if gs else None,
            application_receiver=opt(gs.header.element(3)) if gs else None,
            interchange_control_number=opt(ic.control_number) if ic else None,
            sender_qualifier=opt(ic.sender_qualifier) if ic else None,
            sender_id=opt(ic.sender_id) if ic else None,
            receiver_qualifier=opt(ic.receiver_qualifier) if ic else None,
            receiver_id=opt(ic.receiver_id) if ic else None,
            warnings=list(self.warnings))


def split_at(segs: Iterable[Seg], starter: str) -> tuple[list[Seg], list[list[Seg]]]:
    """Segments before the first `starter`, and one list per `starter` loop after it."""
    head: list[Seg] = []
    loops: list[list[Seg]] = []
    for s in segs:
        if s.id == starter:
            loops.append([s])
        elif loops:
            loops[-1].append(s)
        else:
            head.append(s)
    return head, loops
