"""How networked gate controllers push in the field, spoken on demand (a controller stanza's
``simulator:`` block: a named dialect from ``DIALECTS``, or these options one by one; the
``push-format`` action changes them while the simulator runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.dialects import Dialect

PushFormat = Literal["json", "xml"]
Firmware = Literal["controller", "face_terminal"]


class ControllerOptions(BaseModel):
    """What a simulated controller pushes beyond what the gateway's stanza says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: PushFormat = "json"
    pictures: bool = Field(default=False, description="attach a Picture part (96 KiB) to events")
    single_door: bool = Field(default=False, description="push no doorNo, as single-door "
                                                         "terminals do")
    firmware: Firmware = Field(
        default="controller", description="face_terminal: push as face terminals do (no "
        "macAddress, channelID, doorNo, cardNo; employeeNoString; part AccessControllerEvent; "
        "XML in the hikvision.com namespace)")


_ISAPI = "Hikvision ISAPI access control (AccessControllerEvent in EventNotificationAlert)"
DIALECTS = (
    Dialect("http_gate", "hikvision-controller",
            "Hikvision access controller (DS-K2600 class) pushing JSON to httpHosts",
            f"{_ISAPI}; see docs/http-gate-controllers.md and tests/captures/isapi",
            settings={"format": "json"}, requires={"dialect": "isapi"}),
    Dialect("http_gate", "hikvision-controller-xml",
            "the same controller set to push XML (parameterFormatType XML)",
            f"{_ISAPI}, XML in the ISAPI ver20 namespace",
            settings={"format": "xml"}, requires={"dialect": "isapi"}),
    Dialect("http_gate", "face-terminal",
            "face / fingerprint terminal (DS-K1T class): one door, multipart with a picture",
            f"{_ISAPI} as face terminals push it: no doorNo, macAddress, channelID or cardNo, "
            "employeeNoString, part AccessControllerEvent, hikvision.com ver20 XML namespace "
            "(captures quoted in open-source integrations' fixtures; tests/captures/isapi)",
            settings={"firmware": "face_terminal", "single_door": True, "pictures": True},
            requires={"dialect": "isapi"}),
    Dialect("http_gate", "webhook",
            "controller with a generic signed JSON webhook",
            "the gateway's webhook contract (docs/http-gate-controllers.md): HMAC-SHA256 "
            "signed JSON, as ZKTeco-style and custom integrations are set up",
            requires={"dialect": "webhook"}),
)
