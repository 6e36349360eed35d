"""New correlation ids: RFC 9562 version 7 UUIDs, time-ordered so the index appends."""

from __future__ import annotations

import time
import uuid

from engine.message import Message, _uuid7, new_correlation_id


def test_new_ids_are_version_7_uuids_carrying_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid.UUID(new_correlation_id())
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_our_uuid7_sets_version_and_variant_bits() -> None:
    # the fallback before Python 3.14; checked on its own, whichever one is in use
    ids = [_uuid7() for _ in range(200)]
    assert {u.version for u in ids} == {7}
    assert {u.variant for u in ids} == {uuid.RFC_4122}
    assert len({u.int & ((1 << 80) - 1) for u in ids}) == 200  # the random part differs


def test_ids_from_later_milliseconds_sort_after_earlier_ones() -> None:
    first = new_correlation_id()
    time.sleep(0.003)
    second = new_correlation_id()
    assert first < second  # as text, the way the index orders them


def test_a_message_without_one_gets_one_and_keeps_it() -> None:
    message = Message(b"x")
    assert uuid.UUID(message.correlation_id).version == 7
    assert message.correlation_id == message.correlation_id
    assert Message(b"x", correlation_id="given").correlation_id == "given"
