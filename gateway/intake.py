"""Where observed facts enter the gateway: the ``DeviceSink`` every driver gets.

A driver's reading is first bounded (``gateway.event_bounds``: strings capped and escaped,
device times outside the sane window replaced by the receipt time); a retry of a reading already
accepted is taken without a new event (``gateway.readings``). It then passes the device's flood
budget (``gateway.flood``), then each fact
is published on the bus (the publisher, the alarms and the sirens listen there) inside
one outbox ``unit``: the fact, the alarm changes it causes and the alarm store's writes are
committed in one transaction. A credential presented at a reader goes to the access control
(``gateway.access``), which answers once its decision event is on disk. Repeated availability
reports are suppressed, so availability topics never flap. Snapshots and clips a camera driver
takes go to the media store (``keep_media``), which writes them off the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Literal

from gateway.bus import Bus, Polled
from gateway.config import Flood
from gateway.config import Intake as IntakeLimits
from gateway.event_bounds import bound, bound_request
from gateway.flood import FloodGuard
from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import (
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    Availability,
    Event,
    MediaReference,
    Severity,
    utcnow,
)
from gateway.media import MediaRefused, MediaStore
from gateway.readings import RecentReadings

log = logging.getLogger(__name__)

DECISIONS_KEPT = 4096  # recent access decisions kept to answer a device's retry of a read


class Intake:
    def __init__(self, bus: Bus, active_conditions: Callable[[str], AbstractSet[str]],
                 unit: Callable[[], AbstractContextManager[None]],
                 durable: Callable[[], Awaitable[None]], flood: Flood,
                 decide: Callable[[AccessRequest], Awaitable[AccessDecision]],
                 media: MediaStore | None = None,
                 schedules: Callable[[str, datetime], bool] | None = None, *,
                 limits: IntakeLimits | None = None,
                 readings: RecentReadings | None = None) -> None:
        self._bus = bus
        self._limits = limits or IntakeLimits()
        self._readings = readings
        self._schedules = schedules
        self._media = media
        self._decide = decide
        self._active_conditions = active_conditions
        self._unit = unit
        self._durable = durable
        self.flood = FloodGuard(flood, self.emit)
        self._decisions: OrderedDict[tuple[str, str], asyncio.Future[AccessDecision]] = \
            OrderedDict()
        self.online: dict[str, bool] = {}

    def report(self, events: Sequence[Event], *, excess: int = 0,
               device: str | None = None) -> bool:
        """A driver's reading: all of it, or (the device is flooding) none of it; ``excess``
        (what the device sent past what was asked) is charged to ``device``, by default the
        first event's, also when the reading holds no news."""
        charged = device or (events[0].device_id if events else None)
        readings = self._readings
        if events:
            now = utcnow()
            limits = self._limits
            events = [bound(e, now, limits.device_time_past, limits.device_time_future)
                      for e in events]
            if readings is not None:  # a retry of an accepted reading: taken, no new event
                events = [e for e in events
                          if e.reading is None or not readings.seen(e.device_id, e.reading)]
        if not events:  # no news: what it sent past what was asked still costs its budget
            return not excess or charged is None or self.flood.admit(charged, [], excess)
        by_device: dict[str, list[Event]] = {}
        for event in events:
            by_device.setdefault(event.device_id, []).append(event)
        by_device.setdefault(charged or events[0].device_id, [])
        if not all(self.flood.admit(owner, mine, excess if owner == charged else 0)
                   for owner, mine in by_device.items()):
            return False
        with self._unit():
            for event in events:
                self._bus.publish(event)
            if readings is not None:
                for device, reading in {(e.device_id, e.reading) for e in events if e.reading}:
                    readings.remember(device, reading)
        return True

    async def accepted(self) -> None:
        await self._durable()

    def emit(self, event: Event) -> None:
        """A fact of the gateway's own (an output driven, a command audited): never limited."""
        with self._unit():
            self._bus.publish(event)

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        if self.online.get(device_id) == online:
            return
        self.online[device_id] = online
        log.log(logging.INFO if online else logging.WARNING, "%s: %s: %s", device_id,
                "online" if online else "OFFLINE", reason, extra={"device": device_id})
        self.emit(
            Event(
                DEVICE_ONLINE if online else DEVICE_OFFLINE,
                device_id,
                Availability(online=online, reason=reason),
                Severity.INFO if online else Severity.MAJOR,
            )
        )

    def polled(self, device_id: str, seconds: float, error: str | None) -> None:
        if self._bus.listens(Polled):  # a poll a device every 100 ms: cheap when nobody asks
            self._bus.publish(Polled(device_id, seconds, error))

    def active_conditions(self, device_id: str) -> AbstractSet[str]:
        return self._active_conditions(device_id)

    async def decide(self, request: AccessRequest) -> AccessDecision:
        """A credential presented at a reader: decided by the access control, event on disk.

        Bounded like a reading. A request the device sends again (same ``reading``: a
        controller that got no answer in time) gets the first one's decision and makes no new
        event; one still being decided waits for it.
        """
        limits = self._limits
        request = bound_request(request, utcnow(), limits.device_time_past,
                                limits.device_time_future)
        readings = self._readings
        if request.reading is None or readings is None:
            return await self._decide(request)
        key = (request.device_id, request.reading)
        known = self._decisions.get(key)
        if known is not None and (not known.done() or readings.seen(*key)):
            return await asyncio.shield(known)
        if known is None and readings.seen(*key) and request.decided_by_device is not None:
            # decided before a restart: what the controller did is on the stream already
            return AccessDecision(granted=request.decided_by_device)
        decision: asyncio.Future[AccessDecision] = asyncio.get_running_loop().create_future()
        self._decisions[key] = decision
        while len(self._decisions) > DECISIONS_KEPT:
            self._decisions.popitem(last=False)
        try:
            outcome = await self._decide(request)
        except BaseException as exc:
            self._decisions.pop(key, None)
            decision.set_exception(exc)
            decision.exception()  # retrieved: the caller gets it raised here
            raise
        decision.set_result(outcome)
        with self._unit():
            readings.remember(*key)
        return outcome

    def schedule_allows(self, schedule: str, moment: datetime) -> bool:
        return self._schedules is not None and self._schedules(schedule, moment)

    async def keep_media(self, camera: str, kind: Literal["snapshot", "clip"],
                         content: bytes | Path, content_type: str, *,
                         alarm_id: str | None = None, captured_at: datetime | None = None,
                         seconds: float | None = None, pre_seconds: float | None = None,
                         source: str = "") -> MediaReference:
        """A camera's snapshot or clip, into the media store (off the loop)."""
        if self._media is None:
            raise MediaRefused("the gateway has no media store")
        return await self._media.keep(camera, kind, content, content_type, alarm_id=alarm_id,
                                      captured_at=captured_at, seconds=seconds,
                                      pre_seconds=pre_seconds, source=source)
