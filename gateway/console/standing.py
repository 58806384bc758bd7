"""The standing conditions the board's status strip shows: what holds until someone ends it,
as opposed to the alarms that come and go.

The platform link (the broker: up, or down since when, and the outbox backlog), a lockdown (who
started it, since when), fire release of the gates, a drill, the devices offline, the gateway's
storage, and every gate's mode. ``Standing.run`` looks once a second and puts a ``standing``
update on the live feed whenever any of it changed, so every open page follows without asking;
the page counts durations and the site clock itself. Reading all of it is a few dictionary
lookups and one ``statvfs``: nothing here touches the event path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.console.feed import LiveFeed
    from gateway.console.web import ConsoleParts

log = logging.getLogger(__name__)

EVERY = 1.0
# storage is low below either: the outbox and the media keep writing through a long outage
LOW_FREE_BYTES, LOW_FREE_SHARE = 1 << 30, 0.05


class Standing:
    def __init__(self, parts: ConsoleParts,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._parts = parts
        self._clock = clock
        self._down_since: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        parts = self._parts
        up = parts.broker_connected()
        if up:
            self._down_since = None
        elif self._down_since is None:
            self._down_since = self._clock()  # first seen down (at most a second late)
        stats = parts.outbox_stats()
        modes = parts.access.modes
        drill = parts.drills.current
        return {
            "broker": {"up": up,
                       "down_since": self._down_since.isoformat() if self._down_since else None,
                       "backlog": stats.backlog,
                       "life_safety_backlog": stats.life_safety_backlog},
            "lockdown": modes.lockdown,
            "fire_release": modes.fire_release,
            "drill": {"note": drill.note, "since": drill.started_at.isoformat(),
                      "by": drill.started_by} if drill else None,
            "offline": sorted(d for d, online in parts.online.items() if not online),
            "storage": self._storage(stats.storage),
            "gates": modes.states(),
        }

    def _storage(self, refusal: str) -> dict[str, Any]:
        """Whether events are written to disk, and the state disk's free space (rounded, so
        that the strip changes when it matters, not at every write)."""
        try:
            usage = shutil.disk_usage(self._parts.site.gateway.state_dir)
        except OSError as exc:
            return {"ok": False, "why": refusal or f"state folder unreadable: {exc}",
                    "free_gib": None, "free_percent": None}
        share = usage.free / usage.total if usage.total else 0.0
        low = usage.free < LOW_FREE_BYTES or share < LOW_FREE_SHARE
        return {"ok": not refusal and not low, "why": refusal,
                "free_gib": round(usage.free / (1 << 30), 1), "free_percent": round(share * 100)}

    async def run(self, feed: LiveFeed) -> None:
        """Put the conditions on the feed whenever they change, until cancelled."""
        last, failing = "", ""
        while True:
            try:
                now = self.snapshot()
                text = json.dumps(now, sort_keys=True, default=str)
                if text != last:
                    last = text
                    feed.standing(now)
                failing = ""
            except Exception as exc:  # one bad read must not end the strip; said once
                if repr(exc) != failing:
                    failing = repr(exc)
                    log.exception("the console's status strip could not be read")
            await asyncio.sleep(EVERY)
