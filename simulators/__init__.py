"""Simulated campus hardware speaking the real protocols over real sockets and serial lines.

The tree mirrors ``drivers/``: one package per device family (``simulators/modbus/`` for
``drivers/modbus/``), the contract in ``simulators/simulator.py``, and the driver-name registry in
``simulators/families.py``. This package itself stays light so ``campus-sim act`` starts quickly.
"""

from __future__ import annotations

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

__all__ = [
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
