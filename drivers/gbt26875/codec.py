"""GB/T 26875.3-2011 frames: encoding, the stream reader, and the centre's ACK and deny replies.

Pure functions and values only (no I/O), so every rule here is tested from literal bytes.

    @@ | serial u16 | version 2 B | time 6 B | source 6 B | destination 6 B | length u16 |
    command 1 B | application data (length bytes, <= 1024) | checksum 1 B | ##

Multi-byte numbers are little-endian. The checksum covers serial through the end of the
application data. ``FrameReader`` turns a TCP byte stream into frames and ``Rejected`` chunks:
a rejected chunk carries the offending bytes (for the log) and the serial number when the header
got that far (so the receiver can deny that frame by number).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from drivers.gbt26875.timelabel import (
    STANDARD,
    CodecError,
    Variant,
    checksum,
    decode_time,
    encode_time,
)
from drivers.gbt26875.units import (
    MAX_APP_DATA,
    ApplicationData,
    ClockSync,
    ComponentStatus,
    DutyCheck,
    OperationRecord,
    SystemStatus,
    TransmitterOperation,
    TransmitterStatus,
    Unit,
    decode_units,
    encode_units,
)

__all__ = [
    "MAX_APP_DATA",
    "STANDARD",
    "ApplicationData",
    "ClockSync",
    "CodecError",
    "Command",
    "ComponentStatus",
    "DutyCheck",
    "Frame",
    "FrameReader",
    "OperationRecord",
    "Rejected",
    "SystemStatus",
    "TransmitterOperation",
    "TransmitterStatus",
    "Unit",
    "Variant",
    "ack_for",
    "decode_units",
    "deny_for",
    "deny_rejected",
    "encode_frame",
    "encode_units",
    "reply_to",
]

START = b"@@"
END = b"##"
ADDRESS_SIZE = 6
HEADER_SIZE = 27  # '@@' + serial, version, time, source, destination, length, command
TRAILER_SIZE = 3  # checksum + '##'
MAX_FRAME = HEADER_SIZE + MAX_APP_DATA + TRAILER_SIZE
PROTOCOL_VERSION = (1, 0)

_SERIAL = slice(2, 4)
_TIME = slice(6, 12)
_SOURCE = slice(12, 18)
_DESTINATION = slice(18, 24)


class Command(IntEnum):
    CONTROL = 1  # centre -> device: clock sync, duty check
    SEND_DATA = 2  # device -> centre: statuses, records, heartbeats
    CONFIRM = 3  # the ACK of a control or data frame
    REQUEST = 4  # read something
    RESPONSE = 5  # what was read
    DENY = 6  # the NAK of a control or data frame


@dataclass(frozen=True)
class Frame:
    serial: int
    command: int
    source: bytes
    destination: bytes
    app_data: bytes = b""
    time: datetime | None = None
    version: tuple[int, int] = PROTOCOL_VERSION


@dataclass(frozen=True)
class Rejected:
    """Bytes the reader could not accept as a frame; ``serial``/``source`` if the header showed.

    ``kind`` names the reason without its numbers (noise, too-long, no-end, checksum, time,
    incomplete, cut-short), for counting and for summarising repeated warnings.
    """

    reason: str
    raw: bytes
    serial: int | None = None
    source: bytes | None = None
    kind: str = "noise"


VariantFor = Callable[[bytes], Variant]
"""Which variant a frame from this source address must be in (its transmitter's setting)."""


def encode_frame(frame: Frame, variant: Variant = STANDARD, *,
                 max_app_data: int = MAX_APP_DATA) -> bytes:
    """The frame on the wire. ``max_app_data`` is raised only to build bad frames for tests."""
    if not 0 <= frame.serial <= 0xFFFF:
        raise CodecError(f"serial {frame.serial} is not a 16-bit number")
    if len(frame.source) != ADDRESS_SIZE or len(frame.destination) != ADDRESS_SIZE:
        raise CodecError("source and destination addresses are 6 bytes each")
    if len(frame.app_data) > max_app_data:
        raise CodecError(f"{len(frame.app_data)} bytes of application data, at most {max_app_data}")
    body = (
        struct.pack("<H", frame.serial)
        + bytes(frame.version)
        + encode_time(frame.time, variant.time)
        + frame.source
        + frame.destination
        + struct.pack("<HB", len(frame.app_data), frame.command)
        + frame.app_data
    )
    return START + body + bytes((checksum(body, variant.checksum),)) + END


def reply_to(frame: Frame, command: Command, time: datetime | None) -> Frame:
    """A frame answering ``frame``: same serial and version, source and destination swapped."""
    return Frame(frame.serial, command, source=frame.destination, destination=frame.source,
                 time=time, version=frame.version)


def ack_for(frame: Frame, time: datetime | None) -> Frame:
    return reply_to(frame, Command.CONFIRM, time)


def deny_for(frame: Frame, time: datetime | None) -> Frame:
    return reply_to(frame, Command.DENY, time)


def deny_rejected(rejected: Rejected, centre: bytes, time: datetime | None) -> Frame | None:
    """The deny for a rejected chunk, or ``None`` when no serial number was seen to refer to."""
    if rejected.serial is None:
        return None
    destination = rejected.source if rejected.source is not None else bytes(ADDRESS_SIZE)
    return Frame(rejected.serial, Command.DENY, source=centre, destination=destination, time=time)


class FrameReader:
    """Cuts a byte stream into frames, whatever the TCP segments look like.

    Frames may arrive split across reads, several in one read, or with noise between them. A
    candidate that fails (bad checksum, length over the limit, no ``##`` where the length says)
    is rejected and the reader resynchronises on the next ``@@`` after its first byte, so a good
    frame that follows a bad one is never lost. A candidate still waiting for bytes is given up
    as soon as a complete, valid frame is found after it (a frame cut short by a reconnecting
    sender), or when the caller ``flush``es because the link went quiet.
    """

    def __init__(self, variant: Variant | VariantFor = STANDARD, *,
                 max_app_data: int = MAX_APP_DATA) -> None:
        self._variant_for: VariantFor = (
            (lambda _source: variant) if isinstance(variant, Variant) else variant
        )
        self._max_app_data = max_app_data
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back, waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | Rejected]:
        self._buffer += data
        return self._drain(final=False)

    def flush(self) -> list[Frame | Rejected]:
        """Nothing more is coming for now: reject whatever is held back."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[Frame | Rejected]:
        buf = bytes(self._buffer)
        out = _Items()
        pos = 0
        while pos < len(buf):
            start = buf.find(START, pos)
            if start < 0:
                # a trailing '@' may be the first half of the next start marker
                keep = len(buf) - 1 if buf.endswith(b"@") and not final else len(buf)
                if keep > pos:
                    out.append(Rejected(NOISE, buf[pos:keep]))
                pos = keep
                break
            if start > pos:
                out.append(Rejected(NOISE, buf[pos:start]))
                pos = start
            parsed = self._frame_at(buf, pos)
            if parsed is not None:
                item, end = parsed
                out.append(item)
                pos = self._past_at_signs(buf, pos, end, out)
                continue
            later = self._next_valid_frame(buf, pos)
            if later is None and not final:
                break
            end = later if later is not None else _resume_after(buf, pos, final=True)
            if later is None:
                out.append(_rejected("incomplete frame", buf, pos, end, "incomplete"))
            else:
                out.append(_rejected("frame cut short by the next frame", buf, pos, end,
                                     "cut-short"))
            pos = end
        self._buffer = bytearray(buf[pos:])
        return out.items

    def _past_at_signs(self, buf: bytes, pos: int, end: int, out: _Items) -> int:
        """Where to go on after a candidate at ``pos`` that ended at ``end``.

        Inside a run of ``@`` every position is a candidate whose length field reads 0x4040,
        over any limit: no frame can start in the run before its last 25 bytes. So the run is
        skipped in one step (one rejection, the same as byte by byte, only linear in C).
        """
        if end != pos + 1 or buf[end:end + 2] != START or self._max_app_data >= 0x4040:
            return end
        other = _NOT_AT.search(buf, end)
        run_end = other.start() if other else len(buf)
        jump = run_end - (HEADER_SIZE - 2)
        if jump <= end:
            return end
        last = out.items_last()
        assert isinstance(last, Rejected)
        out.append(Rejected(last.reason, buf[end:jump], last.serial, last.source, last.kind))
        return jump

    def _frame_at(self, buf: bytes, pos: int) -> tuple[Frame | Rejected, int] | None:
        """The frame or rejection starting at ``pos`` and where to go on; None if incomplete."""
        if len(buf) - pos < HEADER_SIZE:
            return None
        length = struct.unpack_from("<H", buf, pos + 24)[0]
        if length > self._max_app_data:
            end = _resume_after(buf, pos)
            reason = f"application data length {length} over the limit {self._max_app_data}"
            return _rejected(reason, buf, pos, end, "too-long"), end
        total = HEADER_SIZE + length + TRAILER_SIZE
        if len(buf) - pos < total:
            return None
        raw = buf[pos : pos + total]
        if raw[-2:] != END:
            end = _resume_after(buf, pos)
            return _rejected("no '##' where the length says the frame ends", buf, pos, end,
                             "no-end"), end
        source = raw[_SOURCE]
        variant = self._variant_for(source)
        expected = checksum(raw[2 : HEADER_SIZE + length], variant.checksum)
        if raw[-3] != expected:
            # report the frame's own bytes, unless a new start marker lies inside them
            end = min(_resume_after(buf, pos), pos + total)
            reason = (f"checksum {raw[-3]:02X} is not the {variant.checksum} "
                      f"{expected:02X} expected for {variant}")
            return _rejected(reason, buf, pos, end, "checksum"), end
        try:
            time = decode_time(raw[_TIME], variant.time)
        except CodecError as exc:
            return (_rejected(f"{exc} (expected {variant})", buf, pos, pos + total, "time"),
                    pos + total)
        frame = Frame(
            serial=struct.unpack_from("<H", raw, 2)[0],
            command=raw[26],
            source=source,
            destination=raw[_DESTINATION],
            app_data=raw[HEADER_SIZE : HEADER_SIZE + length],
            time=time,
            version=(raw[4], raw[5]),
        )
        return frame, pos + total

    def _next_valid_frame(self, buf: bytes, pos: int) -> int | None:
        """Start of the first complete valid frame after ``pos``, if the buffer holds one."""
        start = buf.find(START, pos + 1)
        while start >= 0:
            parsed = self._frame_at(buf, start)
            if parsed is not None and isinstance(parsed[0], Frame):
                return start
            start = buf.find(START, start + 1)
        return None


def _resume_after(buf: bytes, pos: int, final: bool = False) -> int:
    """Where to look for the next frame after a failed candidate at ``pos``."""
    start = buf.find(START, pos + 1)
    if start >= 0:
        return start
    return len(buf) - 1 if buf.endswith(b"@") and not final and len(buf) - 1 > pos else len(buf)


def _rejected(reason: str, buf: bytes, pos: int, end: int, kind: str) -> Rejected:
    serial = struct.unpack_from("<H", buf, pos + 2)[0] if len(buf) - pos >= 4 else None
    source = buf[pos + 12 : pos + 18] if len(buf) - pos >= 18 else None
    return Rejected(reason, buf[pos:end], serial, source, kind)


NOISE = "bytes outside a frame"
_NOT_AT = re.compile(rb"[^@]")


class _Items:
    """The reader's output; a rejection right after one of the same reason (a run of ``@``
    bytes, each a candidate with the same impossible length) joins it instead of adding one."""

    def __init__(self) -> None:
        self._items: list[Frame | Rejected] = []
        self._parts: list[bytes] = []  # raw bytes of the last item, while it is a rejection

    def append(self, item: Frame | Rejected) -> None:
        last = self._items[-1] if self._items else None
        if (isinstance(item, Rejected) and isinstance(last, Rejected)
                and last.reason == item.reason):
            self._parts.append(item.raw)
            return
        self._seal()
        self._items.append(item)
        self._parts = [item.raw] if isinstance(item, Rejected) else []

    def _seal(self) -> None:
        last = self._items[-1] if self._items else None
        if isinstance(last, Rejected) and len(self._parts) > 1:
            self._items[-1] = Rejected(last.reason, b"".join(self._parts), last.serial,
                                       last.source, last.kind)
        self._parts = []

    def items_last(self) -> Frame | Rejected | None:
        return self._items[-1] if self._items else None

    @property
    def items(self) -> list[Frame | Rejected]:
        self._seal()
        return self._items
