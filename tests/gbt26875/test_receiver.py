"""The real TransmissionReceiver on a loopback port, driven by simulated transmitters over TCP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from drivers.gbt26875.codec import (
    Command,
    Frame,
    FrameReader,
    TransmitterStatus,
    encode_frame,
    encode_units,
)
from drivers.gbt26875.driver import TransmissionReceiver
from drivers.gbt26875.models import Listen, TransmissionReceiverConfig
from drivers.gbt26875.timelabel import Variant
from gateway.kernel.events import FireFact
from gateway.kernel.ports import ActionError
from simulators.gbt26875 import TransmissionDeviceSimulator, TransmitterFleet
from tests.gbt26875.support import RecordingSink, free_port, receiver_config, run, until

B = "utd-building-b"
GYM = "utd-gym"
FAST = {"ack_timeout": 0.3, "heartbeat_interval": 30.0, "reconnect_delay": 0.05}
SMOKE_TEXT = "二层东走廊感烟探测器"
LOG = "drivers.gbt26875.driver"


@contextlib.asynccontextmanager
async def receiving(config: TransmissionReceiverConfig, sink: RecordingSink,
                    sim_config: TransmissionReceiverConfig | None = None, **timing: Any,
                    ) -> AsyncIterator[tuple[TransmissionReceiver, TransmitterFleet]]:
    """The receiver running, and a fleet of simulated transmitters connected to it."""
    driver = TransmissionReceiver(config, sink)
    task = asyncio.create_task(driver.run())
    fleet = TransmitterFleet(sim_config or config, **{**FAST, **timing})
    await fleet.start()
    try:
        await until(lambda: sink.online(B)[-1:] == [True] and sink.online(GYM)[-1:] == [True],
                    "both transmitters online")
        yield driver, fleet
    finally:
        await fleet.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def fire_alarms(sink: RecordingSink, device: str = B) -> list[FireFact]:
    facts = [e.payload for e in sink.of("campus.fire.alarm", device)]
    return [f for f in facts if isinstance(f, FireFact)]


def test_fire_and_restore_with_gb18030_description() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            await fleet.act("fire", {"transmitter": B, "component_address": 258,
                                     "description": SMOKE_TEXT})
            await until(lambda: fire_alarms(sink), "fire.alarm")
            (fact,) = fire_alarms(sink)
            assert (fact.point, fact.description, fact.zone, fact.location) == (
                "S1-1/C258", SMOKE_TEXT, "building-b-f2", "2F corridor east")
            assert fact.component_type == "smoke detector"

            await fleet.act("restore", {"transmitter": B, "component_address": 258})
            await until(lambda: sink.of("campus.fire.restored", B), "fire.restored")
            assert sink.of("campus.fire.restored", B)[0].subject == "S1-1/C258"

            # the vendor-variant transmitter (BCD time, XOR checksum) is understood as well
            await fleet.act("fault", {"transmitter": GYM, "component_address": 23,
                                      "component_type": 23, "description": "手动报警按钮"})
            await until(lambda: sink.of("campus.fire.fault", GYM), "fault from the gym")
            counters = fleet.transmitter(B).counters
            assert counters.denied == 0 and counters.acked == counters.sent

    run(scenario())


class AckDroppingProxy:
    """Sits between transmitters and receiver and can swallow the receiver's next ACKs."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.drop_next = 0
        self.dropped: list[int] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._pair, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _pair(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def upstream() -> None:
            while data := await reader.read(4096):
                up_writer.write(data)
            up_writer.close()

        async def downstream() -> None:
            frames = FrameReader()
            while data := await up_reader.read(4096):
                for item in frames.feed(data):
                    if (isinstance(item, Frame) and item.command == Command.CONFIRM
                            and self.drop_next):
                        self.drop_next -= 1
                        self.dropped.append(item.serial)
                        continue
                    writer.write(encode_frame(item) if isinstance(item, Frame) else item.raw)
            writer.close()

        with contextlib.suppress(OSError):
            await asyncio.gather(upstream(), downstream())


def test_a_retransmission_after_a_lost_ack_is_not_a_second_alarm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG)

    async def scenario() -> None:
        sink = RecordingSink()
        config = receiver_config(free_port())
        proxy = AckDroppingProxy(config.listen.port)
        via_proxy = config.model_copy(
            update={"listen": Listen(host="127.0.0.1", port=await proxy.start())}
        )
        async with receiving(config, sink, via_proxy) as (_, fleet):
            device = fleet.transmitter(B)
            await until(lambda: device.counters.acked >= 1 and not device.state()["queued"],
                        "first heartbeat acknowledged")
            proxy.drop_next = 1
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: device.counters.acked >= 2, "fire acknowledged after resending")
            assert device.counters.retransmitted == 1
            assert len(proxy.dropped) == 1
            await asyncio.sleep(0.2)
            assert len(fire_alarms(sink)) == 1
            # the frame's identity goes with its events: a retransmission the receiver no
            # longer remembers (after a restart) is still one event at the gateway's intake
            (fire,) = sink.of("campus.fire.alarm", B)
            assert fire.reading is not None and fire.reading.startswith(f"{proxy.dropped[0]}:")
        await proxy.stop()
        assert f"repeated frame {proxy.dropped[0]}" in caplog.text

    run(scenario())


def test_malformed_frames_are_denied_and_logged_and_the_link_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            device = fleet.transmitter(B)
            await until(lambda: not device.state()["queued"], "link idle")
            bad_checksum = device.send_malformed("bad-checksum")
            for kind in ("garbage", "too-long", "truncated", "wrong-variant"):
                await fleet.act("send-malformed", {"transmitter": B, "kind": kind})
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: fire_alarms(sink), "the fire after the bad frames")
            await until(lambda: device.counters.denied == 4, "four denies (garbage has no serial)")
            assert sink.online(B) == [True], "the connection was never dropped"
            assert device.counters.connects == 1

            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any(bad_checksum.hex(" ") in w and "checksum" in w for w in warnings)
            assert any("bytes outside a frame" in w and "6c 69 6e 65" in w for w in warnings)
            assert any("over the limit 1024" in w for w in warnings)
            assert any("'##'" in w for w in warnings)
            assert all("127.0.0.1:" in w for w in warnings), warnings

    run(scenario())


def in_november(device: TransmissionDeviceSimulator) -> None:
    """Set the device clock to a date whose BCD and binary encodings are told apart.

    November is 0x11 in BCD (17 as binary: no month) and 0x0B in binary (no BCD digit), so a
    frame in the wrong time format is refused whatever its checksum happens to be.
    """
    device.clock_offset = datetime(2026, 11, 25, 20, 45, 50) - device.now() + device.clock_offset


def test_frames_in_a_variant_not_configured_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            standard, vendor = fleet.transmitter(B), fleet.transmitter(GYM)
            in_november(standard)
            in_november(vendor)
            await fleet.act("send-variant", {"transmitter": B, "time": "bcd", "checksum": "xor"})
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await fleet.act("send-variant", {"transmitter": GYM})  # standard, but BCD configured
            await fleet.act("fire", {"transmitter": GYM, "component_address": 9})
            await until(lambda: standard.counters.denied == 1 and vendor.counters.denied == 1,
                        "both refused")
            assert fire_alarms(sink) == [] and fire_alarms(sink, GYM) == []
            text = caplog.text
            assert "expected for time=binary checksum=sum" in text
            assert "expected for time=bcd checksum=xor" in text or "not BCD" in text

            await fleet.act("send-variant", {"transmitter": B, "time": "binary", "checksum": "sum"})
            await fleet.act("fire", {"transmitter": B, "component_address": 259})
            await until(lambda: fire_alarms(sink), "a fire in the right variant")
            assert [f.point for f in fire_alarms(sink)] == ["S1-1/C259"]

    run(scenario())


def test_disconnect_and_reconnect_change_availability() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            await fleet.act("disconnect", {"transmitter": B})
            await until(lambda: sink.online(B) == [True, False], "offline")
            reason = [r for d, online, r in sink.availability_changes if d == B and not online]
            assert "closed by the device" in reason[0]
            await fleet.act("fire", {"transmitter": B, "component_address": 258})  # queued
            await fleet.act("connect", {"transmitter": B})
            await until(lambda: sink.online(B) == [True, False, True], "online again")
            await until(lambda: fire_alarms(sink), "the alarm queued while away")
            assert sink.online(GYM) == [True]

    run(scenario())


def test_silence_for_longer_than_the_heartbeat_timeout_is_offline() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        config = receiver_config(free_port(), heartbeat_timeout="600ms")
        async with receiving(config, sink):
            await until(lambda: False in sink.online(B), "offline after silence", timeout=5)
            reason = next(r for d, online, r in sink.availability_changes if d == B and not online)
            assert "no valid frame for 0.6 s" in reason
            await until(lambda: sink.online(B)[-1] is True, "back after reconnecting")

    run(scenario())


def test_system_reset_and_silence_from_the_panel() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: fire_alarms(sink), "fire")
            await fleet.act("silence", {"transmitter": B, "operator": 4})
            await until(lambda: sink.of("campus.fire.silenced", B), "silenced")
            await fleet.act("system-reset", {"transmitter": B})
            await until(lambda: sink.of("campus.fire.panel_reset", B), "panel reset")
            (reset,) = sink.of("campus.fire.panel_reset", B)
            assert reset.subject == "S1-1/system"
            # the panel came back normal; a new fire at the same detector is a new alarm
            await fleet.act("fire", {"transmitter": B, "component_address": 258})
            await until(lambda: len(fire_alarms(sink)) == 2, "second fire after the reset")

    run(scenario())


def test_clock_sync_and_duty_check_through_execute() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (driver, fleet):
            synced = await driver.execute("clock-sync", {"transmitter": GYM})
            assert synced["confirmed"] is True and synced["error"] == "", synced
            assert fleet.transmitter(GYM).counters.clock_syncs == 1

            checked = await driver.execute("duty-check", {"transmitter": B})
            assert (checked["confirmed"], checked["answered"], checked["operator"]) == (
                True, True, "1"), checked
            assert sink.of("campus.fire.operation", B)

            fleet.transmitter(GYM).duty_answer_delay = None  # nobody at the panel
            unanswered = await driver.execute("duty-check", {"transmitter": GYM, "wait": 0.3})
            assert unanswered["confirmed"] is True and unanswered["answered"] is False
            assert "nobody answered" in unanswered["error"]

            with pytest.raises(ActionError, match="unknown action"):
                await driver.execute("self-destruct", {})
            with pytest.raises(ActionError, match="no transmitter"):
                await driver.execute("clock-sync", {"transmitter": "nope"})
            await fleet.act("disconnect", {"transmitter": B})
            await until(lambda: sink.online(B)[-1] is False, "offline")
            away = await driver.execute("clock-sync", {"transmitter": B})
            assert away["confirmed"] is False and "not connected" in away["error"]

    run(scenario())


def test_an_unknown_address_is_denied_and_logged_once_per_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = bytes.fromhex("112233445566")

    async def scenario() -> None:
        sink = RecordingSink()
        config = receiver_config(free_port())
        async with receiving(config, sink):
            reader, writer = await asyncio.open_connection("127.0.0.1", config.listen.port)
            frames = FrameReader()
            for serial in (41, 42):
                status = encode_units([TransmitterStatus(1, None)])
                frame = Frame(serial, Command.SEND_DATA, stranger, config.centre, status)
                writer.write(encode_frame(frame))
                answers: list[Frame] = []
                while not answers:
                    answers = [f for f in frames.feed(await reader.read(4096))
                               if isinstance(f, Frame)]
                assert [(a.command, a.serial, a.destination) for a in answers] == [
                    (Command.DENY, serial, stranger)]
            writer.close()
        warnings = [r.getMessage() for r in caplog.records
                    if r.levelno == logging.WARNING and "unknown transmitter" in r.getMessage()]
        assert len(warnings) == 1 and "112233445566" in warnings[0] and "127.0.0.1:" in warnings[0]
        assert all(d in (B, GYM) for d, _, _ in sink.availability_changes)

    run(scenario())


def test_vendor_variant_frames_keep_their_variant_in_answers() -> None:
    async def scenario() -> None:
        sink = RecordingSink()
        async with receiving(receiver_config(free_port()), sink) as (_, fleet):
            vendor = fleet.transmitter(GYM)
            assert vendor.variant == Variant("bcd", "xor")
            await until(lambda: vendor.counters.acked >= 1, "the gym's heartbeat acknowledged")
            assert vendor.counters.denied == 0

    run(scenario())
