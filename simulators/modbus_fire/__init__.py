"""Simulated fire alarm panels serving any register-map profile over Modbus TCP or RTU."""

from simulators.modbus_fire.group import modbus_fire_family
from simulators.modbus_fire.panel import FirePanelSimulator

__all__ = ["FirePanelSimulator", "modbus_fire_family"]
