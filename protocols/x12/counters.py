"""Persistent control-number counters per trading partner (ISA13, GS06), kept in the store."""

from __future__ import annotations

from typing import Any


async def next_control_number(store: Any, name: str) -> int:
    """Our next ISA13/GS06 for counter `name` (x12:<name> in the store); 9 digits, so it wraps."""
    number: int = await store.next_number(f"x12:{name}")
    return (number - 1) % 999_999_999 + 1
