"""Simulated Modbus I/O modules (TCP and RTU) with panic buttons, supervision inputs and outputs."""

from simulators.modbus.group import ModbusSimulators
from simulators.modbus.io_module import ModbusIoSimulator

__all__ = ["ModbusIoSimulator", "ModbusSimulators"]
