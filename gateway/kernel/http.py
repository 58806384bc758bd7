"""HTTP peers held to a deadline and to a share of the server: the guard of the gateway's own
HTTP servers (the gate controllers' receiver, the console).

uvicorn waits for a request that never finishes for ever: its keep-alive timeout runs only
between requests, and ``limit_concurrency`` answers everyone 503 once one peer holds that many
connections open with half a request on each. ``guarded_http`` builds uvicorn's h11 protocol
(``uvicorn.Config(http=guarded_http(...))``) with two guards added:

* every request must arrive whole (request line, headers and body) within ``deadline`` seconds
  of its first byte (the first request of a connection: of the connection's opening); past
  that it is answered 408 and its connection closed, and a handler still reading its body is
  told the client went away;
* one client address (an IPv6 client by its /64, which one host is given whole) keeps at most
  ``per_client`` connections open at once; one more is closed at once, unanswered (answering
  would cost what the limit saves). Addresses in ``unlimited`` (a trusted reverse proxy,
  which carries every client) are not counted.

With ``send_buffer`` each connection's socket sends from at most that many bytes (``SO_SNDBUF``,
which Linux doubles) instead of growing to megabytes: a stream to a slow peer (the console's
live views) then waits at the server, where it drops frames, not in the kernel, where it would
queue seconds of stale ones.

Each refusal is logged with the client (summarised when repeated). uvicorn and h11 are imported
when the class is built, so the kernel stays light at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Sequence
from typing import Any

from gateway.kernel.logs import LogLimiter

log = logging.getLogger(__name__)

REQUEST_DEADLINE = 10.0  # seconds for a whole request: a few KiB, even on a slow network
CONNECTIONS_PER_CLIENT = 16  # a browser opens 6; a controller one or two

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an address (an IPv4-mapped IPv6 one as its IPv4), None if it is none."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(host: str) -> str:
    """What one client is counted as: its address, an IPv6 one by its /64."""
    address = _address(host)
    if address is None:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _exempt(host: str, unlimited: Sequence[Network]) -> bool:
    address = _address(host)
    return address is not None and any(address in network for network in unlimited)


def guarded_http(server: str, deadline: float = REQUEST_DEADLINE,
                 per_client: int = CONNECTIONS_PER_CLIENT,
                 unlimited: Sequence[Network] = (),
                 send_buffer: int | None = None) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the guards above; ``server`` names it in the log. Each call
    makes a class of its own, whose connections are counted together."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    open_from: Counter[str] = Counter()
    warnings = LogLimiter(log)

    class GuardedH11Protocol(H11Protocol):
        _counted_as: str | None = None
        _overdue: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if send_buffer is not None and sock is not None:
                with contextlib.suppress(OSError):  # a socket that refuses keeps the default
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
            host = self.client[0] if self.client else ""
            if host and not _exempt(host, unlimited):
                key = client_key(host)
                if open_from[key] >= per_client:
                    warnings.warning(("crowding", key), "%s: %s already has %d connections "
                                     "open; one more is closed unanswered", server, key,
                                     per_client)
                    transport.close()
                    return
                open_from[key] += 1
                self._counted_as = key
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._release()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._follow()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._follow()  # a pipelined request may have begun behind the answered one

        def handle_websocket_upgrade(self, event: Any) -> None:
            # the connection is another protocol's from here on: it is no longer ours to count
            self._disarm()
            self._release()
            super().handle_websocket_upgrade(event)

        def _follow(self) -> None:
            """The deadline runs while a request is coming in, and only then."""
            state = self.conn.their_state
            if state is h11.SEND_BODY or (state is h11.IDLE and self.conn.trailing_data[0]):
                self._arm()
            else:
                self._disarm()

        def _arm(self) -> None:
            if self._overdue is None and not self.transport.is_closing():
                self._overdue = self.loop.call_later(deadline, self._request_overdue)

        def _disarm(self) -> None:
            if self._overdue is not None:
                self._overdue.cancel()
                self._overdue = None

        def _release(self) -> None:
            key, self._counted_as = self._counted_as, None
            if key is not None:
                open_from[key] -= 1
                if open_from[key] <= 0:
                    del open_from[key]

        def _request_overdue(self) -> None:
            self._overdue = None
            if self.transport.is_closing():
                return
            client = self._counted_as or (self.client[0] if self.client else "unknown")
            warnings.warning(("overdue", client), "%s: a request from %s did not arrive whole "
                             "within %g s; answered 408 and its connection closed", server,
                             client, deadline)
            cycle = self.cycle
            answering = cycle is None or cycle.response_complete or not cycle.response_started
            if cycle is not None and not cycle.response_complete:
                # the handler reading the body is told the client went away, and its answer
                # goes nowhere: ours is the 408
                cycle.disconnected = True
                cycle.message_event.set()
            if answering:
                text = f"the request did not arrive whole within {deadline:g} s\n".encode()
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8"
                    b"\r\nconnection: close\r\ncontent-length: " + str(len(text)).encode()
                    + b"\r\n\r\n" + text)
            self.transport.close()

    return GuardedH11Protocol
