"""The receiver against peers that misbehave: floods, idle connections that hog the slots,
garbage, and bad frames by the hundred. Real sockets; simulated transmitters and raw attackers."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from drivers.gbt26875.codec import FrameReader
from tests.gbt26875.support import RecordingSink, free_port, receiver_config, run, until
from tests.gbt26875.test_receiver import GYM, LOG, B, fire_alarms, receiving


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True if the other side closes the connection within ``timeout``."""
    try:
        while True:
            if not await asyncio.wait_for(reader.read(65536), timeout):
                return True
    except (TimeoutError, ConnectionError):
        return False


def test_a_flooding_transmitter_is_not_answered_and_its_frame_comes_back() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            device = fleet.transmitter(B)
            await until(lambda: not device.state()["queued"], "link idle")
            acked = device.counters.acked
            sink.refusing = True  # the gateway says: this device is over its limit
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: device.counters.retransmitted >= 1, "a retransmission")
            assert device.counters.acked == acked, "nothing held may be acknowledged"
            assert fire_alarms(sink) == [] and sink.refused
            sink.refusing = False
            await until(lambda: fire_alarms(sink), "the fire, once the device is within limits")
            await until(lambda: device.counters.acked == acked + 1, "then the ACK")
            assert len(fire_alarms(sink)) == 1
            assert device.counters.denied == 0

    run(scenario())


def test_idle_connections_never_lock_out_a_listed_transmitter() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        config = receiver_config(free_port(), max_connections=16, max_connections_per_peer=4096,
                                 identify_within="1s")
        async with receiving(config, sink) as (_, fleet):
            hogs = [await asyncio.open_connection("127.0.0.1", config.listen.port)
                    for _ in range(60)]
            await fleet.act("disconnect", {"transmitter": B})
            await until(lambda: sink.online(B)[-1] is False, "B offline")
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await fleet.act("connect", {"transmitter": B})
            await until(lambda: sink.online(B)[-1] is True, "B back, past the idle crowd")
            await until(lambda: fire_alarms(sink), "B's fire")
            assert sink.online(GYM) == [True], "the identified gym link was never touched"
            # whatever of the crowd is still connected is closed once identify_within passes
            closed = await asyncio.gather(*(closed_by_peer(r, 3.0) for r, _ in hogs))
            assert all(closed)
            for _, writer in hogs:
                writer.close()

    run(scenario())


def test_one_address_holds_at_most_its_share_of_waiting_connections() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        config = receiver_config(free_port(), max_connections_per_peer=3, identify_within="30s")
        async with receiving(config, sink) as (_, fleet):
            # the two transmitters hold two identified connections from 127.0.0.1: not counted
            hogs = [await asyncio.open_connection("127.0.0.1", config.listen.port)
                    for _ in range(10)]
            closed = await asyncio.gather(*(closed_by_peer(r, 1.0) for r, _ in hogs))
            assert closed.count(False) == 3, "3 waiting connections per address"
            assert closed[-3:] == [False] * 3, "the newest stay, the oldest made room"
            assert sink.online(B) == [True] and sink.online(GYM) == [True]
            await fleet.act("disconnect", {"transmitter": B})
            await fleet.act("connect", {"transmitter": B})
            await until(lambda: sink.online(B)[-2:] == [False, True], "B reconnected past them")
            for _, writer in hogs:
                writer.close()

    run(scenario())


def test_garbage_is_quiet_cheap_and_gets_its_sender_disconnected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG)

    async def scenario() -> None:
        sink = RecordingSink()
        config = receiver_config(free_port())
        async with receiving(config, sink) as (_, fleet):
            reader, writer = await asyncio.open_connection("127.0.0.1", config.listen.port)
            answered = 0

            async def count_answers() -> None:
                nonlocal answered
                with contextlib.suppress(ConnectionError):
                    while data := await reader.read(65536):
                        answered += len(data)

            counting = asyncio.create_task(count_answers())
            with contextlib.suppress(ConnectionError):
                for _ in range(256):  # 1 MiB of '@': every byte could start a frame
                    writer.write(b"@" * 4096)
                    await writer.drain()
            await asyncio.wait_for(counting, 10)  # the receiver hung up on it
            assert answered == 0, "nobody to deny: no frame came from a listed transmitter"
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: fire_alarms(sink), "a fire, right after the garbage")
        lines = [r for r in caplog.records if r.name == LOG and r.levelno >= logging.WARNING]
        assert 1 <= len(lines) <= 3, [r.getMessage()[:120] for r in lines]
        assert any("mostly garbage" in r.getMessage() for r in caplog.records)

    run(scenario())


def test_denies_are_rate_limited_and_repeated_warnings_summarised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            device = fleet.transmitter(B)
            await until(lambda: not device.state()["queued"], "link idle")
            for _ in range(100):
                device.send_malformed("bad-checksum")
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: fire_alarms(sink), "the fire after the bad frames")
            await asyncio.sleep(0.3)
            assert 10 <= device.counters.denied <= 15, device.counters.denied
            assert sink.online(B) == [True]
        checksum = [r for r in caplog.records if "checksum" in r.getMessage()]
        assert len(checksum) == 1

    run(scenario())


def test_frame_reader_skips_a_run_of_at_signs_in_few_pieces() -> None:
    reader = FrameReader()
    items = reader.feed(b"@" * 100_000)
    assert len(items) == 1  # one rejection, not one per byte
    assert len(items[0].raw) + reader.pending == 100_000  # the tail may still start a frame
    assert reader.pending < 27
