"""The values that cross threads: a grabbed frame, and a change an analytic decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Analytic = Literal["tamper", "crowding", "intrusion", "line"]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded picture. ``image`` is BGR uint8 and read-only: it is shared between the
    grabber, the ring buffer and the analyser without copies.

    ``captured_at`` is the gateway's wall clock (``time.time()``) when the frame was decoded,
    not the camera's timestamp; ``monotonic`` is the same instant on the monotonic clock, for
    durations. ``sequence`` counts frames of one grabber from 1 and never repeats.
    """

    image: np.ndarray
    captured_at: float
    monotonic: float
    sequence: int

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class AnalyticChange:
    """An analytic raised or cleared a condition.

    ``condition`` is ``covered``/``blinded``/``defocused``/``moved`` for tamper, ``crowding``,
    ``intrusion`` or ``line_crossing`` for the zone analytics (then ``zone`` is the zone id).
    ``score`` is the figure the decision was taken on (documented per analytic); ``at`` is the
    ``captured_at`` of the frame that decided it.
    """

    analytic: Analytic
    condition: str
    raised: bool
    reason: str
    score: float
    at: float
    zone: str | None = None

    @property
    def key(self) -> str:
        """Stable name of the condition on its camera, e.g. ``tamper/covered``, ``zone/stairs``."""
        return f"tamper/{self.condition}" if self.zone is None else f"zone/{self.zone}"


class Hold:
    """Raise after ``raise_after`` seconds continuously tripped; once raised, clear after
    ``clear_after`` seconds continuously clear. Between the two thresholds (neither tripped nor
    clear) nothing changes, which gives hysteresis when the caller uses two thresholds.

    Time is whatever the caller passes (frame timestamps), so it is testable without a clock.
    """

    __slots__ = ("_since", "active", "clear_after", "raise_after")

    def __init__(self, raise_after: float, clear_after: float) -> None:
        self.raise_after = raise_after
        self.clear_after = clear_after
        self.active = False
        self._since: float | None = None

    @property
    def pending(self) -> bool:
        """Tripped (or clearing) but not yet for long enough."""
        return self._since is not None

    def update(self, at: float, tripped: bool, clear: bool) -> bool | None:
        """True: raised now; False: cleared now; None: no change."""
        if not self.active:
            if not tripped:
                self._since = None
                return None
            if self._since is None:
                self._since = at
            if at - self._since >= self.raise_after:
                self.active, self._since = True, None
                return True
            return None
        if not clear:
            self._since = None
            return None
        if self._since is None:
            self._since = at
        if at - self._since >= self.clear_after:
            self.active, self._since = False, None
            return False
        return None

    def reset(self) -> None:
        self.active, self._since = False, None
