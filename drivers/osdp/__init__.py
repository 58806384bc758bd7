"""OSDP v2 (IEC 60839-11-5): the gateway as Control Panel of a bus of card readers (PDs), over
RS-485 or a serial-to-Ethernet converter, with the secure channel enforced.

``models`` is the site-file section, ``cards`` turns card bits into credentials (pure),
``wire`` reads the readers' replies off the wire for diagnosis (pure), ``link`` is the serial or
TCP channel, ``panel`` runs libosdp in its thread, ``feedback`` builds LED, buzzer and output
commands, and ``driver`` ties them to the gateway (decisions, events, actions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.osdp.models import OsdpBusConfig
from drivers.registry import exported

if TYPE_CHECKING:
    from drivers.osdp.driver import OsdpBusDriver

# the driver loads on first use (libosdp), not with the site file's model
_EXPORTS = {"OsdpBusDriver": "drivers.osdp.driver:OsdpBusDriver"}


def __getattr__(name: str) -> Any:
    return exported(__name__, name, _EXPORTS)


__all__ = ["OsdpBusConfig", "OsdpBusDriver"]
