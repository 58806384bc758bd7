"""The camera's own clock: the host's UTC plus an offset a tester can change at any time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


class CameraClock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = float(offset)

    def set(self, moment: datetime) -> None:
        """Set the clock to ``moment`` (UTC if it names no zone); it runs on from there."""
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        self.offset = (aware - datetime.now(UTC)).total_seconds()

    def now(self) -> datetime:
        # a clock set near the calendar's ends stops there rather than failing every answer
        try:
            return datetime.now(UTC) + timedelta(seconds=self.offset)
        except OverflowError:
            return LATEST if self.offset > 0 else EARLIEST
