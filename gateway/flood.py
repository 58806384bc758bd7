"""One device must never drown the others: a budget of condition changes per device.

Every reading a driver hands in (one poll, one frame) costs one token per event from its device's
bucket (``flood.burst`` at once, ``flood.per_second`` after). A reading that does not fit is
refused whole and the driver keeps it: a Modbus driver finds the same changes at its next poll, a
GB/T 26875.3 transmitter gets no ACK and sends the frame again. Nothing accepted is dropped; the
excess waits at the device. The first refusal publishes ``device.flooding`` (a critical alarm of
its own: the device's real alarms are among what waits), and once nothing was refused for
``flood.ends_after`` the flood ends with ``device.flood_ended`` and what was held back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from gateway.config import Flood
from gateway.kernel.events import (
    DEVICE_FLOOD_ENDED,
    DEVICE_FLOODING,
    Event,
    FloodReport,
    Severity,
    utcnow,
)
from gateway.kernel.limits import KeyedBuckets

log = logging.getLogger(__name__)


@dataclass
class _Flood:
    since: datetime
    started: float
    last_refusal: float
    held_back: int = 0
    types: Counter[str] = field(default_factory=Counter)

    def hold(self, events: Sequence[Event], now: float) -> None:
        self.last_refusal = now
        self.held_back += len(events)
        self.types.update(e.type.name for e in events)


class FloodGuard:
    def __init__(self, policy: Flood, emit: Callable[[Event], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._emit = emit
        self._clock = clock
        self._budgets = KeyedBuckets(policy.burst, policy.per_second, clock=clock)
        self._floods: dict[str, _Flood] = {}

    def admit(self, device_id: str, events: Sequence[Event], excess: int = 0) -> bool:
        """Whether the reading fits the device's budget; ``excess``: items it sent beyond
        what it was asked for, unused but costing like events (a flood is what it sends). A
        full bucket lets one honest reading larger than ``burst`` through; a device that sent
        more than ``burst`` past what it was asked is flooding at once."""
        cost = len(events) + excess
        if (not excess or cost <= self._policy.burst) and self._budgets.take(device_id, cost):
            return True
        self._refused(device_id, events)
        return False

    @property
    def flooding(self) -> dict[str, int]:
        """Devices flooding now, and how many condition changes each has had held back."""
        return {device: flood.held_back for device, flood in self._floods.items()}

    def tick(self) -> None:
        """End the floods of devices that have been within their limit for ``ends_after``."""
        now = self._clock()
        for device_id, flood in list(self._floods.items()):
            if now - flood.last_refusal >= self._policy.ends_after:
                del self._floods[device_id]
                report = self._report(flood, seconds=round(now - flood.started, 1))
                log.warning("%s: flood over after %.0f s; %d condition changes were held back",
                            device_id, report.seconds, report.held_back)
                self._emit(Event(DEVICE_FLOOD_ENDED, device_id, report, Severity.INFO))

    def _refused(self, device_id: str, events: Sequence[Event]) -> None:
        now = self._clock()
        flood = self._floods.get(device_id)
        if flood is not None:
            flood.hold(events, now)
            return
        flood = self._floods[device_id] = _Flood(utcnow(), now, now)
        flood.hold(events, now)
        log.warning("%s: flooding: more than %d condition changes at once or %g per second; "
                    "holding its reports back at the device", device_id, self._policy.burst,
                    self._policy.per_second, extra={"device": device_id})
        self._emit(Event(DEVICE_FLOODING, device_id, self._report(flood), Severity.CRITICAL))

    def _report(self, flood: _Flood, seconds: float = 0.0) -> FloodReport:
        return FloodReport(burst=self._policy.burst, per_second=self._policy.per_second,
                           since=flood.since, held_back=flood.held_back,
                           held_back_types=dict(flood.types), seconds=seconds)
