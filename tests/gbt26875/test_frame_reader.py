"""FrameReader on a real-looking TCP stream: splits, bursts, noise, broken frames, resync."""

from __future__ import annotations

import itertools
from datetime import datetime

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from drivers.gbt26875.codec import (
    Command,
    Frame,
    FrameReader,
    Rejected,
    TransmitterStatus,
    Variant,
    encode_frame,
    encode_units,
)

DEVICE = bytes.fromhex("0A0B0C0D0E0F")
CENTRE = bytes.fromhex("000000000001")
WHEN = datetime(2026, 11, 5, 14, 3, 22)


def heartbeat(serial: int) -> bytes:
    data = encode_units([TransmitterStatus(1, WHEN)])
    return encode_frame(Frame(serial, Command.SEND_DATA, DEVICE, CENTRE, data, WHEN))


def frames_of(items: list[Frame | Rejected]) -> list[int]:
    return [i.serial for i in items if isinstance(i, Frame)]


def rejected_of(items: list[Frame | Rejected]) -> list[Rejected]:
    return [i for i in items if isinstance(i, Rejected)]


def test_a_frame_split_across_every_possible_read() -> None:
    raw = heartbeat(1)
    for cut in range(1, len(raw)):
        reader = FrameReader()
        assert reader.feed(raw[:cut]) == []
        assert frames_of(reader.feed(raw[cut:])) == [1]
        assert reader.pending == 0


def test_one_byte_at_a_time() -> None:
    reader = FrameReader()
    items = [item for byte in heartbeat(1) + heartbeat(2) for item in reader.feed(bytes([byte]))]
    assert frames_of(items) == [1, 2] and not rejected_of(items)


def test_several_frames_in_one_read() -> None:
    items = FrameReader().feed(heartbeat(1) + heartbeat(2) + heartbeat(3))
    assert frames_of(items) == [1, 2, 3] and not rejected_of(items)


def test_noise_between_frames_is_reported_and_skipped() -> None:
    items = FrameReader().feed(b"\x00\xffnoise" + heartbeat(1) + b"@x#" + heartbeat(2))
    assert frames_of(items) == [1, 2]
    assert [r.raw for r in rejected_of(items)] == [b"\x00\xffnoise", b"@x#"]
    assert all(r.serial is None for r in rejected_of(items))


def test_bad_checksum_then_a_good_frame() -> None:
    bad = bytearray(heartbeat(1))
    bad[-3] ^= 0x01
    items = FrameReader().feed(bytes(bad) + heartbeat(2))
    assert frames_of(items) == [2]
    (rejected,) = rejected_of(items)
    assert rejected.serial == 1 and rejected.source == DEVICE and "checksum" in rejected.reason
    assert rejected.raw == bytes(bad)


def test_length_over_the_limit_is_rejected_from_the_header() -> None:
    oversized = encode_frame(Frame(5, Command.SEND_DATA, DEVICE, CENTRE, bytes(1100), WHEN),
                             max_app_data=0xFFFF)
    reader = FrameReader()
    items = reader.feed(oversized[:40])  # the header is enough
    (rejected,) = rejected_of(items)
    assert rejected.serial == 5 and "1100 over the limit 1024" in rejected.reason
    items = reader.feed(oversized[40:] + heartbeat(6))
    assert frames_of(items) == [6]


def test_missing_end_marker() -> None:
    broken = heartbeat(1)[:-2] + b"!!"
    items = FrameReader().feed(broken + heartbeat(2))
    assert frames_of(items) == [2]
    assert "##" in rejected_of(items)[0].reason and rejected_of(items)[0].serial == 1


def test_a_frame_cut_short_by_the_next_frame_is_rejected_at_once() -> None:
    # A sender that lost its connection mid-frame and started again: the tail never comes.
    # The truncated frame claims more bytes than the buffer holds, so only the complete frame
    # after it proves it dead; a fire alarm must not wait for 1000 more bytes.
    long_claim = bytearray(heartbeat(1)[:30])
    long_claim[24:26] = (1000).to_bytes(2, "little")
    reader = FrameReader()
    items = reader.feed(bytes(long_claim) + heartbeat(2))
    assert frames_of(items) == [2]
    (rejected,) = rejected_of(items)
    assert rejected.serial == 1 and "cut short" in rejected.reason


def test_flush_gives_up_a_partial_frame() -> None:
    reader = FrameReader()
    assert reader.feed(heartbeat(1)[:20]) == []
    assert reader.pending == 20
    (rejected,) = reader.flush()
    assert isinstance(rejected, Rejected) and rejected.reason == "incomplete frame"
    assert reader.pending == 0
    assert frames_of(reader.feed(heartbeat(2))) == [2]


def test_a_trailing_at_sign_waits_for_its_partner() -> None:
    reader = FrameReader()
    raw = heartbeat(1)
    assert reader.feed(b"xyz@") == [Rejected("bytes outside a frame", b"xyz")]
    assert frames_of(reader.feed(raw[1:])) == [1]


def test_extra_at_sign_before_a_frame() -> None:
    items = FrameReader().feed(b"@" + heartbeat(1))
    assert frames_of(items) == [1]


# --- properties ---------------------------------------------------------------------------

addresses = st.binary(min_size=6, max_size=6)
variants = st.builds(Variant, st.sampled_from(["binary", "bcd"]), st.sampled_from(["sum", "xor"]))
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda t: t.replace(microsecond=0)
)
frames = st.builds(
    Frame,
    serial=st.integers(0, 0xFFFF),
    command=st.integers(0, 255),
    source=addresses,
    destination=addresses,
    app_data=st.binary(max_size=120),
    time=times,
    version=st.tuples(st.integers(0, 255), st.integers(0, 255)),
)


def feed_in_chunks(reader: FrameReader, stream: bytes, cuts: list[int]) -> list[Frame | Rejected]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    items: list[Frame | Rejected] = []
    for start, end in itertools.pairwise(points):
        items += reader.feed(stream[start:end])
    return items + reader.flush()


def accounted_bytes(items: list[Frame | Rejected], variant: Variant) -> int:
    return sum(len(i.raw) if isinstance(i, Rejected) else len(encode_frame(i, variant))
               for i in items)


@settings(max_examples=300, deadline=None)
@given(stream=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 4000), max_size=12),
       variant=variants)
def test_random_bytes_never_raise_and_every_byte_is_accounted_for(
    stream: bytes, cuts: list[int], variant: Variant
) -> None:
    items = feed_in_chunks(FrameReader(variant), stream, cuts)
    assert accounted_bytes(items, variant) == len(stream)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames, variant=variants, before=st.binary(max_size=300),
       after=st.binary(max_size=300), cuts=st.lists(st.integers(0, 2000), max_size=10))
def test_a_valid_frame_in_noise_is_always_found(
    frame: Frame, variant: Variant, before: bytes, after: bytes, cuts: list[int]
) -> None:
    raw = encode_frame(frame, variant)
    assume(raw not in before and raw not in after)
    items = feed_in_chunks(FrameReader(variant), before + raw + after, cuts)
    assert frame in items
    assert accounted_bytes(items, variant) == len(before) + len(raw) + len(after)


@settings(max_examples=300, deadline=None)
@given(serials=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=6),
       edits=st.lists(st.tuples(st.integers(0, 400), st.sampled_from(["flip", "drop", "insert"]),
                                st.integers(0, 255)), max_size=8),
       cuts=st.lists(st.integers(0, 500), max_size=10))
def test_mutated_streams_yield_only_genuine_frames(
    serials: list[int], edits: list[tuple[int, str, int]], cuts: list[int]
) -> None:
    stream = bytearray(b"".join(heartbeat(s) for s in serials))
    for position, kind, value in edits:
        position %= len(stream) + 1
        if kind == "insert":
            stream[position:position] = bytes([value])
        elif position < len(stream):
            if kind == "flip":
                stream[position] ^= value or 1
            else:
                del stream[position]
    items = feed_in_chunks(FrameReader(), bytes(stream), cuts)
    assert accounted_bytes(items, Variant()) == len(stream)
    for item in items:
        if isinstance(item, Frame):  # whatever comes out is a frame that is really there
            assert encode_frame(item) in bytes(stream)


def test_a_frame_right_after_a_run_of_at_signs_is_found() -> None:
    for run in (1, 2, 25, 26, 27, 28, 5000):
        items = FrameReader().feed(b"@" * run + heartbeat(9))
        assert frames_of(items) == [9], run
        assert accounted_bytes(items, Variant()) == run + len(heartbeat(9))
