"""A gate controller played by the test, over real HTTP: what the simulated controller cannot be
made to send (a flood, an overlong field, a body that does not parse, a body a few bytes at a
time, half a request left open).

It speaks for a controller of the site file (digest-authenticated ISAPI or signed webhook), so
the receiver takes it for that device, and keeps it online with heartbeats unless it is hung.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from drivers.http_gate.signing import signed_headers
from drivers.http_gate.webhook import PUSH_PATH

ISAPI_PATH = "/isapi/events"
TAMPER_ON, TAMPER_OFF = 0x404, 0x405


class GateClient:
    def __init__(self, base: str, dialect: str, *, user: str = "", password: str = "",
                 mac: str = "", device_key: str = "", secret: str = "") -> None:
        self.dialect = dialect
        self.path = ISAPI_PATH if dialect == "isapi" else PUSH_PATH
        self.url = base + self.path
        self._user, self._password, self._mac = user, password, mac
        self._device_key, self._secret = device_key, secret
        self._serial = int(time.time()) % 100_000 * 1000
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=10)
        self.hung = threading.Event()
        self._closing = threading.Event()
        self._beat = threading.Thread(target=self._heartbeats, daemon=True)
        self._beat.start()

    def close(self) -> None:
        self._closing.set()
        self._beat.join(5)
        self._http.close()

    def next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    # --- what a controller says ------------------------------------------------------------------

    def tamper(self, active: bool, *, detail: str | None = None) -> httpx.Response:
        """A controller tamper (or its restoring): the event the abuses report."""
        serial = self.next_serial()
        when = datetime.now().astimezone().isoformat(timespec="seconds")
        if self.dialect == "isapi":
            alert: dict[str, Any] = {
                "ipAddress": "127.0.0.1", "macAddress": self._mac, "dateTime": when,
                "eventType": "AccessControllerEvent", "eventState": "active",
                "eventDescription": detail if detail is not None else "Access Controller Event",
                "AccessControllerEvent": {"majorEventType": 1,
                                          "subEventType": TAMPER_ON if active else TAMPER_OFF,
                                          "serialNo": serial}}
            return self.send(json.dumps(alert).encode())
        event: dict[str, Any] = {"type": "tamper", "id": f"t-{serial}", "time": when,
                                 "active": active}
        if detail is not None:
            event["detail"] = detail
        return self.send(json.dumps(event).encode())

    def card(self, number: str) -> httpx.Response:
        """isapi: a card the controller let through itself (``legal card pass``) at door 1."""
        return self.send(json.dumps({
            "ipAddress": "127.0.0.1", "macAddress": self._mac,
            "dateTime": datetime.now().astimezone().isoformat(timespec="seconds"),
            "eventType": "AccessControllerEvent", "eventState": "active",
            "AccessControllerEvent": {"majorEventType": 5, "subEventType": 0x01,
                                      "cardNo": number, "doorNo": 1, "cardReaderNo": 1,
                                      "serialNo": self.next_serial()}}).encode())

    def heartbeat(self) -> httpx.Response:
        if self.dialect == "isapi":
            return self.send(json.dumps({
                "ipAddress": "127.0.0.1", "macAddress": self._mac,
                "dateTime": datetime.now().astimezone().isoformat(timespec="seconds"),
                "eventType": "heartBeat", "eventState": "active"}).encode())
        return self.send(json.dumps({"type": "heartbeat"}).encode())

    def send(self, body: bytes) -> httpx.Response:
        """``body`` as the controller's push: authenticated, whatever it holds."""
        return self._http.post(self.url, content=body, **self._auth(body))

    def _auth(self, body: bytes) -> dict[str, Any]:
        if self.dialect == "isapi":
            return {"auth": httpx.DigestAuth(self._user, self._password),
                    "headers": {"Content-Type": "application/json"}}
        headers = signed_headers(self._device_key, self._secret, body, "POST", self.path)
        return {"headers": {**headers, "Content-Type": "application/json"}}

    def _heartbeats(self) -> None:
        while not self._closing.wait(1.0):
            if not self.hung.is_set():
                # a refused heartbeat is the receiver's business; the abuse checks say what it did
                with contextlib.suppress(httpx.HTTPError):
                    self.heartbeat()

    # --- raw sockets: what no HTTP client library would send ------------------------------------

    def slow_tamper(self, active: bool, chunk_delay: float) -> threading.Thread:
        """The tamper event's request written a few bytes at a time (only webhook requests can
        be signed ahead, so an ISAPI one is sent without its digest and answered 401)."""
        body = json.dumps({"type": "tamper", "id": f"t-{self.next_serial()}",
                           "time": datetime.now().astimezone().isoformat(timespec="seconds"),
                           "active": active}).encode()
        headers = {"Host": "gateway", "Content-Type": "application/json",
                   "Content-Length": str(len(body)), "Connection": "close"}
        if self.dialect == "webhook":
            headers.update(signed_headers(self._device_key, self._secret, body, "POST",
                                          self.path))
        head = f"POST {self.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        raw = head.encode() + body
        parts = urlsplit(self.url)

        def dribble() -> None:
            with socket.create_connection((parts.hostname or "", parts.port or 80), 10) as sock:
                for i in range(0, len(raw), 8):
                    sock.sendall(raw[i:i + 8])
                    time.sleep(chunk_delay)
                sock.settimeout(10)
                self.slow_answer = sock.recv(4096)

        thread = threading.Thread(target=dribble, daemon=True)
        thread.start()
        return thread

    slow_answer = b""

    def hang_open(self, source: str = "127.0.0.2") -> socket.socket:
        """A connection with half a request on it, left there; from ``source``, another host
        of the network than the controller's as far as the receiver can tell."""
        parts = urlsplit(self.url)
        sock = socket.create_connection((parts.hostname or "", parts.port or 80), 10,
                                        source_address=(source, 0))
        sock.sendall(f"POST {self.path} HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100"
                     "\r\n".encode())
        return sock
