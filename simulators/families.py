"""Which simulator family stands in for which driver; the key is the site file's ``driver:``.

To add a family: a package mirroring ``drivers/<name>/`` with a group class that satisfies
``simulators.simulator.SimulatorFamily``, registered here under the same name as its driver.
"""

from __future__ import annotations

from simulators.alarm_centre import AlarmCentreSimulators
from simulators.gbt26875 import TransmissionDeviceSimulators
from simulators.http_gate import HttpGateSimulators
from simulators.modbus import modbus_io_family
from simulators.modbus_fire import modbus_fire_family
from simulators.onvif import OnvifCameraSimulators
from simulators.osdp import osdp_family
from simulators.simulator import SimulatorFamily

SIMULATORS: dict[str, SimulatorFamily] = {
    "modbus": modbus_io_family,
    "modbus_fire": modbus_fire_family,
    "gbt26875": TransmissionDeviceSimulators,
    "http_gate": HttpGateSimulators,
    "osdp": osdp_family,
    "onvif": OnvifCameraSimulators,
    # not a device section: the receivers of the site's alarm_centre (simulators.campus)
    "alarm_centre": AlarmCentreSimulators,
}
