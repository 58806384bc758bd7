"""The RS-485 line of a simulated OSDP bus, and the thread that runs its readers.

An RS-485 line is one shared medium: every reader hears every byte the Control Panel sends and
answers only to its own address. ``Line`` gives each simulated reader (a libosdp
``PeripheralDevice``) its own copy of the incoming bytes and puts what any reader sends onto the
line. The line is a pseudo-terminal behind the pty relay (the gateway opens the path the site
file names) or a TCP server socket (the gateway connects, as to a serial-to-Ethernet converter).

libosdp's PDs are refreshed in one thread per line; actions reach them through ``call``, so all
libosdp calls happen in that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from osdp import Channel

from drivers.osdp.models import OsdpBusConfig
from simulators.modbus.pty_relay import PtyRelay
from simulators.simulator import StartError

log = logging.getLogger(__name__)

INTERVAL = 0.005
T = TypeVar("T")


class Station(Protocol):
    """A reader on the line, as the thread sees it."""

    def tick(self) -> None: ...

    def hear(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Port(Channel):
    """One reader's tap on the line: its copy of the incoming bytes, its way to send."""

    def __init__(self, line: Line) -> None:
        super().__init__()
        self._line = line
        self._inbox = bytearray()
        self.powered = True
        self.delay = 0.0  # a slow reader: its replies go on the line this many seconds late
        self.spoil: deque[str] = deque()  # how to spoil each of its next replies
        self._late: deque[tuple[float, bytes]] = deque()

    def hear(self, data: bytes) -> None:
        if self.powered:
            self._inbox += data
            if len(self._inbox) > 65536:
                del self._inbox[:-65536]

    def read(self, max_bytes: int) -> bytes:
        data = bytes(self._inbox[:max_bytes])
        del self._inbox[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        if self.powered and self.spoil and len(buf) >= 8:
            buf = spoiled(bytes(buf), self.spoil.popleft())
        if self.powered and self.delay:
            self._late.append((time.monotonic() + self.delay, bytes(buf)))
        elif self.powered:
            self._line.send(bytes(buf))
        return len(buf)

    def send_due(self) -> None:
        """What a slow reader said long enough ago goes on the line now."""
        now = time.monotonic()
        while self._late and self._late[0][0] <= now:
            self._line.send(self._late.popleft()[1])

    def flush(self) -> None:
        return None

    def clear(self) -> None:
        self._inbox.clear()
        self._late.clear()


def spoiled(reply: bytes, how: str) -> bytes:
    """A reply frame with a wrong CRC (``crc``), or claiming 65,535 bytes (``oversized``)."""
    if how == "oversized":
        return reply[:2] + b"\xff\xff" + reply[4:]
    return reply[:-1] + bytes(((reply[-1] + 1) & 0xFF,))


class Line:
    def __init__(self, config: OsdpBusConfig) -> None:
        self.config = config
        self.stations: list[Station] = []
        self._relay: PtyRelay | None = None
        self._fd: int | None = None  # serial: the simulator's end of the pty
        self._listener: socket.socket | None = None
        self._peer: socket.socket | None = None  # tcp: the gateway's connection
        self._outbox = bytearray()
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections = 0

    @property
    def address(self) -> str:
        return self.config.endpoints()[0]

    @property
    def link_up(self) -> bool:
        if self._relay is not None:
            return self._relay.plugged
        return self._peer is not None

    # --- start and stop -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.config.serial is not None:
            relay = PtyRelay(self.config.serial.port)
            relay.open()
            relay.plug()
            self._relay = relay
            self._fd = os.open(relay.module_port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        else:
            assert self.config.tcp is not None
            tcp = self.config.tcp
            family = socket.AF_INET6 if ":" in tcp.host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((tcp.host, tcp.port))
                listener.listen(4)
            except OSError as exc:
                listener.close()
                raise StartError(f"{self.config.id}: cannot listen on {tcp.host}:{tcp.port}: "
                                 f"{exc.strerror or exc}") from None
            listener.setblocking(False)
            self._listener = listener
        self._thread = threading.Thread(target=self._run, name=f"osdp-pd-{self.config.id}",
                                        daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
        for station in self.stations:
            station.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._drop_peer()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def _accept(self) -> None:
        """The gateway connected; a newer connection replaces an older one (as converters do)."""
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._drop_peer()
        self._peer = sock
        self._outbox.clear()
        self.connections += 1

    def _drop_peer(self) -> None:
        if self._peer is not None:
            with contextlib.suppress(OSError):
                self._peer.close()
            self._peer = None

    # --- the bus: plug, unplug ----------------------------------------------------------------

    def unplug(self) -> None:
        """The whole line goes away (the adapter is unplugged, the converter drops the client)."""
        if self._relay is not None:
            self._relay.unplug()
        else:
            self._calls.put(self._drop_peer)
            self._wake.set()

    def plug(self) -> None:
        if self._relay is not None:
            self._relay.plug()

    # --- the thread ---------------------------------------------------------------------------

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the line's thread (where libosdp lives) and return its result."""
        assert self._loop is not None
        loop = self._loop
        future: asyncio.Future[T] = loop.create_future()

        def work() -> None:
            try:
                result = fn()
            except Exception as exc:
                loop.call_soon_threadsafe(_fail, future, exc)
            else:
                loop.call_soon_threadsafe(_succeed, future, result)

        if self._thread is None or not self._thread.is_alive():
            work()
        else:
            self._calls.put(work)
            self._wake.set()
        return await future

    def send(self, data: bytes) -> None:
        self._outbox += data

    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain()
            if self._listener is not None:
                self._accept()
            incoming = self._receive()
            if incoming:
                for station in self.stations:
                    station.hear(incoming)
            for station in self.stations:
                try:
                    station.tick()
                except Exception:
                    log.exception("%s: simulated reader failed", self.config.id)
            self._transmit()
            self._wake.wait(INTERVAL)
            self._wake.clear()

    def _drain(self) -> None:
        while True:
            try:
                work = self._calls.get_nowait()
            except queue.Empty:
                return
            work()

    def _receive(self) -> bytes:
        try:
            if self._fd is not None:
                return os.read(self._fd, 4096)
            if self._peer is not None:
                data = self._peer.recv(4096)
                if not data:
                    self._peer.close()
                    self._peer = None
                return data
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            if self._peer is not None:
                self._peer.close()
                self._peer = None
        return b""

    def _transmit(self) -> None:
        if not self._outbox:
            return
        try:
            if self._fd is not None:
                sent = os.write(self._fd, self._outbox)
            elif self._peer is not None:
                sent = self._peer.send(self._outbox)
            else:
                sent = len(self._outbox)  # nobody listens: the bytes are lost, as on a wire
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            sent = len(self._outbox)
        del self._outbox[:sent]


def _succeed(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
