"""The receiver simulator answers as DC-09 says a receiver does, to a transmitter written here
from the standard's blocks (not the gateway's sender), over real TCP and UDP sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.alarm_centre import dc09
from gateway.alarm_centre.config import AlarmCentre
from gateway.alarm_centre.dc09 import Block
from simulators.alarm_centre import AlarmCentreSimulators, ReceiverSimulator
from tests.conftest import free_port

KEY = bytes(range(16))


def centre(transport: str = "tcp", key_file: str | None = None) -> AlarmCentre:
    return AlarmCentre.model_validate({
        "account": "1234", "receivers": [{"url": f"{transport}://127.0.0.1:{free_port()}"}],
        **({"key": {"file": key_file}} if key_file else {})})


async def exchange(receiver: ReceiverSimulator, raw: bytes, wait: float = 2.0) -> bytes:
    host, port = receiver.receiver.host, receiver.receiver.port
    if receiver.receiver.transport == "udp":
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if not answer.done():
                    answer.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(host, port))
        try:
            transport.sendto(raw)
            return await asyncio.wait_for(answer, wait)
        finally:
            transport.close()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r"), wait)
    finally:
        writer.close()


def panic(sequence: int = 1, account: str = "1234", time: datetime | None = None) -> Block:
    return Block("SIA-DCS", sequence, account, data=f"#{account}|Nri1/PA001^gate-house^",
                 time=time)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_ack_and_what_was_received(transport: str) -> None:
    asyncio.run(asyncio.wait_for(ack_and_what_was_received(transport), 30))


async def ack_and_what_was_received(transport: str) -> None:
    group = AlarmCentreSimulators([centre(transport)])
    receiver = group.devices[0]
    await group.start()
    try:
        answer = dc09.decode(await exchange(receiver, dc09.encode(panic(7))))
        assert (answer.id, answer.sequence, answer.account) == ("ACK", 7, "1234")
        state = await receiver.state()
        assert state["counts"]["taken"] == 1
        assert state["received"][0]["code"] == "PA" and state["received"][0]["zone"] == 1
        assert state["received"][0]["text"] == "gate-house"
    finally:
        await group.stop()


def test_encrypted_ack_nak_for_stale_time_and_wrong_key(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(encrypted_ack_nak_for_stale_time_and_wrong_key(tmp_path), 30))


async def encrypted_ack_nak_for_stale_time_and_wrong_key(tmp_path: Path) -> None:
    key_file = tmp_path / "arc.key"
    key_file.write_text(KEY.hex())
    group = AlarmCentreSimulators([centre(key_file=str(key_file))])
    receiver = group.devices[0]
    await group.start()
    try:
        now = datetime.now(UTC)
        answer = dc09.decode(await exchange(receiver, dc09.encode(panic(1, time=now), KEY)), KEY)
        assert answer.id == "ACK" and answer.encrypted and answer.time is not None
        stale = dc09.encode(panic(2, time=now - timedelta(seconds=60)), KEY)
        nak = dc09.decode(await exchange(receiver, stale))
        assert nak.id == "NAK" and nak.time is not None
        assert abs((nak.time - datetime.now(UTC)).total_seconds()) < 5  # the receiver's time
        wrong = dc09.encode(panic(3, time=now), bytes(reversed(KEY)))
        assert dc09.decode(await exchange(receiver, wrong)).id == "NAK"
        plain = dc09.encode(panic(4))
        assert dc09.decode(await exchange(receiver, plain)).id == "DUH"  # it must be encrypted
        assert receiver.counts["taken"] == 1
    finally:
        await group.stop()


def test_bad_crc_nak_unknown_account_duh_duplicate_counted_once() -> None:
    asyncio.run(asyncio.wait_for(bad_crc_nak_unknown_account_duh_duplicate_counted_once(), 30))


async def bad_crc_nak_unknown_account_duh_duplicate_counted_once() -> None:
    group = AlarmCentreSimulators([centre()])
    receiver = group.devices[0]
    await group.start()
    try:
        raw = dc09.encode(panic(5))
        assert dc09.decode(await exchange(receiver, raw[:1] + b"0000" + raw[5:])).id == "NAK"
        duh = dc09.decode(await exchange(receiver, dc09.encode(panic(5, account="9999"))))
        assert (duh.id, duh.sequence, duh.account) == ("DUH", 5, "9999")
        assert dc09.decode(await exchange(receiver, raw)).id == "ACK"
        assert dc09.decode(await exchange(receiver, raw)).id == "ACK"  # the repeat: ACK again
        assert receiver.counts["taken"] == 1 and receiver.counts["duplicates"] == 1
        assert len(receiver.events()) == 2 and receiver.events()[1]["duplicate"]
        await receiver.act("forget", {})
        assert dc09.decode(await exchange(receiver, dc09.encode(panic(6)))).id == "DUH"
    finally:
        await group.stop()


def test_silent_slow_down_and_back() -> None:
    asyncio.run(asyncio.wait_for(silent_slow_down_and_back(), 30))


async def silent_slow_down_and_back() -> None:
    group = AlarmCentreSimulators([centre()])
    receiver = group.devices[0]
    await group.start()
    try:
        await receiver.act("silent", {})
        with pytest.raises(TimeoutError):
            await exchange(receiver, dc09.encode(Block("NULL", 1, "1234")), wait=0.3)
        await receiver.act("slow", {"delay": 0.3})
        assert dc09.decode(await exchange(receiver, dc09.encode(Block("NULL", 2, "1234")),
                                          wait=0.1 + 2)).id == "ACK"
        await receiver.act("down", {})
        with pytest.raises(OSError):
            await exchange(receiver, dc09.encode(Block("NULL", 3, "1234")))
        await receiver.act("normal", {})
        assert dc09.decode(await exchange(receiver, dc09.encode(Block("NULL", 4, "1234")))
                           ).id == "ACK"
        assert receiver.counts["null"] == 2 and receiver.counts["unanswered"] == 1
    finally:
        await group.stop()


def test_the_campus_puts_the_site_files_receivers_on_the_wire() -> None:
    from gateway.config import SiteConfig
    from simulators.campus import SimulatedCampus

    site = SiteConfig.model_validate({"site": {"id": "school"}, "alarm_centre": {
        "account": "1234", "receivers": [
            {"url": f"tcp://127.0.0.1:{free_port()}"},
            {"url": f"udp://127.0.0.1:{free_port()}", "name": "arc-backup"}]}})

    async def check() -> None:
        async with SimulatedCampus(site) as campus:
            assert [d.device_id for d in campus.devices] == ["receiver-1", "arc-backup"]
            state = await campus.act("arc-backup", "silent", {})
            assert state["mode"] == "silent" and state["driver"] == "alarm_centre"

    asyncio.run(asyncio.wait_for(check(), 30))
