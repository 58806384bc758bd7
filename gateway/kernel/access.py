"""What an access driver asks the gateway, and what it is told: the access half of the driver
contract (``gateway.kernel.ports.DeviceSink.decide``).

A reader or gate controller that reads a credential hands an ``AccessRequest`` to
``DeviceSink.decide`` and awaits the ``AccessDecision``. By the time the decision comes back its
event (``campus.access.granted`` / ``campus.access.denied``) is committed to disk, so a lane that
opens always has its event, even if the gateway is killed the next instant. The driver then gives
the feedback its site file names for the outcome (LED, buzzer, relay pulse).

A controller that decides by itself reports what it decided with ``decided_by_device`` set; the
gateway records it the same way (presence, arrivals, visitor entries) and answers with the same
outcome, which the driver does not act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Direction = Literal["in", "out"]

# The closed, documented set of reasons a credential is refused (docs/access.md).
DENY_REASONS: tuple[str, ...] = (
    "unknown_credential",  # no such card or pass code
    "revoked",  # revoked or reported lost
    "expired",  # its validity (or the visit's window) has ended
    "not_yet_valid",  # its validity (or the visit's window) has not begun
    "outside_schedule",  # the person's schedule does not allow this time (or a holiday)
    "gate_not_allowed",  # the credential is not valid at this gate
    "anti_passback",  # hard anti-passback: already inside (or outside) this area
    "lockdown",  # the gate is locked (lockdown)
    "pin_required",  # the gate needs card + PIN: the reader should ask for the PIN
    "pin_wrong",  # the PIN given does not match
    "visit_closed",  # the visitor pass belongs to a visit that is closed or used up
    "no_release",  # a student leaving during school hours without a release
    "stale",  # the read reached the decision too late to open for the person (refused unjudged)
)
DenyReason = Literal[
    "unknown_credential", "revoked", "expired", "not_yet_valid", "outside_schedule",
    "gate_not_allowed", "anti_passback", "lockdown", "pin_required", "pin_wrong",
    "visit_closed", "no_release", "stale",
]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AccessRequest:
    """A credential presented at one reader of a gate."""

    device_id: str  # the driver's device (site file id)
    reader: str  # the reader (or door of a controller) within the device, from the site file
    gate: str  # the gate the reader belongs to (``access.gates`` in the site file)
    direction: Direction  # which way the reader lets people through
    credential: str  # card number (decimal) or pass code, as decoded by the driver
    pin: str | None = None  # keypad PIN given with the card, if any
    decided_by_device: bool | None = None  # a controller that decided itself: what it decided
    device_reason: str = ""  # the controller's own word for its decision (vendor code/text)
    refused: DenyReason | None = None  # the driver refused it unjudged (a stale read): recorded
    time: datetime = field(default_factory=_now)
    reading: str | None = None  # the device's identity of this read: a retry is not re-decided
    device_time: datetime | None = None  # set by the intake when the device's time was not sane
    truncated: tuple[str, ...] = ()  # fields the intake cut to their bounds (credential ...)


@dataclass(frozen=True)
class AccessDecision:
    granted: bool
    reason: DenyReason | None = None  # None when granted
    person_id: str | None = None
    category: str | None = None  # staff, student, visitor, contractor

    @property
    def asks_for_pin(self) -> bool:
        return self.reason == "pin_required"
