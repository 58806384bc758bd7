"""Modbus I/O modules (TCP and RTU) carrying panic buttons, their supervision and sirens."""
