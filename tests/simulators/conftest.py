"""Fixtures for the simulator tests: free loopback ports and small site files in tmp_path."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

T = TypeVar("T")

RunAsync = Callable[[Coroutine[Any, Any, Any]], Any]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (bind to port 0, read it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture
def run() -> RunAsync:
    """Run one coroutine to completion with a deadline, so a hung socket fails the test."""

    def runner(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return runner


def _io_device(device_id: str, port: int, unit: int = 1, **extra: Any) -> dict[str, Any]:
    """A small Modbus TCP module section: one plain button, one supervised, one active-low."""
    device: dict[str, Any] = {
        "id": device_id,
        "driver": "modbus",
        "tcp": {"host": "127.0.0.1", "port": port},
        "unit": unit,
        "poll_interval": "50ms",
        "debounce": "0s",
        "timeout": "300ms",
        "offline_after": 1,
        "points": [
            {"id": "btn-1", "input": 0, "zone": "hall", "line_fault_input": 8, "tamper_input": 9},
            {"id": "btn-2", "input": 1, "zone": "hall"},
            {"id": "btn-nc", "input": 2, "zone": "hall", "active_low": True},
        ],
        "outputs": [{"name": "hall-siren", "coil": 0},
                    {"name": "hall-strobe", "kind": "strobe", "coil": 3}],
    }
    device.update(extra)
    return device


@pytest.fixture
def io_device() -> Callable[..., dict[str, Any]]:
    """Builds a module section: ``io_device("hall-io", port, unit=2, rtu=...)``."""
    return _io_device


@pytest.fixture
def write_site(tmp_path: Path) -> Callable[[list[dict[str, Any]]], Path]:
    def write(devices: list[dict[str, Any]]) -> Path:
        path = tmp_path / "site.yaml"
        site = {"site": {"id": "test-campus"}, "devices": devices}
        path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def io_site(free_port: Callable[[], int], write_site: Callable[..., Path]) -> tuple[Path, int]:
    """A site file with one TCP module on a free port; returns (path, port)."""
    port = free_port()
    return write_site([_io_device("hall-io", port)]), port
