"""The driver-side boundary for driver tests: a sink that records what a driver reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.access.requests import AccessDecision, AccessRequest
from gateway.events import Event


class ReportingSink:
    """Records every reading a driver reports; ``refusing`` acts as a flooding device's intake."""

    def __init__(self, decider: Callable[[AccessRequest], AccessDecision] | None = None) -> None:
        self.decider = decider or (lambda request: AccessDecision(granted=False,
                                                                  reason="unknown_credential"))
        self.requests: list[AccessRequest] = []
        self.availability_reports: list[tuple[str, bool, str]] = []
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

    def availability(self, device_id: str, online: bool, reason: str) -> None:
        self.availability_reports.append((device_id, online, reason))

    def active_conditions(self, device_id: str) -> frozenset[str]:
        return frozenset()

    async def decide(self, request: AccessRequest) -> AccessDecision:
        """The gateway's decision, as the test's ``decider`` makes it (driver tests only: the
        end-to-end tests decide with the real gateway)."""
        self.requests.append(request)
        return self.decider(request)
