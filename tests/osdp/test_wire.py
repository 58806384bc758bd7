"""The reply tap: OSDP framing and checks, and the reasons it gives for a reader offline."""

from __future__ import annotations

from drivers.osdp.wire import (
    LATE,
    LINK,
    MALFORMED,
    REPLY_PDCAP,
    REPLY_PDID,
    SECURE_CHANNEL,
    SILENT,
    ReplyTap,
    Seen,
    StrayReplies,
    checksum,
    crc16,
    offline_reason,
)


def reply(address: int, code: int, data: bytes = b"", scb: bytes = b"", crc: bool = True) -> bytes:
    ctrl = (0x04 if crc else 0) | (0x08 if scb else 0)
    length = 5 + len(scb) + 1 + len(data) + (2 if crc else 1)
    head = bytes([0x53, address | 0x80, length & 0xFF, length >> 8, ctrl]) + scb
    body = head + bytes([code]) + data
    if crc:
        value = crc16(body)
        return body + bytes([value & 0xFF, value >> 8])
    return body + bytes([checksum(body)])


def test_crc_is_osdps_ccitt_variant() -> None:
    assert crc16(b"123456789") == 0xE5CC  # CRC-16/AUG-CCITT check value


def test_replies_are_framed_across_reads_and_noise() -> None:
    tap = ReplyTap()
    stream = b"\xff\x00" + reply(3, 0x45, bytes(12)) + b"\x53\x01" + reply(5, 0x41, b"\x06",
                                                                           crc=False)
    found = [r for i in range(0, len(stream), 5) for r in tap.feed(stream[i:i + 5])]
    assert [(r.address, r.code, r.nak) for r in found] == [(3, 0x45, None), (5, 0x41, 6)]
    assert tap.seen(5).naks == [6]


def test_a_broken_packet_is_skipped() -> None:
    tap = ReplyTap()
    bad = bytearray(reply(3, 0x46, bytes(6)))
    bad[-1] ^= 0xFF
    found = tap.feed(bytes(bad) + reply(3, 0x40))
    assert [r.code for r in found] == [0x40]
    assert tap.seen(3).codes == {0x40}


def test_commands_from_the_panel_are_not_replies() -> None:
    tap = ReplyTap()
    command = bytearray(reply(3, 0x60))
    command[1] = 3  # no reply bit
    value = crc16(bytes(command[:-2]))
    command[-2:] = bytes([value & 0xFF, value >> 8])
    assert tap.feed(bytes(command)) == []


def test_the_reply_code_is_read_after_the_security_block() -> None:
    tap = ReplyTap()
    (found,) = tap.feed(reply(9, 0x76, bytes(32), scb=bytes([3, 0x12, 1])))
    assert (found.address, found.code) == (9, 0x76)


def test_reasons() -> None:
    assert offline_reason(4, Seen(), False, None)[0] == SILENT
    kind, text = offline_reason(4, Seen({0x45, 0x46, 0x76}), False, True)
    assert kind == SECURE_CHANNEL and "install mode" in text
    kind, text = offline_reason(4, Seen({0x45, 0x46}), False, False)
    assert kind == SECURE_CHANNEL and "no secure channel support" in text
    kind, text = offline_reason(4, Seen({0x45, 0x46, 0x41}, [5]), False, True)
    assert kind == SECURE_CHANNEL and "NAK 5" in text
    assert offline_reason(4, Seen({0x40}), True, True)[0] == LINK


def test_a_reply_with_a_wrong_crc_is_noted_with_its_bytes() -> None:
    tap = ReplyTap()
    bad = bytearray(reply(3, 0x40))
    bad[-1] ^= 0x01
    assert tap.feed(bytes(bad) + reply(3, 0x40))[0].code == 0x40
    (malformed,) = tap.seen(3).malformed
    assert malformed.what.startswith("a wrong CRC 0x")
    assert str(malformed).endswith(bytes(bad).hex(" "))


def test_a_reply_claiming_65535_bytes_is_noted() -> None:
    tap = ReplyTap()
    packet = reply(5, 0x40)
    spoiled = packet[:2] + b"\xff\xff" + packet[4:]
    assert tap.feed(spoiled) == []
    (malformed,) = tap.seen(5).malformed
    assert malformed.what == "a length field of 65535"
    assert malformed.head.startswith(b"\x53\x85\xff\xff")


def test_a_malformed_reply_from_a_reader_that_answers_is_its_own_reason() -> None:
    tap = ReplyTap()
    tap.feed(reply(4, 0x40)[:2] + b"\xff\xff\x04")
    kind, text = offline_reason(4, tap.seen(4), True, True)
    assert kind == MALFORMED and "a length field of 65535: 53 84 ff ff 04" in text
    assert offline_reason(4, Seen({0x40}), True, True)[0] == LINK  # nothing spoiled: silence


def _packet(address: int, code: int, sequence: int) -> bytes:
    length = 8
    body = bytes([0x53, address, length, 0, 0x04 | sequence, code])
    value = crc16(body)
    return body + bytes([value & 0xFF, value >> 8])


def test_a_reader_that_started_afresh_mid_session_is_not_late() -> None:
    # a reader that reset answers the next command with a NAK 4 (sequence error) numbered 0,
    # where a late reply carries the number of an earlier command
    tap = ReplyTap()
    tap.sent(_packet(1, 0x60, 2))  # osdp_POLL, sequence 2, in a secure session
    tap.feed(reply(1, 0x41, b"\x04"))  # osdp_NAK 4 (unexpected sequence number), numbered 0
    seen = tap.seen(1)
    assert (seen.restarted, seen.late) == (1, 0)
    kind, reason = offline_reason(1, seen, was_online=True, sc_capable=True)
    assert kind == LINK and "started afresh" in reason and "too late" not in reason
    tap.sent(_packet(1, 0x61, 1))
    tap.feed(_packet(0x81, REPLY_PDID, 0))  # the answer to a first command, after the next
    assert (tap.seen(1).restarted, tap.seen(1).late) == (1, 1)


def test_a_reply_to_an_earlier_command_than_the_last_sent_is_late() -> None:
    tap = ReplyTap()
    tap.sent(b"\xff" + _packet(1, 0x61, 1))  # osdp_ID, sequence 1
    tap.feed(_packet(0x81, REPLY_PDID, 1))  # answered in time
    tap.sent(_packet(1, 0x62, 2))  # osdp_CAP, sequence 2: the CP gave up waiting ...
    tap.sent(_packet(1, 0x62, 3))
    tap.feed(_packet(0x81, REPLY_PDCAP, 2))  # ... and the reply to 2 comes after 3 was sent
    seen = tap.seen(1)
    assert seen.late == 1 and seen.codes == {REPLY_PDID}
    kind, reason = offline_reason(1, seen, was_online=False, sc_capable=False)
    assert kind == LATE and "too late" in reason and "200 ms" in reason


def test_a_whole_reply_from_a_reader_not_addressed_never_reaches_libosdp() -> None:
    # a late reader's reply falling into the exchange with another reader: libosdp would take it
    # as that reader's failure
    strays = StrayReplies()
    strays.sent(b"\xff" + _packet(2, 0x60, 1))  # osdp_POLL to address 2
    late, awaited = reply(1, 0x40), reply(2, 0x40)
    assert strays.pass_on(late + awaited[:4]) == b""  # the late one dropped; 2's reply held ...
    assert strays.pass_on(awaited[4:]) == awaited  # ... until it is whole
    assert strays.dropped == 1
    noise = b"\x00\xff" + bytes(reply(2, 0x40)[:-1]) + b"\x00"  # a wrong CRC goes on as it came
    assert strays.pass_on(noise) == noise
