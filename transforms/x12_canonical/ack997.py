"""X12 997 / 999 -> canonical FunctionalAcknowledgment (inbound only).

AK1 (group), AK2..AK5 per set (999: AK2..IK5 with IK3/IK4 errors; CTX is not mapped), AK9.
"""

from __future__ import annotations

from transforms.supply.acks import AckedSet, AckError, FunctionalAcknowledgment

from .reading import Seg, SetReader

__all__ = ["read_997"]

_STATUS = {"A": "accepted", "E": "accepted_with_errors", "M": "rejected",
           "P": "partially_accepted", "R": "rejected", "W": "rejected", "X": "rejected"}


def _status(seg: Seg, n: int, what: str) -> str:
    code = seg.need(n, what)
    status = _STATUS.get(code)
    if status is None:
        raise seg.error(f"{what} {code!r} is not an acknowledgment code", n)
    return status


def _codes(seg: Seg, first: int, last: int) -> list[str]:
    return [c for c in (seg.text(n) for n in range(first, last + 1)) if c]


def read_997(r: SetReader) -> FunctionalAcknowledgment:
    """A canonical FunctionalAcknowledgment from a 997 or 999 set."""
    ak1 = r.require("AK1", "functional group response header")
    ak9 = r.require("AK9", "functional group response trailer")
    sets: list[AckedSet] = []
    errors: list[AckError] = []
    current: Seg | None = None
    for s in r:
        if s.id == "AK2":
            current, errors = s, []
        elif s.id in ("AK3", "IK3"):
            errors.append(AckError(segment=s.text(1), position=s.integer(2, "segment position"),
                                   code=s.text(4) or "?"))
        elif s.id in ("AK4", "IK4"):
            errors.append(AckError(segment=errors[-1].segment if errors else None,
                                   position=errors[-1].position if errors else None,
                                   element=s.first_component(1), code=s.need(3, "error code"),
                                   value=s.text(4)))
        elif s.id in ("AK5", "IK5") and current is not None:
            sets.append(AckedSet(set_id=current.need(1, "AK201 set id"),
                                 control_number=current.need(2, "AK202 control number"),
                                 status=_status(s, 1, f"{s.id}01"), codes=_codes(s, 2, 6),
                                 errors=errors))
            current = None
    return FunctionalAcknowledgment(
        ack_type="999" if r.set_id == "999" else "997",
        functional_id=ak1.need(1, "AK101 functional id"),
        group_control_number=ak1.need(2, "AK102 group control number"),
        status=_status(ak9, 1, "AK901"), sets_included=ak9.integer(2, "AK902"),
        sets_received=ak9.integer(3, "AK903"), sets_accepted=ak9.integer(4, "AK904"),
        group_codes=_codes(ak9, 5, 9), sets=sets, source=r.source())
