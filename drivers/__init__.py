"""Southbound drivers: one package per device family and protocol.

A driver owns its device connection, turns wire data into ``gateway.events.Event`` objects and
carries out device actions. It knows nothing about MQTT. To add a driver: a new package with a
pydantic config model (a ``driver: Literal[...]`` key, ``id``, ``endpoints()`` naming the
addresses it uses, ``inventory()`` listing the devices its events name) and a class that
satisfies ``drivers.driver.Driver``; then add both to ``DeviceConfig`` and ``DRIVERS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from drivers.driver import ActionError, DeviceSink, DeviceUnavailable, Driver
from drivers.gbt26875.driver import TransmissionReceiver
from drivers.gbt26875.models import TransmissionReceiverConfig
from drivers.http_gate.driver import HttpGateReceiver
from drivers.http_gate.models import HttpGateReceiverConfig
from drivers.modbus.driver import ModbusIoDriver
from drivers.modbus.models import ModbusIoConfig
from drivers.modbus_fire.driver import ModbusFireDriver
from drivers.modbus_fire.models import ModbusFireConfig
from drivers.onvif.driver import OnvifCameraDriver
from drivers.onvif.models import OnvifCameraConfig
from drivers.osdp.driver import OsdpBusDriver
from drivers.osdp.models import OsdpBusConfig

DeviceConfig = Annotated[
    ModbusIoConfig | TransmissionReceiverConfig | ModbusFireConfig | HttpGateReceiverConfig
    | OsdpBusConfig | OnvifCameraConfig,
    Field(discriminator="driver")
]

DRIVERS: dict[str, Callable[[Any, DeviceSink], Driver]] = {
    "modbus": ModbusIoDriver,
    "gbt26875": TransmissionReceiver,
    "modbus_fire": ModbusFireDriver,
    "http_gate": HttpGateReceiver,
    "osdp": OsdpBusDriver,
    "onvif": OnvifCameraDriver,
}


def build_driver(config: DeviceConfig, sink: DeviceSink) -> Driver:
    return DRIVERS[config.driver](config, sink)


__all__ = ["DRIVERS", "ActionError", "DeviceConfig", "DeviceSink", "DeviceUnavailable", "Driver",
           "build_driver"]
