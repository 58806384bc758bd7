"""Card bits -> the credential the gateway decides on (a decimal string). Pure functions.

OSDP carries a card as raw bits (``osdp_RAW``): a bit count and the bits packed most
significant first, the first bit the reader received in the top bit of the first byte. Wiegand
layouts (bit 1 is the first bit on the wire):

======== ======== ================ ================ ===================================
format   bits     facility code    card number      parity
======== ======== ================ ================ ===================================
26       26       bits 2-9 (8)     bits 10-25 (16)  1 even over 2-13, 26 odd over 14-25
34       34       bits 2-17 (16)   bits 18-33 (16)  1 even over 2-17, 34 odd over 18-33
37       37       bits 2-17 (16)   bits 18-36 (19)  1 even over 2-19, 37 odd over 19-36
======== ======== ================ ================ ===================================
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.osdp.models import RawFormat, WiegandFormat


class CardError(ValueError):
    """Card bits that are not a card of the configured format; the message says why."""


@dataclass(frozen=True)
class WiegandLayout:
    length: int
    facility: tuple[int, int]  # first bit (1-based), bit count
    number: tuple[int, int]
    even: tuple[int, int]  # bits the even parity bit 1 covers (first, last), 1-based
    odd: tuple[int, int]  # bits the odd parity bit (the last) covers


LAYOUTS: dict[str, WiegandLayout] = {
    "wiegand26": WiegandLayout(26, (2, 8), (10, 16), (2, 13), (14, 25)),
    "wiegand34": WiegandLayout(34, (2, 16), (18, 16), (2, 17), (18, 33)),
    "wiegand37": WiegandLayout(37, (2, 16), (18, 19), (2, 19), (19, 36)),
}


@dataclass(frozen=True)
class Card:
    credential: str  # what the gateway decides on
    number: int
    facility: int | None = None


def bits_of(data: bytes, length: int) -> list[int]:
    """The first ``length`` bits of ``data``, most significant bit of the first byte first."""
    if length < 0 or (length + 7) // 8 > len(data):
        raise CardError(f"{length} bits announced but {len(data)} bytes of data")
    return [(data[i // 8] >> (7 - i % 8)) & 1 for i in range(length)]


def _value(bits: list[int], first: int, count: int) -> int:
    """``count`` bits from 1-based position ``first`` as an unsigned number."""
    value = 0
    for bit in bits[first - 1:first - 1 + count]:
        value = value << 1 | bit
    return value


def _ones(bits: list[int], first: int, last: int) -> int:
    return sum(bits[first - 1:last])


def decode_wiegand(layout: WiegandLayout, bits: list[int]) -> tuple[int, int]:
    """(facility code, card number) of a Wiegand card, its parity checked."""
    if len(bits) != layout.length:
        raise CardError(f"{len(bits)} bits, expected {layout.length}")
    if (bits[0] + _ones(bits, *layout.even)) % 2 != 0:
        raise CardError("even parity (first bit) does not match")
    if (bits[-1] + _ones(bits, *layout.odd)) % 2 != 1:
        raise CardError("odd parity (last bit) does not match")
    return _value(bits, *layout.facility), _value(bits, *layout.number)


def decode(card_format: WiegandFormat | RawFormat, data: bytes, length: int) -> Card:
    """The credential in ``data`` (``length`` bits), or CardError saying why there is none."""
    bits = bits_of(data, length)
    if isinstance(card_format, RawFormat):
        if card_format.length is not None and length != card_format.length:
            raise CardError(f"{length} bits, expected {card_format.length}")
        if card_format.first_bit + card_format.bit_count > length:
            raise CardError(f"{length} bits: too short for bits {card_format.first_bit}.."
                            f"{card_format.first_bit + card_format.bit_count - 1}")
        number = _value(bits, card_format.first_bit + 1, card_format.bit_count)
        return Card(str(number), number)
    layout = LAYOUTS[card_format.type]
    facility, number = decode_wiegand(layout, bits)
    if card_format.facility_codes and facility not in card_format.facility_codes:
        raise CardError(f"facility code {facility} is not one of this site's")
    if card_format.number == "facility_card":
        combined = facility << layout.number[1] | number
        return Card(str(combined), number, facility)
    return Card(str(number), number, facility)
