"""Simulated GB/T 26875.3 user information transmission devices, connecting to the gateway."""

from simulators.gbt26875.fleet import TransmissionDeviceSimulators, TransmitterFleet
from simulators.gbt26875.transmitter import TransmissionDeviceSimulator

__all__ = ["TransmissionDeviceSimulator", "TransmissionDeviceSimulators", "TransmitterFleet"]
