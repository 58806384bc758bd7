"""All simulated Modbus modules of a site, wired onto as few endpoints as the site file implies.

Devices that name the same TCP host:port or the same serial port share one server with one data
store per unit, as modules behind one TCP gateway or on one RS-485 line do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.modbus.models import ModbusIoConfig
from simulators.modbus.endpoint import ModbusEndpoint, RtuEndpoint, TcpEndpoint
from simulators.modbus.io_module import ModbusIoSimulator


class ModbusSimulators:
    def __init__(self, configs: Sequence[ModbusIoConfig]) -> None:
        self._devices = [ModbusIoSimulator(config) for config in configs]
        by_link: dict[tuple[str, ...], list[ModbusIoSimulator]] = {}
        for device in self._devices:
            by_link.setdefault(_link_key(device.config), []).append(device)
        self.endpoints: list[ModbusEndpoint[Any]] = []
        for members in by_link.values():
            endpoint = _endpoint_for(members)
            for member in members:
                member.attach(endpoint)
            self.endpoints.append(endpoint)

    @property
    def devices(self) -> Sequence[ModbusIoSimulator]:
        return self._devices

    async def start(self) -> None:
        """Start every endpoint, or none: a failure stops the ones already listening."""
        started: list[ModbusEndpoint[Any]] = []
        try:
            for endpoint in self.endpoints:
                started.append(endpoint)
                await endpoint.start()
        except BaseException:
            for endpoint in reversed(started):
                await endpoint.stop()
            raise

    async def stop(self) -> None:
        for endpoint in reversed(self.endpoints):
            await endpoint.stop()


def _link_key(config: ModbusIoConfig) -> tuple[str, ...]:
    if config.tcp is not None:
        return ("tcp", config.tcp.host, str(config.tcp.port))
    assert config.rtu is not None
    return ("rtu", config.rtu.port)


def _endpoint_for(members: list[ModbusIoSimulator]) -> ModbusEndpoint[Any]:
    config = members[0].config
    sim_devices = [member.sim_device() for member in members]
    owners = ", ".join(member.device_id for member in members)
    if config.tcp is not None:
        return TcpEndpoint(config.tcp, sim_devices, owners)
    assert config.rtu is not None
    return RtuEndpoint(config.rtu, sim_devices, owners)
