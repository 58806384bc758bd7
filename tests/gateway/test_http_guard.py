"""gateway.kernel.http: uvicorn with the request deadline and the per-address share, on real
sockets with a small app that reads each body whole (as the receiver and the console do)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.kernel.http import client_key, guarded_http
from tests.conftest import free_port

DEADLINE = 1.0
gone: list[str] = []  # what the app saw of a client that stopped sending


async def echo(request: Request) -> Response:
    try:
        body = await request.body()
    except ClientDisconnect:
        gone.append(request.url.path)
        raise
    return Response(b"got " + body)


@contextlib.asynccontextmanager
async def server(per_client: int = 4) -> AsyncIterator[int]:
    port = free_port()
    app = Starlette(routes=[Route("/{name}", echo, methods=["GET", "POST"])])
    running = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off",
        timeout_graceful_shutdown=1, http=guarded_http("test", DEADLINE, per_client)))
    task = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        running.should_exit = True
        await task


def post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)


async def answer_of(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return head + await reader.readexactly(length)


def test_each_request_of_a_kept_alive_connection_has_its_own_deadline() -> None:
    async def scenario() -> None:
        async with server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post("/a", b"one"))
            assert (await answer_of(reader)).endswith(b"got one")
            await asyncio.sleep(DEADLINE * 1.5)  # idle between requests: keep-alive's business
            writer.write(post("/b", b"two") + post("/c", b"three"))  # pipelined
            assert (await answer_of(reader)).endswith(b"got two")
            assert (await answer_of(reader)).endswith(b"got three")
            writer.write(post("/d", b"four")[:-2])  # the next one stops two bytes short
            late = await reader.read()
            assert late.startswith(b"HTTP/1.1 408 ") and b"within 1 s" in late, late
            assert gone == ["/d"]  # the app reading its body was told the client went away
            writer.close()
    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_headers_that_never_end_and_connections_over_the_share() -> None:
    async def scenario() -> None:
        async with server(per_client=2) as port:
            hung = [await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
                    for _ in range(3)]
            for _, writer in hung:
                writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\n")
            assert await hung[2][0].read() == b""  # the third: closed at once, unanswered
            # another address is served meanwhile
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post("/e", b"five"))
            assert (await answer_of(reader)).endswith(b"got five")
            writer.close()
            for reader, _ in hung[:2]:
                assert (await reader.read()).startswith(b"HTTP/1.1 408 ")
            # their slots are free again once closed
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                           local_addr=("127.0.0.2", 0))
            writer.write(post("/f", b"six"))
            assert (await answer_of(reader)).endswith(b"got six")
            writer.close()
            for _, writer in hung:
                writer.close()
    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") \
        == "2001:db8:1:2::/64"
    assert client_key("::ffff:10.0.0.7") == "10.0.0.7"
    assert client_key("10.0.0.7") == "10.0.0.7"
