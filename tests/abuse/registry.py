"""Every driver family the abuse suite knows, one entry (or one per dialect) each.

A new driver gets the whole suite by adding its ``Family`` here (``test_abuse_suite``'s
completeness test fails until it does): the stanza of its abused device, and for each abuse of
``ABUSES`` how to play it and what the gateway must show, or why it does not apply.
"""

from __future__ import annotations

from tests.abuse.abuses import Family
from tests.abuse.camera import ONVIF
from tests.abuse.fire_link import GBT26875
from tests.abuse.gate import ISAPI, WEBHOOK
from tests.abuse.modbus import MODBUS, MODBUS_FIRE
from tests.abuse.osdp import OSDP

FAMILIES: tuple[Family, ...] = (MODBUS, MODBUS_FIRE, GBT26875, ISAPI, WEBHOOK, OSDP, ONVIF)

