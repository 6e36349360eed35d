"""X12 856 ship notice <-> canonical ShipNotice.

The HL hierarchy is rebuilt from HL01/HL02 (parent links) and flattened into orders -> packs ->
items. When HL02 is empty (some senders leave it out) the parent is the nearest earlier HL of a
higher level (S > O > T > P > I). An item under no order and no pack that carries its own PRF
goes into an order for that PO number; other items and packs under no order go into an order
with no PO number. Tare (T) and pack (P) levels both become packs; a pack inside a tare is
listed on its own.

Mapped: BSN; shipment level TD1, TD5, REF (BM -> bill of lading, CN -> tracking number), DTM
(011 shipped, 017 estimated delivery), N1 loops; order level PRF, REF, N1; pack level MAN; item
level LIN (LT/SN pairs -> lots), SN1, PID, REF (LT lot, SE/LS serial), DTM (036 expiry); CTT
(HL count checked). The writer numbers HLs S=1, then O, P and I in document order, and always
writes an O level (an order without PO number gets an HL without PRF).
"""

from __future__ import annotations

from typing import Any

from transforms.supply.models import ItemId, LotInfo, Quantity, Reference
from transforms.supply.shipping import (
    Carrier,
    ShipmentItem,
    ShipmentOrder,
    ShipmentPack,
    ShipNotice,
)

from .codes import DATE_KINDS, PURPOSES
from .common import (
    read_dates,
    read_description,
    read_item_ids,
    read_party,
    read_reference,
    read_references,
    sections,
)
from .emit import SetWriter, date8, integer, real
from .po850 import split_summary
from .reading import Seg, SetReader, split_at

__all__ = ["read_856", "write_856"]

_RANK = {"S": 0, "O": 1, "T": 2, "P": 3, "I": 4}
_LOT_REFS = {"LT": "lot", "SE": "serial", "LS": "serial"}
_EXPIRY = {"036", "208"}


class _Node:
    """One HL loop: its id, parent id, level code and segments after the HL."""

    __slots__ = ("id", "parent", "level", "hl", "segs")

    def __init__(self, loop: list[Seg], parent: str | None) -> None:
        self.hl = loop[0]
        self.id = self.hl.need(1, "HL01 hierarchical id")
        self.parent = parent
        self.level = self.hl.need(3, "HL03 hierarchical level code")
        self.segs = loop[1:]


def _nodes(loops: list[list[Seg]]) -> list[_Node]:
    """HL loops with parents resolved (HL02, or inferred from the levels when it is empty)."""
    nodes: list[_Node] = []
    by_id: dict[str, _Node] = {}
    for loop in loops:
        hl = loop[0]
        parent = hl.text(2)
        node = _Node(loop, parent)
        if parent is not None and parent not in by_id:
            raise hl.error(f"parent HL {parent!r} does not precede this HL", 2)
        if parent is None and node.level != "S":
            rank = _RANK.get(node.level, 2)
            above = next((n for n in reversed(nodes) if _RANK.get(n.level, 2) < rank), None)
            node.parent = above.id if above else None
        if node.id in by_id:
            raise hl.error(f"HL id {node.id!r} repeats", 1)
        by_id[node.id] = node
        nodes.append(node)
    return nodes


def _ancestor(node: _Node, by_id: dict[str, _Node], levels: str) -> _Node | None:
    """The nearest ancestor of `node` whose level is one of `levels`."""
    seen: set[str] = set()
    current = by_id.get(node.parent) if node.parent else None
    while current is not None and current.id not in seen:
        if current.level in levels:
            return current
        seen.add(current.id)
        current = by_id.get(current.parent) if current.parent else None
    return None


def _read_item(segs: list[Seg]) -> ShipmentItem:
    """The segments of one item-level HL."""
    lin = next((s for s in segs if s.id == "LIN"), None)
    ids = read_item_ids(lin, 2, 31) if lin else []
    lots: list[dict[str, Any]] = []
    lot_ids = [i for i in ids if i.kind in ("lot", "serial")]
    if lot_ids:
        first: dict[str, Any] = {}
        for i in lot_ids:
            if i.kind in first:
                lots.append({i.kind: i.value})
            else:
                first[i.kind] = i.value
        lots.insert(0, first)
    refs = []
    for s in segs:
        if s.id == "REF" and s.text(1) in _LOT_REFS and s.text(2):
            field, value = _LOT_REFS[s.text(1) or ""], s.text(2)
            if field == "lot" or not lots or lots[-1].get("serial"):
                lots.append({field: value})
            else:
                lots[-1][field] = value
        elif s.id == "DTM" and s.text(1) in _EXPIRY and s.date(2, "DTM02 date"):
            if not lots or lots[-1].get("expiry_date"):
                lots.append({})
            lots[-1]["expiry_date"] = s.date(2, "DTM02 date")
        elif s.id == "REF":
            refs.append(s)
    sn1 = next((s for s in segs if s.id == "SN1"), None)
    shipped = ordered = None
    if sn1 is not None:
        value = sn1.decimal(2, "SN102 number of units shipped")
        shipped = None if value is None else Quantity(value=value, unit=sn1.text(3))
        value = sn1.decimal(5, "SN105 quantity ordered")
        ordered = None if value is None else Quantity(value=value, unit=sn1.text(6))
    _, dates = read_dates(s for s in segs if s.id == "DTM" and s.text(1) not in _EXPIRY)
    return ShipmentItem(
        line_number=lin.text(1) if lin else None,
        item_ids=[i for i in ids if i.kind not in ("lot", "serial")],
        description=read_description(s for s in segs if s.id == "PID"),
        shipped_quantity=shipped, ordered_quantity=ordered,
        lots=[LotInfo(**lot) for lot in lots],
        references=[r for r in (read_reference(s) for s in refs) if r], dates=dates)


def _read_order(node: _Node | None, prf: Seg | None = None) -> ShipmentOrder:
    """An order from an O-level HL, or from the PRF of an item under no order, or (neither)
    the order for items under no order."""
    sec = sections(node.segs if node else [])
    prf = sec.first("PRF") if node else prf
    return ShipmentOrder(
        po_number=prf.text(1) if prf else None, release_number=prf.text(2) if prf else None,
        po_date=prf.date(4, "PRF04 purchase order date") if prf else None,
        references=read_references(sec.plain), parties=[read_party(p) for p in sec.parties])


def _read_shipment(r: SetReader, segs: list[Seg]) -> dict[str, Any]:
    """ShipNotice fields from the shipment level (and anything before the first HL)."""
    sec = sections(segs)
    fields: dict[str, Any] = {}
    td1 = sec.first("TD1")
    if td1 is not None:
        fields["package_code"] = td1.text(1)
        fields["package_count"] = td1.integer(2, "TD102 lading quantity")
        weight = td1.decimal(7, "TD107 weight")
        if weight is not None:
            fields["weight"] = Quantity(value=weight, unit=td1.text(8))
    td5 = next((s for s in sec.of("TD5") if s.text(3) or s.text(5)), None)
    carrier: dict[str, Any] = {}
    if td5 is not None:
        carrier = {"code_kind": td5.text(2), "code": td5.text(3),
                   "transport_method": td5.text(4), "routing": td5.text(5)}
    refs = []
    for s in sec.of("REF"):
        key = {"BM": "bill_of_lading", "CN": "tracking_number"}.get(s.text(1) or "")
        if key and key not in carrier and s.text(2):
            carrier[key] = s.text(2)
        else:
            refs.append(s)
    if any(carrier.values()):
        fields["carrier"] = Carrier(**carrier)
    named, dates = read_dates(sec.plain, {"011": "ship_date", "017": "delivery_date"})
    fields.update(named)
    fields["dates"] = dates
    fields["references"] = [x for x in (read_reference(s) for s in refs) if x]
    fields["parties"] = [read_party(p) for p in sec.parties]
    return fields


def read_856(r: SetReader) -> ShipNotice:
    """A canonical ShipNotice from an 856 set."""
    bsn = r.require("BSN", "beginning segment for ship notice")
    body, summary = split_summary(r)
    head, loops = split_at(body, "HL")
    nodes = _nodes(loops)
    by_id = {n.id: n for n in nodes}
    shipment_segs = [s for s in head if s.id != "BSN"]
    orders: dict[str | None, ShipmentOrder] = {}  # O-level HL id, "PRF <po>" or None
    packs: dict[str, ShipmentPack] = {}
    for node in nodes:
        if node.level == "S":
            shipment_segs += node.segs
            continue
        if node.level not in ("O", "T", "P", "I"):
            r.warn(f"{node.hl.where()} level {node.level!r} is not mapped")
            continue
        order_node = node if node.level == "O" else _ancestor(node, by_id, "O")
        key = order_node.id if order_node else None
        prf = next((s for s in node.segs if s.id == "PRF" and s.text(1)), None)
        if key is None and node.level == "I" and prf and not _ancestor(node, by_id, "TP"):
            key = f"PRF {prf.text(1)}"  # an item that names its own order
            if key not in orders:
                orders[key] = _read_order(None, prf)
        if key not in orders:
            orders[key] = _read_order(order_node)
        order = orders[key]
        if node.level in "TP":
            pack = ShipmentPack(level="tare" if node.level == "T" else "pack",
                                marks=[x for x in (_mark(s) for s in node.segs) if x])
            packs[node.id] = pack
            order.packs.append(pack)
        elif node.level == "I":
            pack_node = _ancestor(node, by_id, "TP")
            item = _read_item(node.segs)
            (packs[pack_node.id].items if pack_node else order.items).append(item)
    r.check_count(next((s for s in summary if s.id == "CTT"), None), len(nodes), "HL segments")
    shipment_id = bsn.text(2)
    if shipment_id is None:
        r.warn("BSN02 shipment identification is empty")
    return ShipNotice(
        shipment_id=shipment_id, purpose=PURPOSES.word(bsn.need(1, "BSN01 purpose code")),
        notice_date=bsn.need_date(3, "BSN03 date"), notice_time=bsn.time(4),
        structure=bsn.text(5), orders=list(orders.values()),
        **_read_shipment(r, shipment_segs), source=r.source())


def _mark(s: Seg) -> Reference | None:
    """MAN01/MAN02 as a Reference (None for other segments or an empty MAN)."""
    if s.id != "MAN" or not s.text(2):
        return None
    return Reference(kind=s.need(1, "MAN01 marks and numbers qualifier"), value=s.text(2))


def _write_item(w: SetWriter, item: ShipmentItem, hl: int, parent: int) -> None:
    """One item-level HL."""
    w.add("HL", str(hl), str(parent), "I")
    ids: list[ItemId] = list(item.item_ids)
    w.add("LIN", item.line_number, *w.item_ids(ids, 15, f"LIN of HL {hl}"))
    shipped, ordered = item.shipped_quantity, item.ordered_quantity
    if shipped or ordered:
        w.add("SN1", None, real(shipped.value) if shipped else None,
              shipped.unit if shipped else None, None, real(ordered.value) if ordered else None,
              ordered.unit if ordered else None)
    if item.description is not None:
        w.add("PID", "F", None, None, None, item.description)
    w.references(item.references)
    for lot in item.lots:
        if lot.lot:
            w.add("REF", "LT", lot.lot)
        if lot.serial:
            w.add("REF", "SE", lot.serial)
        if lot.expiry_date:
            w.add("DTM", "036", date8(lot.expiry_date))
    w.dates(item.dates)


def write_856(notice: ShipNotice, w: SetWriter) -> None:
    """The body segments of an 856 for `notice`."""
    w.add("BSN", PURPOSES.code(notice.purpose), notice.shipment_id, date8(notice.notice_date),
          notice.notice_time, notice.structure)
    w.add("HL", "1", None, "S")
    if notice.package_code or notice.package_count is not None or notice.weight:
        weight = notice.weight
        w.add("TD1", notice.package_code, integer(notice.package_count), None, None, None,
              "G" if weight else None, real(weight.value) if weight else None,
              weight.unit if weight else None)
    c = notice.carrier
    if c is not None:
        if c.code or c.routing or c.transport_method or c.code_kind:
            w.add("TD5", None, c.code_kind, c.code, c.transport_method, c.routing)
        if c.bill_of_lading:
            w.add("REF", "BM", c.bill_of_lading)
        if c.tracking_number:
            w.add("REF", "CN", c.tracking_number)
    w.references(notice.references)
    w.date(DATE_KINDS.word("011"), notice.ship_date)
    w.date(DATE_KINDS.word("017"), notice.delivery_date)
    w.dates(notice.dates)
    w.parties(notice.parties)
    hl = 1
    for order in notice.orders:
        hl += 1
        order_hl = hl
        w.add("HL", str(order_hl), "1", "O")
        if order.po_number or order.release_number or order.po_date:
            w.add("PRF", order.po_number, order.release_number, None, date8(order.po_date))
        w.references(order.references)
        w.parties(order.parties)
        for item in order.items:
            hl += 1
            _write_item(w, item, hl, order_hl)
        for pack in order.packs:
            hl += 1
            pack_hl = hl
            w.add("HL", str(pack_hl), str(order_hl), "T" if pack.level == "tare" else "P")
            for mark in pack.marks:
                w.add("MAN", mark.kind, mark.value)
            for item in pack.items:
                hl += 1
                _write_item(w, item, hl, pack_hl)
    w.add("CTT", str(hl))
