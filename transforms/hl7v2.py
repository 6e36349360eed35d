"""HL7 v2 filters and transforms for channel files."""

from __future__ import annotations

import json
from typing import Any

from engine.message import Message
from engine.steps import StepContext
from protocols.hl7v2.escaping import Separators, unescape


def message_type_in(message: Message, context: StepContext, types: list[str]) -> bool:
    """Pass messages whose MSH-9 (code^trigger, or code alone) is one of `types`."""
    hl7 = message.hl7
    return hl7.message_type in types or hl7.message_code in types


def field_equals(message: Message, context: StepContext, path: str, value: str | list[str]) -> bool:
    """Pass messages whose field at `path` equals `value` (or one of a list)."""
    actual = message.hl7.get(path)
    return actual in value if isinstance(value, list) else actual == value


def set_field(message: Message, context: StepContext, path: str, value: str) -> Message:
    """Set the field at `path` (e.g. MSH-4, PID-3(2).1) to `value`."""
    message.hl7.set(path, value)
    return message


def copy_field(message: Message, context: StepContext, source: str, target: str) -> Message:
    """Copy the value at `source` into `target`."""
    message.hl7.set(target, message.hl7.get(source))
    return message


def to_json(message: Message, context: StepContext) -> Message:
    """JSON view: segments with fields split into repetitions and components, unescaped."""
    hl7 = message.hl7
    seps = hl7.separators
    segments: list[dict[str, Any]] = []
    for segment in hl7.segments():
        fields = segment.fields
        start = 3 if segment.id in ("MSH", "FHS", "BHS") else 1
        values: list[Any] = list(fields[1:start])
        values.extend(_field_value(raw, seps) for raw in fields[start:])
        segments.append({"id": segment.id, "fields": values})
    body = {
        "message_type": hl7.message_type,
        "control_id": hl7.control_id,
        "version": hl7.version,
        "correlation_id": message.correlation_id,
        "segments": segments,
    }
    return message.replace(json.dumps(body, ensure_ascii=False, separators=(",", ":")), "json")


def _field_value(raw: str, seps: Separators) -> Any:
    """A string, a list of components, or a list of repetitions."""
    reps = [[unescape(c, seps) for c in rep.split(seps.component)]
            for rep in raw.split(seps.repetition)]
    values = [rep[0] if len(rep) == 1 else rep for rep in reps]
    return values[0] if len(values) == 1 else values
