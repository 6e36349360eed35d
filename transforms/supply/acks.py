"""Canonical functional acknowledgment (X12 997/999): what a partner accepted of what we sent."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .models import CanonicalModel, Code, SourceInfo, Text

__all__ = ["AckedSet", "AckError", "FunctionalAcknowledgment"]

AckStatus = Literal["accepted", "accepted_with_errors", "partially_accepted", "rejected"]


class AckError(CanonicalModel):
    """One segment or element error the partner reported (AK3/AK4, IK3/IK4)."""

    segment: Text | None = Field(None, description="segment id in error (AK301/IK301)")
    position: int | None = Field(None, description="segment position in the set (AK302)")
    element: Text | None = Field(None, description="element position (AK401/IK401)")
    code: Code = Field(description="syntax error code (AK304/AK403/IK304/IK403)")
    value: Text | None = Field(None, description="copy of the bad element (AK404/IK404)")


class AckedSet(CanonicalModel):
    """The partner's verdict on one of our transaction sets (AK2..AK5 / IK5)."""

    set_id: Text = Field(description="AK201: 850, 820...")
    control_number: Text = Field(description="AK202: our ST02")
    status: AckStatus
    codes: list[Code] = Field(default_factory=list, description="AK502.. / IK502.. codes")
    errors: list[AckError] = Field(default_factory=list)


class FunctionalAcknowledgment(CanonicalModel):
    """A 997 or 999 for one of our functional groups (AK1..AK9)."""

    doc_type: Literal["functional_acknowledgment"] = "functional_acknowledgment"
    ack_type: Literal["997", "999"]
    functional_id: Text = Field(description="AK101: the group acknowledged (PO, RA...)")
    group_control_number: Text = Field(description="AK102: our GS06")
    status: AckStatus = Field(description="AK901")
    sets_included: int | None = Field(None, description="AK902")
    sets_received: int | None = Field(None, description="AK903")
    sets_accepted: int | None = Field(None, description="AK904")
    group_codes: list[Code] = Field(default_factory=list, description="AK905..AK909")
    sets: list[AckedSet] = Field(default_factory=list)
    source: SourceInfo | None = None
