"""Application data units: type (1 byte), object count (1 byte), then fixed-size objects.

Each object kind is a frozen dataclass with its type code and wire size. Types this module does
not decode are kept as raw bytes, so a transmitter that also sends analog values or versions is
still acknowledged instead of being told its frame was wrong. Multi-byte values are little-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from drivers.gbt26875.timelabel import (
    STANDARD,
    TIME_LABEL_SIZE,
    CodecError,
    TimeFormat,
    Variant,
    decode_time,
    encode_time,
)

MAX_APP_DATA = 1024
DESCRIPTION_SIZE = 31
DESCRIPTION_CODEC = "gb18030"


@dataclass(frozen=True)
class SystemStatus:
    """Type 1: the status word of a whole fire-facility system (a fire alarm panel)."""

    TYPE: ClassVar[int] = 1
    SIZE: ClassVar[int] = 4 + TIME_LABEL_SIZE

    system_type: int
    system_address: int
    status: int
    time: datetime | None = None

    def pack(self, fmt: TimeFormat) -> bytes:
        return (struct.pack("<BBH", self.system_type, self.system_address, self.status)
                + encode_time(self.time, fmt))

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> SystemStatus:
        system_type, system_address, status = struct.unpack_from("<BBH", raw)
        return cls(system_type, system_address, status, decode_time(raw[4:], fmt))


@dataclass(frozen=True)
class ComponentStatus:
    """Type 2: one component (detector, call point, module) with the panel's own description."""

    TYPE: ClassVar[int] = 2
    SIZE: ClassVar[int] = 9 + DESCRIPTION_SIZE + TIME_LABEL_SIZE

    system_type: int
    system_address: int
    component_type: int
    component_address: int
    status: int
    description: str = ""
    time: datetime | None = None

    def pack(self, fmt: TimeFormat) -> bytes:
        head = struct.pack("<BBBIH", self.system_type, self.system_address, self.component_type,
                           self.component_address, self.status)
        return head + encode_description(self.description) + encode_time(self.time, fmt)

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> ComponentStatus:
        system_type, system_address, component_type, address, status = struct.unpack_from(
            "<BBBIH", raw
        )
        text = decode_description(raw[9 : 9 + DESCRIPTION_SIZE])
        time = decode_time(raw[9 + DESCRIPTION_SIZE :], fmt)
        return cls(system_type, system_address, component_type, address, status, text, time)


@dataclass(frozen=True)
class OperationRecord:
    """Type 4: something an operator did at a fire panel (reset, silence, self test ...)."""

    TYPE: ClassVar[int] = 4
    SIZE: ClassVar[int] = 4 + TIME_LABEL_SIZE

    system_type: int
    system_address: int
    flags: int
    operator: int
    time: datetime | None = None

    def pack(self, fmt: TimeFormat) -> bytes:
        return (bytes((self.system_type, self.system_address, self.flags, self.operator))
                + encode_time(self.time, fmt))

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> OperationRecord:
        return cls(raw[0], raw[1], raw[2], raw[3], decode_time(raw[4:], fmt))


@dataclass(frozen=True)
class TransmitterStatus:
    """Type 21: the transmission device's own status; many devices send it as their heartbeat."""

    TYPE: ClassVar[int] = 21
    SIZE: ClassVar[int] = 1 + TIME_LABEL_SIZE

    status: int
    time: datetime | None = None

    def pack(self, fmt: TimeFormat) -> bytes:
        return bytes((self.status,)) + encode_time(self.time, fmt)

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> TransmitterStatus:
        return cls(raw[0], decode_time(raw[1:], fmt))


@dataclass(frozen=True)
class TransmitterOperation:
    """Type 24: an operation at the transmission device, e.g. the answer to a duty check."""

    TYPE: ClassVar[int] = 24
    SIZE: ClassVar[int] = 2 + TIME_LABEL_SIZE

    flags: int
    operator: int
    time: datetime | None = None

    def pack(self, fmt: TimeFormat) -> bytes:
        return bytes((self.flags, self.operator)) + encode_time(self.time, fmt)

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> TransmitterOperation:
        return cls(raw[0], raw[1], decode_time(raw[2:], fmt))


@dataclass(frozen=True)
class ClockSync:
    """Type 90, sent by the centre with command 1: set the transmission device's clock."""

    TYPE: ClassVar[int] = 90
    SIZE: ClassVar[int] = TIME_LABEL_SIZE

    time: datetime | None

    def pack(self, fmt: TimeFormat) -> bytes:
        return encode_time(self.time, fmt)

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> ClockSync:
        return cls(decode_time(raw, fmt))


@dataclass(frozen=True)
class DutyCheck:
    """Type 91 (查岗), sent by the centre with command 1: is someone on duty at the panel?

    The byte is how long (minutes) the device gives the person on duty to answer; the answer
    comes later as a type 24 record with the duty-answered flag.
    """

    TYPE: ClassVar[int] = 91
    SIZE: ClassVar[int] = 1

    answer_minutes: int = 1

    def pack(self, fmt: TimeFormat) -> bytes:
        return bytes((self.answer_minutes,))

    @classmethod
    def unpack(cls, raw: bytes, fmt: TimeFormat) -> DutyCheck:
        return cls(raw[0])


Unit = (SystemStatus | ComponentStatus | OperationRecord | TransmitterStatus
        | TransmitterOperation | ClockSync | DutyCheck)

UNIT_KINDS: dict[int, type[Unit]] = {
    kind.TYPE: kind
    for kind in (SystemStatus, ComponentStatus, OperationRecord, TransmitterStatus,
                 TransmitterOperation, ClockSync, DutyCheck)
}


@dataclass(frozen=True)
class ApplicationData:
    """One frame's application data; ``raw`` holds the objects of a type not decoded here."""

    type: int
    objects: tuple[Unit, ...] = ()
    count: int = 0
    raw: bytes = b""

    @property
    def decoded(self) -> bool:
        return self.type in UNIT_KINDS


def max_objects(kind: type[Unit], variant: Variant = STANDARD) -> int:
    """How many objects of a kind fit in one frame (22 component statuses)."""
    return min(255, (MAX_APP_DATA - 2) // (kind.SIZE + variant.padding))


def encode_units(objects: Sequence[Unit], variant: Variant = STANDARD) -> bytes:
    """Type, count and objects, all of one kind; CodecError if they do not fit one frame."""
    if not objects:
        raise CodecError("application data needs at least one object")
    kind = type(objects[0])
    if any(type(o) is not kind for o in objects):
        raise CodecError("all objects of one application data unit must be of one type")
    if len(objects) > max_objects(kind, variant):
        raise CodecError(f"{len(objects)} objects of type {kind.TYPE} do not fit one frame "
                         f"(at most {max_objects(kind, variant)})")
    pad = bytes(variant.padding)
    return bytes((kind.TYPE, len(objects))) + b"".join(o.pack(variant.time) + pad
                                                        for o in objects)


def decode_units(data: bytes, variant: Variant = STANDARD) -> ApplicationData:
    """Split application data into objects; CodecError when count and length disagree."""
    if len(data) < 2:
        raise CodecError(f"application data needs type and count, got {len(data)} bytes")
    type_code, count, body = data[0], data[1], data[2:]
    kind = UNIT_KINDS.get(type_code)
    if kind is None:
        return ApplicationData(type_code, count=count, raw=bytes(body))
    stride = kind.SIZE + variant.padding
    if len(body) != count * stride:
        hint = ""
        extra = len(body) - count * kind.SIZE
        if count and extra > 0 and extra % count == 0:
            hint = (f" (as if each object were followed by {extra // count} padding bytes: "
                    "set the transmitter's variant padding)")
        raise CodecError(f"type {type_code} with {count} objects needs {count * stride} "
                         f"bytes of objects, got {len(body)}{hint}")
    objects = tuple(
        kind.unpack(body[i * stride : i * stride + kind.SIZE], variant.time) for i in range(count)
    )
    return ApplicationData(type_code, objects, count)


def encode_description(text: str) -> bytes:
    """GB18030, cut at a character boundary to fit 31 bytes, zero-padded."""
    out = b""
    for char in text:
        encoded = char.encode(DESCRIPTION_CODEC)
        if len(out) + len(encoded) > DESCRIPTION_SIZE:
            break
        out += encoded
    return out.ljust(DESCRIPTION_SIZE, b"\x00")


def decode_description(raw: bytes) -> str:
    """Text up to the first zero byte; undecodable bytes become U+FFFD rather than an error."""
    return raw.split(b"\x00", 1)[0].decode(DESCRIPTION_CODEC, errors="replace").strip()
