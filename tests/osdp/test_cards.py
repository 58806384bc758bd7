"""Card bits -> credentials: golden Wiegand frames written out bit by bit, parity, raw ranges."""

from __future__ import annotations

import pytest

from drivers.osdp.cards import CardError, bits_of, decode
from drivers.osdp.models import RawFormat, WiegandFormat
from simulators.osdp.cards import encode


def packed(bits: str) -> tuple[bytes, int]:
    padded = bits + "0" * (-len(bits) % 8)
    return bytes(int(padded[i:i + 8], 2) for i in range(0, len(padded), 8)), len(bits)


W26 = WiegandFormat(type="wiegand26")
W34 = WiegandFormat(type="wiegand34")
W37 = WiegandFormat(type="wiegand37")

# (format, frame as sent, facility, card number); parity bits worked out by hand
GOLDEN = [
    # H10301: P + FC 00000001 + CN 0000000000000001 + P; even span has one 1 -> 1, odd has one -> 0
    (W26, "1" "00000001" "0000000000000001" "0", 1, 1),
    # FC 123 = 01111011, CN 45678 = 1011001001101110: even span 01111011 1011 -> 9 ones -> 1;
    # odd span 001001101110 -> 6 ones -> 1
    (W26, "1" "01111011" "1011001001101110" "1", 123, 45678),
    # H10306: even over FC (16 bits), odd over CN (16 bits)
    (W34, "1" "0000000000000001" "0000000000000001" "0", 1, 1),
    (W34, "0" "1111111111111111" "1111111111111111" "1", 65535, 65535),
    # H10304: bit 19 (the card number's second bit) is in both parity spans
    (W37, "1" "0000000000000001" "0000000000000000001" "0", 1, 1),
    (W37, "1" "0000000000000000" "0100000000000000000" "0", 0, 1 << 17),
    (W37, "1" "0000000000000000" "1000000000000000000" "1", 0, 1 << 18),
]


@pytest.mark.parametrize(("card_format", "frame", "facility", "number"), GOLDEN)
def test_golden_wiegand_frames_decode(card_format: WiegandFormat, frame: str, facility: int,
                                      number: int) -> None:
    data, length = packed(frame)
    card = decode(card_format, data, length)
    assert (card.facility, card.number, card.credential) == (facility, number, str(number))


@pytest.mark.parametrize(("card_format", "frame", "facility", "number"), GOLDEN)
def test_the_simulator_encodes_the_same_frames(card_format: WiegandFormat, frame: str,
                                               facility: int, number: int) -> None:
    assert encode(card_format, number, facility) == (*packed(frame), True)


@pytest.mark.parametrize(("card_format", "frame", "facility", "number"), GOLDEN)
@pytest.mark.parametrize("flip", [0, -1])
def test_a_flipped_parity_bit_is_refused(card_format: WiegandFormat, frame: str, facility: int,
                                         number: int, flip: int) -> None:
    bits = list(frame)
    bits[flip] = "1" if bits[flip] == "0" else "0"
    with pytest.raises(CardError, match="parity"):
        decode(card_format, *packed("".join(bits)))


def test_a_flipped_data_bit_breaks_parity() -> None:
    frame = list("1" "01111011" "1011001001101110" "1")
    frame[12] = "0" if frame[12] == "1" else "1"
    with pytest.raises(CardError, match="even parity"):
        decode(W26, *packed("".join(frame)))


def test_a_frame_of_another_length_is_refused() -> None:
    data, length = packed("1" "0000000000000001" "0000000000000001" "0")
    with pytest.raises(CardError, match="34 bits, expected 26"):
        decode(W26, data, length)


def test_facility_card_is_the_data_bits_as_one_number() -> None:
    card_format = WiegandFormat(type="wiegand26", number="facility_card")
    card = decode(card_format, *packed("1" "01111011" "1011001001101110" "1"))
    assert card.credential == str(123 << 16 | 45678) == "8106606"
    assert encode(card_format, 8106606) == (*packed("1" "01111011" "1011001001101110" "1"), True)


def test_a_facility_code_of_another_site_is_refused() -> None:
    card_format = WiegandFormat(type="wiegand26", facility_codes=[12, 13])
    with pytest.raises(CardError, match="facility code 123"):
        decode(card_format, *packed("1" "01111011" "1011001001101110" "1"))
    data, length, _ = encode(card_format, 777)
    assert decode(card_format, data, length).facility == 12


def test_raw_takes_the_configured_bit_range() -> None:
    card_format = RawFormat(type="raw", length=40, first_bit=8, bit_count=32)
    data = bytes([0xFF, 0x12, 0x34, 0x56, 0x78])
    assert decode(card_format, data, 40).credential == str(0x12345678)
    assert encode(card_format, 0x12345678) == (bytes([0, 0x12, 0x34, 0x56, 0x78]), 40, False)
    with pytest.raises(CardError, match="32 bits, expected 40"):
        decode(card_format, data[:4], 32)


def test_announced_bits_must_be_in_the_data() -> None:
    with pytest.raises(CardError, match="26 bits announced but 3 bytes"):
        bits_of(b"\x00\x00\x00", 26)
