"""Fire alarm panels read over Modbus (TCP or RTU), described by register-map profiles as data.

``profile`` holds the profile format, ``register_map`` lays it out and decodes what was read
(pure), ``catalog`` finds and loads profile files, ``models`` is the site-file section and
``driver`` polls the panel. ``python -m drivers.modbus_fire FILE.yaml`` checks a profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.modbus_fire.catalog import ProfileError, find_register_map, load_register_map
from drivers.modbus_fire.models import ModbusFireConfig, SitePoint
from drivers.modbus_fire.profile import FireProfile
from drivers.modbus_fire.register_map import Block, PanelReading, Read, RegisterMap
from drivers.registry import exported

if TYPE_CHECKING:
    from drivers.modbus_fire.driver import ModbusFireDriver

# the driver (pymodbus) loads on first use, not with the site file's model
_EXPORTS = {"ModbusFireDriver": "drivers.modbus_fire.driver:ModbusFireDriver"}


def __getattr__(name: str) -> Any:
    return exported(__name__, name, _EXPORTS)


__all__ = [
    "Block",
    "FireProfile",
    "ModbusFireConfig",
    "ModbusFireDriver",
    "PanelReading",
    "ProfileError",
    "Read",
    "RegisterMap",
    "SitePoint",
    "find_register_map",
    "load_register_map",
]
