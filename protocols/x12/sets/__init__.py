"""Plexus's own compact definitions of the 004010 supply-chain transaction sets.

850, 855, 856, 810, 820, 832, 846, 860 and 865, written as Python tables (see dsl.py) and
compiled once at import. `protocols.x12.validate.validate_set` walks a transaction set against
them; HIPAA sets (835, 837, 834...) are validated by pyx12 instead (protocols/x12/hipaa.py).

The definitions are those of version 004010. Groups of other non-HIPAA versions (003xxx,
004020-004060, plain 005010) are checked against the same tables: the supply-chain sets changed
little between those releases, and SetResult.notes says which definition was used.
"""

from __future__ import annotations

from .asn import ASN_856
from .catalog import CATALOG_832, INVENTORY_846
from .dsl import CodeList, ElementDef, LoopDef, SegmentDef, SegUse, SetDef
from .invoice import INVOICE_810
from .po import CHANGE_860, CHANGE_ACK_865, PO_850, PO_ACK_855
from .remittance import REMITTANCE_820

__all__ = [
    "DEFINITIONS", "DEFINITION_VERSION", "CodeList", "ElementDef", "LoopDef", "SegUse",
    "SegmentDef", "SetDef", "definition_for",
]

DEFINITION_VERSION = "004010"
DEFINITIONS: dict[str, SetDef] = {d.id: d for d in (
    PO_850, PO_ACK_855, ASN_856, INVOICE_810, REMITTANCE_820, CATALOG_832, INVENTORY_846,
    CHANGE_860, CHANGE_ACK_865)}


def definition_for(set_id: str) -> SetDef | None:
    """Our definition of transaction set `set_id` (ST01), or None when we have none."""
    return DEFINITIONS.get(set_id)
