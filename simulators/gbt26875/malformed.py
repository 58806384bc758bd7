"""Bad frames on purpose, the kinds a monitoring centre meets in the field.

Integrators use them to check that their receiver denies and logs such frames and keeps the
connection working. Each builder returns bytes ready for the wire.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal, get_args

from drivers.gbt26875.codec import (
    Command,
    Frame,
    FrameReader,
    TransmitterStatus,
    Variant,
    encode_frame,
    encode_units,
)
from drivers.gbt26875.tables import TransmitterBit

MalformedKind = Literal["bad-checksum", "too-long", "garbage", "truncated", "wrong-variant"]
MALFORMED_KINDS: tuple[str, ...] = get_args(MalformedKind)

TOO_LONG = 1100  # application data bytes, over the standard's 1024
GARBAGE = b"\x00\x13\x37 line noise, not a frame \xfe\xff\x23"


def malformed_frame(kind: MalformedKind, serial: int, source: bytes, destination: bytes,
                    time: datetime, variant: Variant) -> bytes:
    """A heartbeat spoiled in the named way (or noise), as the transmitter would send it."""
    heartbeat = Frame(serial, Command.SEND_DATA, source, destination,
                      encode_units([TransmitterStatus(TransmitterBit.NORMAL, time)], variant), time)
    if kind == "bad-checksum":
        raw = bytearray(encode_frame(heartbeat, variant))
        raw[-3] = (raw[-3] + 1) & 0xFF
        return bytes(raw)
    if kind == "too-long":
        oversized = replace(heartbeat, app_data=bytes((2, 0)) + bytes(TOO_LONG - 2))
        return encode_frame(oversized, variant, max_app_data=0xFFFF)
    if kind == "garbage":
        return GARBAGE
    if kind == "truncated":
        return encode_frame(heartbeat, variant)[:-3]
    return _other_variant(heartbeat, variant)


def _other_variant(heartbeat: Frame, variant: Variant) -> bytes:
    """The heartbeat in the opposite variant, picked so it cannot pass as ``variant``.

    BCD and binary agree on small numbers, and a sum and an XOR can agree by chance; trying the
    next serial numbers until the configured reader refuses the frame keeps the check honest.
    """
    other = Variant("bcd" if variant.time == "binary" else "binary",
                    "xor" if variant.checksum == "sum" else "sum")
    app_data = encode_units([TransmitterStatus(TransmitterBit.NORMAL, heartbeat.time)], other)
    raw = b""
    for step in range(256):
        candidate = replace(heartbeat, serial=(heartbeat.serial + step) & 0xFFFF,
                            app_data=app_data)
        raw = encode_frame(candidate, other)
        if not any(isinstance(item, Frame) for item in FrameReader(variant).feed(raw)):
            return raw
    return raw
