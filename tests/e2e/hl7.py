"""Small helpers to build and read HL7 test messages in end-to-end tests."""

from __future__ import annotations

from protocols.hl7v2.message import Hl7Message


def adt(control_id: str, msg_type: str = "ADT^A01", sender: str = "EHR",
        facility: str = "GOODHEALTH", version: str = "2.5.1", extra: str = "") -> bytes:
    """A synthetic ADT message with the given MSH-10."""
    segments = [
        f"MSH|^~\\&|{sender}|{facility}|PLEXUS|GOODHEALTH|20240116101500||{msg_type}|"
        f"{control_id}|P|{version}{extra}",
        "EVN|A01|20240116101500",
        "PID|1||TEST0001^^^GOODHEALTH^MR||TESTPATIENT^SYNTHETIC||19700101|U",
        "PV1|1|I|WARD^101^1",
    ]
    return ("\r".join(segments) + "\r").encode()


def ack_fields(reply: bytes) -> tuple[str, str, str]:
    """(MSA-1, MSA-2, MSA-3) of an ACK."""
    ack = Hl7Message.parse(reply.decode("utf-8", errors="replace"))
    return ack.get("MSA-1"), ack.get("MSA-2"), ack.get("MSA-3")
