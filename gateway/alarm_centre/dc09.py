"""SIA DC-09 framing: the message block an alarm transmitter and a centre's receiver exchange.

A block is ``<LF> crc 0LLL "id" seq [Rrcvr] Lline [#acct] [data] [x-data]... [_timestamp] <CR>``:
the CRC-16 (the ARC variant: polynomial 0x8005 reflected, initial 0) and the length (hex, four
digits, the first 0) are over everything from the opening quote to the CR. ``id`` names the
data (``SIA-DCS``, ``ADM-CID``, ``NULL`` for a link test; ``ACK``, ``NAK`` and ``DUH`` answer);
a ``*`` before it says the part from the data on is AES-CBC encrypted with a zero IV, written
in hex, its plain text padded at the front to a multiple of 16 bytes. The timestamp is UTC.

Bytes from the network are bounded (``MAX_BLOCK``) and every refusal is a ``BlockError`` that
says which part is wrong, so a receiver can answer NAK and a transmitter can report the answer.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAX_BLOCK = 1024  # a block is at most 0x0FFF long by its length field; real ones are < 300
PAST_WINDOW = 40.0  # seconds a receiver accepts a timestamp behind its own clock
FUTURE_WINDOW = 20.0  # and ahead of it
KEY_SIZES = (16, 24, 32)  # AES-128, -192, -256
_TIME = "_%H:%M:%S,%m-%d-%Y"
_PAD = string.ascii_letters + string.digits  # never "|", "[" or "]": the standard's pad rule
_HEADER = re.compile(
    r'"(?P<star>\*?)(?P<id>[A-Z][A-Z0-9-]{1,15})"(?P<seq>\d{4})'
    r"(?:R(?P<receiver>[0-9A-F]{1,6}))?L(?P<line>[0-9A-F]{1,6})"
    r"(?:#(?P<account>[0-9A-F]{3,16}))?\[")
_TAIL = re.compile(r"(?P<extended>(?:\[[^\[\]]*\])*)(?P<time>_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})?")


class BlockError(ValueError):
    """A block that cannot be used; ``part`` is what is wrong (crc, length, format, key,
    timestamp) and the message says how, with the bytes where that helps."""

    def __init__(self, part: str, message: str, header: Block | None = None) -> None:
        super().__init__(message)
        self.part = part
        self.header = header  # for an unknown account: the header, so DUH can answer it


@dataclass(frozen=True)
class Block:
    """One DC-09 message, plain (the encryption is a matter of ``encode`` and ``decode``)."""

    id: str
    sequence: int
    account: str = ""
    receiver: str | None = None
    line: str = "0"
    data: str = ""  # inside the first [...], e.g. "#1234|Nri1/PA001"
    extended: tuple[str, ...] = ()  # further [...] blocks, without brackets
    time: datetime | None = None
    encrypted: bool = field(default=False, compare=False)

    def header(self) -> str:
        receiver = f"R{self.receiver}" if self.receiver is not None else ""
        account = f"#{self.account}" if self.account else ""
        return f'"{self.id}"{self.sequence:04d}{receiver}L{self.line}{account}'

    def content(self) -> str:
        """What follows the header's ``[``: data, its ``]``, x-data and the timestamp."""
        extended = "".join(f"[{x}]" for x in self.extended)
        stamp = self.time.astimezone(UTC).strftime(_TIME) if self.time is not None else ""
        return f"{self.data}]{extended}{stamp}"


def crc16(data: bytes) -> int:
    """CRC-16/ARC, the check DC-09 specifies (of b"123456789": 0xBB3D)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def aes_key(text: str) -> bytes:
    """A key written in hex (32, 48 or 64 digits), as a centre hands it out."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("the key is not hex digits") from None
    if len(key) not in KEY_SIZES:
        raise ValueError(f"the key is {len(key)} bytes; AES takes 16, 24 or 32")
    return key


def encode(block: Block, key: bytes | None = None) -> bytes:
    """The block on the wire; encrypted when ``key`` is given (NAK is never encrypted)."""
    content = block.content()
    if key is not None and block.id != "NAK":
        head = f'"*{block.header()[1:]}['
        pad = "".join(secrets.choice(_PAD) for _ in range(16 - len(content) % 16))
        body = head + _cipher(key, encrypt=True, data=(pad + content).encode("ascii")).hex()
        body = body.upper()
    else:
        body = f"{block.header()}[{content}"
    raw = body.encode("ascii")
    if len(raw) > 0x0FFF:
        raise ValueError(f"a DC-09 block of {len(raw)} bytes is over the length field's 4095")
    return b"\n" + f"{crc16(raw):04X}{len(raw):04X}".encode() + raw + b"\r"


def decode(raw: bytes, key: bytes | None = None, *,
           keys: Mapping[str, bytes | None] | None = None) -> Block:
    """One block (with or without its LF and CR); ``key`` for an encrypted one, or ``keys``
    (a receiver's accounts: account -> its key or None): an account not among them is refused
    as ``account``, before any decryption."""
    if len(raw) > MAX_BLOCK:
        raise BlockError("length", f"{len(raw)} bytes, over the {MAX_BLOCK} a block may have")
    frame = raw.strip(b"\n\r\x00")
    if len(frame) < 9 or not re.fullmatch(rb"[0-9A-Fa-f]{4}0[0-9A-Fa-f]{3}", frame[:8]):
        raise BlockError("format", f"no CRC and length at the start: {frame[:16]!r}")
    body = frame[8:]
    crc, length = int(frame[:4], 16), int(frame[4:8], 16)
    if crc16(body) != crc:
        raise BlockError("crc", f"CRC {frame[:4].decode()} but the block's is "
                                f"{crc16(body):04X}")
    if length != len(body):
        raise BlockError("length", f"length {length} but {len(body)} bytes follow")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise BlockError("format", f"bytes that are not ASCII: {body[:60]!r}") from None
    header = _HEADER.match(text)
    if header is None:
        raise BlockError("format", f"not a DC-09 header: {text[:60]!r}")
    rest = text[header.end():]
    encrypted = bool(header["star"])
    if keys is not None:
        if (header["account"] or "") not in keys:
            raise BlockError("account", f"account {header['account'] or '(none)'} is not "
                                        "known here",
                             Block(header["id"], int(header["seq"]), header["account"] or "",
                                   header["receiver"], header["line"], encrypted=encrypted))
        key = keys[header["account"] or ""]
    if encrypted:
        if key is None:
            raise BlockError("key", f"encrypted, and account {header['account']} has no key here")
        rest = _decrypted(rest, key)
    data, closed, after = rest.partition("]")
    tail = _TAIL.fullmatch(after)
    if not closed or tail is None:
        raise BlockError("format", f"the data is not closed as DC-09 says: {rest[:60]!r}")
    time = None
    if tail["time"]:
        try:
            time = datetime.strptime(tail["time"], _TIME).replace(tzinfo=UTC)
        except ValueError:
            raise BlockError("timestamp", f"no such time {tail['time']!r}") from None
    extended = tuple(x for x in re.findall(r"\[([^\[\]]*)\]", tail["extended"]))
    return Block(header["id"], int(header["seq"]), header["account"] or "", header["receiver"],
                 header["line"], data, extended, time, encrypted)


def _decrypted(hex_text: str, key: bytes) -> str:
    try:
        cipher_text = bytes.fromhex(hex_text)
    except ValueError:
        raise BlockError("format", f"encrypted data that is not hex: {hex_text[:40]!r}") from None
    if not cipher_text or len(cipher_text) % 16:
        raise BlockError("format", f"encrypted data of {len(cipher_text)} bytes, not a "
                                   "multiple of 16")
    plain = _cipher(key, encrypt=False, data=cipher_text)
    try:
        text = plain.decode("ascii")
    except UnicodeDecodeError:
        raise BlockError("key", "the data does not decrypt with this account's key") from None
    # the pad is never "|", "[" or "]": the data starts at the first of those (or at "#acct|")
    start = min((i for i in (text.find("|"), text.find("]")) if i >= 0), default=-1)
    if start < 0 or not text.isprintable():
        raise BlockError("key", "the data does not decrypt with this account's key")
    pad = text[:start]
    account = pad.rfind("#")
    return (pad[account:] if account >= 0 else "") + text[start:]


def _cipher(key: bytes, *, encrypt: bool, data: bytes) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(bytes(16)))
    worker = cipher.encryptor() if encrypt else cipher.decryptor()
    return worker.update(data) + worker.finalize()


def skew(block: Block, now: datetime) -> float | None:
    """Seconds the block's timestamp is ahead of ``now`` (negative: behind); None if none."""
    return None if block.time is None else (block.time - now).total_seconds()


def in_window(block: Block, now: datetime) -> bool:
    """Whether a receiver at ``now`` takes the block's time (DC-09's window: +20 s, -40 s)."""
    offset = skew(block, now)
    return offset is None or -PAST_WINDOW <= offset <= FUTURE_WINDOW


# -- the answers a receiver gives ---------------------------------------------------------

def ack(to: Block, now: datetime) -> Block:
    """ACK: the message is taken. An encrypted message's ACK carries the receiver's time."""
    return Block("ACK", to.sequence, to.account, to.receiver, to.line,
                 time=now if to.encrypted else None)


def nak(now: datetime) -> Block:
    """NAK: not taken (bad CRC, a time outside the window); it carries the receiver's time,
    so a transmitter whose clock drifted can correct it. Its header is fixed: 0000R0L0A0."""
    return Block("NAK", 0, receiver="0", line="0A0", time=now)


def duh(to: Block) -> Block:
    """DUH: understood as a block, not as a message this receiver takes (an unknown account,
    a data format it does not handle)."""
    return Block("DUH", to.sequence, to.account, to.receiver, to.line)
