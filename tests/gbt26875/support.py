"""Shared parts of the GB/T 26875.3 tests: a recording sink, waiting, receiver sections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from drivers.gbt26875.models import TransmissionReceiverConfig
from gateway.kernel.events import Event
from tests.sink import ReportingSink

T = TypeVar("T")

STANDARD_ADDRESS = "0A0B0C0D0E0F"
VENDOR_ADDRESS = "1A2B3C4D5E6F"


class RecordingSink(ReportingSink):
    """The driver's output boundary: every event and availability change, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.availability_changes: list[tuple[str, bool, str]] = []
        self.believed: dict[str, set[str]] = {}

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        self.availability_changes.append((device_id, online, reason))

    def active_conditions(self, device_id: str) -> set[str]:
        return self.believed.get(device_id, set())

    def of(self, event_name: str, device_id: str | None = None) -> list[Event]:
        return [e for e in self.events if e.type.name == event_name
                and (device_id is None or e.device_id == device_id)]

    def online(self, device_id: str) -> list[bool]:
        return [online for d, online, _ in self.availability_changes if d == device_id]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run one test scenario with a deadline, so a hung socket fails instead of hanging."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def receiver_section(port: int, **extra: Any) -> dict[str, Any]:
    """A receiver with one standard and one vendor-variant transmitter, as a site-file dict."""
    section: dict[str, Any] = {
        "id": "fire-link",
        "driver": "gbt26875",
        "name": "Fire panel links",
        "listen": {"host": "127.0.0.1", "port": port},
        "heartbeat_timeout": "30s",
        "transmitters": [
            {
                "id": "utd-building-b",
                "address": STANDARD_ADDRESS,
                "name": "Building B fire panel link",
                "zone": "building-b",
                "components": [
                    {"system_address": 1, "component_address": 258, "zone": "building-b-f2",
                     "location": "2F corridor east"},
                ],
            },
            {
                "id": "utd-gym",
                "address": VENDOR_ADDRESS,
                "zone": "gym",
                "variant": {"time": "bcd", "checksum": "xor"},
            },
        ],
    }
    section.update(extra)
    return section


def receiver_config(port: int, **extra: Any) -> TransmissionReceiverConfig:
    return TransmissionReceiverConfig.model_validate(receiver_section(port, **extra))
