"""The bus as libosdp sees it: a non-blocking byte channel over a serial port or a TCP socket.

libosdp calls ``read``/``write``/``flush`` from the panel thread, never from the event loop,
and expects them never to block. A link that fails (the adapter was unplugged, the converter
closed the connection) records why in ``failure`` and reads as silence from then on; the driver
notices and restarts the bus. Every byte read also goes through the ``ReplyTap`` (diagnosis),
and a whole reply from a reader libosdp is not waiting for is held back (``StrayReplies``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

import serial
from osdp import Channel

from drivers.osdp.models import OsdpBusConfig
from drivers.osdp.wire import ReplyTap, StrayReplies
from gateway.kernel.ports import DeviceUnavailable

READ_LIMIT = 4096


class BusLink(Channel):
    """Common part: failure bookkeeping and the reply tap."""

    def __init__(self, tap: ReplyTap) -> None:
        super().__init__()
        self.tap = tap
        self.strays = StrayReplies()
        self.failure: str | None = None

    def read(self, max_bytes: int) -> bytes:
        if self.failure is not None:
            return b""
        try:
            data = self._read(min(max_bytes, READ_LIMIT))
        except (OSError, serial.SerialException) as exc:
            self.fail(f"reading the bus failed: {exc}")
            return b""
        if data:
            self.tap.feed(data)
            data = self.strays.pass_on(data)
        return data

    def write(self, buf: bytes) -> int:
        if self.failure is not None:
            return len(buf)  # a dead line swallows what is sent; the driver is restarting
        self.tap.sent(buf)
        self.strays.sent(buf)
        try:
            return self._write(buf)
        except (OSError, serial.SerialException) as exc:
            self.fail(f"writing to the bus failed: {exc}")
            return len(buf)

    def flush(self) -> None:
        return None

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason

    def _read(self, count: int) -> bytes:
        raise NotImplementedError

    def _write(self, data: bytes) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SerialBus(BusLink):
    def __init__(self, port: Any, tap: ReplyTap) -> None:
        super().__init__(tap)
        self._port = port

    def _read(self, count: int) -> bytes:
        return bytes(self._port.read(count))

    def _write(self, data: bytes) -> int:
        # os.write on the port's non-blocking descriptor: pyserial's own write spins on EAGAIN
        try:
            return os.write(self._port.fd, data)
        except (BlockingIOError, InterruptedError):
            return 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._port.close()


class TcpBus(BusLink):
    def __init__(self, sock: socket.socket, tap: ReplyTap) -> None:
        super().__init__(tap)
        self._sock = sock

    def _read(self, count: int) -> bytes:
        try:
            data = self._sock.recv(count)
        except (BlockingIOError, InterruptedError):
            return b""
        if not data:
            self.fail("the converter closed the connection")
        return data

    def _write(self, data: bytes) -> int:
        try:
            return self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


async def open_link(config: OsdpBusConfig, tap: ReplyTap) -> BusLink:
    """Open the configured link, or DeviceUnavailable saying why it cannot be opened now."""
    if config.serial is not None:
        link = config.serial

        def _open() -> Any:
            return serial.Serial(link.port, link.baudrate, timeout=0, write_timeout=0,
                                 exclusive=True)

        try:
            port = await asyncio.to_thread(_open)
        except (OSError, serial.SerialException, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open serial port {link.port}: {exc}") from None
        return SerialBus(port, tap)
    assert config.tcp is not None
    tcp = config.tcp
    sock = socket.socket(socket.AF_INET6 if ":" in tcp.host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (tcp.host, tcp.port)),
                               tcp.connect_timeout)
    except (OSError, TimeoutError) as exc:
        sock.close()
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise DeviceUnavailable(f"cannot connect to {tcp.host}:{tcp.port}: {why}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return TcpBus(sock, tap)
