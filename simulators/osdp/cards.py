"""Card numbers as a reader puts them on the wire: Wiegand frames (HID H10301 26-bit, H10306
34-bit, H10304 37-bit) or raw bits, packed most significant bit first as osdp_RAW carries them.

Written from the format descriptions, independently of the driver's decoder, so that a test of
one against the other checks something.
"""

from __future__ import annotations

from drivers.osdp.models import RawFormat, WiegandFormat

# format: (facility bits, card bits, even parity span, odd parity span), spans 1-based inclusive
WIEGAND: dict[str, tuple[int, int, tuple[int, int], tuple[int, int]]] = {
    "wiegand26": (8, 16, (2, 13), (14, 25)),
    "wiegand34": (16, 16, (2, 17), (18, 33)),
    "wiegand37": (16, 19, (2, 19), (19, 36)),
}


def _binary(value: int, width: int) -> str:
    if not 0 <= value < 1 << width:
        raise ValueError(f"{value} does not fit in {width} bits")
    return format(value, f"0{width}b")


def wiegand_bits(kind: str, facility: int, number: int, bad_parity: bool = False) -> str:
    """The frame as a string of '0'/'1', first bit on the wire first."""
    facility_bits, number_bits, even, odd = WIEGAND[kind]
    data = _binary(facility, facility_bits) + _binary(number, number_bits)
    frame = "0" + data + "0"  # parity positions filled below
    ones_even = frame[even[0] - 1:even[1]].count("1")
    ones_odd = frame[odd[0] - 1:odd[1]].count("1")
    first = ones_even % 2  # makes the even span plus this bit even
    last = 1 - ones_odd % 2  # makes the odd span plus this bit odd
    if bad_parity:
        last ^= 1
    return f"{first}{data}{last}"


def pack(bits: str) -> bytes:
    padded = bits + "0" * (-len(bits) % 8)
    return bytes(int(padded[i:i + 8], 2) for i in range(0, len(padded), 8))


def encode(card_format: WiegandFormat | RawFormat, number: int, facility: int | None = None,
           bad_parity: bool = False) -> tuple[bytes, int, bool]:
    """(data, bit count, is Wiegand) for a card ``number`` in the reader's format.

    ``number`` is what the site's credentials hold: for ``number: facility_card`` the combined
    number, else the card number (with ``facility``, by default the site's first facility code).
    """
    if isinstance(card_format, RawFormat):
        length = card_format.length or card_format.first_bit + card_format.bit_count
        tail = length - card_format.first_bit - card_format.bit_count
        bits = "0" * card_format.first_bit + _binary(number, card_format.bit_count) + "0" * tail
        return pack(bits), length, False
    number_bits = WIEGAND[card_format.type][1]
    if card_format.number == "facility_card":
        facility, number = number >> number_bits, number & ((1 << number_bits) - 1)
    elif facility is None:
        facility = card_format.facility_codes[0] if card_format.facility_codes else 0
    bits = wiegand_bits(card_format.type, facility, number, bad_parity)
    return pack(bits), len(bits), True
