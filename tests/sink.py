"""The driver-side boundary for driver tests: a sink that records what a driver reports."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from gateway.kernel.access import AccessDecision, AccessRequest
from gateway.kernel.events import Event, MediaReference
from gateway.media import Media, MediaStore


class ReportingSink:
    """Records every reading a driver reports; ``refusing`` acts as a flooding device's intake."""

    def __init__(self, decider: Callable[[AccessRequest], AccessDecision] | None = None,
                 media_dir: Path | None = None) -> None:
        self._media_dir = media_dir
        self._media: MediaStore | None = None
        self.decider = decider or (lambda request: AccessDecision(granted=False,
                                                                  reason="unknown_credential"))
        self.requests: list[AccessRequest] = []
        self.availability_reports: list[tuple[str, bool, str]] = []
        self.events: list[Event] = []
        self.refused: list[list[Event]] = []
        self.refusing = False
        self.excess = 0  # what drivers said their devices sent past what was asked
        self.polls = 0
        # the site's schedules, as a test sets them: name -> whether it is open at a moment
        self.schedules: dict[str, Callable[[datetime], bool]] = {}

    def report(self, events: Sequence[Event], *, excess: int = 0,
               device: str | None = None) -> bool:
        self.excess += excess
        if not events:
            return True
        if self.refusing:
            self.refused.append(list(events))
            return False
        self.events.extend(events)
        return True

    async def accepted(self) -> None:
        return None

    def polled(self, device_id: str, seconds: float, error: str | None) -> None:
        self.polls += 1

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        self.availability_reports.append((device_id, online, reason))

    def active_conditions(self, device_id: str) -> frozenset[str]:
        return frozenset()

    def schedule_allows(self, schedule: str, moment: datetime) -> bool:
        check = self.schedules.get(schedule)
        return check is not None and check(moment)

    async def decide(self, request: AccessRequest) -> AccessDecision:
        """The gateway's decision, as the test's ``decider`` makes it (driver tests only: the
        end-to-end tests decide with the real gateway)."""
        self.requests.append(request)
        return self.decider(request)

    @property
    def media(self) -> MediaStore:
        """A real media store, in ``media_dir`` or a temporary folder (made when first used)."""
        if self._media is None:
            folder = self._media_dir or Path(tempfile.mkdtemp(prefix="sink-media-"))
            self._media = MediaStore(folder / "media", Media(), "http://gateway.test")
        return self._media

    async def keep_media(self, camera: str, kind: Literal["snapshot", "clip"],
                         content: bytes | Path, content_type: str, *,
                         alarm_id: str | None = None, captured_at: datetime | None = None,
                         seconds: float | None = None, pre_seconds: float | None = None,
                         source: str = "") -> MediaReference:
        return await self.media.keep(camera, kind, content, content_type, alarm_id=alarm_id,
                                     captured_at=captured_at, seconds=seconds,
                                     pre_seconds=pre_seconds, source=source)
