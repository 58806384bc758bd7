"""The OSDP traces of tests/captures/osdp/ (provenance in tests/captures/SOURCES.md) replayed
through what of the driver reads bytes: the reply tap (``drivers/osdp/wire.py``: framing, CRC and
checksum, reply codes, NAK reasons, the sentence for a reader offline) and the card decoder
(``drivers/osdp/cards.py``); and libosdp's own command trace sent over a real TCP socket to the
reader simulator (libosdp's PD), whose answers the tap decodes.

The rest of the packet layer is libosdp's, inside the driver's control panel: it takes no raw
trace (it builds and checks its own packets, with its own sequence numbers), so card and keypad
replies reach the driver as libosdp events. What those events carry is checked here from the
trace bytes by the same decoder the driver uses on the event's bits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.osdp.cards import decode
from drivers.osdp.models import RawFormat
from drivers.osdp.wire import (
    CTRL_CRC,
    LINK,
    REPLY_ACK,
    REPLY_CCRYPT,
    REPLY_NAK,
    REPLY_PDCAP,
    REPLY_PDID,
    SECURE_CHANNEL,
    SOM,
    Reply,
    ReplyTap,
    checksum,
    crc16,
    offline_reason,
)
from simulators.osdp import OsdpSimulators
from tests.osdp.support import bus, free_port, reader

CAPTURES = Path(__file__).parents[1] / "captures" / "osdp"
REPLY_RAW = 0x50
REPLY_KEYPAD = 0x53


def trace(name: str) -> list[tuple[str, bytes]]:
    """(``cp`` or ``pd``, the bytes as sent, a leading 0xFF mark byte included) per line."""
    packets = []
    for line in (CAPTURES / name).read_text().splitlines():
        if line.strip():
            direction, _, data = line.partition(" ")
            packets.append((direction, bytes.fromhex(data)))
    return packets


def unmarked(data: bytes) -> bytes:
    return data[data.index(SOM):]


WELL_FORMED = ["libosdp-cp-commands.trace", "libosdp-pd-replies.trace", "libosdp-nak.trace",
               "osdpnet-reader-poll-ack.trace", "osdpnet-osdpcap.trace",
               "osdpnet-raw-card.trace", "osdpnet-keypad.trace", "osdpnet-led.trace",
               "osdpnet-ccrypt.trace"]


@pytest.mark.parametrize("name", WELL_FORMED)
def test_each_captured_packet_is_framed_and_its_check_holds(name: str) -> None:
    for _, data in trace(name):
        packet = unmarked(data)
        assert packet[2] | packet[3] << 8 == len(packet)
        if packet[4] & CTRL_CRC:
            assert crc16(packet[:-2]) == packet[-2] | packet[-1] << 8, packet.hex(" ")
        else:
            assert checksum(packet[:-1]) == packet[-1], packet.hex(" ")


# trace -> the replies the tap reads off it: (address, code, NAK reason, sequence)
REPLIES = {
    "libosdp-pd-replies.trace": [Reply(101, REPLY_PDID, None, 0), Reply(101, REPLY_PDCAP, None, 1),
                                 Reply(101, REPLY_ACK, None, 2)],
    "libosdp-nak.trace": [Reply(101, REPLY_NAK, 0x01, 1)],
    "osdpnet-reader-poll-ack.trace": [Reply(0, REPLY_ACK, None, 1)],
    "osdpnet-osdpcap.trace": [Reply(0, REPLY_PDID, None, 2)],
    "osdpnet-raw-card.trace": [Reply(0, REPLY_RAW, None, 1)],
    # the keypad's reply code is SOM's value (0x53): framed by its length, not mistaken
    "osdpnet-keypad.trace": [Reply(0, REPLY_KEYPAD, None, 2)],
    # in a secure channel block (SCS_12): its code is read past the block
    "osdpnet-ccrypt.trace": [Reply(0, REPLY_CCRYPT, None, 0)],
    "libosdp-cp-commands.trace": [],
    "osdpnet-led.trace": [],
}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_the_tap_reads_each_reply_of_a_trace_fed_in_pieces(name: str) -> None:
    tap = ReplyTap()
    found: list[Reply] = []
    for direction, data in trace(name):
        if direction == "cp":
            tap.sent(data)  # a command is no reply, wherever it appears
            found += tap.feed(data)
            continue
        for i in range(0, len(data), 3):  # as a serial line delivers it
            found += tap.feed(data[i:i + 3])
    assert found == REPLIES[name]


def test_spoiled_replies_are_named_by_what_is_wrong() -> None:
    tap = ReplyTap()
    for _, data in trace("libosdp-spoiled-replies.trace"):
        assert tap.feed(data) == []
    said = [str(m) for m in tap.seen(101).malformed]
    assert said[0].startswith("a wrong CRC 0x0000 (computed 0x96d2): 53 e5 08 00 04 40")
    assert said[1].startswith("a length field of 65535: 53 e5 ff ff")


def test_a_captured_nak_gives_the_installer_its_reason() -> None:
    tap = ReplyTap()
    for _, data in trace("libosdp-nak.trace"):
        tap.feed(data)
    kind, sentence = offline_reason(101, tap.seen(101), was_online=False, sc_capable=None)
    assert kind == LINK
    assert sentence == ("the reader refused a command during setup "
                        "(NAK 1: message check character error)")


def test_a_captured_raw_card_read_decodes_to_its_credential() -> None:
    ((_, data),) = trace("osdpnet-raw-card.trace")
    packet = unmarked(data)
    payload = packet[6:-2]  # after the reply code, before the CRC
    reader_no, format_code, bits = payload[0], payload[1], payload[2] | payload[3] << 8
    assert (reader_no, format_code, bits) == (5, 0, 16)
    card = decode(RawFormat(type="raw", bit_count=16), payload[4:], bits)
    assert card.credential == str(0x12AB)


def test_libosdps_command_trace_sent_to_the_reader_simulator_is_answered_as_a_reader_does(
        run: Callable[..., Any]) -> None:
    """POLL outside a secure channel is refused (NAK 6: the reader enforces one), the ID and the
    challenge are answered (PDID; CCRYPT in an SCS_12 block), over a real socket."""
    async def scenario() -> tuple[list[Reply], tuple[str, str]]:
        port = free_port()
        sims = OsdpSimulators([bus([reader("r1", 101, "OSDP_TEST_KEY_IN")], tcp_port=port)])
        await sims.start()
        tap = ReplyTap()
        replies: list[Reply] = []
        reasons: list[tuple[str, str]] = []
        try:
            receive, send = await asyncio.open_connection("127.0.0.1", port)
            for _, command in trace("libosdp-cp-commands.trace"):
                tap.sent(command)
                send.write(command)
                await send.drain()
                while not (answer := tap.feed(await receive.read(512))):
                    pass
                replies += answer
                reasons.append(offline_reason(101, tap.seen(101), was_online=False,
                                              sc_capable=None))
            send.close()
        finally:
            await sims.stop()
        return replies, reasons[0]

    replies, (kind, sentence) = run(scenario())
    assert [(r.address, r.code, r.nak, r.sequence) for r in replies] == [
        (101, REPLY_NAK, 0x06, 0), (101, REPLY_PDID, None, 0), (101, REPLY_CCRYPT, None, 0)]
    # what an installer reads had the reader gone offline after that POLL
    assert kind == SECURE_CHANNEL and "NAK 6: secure channel conditions not met" in sentence
