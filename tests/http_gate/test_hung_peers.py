"""Peers that start a request and never finish it cannot take the receiver from the controllers:
each such request is answered 408 at the receiver's ``request_deadline``, and one address holds
at most ``connections_per_client`` connections (one more is closed at once). Real sockets: a
slow-loris client on another loopback address while a controller pushes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tests.http_gate.support import rig, run, section, until, webhook_controller

LORIS = "127.0.0.2"  # another host of the network, as far as the receiver can tell
HALF_HEADERS = b"POST /webhook/events HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100\r\n"
# a known controller's header: the receiver starts reading the body, which stops
HALF_BODY = HALF_HEADERS + b"X-Gate-Device: ET-2231-0042\r\n\r\n{\"type\": \"tam"


async def hang(port: int, sent: bytes, source: str = LORIS
               ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(sent)
    await writer.drain()
    return reader, writer


def tamper(active: bool, serial: int) -> bytes:
    return json.dumps({"type": "tamper", "id": f"t-{serial}", "active": active,
                       "time": datetime.now(UTC).isoformat()}).encode()


def test_a_hung_peer_is_answered_408_and_cannot_crowd_out_a_controller() -> None:
    async def scenario() -> None:
        stanza = section(webhook_controller(), request_deadline="2s", connections_per_client=4)
        async with rig(stanza) as r:
            port = r.config.listen.port
            hung = [await hang(port, HALF_HEADERS if n % 2 else HALF_BODY) for n in range(300)]
            # the controller's pushes are answered meanwhile, and taken
            for serial, active in enumerate((True, False)):
                status, answer = await r.controller().push_raw(tamper(active, serial),
                                                               "application/json")
                assert status == 200, answer
            await until(lambda: len(r.sink.events) == 2, "the tamper and its restoring")
            answers = await asyncio.gather(*(reader.read() for reader, _ in hung))
            timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408 ")]
            # the first four were kept until the deadline (headers or body unfinished), the
            # rest closed unanswered at once
            assert len(timed_out) == 4, [a[:40] for a in answers[:8]]
            assert all(b"within 2 s" in a for a in timed_out)
            assert answers[4:] == [b""] * 296
            for _, writer in hung:
                writer.close()
    run(scenario())


def test_a_request_whose_body_stops_is_answered_408_and_the_receiver_goes_on() -> None:
    async def scenario() -> None:
        stanza = section(webhook_controller(), request_deadline="1s")
        async with rig(stanza) as r:
            reader, writer = await hang(r.config.listen.port, HALF_BODY, "127.0.0.1")
            answer = await reader.read()
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            writer.close()
            status, _ = await r.controller().push_raw(tamper(True, 1), "application/json")
            assert status == 200
            assert [e.type.name for e in r.sink.events] == ["campus.access.reader_tamper"]
    run(scenario())
