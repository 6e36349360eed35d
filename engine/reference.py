"""The connector reference (Markdown) generated from the config models' field descriptions."""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from . import registry
from .config import ChannelBase, Settings, StoreSettings


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " \\| ".join(str(a) for a in get_args(annotation))
    text = str(annotation) if get_args(annotation) else getattr(annotation, "__name__",
                                                                 str(annotation))
    for prefix in ("typing.", "engine.connector.", "engine.config.", "protocols.hl7v2."):
        text = text.replace(prefix, "")
    return text.replace("|", "\\|")


def model_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    """One Markdown table: key, type, default, description."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = field.alias or name
        default = "required" if field.is_required() else repr(field.get_default(
            call_default_factory=True))
        if len(default) > 40:
            default = default[:37] + "..."
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{key}` | `{_type_name(field.annotation)}` | `{default}` | "
                    f"{description} |")
    return "\n".join(rows)


def connector_reference() -> str:
    """Markdown for every channel key, source and destination type, and the settings file."""
    parts = ["### Channel", model_table(ChannelBase)]
    for kind, types, loader in (("source", registry.source_types(), registry.source_class),
                                ("destination", registry.destination_types(),
                                 registry.destination_class)):
        for name in sorted(types):
            parts += [f"### {kind} `type: {name}`", model_table(loader(name).Config, ("type",))]
    parts += ["### Settings (`configs/plexus.yaml`)", model_table(Settings),
              "### Settings `store:`", model_table(StoreSettings)]
    return "\n\n".join(parts)
