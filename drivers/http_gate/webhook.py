"""The generic JSON webhook dialect, as pure functions (docs/http-gate-controllers.md).

A controller POSTs one JSON object per event to ``/webhook/events``, signed (see ``signing``):

    {"type": "credential", "id": "e-1042", "time": "2026-11-03T07:58:12+08:00",
     "door": 1, "reader": 1, "credential": "0012345678", "pin": null,
     "decision": {"granted": true, "reason": "valid card"}}

``decision`` is present when the controller decided by itself (mode ``decides``) and absent when
it asks; then the answer (signed) says ``{"granted": ..., "reason": ..., "open": ...}``. Other
types: ``door`` with ``state`` (opened, closed, forced, held_open, exit_request), ``tamper`` with
``active`` (true, false) and optional ``reader``, ``heartbeat``. Keys not listed are ignored, so
a vendor may add its own.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.http_gate.observations import DoorState, Observation, ParseError
from gateway.kernel.boundary import FACT_TEXT, BoundaryError, device_text, json_object

PUSH_PATH = "/webhook/events"
OPEN_PATH = "/gate/open"
MODE_PATH = "/gate/mode"
STATE_PATH = "/gate/state"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# No string has a length of its own here: the body's size (``max_body``) bounds them, and the
# intake cuts a field past its event's bound and names it (``truncated``), so an overlong text
# costs the event its tail, never the event.
class DeviceDecision(_Lenient):
    granted: bool
    reason: str = ""


class WebhookEvent(_Lenient):
    type: Literal["credential", "door", "tamper", "heartbeat"]
    id: str = ""
    time: datetime | None = None
    door: int | None = Field(default=None, ge=1, le=65535)
    reader: int | None = Field(default=None, ge=1, le=65535)
    credential: str = ""
    pin: str | None = None
    decision: DeviceDecision | None = None
    state: DoorState | None = None
    active: bool = True
    detail: str = ""


def parse_event(body: bytes) -> Observation:
    """One pushed event (its body already within ``max_body``); every string it gives is
    escaped (``device_text``) and kept up to ``FACT_TEXT``, for the intake to bound."""
    try:
        raw = json_object(body, what="body", max_bytes=len(body))
    except BoundaryError as exc:
        raise ParseError(str(exc)) from None
    try:
        event = WebhookEvent.model_validate(raw)
    except ValidationError as exc:
        raise ParseError("; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )) from None
    time = event.time if event.time is not None and event.time.tzinfo is not None else None
    common: dict[str, Any] = {"time": time, "door": event.door, "reader": event.reader,
                              "reference": device_text(event.id, 128),
                              "detail": device_text(event.detail, FACT_TEXT)}
    if event.type == "credential":
        if not event.credential.strip():
            raise ParseError("credential: a credential event needs the credential")
        decision = event.decision
        return Observation("credential", **common,
                           credential=device_text(event.credential.strip(), FACT_TEXT),
                           pin=device_text(event.pin, FACT_TEXT) if event.pin is not None
                           else None,
                           granted=decision.granted if decision else None,
                           device_reason=device_text(decision.reason, FACT_TEXT) if decision
                           else "")
    if event.type == "door":
        if event.state is None:
            raise ParseError("state: a door event needs the state (opened, closed, forced, "
                             "held_open, exit_request)")
        return Observation("door", **common, door_state=event.state)
    if event.type == "tamper":
        return Observation("tamper", **common, tamper=event.active)
    return Observation("heartbeat", **common)


def answer(granted: bool, reason: str | None, opens: bool) -> bytes:
    return json.dumps({"granted": granted, "reason": reason, "open": opens},
                      separators=(",", ":")).encode()
