"""Durations ("200ms", "5s", "5m", "30d") and sizes ("1MiB") for config fields."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 1000**2, "MiB": 1024**2,
               "GB": 1000**3, "GiB": 1024**3}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as '200ms', '5s', '5m', '2h', '30d'."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '5s'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("a duration must be a finite number of seconds")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r}: use e.g. 200ms, 5s, 5m, 2h, 30d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as '1MiB' or '512KB'."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '1MiB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"invalid size {value!r}: use bytes or e.g. 512KiB, 1MiB")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]
