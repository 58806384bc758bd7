"""The console against a client that opens connections and leaves half a request on each (the
gateway as its own process, real sockets): it keeps 16 of them until the request deadline, each
answered 408 then; every other is closed at once, and a guard signs in meanwhile."""

from __future__ import annotations

import contextlib
import socket

from gateway.console.bodies import DEADLINE as BODY_DEADLINE
from gateway.kernel.http import CONNECTIONS_PER_CLIENT
from tests.console.conftest import Console
from tests.console.test_outsiders import ATTACKER, signed_in

HALF_REQUEST = b"GET /login HTTP/1.1\r\nHost: console\r\n"


def test_a_hung_client_cannot_keep_a_guard_from_the_console(guarded: Console) -> None:
    port = int(guarded.url.rsplit(":", 1)[1].strip("/"))
    hung = []
    for _ in range(CONNECTIONS_PER_CLIENT + 40):
        sock = socket.create_connection(("127.0.0.1", port), 10, source_address=(ATTACKER, 0))
        sock.sendall(HALF_REQUEST)
        hung.append(sock)
    try:
        web = signed_in(guarded, "guard1")  # the guard's address is not the hung client's
        assert web.get("api/state").status_code == 200
        web.close()
        over = hung[-1]
        over.settimeout(5)
        with contextlib.suppress(ConnectionResetError):  # its half request unread: a reset
            assert over.recv(4096) == b"", "one connection too many is closed at once"
        kept = hung[0]
        kept.settimeout(BODY_DEADLINE + 15)
        answer = kept.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    finally:
        for sock in hung:
            sock.close()
