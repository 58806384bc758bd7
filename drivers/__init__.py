"""Southbound drivers: one package per device family and protocol.

A driver owns its device connection, turns wire data into ``gateway.kernel.events.Event``
objects and carries out device actions. It knows nothing about MQTT, and it imports from the
gateway only its kernel (``gateway.kernel``). To add a driver: a new package with a pydantic
config model (a ``driver: Literal[...]`` key, ``id``, ``endpoints()`` naming the addresses it
uses, ``inventory()`` listing the devices its events name) and a class that satisfies
``gateway.kernel.ports.Driver``; then add the model to ``DeviceConfig`` below and the class, as a
``"module:Class"`` string, to ``drivers.registry.DRIVER_CLASSES``. Only the models are imported
here: a driver's module and its libraries load when a site has such a device.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from drivers.gbt26875.models import TransmissionReceiverConfig
from drivers.http_gate.models import HttpGateReceiverConfig
from drivers.modbus.models import ModbusIoConfig
from drivers.modbus_fire.models import ModbusFireConfig
from drivers.onvif.models import OnvifCameraConfig
from drivers.osdp.models import OsdpBusConfig
from drivers.registry import DRIVERS
from gateway.kernel.ports import ActionError, DeviceSink, DeviceUnavailable, Driver

DeviceConfig = Annotated[
    ModbusIoConfig | TransmissionReceiverConfig | ModbusFireConfig | HttpGateReceiverConfig
    | OsdpBusConfig | OnvifCameraConfig,
    Field(discriminator="driver")
]


def build_driver(config: DeviceConfig, sink: DeviceSink) -> Driver:
    """The driver for one device section; its module is imported now if no device needed it yet."""
    return DRIVERS[config.driver](config, sink)


__all__ = ["DRIVERS", "ActionError", "DeviceConfig", "DeviceSink", "DeviceUnavailable", "Driver",
           "build_driver"]
