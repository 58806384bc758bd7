"""Fire alarm panels read over Modbus (TCP or RTU), described by register-map profiles as data.

``profile`` holds the profile format, ``register_map`` lays it out and decodes what was read
(pure), ``catalog`` finds and loads profile files, ``models`` is the site-file section and
``driver`` polls the panel. ``python -m drivers.modbus_fire FILE.yaml`` checks a profile.
"""

from drivers.modbus_fire.catalog import ProfileError, find_register_map, load_register_map
from drivers.modbus_fire.driver import ModbusFireDriver
from drivers.modbus_fire.models import ModbusFireConfig, SitePoint
from drivers.modbus_fire.profile import FireProfile
from drivers.modbus_fire.register_map import Block, PanelReading, Read, RegisterMap

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
