"""997 functional / 999 implementation acknowledgments and the accept/reject decision behind them.

`ack_summary(ic)` runs the envelope checks and validates every transaction set (protocols/x12/
validate.py); it says, per group and per set, what is accepted, so a listener knows which sets to
pass on to the channel (A and E sets of groups that are not rejected, in an interchange that is
not rejected) and which to store with their errors. `build_ack(ic, ...)` writes the answer:

    ISA (our ids = inbound ISA07/08, theirs = inbound ISA05/06, inbound delimiters and version)
    GS*FA (GS02/GS03 = inbound GS03/GS02, GS08 = 004010-style version for 997, 005010X231A1
           for 999), one ST 997|999 per inbound functional group:
      AK1 (GS01, GS06[, GS08 for 999])
      per set: AK2 (ST01, ST02[, ST03 for 999]),
               AK3/IK3 (+ CTX business unit for 999) and AK4/IK4 per error, AK5/IK5
      AK9 (A/E/P/R, sets included = GE01, received, accepted, group error codes)
    SE / GE / IEA

A 997 and a 999 never share a GS: when an interchange mixes HIPAA 5010 groups (999) and others
(997) the answer holds one FA group of each. Acknowledgments are never acknowledged: FA groups
are skipped and an interchange of only acknowledgments gets no answer (None). TA1s are built
by protocols/x12/ta1.py from the same envelope report (`AckSummary.envelope`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .delimiters import Delimiters
from .envelope import EnvelopeReport, GroupReport, validate_envelope
from .reader import FunctionalGroup, Interchange, Segment, TransactionSet
from .sets.results import SegmentError, SetResult
from .validate import is_hipaa_version, validate_set
from .writer import build_group, build_interchange, build_transaction_set, encode, make_segment

__all__ = ["AckKind", "AckSummary", "GroupOutcome", "ack_summary", "build_ack",
           "choose_ack_kind"]

AckKind = Literal["997", "999"]
ACK_999_VERSION = "005010X231A1"
# 999-only codes written into a 997 as the nearest 997 code.
_SEG_997 = {"I4": "2", "I6": "3", "I7": "3", "I8": "3", "I9": "2"}
_ELE_997 = {"12": "3", "13": "3", "I6": "7", "I9": "2", "I10": "3", "I11": "1", "I12": "6",
            "I13": "3"}
_CONTROL_NAMES = {"\x07": "BEL", "\t": "HT", "\n": "LF", "\x0b": "VT", "\x0c": "FF",
                  "\r": "CR", "\x1c": "FS", "\x1d": "GS", "\x1e": "RS", "\x1f": "US"}


def choose_ack_kind(group: FunctionalGroup) -> AckKind:
    """999 for HIPAA 005010 (and later) implementation versions (005010X...), else 997."""
    version = group.version
    return "999" if is_hipaa_version(version) and version[:6] >= "005010" else "997"


@dataclass(slots=True)
class GroupOutcome:
    """One inbound functional group: its AK9 values and its sets' results."""

    group: FunctionalGroup
    report: GroupReport
    kind: AckKind
    sets: list[SetResult] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        """AK905-AK909: group error codes, numerically sorted."""
        return sorted(self.report.codes, key=lambda c: (len(c), c))

    @property
    def accepted_count(self) -> int:
        """AK904: sets accepted (A or E)."""
        return sum(1 for r in self.sets if r.accepted)

    @property
    def ack_code(self) -> str:
        """AK901: R on group errors or when no set is accepted, P when some are, E/A else."""
        if self.codes:
            return "R"
        if not self.sets:
            return "A"
        accepted = self.accepted_count
        if accepted == 0:
            return "R"
        if accepted < len(self.sets):
            return "P"
        return "E" if any(r.ack_code == "E" for r in self.sets) else "A"


@dataclass(slots=True)
class AckSummary:
    """Everything a listener needs to answer one interchange and route its sets."""

    interchange: Interchange
    envelope: EnvelopeReport
    groups: list[GroupOutcome] = field(default_factory=list)
    skipped: list[FunctionalGroup] = field(default_factory=list)

    @property
    def interchange_rejected(self) -> bool:
        """True when the envelope rejects the whole interchange (TA1 R): nothing goes on."""
        return self.envelope.rejected

    @property
    def accepted(self) -> list[SetResult]:
        """Results of the sets to pass on to the channel (A or E, group and interchange OK)."""
        if self.interchange_rejected:
            return []
        return [r for g in self.groups if g.ack_code != "R" for r in g.sets if r.accepted]

    @property
    def deliver(self) -> list[TransactionSet]:
        """The transaction sets to pass on to the channel."""
        return [r.transaction_set for r in self.accepted]

    @property
    def rejected(self) -> list[SetResult]:
        """Results of the sets to store with their errors instead of passing them on."""
        keep = {id(r) for r in self.accepted}
        return [r for g in self.groups for r in g.sets if id(r) not in keep]

    @property
    def needs_ack(self) -> bool:
        """True when there is at least one group to acknowledge."""
        return bool(self.groups)


def ack_summary(ic: Interchange, *, report: EnvelopeReport | None = None,
                lenient: bool = False, kind: AckKind | None = None) -> AckSummary:
    """Envelope checks plus set validation for one interchange (FA groups are skipped)."""
    report = report or validate_envelope(ic)
    summary = AckSummary(ic, report)
    for greport in report.groups:
        group = greport.group
        if group.functional_id == "FA":
            summary.skipped.append(group)
            continue
        outcome = GroupOutcome(group, greport, kind or choose_ack_kind(group))
        for sreport in greport.sets:
            outcome.sets.append(validate_set(sreport.transaction_set, group.version,
                                             envelope=sreport, lenient=lenient))
        summary.groups.append(outcome)
    return summary


def _bad_value(value: str, d: Delimiters) -> str:
    """AK404: control characters named like pyx12 (<LF>); "" when a delimiter is inside."""
    if not value.isprintable():
        value = "".join(f"<{_CONTROL_NAMES.get(c, 'CC')}>" if c < " " else c for c in value)
    if any(c in value for c in d.chars()):
        return ""
    return value[:99]


def _error_segments(err: SegmentError, kind: AckKind, d: Delimiters) -> list[Segment]:
    """AK3 + AK4s (997) or IK3 + CTX + IK4s (999) for one segment error."""
    is999 = kind == "999"
    code = err.code if is999 else _SEG_997.get(err.code, err.code)
    out = [make_segment("IK3" if is999 else "AK3", err.segment_id, str(err.position),
                        err.ls_id, code, delimiters=d)]
    if is999:
        out += [make_segment("CTX", [name, value], delimiters=d) for name, value in err.context
                if not any(c in value for c in d.chars())]
    for e in err.elements:
        where = [str(e.position)]
        if e.component or (is999 and e.repetition):
            where.append(str(e.component or ""))
        if is999 and e.repetition:
            where.append(str(e.repetition))
        ecode = e.code if is999 else _ELE_997.get(e.code, e.code)
        out.append(make_segment("IK4" if is999 else "AK4", where, e.reference, ecode,
                                _bad_value(e.value, d) or None, delimiters=d))
    return out


def _ack_body(outcome: GroupOutcome, kind: AckKind, d: Delimiters) -> list[Segment]:
    """AK1 ... AK9 for one inbound group."""
    group = outcome.group
    is999 = kind == "999"
    body = [make_segment("AK1", group.functional_id, group.control_number,
                         group.version if is999 else None, delimiters=d)]
    for result in outcome.sets:
        st03 = result.transaction_set.header.element(3) if is999 else ""
        body.append(make_segment("AK2", result.set_id, result.control_number, st03 or None,
                                 delimiters=d))
        for err in result.errors:
            body += _error_segments(err, kind, d)
        body.append(make_segment("IK5" if is999 else "AK5", result.ack_code,
                                 *result.codes[:5], delimiters=d))
    declared = outcome.report.declared_sets
    body.append(make_segment("AK9", outcome.ack_code, str(declared or 0),
                             str(len(group.sets)), str(outcome.accepted_count),
                             *outcome.codes[:5], delimiters=d))
    return body


def _gs_version(outcomes: list[GroupOutcome], kind: AckKind, version_999: str) -> str:
    """GS08 of the FA group: the 999 guide, or the acknowledged groups' base version."""
    if kind == "999":
        return version_999
    base = outcomes[0].group.version[:6]
    return base if base.isdigit() else "004010"


def _isa_version(ic: Interchange) -> str:
    """ISA12 of the answer: the inbound one when it is a real version, else 00401."""
    v = ic.version
    return v if len(v) == 5 and v.isdigit() and v[:2] == "00" and v[2] >= "2" else "00401"


def build_ack(ic: Interchange, kind: AckKind | None = None, *,
              summary: AckSummary | None = None, interchange_number: int = 1,
              group_number: int = 1, now: datetime | None = None,
              sender: tuple[str, str] | None = None, receiver: tuple[str, str] | None = None,
              usage: str | None = None, version_999: str = ACK_999_VERSION,
              lenient: bool = False) -> str | None:
    """The 997/999 interchange answering `ic` (None when there is nothing to acknowledge).

    `kind` forces 997 or 999 for every group (default: choose_ack_kind per group); `sender` and
    `receiver` default to the inbound receiver and sender; `interchange_number` is our ISA13,
    `group_number` our first GS06; set control numbers run 0001, 0002..."""
    summary = summary or ack_summary(ic, lenient=lenient, kind=kind)
    if not summary.groups:
        return None
    now = now or datetime.now()
    version = _isa_version(ic)
    d = ic.delimiters
    if version < "00402":
        d = Delimiters(d.element, d.component, None, d.terminator, d.suffix)
    elif not d.repetition:  # 00402+ needs a repetition separator in ISA11
        free = next(c for c in "^!|{}\\" if c not in d.chars())
        d = Delimiters(d.element, d.component, free, d.terminator, d.suffix)
    by_kind: dict[str, list[GroupOutcome]] = {}
    for outcome in summary.groups:
        by_kind.setdefault(kind or outcome.kind, []).append(outcome)
    groups: list[FunctionalGroup] = []
    number = 0
    for n, (k, outcomes) in enumerate(sorted(by_kind.items())):
        sets = []
        for outcome in outcomes:
            number += 1
            sets.append(build_transaction_set(
                k, number, _ack_body(outcome, k, d),  # type: ignore[arg-type]
                reference=version_999 if k == "999" else None, delimiters=d))
        first = outcomes[0].group
        gs_version = _gs_version(outcomes, k, version_999)
        group = build_group("FA", first.header.element(3).strip(),
                            first.header.element(2).strip(), group_number + n, sets,
                            when=now, version=gs_version, delimiters=d)
        if gs_version[:3] < "004":  # GS04 is YYMMDD before 004010
            group.header.elements[3] = now.strftime("%y%m%d")
        groups.append(group)
    ours = sender or (ic.receiver_qualifier[:2], ic.receiver_id[:15])
    theirs = receiver or (ic.sender_qualifier[:2], ic.sender_id[:15])
    use = usage or (ic.usage if ic.usage in ("P", "T", "I") else "P")
    ack = build_interchange(ours, theirs, groups, interchange_number, when=now, usage=use,
                            version=version, delimiters=d)
    return encode(ack)
