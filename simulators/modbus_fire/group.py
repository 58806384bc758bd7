"""All simulated fire panels of a site, on as few Modbus endpoints as the site file implies."""

from __future__ import annotations

from collections.abc import Sequence

from drivers.modbus_fire.models import ModbusFireConfig
from simulators.modbus.group import ModbusGroup
from simulators.modbus_fire.endpoint import FireRtuEndpoint, FireTcpEndpoint, WordEndpoint
from simulators.modbus_fire.panel import FirePanelSimulator


def modbus_fire_family(
    configs: Sequence[ModbusFireConfig],
) -> ModbusGroup[FirePanelSimulator, WordEndpoint]:
    """The fire-panel family: what ``simulators.families`` builds for ``driver: modbus_fire``."""
    return ModbusGroup([FirePanelSimulator(c) for c in configs], FireTcpEndpoint, FireRtuEndpoint)
