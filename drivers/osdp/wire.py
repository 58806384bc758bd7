"""What the readers answered, read off the wire: for diagnosis only, never for decisions.

libosdp tells the application that a reader went offline, not why. The OSDP header, the
security block and the reply code are sent in the clear even inside a secure channel (only the
data is encrypted), so the bytes the gateway reads say how far each reader got: silent, its ID,
its capabilities, the secure channel challenge (``osdp_CCRYPT``), or a NAK with its reason.
``ReplyTap`` frames the bytes read from the bus (checking CRC or checksum) and keeps, per
address, the reply codes seen since the last ``reset`` and the replies that failed their checks
(a wrong CRC, an impossible length); ``offline_reason`` turns that into the
sentence an installer reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

SOM = 0x53
CTRL_CRC = 0x04
CTRL_SCB = 0x08
MAX_PACKET = 1440

REPLY_ACK = 0x40
REPLY_NAK = 0x41
REPLY_PDID = 0x45
REPLY_PDCAP = 0x46
REPLY_FMT = 0x51  # card data as text (deprecated); libosdp ignores it
REPLY_CCRYPT = 0x76
REPLY_RMAC_I = 0x78

NAK_REASONS = {
    0x01: "message check character error",
    0x02: "command length error",
    0x03: "unknown command",
    0x04: "unexpected sequence number",
    0x05: "secure channel not supported",
    0x06: "secure channel conditions not met",
    0x07: "biometric type not supported",
    0x08: "biometric format not supported",
    0x09: "unable to process the command",
}


def crc16(data: bytes) -> int:
    """OSDP's CRC-16 (CCITT polynomial 0x1021, initial value 0x1D0F)."""
    crc = 0x1D0F
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = (crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


@dataclass(frozen=True)
class Reply:
    address: int
    code: int
    nak: int | None = None  # the NAK's reason code, when it is readable (not encrypted)
    sequence: int = 0  # the sequence number of the command it answers


def parse_packet(packet: bytes) -> Reply | None:
    """The reply in one whole, checked packet from a PD, or None (a command, or broken)."""
    if len(packet) < 7 or packet[0] != SOM:
        return None
    length = packet[2] | packet[3] << 8
    ctrl = packet[4]
    if length != len(packet):
        return None
    if ctrl & CTRL_CRC:
        if crc16(packet[:-2]) != (packet[-2] | packet[-1] << 8):
            return None
    elif checksum(packet[:-1]) != packet[-1]:
        return None
    if not packet[1] & 0x80:
        return None  # a command from the CP, not a reply
    position = 5
    scs = 0
    if ctrl & CTRL_SCB:
        if position >= len(packet) or packet[position] < 2:
            return None
        scs = packet[position + 1]
        position += packet[position]
    if position >= len(packet) - (2 if ctrl & CTRL_CRC else 1):
        return None
    code = packet[position]
    nak = None
    if code == REPLY_NAK and scs < 0x17 and position + 1 < len(packet):
        nak = packet[position + 1]  # SCS_17/18 encrypt the data; earlier ones do not
    return Reply(packet[1] & 0x7F, code, nak, ctrl & 0x03)


@dataclass(frozen=True)
class Malformed:
    """A reply the tap could not take: what was wrong, and its first bytes."""

    what: str  # "a wrong CRC 0x1234 (computed 0x1235)", "a length field of 65535"
    head: bytes

    def __str__(self) -> str:
        more = "…" if len(self.head) == MALFORMED_BYTES else ""
        return f"{self.what}: {self.head.hex(' ')}{more}"


MALFORMED_BYTES = 24  # of a malformed reply kept, to log


@dataclass
class Seen:
    codes: set[int] = field(default_factory=set)
    naks: list[int] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)  # the last few
    late: int = 0  # replies to an earlier command than the last sent: after the CP gave up
    # replies that start the sequence again (0) to a command in a conversation: the reader
    # started afresh (a reset, a power blip, its secure element) and its session is gone
    restarted: int = 0


class ReplyTap:
    """Frames the byte stream read from the bus; remembers what each address answered."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buffer = bytearray()
        self._seen: dict[int, Seen] = {}
        self.text_cards: list[int] = []  # addresses that sent osdp_FMT since last taken
        self._asked: dict[int, int] = {}  # address -> sequence number of the last command
        self._asked_at: dict[int, float] = {}  # address -> when that command was sent
        self._clock = clock

    def sent(self, data: bytes) -> None:
        """Note the sequence number of each command the CP writes (libosdp writes whole
        packets, with or without the leading mark byte 0xFF)."""
        start = data.find(SOM)
        while start >= 0 and start + 5 <= len(data):
            length = data[start + 2] | data[start + 3] << 8
            if not data[start + 1] & 0x80:
                self._asked[data[start + 1] & 0x7F] = data[start + 4] & 0x03
                self._asked_at[data[start + 1] & 0x7F] = self._clock()
            if length < 7:
                break
            start = data.find(SOM, start + length)

    def feed(self, data: bytes) -> list[Reply]:
        self._buffer += data
        replies: list[Reply] = []
        buffer = self._buffer
        while True:
            start = buffer.find(SOM)
            if start < 0:
                buffer.clear()
                break
            del buffer[:start]
            if len(buffer) < 5:
                break
            length = buffer[2] | buffer[3] << 8
            if not 7 <= length <= MAX_PACKET:
                self._malformed(bytes(buffer[:MALFORMED_BYTES]), f"a length field of {length}")
                del buffer[:1]
                continue
            if len(buffer) < length:
                break
            reply = parse_packet(bytes(buffer[:length]))
            if reply is None:
                self._malformed(bytes(buffer[:length]), _check_failure(bytes(buffer[:length])))
                del buffer[:1]  # not a packet after all: look for the next start
                continue
            del buffer[:length]
            replies.append(reply)
            self._note(reply)
        if len(buffer) > 4 * MAX_PACKET:
            buffer.clear()
        return replies

    def _malformed(self, packet: bytes, what: str | None) -> None:
        """A reply's header with a body that fails its checks (a noisy line, a broken reader);
        a command from the CP or a stray SOM inside other bytes is not one."""
        if what is None or len(packet) < 5 or not packet[1] & 0x80:
            return
        seen = self._seen.setdefault(packet[1] & 0x7F, Seen())
        seen.malformed = [*seen.malformed[-2:], Malformed(what, packet[:MALFORMED_BYTES])]

    def _note(self, reply: Reply) -> None:
        seen = self._seen.setdefault(reply.address, Seen())
        asked = self._asked.get(reply.address)
        waited = self._clock() - self._asked_at.get(reply.address, self._clock())
        # late: numbered for an earlier command, or heard after the CP stopped waiting (with
        # another reader on the bus the numbers alone miss some: its replies fall between)
        if asked is not None and (reply.sequence != asked or waited > REPLY_TIMEOUT_MS / 1000):
            if reply.sequence == 0 and reply.code == REPLY_NAK and reply.nak == 0x04:
                # not an old reply: a reader that starts again at 0 refuses the number it got
                seen.restarted += 1
            else:
                seen.late += 1
            return  # libosdp drops it too: what it says was not heard
        seen.codes.add(reply.code)
        if reply.nak is not None:
            seen.naks.append(reply.nak)
        if reply.code == REPLY_FMT:
            self.text_cards.append(reply.address)

    def seen(self, address: int) -> Seen:
        return self._seen.get(address, Seen())

    def reset(self, address: int) -> None:
        self._seen.pop(address, None)


class StrayReplies:
    """What libosdp reads of the line, less the whole replies of a reader it is not waiting for.

    A reader that answers after the CP's reply timeout talks into the next exchange, which may
    be with another reader: libosdp takes a reply from the wrong address as that other reader's
    failure and takes it offline too. Held back here, the late reader alone pays for its lateness
    (the tap has counted the reply as late). Bytes that are not a whole, checked reply go on as
    they came; a reply still arriving is held until it is whole (one refresh).
    """

    def __init__(self) -> None:
        self._held = bytearray()
        self.awaited: int | None = None  # the address of the last command sent
        self.dropped = 0

    def sent(self, data: bytes) -> None:
        start = data.find(SOM)
        if start >= 0 and start + 1 < len(data) and not data[start + 1] & 0x80:
            self.awaited = data[start + 1] & 0x7F

    def pass_on(self, data: bytes) -> bytes:
        held = self._held
        held += data
        out = bytearray()
        while held:
            start = held.find(SOM)
            if start < 0:
                out += held
                held.clear()
                break
            out += held[:start]
            del held[:start]
            if len(held) < 5:
                break
            length = held[2] | held[3] << 8
            if not 7 <= length <= MAX_PACKET:
                out += held[:1]
                del held[:1]
                continue
            if len(held) < length:
                if len(held) > 4 * MAX_PACKET:
                    out += held
                    held.clear()
                break
            reply = parse_packet(bytes(held[:length]))
            if reply is None:
                out += held[:1]  # not a whole reply after all: on as it came
                del held[:1]
                continue
            if self.awaited is None or reply.address == self.awaited:
                out += held[:length]
            else:
                self.dropped += 1
            del held[:length]
        return bytes(out)


def _check_failure(packet: bytes) -> str | None:
    """What fails in a whole packet ``parse_packet`` refused: its CRC or checksum, or None
    (it is not a reply, or its fault is its layout)."""
    if packet[4] & CTRL_CRC:
        said, computed = packet[-2] | packet[-1] << 8, crc16(packet[:-2])
        return f"a wrong CRC 0x{said:04x} (computed 0x{computed:04x})" if said != computed \
            else None
    said, computed = packet[-1], checksum(packet[:-1])
    return f"a wrong checksum 0x{said:02x} (computed 0x{computed:02x})" if said != computed \
        else None


# What went wrong, by how the driver should go on.
LINK = "link"  # it answered before: try again soon
SILENT = "silent"  # never answered: try again, backing off
SECURE_CHANNEL = "secure_channel"  # a configuration problem: a person must act
MALFORMED = "malformed"  # it answers, but a reply was spoiled on the line: try again at once
LATE = "late"  # it answers after libosdp's reply timeout: timing, try again, backing off
# libosdp 3.2's CP waits this long for a reply (OSDP_RESP_TOUT_MS in its osdp_config.h, fixed
# when the library is built; no call changes it)
REPLY_TIMEOUT_MS = 200


def offline_reason(address: int, seen: Seen, was_online: bool,
                   sc_capable: bool | None) -> tuple[str, str]:
    """(kind, sentence) for a reader libosdp just took offline.

    ``sc_capable``: what the reader's capability report said about the secure channel (None if
    it never sent one).
    """
    codes = seen.codes
    if was_online and seen.malformed:
        return MALFORMED, f"a malformed reply ({seen.malformed[-1]})"
    if was_online and seen.restarted:
        return LINK, ("the reader started afresh (it answered with sequence number 0 in the "
                      "middle of its session: a reset or a power blip); its secure session is "
                      "gone and is set up again")
    if seen.late:
        return LATE, (f"the reader answers too late: {seen.late} of its replies came after the "
                      f"control panel's {REPLY_TIMEOUT_MS} ms reply timeout (a slow reader, a "
                      "long line or a converter that buffers); a timing fault, not its key or "
                      "its secure channel")
    if was_online:
        return LINK, "the reader stopped answering (or broke off the secure channel session)"
    if REPLY_CCRYPT in codes:
        return SECURE_CHANNEL, (
            "secure channel refused: the reader's answer to the challenge does not match its "
            "key in the site file (the reader has another key, or it is in install mode and "
            "knows only the default key; the protocol cannot tell which)")
    for nak in seen.naks:
        if nak in (0x05, 0x06):
            return SECURE_CHANNEL, (f"the reader refuses the secure channel (NAK {nak}: "
                                    f"{NAK_REASONS[nak]}); the gateway accepts no plaintext")
    if REPLY_PDCAP in codes and sc_capable is False:
        return SECURE_CHANNEL, ("the reader reports no secure channel support; the gateway "
                                "accepts no plaintext")
    if seen.malformed:
        return MALFORMED, f"a malformed reply during setup ({seen.malformed[-1]})"
    if not codes:
        return SILENT, (f"no answer at address {address} (wiring, address, baud rate, or the "
                        "reader has no power)")
    if seen.naks:
        reasons = ", ".join(f"{n}: {NAK_REASONS.get(n, 'unknown')}" for n in seen.naks[-3:])
        return LINK, f"the reader refused a command during setup (NAK {reasons})"
    return LINK, "the reader stopped answering during setup"
