"""The gateway's fire-panel driver polling the simulated panels over TCP and over the pty relay."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from drivers import DRIVERS, ActionError
from drivers.modbus_fire.driver import ModbusFireDriver
from drivers.modbus_fire.models import ModbusFireConfig
from gateway.config import load_site
from gateway.kernel.events import FireFact, PanelAction, Severity
from simulators.campus import SimulatedCampus
from simulators.modbus_fire import FirePanelSimulator
from tests.modbus_fire.conftest import RecordingSink, RunAsync, panel, until, write_site

SITE_POINTS = [
    {"loop": 1, "point": 12, "zone": "building-a-f2", "location": "2F stairwell",
     "description": "Manual call point 2F"},
]
ZONES = {1: "building-a-f1", 2: "building-a-f2", 3: "sprinklers"}


def fact(event: Any) -> FireFact:
    assert isinstance(event.payload, FireFact)
    return event.payload


async def exercise(site_path: Path, device_id: str, offline_mode: str) -> None:
    site = load_site(site_path)
    config = site.device(device_id)
    assert isinstance(config, ModbusFireConfig)
    # The gateway restarted believing L1-P5 in fire (it cleared meanwhile) and the panel offline.
    sink = RecordingSink(believed={"L1-P5/fire", "device/comm_fault"})
    async with SimulatedCampus(site) as campus:
        sim = campus.device(device_id)
        assert isinstance(sim, FirePanelSimulator)
        sim.reset_hold = 0.2
        await sim.act("fire", {"point": 7})  # in alarm before the driver starts
        driver = DRIVERS[config.driver](config, sink)
        assert isinstance(driver, ModbusFireDriver)
        task = asyncio.create_task(driver.run())
        try:
            await check_panel(sim, driver, sink, config, offline_mode)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def check_panel(sim: FirePanelSimulator, driver: ModbusFireDriver, sink: RecordingSink,
                      config: ModbusFireConfig, offline_mode: str) -> None:
    await until(lambda: sink.online is True, "first poll")
    # resync: the alarm that began before start is raised, the believed one that ended restored
    await until(lambda: sink.of("fire.alarm", "L1-P7"), "resync alarm")
    (restored,) = sink.of("fire.restored")
    assert (restored.subject, fact(restored).condition) == ("L1-P5", "fire")
    assert len(sink.events) == 2, "nothing about conditions the panel cannot have"

    await sim.act("fire", {"loop": 1, "point": 12})
    await until(lambda: sink.of("fire.alarm", "L1-P12"), "fire alarm")
    (alarm,) = sink.of("fire.alarm", "L1-P12")
    assert alarm.severity is Severity.CRITICAL and alarm.life_safety
    assert fact(alarm).model_dump(exclude_none=True, exclude={"status"}) == {
        "condition": "fire", "point": "L1-P12", "zone": "building-a-f2",
        "location": "2F stairwell", "description": "Manual call point 2F", "loop": 1,
        "point_number": 12, "component_type": config.point_facts()["L1-P12"].component_type,
    }
    await sim.act("restore", {"point": "L1-P12"})
    await until(lambda: sink.of("fire.restored", "L1-P12"), "restore")
    assert fact(sink.of("fire.restored", "L1-P12")[0]).condition == "fire"

    await sim.act("fault", {"point": "L2-P3"})
    await sim.act("shield", {"point": 20})
    await sim.act("power-fault", {"which": "backup"})
    await until(lambda: sink.of("fire.fault", "L2-P3") and sink.of("fire.shielded", "L1-P20")
                and sink.of("fire.power_fault", "system-backup-power"), "fault, shield, power")
    assert fact(sink.of("fire.fault", "L2-P3")[0]).zone == "building-a-f2"
    await sim.act("power-fault", {"which": "backup", "on": False})
    await until(lambda: sink.of("fire.restored", "system-backup-power"), "power back")

    await sim.act("silence", {})
    await until(lambda: sink.of("fire.silenced"), "silenced")
    (silenced,) = sink.of("fire.silenced")
    assert isinstance(silenced.payload, PanelAction) and silenced.payload.action == "silenced"

    await sim.act("reset", {})
    await until(lambda: sink.of("fire.panel_reset"), "panel reset")
    for point in ("L1-P7", "L2-P3", "L1-P20"):
        assert sink.of("fire.restored", point), f"{point} restored by the reset"
    await until(lambda: not sim.reset_flag, "the reset pulse to end")
    await asyncio.sleep(0.2)
    assert len(sink.of("fire.panel_reset")) == 1, "one reset, however many polls saw the flag"

    # offline after offline_after failed polls; what happened meanwhile arrives on reconnect
    await sim.act("offline", {"mode": offline_mode})
    await until(lambda: sink.online is False, "offline")
    assert sink.availability_changes[-1][1].startswith(f"{config.offline_after} polls failed")
    await sim.act("fault", {"point": 2})
    await sim.act("fire", {"point": 1})
    await sim.act("online", {})
    await until(lambda: sink.online is True, "back online", 10.0)
    await until(lambda: sink.of("fire.fault", "L1-P2"), "changes made while offline")
    names = [(e.type.name, e.subject) for e in sink.events]
    assert names.index(("campus.fire.alarm", "L1-P1")) < names.index(
        ("campus.fire.fault", "L1-P2")), "fire first when one poll shows several changes"

    if driver.config.profile == "bitmap-v1":
        result = await driver.execute("reset", {"reason": "test"})
        assert result["confirmed"] is True and result["address"] == 0, result
        await until(lambda: len(sink.of("fire.panel_reset")) == 2, "reset through the coil")
        assert sink.of("fire.restored", "L1-P1")
    else:
        with pytest.raises(ActionError, match="declares no reset coil"):
            await driver.execute("reset", {})
    with pytest.raises(ActionError, match="unknown action 'silence'"):
        await driver.execute("silence", {})


@pytest.mark.parametrize("profile", ["status-word-v1", "bitmap-v1"])
def test_driver_over_tcp(profile: str, tmp_path: Path, run: RunAsync) -> None:
    path = write_site(tmp_path, [
        panel("fire-a", profile, zones=ZONES, points=SITE_POINTS, unit=3),
    ])
    run(exercise(path, "fire-a", "silent" if profile == "bitmap-v1" else "refuse"))


@pytest.mark.parametrize("profile", ["status-word-v1", "bitmap-v1"])
def test_driver_over_rtu(profile: str, tmp_path: Path, run: RunAsync) -> None:
    rtu = {"port": str(tmp_path / "ttyFIRE0"), "baudrate": 38400}
    path = write_site(tmp_path, [
        panel("fire-r", profile, tcp=None, rtu=rtu, unit=7, zones=ZONES, points=SITE_POINTS),
    ])
    run(exercise(path, "fire-r", "refuse"))


def test_dead_panel_at_start_goes_offline(tmp_path: Path, run: RunAsync) -> None:
    """Nothing listens: offline after offline_after polls, with no event but availability."""
    path = write_site(tmp_path, [panel("fire-x", "status-word-v1", offline_after=3)])
    config = load_site(path).device("fire-x")
    assert isinstance(config, ModbusFireConfig)
    sink = RecordingSink()

    async def scenario() -> None:
        task = asyncio.create_task(ModbusFireDriver(config, sink).run())
        try:
            await until(lambda: sink.online is False, "offline")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    run(scenario())
    assert sink.availability_changes[0][1].startswith("3 polls failed, last: cannot connect")
    assert sink.events == []
