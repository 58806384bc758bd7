"""The gateway's own Modbus driver polling the simulators, over TCP and over the pty relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.modbus.driver import ModbusIoDriver
from drivers.modbus.models import ModbusIoConfig
from gateway.config import load_site
from simulators.campus import SimulatedCampus
from tests.sink import ReportingSink


class RecordingSink(ReportingSink):
    def __init__(self) -> None:
        super().__init__()
        self.availability_changes: list[bool] = []
        self.reasons: list[str] = []

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        self.availability_changes.append(online)
        self.reasons.append(reason)

    def active_conditions(self, device_id: str) -> set[str]:
        return set()

    def seen(self, event_name: str, subject: str) -> bool:
        return any(e.type.name == event_name and e.subject == subject for e in self.events)


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def drive(site_path: Path, device_id: str) -> None:
    site = load_site(site_path)
    config = site.device(device_id)
    assert isinstance(config, ModbusIoConfig)
    sink = RecordingSink()
    async with SimulatedCampus(site) as campus:
        io = campus.io_module(device_id)
        driver = ModbusIoDriver(config, sink)
        task = asyncio.create_task(driver.run())
        try:
            await until(lambda: sink.availability_changes == [True], "first poll")
            assert sink.events == [], "an idle module (active-low button at 1) raises nothing"

            await io.press("btn-nc")
            await until(lambda: sink.seen("campus.panic.pressed", "btn-nc"), "active-low press")
            await io.set_line_fault("btn-1", True)
            await until(lambda: sink.seen("campus.panic.line_fault", "btn-1"), "line fault")
            await io.release("btn-nc")
            await until(lambda: sink.seen("campus.panic.released", "btn-nc"), "key reset")

            result = await driver.execute("output", {"name": "hall-siren", "on": True})
            assert result["confirmed"] is True, result
            assert await io.coil("hall-siren") is True

            await io.go_offline()
            await until(lambda: sink.availability_changes[-1] is False, "offline")
            await io.go_online()
            await until(lambda: sink.availability_changes[-1] is True, "back online", 10.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_gateway_driver_over_tcp(io_site: tuple[Path, int], run: Callable[..., Any]) -> None:
    path, _ = io_site
    run(drive(path, "hall-io"))


def test_gateway_driver_over_rtu(
    tmp_path: Path,
    write_site: Callable[..., Path],
    io_device: Callable[..., dict[str, Any]],
    run: Callable[..., Any],
) -> None:
    rtu = {"port": str(tmp_path / "ttyCAMPUS1"), "baudrate": 38400}
    path = write_site([io_device("line-io", 0, unit=7, tcp=None, rtu=rtu)])
    run(drive(path, "line-io"))


async def malformed(site_path: Path, device_id: str) -> None:
    site = load_site(site_path)
    config = site.device(device_id)
    assert isinstance(config, ModbusIoConfig)
    sink = RecordingSink()
    async with SimulatedCampus(site) as campus:
        io = campus.io_module(device_id)
        driver = ModbusIoDriver(config, sink)
        task = asyncio.create_task(driver.run())
        try:
            await until(lambda: sink.availability_changes == [True], "first poll")
            for kind, reason in (("byte-count", "says"), ("short", "the request needs"),
                                 ("function-code", "the reply is for function 1"),
                                 ("garbage", "cannot be decoded (11 bytes: 00")):
                await io.act("reply-fault", {"kind": kind})
                await until(lambda: sink.availability_changes[-1] is False, f"offline: {kind}")
                assert reason in sink.reasons[-1], sink.reasons[-1]
                assert sink.events == [], f"a {kind} reply was taken for input states"
                await io.act("reply-fault", {"kind": "none"})
                await until(lambda: sink.availability_changes[-1] is True, "well-formed again")
            assert sink.events == []

            # a reading the gateway refuses (the device floods) is kept and reported later
            sink.refusing = True
            await io.press("btn-1")
            await until(lambda: sink.refused, "the press offered and refused")
            sink.refusing = False
            await until(lambda: sink.seen("campus.panic.pressed", "btn-1"), "the press, later")
            assert [e.type.name for e in sink.events] == ["campus.panic.pressed"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_malformed_replies_are_failed_polls_never_alarms(
        io_site: tuple[Path, int], run: Callable[..., Any],
        caplog: pytest.LogCaptureFixture) -> None:
    path, _ = io_site
    with caplog.at_level(logging.WARNING):
        run(malformed(path, "hall-io"))
    # bytes pymodbus cannot decode: no "Fatal error: protocol.data_received()" traceback, only
    # the driver's own line (at most one per device and minute: the limiter may have said it)
    assert not [r for r in caplog.records if r.exc_info or "Fatal error" in r.getMessage()]
    said = [r.getMessage() for r in caplog.records if r.name == "drivers.modbus.poller"]
    assert len(said) <= 1 and all(m.startswith("hall-io: ") for m in said), said
