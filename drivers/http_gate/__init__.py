"""HTTP-push gate controllers (Hikvision ISAPI event notification, generic signed JSON webhook):
a receiver on the controller LAN, and each controller's command channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.http_gate.models import HttpGateReceiverConfig
from drivers.registry import exported

if TYPE_CHECKING:
    from drivers.http_gate.driver import HttpGateReceiver

# the driver loads on first use (uvicorn, Starlette, httpx), not with the site file's model
_EXPORTS = {"HttpGateReceiver": "drivers.http_gate.driver:HttpGateReceiver"}


def __getattr__(name: str) -> Any:
    return exported(__name__, name, _EXPORTS)


__all__ = ["HttpGateReceiver", "HttpGateReceiverConfig"]
