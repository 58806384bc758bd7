"""The camera's own clock: the host's UTC plus an offset a tester can change at any time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class CameraClock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = float(offset)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)
