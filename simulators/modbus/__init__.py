"""Simulated Modbus I/O modules (TCP and RTU) with panic buttons, supervision inputs and sirens."""

from simulators.modbus.group import ModbusSimulators
from simulators.modbus.io_module import ModbusIoSimulator

__all__ = ["ModbusIoSimulator", "ModbusSimulators"]
