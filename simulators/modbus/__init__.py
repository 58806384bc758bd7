"""Simulated Modbus I/O modules (TCP and RTU) with panic buttons, supervision inputs and outputs."""

from simulators.modbus.group import ModbusGroup, modbus_io_family
from simulators.modbus.io_module import ModbusIoSimulator

__all__ = ["ModbusGroup", "ModbusIoSimulator", "modbus_io_family"]
