"""pyas2lib, imported once with a fix for oscrypto 1.3.0 on OpenSSL 3.0.10 and later.

oscrypto (pyas2lib's crypto layer) reads the OpenSSL version with the pattern
``\\b(\\d\\.\\d\\.\\d[a-z]*)\\b``, which finds nothing in "OpenSSL 3.0.19" and makes the import
fail with "Error detecting the version of libcrypto" (wbond/oscrypto#78, fixed upstream but not
released). While oscrypto loads libcrypto we let that one pattern accept multi-digit parts.
"""

from __future__ import annotations

import logging
import re
import threading
from types import ModuleType
from typing import Any

_OSCRYPTO_VERSION = "\\b(\\d\\.\\d\\.\\d[a-z]*)\\b"
_FIXED_VERSION = "\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b"
_lock = threading.Lock()

# pyas2lib logs whole payloads at DEBUG and a traceback for every refused message at ERROR;
# Plexus logs each outcome itself, never a message body
logging.getLogger("pyas2lib").setLevel(logging.CRITICAL)


def pyas2lib() -> ModuleType:
    """The pyas2lib package (with its `as2` module loaded), imported on first use."""
    with _lock:
        original = re.search

        def search(pattern: Any, string: Any, flags: int = 0) -> Any:
            if pattern == _OSCRYPTO_VERSION:
                pattern = _FIXED_VERSION
            return original(pattern, string, flags)

        re.search = search  # type: ignore[assignment]
        try:
            import pyas2lib as module
            import pyas2lib.as2  # noqa: F401 - Message, Mdn, Organization, Partner
        finally:
            re.search = original  # type: ignore[assignment]
    return module
