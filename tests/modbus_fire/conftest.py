"""Shared parts of the fire-panel tests: site files with panels, a recording sink, deadlines."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from gateway.kernel.events import Event
from tests.sink import ReportingSink

T = TypeVar("T")

RunAsync = Callable[..., Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def panel(device_id: str, profile: str, **extra: Any) -> dict[str, Any]:
    """A fire panel section on a free TCP port, polled fast so tests stay short."""
    section: dict[str, Any] = {
        "id": device_id,
        "driver": "modbus_fire",
        "profile": profile,
        "tcp": {"host": "127.0.0.1", "port": free_port()},
        "poll_interval": "50ms",
        "timeout": "300ms",
        "offline_after": 2,
    }
    section.update(extra)
    return {k: v for k, v in section.items() if v is not None}


def write_site(directory: Path, devices: list[dict[str, Any]]) -> Path:
    path = directory / "site.yaml"
    site = {"site": {"id": "test-campus"}, "devices": devices}
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def run() -> RunAsync:
    """Run one coroutine to completion with a deadline, so a hung socket fails the test."""

    def runner(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return runner


class RecordingSink(ReportingSink):
    """The driver's output boundary: what it emitted, and what the gateway claims to believe."""

    def __init__(self, believed: set[str] | None = None) -> None:
        super().__init__()
        self.availability_changes: list[tuple[bool, str]] = []
        self.believed = believed or set()

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        self.availability_changes.append((online, reason))

    def active_conditions(self, device_id: str) -> set[str]:
        return set(self.believed)

    def of(self, event_name: str, subject: str | None = None) -> list[Event]:
        return [
            e for e in self.events
            if e.type.name == f"campus.{event_name}" and subject in (None, e.subject)
        ]

    @property
    def online(self) -> bool | None:
        return self.availability_changes[-1][0] if self.availability_changes else None


async def until(condition: Callable[[], Any], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
