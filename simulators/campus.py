"""A whole campus of simulated devices, built from the same site file the gateway reads.

Each device is put on the wire at the address the site file gives, so a gateway started with that
file talks to the simulators with no extra configuration. Tests and benchmarks use this class
in-process; ``campus-sim serve`` wraps it with the HTTP control API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.config import SiteConfig, load_site
from simulators.families import SIMULATORS
from simulators.modbus import ModbusIoSimulator
from simulators.simulator import (
    SimulatedDevice,
    SimulatorError,
    SimulatorGroup,
    UnknownDevice,
)


class SimulatedCampus:
    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        by_driver: dict[str, list[Any]] = {}
        for config in site.devices:
            by_driver.setdefault(config.driver, []).append(config)
        self._groups: list[SimulatorGroup] = []
        for driver, configs in by_driver.items():
            family = SIMULATORS.get(driver)
            if family is None:
                known = ", ".join(sorted(SIMULATORS))
                raise SimulatorError(f"no simulator for driver {driver!r} (known: {known})")
            self._groups.append(family(configs))
        if site.alarm_centre is not None:  # the centre's receivers the gateway sends to
            self._groups.append(SIMULATORS["alarm_centre"]([site.alarm_centre]))
        built = {d.device_id: d for group in self._groups for d in group.devices}
        # the site's devices in its order, then what a family adds (an OSDP bus's readers, doors)
        self._devices = {**{config.id: built[config.id] for config in site.devices}, **built}
        self._started: list[SimulatorGroup] = []

    @classmethod
    def from_file(cls, path: str | Path) -> SimulatedCampus:
        """Load and validate a site file; raises ``gateway.config.ConfigError``."""
        return cls(load_site(path))

    @property
    def devices(self) -> Sequence[SimulatedDevice]:
        """Every simulated device, in site-file order."""
        return list(self._devices.values())

    def device(self, device_id: str) -> SimulatedDevice:
        try:
            return self._devices[device_id]
        except KeyError:
            raise UnknownDevice(
                f"no device {device_id!r} (devices: {', '.join(self._devices) or 'none'})"
            ) from None

    def io_module(self, device_id: str) -> ModbusIoSimulator:
        """The device as a Modbus I/O module, for callers that want its typed methods."""
        device = self.device(device_id)
        if not isinstance(device, ModbusIoSimulator):
            raise UnknownDevice(f"device {device_id!r} is not a Modbus I/O module")
        return device

    async def act(self, device_id: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out an action and return the device state after it."""
        device = self.device(device_id)
        await device.act(action, args)
        return await device.state()

    async def state(self, device_id: str) -> dict[str, Any]:
        return await self.device(device_id).state()

    async def states(self) -> list[dict[str, Any]]:
        return [await device.state() for device in self._devices.values()]

    async def start(self) -> None:
        """Put every device on the wire, or none: a failure stops what was already started."""
        try:
            for group in self._groups:
                await group.start()
                self._started.append(group)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()

    async def __aenter__(self) -> SimulatedCampus:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
