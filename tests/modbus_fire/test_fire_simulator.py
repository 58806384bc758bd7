"""The simulated panels from the outside: a plain pymodbus client reads the profile's layout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from drivers.modbus_fire.models import ModbusFireConfig
from simulators.campus import SimulatedCampus
from simulators.control import ControlServer
from simulators.modbus_fire import FirePanelSimulator
from simulators.simulator import InvalidArguments, SimulatorError, UnknownAction, UnknownPoint
from tests.modbus_fire.conftest import RunAsync, free_port, panel, until, write_site


def site_with_both(tmp_path: Path) -> Path:
    return write_site(tmp_path, [
        panel("fire-sw", "status-word-v1"),
        panel("fire-bm", "bitmap-v1", unit=5),
    ])


def port_of(campus: SimulatedCampus, device_id: str) -> int:
    config = campus.site.device(device_id)
    assert isinstance(config, ModbusFireConfig) and config.tcp is not None
    return config.tcp.port


def fire_panel(campus: SimulatedCampus, device_id: str) -> FirePanelSimulator:
    device = campus.device(device_id)
    assert isinstance(device, FirePanelSimulator)
    return device


async def connected(port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0,
                                  reconnect_delay=0)
    assert await client.connect()
    return client


async def holding(client: AsyncModbusTcpClient, address: int, count: int = 1) -> list[int]:
    reply = await client.read_holding_registers(address, count=count, device_id=1)
    assert not reply.isError(), reply
    return list(reply.registers)


def test_status_word_panel_serves_one_register_per_point(tmp_path: Path, run: RunAsync) -> None:
    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_with_both(tmp_path)) as campus:
            sim = fire_panel(campus, "fire-sw")
            client = await connected(port_of(campus, "fire-sw"))
            try:
                await sim.act("fire", {"loop": 1, "point": 12})
                await sim.act("fault", {"point": "L2-P3"})
                await sim.act("shield", {"point": 12})
                await sim.act("power-fault", {"which": "backup"})
                await sim.act("panel-condition", {"point": "system-earth"})
                await sim.act("silence", {})
                # L1-P12 is register 100 + 11: fire (bit 0) and shielded (bit 3)
                assert await holding(client, 111) == [0b1001]
                assert await holding(client, 302) == [0b10], "loop 2 starts at register 300"
                assert await holding(client, 0) == [0x0100 | 0b1010]

                await sim.act("restore", {"point": "L1-P12", "condition": "shielded"})
                assert await holding(client, 111) == [0b0001]
                state = await sim.state()
                assert state["points"]["L1-P12"]["conditions"] == ["fire"]
                assert state["points"]["L1-P12"]["description"] == "Manual call point 2F"
                assert state["panel"]["silenced"] is True
                await sim.act("fire", {"point": 1})
                assert (await sim.state())["panel"]["silenced"] is False, "a new fire resounds"
            finally:
                client.close()

    run(scenario())


def test_reset_flag_is_held_until_a_client_has_read_it(tmp_path: Path, run: RunAsync) -> None:
    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_with_both(tmp_path)) as campus:
            sim = fire_panel(campus, "fire-sw")
            sim.reset_hold = 0.05
            await sim.act("fire", {"point": 3})
            await sim.act("power-fault", {"which": "main"})
            await sim.act("reset", {})
            await asyncio.sleep(0.3)
            state = await sim.state()
            assert state["panel"]["reset"] is True, "nobody has read it yet"
            assert list(state["points"]) == ["system-main-power"], "power faults survive a reset"

            client = await connected(port_of(campus, "fire-sw"))
            try:
                assert (await holding(client, 0))[0] & 0b100, "the reset flag"
                await until(lambda: not sim.reset_flag, "the flag to drop once read")
                assert (await holding(client, 0))[0] & 0b100 == 0
            finally:
                client.close()

    run(scenario())


def test_bitmap_panel_serves_bits_and_takes_a_reset_through_its_coil(
    tmp_path: Path, run: RunAsync
) -> None:
    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_with_both(tmp_path)) as campus:
            sim = fire_panel(campus, "fire-bm")
            sim.reset_hold = 0.2
            client = await connected(port_of(campus, "fire-bm"))
            try:
                await sim.act("fire", {"point": "L2-P3"})
                await sim.act("supervisory", {"loop": 1, "point": 20})
                fire = await client.read_discrete_inputs(64, count=4, device_id=5)
                assert fire.bits[:4] == [False, False, True, False], "L2-P3 is slot 66"
                supervisory = await client.read_input_registers(0, count=2, device_id=5)
                assert supervisory.registers == [0, 1 << 3], "slot 19: register 1, bit 3"

                assert not (await client.write_coil(0, True, device_id=5)).isError()
                await until(lambda: sim.reset_flag, "the panel to reset")
                assert (await client.read_coils(0, count=1, device_id=5)).bits[0] is True
                flags = await client.read_discrete_inputs(512, count=4, device_id=5)
                assert flags.bits[:4] == [False, False, True, False]
                assert (await sim.state())["points"] == {}
                await until(lambda: not sim.reset_flag, "the pulse to end")
                assert (await client.read_coils(0, count=1, device_id=5)).bits[0] is False
            finally:
                client.close()

    run(scenario())


def test_refused_actions_say_why(tmp_path: Path, run: RunAsync) -> None:
    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_with_both(tmp_path)) as campus:
            bitmap = fire_panel(campus, "fire-bm")
            with pytest.raises(UnknownPoint, match=r"no point L3-P1 \(points L1-P1 .. L2-P32"):
                await bitmap.act("fire", {"loop": 3, "point": 1})
            with pytest.raises(InvalidArguments, match="has no 'power_fault' for L1-P4"):
                await bitmap.act("point-power-fault", {"point": 4})
            with pytest.raises(InvalidArguments, match="is not on loop 2"):
                await bitmap.act("fire", {"loop": 2, "point": "L1-P4"})
            with pytest.raises(InvalidArguments, match="colour: unknown argument"):
                await bitmap.act("fire", {"point": 4, "colour": "red"})
            with pytest.raises(UnknownAction, match="unknown action 'explode'"):
                await bitmap.act("explode", {})
            with pytest.raises(UnknownPoint, match="no panel condition 'earth'"):
                await bitmap.act("panel-condition", {"point": "earth"})
            with pytest.raises(SimulatorError):
                await bitmap.act("restore", {"point": "nowhere"})

    run(scenario())


def test_control_api_drives_a_panel(tmp_path: Path, run: RunAsync) -> None:
    async def scenario() -> None:
        async with SimulatedCampus.from_file(site_with_both(tmp_path)) as campus:
            control = ControlServer(campus, "127.0.0.1", free_port())
            await control.start()
            try:
                async with httpx.AsyncClient(base_url=control.url) as http:
                    reply = await http.post("/devices/fire-sw/fire", json={"point": "L1-P12"})
                    body: dict[str, Any] = reply.json()
                    assert body["ok"] is True, body
                    assert body["state"]["points"]["L1-P12"]["conditions"] == ["fire"]
                    reply = await http.post("/devices/fire-sw/fire", json={"point": "L7-P1"})
                    assert reply.status_code == 422
                    assert "no point L7-P1" in reply.json()["error"]
                    listing = (await http.get("/devices")).json()
                    assert [d["profile"] for d in listing["devices"]] == [
                        "status-word-v1", "bitmap-v1"]
            finally:
                await control.stop()

    run(scenario())
