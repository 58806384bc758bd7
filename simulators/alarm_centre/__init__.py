"""Simulated IP alarm receivers of an alarm receiving centre (SIA DC-09), for the site file's
``alarm_centre:`` (the gateway is their transmitter)."""

from simulators.alarm_centre.receiver import AlarmCentreSimulators, ReceiverSimulator

__all__ = ["AlarmCentreSimulators", "ReceiverSimulator"]
