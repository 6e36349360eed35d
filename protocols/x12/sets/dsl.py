"""A compact table DSL for X12 transaction-set definitions, compiled once at import.

Writing a definition::

    PO1 = seg("PO1", "Baseline Item Data",
              el("350", AN, 1, 20), el("330", R, 1, 15), el("355", ID, 2, 2, codes=UOM), ...,
              rules="C0302 C0504 P0607")
    PO_850 = transaction_set("850", "Purchase Order", "PO",
                             M(BEG), O(REF, MANY), loop("N1", 200, O(N1), O(N3, 2), O(N4, MANY)),
                             loop("PO1", 100000, M(PO1), O(PID, 1000)), ...)

- `el(ref, kind, min, max, req=False, codes=None)`: one simple data element; `ref` is the data
  element reference number that a 997 AK402 / 999 IK402 reports.
- `comp(ref, *elements)`: a composite (C001...), its components given as `el`s.
- `seg(id, name, *elements, rules="")`: a segment; `rules` are X12 syntax notes: P (paired),
  R (at least one), E (exclusion), C (conditional), L (list conditional) followed by two-digit
  element positions, e.g. "R0203 P0304".
- `M(segment, max_use=1)` / `O(segment, max_use=1)`: a segment's use in a set (mandatory /
  optional); `loop(id, repeat, *children)`: a loop whose first child is its trigger segment; the
  loop is mandatory when its trigger is.
- `transaction_set(id, name, functional_id, *body, checks=())`: the body between ST and SE;
  `checks` are extra set-level rules (856 HL hierarchy) run after the structure walk.

Compilation turns each loop into tuples and per-segment-id position indexes so the validator's
state machine does dict lookups instead of scans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "AN", "DT", "ID", "MANY", "N0", "NUM0", "NUM1", "NUM2", "R", "TM",
    "CodeList", "ElementDef", "LoopDef", "SegUse", "SegmentDef", "SetDef",
    "M", "O", "codelist", "comp", "el", "loop", "seg", "transaction_set",
]

AN, ID, R, DT, TM = "AN", "ID", "R", "DT", "TM"
NUM0, NUM1, NUM2 = "N0", "N1", "N2"  # implied-decimal numerics (N1/N2 would clash with segments)
N0 = NUM0
COMPOSITE = "C"
MANY = 1 << 30  # ">1" in the standard's tables
_KINDS = frozenset((AN, ID, R, DT, TM, NUM0, NUM1, NUM2, COMPOSITE))
_RULE_KINDS = frozenset("PRECL")


@dataclass(frozen=True, slots=True)
class CodeList:
    """Codes of one data element; `closed` lists reject unknown codes, open ones only note them."""

    name: str
    codes: Mapping[str, str]
    closed: bool = True
    members: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __contains__(self, code: object) -> bool:
        return code in self.members

    def describe(self, code: str) -> str:
        """The meaning of `code`, or "" when it is not listed."""
        return self.codes.get(code, "")


def codelist(name: str, codes: Mapping[str, str] | str, closed: bool = True) -> CodeList:
    """A CodeList from a mapping, or from "CODE=meaning;CODE=meaning" text."""
    if isinstance(codes, str):
        pairs = (item.split("=", 1) for item in codes.split(";") if item.strip())
        codes = {k.strip(): v.strip() for k, v in pairs}
    return CodeList(name, dict(codes), closed, frozenset(codes))


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One data element (or composite) of a segment."""

    ref: str
    kind: str
    min: int
    max: int
    required: bool = False
    codes: CodeList | None = None
    components: tuple[ElementDef, ...] = ()


def el(ref: str, kind: str, mn: int, mx: int, req: bool = False,
       codes: CodeList | None = None) -> ElementDef:
    """A simple data element: reference number, type, min/max length, required, code list."""
    if kind not in _KINDS or kind == COMPOSITE:
        raise ValueError(f"unknown element type {kind!r}")
    if not 0 < mn <= mx:
        raise ValueError(f"element {ref}: bad length {mn}/{mx}")
    return ElementDef(ref, kind, mn, mx, req, codes)


def comp(ref: str, *components: ElementDef, req: bool = False) -> ElementDef:
    """A composite data element made of `components`."""
    return ElementDef(ref, COMPOSITE, 1, 1, req, None, tuple(components))


@dataclass(frozen=True, slots=True)
class SegmentDef:
    """A segment: id, name, elements (position = index + 1) and syntax rules."""

    id: str
    name: str
    elements: tuple[ElementDef, ...]
    rules: tuple[tuple[str, tuple[int, ...]], ...] = ()


def _parse_rules(text: str, count: int, seg_id: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """"R0203 P0304" -> (("R", (2, 3)), ("P", (3, 4)))."""
    out = []
    for rule in text.split():
        kind, digits = rule[0], rule[1:]
        if kind not in _RULE_KINDS or len(digits) % 2 or len(digits) < 4:
            raise ValueError(f"{seg_id}: bad syntax rule {rule!r}")
        positions = tuple(int(digits[i:i + 2]) for i in range(0, len(digits), 2))
        if max(positions) > count:
            raise ValueError(f"{seg_id}: rule {rule!r} names an undefined element")
        out.append((kind, positions))
    return tuple(out)


def seg(seg_id: str, name: str, *elements: ElementDef, rules: str = "") -> SegmentDef:
    """A segment definition."""
    return SegmentDef(seg_id, name, tuple(elements), _parse_rules(rules, len(elements), seg_id))


@dataclass(frozen=True, slots=True)
class SegUse:
    """A segment's place in a set: mandatory or not, maximum use."""

    segment: SegmentDef
    required: bool
    max_use: int

    @property
    def trigger(self) -> str:
        """The segment id."""
        return self.segment.id


def M(segment: SegmentDef, max_use: int = 1) -> SegUse:  # noqa: N802 - reads like the tables
    """A mandatory segment use."""
    return SegUse(segment, True, max_use)


def O(segment: SegmentDef, max_use: int = 1) -> SegUse:  # noqa: N802, E743
    """An optional segment use."""
    return SegUse(segment, False, max_use)


@dataclass(frozen=True, slots=True)
class LoopDef:
    """A loop (or the set body when `id` is ""), compiled for the validator's state machine."""

    id: str
    repeat: int
    children: tuple[SegUse | LoopDef, ...]
    # compiled:
    triggers: tuple[str, ...] = ()
    positions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    mandatory: tuple[int, ...] = ()
    segment_ids: frozenset[str] = frozenset()

    @property
    def trigger(self) -> str:
        """The id of the loop's first segment."""
        return self.children[0].trigger

    @property
    def required(self) -> bool:
        """A loop is mandatory when its first segment is."""
        return self.children[0].required

    @property
    def first(self) -> SegmentDef:
        """The definition of the loop's first segment."""
        head = self.children[0]
        assert isinstance(head, SegUse)
        return head.segment


def _compile(loop_id: str, repeat: int, children: Iterable[SegUse | LoopDef]) -> LoopDef:
    """A LoopDef with its lookup tables filled in."""
    kids = tuple(children)
    if loop_id and (not kids or not isinstance(kids[0], SegUse)):
        raise ValueError(f"loop {loop_id} must start with a segment")
    triggers = tuple(k.trigger for k in kids)
    positions: dict[str, list[int]] = {}
    for i, trig in enumerate(triggers):
        positions.setdefault(trig, []).append(i)
    ids: set[str] = set()
    for k in kids:
        ids |= k.segment_ids if isinstance(k, LoopDef) else {k.trigger}
    return LoopDef(loop_id, repeat, kids, triggers,
                   {k: tuple(v) for k, v in positions.items()},
                   tuple(i for i, k in enumerate(kids) if k.required), frozenset(ids))


def loop(loop_id: str, repeat: int, *children: SegUse | LoopDef) -> LoopDef:
    """A loop: id (its trigger segment's id by convention), maximum repeat, children."""
    return _compile(loop_id, repeat, children)


@dataclass(frozen=True, slots=True)
class SetDef:
    """A transaction set definition: the body between ST and SE plus set-level checks."""

    id: str
    name: str
    functional_id: str
    body: LoopDef
    checks: tuple[Callable[..., list], ...] = ()
    segments: Mapping[str, SegmentDef] = field(default_factory=dict)


def _collect(node: LoopDef, out: dict[str, SegmentDef]) -> None:
    """Every segment definition used under `node`, by id (first definition wins)."""
    for child in node.children:
        if isinstance(child, LoopDef):
            _collect(child, out)
        else:
            out.setdefault(child.trigger, child.segment)


def transaction_set(set_id: str, name: str, functional_id: str, *body: SegUse | LoopDef,
                    checks: Iterable[Callable[..., list]] = ()) -> SetDef:
    """A compiled transaction set definition."""
    root = _compile("", 1, body)
    segments: dict[str, SegmentDef] = {}
    _collect(root, segments)
    return SetDef(set_id, name, functional_id, root, tuple(checks), segments)
