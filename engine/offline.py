"""Run a channel's steps on one input without network or store (for `plexus test`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import registry
from .errors import MessageError
from .message import Message
from .steps import StepContext, StepResolver, build_steps, run_filters, run_transforms


@dataclass
class CaseResult:
    """What the channel would do with one input."""

    status: str  # accepted | filtered | error
    error: str | None = None
    outputs: dict[str, list[bytes]] = field(default_factory=dict)
    destination_status: dict[str, str] = field(default_factory=dict)


def normalise_hl7(data: bytes) -> bytes:
    """CR segment ends, no BOM, no blank lines: how HL7 files are compared and sent."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"\r".join(line for line in lines if line.strip()) + b"\r"


def source_content_type(source_type: str) -> str:
    """The content type of the messages a source type makes ("text" when it does not say)."""
    return getattr(registry.source_class(source_type), "content_type", "text")


def run_offline(channel: Any, resolver: StepResolver, data: bytes) -> CaseResult:
    """Filters and transforms of the channel, then each destination's, on one input."""
    content_type = source_content_type(channel.source.type)
    if content_type == "hl7v2":
        data = normalise_hl7(data)
    message = Message(data, content_type, channel=channel.name)
    context = StepContext(channel.name)
    try:
        if content_type == "hl7v2":
            message.hl7.validate_header()
            message.correlation_id = message.hl7.control_id or message.correlation_id
        filters = build_steps(channel.filters, resolver)
        if filters and run_filters(filters, message, context) is not None:
            return CaseResult("filtered")
        parts = run_transforms(build_steps(channel.transforms, resolver), message, context)
    except MessageError as exc:
        return CaseResult("error", str(exc))
    if not parts:
        return CaseResult("filtered")
    result = CaseResult("accepted")
    for dest in channel.destinations:
        outputs: list[bytes] = []
        status = "sent"
        dest_context = StepContext(channel.name, dest.name)
        try:
            dest_filters = build_steps(dest.filters, resolver)
            dest_steps = build_steps(dest.transforms, resolver)
            for part in parts:
                copy = part.replace(part.content)
                if dest_filters and run_filters(dest_filters, copy, dest_context) is not None:
                    continue
                outputs.extend(m.content for m in run_transforms(dest_steps, copy, dest_context))
        except MessageError as exc:
            status = f"error: {exc}"
        if not outputs and status == "sent":
            status = "filtered"
        result.outputs[dest.name] = outputs
        result.destination_status[dest.name] = status
    return result
