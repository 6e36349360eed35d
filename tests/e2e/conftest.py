"""Fixtures for end-to-end tests: real `plexus run` processes and real MLLP peers."""

from __future__ import annotations

from tests.unit.reactor_thread import reactor_thread  # noqa: F401 - fixture re-export
