"""Simulated OSDP buses: readers (PDs, libosdp's PeripheralDevice) on a pseudo-terminal behind
the pty relay or on a TCP port, and the doors wired to their inputs."""

from simulators.osdp.bus import OsdpBusSimulator, OsdpSimulators, osdp_family
from simulators.osdp.door import SimulatedDoor
from simulators.osdp.reader import SimulatedReader

__all__ = ["OsdpBusSimulator", "OsdpSimulators", "SimulatedDoor", "SimulatedReader",
           "osdp_family"]
