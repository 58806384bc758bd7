"""Modbus I/O modules (TCP and RTU) carrying panic buttons, their supervision, sirens and relays."""
