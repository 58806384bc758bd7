"""All simulated fire panels of a site, on as few Modbus endpoints as the site file implies.

Panels that name the same TCP host:port or the same serial port share one server with one data
store per unit, as panels behind one TCP gateway or on one RS-485 line do. (A panel cannot share
an endpoint with a simulated I/O module: each family owns its servers.)
"""

from __future__ import annotations

from collections.abc import Sequence

from drivers.modbus_fire.models import ModbusFireConfig
from simulators.modbus_fire.endpoint import FireRtuEndpoint, FireTcpEndpoint, WordEndpoint
from simulators.modbus_fire.panel import FirePanelSimulator


class ModbusFireSimulators:
    def __init__(self, configs: Sequence[ModbusFireConfig]) -> None:
        self._devices = [FirePanelSimulator(config) for config in configs]
        by_link: dict[tuple[str, ...], list[FirePanelSimulator]] = {}
        for device in self._devices:
            by_link.setdefault(_link_key(device.config), []).append(device)
        self.endpoints: list[WordEndpoint] = []
        for members in by_link.values():
            endpoint = _endpoint_for(members)
            for member in members:
                member.attach(endpoint)
            self.endpoints.append(endpoint)

    @property
    def devices(self) -> Sequence[FirePanelSimulator]:
        return self._devices

    async def start(self) -> None:
        """Start every endpoint, or none: a failure stops the ones already listening."""
        started: list[WordEndpoint] = []
        try:
            for endpoint in self.endpoints:
                started.append(endpoint)
                await endpoint.start()
        except BaseException:
            for endpoint in reversed(started):
                await endpoint.stop()
            raise

    async def stop(self) -> None:
        for device in self._devices:
            await device.stop()
        for endpoint in reversed(self.endpoints):
            await endpoint.stop()


def _link_key(config: ModbusFireConfig) -> tuple[str, ...]:
    if config.tcp is not None:
        return ("tcp", config.tcp.host, str(config.tcp.port))
    assert config.rtu is not None
    return ("rtu", config.rtu.port)


def _endpoint_for(members: list[FirePanelSimulator]) -> WordEndpoint:
    config = members[0].config
    sim_devices = [member.sim_device() for member in members]
    owners = ", ".join(member.device_id for member in members)
    if config.tcp is not None:
        return FireTcpEndpoint(config.tcp, sim_devices, owners)
    assert config.rtu is not None
    return FireRtuEndpoint(config.rtu, sim_devices, owners)
