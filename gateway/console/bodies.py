"""Request bodies measured before anything reads them (an ASGI middleware of the console).

Every console route has a body limit (``limit_of(method, path)``). A request that declares more
in ``Content-Length`` is answered 413 at once, its body unread; one sent in chunks is counted
as it arrives and answered 413 as soon as it passes the limit. A body within its limit is held
in memory (a few KiB at most) and handed to the route, so python-multipart, the form parser and
the JSON parser only ever see a body that fits, and nothing from a client reaches the disk. A
body that has not all come within ``deadline`` (a client trickling it to hold a connection) is
answered 408.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LimitOf = Callable[[str, str], int]
DEADLINE = 10.0  # seconds for a whole body: a few KiB, even from a slow guard-room network


class BodyLimits:
    def __init__(self, app: ASGIApp, limit_of: LimitOf, deadline: float = DEADLINE) -> None:
        self.app = app
        self.limit_of = limit_of
        self.deadline = deadline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = self.limit_of(method, path)
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, "bad_request", "Content-Length is not a number of bytes")
            return
        if declared is not None and declared > limit:
            await _refuse(send, 413, "too_large", f"the body of {method} {path} may be at most "
                          f"{limit} bytes; this one declares {declared}")
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.deadline):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client went away before its body was complete
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await _refuse(send, 413, "too_large", f"the body of {method} {path} "
                                      f"may be at most {limit} bytes; more was sent")
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _refuse(send, 408, "timeout", f"the body of {method} {path} did not arrive "
                          f"within {self.deadline:g} s ({size} bytes came)")
            return
        body = b"".join(chunks)
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # only a disconnect can come now (a stream ending)

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length, None if none is declared, -1 if it is no number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                number = int(value)
            except ValueError:
                return -1
            return number if number >= 0 else -1
    return None


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload: dict[str, Any] = {"status": "error", "error": {"code": code, "message": message}}
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
