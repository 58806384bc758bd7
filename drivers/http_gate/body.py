"""Reading a pushed body within its limits; from a multipart one, only the event parts.

Pictures (any part that is not JSON, XML or text) are read past and dropped as they stream by:
only ``max_body`` bytes of event data are kept, and no more than ``max_request`` bytes are read
at all. A body over a limit, or a multipart body that does not parse, is a ``BodyError`` with
the HTTP status and a reason for the sender.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

EVENT_TYPES = ("json", "xml", "text/plain")
# Bytes read before the parser starts, to find the first delimiter (after any preamble).
PEEK = 4096


class BodyError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Part:
    content_type: str
    name: str
    data: bytearray = field(default_factory=bytearray)
    keep: bool = True


async def _peek(chunks: AsyncIterator[bytes], size: int) -> bytes:
    head = bytearray()
    async for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    return bytes(head)


async def _rejoined(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in rest:
        yield chunk


def boundary_as_sent(boundary: bytes, head: bytes) -> bytes:
    """The boundary as the body spells it. Some terminals name it in another case in their
    Content-Type (``boundary=mime_boundary``) than they delimit their parts with
    (``--MIME_boundary``); RFC 2046 makes it case-sensitive, so a strict parser finds no part."""
    if b"--" + boundary in head:
        return boundary
    at = head.lower().find(b"--" + boundary.lower())
    return head[at + 2:at + 2 + len(boundary)] if at >= 0 else boundary


async def read_all(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyError(413, f"body over {limit} bytes")
    return bytes(body)


def _is_event(content_type: str, name: str) -> bool:
    if name in ("event_log", "AccessControllerEvent", "EventNotificationAlert"):
        return True
    return any(kind in content_type for kind in EVENT_TYPES)


async def event_parts(content_type: str, chunks: AsyncIterator[bytes], max_body: int,
                      max_request: int) -> list[tuple[str, bytes]]:
    """The event parts of a body as (content type, bytes): the whole body unless multipart."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" and kind != b"multipart/mixed":
        return [(kind.decode("latin-1"), await read_all(chunks, max_body))]
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise BodyError(400, "multipart body without a boundary")
    parts: list[Part] = []
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
    headers: dict[str, str] = {}
    kept = 0

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        headers[header["field"].decode("latin-1").lower()] = header["value"].decode("latin-1")
        header["field"].clear()
        header["value"].clear()

    def on_headers_finished() -> None:
        part_type = headers.get("content-type", "").lower()
        _, disposition = parse_options_header(headers.get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("latin-1")
        parts.append(Part(part_type, name, keep=_is_event(part_type, name)))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal kept
        part = parts[-1]
        if not part.keep:
            return
        kept += end - start
        if kept > max_body:
            raise BodyError(413, f"event data over {max_body} bytes")
        part.data += data[start:end]

    stream = aiter(chunks)
    head = await _peek(stream, len(boundary) + PEEK)
    boundary = boundary_as_sent(boundary, head)
    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
    })
    total = 0
    try:
        async for chunk in _rejoined(head, stream):
            total += len(chunk)
            if total > max_request:
                raise BodyError(413, f"request over {max_request} bytes")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise BodyError(400, f"malformed multipart body: {exc}") from None
    events = [(p.content_type, bytes(p.data)) for p in parts if p.keep]
    if not events:
        raise BodyError(400, "multipart body without an event part (JSON or XML)")
    return events
