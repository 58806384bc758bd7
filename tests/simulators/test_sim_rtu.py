"""An RTU module behind the pty relay, read by pymodbus' serial client at the configured path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient

from simulators.campus import SimulatedCampus
from simulators.simulator import StartError


def serial_client(path: Path) -> AsyncModbusSerialClient:
    return AsyncModbusSerialClient(
        str(path), baudrate=19200, timeout=0.5, retries=0, reconnect_delay=0
    )


@pytest.fixture
def rtu_site(
    tmp_path: Path, write_site: Callable[..., Path], io_device: Callable[..., dict[str, Any]]
) -> tuple[Path, Path]:
    link = tmp_path / "ttyCAMPUS0"
    rtu = {"port": str(link), "baudrate": 19200}
    devices = [
        io_device("line-io-3", 0, unit=3, tcp=None, rtu=rtu),
        io_device("line-io-4", 0, unit=4, tcp=None, rtu=rtu),
    ]
    return write_site(devices), link


def test_rtu_over_pty_relay(rtu_site: tuple[Path, Path], run: Callable[..., Any]) -> None:
    path, link = rtu_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            assert link.is_symlink()
            assert str(link.readlink()).startswith("/dev/pts/")
            io3 = campus.io_module("line-io-3")
            await io3.press("btn-1")

            client = serial_client(link)
            assert await client.connect()
            reply = await client.read_discrete_inputs(0, count=3, device_id=3)
            assert reply.bits[:3] == [True, False, True]
            reply = await client.read_discrete_inputs(0, count=3, device_id=4)
            assert reply.bits[:3] == [False, False, True], "the other unit on the line"
            assert not (await client.write_coil(3, True, device_id=3)).isError()
            assert await io3.coil("hall-strobe") is True
            client.close()

            # Both units refuse: the adapter is unplugged, the path disappears.
            await io3.go_offline()
            await campus.io_module("line-io-4").go_offline()
            assert not link.exists()
            assert await serial_client(link).connect() is False

            await io3.go_online()
            client = serial_client(link)
            assert await client.connect()
            reply = await client.read_discrete_inputs(0, count=1, device_id=3)
            assert reply.bits[0] is True
            client.close()
        assert not link.is_symlink(), "the link is removed on shutdown"

    run(scenario())


def test_rtu_never_replaces_a_real_file(
    rtu_site: tuple[Path, Path], run: Callable[..., Any]
) -> None:
    path, link = rtu_site
    link.write_text("not a serial port")

    async def scenario() -> None:
        with pytest.raises(StartError, match="exists and is not a simulator link"):
            async with SimulatedCampus.from_file(path):
                pass

    run(scenario())
    assert link.read_text() == "not a serial port"
