"""What the console shows live: a bounded history of updates, fanned out to browsers.

The feed listens on the bus like any other consumer and only ever appends to bounded buffers:
it adds nothing to the event path, and a slow or absent browser costs nothing but its own
queue. Each update has an id ``<run>:<n>``; a browser that reconnects sends the last id it saw
(``Last-Event-ID``) and gets what it missed from the history, or, if that is gone or from an
earlier run of the gateway, a ``resync`` telling it to load the whole state again. A browser
whose queue fills up is dropped; it reconnects and catches up the same way.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.bus import AlarmChanged, Polled
from gateway.kernel.events import (
    DEVICE_OFFLINE,
    DEVICE_ONLINE,
    DRILL_STARTED,
    DRILL_STOPPED,
    LINKAGE_EXECUTED,
    Availability,
    Event,
)

HISTORY = 2000  # updates a reconnecting browser can catch up on
EVENT_LOG = 10_000  # events kept for the event log page
CLIENT_QUEUE = 500


@dataclass(frozen=True)
class Update:
    id: str
    kind: str  # alarm, device, drill, linkage, event, standing, resync
    data: dict[str, Any]

    def json(self) -> str:
        return json.dumps(self.data, default=str, ensure_ascii=False)


@dataclass(frozen=True)
class Logged:
    """One event as the event log page shows it."""

    event: Event
    drill: bool

    @property
    def zone(self) -> str:
        return str(getattr(self.event.payload, "zone", "") or "")


class LiveFeed:
    def __init__(self, drill_active: Callable[[], bool]) -> None:
        self.run = secrets.token_hex(4)
        self._drill_active = drill_active
        self._n = 0
        self._history: deque[Update] = deque(maxlen=HISTORY)
        self._clients: set[asyncio.Queue[Update | None]] = set()
        self.events: deque[Logged] = deque(maxlen=EVENT_LOG)
        self.online_since: dict[str, datetime] = {}
        self.last_report: dict[str, datetime] = {}
        self.last_answer: dict[str, float] = {}  # a polled device's last good poll (epoch s)
        self.standing_now: dict[str, Any] | None = None  # the status strip's last snapshot

    @property
    def last_id(self) -> str:
        return f"{self.run}:{self._n}"

    # -- from the bus -----------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        self.events.append(Logged(event, self._drill_active()))
        self.last_report[event.device_id] = event.time
        if event.type in (DEVICE_ONLINE, DEVICE_OFFLINE) and isinstance(event.payload,
                                                                         Availability):
            self.online_since[event.device_id] = event.time
            self._push("device", {"device": event.device_id, "online": event.payload.online,
                                  "reason": event.payload.reason,
                                  "since": event.time.isoformat()})
        elif event.type in (DRILL_STARTED, DRILL_STOPPED):
            self._push("drill", {"active": event.type is DRILL_STARTED,
                                 "summary": event.payload.model_dump(mode="json")})
        elif event.type is LINKAGE_EXECUTED:
            self._push("linkage", event.payload.model_dump(mode="json"))
        self._push("event", {"type": event.type.name, "device": event.device_id,
                             "subject": event.subject, "severity": event.severity.value,
                             "time": event.time.isoformat()})

    def on_poll(self, polled: Polled) -> None:
        if polled.error is None:
            self.last_answer[polled.device_id] = time.time()

    def on_alarm(self, change: AlarmChanged) -> None:
        self.events.append(Logged(change.event(), change.alarm.drill))
        self._push("alarm", {"change": change.kind.name, "by": change.by,
                             "report": change.report,
                             "alarm": change.alarm.model_dump(mode="json")})

    def standing(self, snapshot: dict[str, Any]) -> None:
        """The board's standing conditions changed (``console.standing``)."""
        self.standing_now = snapshot
        self._push("standing", snapshot)

    # -- to browsers ------------------------------------------------------------------------

    def subscribe(self, last_id: str | None) -> tuple[asyncio.Queue[Update | None], list[Update]]:
        """A queue of the updates to come, and those missed since ``last_id``."""
        queue: asyncio.Queue[Update | None] = asyncio.Queue(CLIENT_QUEUE)
        self._clients.add(queue)
        return queue, self._since(last_id)

    def unsubscribe(self, queue: asyncio.Queue[Update | None]) -> None:
        self._clients.discard(queue)

    def subscribed(self, queue: asyncio.Queue[Update | None]) -> bool:
        """False once the queue was dropped for being too slow (its stream should end)."""
        return queue in self._clients

    def close(self) -> None:
        """Tell every browser stream to end (the console is stopping)."""
        for queue in list(self._clients):
            _offer(queue, None)
        self._clients.clear()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _since(self, last_id: str | None) -> list[Update]:
        if not last_id:
            return []
        run, _, number = last_id.partition(":")
        oldest = self._n - len(self._history)
        if run != self.run or not number.isdigit() or int(number) < oldest \
                or int(number) > self._n:
            return [Update(self.last_id, "resync", {"reason": "history gone"})]
        return [u for u in self._history if int(u.id.rpartition(":")[2]) > int(number)]

    def _push(self, kind: str, data: dict[str, Any]) -> None:
        self._n += 1
        update = Update(f"{self.run}:{self._n}", kind, data)
        self._history.append(update)
        for queue in list(self._clients):
            if not _offer(queue, update):
                self._clients.discard(queue)  # too slow: it reconnects and catches up


def _offer(queue: asyncio.Queue[Update | None], item: Update | None) -> bool:
    try:
        queue.put_nowait(item)
        return True
    except asyncio.QueueFull:
        return False
