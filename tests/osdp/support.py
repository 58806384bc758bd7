"""Shared parts of the OSDP tests: site sections, keys in the environment, and a rig that runs
the simulated readers (libosdp PDs) on one side and the driver (libosdp CP) on the other."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

from drivers.osdp.driver import OsdpBusDriver
from drivers.osdp.models import OsdpBusConfig
from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import Event
from simulators.osdp import OsdpSimulators
from tests.sink import ReportingSink

KEYS = {
    "OSDP_TEST_KEY_IN": "8f2b6c1d4e5a69708192a3b4c5d6e7f8",
    "OSDP_TEST_KEY_OUT": "0123456789abcdeffedcba9876543210",
    "OSDP_TEST_KEY_SPARE": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def reader(reader_id: str, address: int, key_env: str, gate: str = "gate-1",
           direction: str = "in", **extra: Any) -> dict[str, Any]:
    return {"id": reader_id, "address": address, "gate": gate, "direction": direction,
            "key": {"env": key_env}, "relay": {"output": 0, "pulse": "2s"}, **extra}


def bus(readers: list[dict[str, Any]], tcp_port: int | None = None,
        serial: Path | None = None, **extra: Any) -> OsdpBusConfig:
    link: dict[str, Any] = ({"tcp": {"host": "127.0.0.1", "port": tcp_port}} if serial is None
                            else {"serial": {"port": str(serial), "baudrate": 115200}})
    return OsdpBusConfig.model_validate({"driver": "osdp", "id": "gate-1-bus", **link,
                                         "readers": readers, **extra})


class Sink(ReportingSink):
    def of(self, name: str, device: str | None = None) -> list[Event]:
        return [e for e in self.events if e.type.name == name
                and (device is None or e.device_id == device)]

    def availability_of(self, device: str) -> list[tuple[bool, str]]:
        return [(online, why) for d, online, why in self.availability_reports if d == device]

    def is_online(self, device: str) -> bool:
        states = self.availability_of(device)
        return bool(states) and states[-1][0]


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


class Rig:
    def __init__(self, config: OsdpBusConfig,
                 decider: Callable[[AccessRequest], AccessDecision] | None = None) -> None:
        self.config = config
        self.sink = Sink(decider)
        self.sims = OsdpSimulators([config])
        self.driver = OsdpBusDriver(config, self.sink)
        self._task: asyncio.Task[None] | None = None

    async def start(self, online: tuple[str, ...] | None = None) -> None:
        await self.sims.start()
        self._task = asyncio.create_task(self.driver.run())
        expect = online if online is not None else tuple(r.id for r in self.config.readers)
        for reader_id in expect:
            await until(partial(self.sink.is_online, reader_id), 15, f"{reader_id} online")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.sims.stop()


def grant(request: AccessRequest) -> AccessDecision:
    """The gateway's answer to every read: granted, to a staff member."""
    return AccessDecision(granted=True, person_id="p-1", category="staff")


@contextlib.asynccontextmanager
async def running(config: OsdpBusConfig,
                  decider: Callable[[AccessRequest], AccessDecision] | None = None,
                  online: tuple[str, ...] | None = None) -> AsyncIterator[Rig]:
    rig = Rig(config, decider)
    try:
        await rig.start(online)
        yield rig
    finally:
        await rig.stop()
