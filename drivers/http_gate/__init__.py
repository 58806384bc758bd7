"""HTTP-push gate controllers (Hikvision ISAPI event notification, generic signed JSON webhook):
a receiver on the controller LAN, and each controller's command channel."""

from drivers.http_gate.driver import HttpGateReceiver
from drivers.http_gate.models import HttpGateReceiverConfig

__all__ = ["HttpGateReceiver", "HttpGateReceiverConfig"]
