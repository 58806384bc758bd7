"""A simulated Modbus TCP module, checked from the outside with a real pymodbus client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from simulators.campus import SimulatedCampus
from simulators.simulator import StartError, UnknownPoint


def client(port: int) -> AsyncModbusTcpClient:
    return AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0, reconnect_delay=0)


async def read_inputs(port: int, unit: int = 1, count: int = 10) -> list[bool]:
    c = client(port)
    try:
        assert await c.connect(), f"cannot connect to 127.0.0.1:{port}"
        reply = await c.read_discrete_inputs(0, count=count, device_id=unit)
        assert not reply.isError(), reply
        return list(reply.bits[:count])
    finally:
        c.close()


def test_press_latches_until_key_reset_and_honours_active_low(
    io_site: tuple[Path, int], run: Callable[..., Any]
) -> None:
    path, port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            io = campus.io_module("hall-io")
            idle = await read_inputs(port)
            assert idle[:3] == [False, False, True], "active-low button idles at 1"

            await io.press("btn-1")
            await io.press("btn-nc")
            pressed = await read_inputs(port)
            assert pressed[0] is True
            assert pressed[2] is False, "active-low button reads 0 when pressed"

            # Latching: reading again (time passing) does not release it.
            assert (await read_inputs(port))[0] is True

            await io.release("btn-1")
            await io.key_reset("btn-nc")
            assert (await read_inputs(port))[:3] == [False, False, True]

    run(scenario())


def test_line_fault_and_tamper_inputs(io_site: tuple[Path, int], run: Callable[..., Any]) -> None:
    path, port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            io = campus.io_module("hall-io")
            await io.set_line_fault("btn-1", True)
            bits = await read_inputs(port)
            assert (bits[8], bits[9]) == (True, False)
            await io.set_tamper("btn-1", True)
            await io.set_line_fault("btn-1", False)
            bits = await read_inputs(port)
            assert (bits[0], bits[8], bits[9]) == (False, False, True)

            with pytest.raises(UnknownPoint, match=r"btn-2.*no line_fault_input"):
                await io.set_line_fault("btn-2", True)
            with pytest.raises(UnknownPoint, match=r"no point 'btn-9'.*btn-1, btn-2, btn-nc"):
                await io.press("btn-9")

    run(scenario())


def test_offline_refuse_then_online_keeps_state_and_coils(
    io_site: tuple[Path, int], run: Callable[..., Any]
) -> None:
    path, port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            io = campus.io_module("hall-io")
            c = client(port)
            assert await c.connect()
            assert not (await c.write_coil(3, True, device_id=1)).isError()
            await io.press("btn-2")

            await io.go_offline()
            assert not io.online
            for _ in range(100):  # the client learns of the dropped connection on its next read
                if not c.connected:
                    break
                await asyncio.sleep(0.01)
            assert not c.connected, "an open connection is dropped when the module goes away"
            refused = client(port)
            assert await refused.connect() is False, "connections are refused while offline"
            refused.close()

            await io.press("btn-1")  # the world goes on while the link is down
            await io.go_online()
            assert io.online
            bits = await read_inputs(port)
            assert (bits[0], bits[1]) == (True, True)
            assert await io.coil("hall-strobe") is True, "coils survive a pulled cable"
            c.close()

    run(scenario())


def test_offline_silent_accepts_connections_but_never_answers(
    io_site: tuple[Path, int], run: Callable[..., Any]
) -> None:
    path, port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            io = campus.io_module("hall-io")
            await io.go_offline("silent")
            c = client(port)
            assert await c.connect(), "the socket is still there"
            with pytest.raises(ModbusIOException):
                await c.read_discrete_inputs(0, count=4, device_id=1)
            c.close()
            await io.go_online()
            assert len(await read_inputs(port)) == 10

    run(scenario())


def test_coils_written_by_a_client_show_as_siren_states(
    io_site: tuple[Path, int], run: Callable[..., Any]
) -> None:
    path, port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            io = campus.io_module("hall-io")
            assert await io.coil("hall-siren") is False
            c = client(port)
            assert await c.connect()
            assert not (await c.write_coil(0, True, device_id=1)).isError()
            readback = await c.read_coils(0, count=1, device_id=1)
            assert readback.bits[0] is True
            c.close()
            assert await io.coil("hall-siren") is True
            assert await io.coil("hall-strobe") is False
            state = await io.state()
            assert {s["name"]: s["on"] for s in state["outputs"]} == {
                "hall-siren": True,
                "hall-strobe": False,
            }
            with pytest.raises(UnknownPoint, match="no output 'bell'"):
                await io.coil("bell")

    run(scenario())


def test_units_sharing_a_port_go_offline_one_by_one(
    free_port: Callable[[], int],
    write_site: Callable[..., Path],
    io_device: Callable[..., dict[str, Any]],
    run: Callable[..., Any],
) -> None:
    port = free_port()
    path = write_site([io_device("unit-1", port, unit=1), io_device("unit-2", port, unit=2)])

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path) as campus:
            first, second = campus.io_module("unit-1"), campus.io_module("unit-2")
            await second.press("btn-2")
            assert (await read_inputs(port, unit=1))[1] is False
            assert (await read_inputs(port, unit=2))[1] is True

            await first.go_offline("refuse")  # unit 2 still needs the port: unit 1 goes silent
            c = client(port)
            assert await c.connect()
            with pytest.raises(ModbusIOException):
                await c.read_discrete_inputs(0, count=2, device_id=1)
            c.close()
            assert (await read_inputs(port, unit=2))[1] is True

            await second.go_offline("refuse")  # nobody needs the port any more
            refused = client(port)
            assert await refused.connect() is False
            refused.close()

            await second.go_online()
            assert (await read_inputs(port, unit=2))[1] is True

    run(scenario())


def test_a_busy_port_is_a_clear_start_error(
    io_site: tuple[Path, int], run: Callable[..., Any]
) -> None:
    path, port = io_site

    async def scenario() -> None:
        async with SimulatedCampus.from_file(path):
            second = SimulatedCampus.from_file(path)
            expected = f"hall-io: modbus tcp 127.0.0.1:{port}: cannot listen"
            with pytest.raises(StartError, match=re.escape(expected)):
                await second.start()

    run(scenario())
