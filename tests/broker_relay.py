"""A TCP relay between a client and a real broker that can lose one event the way a broker
cluster can while its store elects a new leader: the event's PUBLISH never reaches the broker,
the events after it do (and are acknowledged), then the connection is dropped, as NATS drops it
when the store has not answered for a while.

It reads only the MQTT fixed header and a PUBLISH's topic; every other byte passes unchanged."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from tests.conftest import free_port

PUBLISH = 3


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _packet(sock: socket.socket) -> bytes:
    """One whole MQTT control packet: fixed header, remaining length, the rest."""
    head = _exactly(sock, 1)
    length, shift, size = 0, 0, b""
    while True:
        byte = _exactly(sock, 1)
        size += byte
        length += (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return head + size + _exactly(sock, length)


def _event_publish(packet: bytes) -> bool:
    """A QoS 1 PUBLISH of an event topic."""
    if packet[0] >> 4 != PUBLISH or (packet[0] >> 1) & 3 != 1:
        return False
    at = 1
    while packet[at] & 0x80:
        at += 1
    at += 1
    topic_length = int.from_bytes(packet[at:at + 2], "big")
    return b"/event/" in packet[at + 2:at + 2 + topic_length]


class LosingRelay:
    """Relays 127.0.0.1:<port> to the broker; ``arm()`` makes the next connection's next event
    vanish, lets up to ``then`` more events through within ``patience`` seconds, and drops
    that connection."""

    def __init__(self, broker_port: int, then: int = 3, patience: float = 2.0) -> None:
        self.patience = patience
        self.broker_port = broker_port
        self.port = free_port()
        self.then = then
        self.lost: list[bytes] = []
        self.dropped = threading.Event()
        self._armed = False
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def arm(self) -> None:
        self._armed = True

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            broker = socket.create_connection(("127.0.0.1", self.broker_port))
            threading.Thread(target=self._upstream, args=(client, broker), daemon=True).start()
            threading.Thread(target=self._downstream, args=(broker, client),
                             daemon=True).start()

    def _upstream(self, client: socket.socket, broker: socket.socket) -> None:
        passed = -1  # events let through since one was lost (-1: none lost yet)
        lost_at = 0.0
        try:
            while True:
                if passed >= 0:  # the store's patience runs from the lost event
                    client.settimeout(max(0.01, lost_at + self.patience - time.monotonic()))
                packet = _packet(client)
                if self._armed and _event_publish(packet):
                    if passed < 0:
                        self.lost.append(packet)  # it never reaches the broker
                        passed, lost_at = 0, time.monotonic()
                        continue
                    passed += 1
                broker.sendall(packet)
                if passed >= self.then:
                    time.sleep(0.5)  # their PUBACKs reach the gateway, then the link breaks
                    break
        except TimeoutError:
            pass  # nothing more came: the link breaks all the same
        except OSError:
            passed = -1
        for sock in (client, broker):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if passed >= 0:
            self._armed = False
            self.dropped.set()

    def _downstream(self, broker: socket.socket, client: socket.socket) -> None:
        try:
            while data := broker.recv(65536):
                client.sendall(data)
        except OSError:
            pass
