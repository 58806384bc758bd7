"""The Modbus link to one device, polled: shared by every driver that polls over Modbus.

One pymodbus client per device (the client serialises its requests, and a dead device must only
ever delay itself). A poll that fails counts towards ``offline_after``; the device is reported
offline once, retried every second, and reported online again on the first answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from drivers.modbus.models import RtuLink, TcpLink
from drivers.modbus.replies import MalformedReply, Unreachable, use_checked_replies
from gateway.kernel.logs import LogLimiter
from gateway.kernel.ports import DeviceSink

log = logging.getLogger(__name__)
warnings = LogLimiter(log)

OFFLINE_RETRY = 1.0

Client = AsyncModbusTcpClient | AsyncModbusSerialClient
T = TypeVar("T")


class PolledDevice(Protocol):
    """What a site-file section of a polled Modbus device offers."""

    @property
    def id(self) -> str: ...
    @property
    def tcp(self) -> TcpLink | None: ...
    @property
    def rtu(self) -> RtuLink | None: ...
    @property
    def unit(self) -> int: ...
    @property
    def poll_interval(self) -> float: ...
    @property
    def timeout(self) -> float: ...
    @property
    def offline_after(self) -> int: ...
    def endpoints(self) -> list[str]: ...


def _undecodable_fails_the_poll(client: Client, device_id: str) -> None:
    """pymodbus's framer raises inside the transport's receive callback on bytes it cannot
    decode (an unknown function code, say): asyncio would log that as "Fatal error:
    protocol.data_received()" with a traceback per reply and drop the link. Here those bytes are
    dropped and the poll waiting for them fails with what was wrong (a failed poll like any
    other, logged once per device and minute by ``Poller.run``)."""
    manager = client.ctx
    receive = manager.callback_data

    def checked(data: bytes, addr: tuple[Any, ...] | None = None) -> int:
        try:
            return receive(data, addr)
        except Exception as exc:  # whatever the framer raises, it is about these bytes
            shown = data[:16].hex(" ") + (" ..." if len(data) > 16 else "")
            problem = MalformedReply(f"a reply that cannot be decoded ({len(data)} bytes: "
                                     f"{shown}): {exc}")
            future = manager.response_future
            if future.done():  # nothing asked: say so here
                warnings.warning(("undecodable", device_id), "%s: %s", device_id, problem)
            else:
                future.set_exception(problem)
            return len(data)

    manager.callback_data = checked  # type: ignore[method-assign]  # this client's only


class Poller:
    def __init__(self, config: PolledDevice, sink: DeviceSink) -> None:
        self.config = config
        self._sink = sink
        self._failures = 0
        self._online: bool | None = None
        self.client: Client | None = None

    def _new_client(self) -> Client:
        c = self.config
        client: Client
        if c.tcp is not None:
            client = AsyncModbusTcpClient(c.tcp.host, port=c.tcp.port, timeout=c.timeout,
                                          retries=0, reconnect_delay=0, name=c.id)
        else:
            assert c.rtu is not None
            client = AsyncModbusSerialClient(
                c.rtu.port, baudrate=c.rtu.baudrate, parity=c.rtu.parity,
                stopbits=c.rtu.stopbits, bytesize=c.rtu.bytesize, timeout=c.timeout, retries=0,
                reconnect_delay=0, name=c.id)
        use_checked_replies(client)
        _undecodable_fails_the_poll(client, c.id)
        return client

    async def run(self, poll: Callable[[Client], Awaitable[T]], apply: Callable[[T], None]) -> None:
        """Poll until cancelled: ``poll`` reads (raising on failure), ``apply`` uses the answer."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        self.client = client = self._new_client()
        try:
            while True:
                # Python 3.11's asyncio.wait_for (which pymodbus awaits every reply with) can
                # swallow a cancel when the reply is ready in the same step: honour it here.
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                started = loop.time()
                try:
                    if not client.connected and not await client.connect():
                        raise Unreachable(f"cannot connect to {self.config.endpoints()[0]}")
                    answer = await poll(client)
                except (ModbusException, OSError, TimeoutError, Unreachable) as exc:
                    if isinstance(exc, MalformedReply):
                        warnings.warning(("malformed", self.config.id), "%s: malformed reply, "
                                         "counted as a failed poll: %s", self.config.id, exc)
                    reason = str(exc) or type(exc).__name__
                    self._sink.polled(self.config.id, loop.time() - started, reason)
                    self._failed(client, reason)
                else:
                    self._sink.polled(self.config.id, loop.time() - started, None)
                    self._answered()
                    apply(answer)
                interval = OFFLINE_RETRY if self._online is False else self.config.poll_interval
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        finally:
            client.close()
            self.client = None

    def _failed(self, client: Client, reason: str) -> None:
        self._failures += 1
        log.debug("%s: poll failed (%d): %s", self.config.id, self._failures, reason)
        if self._failures >= self.config.offline_after and self._online is not False:
            self._online = False
            client.close()
            self._sink.availability(
                self.config.id, False, f"{self._failures} polls failed, last: {reason}")

    def _answered(self) -> None:
        self._failures = 0
        if self._online is not True:
            was_known = self._online is False
            self._online = True
            self._sink.availability(
                self.config.id, True, "answering again" if was_known else "first poll answered")
