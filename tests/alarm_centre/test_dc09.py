"""The DC-09 codec against blocks other implementations wrote, each with where it comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.alarm_centre import dc09
from gateway.alarm_centre.dc09 import Block, BlockError
from gateway.alarm_centre.reports import (
    DEFAULT_CODES,
    Heard,
    Report,
    cid_data,
    heard,
    sia_data,
)

# the ASCII key "AAAAAAAAAAAAAAAA" (16 x 0x41) the two public test suites below use
KEY_A = b"A" * 16


def test_crc_is_arc() -> None:
    # CRC-16/ARC's check value in the CRC catalogue (and the Jeedom codec's first check)
    assert dc09.crc16(b"123456789") == 0xBB3D


def test_plain_block_with_receiver_line_and_extended_data() -> None:
    # replicatorbe/jeedom-plugin-ajaxsiabe tests/test_codec.php, "trame en clair"
    raw = (b'\n73580056"SIA-DCS"0002R1L232#78919[#78919|Nri1/BA012][X012W34.1][Y045N12.2]'
           b"_14:12:04,09-25-2026\r")
    block = dc09.decode(raw)
    assert (block.id, block.sequence, block.receiver, block.line, block.account) == (
        "SIA-DCS", 2, "1", "232", "78919")
    assert block.data == "#78919|Nri1/BA012"
    assert block.extended == ("X012W34.1", "Y045N12.2")
    assert block.time == datetime(2026, 9, 25, 14, 12, 4, tzinfo=UTC)
    assert dc09.encode(block) == raw  # and written back byte for byte
    assert heard(block.id, block.data) == Heard("BA", 12, 1)


def test_encrypted_block_from_another_implementation() -> None:
    # replicatorbe/jeedom-plugin-ajaxsiabe tests/test_codec.php: "produced by an independent
    # implementation"; pad of sixteen "0", no account inside the data
    raw = (b'05BB0076"*SIA-DCS"7654L0#1111[C07DA1EB73C617857476EE5D79436CEE5E0084485E79EC56B0D5'
           b"D1F3F6E648B278050BBCCBC8FE5DCA7E3C80DBDD4945")
    block = dc09.decode(raw, KEY_A)
    assert block.encrypted and block.account == "1111" and block.sequence == 7654
    assert block.data == "|Nri1/WA000"
    assert block.time == datetime(2020, 7, 9, 16, 4, 2, tzinfo=UTC)


def test_encrypted_null_from_pysiaalarm() -> None:
    # eavanvalkenburg/pysiaalarm tests/test_sia_package_cases.py case_null, key from its
    # tests/test_utils.py (KEY = "AAAAAAAAAAAAAAAA")
    raw = (b'76D80055"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3'
           b"E557CAD64D9")
    block = dc09.decode(raw, KEY_A)
    assert (block.id, block.account, block.receiver, block.line) == ("NULL", "AAAB", "0", "0")
    assert block.data == "" and block.time == datetime(2020, 7, 5, 18, 24, 52, tzinfo=UTC)


def test_nak_from_a_receiver() -> None:
    # a public Java DC-09 handler's test (Dc09HandlerTest.parseNakCorrectly)
    raw = b'\n3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r'
    block = dc09.decode(raw)
    assert block.id == "NAK" and block.time == datetime(2015, 4, 14, 16, 9, 9, tzinfo=UTC)
    assert dc09.encode(dc09.nak(block.time)) == raw


def test_crc_of_pysiaalarm_blocks() -> None:
    # pysiaalarm's case_cl and case_xdata_K: their CRCs are right (their lengths are not, so
    # only the CRC is checked here)
    assert dc09.crc16(b'"SIA-DCS"6002L0#AAA[|Nri1/CL501]_14:12:04,09-25-2019') == 0xE5D5
    assert dc09.crc16(b'"SIA-DCS"6002L0#1111[|Nri1/RP000][KAAAAAAAAAAAAAAAA]'
                      b"_14:12:04,09-25-2019") == 0x0231


@pytest.mark.parametrize("size", dc09.KEY_SIZES)
def test_round_trip_encrypted_each_key_size(size: int) -> None:
    key = bytes(range(size))
    now = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
    block = Block("SIA-DCS", 42, "1234", "1", "2", "#1234|Nri1/PA003^gate-house^", time=now)
    raw = dc09.encode(block, key)
    assert b'"*SIA-DCS"0042R1L2#1234[' in raw and b"PA003" not in raw
    body = raw[9:-1]
    assert (len(body) - body.index(b"[") - 1) % 32 == 0  # whole AES blocks, in hex
    assert dc09.decode(raw, key) == block
    with pytest.raises(BlockError) as wrong:
        dc09.decode(raw, bytes(reversed(key)))
    assert wrong.value.part == "key"


def test_refusals_name_the_part() -> None:
    raw = dc09.encode(Block("NULL", 1, "1234"))
    for broken, part in ((b"\n0000" + raw[5:], "crc"),
                         (raw[:5] + b"0FF" + raw[8:], "length"),
                         (b"hello", "format"),
                         (raw.replace(b"NULL", b"null"), "crc")):
        with pytest.raises(BlockError) as refused:
            dc09.decode(broken)
        assert refused.value.part == part, broken
    with pytest.raises(BlockError) as no_key:
        dc09.decode(dc09.encode(Block("NULL", 1, "1234"), KEY_A))
    assert no_key.value.part == "key" and "1234" in str(no_key.value)
    with pytest.raises(BlockError):
        dc09.decode(b"\n" + b"A" * 2000 + b"\r")


def test_window_is_plus_20_minus_40() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    at = lambda s: Block("NULL", 1, "1234", time=now + timedelta(seconds=s))  # noqa: E731
    assert dc09.in_window(at(-40), now) and dc09.in_window(at(20), now)
    assert not dc09.in_window(at(-41), now) and not dc09.in_window(at(21), now)


def test_answers() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    message = Block("SIA-DCS", 7, "1234", "1", "2", "#1234|Nri1/PA001", encrypted=True)
    assert dc09.encode(dc09.ack(message, now)).endswith(
        b'"ACK"0007R1L2#1234[]_12:00:00,01-01-2026\r')
    assert dc09.encode(dc09.duh(message)).endswith(b'"DUH"0007R1L2#1234[]\r')


def test_report_data() -> None:
    panic = DEFAULT_CODES["panic"]
    raised = Report("panic", False, 3, "gate-house io/btn-1 [门卫室]")
    assert sia_data("1234", raised, panic, 1) == "#1234|Nri1/PA003^gate-house io/btn-1 ?????^"
    assert cid_data("1234", raised, panic, 1) == "#1234|1120 01 003"
    restored = Report("panic", True, 3)
    assert sia_data("1234", restored, panic, 1) == "#1234|Nri1/PR003"
    assert cid_data("1234", restored, panic, 1) == "#1234|3120 01 003"
    assert heard("ADM-CID", "#1234|3120 01 003") == Heard("3120", 3, 1)
    # pysiaalarm case_adm_cid's data: 1110 00 129 is a fire alarm in zone 129
    assert heard("ADM-CID", "#12345A|1110 00 129") == Heard("1110", 129, 0)
