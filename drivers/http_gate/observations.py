"""What one pushed message said, whichever dialect it came in: the parsers' common output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Kind = Literal["credential", "door", "tamper", "heartbeat", "other"]
DoorState = Literal["opened", "closed", "forced", "held_open", "exit_request"]


@dataclass(frozen=True)
class Observation:
    kind: Kind
    time: datetime | None = None  # the device's clock, if it said
    door: int | None = None
    reader: int | None = None
    credential: str = ""  # card number (or the device's person number if no card was used)
    pin: str | None = None
    granted: bool | None = None  # the device's own decision; None: it asks the gateway
    device_reason: str = ""  # the device's word for it (vendor code and name)
    door_state: DoorState | None = None
    tamper: bool = False  # tamper active (True) or restored (False)
    detail: str = ""  # the device's description
    reference: str = ""  # its event serial number / id: answers (remoteCheck) and repeats
    mac: str | None = None  # isapi: the macAddress it wrote
    source_ip: str | None = None  # isapi: the ipAddress it wrote

    @property
    def asks(self) -> bool:
        return self.kind == "credential" and self.granted is None


class ParseError(ValueError):
    """A body that is not a message of the dialect; the text says what is wrong, for the 400."""
