"""Simulated fire alarm panels serving any register-map profile over Modbus TCP or RTU."""

from simulators.modbus_fire.group import ModbusFireSimulators
from simulators.modbus_fire.panel import FirePanelSimulator

__all__ = ["FirePanelSimulator", "ModbusFireSimulators"]
