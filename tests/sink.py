"""The driver-side boundary for driver tests: a sink that records what a driver reports."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.events import Event


class ReportingSink:
    """Records every reading a driver reports; ``refusing`` acts as a flooding device's intake."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.refused: list[list[Event]] = []
        self.refusing = False
        self.polls = 0

    def report(self, events: Sequence[Event]) -> bool:
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
