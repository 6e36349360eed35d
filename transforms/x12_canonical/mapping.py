"""from_x12 / to_x12: one transaction set <-> one canonical document.

Inbound: 850, 855, 856, 810, 820 and 832. Outbound: PurchaseOrder -> 850, Remittance -> 820,
OrderAcknowledgment -> 855, Invoice -> 810 and ShipNotice -> 856.

Control numbers: `to_x12` takes them from the caller. In a running channel they must come from
a persistent per-partner counter owned by the X12 destination (ISA13 must not repeat for a
partner); `transforms.x12.from_canonical` only derives stand-in numbers from the message id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from pydantic import ValidationError as PydanticValidationError

from protocols.x12 import Delimiters, FunctionalGroup, Interchange, TransactionSet
from protocols.x12.writer import build_group, build_interchange, build_transaction_set, encode
from transforms.supply.documents import Document
from transforms.supply.finance import Invoice, Remittance
from transforms.supply.orders import OrderAcknowledgment, PurchaseOrder
from transforms.supply.shipping import ShipNotice

from .ack855 import read_855, write_855
from .ack997 import read_997
from .asn856 import read_856, write_856
from .catalog832 import read_832
from .emit import SetWriter
from .invoice810 import read_810, write_810
from .po850 import read_850, write_850
from .reading import SetReader
from .remit820 import read_820, write_820

__all__ = ["INBOUND_SETS", "OUTBOUND_SETS", "ControlNumbers", "from_x12", "to_x12"]

_READERS: dict[str, Callable[[SetReader], Document]] = {
    "850": read_850, "855": read_855, "856": read_856, "810": read_810, "820": read_820,
    "832": read_832, "997": read_997, "999": read_997,
}
# canonical type -> (set id, functional id, body writer)
_WRITERS: dict[type, tuple[str, str, Callable[..., None]]] = {
    PurchaseOrder: ("850", "PO", write_850),
    OrderAcknowledgment: ("855", "PR", write_855),
    ShipNotice: ("856", "SH", write_856),
    Invoice: ("810", "IN", write_810),
    Remittance: ("820", "RA", write_820),
}
INBOUND_SETS = tuple(_READERS)
OUTBOUND_SETS = tuple(s for s, _, _ in _WRITERS.values())


class ControlNumbers(NamedTuple):
    """ISA13, GS06 and ST02 of an outbound interchange."""

    interchange: int
    group: int
    transaction_set: int


def from_x12(ts: TransactionSet, group: FunctionalGroup | None = None,
             interchange: Interchange | None = None) -> Document:
    """The canonical document for one transaction set; TransformError with a location such as
    ``ST02=0001 PO1[3].PO102`` when it cannot be mapped."""
    reader = SetReader(ts, group, interchange)
    read = _READERS.get(reader.set_id)
    if read is None:
        raise reader.error(f"transaction set {reader.set_id!r} has no canonical mapping "
                           f"(mapped: {', '.join(INBOUND_SETS)})", "ST01")
    try:
        return read(reader)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise reader.error(f"{reader.set_id} does not make a valid canonical document: "
                           f"{field}: {first['msg']}", reader.set_id) from exc


def to_transaction_set(doc: Document, control_number: int,
                       delimiters: Delimiters) -> tuple[str, TransactionSet]:
    """(GS01 functional id, ST..SE) for `doc`; ValueError when it cannot be written as X12."""
    spec = _WRITERS.get(type(doc))
    if spec is None:
        raise ValueError(f"no X12 mapping for {type(doc).__name__}")
    set_id, functional_id, write = spec
    w = SetWriter(delimiters)
    write(doc, w)
    return functional_id, build_transaction_set(set_id, control_number, w.segments,
                                                delimiters=delimiters)


def to_x12(doc: Document, sender: tuple[str, str], receiver: tuple[str, str],
           control_numbers: ControlNumbers | tuple[int, int, int],
           delimiters: Delimiters | None = None, *, when: datetime | None = None,
           usage: str = "P", version: str = "004010", application_sender: str | None = None,
           application_receiver: str | None = None) -> str:
    """One X12 interchange (text) holding `doc` as a single transaction set.

    `sender` / `receiver` are (ISA qualifier, ISA id); GS02/GS03 default to the ISA ids.
    ValueError when the document cannot be expressed in X12 (a value holding a delimiter, an
    amount with more than 2 decimals in an N2 field, a party with two ids...).
    """
    numbers = ControlNumbers(*control_numbers)
    isa_version = "00501" if version.startswith("005") else "00401"
    d = delimiters or (Delimiters() if isa_version >= "00402" else Delimiters(repetition=None))
    functional_id, ts = to_transaction_set(doc, numbers.transaction_set, d)
    group = build_group(functional_id, application_sender or sender[1],
                        application_receiver or receiver[1], numbers.group, [ts], when=when,
                        version=version, delimiters=d)
    ic = build_interchange(sender, receiver, [group], numbers.interchange, when=when,
                           usage=usage, version=isa_version, delimiters=d)
    return encode(ic, d)
