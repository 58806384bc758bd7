"""Simulated Modbus devices of a site, wired onto as few endpoints as the site file implies.

Devices that name the same TCP host:port or the same serial port share one server with one data
store per unit, as modules behind one TCP gateway or on one RS-485 line do. Each Modbus family
(I/O modules, fire panels) is one ``ModbusGroup`` of its own device and endpoint classes, so a
device of one family cannot share an endpoint with a device of another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pymodbus.simulator import SimDevice

from drivers.modbus.models import RtuLink, TcpLink
from simulators.modbus.endpoint import ModbusEndpoint, RtuEndpoint, TcpEndpoint
from simulators.modbus.io_module import ModbusIoSimulator


class _Linked(Protocol):
    @property
    def tcp(self) -> TcpLink | None: ...
    @property
    def rtu(self) -> RtuLink | None: ...


class _Member(Protocol):
    device_id: str

    @property
    def config(self) -> Any: ...
    def sim_device(self) -> SimDevice: ...
    def attach(self, endpoint: Any) -> None: ...
    async def stop(self) -> None: ...


D = TypeVar("D", bound=_Member)
E = TypeVar("E", bound=ModbusEndpoint[Any])


class ModbusGroup(Generic[D, E]):
    def __init__(
        self,
        devices: Sequence[D],
        tcp: Callable[[TcpLink, list[SimDevice], str], E],
        rtu: Callable[[RtuLink, list[SimDevice], str], E],
    ) -> None:
        self._devices = list(devices)
        by_link: dict[tuple[str, ...], list[D]] = {}
        for device in self._devices:
            by_link.setdefault(_link_key(device.config), []).append(device)
        self.endpoints: list[E] = []
        for members in by_link.values():
            config = members[0].config
            sim_devices = [member.sim_device() for member in members]
            owners = ", ".join(member.device_id for member in members)
            endpoint = (tcp(config.tcp, sim_devices, owners) if config.tcp is not None
                        else rtu(config.rtu, sim_devices, owners))
            for member in members:
                member.attach(endpoint)
            self.endpoints.append(endpoint)

    @property
    def devices(self) -> Sequence[D]:
        return self._devices

    async def start(self) -> None:
        """Start every endpoint, or none: a failure stops the ones already listening."""
        started: list[E] = []
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
        for device in self._devices:
            await device.stop()


def _link_key(config: _Linked) -> tuple[str, ...]:
    if config.tcp is not None:
        return ("tcp", config.tcp.host, str(config.tcp.port))
    assert config.rtu is not None
    return ("rtu", config.rtu.port)


def modbus_io_family(configs: Sequence[Any]) -> ModbusGroup[ModbusIoSimulator, Any]:
    """The I/O-module family: what ``simulators.families`` builds for ``driver: modbus``."""
    return ModbusGroup([ModbusIoSimulator(c) for c in configs], TcpEndpoint, RtuEndpoint)
