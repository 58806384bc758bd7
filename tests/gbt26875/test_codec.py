"""The codec against frames written out byte by byte, with their checksums worked by hand."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.gbt26875.codec import (
    ClockSync,
    CodecError,
    Command,
    ComponentStatus,
    DutyCheck,
    Frame,
    FrameReader,
    OperationRecord,
    Rejected,
    SystemStatus,
    TransmitterOperation,
    TransmitterStatus,
    Unit,
    Variant,
    ack_for,
    decode_units,
    deny_for,
    deny_rejected,
    encode_frame,
    encode_units,
)
from drivers.gbt26875.tables import (
    COMPONENT_BIT_NAMES,
    SYSTEM_BIT_NAMES,
    TRANSMITTER_BIT_NAMES,
    bit_names,
    component_type_name,
    system_type_name,
)
from drivers.gbt26875.timelabel import decode_time, encode_time
from drivers.gbt26875.units import decode_description, encode_description, max_objects

DEVICE = bytes.fromhex("0A0B0C0D0E0F")
CENTRE = bytes.fromhex("000000000001")
GYM = bytes.fromhex("1A2B3C4D5E6F")
WHEN = datetime(2026, 11, 5, 14, 3, 22)
BCD_XOR = Variant("bcd", "xor")

# A heartbeat: transmitter status (type 21), one object, status 01 (normal monitoring).
# checksum, the sum of serial .. application data, low 8 bits:
#   serial 01+00 = 1, version 01+00 = 1                                   ->   2
#   time 16+03+0E+05+0B+1A = 22+3+14+5+11+26 = 81                          ->  83
#   source 0A+0B+0C+0D+0E+0F = 75, destination 01                         -> 159
#   length 09+00 = 9, command 02                                          -> 170
#   application data 15+01+01 = 23, its time label 81                     -> 274
#   274 mod 256 = 18 = 0x12
HEARTBEAT = bytes.fromhex(
    "4040" "0100" "0100" "16030e050b1a" "0a0b0c0d0e0f" "000000000001" "0900" "02"
    "150101" "16030e050b1a" "12" "2323"
)

# The centre's ACK of it one second later: command 3, same serial, addresses swapped, no data.
#   1 + 1 + time (17+03+0E+05+0B+1A = 82) + 1 + 75 + 0 + 3 = 163 = 0xA3
ACK = bytes.fromhex(
    "4040" "0100" "0100" "17030e050b1a" "000000000001" "0a0b0c0d0e0f" "0000" "03" "a3" "2323"
)

# A fire alarm at smoke detector 258 of panel S1-1, described as "烟感" (GB18030 D1CC B8D0).
#   header: 1 + 1 + 81 + 75 + 1 + length 0x30 (48) + command 2              -> 209
#   type 02 + count 01 = 3; system 01 + 01 + component type 0x28 (40) = 42   -> 254
#   address 02+01+00+00 = 3, status 03+00 = 3                              -> 260
#   description D1+CC+B8+D0 = 209+204+184+208 = 805, zero padding 0       -> 1065
#   time label 81                                                          -> 1146
#   1146 mod 256 = 122 = 0x7A
FIRE = bytes.fromhex(
    "4040" "0100" "0100" "16030e050b1a" "0a0b0c0d0e0f" "000000000001" "3000" "02"
    "0201" "01" "01" "28" "02010000" "0300" "d1ccb8d0" + "00" * 27 + "16030e050b1a"
    "7a" "2323"
)

# The same heartbeat from a vendor writing BCD times and XOR checksums (serial 2, address GYM).
# BCD time 2026-11-05 14:03:22 = 22 03 14 05 11 26. It appears twice, so it cancels in the XOR:
#   02^00^01^00 = 03; 1A^2B^3C^4D^5E^6F = 71; 03^71 = 72; ^01 (destination) = 73
#   ^09 (length) = 7A; ^02 (command) = 78; ^15 = 6D; ^01 = 6C; ^01 = 6D
VENDOR_HEARTBEAT = bytes.fromhex(
    "4040" "0200" "0100" "220314051126" "1a2b3c4d5e6f" "000000000001" "0900" "02"
    "150101" "220314051126" "6d" "2323"
)


def heartbeat_frame() -> Frame:
    return Frame(1, Command.SEND_DATA, DEVICE, CENTRE,
                 encode_units([TransmitterStatus(1, WHEN)]), WHEN)


def test_heartbeat_encodes_to_the_hand_written_bytes() -> None:
    assert encode_frame(heartbeat_frame()) == HEARTBEAT


def test_heartbeat_decodes_from_the_hand_written_bytes() -> None:
    (frame,) = FrameReader().feed(HEARTBEAT)
    assert frame == heartbeat_frame()
    assert isinstance(frame, Frame)
    data = decode_units(frame.app_data)
    assert data.objects == (TransmitterStatus(1, WHEN),)


def test_ack_swaps_addresses_and_keeps_the_serial() -> None:
    (frame,) = FrameReader().feed(HEARTBEAT)
    assert isinstance(frame, Frame)
    ack = ack_for(frame, datetime(2026, 11, 5, 14, 3, 23))
    assert (ack.serial, ack.command, ack.source, ack.destination) == (1, 3, CENTRE, DEVICE)
    assert encode_frame(ack) == ACK


def test_deny_is_command_six_with_the_same_serial() -> None:
    deny = deny_for(heartbeat_frame(), WHEN)
    raw = encode_frame(deny)
    assert raw[26] == Command.DENY and raw[2:4] == b"\x01\x00"
    assert raw[12:18] == CENTRE and raw[18:24] == DEVICE


def test_component_status_from_hand_written_bytes_with_gb18030_text() -> None:
    (frame,) = FrameReader().feed(FIRE)
    assert isinstance(frame, Frame)
    (unit,) = decode_units(frame.app_data).objects
    assert unit == ComponentStatus(1, 1, 40, 258, 0x0003, "烟感", WHEN)
    assert encode_frame(frame) == FIRE


def test_vendor_variant_bcd_time_and_xor_checksum() -> None:
    frame = Frame(2, Command.SEND_DATA, GYM, CENTRE,
                  encode_units([TransmitterStatus(1, WHEN)], BCD_XOR), WHEN)
    assert encode_frame(frame, BCD_XOR) == VENDOR_HEARTBEAT
    (read,) = FrameReader(BCD_XOR).feed(VENDOR_HEARTBEAT)
    assert read == frame


def test_a_frame_is_read_only_in_the_configured_variant() -> None:
    (rejected,) = FrameReader().feed(VENDOR_HEARTBEAT)
    assert isinstance(rejected, Rejected)
    assert "checksum 6D" in rejected.reason and "sum" in rejected.reason
    assert rejected.raw == VENDOR_HEARTBEAT and rejected.serial == 2 and rejected.source == GYM
    (rejected,) = FrameReader(BCD_XOR).feed(HEARTBEAT)
    assert isinstance(rejected, Rejected) and "xor" in rejected.reason


def test_bcd_time_with_a_sum_checksum_is_caught_by_its_time_label() -> None:
    # BCD 2026-11-05 14:03:45: seconds 0x45 = 69 and month 0x11 = 17 are no binary time.
    frame = Frame(3, Command.SEND_DATA, DEVICE, CENTRE, time=datetime(2026, 11, 5, 14, 3, 45))
    (rejected,) = FrameReader().feed(encode_frame(frame, Variant("bcd", "sum")))
    assert isinstance(rejected, Rejected)
    assert "not a valid binary time" in rejected.reason and rejected.serial == 3


def test_choosing_the_variant_by_source_address() -> None:
    variants = {GYM: BCD_XOR}
    reader = FrameReader(lambda source: variants.get(source, Variant()))
    items = reader.feed(HEARTBEAT + VENDOR_HEARTBEAT)
    assert [type(i) for i in items] == [Frame, Frame]


def test_deny_for_a_rejected_chunk_needs_its_serial() -> None:
    with_serial = Rejected("bad checksum", b"@@\x07\x00", 7, DEVICE)
    deny = deny_rejected(with_serial, CENTRE, WHEN)
    assert deny is not None and (deny.serial, deny.command, deny.destination) == (7, 6, DEVICE)
    assert deny_rejected(Rejected("noise", b"xyz"), CENTRE, WHEN) is None


UNITS: list[Unit] = [
    SystemStatus(1, 2, 0x2003, WHEN),
    ComponentStatus(1, 1, 23, 0x01020304, 0x0103, "二层东走廊感烟探测器", WHEN),
    OperationRecord(1, 1, 0x03, 7, WHEN),
    TransmitterStatus(0x19, WHEN),
    TransmitterOperation(0x20, 3, WHEN),
    ClockSync(WHEN),
    DutyCheck(5),
]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: type(u).__name__)
@pytest.mark.parametrize("variant", [Variant(), BCD_XOR], ids=str)
def test_every_unit_round_trips_through_a_frame(unit: Unit, variant: Variant) -> None:
    data = encode_units([unit, unit], variant)
    frame = Frame(9, Command.SEND_DATA, DEVICE, CENTRE, data, WHEN)
    (read,) = FrameReader(variant).feed(encode_frame(frame, variant))
    assert isinstance(read, Frame)
    decoded = decode_units(read.app_data, variant)
    assert decoded.type == type(unit).TYPE and decoded.objects == (unit, unit)


def test_objects_have_the_standard_sizes() -> None:
    assert [type(u).SIZE for u in UNITS] == [10, 46, 10, 7, 8, 6, 1]
    assert max_objects(ComponentStatus) == 22
    assert len(encode_units([UNITS[1]] * 22)) == 2 + 22 * 46 <= 1024
    with pytest.raises(CodecError, match="at most 22"):
        encode_units([UNITS[1]] * 23)


def test_count_and_length_must_agree() -> None:
    good = encode_units([UNITS[0]])
    with pytest.raises(CodecError, match="needs 10 bytes"):
        decode_units(good[:-1])
    with pytest.raises(CodecError, match="needs 20 bytes"):
        decode_units(bytes((1, 2)) + good[2:])
    with pytest.raises(CodecError):
        decode_units(b"\x01")


def test_unknown_types_are_kept_raw() -> None:
    data = decode_units(bytes((3, 1)) + bytes(range(16)))  # type 3: analog value
    assert (data.type, data.count, data.decoded, data.raw) == (3, 1, False, bytes(range(16)))


def test_descriptions_are_cut_on_a_character_boundary() -> None:
    text = "二层东走廊感烟探测器" * 2  # 20 characters, 40 bytes in GB18030
    raw = encode_description(text)
    assert len(raw) == 31 and raw.endswith(b"\x00")
    assert decode_description(raw) == text[:15]  # 30 bytes; a 16th character would not fit
    assert "\ufffd" in decode_description(b"A\xff" + bytes(29))  # broken text is no error


def test_time_labels() -> None:
    assert encode_time(WHEN) == bytes.fromhex("16030e050b1a")
    assert encode_time(WHEN, "bcd") == bytes.fromhex("220314051126")
    assert decode_time(bytes(6)) is None  # a clock never set: no time, not an error
    assert encode_time(None) == bytes(6)
    with pytest.raises(CodecError, match="not BCD"):
        decode_time(bytes.fromhex("1a030e050b1a"), "bcd")
    with pytest.raises(CodecError, match="not a valid binary time"):
        decode_time(bytes.fromhex("3c030e050b1a"))  # 60 seconds
    with pytest.raises(CodecError):
        encode_time(datetime(2100, 1, 1))


def test_code_tables() -> None:
    assert component_type_name(40) == "smoke detector"
    assert component_type_name(23) == "manual call point"
    assert component_type_name(1) == "fire alarm control panel"
    assert component_type_name(7) == "component type 7"
    assert component_type_name(200) == "user-defined component type 200"
    assert system_type_name(1) == "fire alarm system" and system_type_name(99) == "system type 99"
    assert bit_names(0x0107, COMPONENT_BIT_NAMES) == ["normal", "fire alarm", "fault",
                                                       "power fault"]
    assert bit_names(0x2300, SYSTEM_BIT_NAMES) == ["main power fault", "backup power fault",
                                                    "reset"]
    assert bit_names(0x60, TRANSMITTER_BIT_NAMES) == ["communication channel fault",
                                                       "monitoring line fault"]
    assert bit_names(0x8000, COMPONENT_BIT_NAMES) == ["bit 15"]


def test_a_vendor_that_pads_its_objects_is_read_when_its_variant_says_so() -> None:
    from drivers.gbt26875.codec import ComponentStatus, decode_units, encode_units
    from drivers.gbt26875.timelabel import CodecError, Variant

    padded = Variant("binary", "sum", padding=2)
    units = [ComponentStatus(1, 1, 40, 258 + n, 0x0003, "二层走廊", None) for n in range(3)]
    raw = encode_units(units, padded)
    assert len(raw) == 2 + 3 * (ComponentStatus.SIZE + 2)
    assert list(decode_units(raw, padded).objects) == units
    with pytest.raises(CodecError, match="followed by 2 padding bytes"):
        decode_units(raw)  # the standard reader refuses it, and says what it looks like
