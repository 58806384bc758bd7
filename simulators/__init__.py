"""Simulated campus hardware speaking the real protocols over real sockets and serial lines.

The tree mirrors ``drivers/``: one package per device family. To add a family: a package with a
group class that satisfies ``simulators.simulator.SimulatorFamily``, registered below under the
same name as its driver.
"""

from __future__ import annotations

from simulators.modbus import ModbusSimulators
from simulators.simulator import (
    InvalidArguments,
    SimulatedDevice,
    SimulatorError,
    SimulatorFamily,
    SimulatorGroup,
    StartError,
    UnknownAction,
    UnknownDevice,
    UnknownPoint,
)

SIMULATORS: dict[str, SimulatorFamily] = {"modbus": ModbusSimulators}

__all__ = [
    "SIMULATORS",
    "InvalidArguments",
    "SimulatedDevice",
    "SimulatorError",
    "SimulatorFamily",
    "SimulatorGroup",
    "StartError",
    "UnknownAction",
    "UnknownDevice",
    "UnknownPoint",
]
