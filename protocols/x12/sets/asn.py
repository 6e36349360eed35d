"""004010 856 ship notice/manifest, with its HL hierarchy checks.

The HL loop carries the whole shipment: shipment (S) -> order (O) -> tare (T) / pack (P) /
subpack (Q) -> item (I), in the order BSN05 announces. `check_hl` enforces what every 856
hierarchy shares:
- HL01 starts at 1 and increments by 1 (unique by construction);
- HL02 (parent) names an HL01 that came before; only the first HL, the shipment, has none;
- the first level is S and no other HL is a shipment;
- HL04 (child code), when sent, agrees with the data: 1 = has children, 0 = has none.
Faults are reported as element errors on the HL segment: a missing HL02 as AK403 2
(conditional required data element missing), a wrong value as AK403 7 (invalid code value),
with the bad value copied to AK404.
"""

from __future__ import annotations

from ..reader import Segment
from .codes import ACK_STATUS, HL_LEVEL_856, PURPOSE, UOM
from .dsl import AN, DT, ID, MANY, N0, TM, M, O, R, codelist, el, loop, seg, transaction_set
from .segments import (
    CTT,
    CUR,
    DTM,
    DTP,
    FOB,
    LIN,
    MAN,
    MEA,
    N1,
    N2,
    N3,
    N4,
    PER,
    PID,
    PKG,
    PO4,
    PWK,
    REF,
    SAC,
    SDQ,
    SLN,
    TD1,
    TD3,
    TD4,
    TD5,
)

__all__ = ["ASN_856", "Finding", "check_hl"]

# (index in TransactionSet.segments, element position, AK403 code, bad value, message)
Finding = tuple[int, int, str, str, str]

STRUCTURE = codelist("1005 hierarchical structure", (
    "0001=Shipment, Order, Packaging, Item;0002=Shipment, Order, Item, Packaging;"
    "0003=Shipment, Packaging, Order, Item;0004=Shipment, Order, Item;"
    "0005=Shipment, Packaging, Item"), closed=False)
CHILD_CODE = codelist("736 hierarchical child code",
                      "0=No subordinate HL segment;1=Additional subordinate HL data segment")

BSN = seg("BSN", "Beginning Segment for Ship Notice",
          el("353", ID, 2, 2, True, PURPOSE), el("396", AN, 2, 30, True),
          el("373", DT, 8, 8, True), el("337", TM, 4, 8, True),
          el("1005", ID, 4, 4, codes=STRUCTURE), el("640", ID, 2, 2), el("641", ID, 3, 3),
          rules="C0706")
HL = seg("HL", "Hierarchical Level",
         el("628", AN, 1, 12, True), el("734", AN, 1, 12),
         el("735", ID, 1, 2, True, HL_LEVEL_856), el("736", ID, 1, 1, codes=CHILD_CODE))
PRF = seg("PRF", "Purchase Order Reference",
          el("324", AN, 1, 22, True), el("328", AN, 1, 30), el("327", AN, 1, 8),
          el("373", DT, 8, 8), el("350", AN, 1, 20), el("367", AN, 1, 30), el("92", ID, 2, 2))
SN1 = seg("SN1", "Item Detail (Shipment)",
          el("350", AN, 1, 20), el("382", R, 1, 10, True), el("355", ID, 2, 2, True, UOM),
          el("646", R, 1, 15), el("330", R, 1, 15), el("355", ID, 2, 2, codes=UOM),
          el("728", ID, 2, 2), el("668", ID, 2, 2, codes=ACK_STATUS), rules="P0506")
CLD = seg("CLD", "Load Detail",
          el("622", N0, 1, 5, True), el("382", R, 1, 10, True), el("103", AN, 3, 5),
          el("357", R, 1, 8), el("355", ID, 2, 2, codes=UOM), rules="P0405")

_RANK_ROOT = "S"


def check_hl(segments: list[Segment]) -> list[Finding]:
    """Hierarchy faults of the HL segments of an 856 (see the module docstring)."""
    out: list[Finding] = []
    level_of: dict[str, str] = {}
    children: dict[str, int] = {}
    declared: list[tuple[int, str, str]] = []  # (index, HL01, HL04)
    expected = 1
    for i, s in enumerate(segments):
        if s.id != "HL":
            continue
        hl01, hl02, hl03, hl04 = s.element(1), s.element(2), s.element(3), s.element(4)
        first = not level_of and expected == 1
        if hl01 != str(expected):
            out.append((i, 1, "7", hl01, f"HL01 {hl01!r} out of sequence, expected {expected}"))
        expected = int(hl01) + 1 if hl01.isdigit() else expected + 1
        if hl01 in level_of:
            out.append((i, 1, "7", hl01, f"HL01 {hl01!r} repeats"))
        if first:
            if hl02:
                out.append((i, 2, "7", hl02, "the first HL (the shipment) has no parent"))
            if hl03 and hl03 != _RANK_ROOT:
                out.append((i, 3, "7", hl03, "the first HL level must be S (shipment)"))
        else:
            if not hl02:
                out.append((i, 2, "2", "", "HL02 parent id is required after the first HL"))
            elif hl02 not in level_of or hl02 == hl01:
                out.append((i, 2, "7", hl02, f"HL02 {hl02!r} names no earlier HL01"))
            else:
                children[hl02] = children.get(hl02, 0) + 1
            if hl03 == _RANK_ROOT:
                out.append((i, 3, "7", hl03, "only the first HL may be the shipment (S)"))
        level_of.setdefault(hl01, hl03)
        if hl04 in ("0", "1"):
            declared.append((i, hl01, hl04))
    for i, hl01, hl04 in declared:
        has = children.get(hl01, 0) > 0
        if has != (hl04 == "1"):
            what = "has subordinate HLs" if has else "has no subordinate HL"
            out.append((i, 4, "7", hl04, f"HL04 {hl04!r} but HL {hl01} {what}"))
    return out


_N1_LOOP = loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4), O(REF, 12), O(PER, 3), O(FOB))

ASN_856 = transaction_set(
    "856", "Ship Notice/Manifest", "SH", M(BSN), O(DTM, 10),
    loop("HL", 200000, M(HL), O(LIN), O(SN1), O(SLN, MANY), O(PRF), O(PO4), O(PID, 200),
         O(MEA, 40), O(PWK, 25), O(PKG, 25), O(TD1, 20), O(TD5, 12), O(TD3, 12), O(TD4, 5),
         O(REF, MANY), O(PER, 3), loop("CLD", 200, O(CLD), O(REF, 200), O(DTP)),
         O(MAN, MANY), O(DTM, 10), O(FOB), _N1_LOOP, O(SDQ, 50), O(CUR),
         loop("SAC", 25, O(SAC), O(CUR))),
    O(CTT), checks=(check_hl,))
