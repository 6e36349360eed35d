"""Envelope validation: ISA/IEA, GS/GE and ST/SE checks mapped to TA1, AK9 and AK5/IK5 codes.

Interchange faults carry TA1 note codes (TA105). They are ordered so that the first one is the one
a TA1 reports: faults that reject the interchange (TA104 "R") come first, then faults that only
mark it "accepted with errors" (TA104 "E"), each group in the order found (ISA fields in order,
then IEA, then content). This follows the same rule as pyx12 (reject codes first).

Decisions worth knowing:
- An ISA that is not 106 characters (105 + terminator, measured in decoded characters) gets 022
  "invalid control structure" first, then one fault per mis-sized field (011, 013, 006, 008...).
- U+00A0 (NBSP) padding in ISA fields is accepted as padding, with a warning.
- IEA missing: 023 (premature end of file). GS or ST still open at IEA, or segments outside any
  group (stray): 024 (invalid interchange content). An invalid GS (too few elements, bad GS04
  date, bad GS05 time): 024 as well, since AK9 has no code for it before 005030.
- Duplicate ISA13 within one file (`validate_interchanges`): 025. Duplicate GS06 in an interchange:
  AK9 6 (pyx12 does the same). Duplicate ST02 in a group: AK5 23.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from .reader import FunctionalGroup, Interchange, TransactionSet
from .writer import ISA_WIDTHS

__all__ = [
    "EnvelopeReport",
    "Fault",
    "GroupReport",
    "SetReport",
    "TA1_NOTES",
    "validate_envelope",
    "validate_interchanges",
]

TA1_NOTES = {
    "000": "No error", "001": "Control number in header and trailer do not match",
    "002": "Standard not supported", "003": "Version of the controls not supported",
    "004": "Segment terminator invalid", "005": "Invalid interchange ID qualifier for sender",
    "006": "Invalid interchange sender ID", "007": "Invalid interchange ID qualifier for receiver",
    "008": "Invalid interchange receiver ID", "009": "Unknown interchange receiver ID",
    "010": "Invalid authorization information qualifier value",
    "011": "Invalid authorization information value",
    "012": "Invalid security information qualifier value", "013": "Invalid security information",
    "014": "Invalid interchange date value", "015": "Invalid interchange time value",
    "016": "Invalid interchange standards identifier value",
    "017": "Invalid interchange version ID value", "018": "Invalid interchange control number",
    "019": "Invalid acknowledgment requested value", "020": "Invalid test indicator value",
    "021": "Invalid number of included groups value", "022": "Invalid control structure",
    "023": "Improper (premature) end-of-file", "024": "Invalid interchange content",
    "025": "Duplicate interchange control number", "026": "Invalid data element separator",
    "027": "Invalid component element separator", "028": "Invalid delivery date",
    "029": "Invalid delivery time", "030": "Invalid delivery time code",
    "031": "Invalid grade of service code",
}
# Codes that reject the interchange (TA104 "R"); the rest accept it with errors ("E").
REJECT_CODES = frozenset({"002", "003", "004", "005", "007", "009", "010", "011", "012", "013",
                          "014", "015", "016", "017", "018", "022", "023", "024", "025", "026",
                          "027"})
_QUALIFIERS = frozenset({f"{n:02d}" for n in range(1, 39)} | {"AM", "NR", "SA", "SN", "ZZ"})
# ISA field -> (TA1 note code when the field is wrong, what it is)
_ISA_FIELDS = {1: "010", 2: "011", 3: "012", 4: "013", 5: "005", 6: "006", 7: "007", 8: "008",
               9: "014", 10: "015", 11: "016", 12: "017", 13: "018", 14: "019", 15: "020",
               16: "027"}
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class Fault:
    """One envelope fault: its code (TA105, AK905 or AK502), what is wrong, where (e.g. ISA13)."""

    code: str
    message: str
    location: str

    @property
    def rejects(self) -> bool:
        """For interchange faults: True when the code rejects the interchange (TA104 R)."""
        return self.code in REJECT_CODES


@dataclass(slots=True)
class SetReport:
    """Envelope faults of one transaction set (AK2/AK5 or AK2/IK5 input)."""

    transaction_set: TransactionSet
    faults: list[Fault] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        """AK502-AK506 / IK502-IK506 codes, unique, in order found."""
        return list(dict.fromkeys(f.code for f in self.faults))


@dataclass(slots=True)
class GroupReport:
    """Envelope faults of one functional group (AK1/AK9 input) and of its sets."""

    group: FunctionalGroup
    faults: list[Fault] = field(default_factory=list)
    sets: list[SetReport] = field(default_factory=list)
    declared_sets: int | None = None  # GE01 when readable (AK902)

    @property
    def received_sets(self) -> int:
        """Number of ST headers seen (AK903)."""
        return len(self.group.sets)

    @property
    def codes(self) -> list[str]:
        """AK905-AK909 codes, unique, in order found."""
        return list(dict.fromkeys(f.code for f in self.faults))


@dataclass(slots=True)
class EnvelopeReport:
    """Envelope faults of one interchange at all three levels."""

    interchange: Interchange
    faults: list[Fault] = field(default_factory=list)
    groups: list[GroupReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ta1_note(self) -> str:
        """TA105: the first interchange fault's code, "000" when there is none."""
        return self.faults[0].code if self.faults else "000"

    @property
    def ta1_ack_code(self) -> str:
        """TA104: A accepted, E accepted with errors, R rejected."""
        if not self.faults:
            return "A"
        return "R" if any(f.rejects for f in self.faults) else "E"

    @property
    def rejected(self) -> bool:
        """True when the interchange must be rejected as a whole."""
        return self.ta1_ack_code == "R"

    @property
    def ok(self) -> bool:
        """True when no level has a fault."""
        return not self.faults and not any(
            g.faults or any(s.faults for s in g.sets) for g in self.groups)


def _valid_date(value: str, century: bool) -> bool:
    """YYMMDD (or CCYYMMDD when `century`) is a real calendar date."""
    if len(value) != (8 if century else 6) or not value.isdigit():
        return False
    year = int(value[:-4]) if century else 2000 + int(value[:2])
    month, day = int(value[-4:-2]), int(value[-2:])
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= (_DAYS[month - 1] if month != 2 or leap else 28)


def _valid_time(value: str, lengths: Collection[int] = (4,)) -> bool:
    """HHMM[SS[d..]] with hours < 24, minutes and seconds < 60."""
    if len(value) not in lengths or not value.isdigit():
        return False
    return int(value[:2]) < 24 and int(value[2:4]) < 60 and (len(value) < 6 or
                                                             int(value[4:6]) < 60)


def _isa_faults(ic: Interchange, report: EnvelopeReport) -> list[Fault]:
    """Faults of the ISA header fields, in field order."""
    out: list[Fault] = []
    raw = ic.raw_isa
    if len(raw) != 105:
        out.append(Fault("022", f"ISA is {len(raw) + 1} characters with its terminator, "
                                "must be 106 (fixed-width fields)", "ISA"))
    values = ic.isa.elements
    if len(values) != 16:
        out.append(Fault("022", f"ISA has {len(values)} elements, must be 16", "ISA"))
    d = ic.delimiters
    nbsp = "\xa0" in raw
    for n in range(1, 17):
        value = ic.isa.element(n)
        code, where = _ISA_FIELDS[n], f"ISA{n:02d}"
        width = ISA_WIDTHS[n - 1]
        if nbsp and "\xa0" in value:
            report.warnings.append(f"{where} is padded with NBSP (U+00A0); accepted as padding")
        if len(value) != width:
            out.append(Fault(code, f"{where} is {len(value)} characters, must be {width}", where))
            continue
        problem = _isa_value_problem(n, value, ic)
        if problem:
            out.append(Fault(code, f"{where} {value!r}: {problem}", where))
    if d.terminator in (d.element, d.component):
        out.append(Fault("004", "segment terminator equals another delimiter", "ISA16"))
    isa11 = ic.isa.element(11)
    if ic.version.isdigit() and ic.version >= "00402" and isa11.isalnum():
        report.warnings.append(f"ISA11 {isa11!r} in version {ic.version}: no repetition "
                               "separator declared")
    return out


def _isa_value_problem(n: int, value: str, ic: Interchange) -> str:
    """What is wrong with ISA field `n` of the right width, or ""."""
    d = ic.delimiters
    if n == 1 and value not in ("00", "01", "02", "03", "04", "05", "06"):
        return "unknown authorization information qualifier"
    if n == 3 and value not in ("00", "01"):
        return "unknown security information qualifier"
    if n in (5, 7) and value not in _QUALIFIERS:
        return "unknown interchange ID qualifier"
    if n in (6, 8) and not value.strip():
        return "interchange ID is blank"
    if n == 9 and not _valid_date(value, century=False):
        return "not a valid YYMMDD date"
    if n == 10 and not _valid_time(value):
        return "not a valid HHMM time"
    if n == 11:
        modern = ic.version.isdigit() and ic.version >= "00402"
        if modern and value in (d.element, d.component, d.terminator):
            return "repetition separator equals another delimiter"
        if not modern and not value.isalnum():
            return "interchange control standards identifier must be a code such as U"
    if n == 12 and not (value.isdigit() and value[:2] == "00" and "2" <= value[2] <= "9"
                        and value[3] == "0"):
        return "not a known interchange control version"
    if n == 13 and not value.isdigit():
        return "must be 9 digits"
    if n == 14 and value not in ("0", "1"):
        return "must be 0 or 1"
    if n == 15 and value not in ("P", "T", "I"):
        return "must be P, T or I"
    if n == 16 and (value.isalnum() or value.isspace() or value == d.element):
        return "invalid component element separator"
    return ""


def _trailer_faults(ic: Interchange) -> list[Fault]:
    """IEA and content faults."""
    out: list[Fault] = []
    iea = ic.trailer
    if iea is None:
        out.append(Fault("023", "IEA interchange trailer missing (premature end of data)", "IEA"))
    else:
        count = iea.element(1)
        if not count.isdigit() or int(count) != len(ic.groups):
            out.append(Fault("021", f"IEA01 says {count!r} groups, the interchange holds "
                                    f"{len(ic.groups)}", "IEA01"))
        number = iea.element(2)
        if not (len(number) == 9 and number.isdigit()):
            out.append(Fault("018", f"IEA02 {number!r} is not a 9-digit control number",
                             "IEA02"))
        if number != ic.control_number:
            out.append(Fault("001", f"IEA02 {number!r} does not match ISA13 "
                                    f"{ic.control_number!r}", "IEA02"))
        if any(g.trailer is None or any(s.trailer is None for s in g.sets) for g in ic.groups):
            out.append(Fault("024", "a functional group or transaction set is still open at "
                                    "the IEA", "IEA"))
    if ic.stray_segments:
        ids = ", ".join(s.id for s in ic.stray_segments[:5])
        out.append(Fault("024", f"segments outside any group or set: {ids}",
                         ic.stray_segments[0].id))
    for group in ic.groups:
        gs = group.header
        if len(gs.elements) < 8 or not all(gs.elements[:8]):
            out.append(Fault("024", "GS must have 8 non-empty elements", "GS"))
        elif not _valid_date(gs.element(4), century=gs.element(8)[:3] not in ("002", "003")):
            out.append(Fault("024", f"GS04 {gs.element(4)!r} is not a valid date", "GS04"))
        elif not _valid_time(gs.element(5), (4, 6, 7, 8)):
            out.append(Fault("024", f"GS05 {gs.element(5)!r} is not a valid time", "GS05"))
    return out


def _group_report(group: FunctionalGroup, functional_ids: Collection[str] | None,
                  versions: Collection[str] | None, set_ids: Collection[str] | None,
                  seen: set[str]) -> GroupReport:
    """AK9 faults of one group and AK5 faults of its sets."""
    rep = GroupReport(group)
    fid, version, number = group.functional_id, group.version, group.control_number
    if not fid or (functional_ids is not None and fid not in functional_ids):
        rep.faults.append(Fault("1", f"functional group {fid!r} not supported", "GS01"))
    if not version or (versions is not None and version not in versions):
        rep.faults.append(Fault("2", f"group version {version!r} not supported", "GS08"))
    if not (number.isdigit() and len(number) <= 9):
        rep.faults.append(Fault("6", f"GS06 {number!r} is not a 1-9 digit number", "GS06"))
    elif number in seen:
        rep.faults.append(Fault("6", f"GS06 {number!r} repeats in this interchange", "GS06"))
    seen.add(number)
    ge = group.trailer
    if ge is None:
        rep.faults.append(Fault("3", "GE functional group trailer missing", "GE"))
    else:
        if ge.element(2) != number:
            rep.faults.append(Fault("4", f"GE02 {ge.element(2)!r} does not match GS06 "
                                         f"{number!r}", "GE02"))
        count = ge.element(1)
        rep.declared_sets = int(count) if count.isdigit() else None
        if rep.declared_sets != len(group.sets):
            rep.faults.append(Fault("5", f"GE01 says {count!r} sets, the group holds "
                                         f"{len(group.sets)}", "GE01"))
    numbers: set[str] = set()
    for ts in group.sets:
        rep.sets.append(_set_report(ts, set_ids, numbers))
    return rep


def _set_report(ts: TransactionSet, set_ids: Collection[str] | None,
                numbers: set[str]) -> SetReport:
    """AK5 faults of one transaction set."""
    rep = SetReport(ts)
    sid, number = ts.set_id, ts.control_number
    if not (len(sid) == 3 and sid.isalnum()):
        rep.faults.append(Fault("6", f"ST01 {sid!r} is not a transaction set identifier", "ST01"))
    elif set_ids is not None and sid not in set_ids:
        rep.faults.append(Fault("1", f"transaction set {sid!r} not supported", "ST01"))
    if not (4 <= len(number) <= 9) or number != number.strip():
        rep.faults.append(Fault("7", f"ST02 {number!r} is not a 4-9 character control number",
                                "ST02"))
    elif number in numbers:
        rep.faults.append(Fault("23", f"ST02 {number!r} repeats in this group", "ST02"))
    numbers.add(number)
    se = ts.trailer
    if se is None:
        rep.faults.append(Fault("2", "SE transaction set trailer missing", "SE"))
        return rep
    if se.element(2) != number:
        rep.faults.append(Fault("3", f"SE02 {se.element(2)!r} does not match ST02 {number!r}",
                                "SE02"))
    count, actual = se.element(1), len(ts.segments) + 2
    if not count.isdigit() or int(count) != actual:
        rep.faults.append(Fault("4", f"SE01 says {count!r} segments, the set holds {actual}",
                                "SE01"))
    return rep


def validate_envelope(ic: Interchange, *, receivers: Collection[str] | None = None,
                      versions: Collection[str] | None = None,
                      functional_ids: Collection[str] | None = None,
                      group_versions: Collection[str] | None = None,
                      set_ids: Collection[str] | None = None,
                      seen_control_numbers: set[str] | None = None) -> EnvelopeReport:
    """Check one interchange's ISA/IEA, GS/GE and ST/SE envelopes (see the module docstring)."""
    # Optional restrictions: receivers (our ISA08 ids) -> 009, versions (ISA12) -> 003,
    # functional_ids (GS01) -> AK9 1, group_versions (GS08) -> AK9 2, set_ids (ST01) -> AK5 1.
    report = EnvelopeReport(ic)
    faults = _isa_faults(ic, report)
    if versions is not None and ic.version not in versions:
        faults.append(Fault("003", f"interchange version {ic.version!r} not supported", "ISA12"))
    if receivers is not None and ic.receiver_id not in receivers:
        faults.append(Fault("009", f"receiver {ic.receiver_id!r} is not one of ours", "ISA08"))
    faults += _trailer_faults(ic)
    if seen_control_numbers is not None:
        if ic.control_number in seen_control_numbers:
            faults.append(Fault("025", f"ISA13 {ic.control_number!r} already received",
                                "ISA13"))
        seen_control_numbers.add(ic.control_number)
    report.faults = [f for f in faults if f.rejects] + [f for f in faults if not f.rejects]
    seen: set[str] = set()
    report.groups = [_group_report(g, functional_ids, group_versions, set_ids, seen)
                     for g in ic.groups]
    return report


def validate_interchanges(interchanges: Iterable[Interchange], **options: object
                          ) -> list[EnvelopeReport]:
    """validate_envelope for each interchange of a file, flagging repeated ISA13 (025)."""
    seen: set[str] = set()
    return [validate_envelope(ic, seen_control_numbers=seen, **options)  # type: ignore[arg-type]
            for ic in interchanges]
