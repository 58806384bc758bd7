"""Bounded before parsed: the one place where bytes and text from outside are checked.

Every byte that reaches the gateway from a peer (an MQTT request, an HTTP body, a camera's SOAP
answer, an imported file) is measured before any work is done on it, and JSON is checked for
depth before it is parsed, so no peer can make a parser recurse, a buffer grow without bound or
a handler raise something its caller did not expect. Everything here raises ``BoundaryError``
with a message that says what was wrong and by how much; callers turn it into their protocol's
refusal (a 400 or 413, a ``bad_request`` answer, a failed poll) and go on.

Device text (names, descriptions, card numbers, ONVIF items) is capped and has its control and
formatting characters (newlines, escapes, right-to-left overrides, zero-width marks) written as
escapes by ``device_text``, so it can neither forge a log line nor disguise itself on a screen.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import orjson

MAX_JSON_DEPTH = 32  # no document of our contract nests deeper than a few levels
DEVICE_TEXT = 256  # characters of one device string kept by default (names, status texts)
# The most of one string a driver keeps for an event's payload: the intake cuts it to the
# event type's bound and names the field in the event's ``truncated`` extension, so a driver
# passes event text through ``device_text(value, FACT_TEXT)`` and leaves the cutting to it.
FACT_TEXT = 16 * 1024

_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class BoundaryError(ValueError):
    """Input refused at the boundary; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_depth(raw: bytes, stop_at: int | None = None) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped); counting stops
    once ``stop_at`` is passed, so an attacker's document costs no more than its first levels."""
    depth = deepest = 0
    in_string = False
    for match in _STRUCTURE.finditer(raw):
        char = match.group()
        if char == b"\\":
            continue  # judged at the quote that follows it
        if in_string:
            if char == b'"' and not _escaped_at(raw, match.start()):
                in_string = False
            continue
        if char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_at is not None and deepest > stop_at:
                    return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def _escaped_at(raw: bytes, index: int) -> bool:
    """Whether the character at ``index`` is escaped (an odd run of backslashes before it)."""
    count = 0
    index -= 1
    while index >= 0 and raw[index] == 0x5C:
        count += 1
        index -= 1
    return count % 2 == 1


def parse_json(raw: bytes | bytearray | memoryview | str, *, what: str, max_bytes: int,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` parsed as JSON once it is known to be at most ``max_bytes`` and ``max_depth``
    deep; otherwise (or if it is no JSON) a ``BoundaryError`` that names ``what``."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(data) > max_bytes:
        raise BoundaryError(f"{what} is {len(data)} bytes; the limit is {max_bytes}", 413)
    if json_depth(data, stop_at=max_depth) > max_depth:
        raise BoundaryError(f"{what} nests arrays or objects deeper than {max_depth} levels")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # the text before the error names the field (a number out of range: "doorNo": 1e999)
        near = device_text(data[max(0, exc.pos - 32):exc.pos + 16].decode("utf-8", "replace"),
                           64)
        raise BoundaryError(f"{what} is not JSON: {exc.msg} at char {exc.pos}, near "
                            f"{near!r}") from None


def json_object(raw: bytes | bytearray | memoryview | str, *, what: str, max_bytes: int,
                max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Like ``parse_json``, for documents that must be a JSON object."""
    value = parse_json(raw, what=what, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise BoundaryError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _is_unsafe(char: str) -> bool:
    """Control characters (Cc), format characters such as bidi overrides and zero-width marks
    (Cf), line and paragraph separators (Zl, Zp), surrogates and unassigned code points."""
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


_SAFE_ASCII = re.compile(r"[\x20-\x7e]*")


def device_text(value: object, limit: int = DEVICE_TEXT) -> str:
    """A string a device sent, safe to keep, show and log: at most ``limit`` characters (cut
    with ``…``), control and formatting characters written as escapes (``\\x1b``, ``\\u202e``)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit * 8:  # escaping can only lengthen it: cut the rest unread
        text = text[: limit * 8]
    if not _SAFE_ASCII.fullmatch(text):
        text = "".join(_escape_char(c) if _is_unsafe(c) else c for c in text)
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text
