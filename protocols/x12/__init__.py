"""X12 EDI codec (pure code, no I/O): delimiter detection, a tolerant reader, a writer and
builder, envelope validation mapped to TA1/997/999 codes, and TA1 acknowledgments.

    interchanges = parse(data)                  # bytes or str -> list[Interchange]
    report = validate_envelope(interchanges[0]) # TA1 note, AK9 and AK5 codes
    if needs_ta1(report):
        reply = build_ta1_for_report(report, our_control_number, now)
"""

from .delimiters import DEFAULT_DELIMITERS, Delimiters, IsaHeaderError, detect
from .envelope import (
    EnvelopeReport,
    Fault,
    GroupReport,
    SetReport,
    validate_envelope,
    validate_interchanges,
)
from .reader import FunctionalGroup, Interchange, Segment, TransactionSet, decode, parse
from .ta1 import (
    build_ta1,
    build_ta1_for_report,
    build_ta1_unreadable,
    is_acknowledgment,
    needs_ta1,
)
from .writer import (
    build_group,
    build_interchange,
    build_transaction_set,
    encode,
    encode_segment,
    fix_counts,
    make_segment,
)

__all__ = [
    "DEFAULT_DELIMITERS",
    "Delimiters",
    "EnvelopeReport",
    "Fault",
    "FunctionalGroup",
    "GroupReport",
    "Interchange",
    "IsaHeaderError",
    "Segment",
    "SetReport",
    "TransactionSet",
    "build_group",
    "build_interchange",
    "build_ta1",
    "build_ta1_for_report",
    "build_ta1_unreadable",
    "build_transaction_set",
    "decode",
    "detect",
    "encode",
    "encode_segment",
    "fix_counts",
    "is_acknowledgment",
    "make_segment",
    "needs_ta1",
    "parse",
    "validate_envelope",
    "validate_interchanges",
]
