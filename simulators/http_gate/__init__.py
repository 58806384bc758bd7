"""Simulated HTTP-push gate controllers (Hikvision ISAPI and the generic signed webhook)."""

from simulators.http_gate.controller import SimulatedController
from simulators.http_gate.fleet import ControllerFleet, HttpGateSimulators

__all__ = ["ControllerFleet", "HttpGateSimulators", "SimulatedController"]
