"""An event is bounded by its type: no fact a device reports can outgrow the outbox or MQTT.

Every device fact passes ``bound`` at the intake, before the bus, the alarms or the outbox see
it. Whatever the driver took from the wire:

* every string of the payload is at most its field's ``max_length`` (or ``TEXT`` characters),
  with control and formatting characters written as escapes
  (``gateway.kernel.boundary.device_text``);
* a mapping (a camera's SimpleItems) keeps at most ``ITEMS`` entries, keys of ``KEY`` and values
  of ``VALUE`` characters; a list keeps at most ``ITEMS`` entries;
* the whole payload encodes to at most ``MAX_PAYLOAD_BYTES``; past that, every string is cut to
  ``VALUE`` characters (no payload type of the catalogue can exceed it then).

A field that was cut is named in ``Event.truncated`` (the envelope's ``truncated`` extension).
A device time outside the sane window around the gateway's clock (``intake.device_time_past``
and ``device_time_future``) is replaced by the receipt time, with the device's own in
``Event.device_time`` (the envelope's ``devicetime``), so a device's clock can neither hide an
alarm (a year-9999 deadline overflows) nor make it overdue at birth (1970). A credential
presented at a reader passes the same bounds (``bound_request``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from gateway.kernel.access import AccessRequest
from gateway.kernel.boundary import device_text
from gateway.kernel.events import Event

TEXT = 1024
KEY = 64
VALUE = 256
ITEMS = 32
MAX_PAYLOAD_BYTES = 32 * 1024


def _limit_of(model: type[BaseModel], name: str) -> int:
    for meta in model.model_fields[name].metadata:
        limit = getattr(meta, "max_length", None)
        if isinstance(limit, int):
            return limit
    return TEXT


def _bounded_value(value: Any, limit: int) -> Any:
    """``value`` within the bounds (the same object when it already was)."""
    if isinstance(value, str):
        return device_text(value, limit)
    if isinstance(value, BaseModel):
        return _bounded_model(value, limit)[0]
    if isinstance(value, dict):
        items = list(value.items())[:ITEMS]
        out = {device_text(k, KEY) if isinstance(k, str) else k: _bounded_value(v, VALUE)
               for k, v in items}
        return value if len(out) == len(value) and out == value else out
    if isinstance(value, list | tuple):
        kept = [_bounded_value(v, limit) for v in value[:ITEMS]]
        return value if len(kept) == len(value) and all(
            a is b for a, b in zip(kept, value, strict=True)) else type(value)(kept)
    return value


def _bounded_model(model: BaseModel, text: int | None = None) -> tuple[BaseModel, list[str]]:
    """The model with every field within bounds, and the names of the fields that were cut."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        limit = text if text is not None else _limit_of(type(model), name)
        bounded = _bounded_value(value, limit)
        if bounded is not value and bounded != value:
            update[name] = bounded
    if not update:
        return model, []
    return model.model_copy(update=update), list(update)


CREDENTIAL = 64  # characters of a card number or pass code


def _sane_time(moment: datetime, received: datetime, past: float,
               future: float) -> dict[str, datetime]:
    """No change if ``moment`` is within the window around ``received``; else the receipt
    time, with the device's own (read as UTC if it had no zone) as ``device_time``."""
    if moment.tzinfo is not None and (
            received - timedelta(seconds=past) <= moment <= received + timedelta(seconds=future)):
        return {}
    return {"time": received, "device_time": moment if moment.tzinfo else
            moment.replace(tzinfo=UTC)}


def bound_request(request: AccessRequest, received: datetime, past: float,
                  future: float) -> AccessRequest:
    """A credential presented at a reader, as the intake takes it: the same bounds and time
    window as an event (what the decision and its event are made of comes from here)."""
    changes: dict[str, Any] = {}
    cut: list[str] = []
    credential = device_text(request.credential, CREDENTIAL)
    if credential != request.credential:
        changes["credential"] = credential
        if len(request.credential) > CREDENTIAL:
            cut.append("credential")
    reason = device_text(request.device_reason, VALUE)
    if reason != request.device_reason:
        changes["device_reason"] = reason
        if len(request.device_reason) > VALUE:
            cut.append("device_reason")
    if cut:
        changes["truncated"] = (*request.truncated, *cut)
    if request.pin is not None and len(request.pin) > KEY:
        changes["pin"] = request.pin[:KEY]
    if request.reading is not None and len(request.reading) > VALUE:
        changes["reading"] = request.reading[:VALUE]
    changes.update(_sane_time(request.time, received, past, future))
    return dataclasses.replace(request, **changes) if changes else request


def bound(event: Event, received: datetime, past: float, future: float) -> Event:
    """``event`` as the intake takes it from a device: within its bounds, time sane."""
    payload, cut = _bounded_model(event.payload)
    if len(payload.model_dump_json()) > MAX_PAYLOAD_BYTES:
        payload, more = _bounded_model(payload, VALUE)
        cut = sorted({*cut, *more})
    changes: dict[str, Any] = {}
    if cut:
        changes.update(payload=payload, truncated=(*event.truncated, *cut))
    changes.update(_sane_time(event.time, received, past, future))
    if event.subject is not None and len(event.subject) > TEXT:
        changes["subject"] = device_text(event.subject, TEXT)
    if event.reading is not None and len(event.reading) > VALUE:
        changes["reading"] = event.reading[:VALUE]
    return dataclasses.replace(event, **changes) if changes else event
