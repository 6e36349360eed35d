"""What set validation finds, in the vocabulary of the 997 (AK3/AK4/AK5) and 999 (IK3/IK4/IK5).

Codes are the X12 ones: AK304/IK304 segment syntax errors (1 unrecognized segment id, 2
unexpected segment, 3 mandatory segment missing, 4 loop occurs over maximum times, 5 segment
exceeds maximum use, 6 segment not in defined transaction set, 7 segment not in proper
sequence, 8 segment has data element errors; 999 adds I4, I6-I9), AK403/IK403 element errors (1
mandatory data element missing, 2 conditional required data element missing, 3 too many data
elements, 4 too short, 5 too long, 6 invalid character, 7 invalid code value, 8 invalid date,
9 invalid time, 10 exclusion condition violated; 005010 adds 12 too many repetitions and 13 too
many components; 999 adds I6, I9-I13), AK501/IK501 (A accepted, E accepted with errors, R
rejected) and AK502-AK506 set codes (1 set not supported, 2 trailer missing, 3 control numbers
differ, 4 segment count wrong, 5 one or more segments in error, 6 bad set identifier, 7 bad
control number, 23 duplicate control number).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..reader import TransactionSet

__all__ = ["ElementError", "SegmentError", "SetResult"]


@dataclass(frozen=True, slots=True)
class ElementError:
    """One AK4/IK4: element position (and component/repetition), reference, code, bad value."""

    position: int
    code: str
    reference: str = ""
    value: str = ""
    message: str = ""
    component: int | None = None
    repetition: int | None = None


@dataclass(slots=True)
class SegmentError:
    """One AK3/IK3: segment id, position in the set (ST = 1), code, and its element errors.

    `loop_id` is the loop the segment was found in (informational, e.g. "PO1/SCH");
    `ls_id` is the AK303/IK303 loop identifier, set only inside LS/LE bounded loops;
    `context` holds 999 CTX business-unit pairs such as ("CLM01", "A37YH556").
    """

    segment_id: str
    position: int
    code: str
    message: str = ""
    loop_id: str = ""
    ls_id: str = ""
    elements: list[ElementError] = field(default_factory=list)
    context: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class SetResult:
    """The validation outcome of one transaction set: AK5/IK5 decision and the errors behind it.

    `validator` is "plexus" (our definitions), "pyx12" (HIPAA maps) or "none" (not supported);
    `codes` are the AK502-AK506 reasons, `notes` are remarks that do not affect the decision
    (unknown codes of open code lists, which definition was used...).
    """

    transaction_set: TransactionSet
    version: str
    validator: str
    ack_code: str
    codes: list[str] = field(default_factory=list)
    errors: list[SegmentError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True for A (accepted) and E (accepted with errors): the set goes on to the channel."""
        return self.ack_code in ("A", "E")

    @property
    def set_id(self) -> str:
        """ST01."""
        return self.transaction_set.set_id

    @property
    def control_number(self) -> str:
        """ST02 without surrounding blanks (AK202)."""
        return self.transaction_set.control_number.strip()
