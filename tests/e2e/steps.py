"""Transforms used by end-to-end test channels."""

from __future__ import annotations

from engine.errors import ValidationError
from engine.message import Message
from engine.steps import StepContext


def fail_on_marker(message: Message, context: StepContext) -> Message:
    """Raise a validation error when MSH-3 is FAILME (to provoke an AE)."""
    if message.hl7.get("MSH-3") == "FAILME":
        raise ValidationError("marker FAILME found in MSH-3", "MSH-3")
    return message
