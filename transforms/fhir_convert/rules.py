"""The mapping-table language: a Rule maps one HL7 field (or component) to one FHIR element.

A table is a list of rules. ``Rule("identifier[]", "3*", cx)`` appends the Identifier made
from every repetition of field 3; ``Rule("birthDate", 7, date)`` sets a single element;
``Rule("hospitalization.admitSource", 14, cwe)`` creates the nested objects on the way;
``Rule("x", 0, fn)`` hands the whole segment to `fn` (for elements built from several fields).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .context import Ctx
from .values import Node, Seg

Converter = Callable[[Any, Ctx], Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """FHIR element path <- HL7 field spec, through a datatype converter."""

    target: str
    source: int | str
    conv: Converter

    def nodes(self, seg: Seg) -> list[Any]:
        """The HL7 elements this rule reads from a segment."""
        src = self.source
        if src == 0:
            return [seg]
        if isinstance(src, int):
            node = seg[src]
            return [node] if node else []
        if src.endswith("*"):
            return seg[int(src[:-1])].reps
        field, _, comp = src.partition(".")
        node: Node = seg[int(field)]
        for part in comp.split("."):
            node = node[int(part)]
        return [node] if node else []


Table = list[Rule]


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    """Store `value` at a dotted path; a ``[]`` suffix appends (a list value is extended)."""
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        if part.endswith("[]"):
            items = node.setdefault(part[:-2], [])
            if not items:
                items.append({})
            node = items[-1]
        else:
            node = node.setdefault(part, {})
    last = parts[-1]
    if last.endswith("[]"):
        items = node.setdefault(last[:-2], [])
        for item in value if isinstance(value, list) else [value]:
            if item not in items:
                items.append(item)
    elif last not in node or node[last] in (None, "", {}, []):
        node[last] = value


def apply(table: Table, seg: Seg | None, ctx: Ctx, body: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    """Run every rule of `table` on `seg`, returning (or filling) the resource body."""
    out: dict[str, Any] = {} if body is None else body
    if seg is None:
        return out
    previous = ctx.segment
    ctx.segment = seg
    try:
        for rule in table:
            for node in rule.nodes(seg):
                value = rule.conv(node, ctx)
                if value is None or value == [] or value == {}:
                    continue
                set_path(out, rule.target, value)
    finally:
        ctx.segment = previous
    return out


def ref(value: str | None) -> dict[str, str] | None:
    """A Reference object for a ``Type/id`` string (None stays None)."""
    return {"reference": value} if value else None
