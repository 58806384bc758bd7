"""Which class runs each ``driver:`` of the site file, named by a ``"module:Class"`` string (as
uvicorn names an app) and imported the first time a site asks for it.

Driver libraries are heavy: OpenCV and numpy for cameras, libosdp for readers, zeep for ONVIF,
uvicorn and httpx for gate controllers. A site pays only for the drivers it uses: the config
models (``drivers.DeviceConfig``) are light and load with the site file; a driver's module loads
when a device of that driver is built. A driver package keeps its ``models`` free of those
libraries and names its driver class here; its ``__init__`` exports the class lazily
(``exported``) so ``import drivers.osdp`` stays as light as the model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gateway.kernel.ports import DeviceSink, Driver

DriverFactory = Callable[[Any, DeviceSink], Driver]

DRIVER_CLASSES: Mapping[str, str] = {
    "modbus": "drivers.modbus.driver:ModbusIoDriver",
    "gbt26875": "drivers.gbt26875.driver:TransmissionReceiver",
    "modbus_fire": "drivers.modbus_fire.driver:ModbusFireDriver",
    "http_gate": "drivers.http_gate.driver:HttpGateReceiver",
    "osdp": "drivers.osdp.driver:OsdpBusDriver",
    "onvif": "drivers.onvif.driver:OnvifCameraDriver",
}


def import_from(path: str) -> Any:
    """What a ``"package.module:Name"`` string names, its module imported now if it was not."""
    module_name, colon, name = path.partition(":")
    if not colon or not module_name or not name:
        raise ValueError(f"{path!r}: expected 'package.module:Name'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(f"{path!r}: module {module_name} has no {name!r}") from None


def exported(package: str, name: str, exports: Mapping[str, str]) -> Any:
    """A package's ``__getattr__``: ``name`` from the ``"module:Name"`` that ``exports`` gives."""
    try:
        path = exports[name]
    except KeyError:
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
    return import_from(path)


class DriverRegistry(Mapping[str, DriverFactory]):
    """``driver:`` key -> driver class, its module imported at the first lookup."""

    def __init__(self, classes: Mapping[str, str]) -> None:
        self._classes = dict(classes)

    def __getitem__(self, driver: str) -> DriverFactory:
        factory: DriverFactory = import_from(self._classes[driver])
        return factory

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def path(self, driver: str) -> str:
        """The ``"module:Class"`` a driver key names, without importing it."""
        return self._classes[driver]


DRIVERS = DriverRegistry(DRIVER_CLASSES)
