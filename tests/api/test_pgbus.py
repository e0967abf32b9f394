"""The stream bus's wire format: messages packed under the payload limit, big ones in fragments."""

from __future__ import annotations

import itertools

from api.services.bus import Message
from api.services.pgbus import MAX_PAYLOAD, _Joiner, pack


def test_messages_round_trip_in_payloads_under_the_limit_and_big_ones_in_fragments() -> None:
    small = [Message("event", f'{{"id": "e-{i}", "t": "Lạng Sơn\\tđường"}}', "congestion", "W1", 106.7, 21.8)
             for i in range(300)]  # fmt: skip
    big = Message("incident", '{"note": "' + "đường số " * 3000 + '"}', None, None, None, None)
    msgs = [*small[:150], big, *small[150:]]
    payloads = pack("node-a", itertools.count(1), msgs)
    assert all(len(p.encode()) < MAX_PAYLOAD for p in payloads)
    assert len(payloads) > 5  # the big one alone needs several
    joiner = _Joiner()
    got: list[Message] = []
    seqs = []
    for p in payloads:
        origin, seq, out = joiner.feed(p)
        assert origin == "node-a"
        seqs.append(seq)
        got.extend(out)
    assert got == msgs
    assert seqs == sorted(set(seqs))  # distinct, increasing: none merged, gaps detectable


def test_a_fragment_missing_drops_only_its_message() -> None:
    big = Message("alert", '{"x": "' + "a" * 20_000 + '"}')
    after = Message("event", '{"id": "next"}')
    payloads = pack("b", itertools.count(1), [big, after])
    joiner = _Joiner()
    got = [m for i, p in enumerate(payloads) if i != 1 for m in joiner.feed(p)[2]]
    assert got == [after]
