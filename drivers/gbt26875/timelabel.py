"""The 6-byte time label and the vendor variants that change how it (and the checksum) is written.

The standard writes sec, min, hour, day, month, year-2000 as plain binary bytes; some vendors write
them as BCD. A site file names the variant per transmitter, and a frame is read only with the
variant configured for its sender: guessing would let a corrupted frame through.

Six zero bytes are read as "no time" rather than rejected: a transmitter whose clock was never set
must still get its fire alarms through (a clock sync from the centre fixes the clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TimeFormat = Literal["binary", "bcd"]
ChecksumKind = Literal["sum", "xor"]

TIME_LABEL_SIZE = 6


class CodecError(ValueError):
    """Bytes that are not what the standard (or the configured variant) says; message says why."""


@dataclass(frozen=True)
class Variant:
    """How a transmitter writes time labels and the checksum; the standard is binary + sum."""

    time: TimeFormat = "binary"
    checksum: ChecksumKind = "sum"
    padding: int = 0  # bytes some vendors put after each object of application data

    def __str__(self) -> str:
        padded = f" padding={self.padding}" if self.padding else ""
        return f"time={self.time} checksum={self.checksum}{padded}"


STANDARD = Variant()


def checksum(data: bytes, kind: ChecksumKind) -> int:
    """Low 8 bits of the byte sum (standard) or the XOR of all bytes (vendor variant)."""
    if kind == "sum":
        return sum(data) & 0xFF
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_time(value: datetime | None, fmt: TimeFormat = "binary") -> bytes:
    """Six bytes sec, min, hour, day, month, year-2000; ``None`` becomes six zero bytes."""
    if value is None:
        return bytes(TIME_LABEL_SIZE)
    if not 2000 <= value.year <= 2099:
        raise CodecError(f"year {value.year} cannot be written in a time label (2000-2099)")
    fields = (value.second, value.minute, value.hour, value.day, value.month, value.year - 2000)
    if fmt == "bcd":
        return bytes((f // 10) << 4 | f % 10 for f in fields)
    return bytes(fields)


def decode_time(raw: bytes, fmt: TimeFormat = "binary") -> datetime | None:
    """The naive device-local time of a label, ``None`` for all zeros; CodecError if invalid."""
    if len(raw) != TIME_LABEL_SIZE:
        raise CodecError(f"time label needs {TIME_LABEL_SIZE} bytes, got {len(raw)}")
    if not any(raw):
        return None
    if fmt == "bcd":
        if any(b >> 4 > 9 or b & 0x0F > 9 for b in raw):
            raise CodecError(f"time label {raw.hex(' ')} is not BCD")
        fields = [(b >> 4) * 10 + (b & 0x0F) for b in raw]
    else:
        fields = list(raw)
    second, minute, hour, day, month, year = fields
    try:
        return datetime(2000 + year, month, day, hour, minute, second)
    except ValueError:
        raise CodecError(f"time label {raw.hex(' ')} is not a valid {fmt} time") from None
